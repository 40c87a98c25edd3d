use crate::{Location, TraceError, TraceErrorKind, TraceReader, BATCH};
use flate2::bufread::MultiGzDecoder;
use ptbench_core::{Access, AccessKind};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// A text trace format.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Valgrind lackey `--trace-mem=yes` output.
    Lackey,
    /// `hhhhhhhh R|W` course traces.
    HexRw,
}

impl Format {
    /// The format's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Lackey => "lackey",
            Format::HexRw => "hexaddr R|W",
        }
    }
}

/// Counts the bytes read from the file beneath any decompressor.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

enum Source {
    Plain(BufReader<Counting<File>>),
    Gzip(BufReader<MultiGzDecoder<BufReader<Counting<File>>>>),
}

impl Source {
    fn read_line(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Source::Plain(r) => r.read_until(b'\n', buf),
            Source::Gzip(r) => r.read_until(b'\n', buf),
        }
    }

    fn bytes_read(&self) -> u64 {
        match self {
            Source::Plain(r) => r.get_ref().count,
            Source::Gzip(r) => r.get_ref().get_ref().get_ref().count,
        }
    }
}

/// A streaming reader of a text trace (plain or gzip-compressed).
pub struct TextTrace {
    path: PathBuf,
    source: Source,
    format: Option<Format>,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl TextTrace {
    /// Opens `path`, recognising gzip by its magic bytes.
    pub fn open(path: &Path) -> Result<TextTrace, TraceError> {
        let io_err = |e: io::Error| TraceError::new(path, Location::File, e.into());
        let file = File::open(path).map_err(io_err)?;
        let mut raw = BufReader::with_capacity(
            1 << 16,
            Counting {
                inner: file,
                count: 0,
            },
        );
        let gz = raw.fill_buf().map_err(io_err)?.starts_with(&GZIP_MAGIC);
        let source = if gz {
            Source::Gzip(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(raw)))
        } else {
            Source::Plain(raw)
        };
        Ok(TextTrace {
            path: path.to_path_buf(),
            source,
            format: None,
            line: 0,
            buf: Vec::with_capacity(256),
            done: false,
        })
    }

    /// The format, once the first access line has been read.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// Lines read so far.
    pub fn lines(&self) -> u64 {
        self.line
    }

    fn error(&self, kind: TraceErrorKind) -> TraceError {
        TraceError::new(&self.path, Location::Line(self.line), kind)
    }

    fn malformed(&self, format: Format, text: &[u8], reason: impl Into<String>) -> TraceError {
        self.error(TraceErrorKind::Malformed {
            format: format.name(),
            text: shown(text),
            reason: reason.into(),
        })
    }

    /// Reads the next line into `self.buf`; false at the end of the file.
    fn next_line(&mut self) -> Result<bool, TraceError> {
        self.buf.clear();
        match self.source.read_line(&mut self.buf) {
            Ok(0) => Ok(false),
            Ok(_) => {
                self.line += 1;
                Ok(true)
            }
            Err(e) => {
                self.line += 1;
                let kind = match e.kind() {
                    io::ErrorKind::UnexpectedEof => TraceErrorKind::Truncated,
                    io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => {
                        TraceErrorKind::Corrupt(e.to_string())
                    }
                    _ => TraceErrorKind::Io(e),
                };
                Err(self.error(kind))
            }
        }
    }

    /// Parses the line in `self.buf`, pushing 0, 1 or 2 accesses.
    #[inline]
    fn parse_line(&mut self, out: &mut Vec<Access>) -> Result<(), TraceError> {
        let line = trim_end(&self.buf);
        if is_skipped(line) {
            return Ok(());
        }
        let format = match self.format {
            Some(f) => f,
            None => {
                let f = detect(line).ok_or_else(|| {
                    self.error(TraceErrorKind::UnknownFormat { text: shown(line) })
                })?;
                self.format = Some(f);
                f
            }
        };
        let parsed = match format {
            Format::Lackey => parse_lackey(line, out),
            Format::HexRw => parse_hexrw(line, out),
        };
        parsed.map_err(|reason| self.malformed(format, line, reason))
    }

    /// Reads on to find the line that produced access `index`.
    pub fn locate(mut self, index: u64) -> Result<Option<u64>, TraceError> {
        let mut seen = 0u64;
        let mut scratch = Vec::with_capacity(2);
        while self.next_line()? {
            scratch.clear();
            self.parse_line(&mut scratch)?;
            seen += scratch.len() as u64;
            if seen > index {
                return Ok(Some(self.line));
            }
        }
        Ok(None)
    }
}

impl TraceReader for TextTrace {
    fn read_batch(&mut self, out: &mut Vec<Access>) -> Result<usize, TraceError> {
        out.clear();
        while !self.done && out.len() < BATCH - 1 {
            if !self.next_line()? {
                self.done = true;
                break;
            }
            self.parse_line(out)?;
        }
        Ok(out.len())
    }

    fn bytes_read(&self) -> u64 {
        self.source.bytes_read()
    }
}

fn shown(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}

#[inline]
fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

/// Blank lines, `#` comments and Valgrind's `==pid==` / `--pid--` messages.
#[inline]
fn is_skipped(line: &[u8]) -> bool {
    match line {
        [] | [b'#', ..] | [b'=', b'=', ..] | [b'-', b'-', ..] => true,
        _ => line.iter().all(|b| b.is_ascii_whitespace()),
    }
}

fn detect(line: &[u8]) -> Option<Format> {
    match line {
        [b'I', b' ', ..] | [b' ', b'L' | b'S' | b'M', b' ', ..] => Some(Format::Lackey),
        _ => {
            let mut scratch = Vec::new();
            parse_hexrw(line, &mut scratch).ok().map(|_| Format::HexRw)
        }
    }
}

/// Parses hex digits, returning the value and the rest of the line.
#[inline]
fn hex(s: &[u8]) -> Result<(u64, &[u8]), String> {
    let s = match s {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => s,
    };
    let mut v: u64 = 0;
    let mut n = 0;
    for &b in s {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => break,
        };
        if v >> 60 != 0 {
            return Err("address wider than 64 bits".into());
        }
        v = (v << 4) | u64::from(d);
        n += 1;
    }
    if n == 0 {
        return Err("expected a hex address".into());
    }
    Ok((v, &s[n..]))
}

fn skip_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
    &s[n..]
}

#[inline]
fn parse_lackey(line: &[u8], out: &mut Vec<Access>) -> Result<(), String> {
    let (kind, rest) = match line {
        [b'I', rest @ ..] => (b'I', rest),
        [b' ', k @ (b'L' | b'S' | b'M'), rest @ ..] => (*k, rest),
        _ => return Err("expected `I`, ` L`, ` S` or ` M` then `address,size`".into()),
    };
    let rest = skip_spaces(rest);
    let (addr, rest) = hex(rest)?;
    let rest = match rest {
        [b',', rest @ ..] => rest,
        _ => return Err("expected `,size` after the address".into()),
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits != rest.len() {
        return Err("expected a decimal size after the comma".into());
    }
    let size = rest
        .iter()
        .try_fold(0u32, |v, b| {
            v.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        })
        .filter(|s| *s > 0)
        .ok_or("size must be from 1 to 4294967295 bytes")?;
    if addr.checked_add(u64::from(size) - 1).is_none() {
        return Err("the access runs past the top of the 64-bit address space".into());
    }
    match kind {
        b'I' => out.push(Access::new(AccessKind::Fetch, addr, size)),
        b'L' => out.push(Access::new(AccessKind::Read, addr, size)),
        b'S' => out.push(Access::new(AccessKind::Write, addr, size)),
        _ => {
            out.push(Access::new(AccessKind::Read, addr, size));
            out.push(Access::new(AccessKind::Write, addr, size));
        }
    }
    Ok(())
}

#[inline]
fn parse_hexrw(line: &[u8], out: &mut Vec<Access>) -> Result<(), String> {
    let (addr, rest) = hex(skip_spaces(line))?;
    if !matches!(rest.first(), Some(b' ' | b'\t')) {
        return Err("expected whitespace then R or W after the address".into());
    }
    let kind = match skip_spaces(rest) {
        [b'R' | b'r'] => AccessKind::Read,
        [b'W' | b'w'] => AccessKind::Write,
        _ => return Err("expected R or W after the address".into()),
    };
    out.push(Access::new(kind, addr, 1));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        (dir, path)
    }

    fn read_all(path: &Path) -> Result<Vec<Access>, TraceError> {
        let mut r = TextTrace::open(path)?;
        let mut all = Vec::new();
        let mut buf = Vec::new();
        while r.read_batch(&mut buf)? > 0 {
            all.extend_from_slice(&buf);
        }
        Ok(all)
    }

    #[test]
    fn lackey_lines_including_modify_and_valgrind_chatter() {
        let (_d, p) = write(
            "t.lackey",
            b"==123== Lackey, an example Valgrind tool\n--123-- note\nI  0400d7d4,8\n L 7ff0005b8,8\n S 7ff0005c8,4\n M 0421c7f0,4\r\n\n",
        );
        let got = read_all(&p).unwrap();
        assert_eq!(
            got,
            vec![
                Access::new(AccessKind::Fetch, 0x400d7d4, 8),
                Access::new(AccessKind::Read, 0x7ff0005b8, 8),
                Access::new(AccessKind::Write, 0x7ff0005c8, 4),
                Access::new(AccessKind::Read, 0x421c7f0, 4),
                Access::new(AccessKind::Write, 0x421c7f0, 4),
            ]
        );
    }

    #[test]
    fn hexrw_lines_with_and_without_prefix() {
        let (_d, p) = write("t", b"0041f7a0 R\n0x13f5e2c0 W\n0000000 w\n");
        let got = read_all(&p).unwrap();
        assert_eq!(
            got,
            vec![
                Access::new(AccessKind::Read, 0x41f7a0, 1),
                Access::new(AccessKind::Write, 0x13f5e2c0, 1),
                Access::new(AccessKind::Write, 0, 1),
            ]
        );
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let (_d, p) = write("bad.trace", b" L 10,4\n S zzzz,4\n");
        let err = read_all(&p).unwrap_err();
        assert_eq!(err.location, Location::Line(2));
        let msg = err.to_string();
        assert!(
            msg.contains("bad.trace:2: malformed lackey line ` S zzzz,4`"),
            "{msg}"
        );
        assert!(msg.contains("expected a hex address"), "{msg}");
    }

    #[test]
    fn other_malformed_lines() {
        let cases: &[(&[u8], &str)] = &[
            (b" L 10,4\n L 10\n", "expected `,size`"),
            (b" L 10,4\n L 10,x\n", "decimal size"),
            (b" L 10,4\n L 10,0\n", "size must be"),
            (b" L 10,4\n L 10,99999999999\n", "size must be"),
            (b" L 10,4\n L 11112222333344445,4\n", "wider than 64 bits"),
            (b" L 10,4\n L ffffffffffffffff,4\n", "past the top"),
            (b" L 10,4\n0041f7a0 R\n", "expected `I`"),
            (b"0041f7a0 R\n L 10,4\n", "expected a hex address"),
            (b"0041f7a0 R\n0041f7a0 X\n", "expected R or W"),
            (b"0041f7a0R\n", "unrecognised trace line"),
        ];
        for (content, want) in cases {
            let (_d, p) = write("t", content);
            let msg = read_all(&p).unwrap_err().to_string();
            assert!(msg.contains(want), "{msg} should contain {want}");
        }
    }

    #[test]
    fn gzip_is_read_transparently_and_truncation_is_an_error() {
        let mut text = Vec::new();
        for i in 0..5000u64 {
            writeln!(text, " L {:x},8", i * 64).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap();
        let gz = gz.finish().unwrap();
        let (_d, p) = write("t.gz", &gz);
        let got = read_all(&p).unwrap();
        assert_eq!(got.len(), 5000);
        assert_eq!(got[4999], Access::new(AccessKind::Read, 4999 * 64, 8));

        let (_d2, cut) = write("cut.gz", &gz[..gz.len() / 2]);
        let err = read_all(&cut).unwrap_err();
        assert!(matches!(err.kind, TraceErrorKind::Truncated), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("cut.gz:") && msg.contains("truncated"),
            "{msg}"
        );
    }

    #[test]
    fn batches_are_bounded_and_locate_finds_lines() {
        let mut text = Vec::new();
        writeln!(text, "==1== header").unwrap();
        for i in 0..(BATCH as u64 + 10) {
            writeln!(text, " M {:x},4", i * 4096).unwrap();
        }
        let (_d, p) = write("t", &text);
        let mut r = TextTrace::open(&p).unwrap();
        let mut buf = Vec::new();
        let mut sizes = Vec::new();
        while r.read_batch(&mut buf).unwrap() > 0 {
            sizes.push(buf.len());
        }
        assert!(sizes.iter().all(|s| *s <= BATCH));
        assert_eq!(sizes.iter().sum::<usize>(), 2 * (BATCH + 10));
        // access 5 is the store half of the third M line, which is line 4.
        assert_eq!(crate::locate_access(&p, 5).unwrap(), Some(4));
        assert_eq!(crate::locate_access(&p, 1 << 40).unwrap(), None);
    }
}
