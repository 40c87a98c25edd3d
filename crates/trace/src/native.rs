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
//!  15  flags u8    event permissions: bit 0 read, 1 write, 2 execute; bit 3 (mmap) file-backed
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
#[inline]
pub fn decode(data: &[u8], out: &mut Vec<Access>) -> Result<(), (usize, String)> {
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
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&r[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let rest = word(8);
        let a = Access {
            addr: word(0),
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
