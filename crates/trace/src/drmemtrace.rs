//! DynamoRIO's drmemtrace offline traces (drcachesim's `trace/` directories, Google's workload
//! traces). DynamoRIO's `trace_entry.h` and its reader (`reader.cpp`, `file_reader.h`,
//! `zipfile_file_reader.cpp`) are the specification.
//!
//! A record is 12 bytes, little-endian and packed: `type` u16, `size` u16, `addr` u64. A thread's
//! file starts with a `HEADER` record (type 25, the trace version 1 to 7 in `addr`), then
//! markers (type 28, the marker kind in `size`, its value in `addr`), `THREAD` (22) and `PID`
//! (24); then instructions, data references and markers; it ends with `THREAD_EXIT` (23) and
//! `FOOTER` (26). The numbers of every version in the wild are the same (DynamoRIO only ever
//! appended to its enums).
//!
//! What becomes an [`Access`]:
//! - an instruction fetch (types 10 to 16, 31, 48, 49 with a nonzero length) is a fetch of its
//!   length at its PC;
//! - a load (0) or store (1) is a read or write of its size; one of size 0 (`xsavec`, `xrstor`)
//!   counts as an access of its kind and translates its first byte;
//! - every process (`PID`) is an address space: the first seen is 0, the next 1, ...; a change
//!   of process between accesses is a context switch event, a change of thread a `thread`
//!   event (its id), a change of the CPU the trace recorded (`CPU_ID` markers) a `cpu` event.
//!
//! What is counted and skipped ([`DrCounts`]): rep-string iterations that fetch nothing
//! (`INSTR_NO_FETCH`, 29), prefetches (2 to 9, 32 to 46), markers (timestamps and CPU ids,
//! kernel transfers, system calls, the others), instruction encodings (47), flushes, PC-only
//! entries of filtered traces (an instruction of length 0). The duplicate timestamp and CPU id
//! that open each zip chunk after the first are dropped, as DynamoRIO's reader drops them.
//!
//! Files: a `.zip` of `chunk.NNNN` components (read in archive order as one stream), gzip, xz,
//! bzip2 or zstd, or uncompressed. A directory (`*.tracedir`, a `trace/` directory, or
//! core-sharded `drmemtrace.core.N.trace.zip` files) is one trace: its files (all but the
//! schedule and module files DynamoRIO keeps beside them) are merged by their timestamps, as
//! DynamoRIO's serial scheduler replays them: the input whose last timestamp is the lowest goes
//! next, up to its next timestamp.

use crate::error::{Location, TraceError, TraceErrorKind};
use crate::{compress, TraceReader, BATCH};
use ptbench_core::{Access, AccessKind};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

/// Bytes per record.
pub const RECORD_BYTES: usize = 12;

/// The highest trace version DynamoRIO writes (and its reader accepts).
pub const MAX_VERSION: u64 = 7;

const HEADER: u16 = 25;
const FOOTER: u16 = 26;
const THREAD: u16 = 22;
const THREAD_EXIT: u16 = 23;
const PID: u16 = 24;
const MARKER: u16 = 28;
const NO_FETCH: u16 = 29;
const ENCODING: u16 = 47;

const TIMESTAMP: u16 = 2;
const CPU_ID: u16 = 3;
const KERNEL_EVENT: u16 = 0;
const KERNEL_XFER: u16 = 1;
const CHUNK_FOOTER: u16 = 21;
const RECORD_ORDINAL: u16 = 22;
const SYSCALL: u16 = 25;
const BRANCH_TARGET: u16 = 29;

/// Names DynamoRIO keeps in a trace directory beside the traces (not inputs).
const NOT_INPUTS: [&str; 7] = [
    "serial_schedule.bin",
    "cpu_schedule.bin.zip",
    "modules.log",
    "funclist.log",
    "encodings.bin",
    "v2p.textproto",
    "README",
];

/// An instruction fetch (DynamoRIO's `type_is_instr`).
fn is_fetch(t: u16) -> bool {
    matches!(t, 10..=16 | 31 | 48 | 49)
}

/// A software prefetch (`type_is_prefetch`).
fn is_prefetch(t: u16) -> bool {
    matches!(t, 2..=9 | 32..=46)
}

/// What a drmemtrace trace held besides its accesses (DynamoRIO's `basic_counts` names).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrCounts {
    /// Fetched instructions (each an access).
    pub instructions: u64,
    /// Instructions that fetch nothing (rep-string iterations after the first): skipped.
    pub non_fetched: u64,
    /// Loads (each an access; those of size 0 translate their first byte).
    pub loads: u64,
    /// Stores.
    pub stores: u64,
    /// Loads and stores of size 0 (`xsavec`, `xrstor`).
    pub zero_size: u64,
    /// Software prefetches: skipped, or replayed as reads
    /// ([`DrTrace::replaying_prefetches`]).
    pub prefetches: u64,
    /// Timestamp and CPU-id markers.
    pub timestamp_cpu_markers: u64,
    /// Kernel transfer markers (signal delivery and return).
    pub kernel_markers: u64,
    /// System-call number markers.
    pub syscall_markers: u64,
    /// Every other marker.
    pub other_markers: u64,
    /// Instructions that came with their encoding.
    pub encodings: u64,
    /// Cache flushes: skipped.
    pub flushes: u64,
    /// Distinct threads.
    pub threads: u64,
    /// Distinct processes (address spaces).
    pub processes: u64,
    /// Distinct CPUs the CPU-id markers name (unknown ones left out).
    pub cpus: u64,
    /// Inputs (files) read.
    pub inputs: u64,
    /// The highest trace version among the inputs.
    pub version: u64,
}

/// A stream of decompressed bytes from one input file, fed by a thread of its own for a zip
/// archive (whose components cannot be streamed across calls otherwise).
type Bytes = Box<dyn Read + Send>;

/// Reads the byte blocks a zip thread sends.
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    block: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.block.len() {
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.block = b;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Whether `head` (a file's first bytes) is a zip archive.
fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// Whether `head` (decompressed) starts like a drmemtrace file: a `HEADER` record of a known
/// version, then a marker, `THREAD` or `PID`.
pub fn sniff(head: &[u8]) -> bool {
    if head.len() < 2 * RECORD_BYTES {
        return false;
    }
    let (t, s, a) = decode(&head[..RECORD_BYTES]);
    let (t2, _, _) = decode(&head[RECORD_BYTES..2 * RECORD_BYTES]);
    t == HEADER && s == 0 && (1..=MAX_VERSION).contains(&a) && matches!(t2, MARKER | THREAD | PID)
}

/// Whether the file at `path` is a drmemtrace trace (any compression, or a zip of chunks).
pub fn sniff_path(path: &Path) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 64];
    let Ok(n) = crate::reader::read_full(&mut f, &mut head) else {
        return false;
    };
    if is_zip(&head[..n]) {
        return zip_first_component(path).is_some_and(|b| sniff(&b));
    }
    if let Some(codec) = compress::sniff(&head[..n]) {
        let Ok(f) = std::fs::File::open(path) else {
            return false;
        };
        let Ok(mut d) = compress::decoder(codec, std::io::BufReader::new(f)) else {
            return false;
        };
        let mut b = [0u8; 2 * RECORD_BYTES];
        return d.read_exact(&mut b).is_ok() && sniff(&b);
    }
    sniff(&head[..n])
}

/// The first bytes of a zip archive's first component named `chunk.*`.
fn zip_first_component(path: &Path) -> Option<Vec<u8>> {
    let f = std::fs::File::open(path).ok()?;
    let mut z = zip::ZipArchive::new(std::io::BufReader::new(f)).ok()?;
    let mut c = z.by_index(0).ok()?;
    if !c.name().ok()?.starts_with("chunk.") {
        return None;
    }
    let mut b = vec![0u8; 2 * RECORD_BYTES];
    c.read_exact(&mut b).ok()?;
    Some(b)
}

/// Whether a directory holds a drmemtrace trace: at least one input file that is one.
pub fn is_trace_dir(dir: &Path) -> bool {
    inputs(dir).is_ok_and(|v| !v.is_empty())
}

/// The input files of a trace directory, sorted by name (DynamoRIO's shard order).
fn inputs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let n = p.file_name().map(|n| n.to_string_lossy().into_owned());
            n.is_some_and(|n| !NOT_INPUTS.iter().any(|x| n.starts_with(x)) && !n.starts_with('.'))
        })
        .filter(|p| sniff_path(p))
        .collect();
    v.sort();
    Ok(v)
}

fn decode(r: &[u8]) -> (u16, u16, u64) {
    let t = u16::from_le_bytes([r[0], r[1]]);
    let s = u16::from_le_bytes([r[2], r[3]]);
    let mut a = [0u8; 8];
    a.copy_from_slice(&r[4..12]);
    (t, s, u64::from_le_bytes(a))
}

/// Opens one input as a stream of its records' bytes; the counter follows compressed bytes.
fn open_input(path: &Path, counter: Arc<AtomicU64>) -> Result<Bytes, TraceError> {
    let io = |e: std::io::Error| TraceError::new(path, Location::File, TraceErrorKind::Io(e));
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; 8];
    let n = crate::reader::read_full(&mut f, &mut head).map_err(io)?;
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if is_zip(&head[..n]) {
        let p = path.to_path_buf();
        counter.fetch_add(len, Ordering::Relaxed);
        return zip_bytes(move || {
            std::fs::File::open(&p).map(|f| std::io::BufReader::with_capacity(1 << 16, f))
        })
        .map_err(io);
    }
    let f = std::fs::File::open(path).map_err(io)?;
    counter.fetch_add(len, Ordering::Relaxed);
    match compress::sniff(&head[..n]) {
        Some(codec) => compress::decoder(codec, std::io::BufReader::new(f)).map_err(io),
        None => Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, f))),
    }
}

/// Sends the components of the zip archive `input`, in archive order, as byte blocks.
fn zip_pump<R: Read + std::io::Seek>(
    input: impl FnOnce() -> std::io::Result<R>,
    tx: &mpsc::SyncSender<std::io::Result<Vec<u8>>>,
) {
    let run = || -> std::io::Result<()> {
        let mut z = zip::ZipArchive::new(input()?)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        for i in 0..z.len() {
            let mut c = z
                .by_index(i)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            let chunk = c.name().is_ok_and(|n| n.starts_with("chunk."));
            if !chunk {
                continue;
            }
            loop {
                let mut b = vec![0u8; 1 << 16];
                let n = crate::reader::read_full(&mut c, &mut b)?;
                if n == 0 {
                    break;
                }
                b.truncate(n);
                if tx.send(Ok(b)).is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        let _ = tx.send(Err(e));
    }
}

/// A zip archive's components as one stream, decoded on a thread of its own.
fn zip_bytes<R: Read + std::io::Seek + 'static>(
    input: impl FnOnce() -> std::io::Result<R> + Send + 'static,
) -> std::io::Result<Bytes> {
    let (tx, rx) = mpsc::sync_channel(4);
    std::thread::Builder::new()
        .name("drmemtrace-zip".into())
        .spawn(move || zip_pump(input, &tx))?;
    Ok(Box::new(ChannelReader {
        rx,
        block: Vec::new(),
        at: 0,
    }))
}

/// A stream of one input's records from bytes in memory (a zip archive, compressed or plain).
fn memory_bytes(bytes: Vec<u8>) -> std::io::Result<Bytes> {
    if is_zip(&bytes) {
        return zip_bytes(move || Ok(std::io::Cursor::new(bytes)));
    }
    match compress::sniff(&bytes) {
        Some(codec) => compress::decoder(codec, std::io::Cursor::new(bytes)),
        None => Ok(Box::new(std::io::Cursor::new(bytes))),
    }
}

/// Whether bytes in memory are a drmemtrace file (a zip of chunks, compressed or plain).
pub fn sniff_bytes(bytes: &[u8]) -> bool {
    let Ok(mut b) = memory_bytes(bytes.to_vec()) else {
        return false;
    };
    let mut head = [0u8; 2 * RECORD_BYTES];
    crate::reader::read_full(&mut b, &mut head).is_ok_and(|n| sniff(&head[..n]))
}

/// One input's decoder: its records up to the next timestamp at a time.
struct Input {
    path: PathBuf,
    bytes: Bytes,
    /// Records read (for byte offsets in errors).
    records: u64,
    /// The last timestamp seen (the segment's order key), 0 before the first.
    time: u64,
    done: bool,
    tid: u64,
    pid: Option<u64>,
    /// The CPU the input's last CPU-id marker named.
    cpu: Option<u64>,
    /// A core-sharded file's core (`drmemtrace.core.N.…`): where all its records ran, whatever
    /// CPU the markers inside name.
    core: Option<u64>,
    tid_pid: HashMap<u64, u64>,
    after_chunk_footer: u8,
    pending_encoding: bool,
}

/// A drmemtrace trace: one file, or a directory of them merged by timestamps.
pub struct DrTrace {
    path: PathBuf,
    inputs: Vec<Input>,
    /// Accesses decoded and not yet handed out.
    out: VecDeque<Access>,
    counts: DrCounts,
    threads: HashSet<u64>,
    cpus: HashSet<u64>,
    asids: HashMap<u64, u16>,
    cur_asid: Option<u16>,
    cur_tid: Option<u64>,
    cur_cpu: Option<u64>,
    counter: Arc<AtomicU64>,
    /// An error met after accesses still to hand out: returned on the next call.
    err: Option<TraceError>,
    /// An error was returned: the reader stays at its end.
    ended: bool,
    /// Software prefetches are handed out as reads ([`DrTrace::replaying_prefetches`]).
    replay_prefetches: bool,
}

impl DrTrace {
    /// Opens a drmemtrace file or directory.
    pub fn open(path: &Path) -> Result<DrTrace, TraceError> {
        if path.is_dir() {
            let files = inputs(path)
                .map_err(|e| TraceError::new(path, Location::File, TraceErrorKind::Io(e)))?;
            if files.is_empty() {
                return Err(TraceError::new(
                    path,
                    Location::File,
                    TraceErrorKind::NotAFile("a directory without drmemtrace files"),
                ));
            }
            return DrTrace::open_files(path, files);
        }
        DrTrace::open_files(path, vec![path.to_path_buf()])
    }

    /// Opens a directory of drmemtrace files as one trace; `None` when it holds none or cannot
    /// be listed (it is then not a drmemtrace trace).
    pub fn open_dir(dir: &Path) -> Result<Option<DrTrace>, TraceError> {
        match inputs(dir) {
            Ok(files) if !files.is_empty() => DrTrace::open_files(dir, files).map(Some),
            _ => Ok(None),
        }
    }

    fn open_files(path: &Path, files: Vec<PathBuf>) -> Result<DrTrace, TraceError> {
        let counter = Arc::new(AtomicU64::new(0));
        let mut opened = Vec::with_capacity(files.len());
        for f in files {
            let bytes = open_input(&f, counter.clone())?;
            opened.push((f, bytes));
        }
        Ok(DrTrace::from_inputs(path, opened, counter))
    }

    /// A drmemtrace file held in memory; `name` stands for it in messages.
    pub fn from_bytes(name: impl Into<PathBuf>, bytes: Vec<u8>) -> Result<DrTrace, TraceError> {
        let name = name.into();
        let len = bytes.len() as u64;
        let b = memory_bytes(bytes)
            .map_err(|e| TraceError::new(&name, Location::File, TraceErrorKind::Io(e)))?;
        let counter = Arc::new(AtomicU64::new(len));
        Ok(DrTrace::from_inputs(
            &name.clone(),
            vec![(name, b)],
            counter,
        ))
    }

    fn from_inputs(path: &Path, opened: Vec<(PathBuf, Bytes)>, counter: Arc<AtomicU64>) -> DrTrace {
        let mut inputs = Vec::with_capacity(opened.len());
        for (f, bytes) in opened {
            let core = core_shard(&f);
            inputs.push(Input {
                core,
                path: f,
                bytes,
                records: 0,
                time: 0,
                done: false,
                tid: 0,
                pid: None,
                cpu: None,
                tid_pid: HashMap::new(),
                after_chunk_footer: 0,
                pending_encoding: false,
            });
        }
        let counts = DrCounts {
            inputs: inputs.len() as u64,
            ..DrCounts::default()
        };
        DrTrace {
            path: path.to_path_buf(),
            inputs,
            out: VecDeque::new(),
            counts,
            threads: HashSet::new(),
            cpus: HashSet::new(),
            asids: HashMap::new(),
            cur_asid: None,
            cur_tid: None,
            cur_cpu: None,
            counter,
            err: None,
            ended: false,
            replay_prefetches: false,
        }
    }

    /// Hands out each software prefetch as a one-byte read at its address (counted in
    /// [`DrCounts::prefetches`] either way; skipped by default).
    pub fn replaying_prefetches(mut self, yes: bool) -> DrTrace {
        self.replay_prefetches = yes;
        self
    }

    /// The trace (file or directory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What was read so far besides accesses.
    pub fn counts(&self) -> &DrCounts {
        &self.counts
    }

    /// Records read so far, over every input.
    pub fn records(&self) -> u64 {
        self.inputs.iter().map(|i| i.records).sum()
    }

    /// Decodes the next segment (up to its next timestamp) of the input with the lowest
    /// timestamp into `out`; false when every input is done.
    fn next_segment(&mut self) -> Result<bool, TraceError> {
        let Some(k) = (0..self.inputs.len())
            .filter(|&k| !self.inputs[k].done)
            .min_by_key(|&k| (self.inputs[k].time, k))
        else {
            return Ok(false);
        };
        let mut rec = [0u8; RECORD_BYTES];
        loop {
            let input = &mut self.inputs[k];
            let n = crate::reader::read_full(&mut input.bytes, &mut rec).map_err(|e| {
                TraceError::new(
                    &input.path,
                    Location::Offset(input.records * RECORD_BYTES as u64),
                    TraceErrorKind::Io(e),
                )
            })?;
            if n == 0 {
                input.done = true;
                return Ok(true);
            }
            if n < RECORD_BYTES {
                return Err(TraceError::new(
                    &input.path,
                    Location::Offset(input.records * RECORD_BYTES as u64),
                    TraceErrorKind::TruncatedRecord {
                        format: "drmemtrace",
                        record_bytes: RECORD_BYTES,
                        partial_bytes: n,
                    },
                ));
            }
            let offset = input.records * RECORD_BYTES as u64;
            input.records += 1;
            let (t, s, a) = decode(&rec);
            if t == MARKER && s == TIMESTAMP {
                if input.after_chunk_footer > 0 {
                    input.after_chunk_footer -= 1;
                    continue;
                }
                self.counts.timestamp_cpu_markers += 1;
                let input = &mut self.inputs[k];
                input.time = a;
                // The segment ends here: another input may go first.
                return Ok(true);
            }
            self.record(k, t, s, a, offset)?;
        }
    }

    /// One record of input `k` (not a timestamp).
    fn record(&mut self, k: usize, t: u16, s: u16, a: u64, offset: u64) -> Result<(), TraceError> {
        let c = &mut self.counts;
        let input = &mut self.inputs[k];
        let bad = |reason: String| {
            TraceError::new(
                &input.path,
                Location::Offset(offset),
                TraceErrorKind::BadRecord {
                    format: "drmemtrace",
                    text: format!("type {t}, size {s}, addr {a:#x}"),
                    reason,
                },
            )
        };
        match t {
            0 | 1 => {
                if t == 0 {
                    c.loads += 1;
                } else {
                    c.stores += 1;
                }
                if s == 0 {
                    c.zero_size += 1;
                }
                let kind = if t == 0 {
                    AccessKind::Read
                } else {
                    AccessKind::Write
                };
                let size = u32::from(s.max(1));
                let size = if a.checked_add(u64::from(size) - 1).is_none() {
                    1
                } else {
                    size
                };
                self.push(k, Access::new(kind, a, size));
            }
            _ if is_fetch(t) => {
                if s == 0 {
                    // A PC-only entry of a filtered trace: no instruction.
                    return Ok(());
                }
                c.instructions += 1;
                if input.pending_encoding {
                    c.encodings += 1;
                    input.pending_encoding = false;
                }
                let size = if a.checked_add(u64::from(s) - 1).is_none() {
                    1
                } else {
                    u32::from(s)
                };
                self.push(k, Access::new(AccessKind::Fetch, a, size));
            }
            NO_FETCH => {
                c.non_fetched += 1;
                input.pending_encoding = false;
            }
            _ if is_prefetch(t) => {
                c.prefetches += 1;
                if self.replay_prefetches {
                    // A software prefetch translates its address: a read of its line's first
                    // byte (the size field of a prefetch is not its reach).
                    self.push(k, Access::new(AccessKind::Read, a, 1));
                }
            }
            17 => return Err(bad("an instruction bundle: online traces only".into())),
            18..=21 => {
                if t == 18 || t == 20 {
                    c.flushes += 1;
                }
            }
            THREAD => {
                input.tid = a;
                input.pid = input.tid_pid.get(&a).copied().or(input.pid);
                if a != u64::MAX && a != u64::from(u32::MAX) {
                    self.threads.insert(a);
                    c.threads = self.threads.len() as u64;
                }
            }
            PID => {
                input.pid = Some(a);
                input.tid_pid.insert(input.tid, a);
            }
            THREAD_EXIT | FOOTER => {}
            HEADER => {
                if a > MAX_VERSION {
                    return Err(bad(format!(
                        "trace version {a}: DynamoRIO writes versions 1 to {MAX_VERSION}"
                    )));
                }
                c.version = c.version.max(a);
            }
            ENCODING => input.pending_encoding = true,
            MARKER => match s {
                CPU_ID => {
                    if input.after_chunk_footer > 0 {
                        input.after_chunk_footer -= 1;
                    } else {
                        c.timestamp_cpu_markers += 1;
                    }
                    if a != u64::MAX && a != u64::from(u32::MAX) {
                        // Linux: the low 12 bits are the CPU, the bits above its node.
                        self.cpus.insert(a & 0xfff);
                        c.cpus = self.cpus.len() as u64;
                        input.cpu = Some(a & 0xfff);
                    }
                }
                KERNEL_EVENT | KERNEL_XFER => c.kernel_markers += 1,
                SYSCALL => c.syscall_markers += 1,
                // The reader hides these: a chunk's record ordinal, an indirect branch's target.
                RECORD_ORDINAL | BRANCH_TARGET => {}
                CHUNK_FOOTER => {
                    c.other_markers += 1;
                    // The next chunk repeats the last timestamp and CPU id: dropped.
                    input.after_chunk_footer = 2;
                }
                _ => c.other_markers += 1,
            },
            _ => return Err(bad(format!("unknown record type {t}"))),
        }
        Ok(())
    }

    /// Queues an access of input `k`'s current thread, with the events that say so first: a
    /// context switch when the process changes (not before the first access), `thread` when
    /// the thread changes, `cpu` when the CPU the trace recorded changes.
    fn push(&mut self, k: usize, a: Access) {
        let (pid, tid, cpu) = {
            let i = &self.inputs[k];
            (i.pid.unwrap_or(0), i.tid, i.core.or(i.cpu))
        };
        let next = self.asids.len();
        let asid = *self.asids.entry(pid).or_insert(next as u16);
        self.counts.processes = self.asids.len() as u64;
        if self.cur_asid != Some(asid) {
            if self.cur_asid.is_some() {
                self.out
                    .push_back(Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(asid));
            }
            self.cur_asid = Some(asid);
        }
        if self.cur_tid != Some(tid) {
            self.out
                .push_back(Access::new(AccessKind::Thread, tid, 0).in_asid(asid));
            self.cur_tid = Some(tid);
        }
        if let Some(c) = cpu.filter(|c| self.cur_cpu != Some(*c)) {
            self.out
                .push_back(Access::new(AccessKind::Cpu, c, 0).in_asid(asid));
            self.cur_cpu = Some(c);
        }
        self.out.push_back(a.in_asid(asid));
    }
}

/// The core of a core-sharded file, `drmemtrace.core.N.trace.zip` (any extension): N.
fn core_shard(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("drmemtrace.core.")?;
    let digits = rest.split('.').next()?;
    digits.parse().ok()
}

impl std::fmt::Display for DrCounts {
    /// The lines `ptbench inspect` prints for a drmemtrace trace.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = crate::inspect::thousands;
        writeln!(
            f,
            "drmemtrace      version {}, {} input file{}, {} process{}, {} thread{}, {} CPU{} named",
            self.version,
            self.inputs,
            if self.inputs == 1 { "" } else { "s" },
            self.processes,
            if self.processes == 1 { "" } else { "es" },
            self.threads,
            if self.threads == 1 { "" } else { "s" },
            self.cpus,
            if self.cpus == 1 { "" } else { "s" },
        )?;
        writeln!(
            f,
            "  records       {} fetched instructions, {} loads, {} stores ({} of size 0, translated at their first byte)",
            n(self.instructions),
            n(self.loads),
            n(self.stores),
            n(self.zero_size)
        )?;
        writeln!(
            f,
            "  skipped       {} non-fetched instructions (rep-string iterations), {} prefetches, {} flushes, {} encodings",
            n(self.non_fetched),
            n(self.prefetches),
            n(self.flushes),
            n(self.encodings)
        )?;
        writeln!(
            f,
            "  markers       {} timestamp and CPU, {} kernel transfer, {} system call, {} other",
            n(self.timestamp_cpu_markers),
            n(self.kernel_markers),
            n(self.syscall_markers),
            n(self.other_markers)
        )
    }
}

impl TraceReader for DrTrace {
    /// Accesses decoded before a bad record are handed out first; the error comes on the call
    /// after, and the reader then stays at its end.
    fn read_batch(&mut self, buf: &mut Vec<Access>) -> Result<usize, TraceError> {
        buf.clear();
        if self.ended {
            return Ok(0);
        }
        while self.out.len() < BATCH && self.err.is_none() {
            match self.next_segment() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => self.err = Some(e),
            }
        }
        if self.out.is_empty() {
            if let Some(e) = self.err.take() {
                self.ended = true;
                return Err(e);
            }
        }
        let n = self.out.len().min(BATCH);
        buf.extend(self.out.drain(..n));
        Ok(n)
    }

    fn bytes_read(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }
}
