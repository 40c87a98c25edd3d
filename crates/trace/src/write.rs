//! Writing traces: ptbench's native binary format (see [`native`](crate::native)), its text form,
//! and the text formats that can hold what a trace carries (`ptbench convert`).
//!
//! The native text form, one record a line after the header line `ptbench-trace v1`:
//! ```text
//! ptbench-trace v1
//! R 7ff0005b8 8            read: kind (R, W or I for a fetch), hex address, size in bytes
//! W 7ff0005c8 4 2          ... and an optional address space (decimal), 0 when omitted
//! switch 2                 context switch to address space 2
//! fork 1 2                 address space 1 forks address space 2
//! mmap 1 400000 16 r-x     address space, hex start, pages of 4 KiB, permissions (r-xf: the
//!                          region is file-backed; rw-h: advised for huge pages, madvise)
//! munmap 1 400000 16
//! mprotect 1 400000 16 rw-
//! exit 2
//! thread 1 4242            later accesses come from thread 4242 of address space 1
//! cpu 3                    later accesses ran on CPU 3
//! ```
//! Other formats drop what they cannot hold only when asked; otherwise writing a record they
//! cannot hold (a fetch in `hexrw`, an event in lackey) is an error naming the record.

use crate::compress::{self, Codec};
use crate::{native::NativeWriter, Format, TraceReader};
use ptbench_core::{Access, AccessKind, FILE_BACKED, HUGE_ADVISED};
use ptbench_output::{Output, Rules};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a trace could not be written.
#[derive(Debug, Error)]
pub enum WriteError {
    /// The file could not be written.
    #[error("cannot write {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
    /// The format cannot hold a record.
    #[error("{format} cannot hold record #{index} ({kind}); convert to ptbt or the native text form, or drop such records")]
    Unrepresentable {
        /// The output format.
        format: &'static str,
        /// 0-based index of the record.
        index: u64,
        /// Its kind.
        kind: &'static str,
    },
    /// A record no ptbench reader accepts.
    #[error("record #{index} is {why}: no ptbench reader would accept it")]
    Invalid {
        /// 0-based index of the record.
        index: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// ptbench does not write this format.
    #[error("ptbench does not write {0} traces (it reads them); it writes {WRITABLE}")]
    Unsupported(&'static str),
    /// The output could not be opened or committed.
    #[error(transparent)]
    Output(#[from] ptbench_output::OutputError),
}

/// A sink of trace records.
pub trait TraceWriter {
    /// Appends records.
    fn write(&mut self, batch: &[Access]) -> Result<(), WriteError>;
    /// Finishes the file; returns the records written.
    fn finish(self: Box<Self>) -> Result<u64, WriteError>;
}

/// Opens a writer of `format` at `path` with [`default_rules`] (see [`create_with`]).
pub fn create(
    path: &Path,
    format: WriteFormat,
    drop_unrepresentable: bool,
) -> Result<Box<dyn TraceWriter>, WriteError> {
    create_with(path, format, drop_unrepresentable, &default_rules())
}

/// The rules of a trace output that replaces only empty files and traces ptbench writes, and
/// reads no input.
pub fn default_rules() -> Rules<'static> {
    Rules::new("-o", "a trace", &looks_like_trace)
}

/// Opens `path` under `rules` (see [`ptbench_output`]).
pub fn open_output(path: &Path, rules: &Rules) -> Result<Output, WriteError> {
    Output::create(path, rules).map_err(WriteError::Output)
}

/// Opens a writer of `format` at `path` under `rules`: every format is compressed when the name
/// ends in `.gz`, `.zst`, `.xz` or `.bz2`. With `drop_unrepresentable`, records the format cannot
/// hold are skipped (and counted) instead of failing.
pub fn create_with(
    path: &Path,
    format: WriteFormat,
    drop_unrepresentable: bool,
    rules: &Rules,
) -> Result<Box<dyn TraceWriter>, WriteError> {
    if let WriteFormat::Text(f) = format {
        if !WriteFormat::WRITABLE_TEXT.contains(&f) {
            return Err(WriteError::Unsupported(f.name()));
        }
    }
    let out = open_output(path, rules)?;
    let io_err = |error| WriteError::Io {
        path: path.to_path_buf(),
        error,
    };
    Ok(match format {
        WriteFormat::Native => Box::new(Native {
            path: path.to_path_buf(),
            inner: NativeWriter::to_output(out).map_err(io_err)?,
        }),
        WriteFormat::Text(f) => Box::new(Text {
            path: path.to_path_buf(),
            out: Some(Sink::new(out).map_err(io_err)?),
            format: f,
            native_text: false,
            drop: drop_unrepresentable,
            index: 0,
            written: 0,
        }),
        WriteFormat::NativeText => {
            let mut sink = Sink::new(out).map_err(io_err)?;
            writeln!(sink, "ptbench-trace v1").map_err(io_err)?;
            Box::new(Text {
                path: path.to_path_buf(),
                out: Some(sink),
                format: Format::Native,
                native_text: true,
                drop: drop_unrepresentable,
                index: 0,
                written: 0,
            })
        }
    })
}

/// Whether the file at `path` holds a trace in a format ptbench writes (ptbt, its text form,
/// lackey, hexrw, din, extended din or pinatrace; through any compression), judged from its
/// first 64 KiB. Used to decide whether an existing file may be replaced without `--force`.
pub fn looks_like_trace(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let mut raw = io::BufReader::new(file);
    let mut head = Vec::with_capacity(64 << 10);
    let Ok(buf) = io::BufRead::fill_buf(&mut raw) else {
        return false;
    };
    let codec = compress::sniff(buf);
    let read: io::Result<usize> = match codec {
        Some(c) => compress::decoder(c, raw).and_then(|d| d.take(64 << 10).read_to_end(&mut head)),
        None => raw.take(64 << 10).read_to_end(&mut head),
    };
    if read.is_err() && head.is_empty() {
        return false;
    }
    if crate::native::is_native(&head) {
        return true;
    }
    // Whole lines only: a line cut at 64 KiB is not evidence against the file.
    if head.len() == 64 << 10 {
        match head.iter().rposition(|&b| b == b'\n') {
            Some(i) => head.truncate(i + 1),
            None => return false,
        }
    }
    let Ok(mut t) = crate::from_bytes("head.txt", head, &crate::ReaderOptions::default()) else {
        return false;
    };
    let mut batch = Vec::new();
    matches!(t.read_batch(&mut batch), Ok(n) if n > 0)
        && t.format().is_some_and(|f| {
            f == Format::Native
                || f == Format::NativeText
                || WriteFormat::WRITABLE_TEXT.contains(&f)
        })
}

/// A format `ptbench convert` writes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WriteFormat {
    /// The native binary format.
    Native,
    /// The native text form.
    NativeText,
    /// A text format of another tool.
    Text(Format),
}

/// The formats ptbench writes, for messages.
pub const WRITABLE: &str = "ptbt, ptbt-text, lackey, hexrw, din, xdin, pinatrace";

impl WriteFormat {
    /// The text formats of other tools that ptbench writes.
    pub const WRITABLE_TEXT: [Format; 5] = [
        Format::Lackey,
        Format::HexRw,
        Format::Din,
        Format::DinExtended,
        Format::Pinatrace,
    ];
}

impl std::str::FromStr for WriteFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<WriteFormat, String> {
        let unknown = || format!("unknown output format `{s}`; ptbench writes {WRITABLE}");
        match s {
            "ptbt" | "ptbench" | "native" => Ok(WriteFormat::Native),
            "ptbt-text" | "ptbench-text" | "text" => Ok(WriteFormat::NativeText),
            other => match other.parse::<Format>() {
                Ok(f) if WriteFormat::WRITABLE_TEXT.contains(&f) => Ok(WriteFormat::Text(f)),
                Ok(f) => Err(format!(
                    "ptbench reads {} traces but does not write them; it writes {WRITABLE}",
                    f.name()
                )),
                Err(_) => Err(unknown()),
            },
        }
    }
}

struct Native {
    path: PathBuf,
    inner: NativeWriter,
}

impl TraceWriter for Native {
    fn write(&mut self, batch: &[Access]) -> Result<(), WriteError> {
        self.inner.write(batch).map_err(|error| WriteError::Io {
            path: self.path.clone(),
            error,
        })
    }

    fn finish(self: Box<Self>) -> Result<u64, WriteError> {
        let path = self.path;
        self.inner
            .finish()
            .map_err(|error| WriteError::Io { path, error })
    }
}

struct Text {
    path: PathBuf,
    out: Option<Sink>,
    format: Format,
    native_text: bool,
    drop: bool,
    index: u64,
    written: u64,
}

/// `r-x`, with an `f` after it for a file-backed mapping (flag bit 3) and an `h` for a region
/// advised for huge pages (bit 4).
fn perms(flags: u8) -> String {
    let c = |bit: u8, ch: char| if flags & bit != 0 { ch } else { '-' };
    let file = if flags & FILE_BACKED != 0 { "f" } else { "" };
    let huge = if flags & HUGE_ADVISED != 0 { "h" } else { "" };
    format!("{}{}{}{file}{huge}", c(1, 'r'), c(2, 'w'), c(4, 'x'))
}

impl Text {
    /// Writes one record; `Ok(false)` when the format cannot hold it.
    fn line(&mut self, a: &Access) -> io::Result<bool> {
        let Some(o) = self.out.as_mut() else {
            return Err(io::Error::other("the trace was already finished"));
        };
        use AccessKind as K;
        if self.native_text {
            let k = match a.kind {
                K::Read => "R",
                K::Write => "W",
                K::Fetch => "I",
                K::ContextSwitch => return writeln!(o, "switch {}", a.asid).map(|_| true),
                K::Fork => return writeln!(o, "fork {} {}", a.asid, a.addr).map(|_| true),
                K::Mmap | K::Mprotect => {
                    let name = a.kind.name();
                    let p = perms(a.flags);
                    return writeln!(o, "{name} {} {:x} {} {p}", a.asid, a.addr, a.size)
                        .map(|_| true);
                }
                K::Munmap => {
                    return writeln!(o, "munmap {} {:x} {}", a.asid, a.addr, a.size).map(|_| true)
                }
                K::Exit => return writeln!(o, "exit {}", a.asid).map(|_| true),
                K::Thread => return writeln!(o, "thread {} {}", a.asid, a.addr).map(|_| true),
                K::Cpu => return writeln!(o, "cpu {}", a.addr).map(|_| true),
            };
            if a.asid == 0 {
                writeln!(o, "{k} {:x} {}", a.addr, a.size)?;
            } else {
                writeln!(o, "{k} {:x} {} {}", a.addr, a.size, a.asid)?;
            }
            return Ok(true);
        }
        if a.kind.is_event() || a.asid != 0 {
            return Ok(false);
        }
        match (self.format, a.kind) {
            (Format::Lackey, K::Fetch) => writeln!(o, "I  {:08x},{}", a.addr, a.size)?,
            (Format::Lackey, K::Read) => writeln!(o, " L {:08x},{}", a.addr, a.size)?,
            (Format::Lackey, _) => writeln!(o, " S {:08x},{}", a.addr, a.size)?,
            (Format::HexRw, K::Fetch) => return Ok(false),
            (Format::HexRw, K::Read) if a.size == 1 => writeln!(o, "{:08x} R", a.addr)?,
            (Format::HexRw, K::Write) if a.size == 1 => writeln!(o, "{:08x} W", a.addr)?,
            (Format::Pinatrace, K::Read) if a.size == 1 => writeln!(o, "0x0: R {:#x}", a.addr)?,
            (Format::Pinatrace, K::Write) if a.size == 1 => writeln!(o, "0x0: W {:#x}", a.addr)?,
            (Format::Din, k) if a.size == 4 && a.addr.is_multiple_of(4) => {
                writeln!(o, "{} {:x}", k as u8, a.addr)?
            }
            (Format::DinExtended, k) => {
                let c = match k {
                    K::Read => 'r',
                    K::Write => 'w',
                    _ => 'i',
                };
                writeln!(o, "{c} {:x} {:x}", a.addr, a.size)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl TraceWriter for Text {
    fn write(&mut self, batch: &[Access]) -> Result<(), WriteError> {
        for a in batch {
            if let Err(why) = a.check() {
                return Err(WriteError::Invalid {
                    index: self.index,
                    why,
                });
            }
            let ok = self.line(a).map_err(|error| WriteError::Io {
                path: self.path.clone(),
                error,
            })?;
            if ok {
                self.written += 1;
            } else if !self.drop {
                return Err(WriteError::Unrepresentable {
                    format: if self.native_text {
                        "ptbt-text"
                    } else {
                        self.format.name()
                    },
                    index: self.index,
                    kind: if a.asid != 0 && !a.kind.is_event() {
                        "an access of another address space"
                    } else if a.kind.is_event() {
                        a.kind.name()
                    } else {
                        "an access of that kind or size"
                    },
                });
            }
            self.index += 1;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, WriteError> {
        let path = self.path.clone();
        let err = |error| WriteError::Io {
            path: path.clone(),
            error,
        };
        let sink = self
            .out
            .take()
            .ok_or_else(|| err(io::Error::other("finished twice")))?;
        sink.finish().map_err(err)?.commit()?;
        Ok(self.written)
    }
}

/// A trace output's byte stream: the [`Output`] behind a buffer and, when its name ends in `.gz`,
/// `.zst`, `.xz`, `.bz2` or `.lz4`, that compressor.
pub struct Sink(Enc);

enum Enc {
    Plain(BufWriter<Output>),
    Gz(flate2::write::GzEncoder<BufWriter<Output>>),
    Zst(zstd::stream::write::Encoder<'static, BufWriter<Output>>),
    Xz(xz2::write::XzEncoder<BufWriter<Output>>),
    Bz(bzip2::write::BzEncoder<BufWriter<Output>>),
    Lz4(Box<lz4_flex::frame::FrameEncoder<BufWriter<Output>>>),
}

impl Sink {
    /// Wraps `out`, compressing as its name says.
    pub fn new(out: Output) -> io::Result<Sink> {
        let name = out
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let codec = compress::from_extension(&name);
        let buf = BufWriter::with_capacity(1 << 20, out);
        Ok(Sink(match codec {
            None => Enc::Plain(buf),
            Some(Codec::Gzip) => Enc::Gz(flate2::write::GzEncoder::new(
                buf,
                flate2::Compression::default(),
            )),
            Some(Codec::Zstd) => Enc::Zst(zstd::stream::write::Encoder::new(buf, 3)?),
            Some(Codec::Xz) => Enc::Xz(xz2::write::XzEncoder::new(buf, 6)),
            Some(Codec::Bzip2) => Enc::Bz(bzip2::write::BzEncoder::new(
                buf,
                bzip2::Compression::default(),
            )),
            Some(Codec::Lz4) => Enc::Lz4(Box::new(lz4_flex::frame::FrameEncoder::new(buf))),
        }))
    }

    /// Whether the stream is compressed.
    pub fn compressed(&self) -> bool {
        !matches!(self.0, Enc::Plain(_))
    }

    /// Ends the compressed stream, flushes the buffer and hands back the output to commit.
    pub fn finish(self) -> io::Result<Output> {
        let buf = match self.0 {
            Enc::Plain(b) => b,
            Enc::Gz(e) => e.finish()?,
            Enc::Zst(e) => e.finish()?,
            Enc::Xz(e) => e.finish()?,
            Enc::Bz(e) => e.finish()?,
            Enc::Lz4(e) => e.finish().map_err(io::Error::other)?,
        };
        buf.into_inner().map_err(|e| e.into_error())
    }
}

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Enc::Plain(w) => w.write(b),
            Enc::Gz(w) => w.write(b),
            Enc::Zst(w) => w.write(b),
            Enc::Xz(w) => w.write(b),
            Enc::Bz(w) => w.write(b),
            Enc::Lz4(w) => w.write(b),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Enc::Plain(w) => w.flush(),
            Enc::Gz(w) => w.flush(),
            Enc::Zst(w) => w.flush(),
            Enc::Xz(w) => w.flush(),
            Enc::Bz(w) => w.flush(),
            Enc::Lz4(w) => w.flush(),
        }
    }
}
