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
//! mmap 1 400000 16 r-x     address space, hex start, pages of 4 KiB, permissions
//! munmap 1 400000 16
//! mprotect 1 400000 16 rw-
//! exit 2
//! ```
//! Other formats drop what they cannot hold only when asked; otherwise writing a record they
//! cannot hold (a fetch in `hexrw`, an event in lackey) is an error naming the record.

use crate::{native::NativeWriter, Format};
use ptbench_core::{Access, AccessKind};
use std::fs::File;
use std::io::{self, BufWriter, Write};
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
    /// ptbench does not write this format.
    #[error("ptbench does not write {0} traces (it reads them)")]
    Unsupported(&'static str),
}

/// A sink of trace records.
pub trait TraceWriter {
    /// Appends records.
    fn write(&mut self, batch: &[Access]) -> Result<(), WriteError>;
    /// Finishes the file; returns the records written.
    fn finish(self: Box<Self>) -> Result<u64, WriteError>;
}

/// Opens a writer of `format` at `path` (compressed when the name ends in `.gz`, `.zst`, `.xz`
/// or `.bz2`, for the native format). With `drop_unrepresentable`, records the format cannot
/// hold are skipped (and counted) instead of failing.
pub fn create(
    path: &Path,
    format: WriteFormat,
    drop_unrepresentable: bool,
) -> Result<Box<dyn TraceWriter>, WriteError> {
    let io_err = |error| WriteError::Io {
        path: path.to_path_buf(),
        error,
    };
    Ok(match format {
        WriteFormat::Native => Box::new(Native {
            path: path.to_path_buf(),
            inner: NativeWriter::create(path).map_err(io_err)?,
        }),
        WriteFormat::Text(f) => {
            if !matches!(
                f,
                Format::Lackey
                    | Format::HexRw
                    | Format::Din
                    | Format::DinExtended
                    | Format::Pinatrace
            ) {
                return Err(WriteError::Unsupported(f.name()));
            }
            let tmp = tempfile::Builder::new()
                .prefix(".ptbench-")
                .suffix(".tmp")
                .tempfile_in(match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                })
                .map_err(io_err)?;
            let out = BufWriter::with_capacity(1 << 20, tmp.reopen().map_err(io_err)?);
            Box::new(Text {
                path: path.to_path_buf(),
                tmp: Some(tmp),
                out,
                format: f,
                native_text: false,
                drop: drop_unrepresentable,
                index: 0,
                written: 0,
            })
        }
        WriteFormat::NativeText => {
            let tmp = tempfile::Builder::new()
                .prefix(".ptbench-")
                .suffix(".tmp")
                .tempfile_in(match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                })
                .map_err(io_err)?;
            let mut out = BufWriter::with_capacity(1 << 20, tmp.reopen().map_err(io_err)?);
            writeln!(out, "ptbench-trace v1").map_err(io_err)?;
            Box::new(Text {
                path: path.to_path_buf(),
                tmp: Some(tmp),
                out,
                format: Format::Native,
                native_text: true,
                drop: drop_unrepresentable,
                index: 0,
                written: 0,
            })
        }
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

impl std::str::FromStr for WriteFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<WriteFormat, String> {
        match s {
            "ptbt" | "ptbench" | "native" => Ok(WriteFormat::Native),
            "ptbt-text" | "ptbench-text" | "text" => Ok(WriteFormat::NativeText),
            other => other
                .parse::<Format>()
                .map(WriteFormat::Text)
                .map_err(|e| format!("{e}, ptbt-text")),
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
    tmp: Option<tempfile::NamedTempFile>,
    out: BufWriter<File>,
    format: Format,
    native_text: bool,
    drop: bool,
    index: u64,
    written: u64,
}

fn perms(flags: u8) -> String {
    let c = |bit: u8, ch: char| if flags & bit != 0 { ch } else { '-' };
    format!("{}{}{}", c(1, 'r'), c(2, 'w'), c(4, 'x'))
}

impl Text {
    /// Writes one record; `Ok(false)` when the format cannot hold it.
    fn line(&mut self, a: &Access) -> io::Result<bool> {
        let o = &mut self.out;
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
        self.out.flush().map_err(err)?;
        let tmp = self
            .tmp
            .take()
            .ok_or_else(|| err(io::Error::other("finished twice")))?;
        tmp.as_file().sync_all().map_err(err)?;
        crate::native::readable(tmp.path()).map_err(err)?;
        tmp.persist(&self.path).map_err(|e| err(e.error))?;
        Ok(self.written)
    }
}
