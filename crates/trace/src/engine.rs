//! The parsing engine every reader shares.
//!
//! A trace's bytes are cut into **chunks** of whole lines (or whole binary records). A chunk is
//! parsed into a [`Chunk`]: its accesses, in batches of at most [`BATCH`], and what it counted
//! (lines, bad lines, records that are not accesses), with any error located by the chunk's own
//! line number. The reader ([`crate::Trace`]) hands the batches out in file order and turns a
//! chunk's line numbers into the file's by adding the lines of the chunks before it, so line
//! numbers stay exact however the file was cut. A plain file is memory-mapped and its chunks
//! parsed in parallel; a compressed one is decoded on one thread, one buffer-full of lines at a
//! time. No line is copied or allocated on the way: parsers read the mapped or decoded bytes
//! in place and push into preallocated batches.

use crate::syntax::{is_skipped, shown, trim_end, Rec};
use crate::{champsim, dinero, hexrw, lackey, native_text, pinatrace};
use crate::{Format, Location, TraceErrorKind, BATCH};
use ptbench_core::Access;
use std::io::{self, Read};

/// Bad lines whose messages a reader keeps under `skip_bad_lines`.
pub(crate) const KEEP_BAD: usize = 5;

/// Text formats in the order detection tries them.
const TEXT_FORMATS: [Format; 6] = [
    Format::Lackey,
    Format::Pinatrace,
    Format::PinatraceSized,
    Format::HexRw,
    Format::DinExtended,
    Format::Din,
];

/// Parses one text line of `format` (trimmed, not skipped).
#[inline]
pub(crate) fn parse_line(
    format: Format,
    line: &[u8],
    out: &mut Vec<Access>,
) -> Result<Rec, String> {
    match format {
        Format::Lackey => lackey::parse(line, out),
        Format::HexRw => hexrw::parse(line, out),
        Format::Pinatrace => pinatrace::parse(line, out),
        Format::PinatraceSized => pinatrace::parse_sized(line, out),
        Format::Din => dinero::parse_din(line, out),
        Format::DinExtended => dinero::parse_extended(line, out),
        Format::NativeText => native_text::parse(line, out),
        Format::ChampSim | Format::ChampSimCloudsuite | Format::Native => {
            Err("a binary format has no lines".to_string())
        }
    }
}

/// The text format of `line` (trimmed, not skipped): the first format, in detection order,
/// that parses it. Lackey is taken on its prefix alone, so a lackey file whose first line is
/// damaged reports a lackey error; extended din only when the line starts with its letters.
pub(crate) fn detect(line: &[u8]) -> Option<Format> {
    if native_text::sniff(line) {
        return Some(Format::NativeText);
    }
    if lackey::sniff(line) {
        return Some(Format::Lackey);
    }
    let mut scratch = Vec::with_capacity(2);
    TEXT_FORMATS[1..].iter().copied().find(|f| {
        if *f == Format::DinExtended && !dinero::sniff_extended(line) {
            return false;
        }
        scratch.clear();
        parse_line(*f, line, &mut scratch).is_ok()
    })
}

/// Handles one raw line (its `\n` cut off): skips comments, detects the format if it is not
/// known yet, parses. `Ok(None)` for a skipped line.
#[inline]
pub(crate) fn handle_line(
    raw: &[u8],
    format: &mut Option<Format>,
    out: &mut Vec<Access>,
) -> Result<Option<Rec>, TraceErrorKind> {
    let line = trim_end(raw);
    if is_skipped(line) {
        return Ok(None);
    }
    let f = match *format {
        Some(f) => f,
        None => {
            let f =
                detect(line).ok_or_else(|| TraceErrorKind::UnknownFormat { text: shown(line) })?;
            *format = Some(f);
            f
        }
    };
    parse_line(f, line, out)
        .map(Some)
        .map_err(|reason| TraceErrorKind::Malformed {
            format: f.name(),
            text: shown(line),
            reason,
        })
}

/// Finds the first line of `data` whose format can be detected, skipping comments; lines that
/// cannot be told are passed over only when `skip_bad` (else the search stops there).
/// Returns the format and the byte offset where that line starts.
pub(crate) fn detect_prefix(data: &[u8], skip_bad: bool) -> Option<(Format, usize)> {
    let mut p = 0;
    while p < data.len() {
        let end = memchr::memchr(b'\n', &data[p..]).map_or(data.len(), |i| p + i);
        let line = trim_end(&data[p..end]);
        if !is_skipped(line) {
            match detect(line) {
                Some(f) => return Some((f, p)),
                None if skip_bad => {}
                None => return None,
            }
        }
        p = end + 1;
    }
    None
}

/// One parsed chunk.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    /// The accesses, in batches of at most [`BATCH`]; some may be empty.
    pub batches: Vec<Vec<Access>>,
    /// Lines (records) in the chunk, up to and including a line that stopped it.
    pub lines: u64,
    /// Valid records that are not accesses.
    pub ignored: u64,
    /// Bad lines skipped.
    pub bad: u64,
    /// The first [`KEEP_BAD`] bad lines (location in the chunk, what is wrong).
    pub first_bad: Vec<(Location, TraceErrorKind)>,
    /// What stopped the chunk early. `Location::Line` counts from the chunk's first line.
    pub error: Option<(Location, TraceErrorKind)>,
    /// The text format after the chunk (detection carries over to the next chunk).
    pub format: Option<Format>,
    /// Where the chunk ends in the input (bytes of the file, for progress).
    pub end: u64,
    /// Empty batches to fill before allocating.
    pub spare: Vec<Vec<Access>>,
}

impl Chunk {
    fn batch(&mut self) -> Vec<Access> {
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BATCH))
    }

    fn bad_line(&mut self, at: Location, kind: TraceErrorKind, skip_bad: bool) -> bool {
        if skip_bad {
            self.bad += 1;
            if self.first_bad.len() < KEEP_BAD {
                self.first_bad.push((at, kind));
            }
            true
        } else {
            self.error = Some((at, kind));
            false
        }
    }
}

/// Parses `data`, whole lines of a text trace, into `chunk`, starting in the format
/// `chunk.format` (`None`: detect it on the first line that is not skipped).
pub(crate) fn parse_text(data: &[u8], skip_bad: bool, chunk: &mut Chunk) {
    let mut st = TextState {
        p: 0,
        line: 0,
        batch: chunk.batch(),
    };
    loop {
        let more = match chunk.format {
            Some(Format::Lackey) => run(data, skip_bad, chunk, &mut st, lackey::fast),
            Some(Format::HexRw) => run(data, skip_bad, chunk, &mut st, hexrw::fast),
            _ => run(data, skip_bad, chunk, &mut st, |_, _, _| None),
        };
        if !more {
            break;
        }
    }
    chunk.batches.push(st.batch);
    chunk.lines = st.line;
}

struct TextState {
    p: usize,
    line: u64,
    batch: Vec<Access>,
}

/// The line loop, monomorphized over a format's fast path. Returns true when the format was
/// just detected (the caller restarts with that format's fast path), false when done.
#[inline(always)]
fn run<F>(data: &[u8], skip_bad: bool, chunk: &mut Chunk, st: &mut TextState, fast: F) -> bool
where
    F: Fn(&[u8], usize, &mut Vec<Access>) -> Option<usize>,
{
    // Locals, not fields of `st`, so the hot loop keeps them in registers.
    let known = chunk.format.is_some();
    let mut p = st.p;
    let mut line = st.line;
    let mut batch = std::mem::take(&mut st.batch);
    let mut detected = false;
    while p < data.len() {
        if batch.len() > BATCH - 2 {
            let full = std::mem::replace(&mut batch, chunk.batch());
            chunk.batches.push(full);
        }
        line += 1;
        if let Some(next) = fast(data, p, &mut batch) {
            p = next;
            continue;
        }
        let end = memchr::memchr(b'\n', &data[p..]).map_or(data.len(), |i| p + i);
        let raw = &data[p..end];
        p = end + 1;
        match handle_line(raw, &mut chunk.format, &mut batch) {
            Ok(Some(Rec::Other)) => chunk.ignored += 1,
            Ok(_) => {}
            Err(kind) => {
                if !chunk.bad_line(Location::Line(line), kind, skip_bad) {
                    break;
                }
            }
        }
        if !known && chunk.format.is_some() {
            detected = true;
            break;
        }
    }
    st.p = p;
    st.line = line;
    st.batch = batch;
    detected
}

/// Decodes `data`, whole records of binary `format`, into `chunk`.
pub(crate) fn parse_records(data: &[u8], format: Format, chunk: &mut Chunk) {
    let size = format.record_bytes().expect("a binary format");
    let mut batch = chunk.batch();
    for rec in data.chunks_exact(size) {
        if batch.len() > BATCH - champsim::MAX_PER_RECORD {
            let full = std::mem::replace(&mut batch, chunk.batch());
            chunk.batches.push(full);
        }
        champsim::decode(format, rec, &mut batch);
    }
    chunk.batches.push(batch);
    chunk.lines = (data.len() / size) as u64;
}

/// A whole trace in memory: mapped from its file, or owned.
pub(crate) enum Data {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Data::Mapped(m) => m,
            Data::Owned(v) => v,
        }
    }
}

/// Where the next chunk of whole lines of `data` starting at `pos` ends: at the first line end
/// at or after `pos + want`, or at the end of the data.
pub(crate) fn line_chunk_end(data: &[u8], pos: usize, want: usize) -> usize {
    let at = pos.saturating_add(want.max(1)).min(data.len());
    if at >= data.len() {
        return data.len();
    }
    memchr::memchr(b'\n', &data[at - 1..]).map_or(data.len(), |i| at + i)
}

/// A decoded stream read a buffer at a time, handed out in blocks of whole lines or records.
pub(crate) struct Stream {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Decoded bytes handed out so far.
    pub consumed: u64,
}

/// A block of a [`Stream`].
pub(crate) enum Block<'a> {
    /// Whole lines or records.
    Data(&'a [u8]),
    /// The stream ended inside a record: the partial record's bytes.
    Partial(usize),
    /// The stream ended.
    End,
}

impl Stream {
    pub(crate) fn new(reader: Box<dyn Read + Send>, want: usize) -> Stream {
        Stream {
            reader,
            buf: vec![0; want.max(64) * 2],
            start: 0,
            end: 0,
            eof: false,
            consumed: 0,
        }
    }

    /// Reads more into the buffer, moving what is left to its front and growing it when full.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let n = self.buf.len() * 2;
            self.buf.resize(n, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn take(&mut self, n: usize) -> Block<'_> {
        let b = &self.buf[self.start..self.start + n];
        self.start += n;
        self.consumed += n as u64;
        Block::Data(b)
    }

    /// The next block of at least `want` bytes of whole lines (fewer at the end of the stream),
    /// ending after a `\n` or at the end of the stream.
    pub(crate) fn next_lines(&mut self, want: usize) -> io::Result<Block<'_>> {
        loop {
            let avail = self.end - self.start;
            if self.eof {
                if avail == 0 {
                    return Ok(Block::End);
                }
                return Ok(self.take(avail));
            }
            if avail >= want {
                let window = &self.buf[self.start..self.end];
                if let Some(i) = memchr::memrchr(b'\n', window) {
                    return Ok(self.take(i + 1));
                }
            }
            self.fill()?;
        }
    }

    /// The next block of at least `want` bytes of whole records of `size` bytes (fewer at the
    /// end of the stream).
    pub(crate) fn next_records(&mut self, want: usize, size: usize) -> io::Result<Block<'_>> {
        loop {
            let avail = self.end - self.start;
            if self.eof || avail >= want.max(size) {
                let whole = avail / size * size;
                if whole > 0 {
                    return Ok(self.take(whole));
                }
                if self.eof {
                    return Ok(if avail == 0 {
                        Block::End
                    } else {
                        Block::Partial(avail)
                    });
                }
            }
            self.fill()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ptbench_core::AccessKind;

    #[test]
    fn detection_order() {
        let cases: &[(&[u8], Option<Format>)] = &[
            (b"I  0400d7d4,8", Some(Format::Lackey)),
            (b" S zzzz", Some(Format::Lackey)),
            (b"0x7f12: R 0x7ffd8", Some(Format::Pinatrace)),
            (b"0x7f12: R 0x7ffd8  8  0x0", Some(Format::PinatraceSized)),
            (b"0041f7a0 R", Some(Format::HexRw)),
            (b"C R", Some(Format::HexRw)),
            (b"r 1000 4", Some(Format::DinExtended)),
            (b"c 1000 4", Some(Format::DinExtended)),
            (b"c 1000", Some(Format::Din)),
            (b"2 0 comment", Some(Format::Din)),
            (b"0 1000", Some(Format::Din)),
            (b"hello", None),
            (b"0041f7a0R", None),
        ];
        for (line, want) in cases {
            assert_eq!(detect(line), *want, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn chunk_ends_at_line_ends() {
        let d = b"aa\nbb\ncc";
        assert_eq!(line_chunk_end(d, 0, 1), 3);
        assert_eq!(line_chunk_end(d, 0, 3), 3);
        assert_eq!(line_chunk_end(d, 0, 4), 6);
        assert_eq!(line_chunk_end(d, 3, 100), 8);
        assert_eq!(line_chunk_end(d, 6, 1), 8);
    }

    #[test]
    fn stream_blocks_are_whole_lines_and_records() {
        let text = b"0 1\n22 2\n333 3\n4444 4".to_vec();
        let mut s = Stream::new(Box::new(io::Cursor::new(text.clone())), 3);
        let mut got = Vec::new();
        let mut blocks = 0;
        while let Block::Data(b) = s.next_lines(3).unwrap() {
            got.extend_from_slice(b);
            blocks += 1;
            assert!(b.ends_with(b"\n") || got.len() == text.len());
        }
        assert_eq!(got, text);
        assert!(blocks >= 2);

        let bytes: Vec<u8> = (0..=200u8).collect();
        let mut s = Stream::new(Box::new(io::Cursor::new(bytes)), 10);
        let mut n = 0;
        loop {
            match s.next_records(10, 64).unwrap() {
                Block::Data(b) => n += b.len(),
                Block::Partial(p) => {
                    assert_eq!((n, p), (192, 9));
                    break;
                }
                Block::End => panic!("the partial record is reported"),
            }
        }
    }

    #[test]
    fn batches_never_exceed_batch() {
        let mut text = Vec::new();
        for i in 0..(BATCH + 7) {
            text.extend_from_slice(format!(" M {i:x},4\n").as_bytes());
        }
        let mut chunk = Chunk::default();
        parse_text(&text, false, &mut chunk);
        assert_eq!(chunk.lines, (BATCH + 7) as u64);
        assert!(chunk.batches.iter().all(|b| b.len() <= BATCH));
        let all: Vec<Access> = chunk.batches.concat();
        assert_eq!(all.len(), 2 * (BATCH + 7));
        assert_eq!(all[3], Access::new(AccessKind::Write, 1, 4));
    }
}
