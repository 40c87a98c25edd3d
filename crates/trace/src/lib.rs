//! Trace readers. Every reader yields [`Access`]es in batches through [`TraceReader`], so a trace of
//! any length streams through a fixed amount of memory.
//!
//! Text formats, detected from the content (the first line that is not blank, a comment or a
//! Valgrind `==pid==` / `--pid--` line decides):
//! - Valgrind lackey (`--trace-mem=yes`): `I  0400d7d4,8` (instruction fetch), ` L 7ff0005b8,8`
//!   (load), ` S 7ff0005c8,8` (store), ` M 0421c7f0,4` (modify: a load then a store, two accesses).
//! - The course format `hhhhhhhh R|W`: a hex address (an optional `0x` prefix is accepted) and R or W;
//!   each access is one byte.
//!
//! Gzip-compressed files are recognised by their magic bytes and read transparently.

mod error;
mod text;

pub use error::{Location, TraceError, TraceErrorKind};
pub use text::{Format, TextTrace};

use ptbench_core::Access;
use std::path::Path;

/// Accesses a reader hands out per batch.
pub const BATCH: usize = 64 * 1024;

/// A source of accesses.
pub trait TraceReader {
    /// Clears `buf` and fills it with up to [`BATCH`] accesses; returns how many, 0 at the end.
    fn read_batch(&mut self, buf: &mut Vec<Access>) -> Result<usize, TraceError>;

    /// Bytes of the underlying file consumed so far (compressed bytes for a compressed file), for
    /// progress reports.
    fn bytes_read(&self) -> u64;
}

/// Opens a trace file of any supported format and compression.
pub fn open(path: &Path) -> Result<TextTrace, TraceError> {
    TextTrace::open(path)
}

/// The lowest first byte and highest last byte of the trace's accesses, or `None` if it has none.
pub fn address_range(path: &Path) -> Result<Option<(u64, u64)>, TraceError> {
    let mut r = open(path)?;
    let mut buf = Vec::with_capacity(BATCH);
    let mut range: Option<(u64, u64)> = None;
    while r.read_batch(&mut buf)? > 0 {
        for a in &buf {
            let last = a.last_byte().unwrap_or(u64::MAX);
            range = Some(match range {
                None => (a.addr, last),
                Some((lo, hi)) => (lo.min(a.addr), hi.max(last)),
            });
        }
    }
    Ok(range)
}

/// Finds the 1-based line of the file that produced access number `index` (0-based), by reading
/// the trace again. For error messages about an access found bad after it was read.
pub fn locate_access(path: &Path, index: u64) -> Result<Option<u64>, TraceError> {
    TextTrace::open(path)?.locate(index)
}
