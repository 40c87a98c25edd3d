//! Trace readers. Every reader yields [`Access`]es in batches through [`TraceReader`], so a trace of
//! any length streams through a fixed amount of memory.
//!
//! Formats, one module each (the module's doc gives the format and where it is documented):
//!
//! | [`Format`] | module | recognised by |
//! |---|---|---|
//! | Valgrind lackey: `I  0400d7d4,8`, ` L 7ff0005b8,8`, ` S ..`, ` M ..`; course `.ref` traces without sizes, `I 4001000` | [`lackey`] | content |
//! | course traces: `0041f7a0 R` (`0x` prefix accepted) | [`hexrw`] | content |
//! | op-first Pin-tool output: `W 0xbff05e7c`, `R 7ffe7dfbf000 8` | [`hexrw`] | content |
//! | Pin pinatrace (ManualExamples): `0x7f12..: W 0x7ffd..` | [`pinatrace`] | content |
//! | Pin pinatrace (SimpleExamples): `0x7f12..: R 0x7ffd.. 8 0x0` | [`pinatrace`] | content |
//! | Dinero IV `din`: `0 1000` (more columns ignored) | [`dinero`] | content |
//! | Dinero IV extended din: `r 1000 4` | [`dinero`] | content |
//! | ChampSim `input_instr` (64-byte records) | [`champsim`] | name (`.champsimtrace`, `champsim` anywhere), or content |
//! | ChampSim `cloudsuite_instr` (96-byte records) | [`champsim`] | name: `cloudsuite` |
//! | DynamoRIO drmemtrace (12-byte records; a `.zip` of chunks, or a directory of them) | [`drmemtrace`] | content |
//!
//! **Liberal with noise, strict with records.** A text format is recognised from the lines in
//! the first 64 KiB: the format that parses the most of them (a program's output that happens
//! to parse as din does not outvote a lackey trace). Blank lines, `#` comments and Valgrind's
//! `==pid==` / `--pid--` lines are skipped by every format. Any other line that is not a record
//! of the format and does not start like one (the traced program's output in a `valgrind -v
//! --log-fd=1` log, a Pin tool's `RTN: main`) is noise: skipped and counted
//! ([`Trace::noise_lines`], [`Trace::skip_summary`]: `skipped 4 lines that are not trace
//! records, first at F:761186: `total 9624``). A line that starts like a record but is
//! malformed is an error naming the file and line ([`ReaderOptions::skip_bad_lines`] skips
//! those too). A file with no record at all but some noise is an unrecognised trace. Every
//! format accepts the same leading and trailing whitespace, and a byte-order mark. A line
//! longer than [`MAX_LINE_BYTES`] is never buffered whole: an error if it starts like a record,
//! noise otherwise. Lines in messages are escaped (control characters, invisible ones, bytes
//! that are not UTF-8), so no trace reaches a terminal raw.
//!
//! Binary content that is neither ptbench's format nor ChampSim's is an error saying so
//! ([`TraceErrorKind::Binary`]). [`open_as`] (or [`ReaderOptions::format`]) forces a format.
//! Compression ([`compress`]: gzip, xz, bzip2, zstd) is recognised by its magic bytes for
//! every format; the extension is a fallback for content that is not text only. A FIFO or a
//! pipe (`<(...)`) is read once, as a stream; a directory is an error saying so.
//!
//! Speed: a plain file is memory-mapped, cut into chunks at line ends and parsed in parallel
//! (rayon: on the caller's pool from a worker, else on a decode pool of its own, so a parse never
//! waits on workers that wait for it), the chunks' batches handed out in order; a compressed file is decoded on the calling
//! thread and parsed from the decoder's buffer. Neither allocates per line; line numbers in
//! errors are exact either way (see the `engine` module).
//!
//! Errors ([`TraceError`]) name the file and the line (text) or byte offset (binary); a
//! compressed stream that ends early names the last line read. With
//! [`ReaderOptions::skip_bad_lines`] malformed lines are counted and skipped instead, and the
//! first few kept for a report ([`Trace::skip_summary`]).

pub mod champsim;
pub mod compress;
pub mod dinero;
pub mod drmemtrace;
mod engine;
mod error;
mod format;
pub mod gen;
pub mod hexrw;
pub mod inspect;
pub mod lackey;
mod lz4;
pub mod native;
mod native_text;
pub mod pinatrace;
mod reader;
pub mod record;
mod syntax;
pub mod write;

pub use error::{Location, TraceError, TraceErrorKind};
pub use format::{Format, UnknownFormatName};
pub use native::{NativeTrace, NativeWriter};
pub use reader::{ReaderOptions, TextTrace, Trace, DEFAULT_CHUNK_BYTES};
pub use syntax::MAX_LINE_BYTES;

use ptbench_core::{page_runs, widest_access, Access, RunStart};
use std::path::{Path, PathBuf};

/// Accesses a reader hands out per batch, at most.
pub const BATCH: usize = 64 * 1024;

/// A source of accesses.
pub trait TraceReader {
    /// Clears `buf` and fills it with up to [`BATCH`] accesses; returns how many, 0 at the end.
    ///
    /// Accesses before a bad line are handed out first; the error comes on the call after.
    fn read_batch(&mut self, buf: &mut Vec<Access>) -> Result<usize, TraceError>;

    /// Bytes of the underlying file consumed so far (compressed bytes for a compressed file), for
    /// progress reports.
    fn bytes_read(&self) -> u64;

    /// Asks the reader to find each batch's page runs where it parses the batch (a plain text
    /// file: on the cores that parse its chunks). True if it will; either way
    /// [`read_batch_runs`](Self::read_batch_runs) gives them.
    fn parse_runs(&mut self) -> bool {
        false
    }

    /// [`read_batch`](Self::read_batch), and the batch's page runs ([`page_runs`]) into `runs`:
    /// found where the batch was parsed after [`parse_runs`](Self::parse_runs) said so, here
    /// otherwise.
    fn read_batch_runs(
        &mut self,
        buf: &mut Vec<Access>,
        runs: &mut Vec<RunStart>,
    ) -> Result<usize, TraceError> {
        let n = self.read_batch(buf)?;
        page_runs(buf, runs);
        Ok(n)
    }
}

/// Any trace: ptbench's native binary format, or one of the formats parsed by [`Trace`].
pub enum TraceFile {
    /// A native `.ptbt` trace.
    Native(NativeTrace),
    /// Any other format.
    Parsed(Trace),
    /// A DynamoRIO drmemtrace file or directory.
    DrMem(drmemtrace::DrTrace),
}

impl TraceFile {
    /// The trace file.
    pub fn path(&self) -> &Path {
        match self {
            TraceFile::Native(t) => t.path(),
            TraceFile::Parsed(t) => t.path(),
            TraceFile::DrMem(t) => t.path(),
        }
    }

    /// The format, when known (see [`Trace::format`]).
    pub fn format(&self) -> Option<Format> {
        match self {
            TraceFile::Native(_) => Some(Format::Native),
            TraceFile::Parsed(t) => t.format(),
            TraceFile::DrMem(_) => Some(Format::DrMemtrace),
        }
    }

    /// Lines read so far (records, for a binary trace).
    pub fn lines(&self) -> u64 {
        match self {
            TraceFile::Native(t) => t.records(),
            TraceFile::Parsed(t) => t.lines(),
            TraceFile::DrMem(t) => t.records(),
        }
    }

    /// Valid records that are not accesses (see [`Trace::ignored_records`]).
    pub fn ignored_records(&self) -> u64 {
        match self {
            TraceFile::Native(_) => 0,
            TraceFile::Parsed(t) => t.ignored_records(),
            TraceFile::DrMem(t) => {
                let c = t.counts();
                c.non_fetched + c.prefetches
            }
        }
    }

    /// A drmemtrace trace's counts of what is not an access (threads, markers, ...).
    pub fn drmemtrace_counts(&self) -> Option<&drmemtrace::DrCounts> {
        match self {
            TraceFile::DrMem(t) => Some(t.counts()),
            _ => None,
        }
    }

    /// Malformed lines skipped so far (see [`Trace::skipped_lines`]).
    pub fn skipped_lines(&self) -> u64 {
        match self {
            TraceFile::Native(_) | TraceFile::DrMem(_) => 0,
            TraceFile::Parsed(t) => t.skipped_lines(),
        }
    }

    /// The first few skipped lines' errors.
    pub fn first_skipped(&self) -> &[TraceError] {
        match self {
            TraceFile::Native(_) | TraceFile::DrMem(_) => &[],
            TraceFile::Parsed(t) => t.first_skipped(),
        }
    }

    /// Lines of noise skipped so far (see [`Trace::noise_lines`]).
    pub fn noise_lines(&self) -> u64 {
        match self {
            TraceFile::Native(_) | TraceFile::DrMem(_) => 0,
            TraceFile::Parsed(t) => t.noise_lines(),
        }
    }

    /// The first line of noise and its text (see [`Trace::first_noise`]).
    pub fn first_noise(&self) -> Option<(u64, &str)> {
        match self {
            TraceFile::Native(_) | TraceFile::DrMem(_) => None,
            TraceFile::Parsed(t) => t.first_noise(),
        }
    }

    /// What was skipped, in one line, or `None` (see [`Trace::skip_summary`]).
    pub fn skip_summary(&self) -> Option<String> {
        match self {
            TraceFile::Native(_) | TraceFile::DrMem(_) => None,
            TraceFile::Parsed(t) => t.skip_summary(),
        }
    }

    /// Where access `index` (0-based) came from: its line, or its record's byte offset.
    pub fn locate_location(self, index: u64) -> Result<Option<Location>, TraceError> {
        match self {
            TraceFile::Native(t) => {
                Ok((t.declared_records().is_none_or(|n| index < n)).then(|| {
                    Location::Offset(
                        native::HEADER_BYTES as u64 + index * native::RECORD_BYTES as u64,
                    )
                }))
            }
            TraceFile::Parsed(t) => t.locate_location(index),
            TraceFile::DrMem(_) => Ok(None),
        }
    }

    /// The 1-based line of access `index` of a text trace (see [`Trace::locate`]).
    pub fn locate(self, index: u64) -> Result<Option<u64>, TraceError> {
        Ok(match self.locate_location(index)? {
            Some(Location::Line(n)) => Some(n),
            _ => None,
        })
    }
}

impl std::fmt::Debug for TraceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceFile")
            .field("path", &self.path())
            .field("format", &self.format())
            .finish_non_exhaustive()
    }
}

impl TraceReader for TraceFile {
    #[inline]
    fn read_batch(&mut self, buf: &mut Vec<Access>) -> Result<usize, TraceError> {
        match self {
            TraceFile::Native(t) => t.read_batch(buf),
            TraceFile::Parsed(t) => t.read_batch(buf),
            TraceFile::DrMem(t) => t.read_batch(buf),
        }
    }

    fn parse_runs(&mut self) -> bool {
        match self {
            TraceFile::Native(t) => t.parse_runs(),
            TraceFile::Parsed(t) => t.parse_runs(),
            TraceFile::DrMem(t) => t.parse_runs(),
        }
    }

    fn read_batch_runs(
        &mut self,
        buf: &mut Vec<Access>,
        runs: &mut Vec<RunStart>,
    ) -> Result<usize, TraceError> {
        match self {
            TraceFile::Native(t) => t.read_batch_runs(buf, runs),
            TraceFile::Parsed(t) => t.read_batch_runs(buf, runs),
            TraceFile::DrMem(t) => t.read_batch_runs(buf, runs),
        }
    }

    fn bytes_read(&self) -> u64 {
        match self {
            TraceFile::Native(t) => t.bytes_read(),
            TraceFile::Parsed(t) => t.bytes_read(),
            TraceFile::DrMem(t) => t.bytes_read(),
        }
    }
}

/// Opens a trace file of any supported format and compression.
pub fn open(path: &Path) -> Result<TraceFile, TraceError> {
    open_with(path, &ReaderOptions::default())
}

/// Opens a trace file with `opts` (skip bad lines, force a format, ...). A native trace is
/// recognised by its magic bytes, through any compression.
pub fn open_with(path: &Path, opts: &ReaderOptions) -> Result<TraceFile, TraceError> {
    // A drmemtrace directory is one trace; a drmemtrace file is recognised by its content.
    if path.is_dir() {
        if let Some(t) = drmemtrace::DrTrace::open_dir(path)? {
            return Ok(TraceFile::DrMem(t.replaying_prefetches(opts.prefetches)));
        }
    }
    if opts.format == Some(Format::DrMemtrace)
        || (opts.format.is_none() && path.is_file() && drmemtrace::sniff_path(path))
    {
        return drmemtrace::DrTrace::open(path)
            .map(|t| TraceFile::DrMem(t.replaying_prefetches(opts.prefetches)));
    }
    if !reader::is_regular(path)? {
        return open_stream(path, opts);
    }
    let native = match opts.format {
        Some(f) => f == Format::Native,
        None => native::sniff_path(path).unwrap_or(false),
    };
    if native {
        return NativeTrace::open(path).map(TraceFile::Native);
    }
    Trace::open_with(path, opts).map(TraceFile::Parsed)
}

/// Opens a FIFO or pipe: read once, as a stream (compressed or not, native or not).
fn open_stream(path: &Path, opts: &ReaderOptions) -> Result<TraceFile, TraceError> {
    let (mut decoded, codec, counter) = reader::open_stream(path)?;
    let mut head = [0u8; 8];
    let got = reader::read_full(&mut decoded, &mut head).map_err(|e| {
        TraceError::new(
            path,
            Location::File,
            compress::classify(e, codec.is_some(), &counter),
        )
    })?;
    let native = match opts.format {
        Some(f) => f == Format::Native,
        None => native::is_native(&head[..got]),
    };
    let decoded: Box<dyn std::io::Read + Send> = Box::new(std::io::Read::chain(
        std::io::Cursor::new(head[..got].to_vec()),
        decoded,
    ));
    if native {
        return NativeTrace::from_stream(path.to_path_buf(), decoded, counter)
            .map(TraceFile::Native);
    }
    if opts.format == Some(Format::DrMemtrace) {
        // A pipe is read whole first: a zip archive needs its directory at the end.
        let mut bytes = Vec::new();
        let mut decoded = decoded;
        std::io::Read::read_to_end(&mut decoded, &mut bytes)
            .map_err(|e| TraceError::new(path, Location::File, TraceErrorKind::Io(e)))?;
        return drmemtrace::DrTrace::from_bytes(path, bytes)
            .map(|t| TraceFile::DrMem(t.replaying_prefetches(opts.prefetches)));
    }
    Trace::from_stream(path.to_path_buf(), decoded, codec.is_some(), counter, opts)
        .map(TraceFile::Parsed)
}

/// Whether `path` can be read more than once (a regular file), as a first pass over the trace
/// (`address_range`) needs; a FIFO or a pipe cannot. A directory or a missing path is an error
/// naming what it is.
pub fn is_seekable(path: &Path) -> Result<bool, TraceError> {
    if path.is_dir() && drmemtrace::is_trace_dir(path) {
        return Ok(true);
    }
    reader::is_regular(path)
}

/// Bytes of a trace on disk, for progress: a file's size, or the sum of a drmemtrace
/// directory's input files (0 when it cannot be read).
pub fn trace_bytes(path: &Path) -> u64 {
    if path.is_dir() {
        return std::fs::read_dir(path).map_or(0, |d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        });
    }
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Opens a trace file as `format`, whatever its name or content suggest.
pub fn open_as(path: &Path, format: Format) -> Result<TraceFile, TraceError> {
    open_with(
        path,
        &ReaderOptions {
            format: Some(format),
            ..ReaderOptions::default()
        },
    )
}

/// Reads a trace held in memory (any format, any compression); `name` stands for the file in
/// messages and its extension may choose a binary format.
pub fn from_bytes(
    name: impl Into<PathBuf>,
    bytes: Vec<u8>,
    opts: &ReaderOptions,
) -> Result<TraceFile, TraceError> {
    let native = match opts.format {
        Some(f) => f == Format::Native,
        None => native::is_native(&bytes) || looks_native_compressed(&bytes),
    };
    if native {
        return NativeTrace::from_bytes(name, bytes).map(TraceFile::Native);
    }
    if opts.format == Some(Format::DrMemtrace)
        || (opts.format.is_none() && drmemtrace::sniff_bytes(&bytes))
    {
        return drmemtrace::DrTrace::from_bytes(name, bytes).map(TraceFile::DrMem);
    }
    Trace::from_bytes(name, bytes, opts).map(TraceFile::Parsed)
}

fn looks_native_compressed(bytes: &[u8]) -> bool {
    let Some(codec) = compress::sniff(bytes) else {
        return false;
    };
    let Ok(mut dec) = compress::decoder(codec, std::io::Cursor::new(bytes.to_vec())) else {
        return false;
    };
    let mut head = [0u8; 8];
    std::io::Read::read_exact(&mut dec, &mut head).is_ok() && native::is_native(&head)
}

/// The lowest first byte and highest last byte of the trace's accesses, or `None` if it has none.
pub fn address_range(path: &Path) -> Result<Option<(u64, u64)>, TraceError> {
    address_range_with(path, &ReaderOptions::default())
}

/// [`address_range`] of the trace read with `opts`.
pub fn address_range_with(
    path: &Path,
    opts: &ReaderOptions,
) -> Result<Option<(u64, u64)>, TraceError> {
    let mut r = open_with(path, opts)?;
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
/// the trace again. For error messages about an access found bad after it was read. `None` past
/// the end, and for a binary trace (use [`locate_access_with`] for its byte offset).
pub fn locate_access(path: &Path, index: u64) -> Result<Option<u64>, TraceError> {
    Trace::open(path)?.locate(index)
}

/// Where access number `index` (0-based) of the trace read with `opts` came from: its line
/// ([`Location::Line`]) or, in a binary trace, its record's byte offset ([`Location::Offset`]).
/// Use the options the trace was replayed with: skipped bad lines and a forced format change
/// which line an access comes from.
pub fn locate_access_with(
    path: &Path,
    opts: &ReaderOptions,
    index: u64,
) -> Result<Option<Location>, TraceError> {
    Trace::open_with(path, opts)?.locate_location(index)
}

/// A reader that decodes another on a background thread, a few batches ahead, so that decoding
/// overlaps whatever the caller does with each batch; with a depth of 0, on the caller's thread
/// (no thread, no read-ahead). Errors arrive in order, after the batches that precede them;
/// [`Prefetched::into_inner`] gives the reader back.
pub struct Prefetched<R>(Ahead<R>);

/// What a read-ahead thread finds in each batch besides decoding it.
#[derive(Copy, Clone)]
enum Finds {
    Nothing,
    /// Its page runs.
    Runs,
    /// Its widest access.
    Widest,
}

/// A batch read ahead: its accesses, their page runs (when asked for), the bytes read so far,
/// and (without runs) the size of its widest access.
type AheadBatch = (Vec<Access>, Vec<RunStart>, u64, Option<u32>);

enum Ahead<R> {
    Inline(Box<R>),
    Thread {
        rx: std::sync::mpsc::Receiver<Result<AheadBatch, TraceError>>,
        give_back: std::sync::mpsc::Sender<(Vec<Access>, Vec<RunStart>)>,
        bytes: u64,
        widest: Option<u32>,
        worker: std::thread::JoinHandle<R>,
    },
}

impl<R: TraceReader + Send + 'static> Prefetched<R> {
    /// Starts reading `reader` on its own thread, `depth` batches ahead; with `depth` 0, reads
    /// it on the caller's thread as each batch is asked for.
    pub fn new(reader: R, depth: usize) -> Prefetched<R> {
        Prefetched::spawn(reader, depth, Finds::Nothing)
    }

    /// [`new`](Self::new), for a replay: with `runs`, the read-ahead thread also finds each
    /// batch's page runs ([`page_runs`]), which [`read_batch_runs`](Self::read_batch_runs)
    /// hands out with it; without, each batch's widest access ([`widest`](Self::widest)).
    pub fn with_runs(reader: R, depth: usize, runs: bool) -> Prefetched<R> {
        let finds = if runs { Finds::Runs } else { Finds::Widest };
        Prefetched::spawn(reader, depth, finds)
    }

    fn spawn(mut reader: R, depth: usize, finds: Finds) -> Prefetched<R> {
        if depth == 0 {
            return Prefetched(Ahead::Inline(Box::new(reader)));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(depth);
        let (give_back, take_back) = std::sync::mpsc::channel::<(Vec<Access>, Vec<RunStart>)>();
        let worker = std::thread::spawn(move || {
            // Page runs are found where the reader parses, if it can (on every core).
            let runs = matches!(finds, Finds::Runs);
            if runs {
                reader.parse_runs();
            }
            loop {
                let (mut buf, mut starts) = take_back
                    .try_recv()
                    .unwrap_or_else(|_| (Vec::with_capacity(BATCH), Vec::new()));
                starts.clear();
                let got = if runs {
                    reader.read_batch_runs(&mut buf, &mut starts)
                } else {
                    reader.read_batch(&mut buf)
                };
                match got {
                    Ok(0) => break,
                    Ok(_) => {
                        let widest = match finds {
                            Finds::Nothing | Finds::Runs => None,
                            Finds::Widest => Some(widest_access(&buf)),
                        };
                        if tx
                            .send(Ok((buf, starts, reader.bytes_read(), widest)))
                            .is_err()
                        {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
            reader
        });
        Prefetched(Ahead::Thread {
            rx,
            give_back,
            bytes: 0,
            widest: None,
            worker,
        })
    }

    /// The size of the widest access of the batch just read ([`widest_access`]), when the
    /// read-ahead thread found it: one started by [`with_runs`](Self::with_runs) without runs
    /// finds it there, beside the decoding, so that the caller need not look at every access.
    pub fn widest(&self) -> Option<u32> {
        match &self.0 {
            Ahead::Thread { widest, .. } => *widest,
            Ahead::Inline(_) => None,
        }
    }

    /// Stops reading ahead and returns the reader (`None` if its thread panicked).
    pub fn into_inner(self) -> Option<R> {
        match self.0 {
            Ahead::Inline(r) => Some(*r),
            Ahead::Thread { rx, worker, .. } => {
                // The worker stops at its next send once nobody receives.
                drop(rx);
                worker.join().ok()
            }
        }
    }
}

impl<R: TraceReader> Prefetched<R> {
    /// The next batch into `buf` and, when `runs` is given, its page runs (found on the
    /// read-ahead thread if it finds them, here otherwise).
    fn next(
        &mut self,
        buf: &mut Vec<Access>,
        runs: Option<&mut Vec<RunStart>>,
    ) -> Result<usize, TraceError> {
        match &mut self.0 {
            Ahead::Inline(r) => match runs {
                Some(runs) => r.read_batch_runs(buf, runs),
                None => r.read_batch(buf),
            },
            Ahead::Thread {
                rx,
                give_back,
                bytes,
                widest,
                ..
            } => match rx.recv() {
                Ok(Ok((mut batch, mut starts, read, wide))) => {
                    *bytes = read;
                    *widest = wide;
                    std::mem::swap(buf, &mut batch);
                    if let Some(runs) = runs {
                        std::mem::swap(runs, &mut starts);
                        if runs.is_empty() && !buf.is_empty() {
                            // Started without runs: find them here.
                            page_runs(buf, runs);
                        }
                    }
                    batch.clear();
                    let _ = give_back.send((batch, starts));
                    Ok(buf.len())
                }
                Ok(Err(e)) => Err(e),
                Err(_) => {
                    buf.clear();
                    if let Some(runs) = runs {
                        runs.clear();
                    }
                    Ok(0)
                }
            },
        }
    }
}

impl<R: TraceReader> TraceReader for Prefetched<R> {
    fn read_batch(&mut self, buf: &mut Vec<Access>) -> Result<usize, TraceError> {
        self.next(buf, None)
    }

    /// The next batch and its page runs: found ahead when the read-ahead was started
    /// [`with_runs`](Prefetched::with_runs) (where the reader parses, if it can, else on the
    /// read-ahead thread), on this thread otherwise.
    fn read_batch_runs(
        &mut self,
        buf: &mut Vec<Access>,
        runs: &mut Vec<RunStart>,
    ) -> Result<usize, TraceError> {
        self.next(buf, Some(runs))
    }

    fn bytes_read(&self) -> u64 {
        match &self.0 {
            Ahead::Inline(r) => r.bytes_read(),
            Ahead::Thread { bytes, .. } => *bytes,
        }
    }
}
