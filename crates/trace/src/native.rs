//! ptbench's own binary trace format (`.ptbt`): a versioned header, then fixed-width
//! little-endian records that are memory-mapped and decoded at memory speed. It carries OS events
//! (context switch, fork, mmap, munmap, mprotect, exit) in the same stream as accesses.
//!
//! ```text
//! header, 32 bytes:
//!   0  magic         8 bytes  "PTBTRACE"
//!   8  version       u16      1
//!  10  header bytes  u16      32
//!  12  record bytes  u16      16
//!  14  flags         u16      bit 0: the trace holds events
//!  16  records       u64      number of records, or u64::MAX when the writer could not seek back
//!  24  reserved      u64      0
//! record, 16 bytes (the layout of `ptbench_core::Access`):
//!   0  addr  u64   first byte accessed (events: range start, or the child asid of a fork)
//!   8  size  u32   bytes (events: pages of 4 KiB)
//!  12  asid  u16   address space
//!  14  kind  u8    0 read, 1 write, 2 fetch; 16 switch, 17 fork, 18 mmap, 19 munmap,
//!                  20 mprotect, 21 exit
//!  15  flags u8    event permissions: bit 0 read, 1 write, 2 execute; bit 3 (mmap) file-backed, bit 4 (mmap) huge-advised
//! ```
//!
//! A file is recognised by its magic bytes (also inside gzip, xz, bzip2 or zstd compression). A
//! file whose records do not fill whole 16-byte records ends in a partial record: an error naming
//! its byte offset; a record of an unknown kind is an error naming its offset; a record count in
//! the header that disagrees with the file's length is an error (the file was cut short).
//! [`NativeWriter`] writes the format (compressed when the name ends in `.gz`, `.xz`, `.bz2` or
//! `.zst`) atomically: to a temporary file renamed into place when it is finished.

use crate::compress::{self, Codec, Counter, Counting};
use crate::{Location, TraceError, TraceErrorKind, TraceReader, BATCH};
use ptbench_core::{Access, AccessKind};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The magic bytes at the start of every native trace.
pub const MAGIC: &[u8; 8] = b"PTBTRACE";
/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// Bytes of the header.
pub const HEADER_BYTES: usize = 32;
/// Bytes of a record.
pub const RECORD_BYTES: usize = 16;
/// Header flag: the trace holds events.
pub const FLAG_EVENTS: u16 = 1;
const UNKNOWN_COUNT: u64 = u64::MAX;

/// Encodes the header.
pub fn header(records: Option<u64>, flags: u16) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(MAGIC);
    h[8..10].copy_from_slice(&VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(HEADER_BYTES as u16).to_le_bytes());
    h[12..14].copy_from_slice(&(RECORD_BYTES as u16).to_le_bytes());
    h[14..16].copy_from_slice(&flags.to_le_bytes());
    h[16..24].copy_from_slice(&records.unwrap_or(UNKNOWN_COUNT).to_le_bytes());
    h
}

/// Encodes one record.
#[inline(always)]
pub fn encode(a: &Access) -> [u8; RECORD_BYTES] {
    let mut r = [0u8; RECORD_BYTES];
    r[0..8].copy_from_slice(&a.addr.to_le_bytes());
    r[8..12].copy_from_slice(&a.size.to_le_bytes());
    r[12..14].copy_from_slice(&a.asid.to_le_bytes());
    r[14] = a.kind as u8;
    r[15] = a.flags;
    r
}

/// Decodes whole records from `data` into `out`; on a record of unknown kind or one that
/// [`Access::check`] refuses, returns that record's index and what is wrong (the records before
/// it are decoded).
///
/// Blocks of records that are all plain, well-formed accesses (the bulk of any trace) are checked
/// with one branch-free fold and then copied into `out` whole, the file's record layout being
/// `Access`'s own; a block holding anything else (an event, a bad record) is decoded record by
/// record by [`decode_each`], which names the bad record.
#[inline]
pub fn decode(data: &[u8], out: &mut Vec<Access>) -> Result<(), (usize, String)> {
    let whole = data.len() / RECORD_BYTES * RECORD_BYTES;
    out.reserve(whole / RECORD_BYTES);
    let mut first = 0;
    for block in data[..whole].chunks(BLOCK_RECORDS * RECORD_BYTES) {
        if !(LAYOUT_MATCHES && plain_accesses(block)) {
            decode_each(block, out).map_err(|(i, why)| (first + i, why))?;
        } else {
            copy_records(block, out);
        }
        first += block.len() / RECORD_BYTES;
    }
    Ok(())
}

/// Records [`decode`] checks in one fold before copying them: 4 KiB, so that the copy reads
/// them from the L1 cache.
const BLOCK_RECORDS: usize = 256;

/// Whether a record's bytes are an `Access` in memory: little-endian, with the fields at the
/// record's offsets, and no padding (checked at compile time below).
const LAYOUT_MATCHES: bool = cfg!(target_endian = "little");

const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Access>() == RECORD_BYTES);
    assert!(align_of::<Access>() <= RECORD_BYTES);
    assert!(offset_of!(Access, addr) == 0);
    assert!(offset_of!(Access, size) == 8);
    assert!(offset_of!(Access, asid) == 12);
    assert!(offset_of!(Access, kind) == 14);
    assert!(offset_of!(Access, flags) == 15);
    assert!(size_of::<AccessKind>() == 1);
    assert!(AccessKind::Read as u8 == 0);
    assert!(AccessKind::Write as u8 == 1);
    assert!(AccessKind::Fetch as u8 == 2);
};

/// Whether every record of `block` (whole records) is a memory access (kind 0, 1 or 2) that
/// [`Access::check`] accepts: no flags, at least one byte, not past the top of the address
/// space. `false` says nothing about which record is not.
///
/// First a fold of bitwise ORs, which the compiler turns into SIMD: it proves the block fine
/// when every address is below 2^63 (so no access of under 2^32 bytes can wrap). Only when it
/// does not (addresses in the upper half, or anything else) are the records checked exactly,
/// still without a branch per record.
#[inline(always)]
fn plain_accesses(block: &[u8]) -> bool {
    let (mut addrs, mut high, mut three, mut zero) = (0u64, 0u64, 0u64, 0u64);
    for r in block.chunks_exact(RECORD_BYTES) {
        let (addr, rest) = words(r);
        addrs |= addr;
        // Kind bits above bit 1 and the flags byte: must be 0.
        high |= rest & 0xfffc_0000_0000_0000;
        // Kind 3: bits 48 and 49 both set.
        three |= rest & (rest >> 1);
        // A size of 0 borrows into bit 63.
        zero |= (rest & 0xffff_ffff).wrapping_sub(1);
    }
    if (addrs | zero) >> 63 == 0 && high == 0 && three & (1 << 48) == 0 {
        return true;
    }
    let mut bad = false;
    for r in block.chunks_exact(RECORD_BYTES) {
        let (addr, rest) = words(r);
        let size = u64::from(rest as u32);
        // Kind 0-2 and flags 0: the top two bytes read as a number below 3.
        let tag = rest >> 48;
        let last = addr.wrapping_add(size.wrapping_sub(1));
        bad |= (tag > 2) | (size == 0) | (last < addr);
    }
    !bad
}

/// The two little-endian words of a record.
#[inline(always)]
fn words(r: &[u8]) -> (u64, u64) {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&r[0..8]);
    b.copy_from_slice(&r[8..16]);
    (u64::from_le_bytes(a), u64::from_le_bytes(b))
}

/// Appends the records of `block`, which [`plain_accesses`] accepted, by copying their bytes.
#[inline(always)]
fn copy_records(block: &[u8], out: &mut Vec<Access>) {
    let n = block.len() / RECORD_BYTES;
    assert!(LAYOUT_MATCHES && block.len() == n * RECORD_BYTES);
    out.reserve(n);
    let spare = out.spare_capacity_mut();
    assert!(spare.len() >= n);
    // SAFETY: `spare` has room for `n` records, and `block` (another allocation) holds `n`
    // records of 16 bytes, so the copy stays in bounds and does not overlap. The bytes form
    // `n` valid `Access` values: the layout is the record's (checked above at compile time,
    // and `LAYOUT_MATCHES` holds), every byte of `Access` is a field (no padding), any bit
    // pattern is valid for the integer fields, and `plain_accesses` checked, before this
    // copy, that every kind byte is 0, 1 or 2: a valid `AccessKind`. The first `len + n`
    // elements are then initialised, so the length may grow to it.
    unsafe {
        std::ptr::copy_nonoverlapping(block.as_ptr(), spare.as_mut_ptr().cast::<u8>(), block.len());
        out.set_len(out.len() + n);
    }
}

/// [`decode`] one record at a time, as the format defines it: the reference the fast path is
/// tested against, and its fallback for blocks with events or bad records.
#[doc(hidden)]
pub fn decode_each(data: &[u8], out: &mut Vec<Access>) -> Result<(), (usize, String)> {
    out.reserve(data.len() / RECORD_BYTES);
    for (i, r) in data.chunks_exact(RECORD_BYTES).enumerate() {
        let Some(kind) = AccessKind::from_u8(r[14]) else {
            return Err((
                i,
                format!(
                    "record kind {} is not an access or event kind (0-2, 16-21)",
                    r[14]
                ),
            ));
        };
        let (addr, rest) = words(r);
        let a = Access {
            addr,
            size: rest as u32,
            asid: (rest >> 32) as u16,
            kind,
            flags: r[15],
        };
        if let Err(why) = a.check() {
            return Err((i, why.to_string()));
        }
        out.push(a);
    }
    Ok(())
}

/// Whether `head` (the first bytes of a file, decompressed) starts a native trace.
pub fn is_native(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Whether the file at `path` is a native trace, looking through compression.
pub fn sniff_path(path: &Path) -> io::Result<bool> {
    let mut file = File::open(path)?;
    let mut head = [0u8; 8];
    let n = read_full(&mut file, &mut head)?;
    if is_native(&head[..n]) {
        return Ok(true);
    }
    let Some(codec) = compress::sniff(&head[..n]) else {
        return Ok(false);
    };
    file.seek(SeekFrom::Start(0))?;
    let mut dec = compress::decoder(codec, BufReader::new(file))?;
    let mut inner = [0u8; 8];
    Ok(matches!(read_full(&mut dec, &mut inner), Ok(8) if is_native(&inner)))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

enum Source {
    Mapped {
        map: memmap2::Mmap,
        pos: usize,
    },
    Owned {
        data: Vec<u8>,
        pos: usize,
    },
    Stream {
        reader: Box<dyn Read + Send>,
        counter: Arc<Counter>,
        buf: Vec<u8>,
        /// Bytes of the decoded stream consumed (header included).
        offset: u64,
    },
}

/// A reader of a native trace.
pub struct NativeTrace {
    path: PathBuf,
    source: Source,
    declared: Option<u64>,
    records: u64,
    done: bool,
    pending: Option<TraceError>,
}

impl NativeTrace {
    /// Opens a native trace (plain: memory-mapped; compressed: streamed).
    pub fn open(path: &Path) -> Result<NativeTrace, TraceError> {
        let err = |kind: TraceErrorKind| TraceError::new(path, Location::File, kind);
        let mut file = File::open(path).map_err(|e| err(e.into()))?;
        let mut head = [0u8; 8];
        let n = read_full(&mut file, &mut head).map_err(|e| err(e.into()))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| err(e.into()))?;
        let source = match compress::sniff(&head[..n]) {
            None => {
                let len = file.metadata().map_err(|e| err(e.into()))?.len();
                // SAFETY: the map is only read; like every reader of a memory map, this one
                // assumes no other process truncates the trace while it is read.
                match unsafe { memmap2::Mmap::map(&file) } {
                    Ok(map) if len > 0 => Source::Mapped { map, pos: 0 },
                    _ => {
                        let mut data = Vec::new();
                        file.read_to_end(&mut data).map_err(|e| err(e.into()))?;
                        Source::Owned { data, pos: 0 }
                    }
                }
            }
            Some(codec) => stream(file, codec).map_err(|e| err(e.into()))?,
        };
        NativeTrace::start(path.to_path_buf(), source)
    }

    /// Reads a native trace from a decoded stream (a FIFO, a pipe), read once; `counter`
    /// counts the raw bytes read.
    pub(crate) fn from_stream(
        path: PathBuf,
        reader: Box<dyn Read + Send>,
        counter: Arc<Counter>,
    ) -> Result<NativeTrace, TraceError> {
        let source = Source::Stream {
            reader,
            counter,
            buf: vec![0; BATCH * RECORD_BYTES],
            offset: 0,
        };
        NativeTrace::start(path, source)
    }

    /// Reads a native trace held in memory (plain or compressed).
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<NativeTrace, TraceError> {
        let path = name.into();
        let source = match compress::sniff(&bytes) {
            None => Source::Owned {
                data: bytes,
                pos: 0,
            },
            Some(codec) => stream(io::Cursor::new(bytes), codec)
                .map_err(|e| TraceError::new(&path, Location::File, e.into()))?,
        };
        NativeTrace::start(path, source)
    }

    fn start(path: PathBuf, mut source: Source) -> Result<NativeTrace, TraceError> {
        let bad = |reason: String| {
            TraceError::new(
                &path,
                Location::Offset(0),
                TraceErrorKind::Malformed {
                    format: "ptbench",
                    text: "header".to_string(),
                    reason,
                },
            )
        };
        let mut h = [0u8; HEADER_BYTES];
        let got = match &mut source {
            Source::Mapped { map, pos } => take(map, pos, &mut h),
            Source::Owned { data, pos } => take(data, pos, &mut h),
            Source::Stream {
                reader,
                counter,
                offset,
                ..
            } => {
                let n = read_full(reader, &mut h).map_err(|e| {
                    TraceError::new(&path, Location::File, compress::classify(e, true, counter))
                })?;
                *offset = n as u64;
                n
            }
        };
        if got < HEADER_BYTES {
            return Err(bad(format!(
                "the file has {got} bytes, fewer than the {HEADER_BYTES}-byte header"
            )));
        }
        if &h[0..8] != MAGIC {
            return Err(bad(
                "not a ptbench binary trace (no PTBTRACE magic)".to_string()
            ));
        }
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let version = u16_at(8);
        if version != VERSION {
            return Err(bad(format!(
                "version {version}; this ptbench reads version {VERSION}"
            )));
        }
        if usize::from(u16_at(10)) != HEADER_BYTES || usize::from(u16_at(12)) != RECORD_BYTES {
            return Err(bad(format!(
                "header of {} bytes and records of {} bytes; version 1 has {HEADER_BYTES} and {RECORD_BYTES}",
                u16_at(10),
                u16_at(12)
            )));
        }
        let mut count = [0u8; 8];
        count.copy_from_slice(&h[16..24]);
        let count = u64::from_le_bytes(count);
        let declared = (count != UNKNOWN_COUNT).then_some(count);
        if let (Some(n), Source::Mapped { map, .. }) = (declared, &source) {
            let whole = (map.len() - HEADER_BYTES) / RECORD_BYTES;
            if whole as u64 != n && map.len() % RECORD_BYTES == 0 {
                return Err(TraceError::new(
                    &path,
                    Location::File,
                    TraceErrorKind::Malformed {
                        format: "ptbench",
                        text: "header".to_string(),
                        reason: format!(
                            "the header declares {n} records but the file holds {whole}: it was cut short or appended to"
                        ),
                    },
                ));
            }
        }
        Ok(NativeTrace {
            path,
            source,
            declared,
            records: 0,
            done: false,
            pending: None,
        })
    }

    /// The trace file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The record count the header declares, if the writer knew it.
    pub fn declared_records(&self) -> Option<u64> {
        self.declared
    }

    fn record_error(&self, index: u64, kind: TraceErrorKind) -> TraceError {
        let at = HEADER_BYTES as u64 + index * RECORD_BYTES as u64;
        TraceError::new(&self.path, Location::Offset(at), kind)
    }

    fn bad_record(&self, index: u64, reason: String) -> TraceError {
        self.record_error(
            index,
            TraceErrorKind::Malformed {
                format: "ptbench",
                text: format!("record #{index}"),
                reason,
            },
        )
    }

    fn truncated(&self, at: u64, partial: usize) -> TraceError {
        TraceError::new(
            &self.path,
            Location::Offset(at),
            TraceErrorKind::TruncatedRecord {
                format: "ptbench",
                record_bytes: RECORD_BYTES,
                partial_bytes: partial,
            },
        )
    }
}

fn take(data: &[u8], pos: &mut usize, out: &mut [u8]) -> usize {
    let n = out.len().min(data.len() - *pos);
    out[..n].copy_from_slice(&data[*pos..*pos + n]);
    *pos += n;
    n
}

fn stream<R: Read + Send + 'static>(raw: R, codec: Codec) -> io::Result<Source> {
    let counter = Arc::new(Counter::default());
    let counting = Counting {
        inner: raw,
        counter: counter.clone(),
    };
    let reader = compress::decoder(codec, BufReader::with_capacity(1 << 16, counting))?;
    Ok(Source::Stream {
        reader,
        counter,
        buf: vec![0; BATCH * RECORD_BYTES],
        offset: 0,
    })
}

impl TraceReader for NativeTrace {
    fn read_batch(&mut self, out: &mut Vec<Access>) -> Result<usize, TraceError> {
        out.clear();
        if let Some(e) = self.pending.take() {
            self.done = true;
            return Err(e);
        }
        if self.done {
            return Ok(0);
        }
        let first = self.records;
        let (chunk, partial_at): (&[u8], Option<(u64, usize)>) = match &mut self.source {
            Source::Mapped { map, pos } => mapped_chunk(map, pos),
            Source::Owned { data, pos } => mapped_chunk(data, pos),
            Source::Stream {
                reader,
                counter,
                buf,
                offset,
            } => {
                let n = read_full(reader, buf).map_err(|e| {
                    TraceError::new(
                        &self.path,
                        Location::File,
                        compress::classify(e, true, counter),
                    )
                })?;
                let whole = n / RECORD_BYTES * RECORD_BYTES;
                let at = *offset + whole as u64;
                *offset += n as u64;
                let partial = (n < buf.len() && n % RECORD_BYTES != 0).then_some((at, n - whole));
                (&buf[..whole], partial)
            }
        };
        if let Err((i, reason)) = decode(chunk, out) {
            self.done = true;
            return Err(self.bad_record(first + i as u64, reason));
        }
        let n = out.len();
        self.records += n as u64;
        if let Some((at, partial)) = partial_at {
            let e = self.truncated(at, partial);
            if n == 0 {
                self.done = true;
                return Err(e);
            }
            // Hand out the whole records first; the error comes on the next call.
            self.pending = Some(e);
            return Ok(n);
        }
        if n == 0 {
            self.done = true;
            if let Some(d) = self.declared {
                if d != self.records {
                    return Err(TraceError::new(
                        &self.path,
                        Location::File,
                        TraceErrorKind::Malformed {
                            format: "ptbench",
                            text: "header".to_string(),
                            reason: format!(
                                "the header declares {d} records but the stream holds {}: it was cut short",
                                self.records
                            ),
                        },
                    ));
                }
            }
        }
        Ok(n)
    }

    fn bytes_read(&self) -> u64 {
        match &self.source {
            Source::Mapped { pos, .. } | Source::Owned { pos, .. } => *pos as u64,
            Source::Stream { counter, .. } => counter.bytes.load(Ordering::Relaxed),
        }
    }
}

/// The next batch of whole records of an in-memory trace, and where a final partial record starts.
fn mapped_chunk<'a>(data: &'a [u8], pos: &mut usize) -> (&'a [u8], Option<(u64, usize)>) {
    let rest = &data[*pos..];
    let whole = rest.len() / RECORD_BYTES * RECORD_BYTES;
    let take = whole.min(BATCH * RECORD_BYTES);
    let start = *pos;
    *pos += take;
    let partial =
        (take == whole && rest.len() > whole).then(|| ((start + whole) as u64, rest.len() - whole));
    if take == 0 && partial.is_some() {
        *pos = data.len();
    }
    (&data[start..start + take], partial)
}

/// Writes a native trace through a [`ptbench_output::Output`] (atomically for a regular file;
/// straight to a device, FIFO or stdout), compressed when the name ends in `.gz`, `.xz`, `.bz2` or
/// `.zst`. Every record must pass [`Access::check`], as every reader requires.
pub struct NativeWriter {
    sink: Option<crate::write::Sink>,
    records: u64,
    events: bool,
}

impl NativeWriter {
    /// Starts writing `path`, replacing only an empty file or one that holds a trace.
    pub fn create(path: &Path) -> io::Result<NativeWriter> {
        let out = crate::write::open_output(path, &crate::write::default_rules())
            .map_err(io::Error::other)?;
        NativeWriter::to_output(out)
    }

    /// Starts writing to an opened output (compression from its name).
    pub fn to_output(out: ptbench_output::Output) -> io::Result<NativeWriter> {
        let mut sink = crate::write::Sink::new(out)?;
        sink.write_all(&header(None, 0))?;
        Ok(NativeWriter {
            sink: Some(sink),
            records: 0,
            events: false,
        })
    }

    /// Appends records; a record that [`Access::check`] refuses is an `InvalidData` error naming
    /// its index.
    pub fn write(&mut self, batch: &[Access]) -> io::Result<()> {
        let Some(sink) = self.sink.as_mut() else {
            return Err(io::Error::other("the trace was already finished"));
        };
        let mut buf = [0u8; RECORD_BYTES * 256];
        for (g, group) in batch.chunks(256).enumerate() {
            for (i, a) in group.iter().enumerate() {
                if let Err(why) = a.check() {
                    let index = self.records + (g * 256 + i) as u64;
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("record #{index} is {why}: no ptbench reader would accept it"),
                    ));
                }
                buf[i * RECORD_BYTES..(i + 1) * RECORD_BYTES].copy_from_slice(&encode(a));
                self.events |= a.kind.is_event();
            }
            sink.write_all(&buf[..group.len() * RECORD_BYTES])?;
        }
        self.records += batch.len() as u64;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Finishes the file (for an uncompressed regular file, writing the record count and flags
    /// into the header) and commits it.
    pub fn finish(mut self) -> io::Result<u64> {
        let Some(sink) = self.sink.take() else {
            return Err(io::Error::other("the trace was already finished"));
        };
        let compressed = sink.compressed();
        let mut out = sink.finish()?;
        if !compressed {
            let flags = if self.events { FLAG_EVENTS } else { 0 };
            out.write_at(0, &header(Some(self.records), flags))?;
        }
        out.commit().map_err(io::Error::other)?;
        Ok(self.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A record's bytes from fields drawn mostly from the edges: kinds valid and not, sizes 0
    /// and huge, addresses near 0, 2^63 and the top, flags set and not.
    fn record() -> impl Strategy<Value = [u8; RECORD_BYTES]> {
        let addr = prop_oneof![
            0u64..4096,
            any::<u64>(),
            (0u64..(1 << 20)).prop_map(|d| (1u64 << 63) - d),
            (0u64..(1 << 20)).prop_map(|d| (1u64 << 63) + d),
            (0u64..(1 << 34)).prop_map(|d| u64::MAX - d),
        ];
        let size = prop_oneof![Just(0u32), 1u32..64, any::<u32>(), Just(u32::MAX)];
        let kind = prop_oneof![8 => 0u8..3, 1 => 3u8..24, 1 => any::<u8>()];
        let flags = prop_oneof![8 => Just(0u8), 1 => 0u8..16, 1 => any::<u8>()];
        (addr, size, any::<u16>(), kind, flags).prop_map(|(addr, size, asid, kind, flags)| {
            let mut r = [0u8; RECORD_BYTES];
            r[0..8].copy_from_slice(&addr.to_le_bytes());
            r[8..12].copy_from_slice(&size.to_le_bytes());
            r[12..14].copy_from_slice(&asid.to_le_bytes());
            r[14] = kind;
            r[15] = flags;
            r
        })
    }

    /// Mostly valid accesses (so that whole blocks take the fast path), with a few records from
    /// [`record`] dropped in at chosen places.
    fn records() -> impl Strategy<Value = Vec<u8>> {
        let good = (0u64..(1 << 48), 1u32..4096, 0u8..3)
            .prop_map(|(a, s, k)| encode(&Access::new(AccessKind::from_u8(k).unwrap(), a, s)));
        (
            0usize..3 * BLOCK_RECORDS,
            prop::collection::vec(good, 1..4),
            prop::collection::vec((any::<prop::sample::Index>(), record()), 0..4),
            0usize..RECORD_BYTES,
        )
            .prop_map(|(n, pattern, odd, tail)| {
                let mut recs: Vec<[u8; RECORD_BYTES]> =
                    (0..n).map(|i| pattern[i % pattern.len()]).collect();
                for (at, r) in odd {
                    if !recs.is_empty() {
                        let i = at.index(recs.len());
                        recs[i] = r;
                    }
                }
                let mut bytes = recs.concat();
                // A partial record at the end is left alone by both.
                bytes.extend(std::iter::repeat_n(0xee, tail));
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn decode_agrees_with_the_record_by_record_reference(bytes in records(), pre in 0usize..3) {
            let start = vec![Access::new(AccessKind::Read, 1, 1); pre];
            let (mut fast, mut each) = (start.clone(), start);
            let a = decode(&bytes, &mut fast);
            let b = decode_each(&bytes, &mut each);
            prop_assert_eq!(a, b);
            prop_assert_eq!(fast, each);
        }

        #[test]
        fn the_block_check_is_exactly_check(recs in prop::collection::vec(record(), 1..40)) {
            let bytes = recs.concat();
            let exact = recs.iter().all(|r| {
                r[14] <= 2 && decode_each(r, &mut Vec::new()).is_ok()
            });
            prop_assert_eq!(plain_accesses(&bytes), exact);
        }
    }

    #[test]
    fn a_bad_record_deep_in_a_block_is_named_and_what_precedes_it_kept() {
        let good = encode(&Access::new(AccessKind::Write, 0x1000, 8));
        for bad_at in [
            0,
            1,
            BLOCK_RECORDS - 1,
            BLOCK_RECORDS,
            2 * BLOCK_RECORDS + 5,
        ] {
            for (byte, value) in [(14, 3u8), (15, 1), (8, 0)] {
                let mut recs = vec![good; 3 * BLOCK_RECORDS];
                recs[bad_at][byte] = value;
                if byte == 8 {
                    recs[bad_at][8..12].fill(0);
                }
                let mut out = Vec::new();
                let (i, _) = decode(&recs.concat(), &mut out).unwrap_err();
                assert_eq!((i, out.len()), (bad_at, bad_at));
            }
        }
        // Addresses in the upper half take the exact check, and are fine.
        let high = encode(&Access::new(AccessKind::Read, u64::MAX - 7, 8));
        let mut out = Vec::new();
        decode(&vec![high; 300].concat(), &mut out).unwrap();
        assert_eq!(
            out,
            vec![Access::new(AccessKind::Read, u64::MAX - 7, 8); 300]
        );
    }
}
