//! [`Trace`]: a trace file of any format and compression, opened for reading in batches.

use crate::compress::{self, Codec, Counter, Counting};
use crate::engine::{self, Block, Chunk, Data, Line, Stream, KEEP_BAD};
use crate::syntax::{looks_binary, Rec};
use crate::{champsim, Format, Location, TraceError, TraceErrorKind, TraceReader, BATCH};
use ptbench_core::{page_runs, Access, RunStart};
use rayon::prelude::*;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

/// What runs on a parsed chunk on the thread that parsed it (see [`Trace::fold_batches`]).
type Hook<'a> = dyn Fn(&mut Chunk) + Sync + 'a;

/// A batch parsed and not yet handed out, with its page runs when they were found where it was
/// parsed (empty otherwise).
type Ready = (Vec<Access>, Vec<RunStart>);

/// Bytes of text (or records) per chunk, unless [`ReaderOptions::chunk_bytes`] says otherwise:
/// about a third of a batch of lackey accesses, so that the batches being filled stay in cache.
pub const DEFAULT_CHUNK_BYTES: usize = 256 << 10;

/// How to read a trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReaderOptions {
    /// Count malformed lines and go on, instead of stopping at the first one. The count and the
    /// first few errors are kept: [`Trace::skipped_lines`], [`Trace::first_skipped`],
    /// [`Trace::skip_summary`].
    pub skip_bad_lines: bool,
    /// The format to read the file as, instead of recognising it.
    pub format: Option<Format>,
    /// Parse a plain file on the calling thread, from a buffered read, rather than mapping it
    /// and parsing its chunks in parallel. The results are the same.
    pub sequential: bool,
    /// Bytes per chunk (0: [`DEFAULT_CHUNK_BYTES`]); tests use small chunks to cut lines at
    /// every place.
    pub chunk_bytes: usize,
    /// drmemtrace: replay software prefetches as reads (they are counted either way).
    pub prefetches: bool,
}

impl ReaderOptions {
    fn chunk(&self) -> usize {
        if self.chunk_bytes == 0 {
            DEFAULT_CHUNK_BYTES
        } else {
            self.chunk_bytes
        }
    }
}

/// The format of a trace as the reader knows it at open.
#[derive(Copy, Clone, Debug)]
enum Kind {
    /// Text in `format`: forced, or recognised from the first lines, or (`lazy_from`: `Some`)
    /// found on the first line that parses, which starts at byte `lazy_from` of a mapped file
    /// (lines before it are noise, as a sequential read finds them), or not known yet.
    Text {
        format: Option<Format>,
        lazy_from: Option<usize>,
    },
    /// A binary format (fixed-size records).
    Binary(Format),
}

enum Input {
    /// The whole trace in memory (mapped or owned): parsed in parallel, a window of chunks at
    /// a time.
    Bytes { data: Data, pos: usize },
    /// A decoded (or plainly read) stream: parsed a block at a time.
    Stream {
        stream: Stream,
        compressed: bool,
        counter: Arc<Counter>,
    },
}

/// A trace being read: any format, any compression. Returned by [`open`](crate::open) and its
/// siblings; hands out accesses in batches through [`TraceReader`].
pub struct Trace {
    path: PathBuf,
    opts: ReaderOptions,
    kind: Kind,
    input: Input,
    /// Batches parsed and not yet handed out.
    ready: VecDeque<Ready>,
    pool: Vec<Vec<Access>>,
    run_pool: Vec<Vec<RunStart>>,
    /// Find each batch's page runs where it is parsed ([`TraceReader::parse_runs`]).
    runs: bool,
    format: Option<Format>,
    lines: u64,
    bytes: u64,
    ignored: u64,
    skipped: u64,
    first_skipped: Vec<TraceError>,
    noise: u64,
    first_noise: Option<Box<(u64, String)>>,
    pending: Option<TraceError>,
    done: bool,
    /// Whether the end-of-trace check for a text trace of no format has run.
    checked_end: bool,
    /// The most batches one chunk has filled: each new chunk gets that many recycled ones.
    per_chunk: usize,
}

/// The older name of [`Trace`], from when every trace was text.
pub type TextTrace = Trace;

impl Trace {
    /// Opens `path` with the default options.
    pub fn open(path: &Path) -> Result<Trace, TraceError> {
        Trace::open_with(path, &ReaderOptions::default())
    }

    /// Opens `path`: compression from the magic bytes (else the extension), a binary format from
    /// the name (or `opts.format`), a text format from the first line that is not skipped.
    pub fn open_with(path: &Path, opts: &ReaderOptions) -> Result<Trace, TraceError> {
        if matches!(opts.format, Some(Format::Native | Format::DrMemtrace)) {
            return Err(native_elsewhere(path));
        }
        let io_err = |e: io::Error| TraceError::new(path, Location::File, e.into());
        let name = file_name(path);
        if !is_regular(path)? {
            let (reader, codec, counter) = open_stream(path)?;
            return Trace::from_stream(path.to_path_buf(), reader, codec.is_some(), counter, opts);
        }
        let mut file = File::open(path).map_err(io_err)?;
        let mut head = vec![0u8; 4096];
        let got = read_full(&mut file, &mut head).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let codec = compress::codec_of(&head[..got], &name);
        let input = match codec {
            None if !opts.sequential => {
                let len = file.metadata().map_err(io_err)?.len();
                let data = if len == 0 {
                    Data::Owned(Vec::new())
                } else {
                    // SAFETY: the map is only read. Like every reader of a memory map, this
                    // one assumes no other process truncates or rewrites the trace while it
                    // is being read (a truncation would fault the read).
                    match unsafe { memmap2::Mmap::map(&file) } {
                        Ok(m) => Data::Mapped(m),
                        // Not mappable: read it whole.
                        Err(_) => {
                            let mut v = Vec::new();
                            file.read_to_end(&mut v).map_err(io_err)?;
                            Data::Owned(v)
                        }
                    }
                };
                Input::Bytes { data, pos: 0 }
            }
            _ => stream_input(file, codec, opts).map_err(io_err)?,
        };
        Trace::new(path.to_path_buf(), opts, &name, input)
    }

    /// Reads a decoded stream (a FIFO, a pipe): `compressed` and `counter` as [`open_stream`]
    /// returned them.
    pub(crate) fn from_stream(
        path: PathBuf,
        reader: Box<dyn Read + Send>,
        compressed: bool,
        counter: Arc<Counter>,
        opts: &ReaderOptions,
    ) -> Result<Trace, TraceError> {
        let name = file_name(&path);
        let input = Input::Stream {
            stream: Stream::new(reader, opts.chunk()),
            compressed,
            counter,
        };
        Trace::new(path, opts, &name, input)
    }

    /// Reads a trace held in memory. `name` stands for the file in messages, and its extension
    /// chooses a binary format as a file's would.
    pub fn from_bytes(
        name: impl Into<PathBuf>,
        bytes: Vec<u8>,
        opts: &ReaderOptions,
    ) -> Result<Trace, TraceError> {
        let path: PathBuf = name.into();
        if matches!(opts.format, Some(Format::Native | Format::DrMemtrace)) {
            return Err(native_elsewhere(&path));
        }
        let name = file_name(&path);
        let codec = compress::codec_of(&bytes, &name);
        let input = if codec.is_none() && !opts.sequential {
            Input::Bytes {
                data: Data::Owned(bytes),
                pos: 0,
            }
        } else {
            stream_input(io::Cursor::new(bytes), codec, opts)
                .map_err(|e| TraceError::new(&path, Location::File, e.into()))?
        };
        Trace::new(path, opts, &name, input)
    }

    /// Decides the format (from `opts`, the name, then the content) and starts reading.
    fn new(
        path: PathBuf,
        opts: &ReaderOptions,
        name: &str,
        mut input: Input,
    ) -> Result<Trace, TraceError> {
        let mut kind = kind_of(opts, name);
        if let Kind::Text { format: None, .. } = kind {
            let (head, whole) = match &mut input {
                Input::Bytes { data, .. } => (&data[..], true),
                Input::Stream { stream, .. } => stream.peek(engine::DETECT_BYTES),
            };
            kind = if looks_binary(head) {
                match champsim::from_name_loosely(name) {
                    Some(f) => Kind::Binary(f),
                    None if champsim::looks_like_input_instr(head) => {
                        Kind::Binary(Format::ChampSim)
                    }
                    None => {
                        return Err(TraceError::new(
                            &path,
                            Location::File,
                            TraceErrorKind::Binary,
                        ))
                    }
                }
            } else if let Some(f) = engine::detect_window(head, whole) {
                Kind::Text {
                    format: Some(f),
                    lazy_from: None,
                }
            } else {
                match &input {
                    // A mapped file: find the first line that parses now, so that every chunk
                    // after it is parsed in its format.
                    Input::Bytes { data, .. } => match engine::detect_first(data) {
                        Some((f, at)) => Kind::Text {
                            format: Some(f),
                            lazy_from: Some(at),
                        },
                        None => Kind::Text {
                            format: None,
                            lazy_from: Some(usize::MAX),
                        },
                    },
                    // A stream: its blocks find it as they are parsed.
                    Input::Stream { .. } => Kind::Text {
                        format: None,
                        lazy_from: Some(usize::MAX),
                    },
                }
            };
        }
        let format = match kind {
            Kind::Binary(f) => Some(f),
            Kind::Text { format, .. } => format,
        };
        Ok(Trace {
            path,
            opts: opts.clone(),
            kind,
            input,
            ready: VecDeque::new(),
            pool: Vec::new(),
            run_pool: Vec::new(),
            runs: false,
            format,
            lines: 0,
            bytes: 0,
            ignored: 0,
            skipped: 0,
            first_skipped: Vec::new(),
            noise: 0,
            first_noise: None,
            pending: None,
            done: false,
            checked_end: false,
            per_chunk: 2,
        })
    }

    /// The trace file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format: forced, implied by the name, or recognised from the content (for a text
    /// trace whose first lines hold no record, once its first record has been read). `None`
    /// for a trace with no record.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// Lines read so far (records, for a binary trace).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Valid records read so far that are not accesses: Dinero `din` labels other than 0, 1 and
    /// 2, extended-din `c` (copy back) and `v` (invalidate) records.
    pub fn ignored_records(&self) -> u64 {
        self.ignored
    }

    /// Malformed lines skipped so far (with [`ReaderOptions::skip_bad_lines`]).
    pub fn skipped_lines(&self) -> u64 {
        self.skipped
    }

    /// The first few (at most 5) skipped lines' errors, each naming its file and line.
    pub fn first_skipped(&self) -> &[TraceError] {
        &self.first_skipped
    }

    /// Lines skipped so far that are not records of the trace's format (nor, before the
    /// format is known, of any): a program's output, a tool's banner. Blank lines, `#` comments
    /// and Valgrind's `==pid==` / `--pid--` lines are skipped without being counted.
    pub fn noise_lines(&self) -> u64 {
        self.noise
    }

    /// The first line of noise: its 1-based line and its text (escaped, cut at 120
    /// characters).
    pub fn first_noise(&self) -> Option<(u64, &str)> {
        self.first_noise.as_deref().map(|(n, t)| (*n, t.as_str()))
    }

    /// What was skipped, in one line, or `None` if nothing was: `skipped 4 lines that are not
    /// trace records, first at F:761186: `total 9624``, then (with
    /// [`ReaderOptions::skip_bad_lines`]) `skipped 2 bad lines (first: F:3: ...)`, joined by
    /// `; `.
    pub fn skip_summary(&self) -> Option<String> {
        let noise = self.first_noise.as_deref().map(|(line, text)| {
            let at = format!("{}:{line}: `{text}`", self.path.display());
            if self.noise == 1 {
                format!("skipped 1 line that is not a trace record, at {at}")
            } else {
                format!(
                    "skipped {} lines that are not trace records, first at {at}",
                    self.noise
                )
            }
        });
        let bad = self.first_skipped.first().map(|first| {
            let s = if self.skipped == 1 { "" } else { "s" };
            format!(
                "skipped {} bad line{s} (first: {})",
                self.skipped,
                first.without_hint()
            )
        });
        match (noise, bad) {
            (Some(n), Some(b)) => Some(format!("{n}; {b}")),
            (n, b) => n.or(b),
        }
    }

    /// Bytes the reader buffers for a streamed (compressed, piped) trace; 0 for a mapped or
    /// in-memory one. Bounded whatever the lines are (see [`crate::MAX_LINE_BYTES`]).
    pub fn buffer_bytes(&self) -> usize {
        match &self.input {
            Input::Stream { stream, .. } => stream.capacity(),
            Input::Bytes { .. } => 0,
        }
    }

    /// At the end of a text trace in which no line was a record of any format but some were
    /// noise: the error that it is in no known format (unless bad lines are skipped).
    fn unrecognised(&self) -> Option<TraceError> {
        if self.opts.skip_bad_lines || self.format.is_some() {
            return None;
        }
        let (line, text) = self.first_noise.as_deref().cloned()?;
        Some(self.error(Location::Line(line), TraceErrorKind::UnknownFormat { text }))
    }

    fn error(&self, location: Location, kind: TraceErrorKind) -> TraceError {
        TraceError::new(&self.path, location, kind)
    }

    /// Parses the next chunks into `ready`, merging what they counted.
    fn refill(&mut self, hook: Option<&Hook>) {
        let chunks = match self.input {
            Input::Bytes { .. } => self.next_window(hook),
            Input::Stream { .. } => vec![self.next_block(hook)],
        };
        for c in chunks {
            self.merge(c);
        }
    }

    /// The next block of a stream, parsed on this thread (then given to `hook`).
    fn next_block(&mut self, hook: Option<&Hook>) -> Chunk {
        let skip_bad = self.opts.skip_bad_lines;
        let want = self.opts.chunk();
        let mut c = Chunk::default();
        if let Some(b) = self.pool.pop() {
            c.spare.push(b);
        }
        let Input::Stream {
            stream,
            compressed,
            counter,
        } = &mut self.input
        else {
            return c;
        };
        let block = match self.kind {
            Kind::Text { .. } => stream.next_lines(want),
            Kind::Binary(f) => stream.next_records(want, f.record_bytes().unwrap_or(1)),
        };
        c.format = self.format;
        match block {
            Ok(Block::Data(d)) => match self.kind {
                Kind::Text { .. } => engine::parse_text(d, skip_bad, &mut c),
                Kind::Binary(f) => engine::parse_records(d, f, &mut c),
            },
            Ok(Block::Long(prefix)) => engine::parse_long_line(prefix, skip_bad, &mut c),
            Ok(Block::Partial(n)) => {
                if let Kind::Binary(f) = self.kind {
                    c.error = Some((Location::Offset(stream.consumed), truncated(f, n)));
                }
                self.done = true;
            }
            Ok(Block::End) => self.done = true,
            Err(e) => {
                let kind = compress::classify(e, *compressed, counter);
                // Where the stream stopped: after the last whole line (text), at the byte
                // offset of the decoded stream (records).
                let at = match self.kind {
                    Kind::Text { .. } => Location::AfterLine(0),
                    Kind::Binary(_) => Location::Offset(stream.consumed),
                };
                c.error = Some((at, kind));
            }
        }
        c.end = if *compressed {
            counter.bytes.load(Ordering::Relaxed)
        } else {
            stream.consumed
        };
        if let Some(h) = hook {
            h(&mut c);
        }
        c
    }

    /// Cuts the next window of chunks off a mapped trace (at line ends, or record ends),
    /// giving each chunk recycled batches and the format it starts in. `None` at the end.
    fn plan_window(&mut self) -> Option<Window> {
        let want = self.opts.chunk();
        let Input::Bytes { data, pos, .. } = &mut self.input else {
            return None;
        };
        let jobs = (rayon::current_num_threads() * 8).clamp(2, 64);
        let mut ranges = Vec::with_capacity(jobs);
        while ranges.len() < jobs && *pos < data.len() {
            let end = match self.kind {
                Kind::Text { .. } => engine::line_chunk_end(data, *pos, want),
                Kind::Binary(f) => {
                    let size = f.record_bytes().unwrap_or(1);
                    let whole = data.len() / size * size;
                    if *pos >= whole {
                        break;
                    }
                    (*pos + want.div_ceil(size) * size).min(whole)
                }
            };
            ranges.push(*pos..end);
            *pos = end;
        }
        if ranges.is_empty() {
            return None;
        }
        let mut chunks = Vec::with_capacity(ranges.len());
        for r in &ranges {
            let mut c = Chunk {
                end: r.end as u64,
                ..Chunk::default()
            };
            if let Kind::Text { format, lazy_from } = self.kind {
                // Chunks after the line the format was found on start in that format; the
                // chunk holding it (and any before) finds it again on that line.
                c.format = match lazy_from {
                    Some(at) if r.start <= at => None,
                    _ => format,
                };
            }
            for _ in 0..self.per_chunk {
                match self.pool.pop() {
                    Some(b) => c.spare.push(b),
                    None => break,
                }
            }
            if self.runs {
                let n = self.run_pool.len().min(self.per_chunk.max(1));
                c.spare_runs = self.run_pool.split_off(self.run_pool.len() - n);
            }
            chunks.push(c);
        }
        Some(Window {
            ranges,
            chunks,
            kind: self.kind,
            skip_bad: self.opts.skip_bad_lines,
        })
    }

    /// The next window's parsed chunks of a mapped trace, in order; after the last, the error
    /// of a partial binary record, if any.
    ///
    /// Windows are parsed one after the other, each in parallel: parsing the next window in
    /// the background while one is handed out was measured slower on two cores (more
    /// batches in flight, more page faults) and gains nothing when the consumer itself runs
    /// on the rayon pool.
    fn next_window(&mut self, hook: Option<&Hook>) -> Vec<Chunk> {
        let mut chunks = match self.plan_window() {
            Some(mut w) => {
                if let Input::Bytes { data, .. } = &self.input {
                    w.parse(data, hook);
                }
                w.chunks
            }
            None => Vec::new(),
        };
        let Input::Bytes { data, pos } = &self.input else {
            return chunks;
        };
        if chunks.is_empty() || *pos >= data.len() {
            self.done = true;
            if let Kind::Binary(f) = self.kind {
                let size = f.record_bytes().unwrap_or(1);
                let partial = data.len() % size;
                if partial > 0 {
                    let at = (data.len() - partial) as u64;
                    chunks.push(Chunk {
                        error: Some((Location::Offset(at), truncated(f, partial))),
                        end: data.len() as u64,
                        ..Chunk::default()
                    });
                }
            }
        }
        chunks
    }

    /// Takes a parsed chunk's batches and counts, in file order.
    fn merge(&mut self, mut c: Chunk) {
        self.pool.append(&mut c.spare);
        self.run_pool.append(&mut c.spare_runs);
        if self.pending.is_some() {
            // A chunk after one that failed: its results are not handed out.
            for b in c.batches {
                self.recycle(b, Vec::new());
            }
            return;
        }
        self.per_chunk = self.per_chunk.max(c.batches.len());
        let base = self.lines;
        let at = |loc: Location| match loc {
            Location::Line(n) => Location::Line(base + n),
            Location::AfterLine(n) => Location::AfterLine(base + n),
            other => other,
        };
        let mut runs = c.runs.into_iter();
        for b in c.batches {
            let r = runs.next().unwrap_or_default();
            if b.is_empty() {
                self.recycle(b, r);
            } else {
                self.ready.push_back((b, r));
            }
        }
        if matches!(self.kind, Kind::Text { .. }) && c.format.is_some() {
            self.format = c.format;
        }
        self.lines += c.lines;
        self.ignored += c.ignored;
        self.skipped += c.bad;
        self.noise += c.noise;
        if self.first_noise.is_none() {
            self.first_noise = c.first_noise.map(|(n, text)| Box::new((base + n, text)));
        }
        self.bytes = self.bytes.max(c.end);
        for (loc, kind) in c.first_bad {
            if self.first_skipped.len() < KEEP_BAD {
                let e = self.error(at(loc), kind);
                self.first_skipped.push(e);
            }
        }
        if let Some((loc, kind)) = c.error {
            self.pending = Some(self.error(at(loc), kind));
            self.done = true;
        }
    }

    /// Reads on from the start to find where access number `index` (0-based) came from: its
    /// 1-based line in a text trace, its record's byte offset in a binary one. `None` if the
    /// trace has fewer accesses. Call it on a trace not read yet.
    pub fn locate_location(mut self, index: u64) -> Result<Option<Location>, TraceError> {
        let want = self.opts.chunk();
        let kind = self.kind;
        let mut finder = Finder {
            index,
            skip_bad: self.opts.skip_bad_lines,
            seen: 0,
            line: 0,
            offset: 0,
            scratch: Vec::with_capacity(champsim::MAX_PER_RECORD),
            format: match kind {
                Kind::Text { format, lazy_from } => format.filter(|_| lazy_from.is_none()),
                Kind::Binary(f) => Some(f),
            },
        };
        let found = match &mut self.input {
            Input::Bytes { data, .. } => finder.visit(kind, data),
            Input::Stream {
                stream,
                compressed,
                counter,
            } => loop {
                let block = match kind {
                    Kind::Text { .. } => stream.next_lines(want),
                    Kind::Binary(f) => stream.next_records(want, f.record_bytes().unwrap_or(1)),
                };
                match block {
                    Ok(Block::Data(d)) => match finder.visit(kind, d) {
                        Ok(None) => {}
                        other => break other,
                    },
                    Ok(Block::Long(prefix)) => match finder.long_line(prefix) {
                        Ok(()) => {}
                        Err(e) => break Err(e),
                    },
                    Ok(_) => break Ok(None),
                    Err(e) => {
                        break Err((Location::File, compress::classify(e, *compressed, counter)))
                    }
                }
            },
        };
        found.map_err(|(loc, k)| TraceError::new(&self.path, loc, k))
    }

    /// Reads on to find the 1-based line that produced access `index` (0-based) of a text
    /// trace; `None` if there are fewer accesses, or for a binary trace (see
    /// [`Trace::locate_location`]).
    pub fn locate(self, index: u64) -> Result<Option<u64>, TraceError> {
        Ok(match self.locate_location(index)? {
            Some(Location::Line(n)) => Some(n),
            _ => None,
        })
    }
}

impl Trace {
    /// The next batch in file order and its page runs if found where parsed, parsing on
    /// (chunks parsed are given to `hook` first, else to [`Chunk::find_runs`] if runs are
    /// found where parsed); `None` at the end.
    fn next_ready(&mut self, hook: Option<&Hook>) -> Result<Option<Ready>, TraceError> {
        let find = |c: &mut Chunk| c.find_runs();
        let hook = match hook {
            None if self.runs => Some(&find as &Hook),
            hook => hook,
        };
        loop {
            if let Some(b) = self.ready.pop_front() {
                debug_assert!(b.0.len() <= BATCH);
                return Ok(Some(b));
            }
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
            if self.done {
                if !self.checked_end {
                    self.checked_end = true;
                    if let Some(e) = self.unrecognised() {
                        return Err(e);
                    }
                }
                return Ok(None);
            }
            self.refill(hook);
        }
    }

    /// Takes back a batch handed out and its runs, to fill again.
    fn recycle(&mut self, mut b: Vec<Access>, mut r: Vec<RunStart>) {
        let keep = 40 * (self.per_chunk + 1);
        if self.pool.len() < keep {
            b.clear();
            self.pool.push(b);
        }
        if self.run_pool.len() < keep && r.capacity() > 0 {
            r.clear();
            self.run_pool.push(r);
        }
    }

    /// Whether the trace is a plain file whose chunks are parsed in parallel, so that
    /// [`Trace::fold_batches`] folds on every core (a stream is parsed on the calling thread).
    pub fn parses_in_parallel(&self) -> bool {
        matches!(self.input, Input::Bytes { .. })
    }

    /// Reads the trace to its end, folding every batch of accesses, in place of handing it
    /// out, into an accumulator on the thread that parsed it, while the batch is still in that
    /// core's cache. Accumulators are made by `init` when a thread needs one and none is free,
    /// so there are about as many as threads parse; all are returned, in no set order, and
    /// which batches went into which is not set either: `fold` must give the same result in
    /// any order (counts, sets). Stops with the error [`TraceReader::read_batch`] would give,
    /// after folding at least the batches before it.
    pub fn fold_batches<S, I, F>(&mut self, init: I, fold: F) -> Result<Vec<S>, TraceError>
    where
        S: Send,
        I: Fn() -> S + Sync,
        F: Fn(&mut S, &[Access]) + Sync,
    {
        let free: Mutex<Vec<S>> = Mutex::new(Vec::new());
        let take = || {
            let got = free.lock().unwrap_or_else(PoisonError::into_inner).pop();
            got.unwrap_or_else(&init)
        };
        let give = |s: S| free.lock().unwrap_or_else(PoisonError::into_inner).push(s);
        let hook = |c: &mut Chunk| {
            if c.batches.iter().all(|b| b.is_empty()) {
                return;
            }
            let mut s = take();
            for b in &mut c.batches {
                fold(&mut s, b);
                b.clear();
            }
            give(s);
        };
        // Every chunk's batches are folded and emptied by the hook, so none is handed out
        // here; any that were would be folded on this thread.
        while let Some((b, r)) = self.next_ready(Some(&hook))? {
            let mut s = take();
            fold(&mut s, &b);
            give(s);
            self.recycle(b, r);
        }
        Ok(free.into_inner().unwrap_or_else(PoisonError::into_inner))
    }
}

impl TraceReader for Trace {
    fn read_batch(&mut self, out: &mut Vec<Access>) -> Result<usize, TraceError> {
        out.clear();
        match self.next_ready(None)? {
            Some((mut b, r)) => {
                std::mem::swap(out, &mut b);
                self.recycle(b, r);
                Ok(out.len())
            }
            None => Ok(0),
        }
    }

    /// From now on, finds each batch's page runs ([`page_runs`]) where it is parsed: on the
    /// cores that parse a plain file's chunks, while the batch is in their cache; on this
    /// thread for a stream. Always true.
    fn parse_runs(&mut self) -> bool {
        self.runs = true;
        true
    }

    fn read_batch_runs(
        &mut self,
        out: &mut Vec<Access>,
        runs: &mut Vec<RunStart>,
    ) -> Result<usize, TraceError> {
        out.clear();
        runs.clear();
        match self.next_ready(None)? {
            Some((mut b, mut r)) => {
                std::mem::swap(out, &mut b);
                std::mem::swap(runs, &mut r);
                if runs.is_empty() {
                    // Parsed before runs were asked for.
                    page_runs(out, runs);
                }
                self.recycle(b, r);
                Ok(out.len())
            }
            None => Ok(0),
        }
    }

    fn bytes_read(&self) -> u64 {
        self.bytes
    }
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

/// Chunks of a mapped trace to parse together.
struct Window {
    ranges: Vec<Range<usize>>,
    chunks: Vec<Chunk>,
    kind: Kind,
    skip_bad: bool,
}

impl Window {
    /// Parses every chunk, in parallel (see [`parse_pool`] for on which threads), giving each
    /// to `hook` on the thread that parsed it.
    fn parse(&mut self, data: &Data, hook: Option<&Hook>) {
        let (kind, skip_bad) = (self.kind, self.skip_bad);
        let work = |(c, r): (&mut Chunk, &Range<usize>)| {
            // Map the chunk's pages in one call rather than a fault at a time.
            #[cfg(target_os = "linux")]
            if let Data::Mapped(m) = data {
                let _ = m.advise_range(memmap2::Advice::PopulateRead, r.start, r.len());
            }
            match kind {
                Kind::Text { .. } => engine::parse_text(&data[r.clone()], skip_bad, c),
                Kind::Binary(f) => engine::parse_records(&data[r.clone()], f, c),
            }
            if let Some(h) = hook {
                h(c);
            }
        };
        let work = &work;
        let (chunks, ranges) = (&mut self.chunks, &self.ranges);
        let mut parallel = || chunks.par_iter_mut().zip(ranges.par_iter()).for_each(work);
        match (ranges.len() > 1).then(parse_pool) {
            Some(ParsePool::Current) => parallel(),
            Some(ParsePool::Decode(pool)) => pool.install(parallel),
            Some(ParsePool::Serial) | None => chunks.iter_mut().zip(ranges.iter()).for_each(work),
        }
    }
}

/// Where a parallel parse may run without waiting on a pool that waits on it.
enum ParsePool {
    /// On a worker of a rayon pool: in that pool. The calling worker takes part in its own
    /// parallel loop, so the loop finishes even when every other worker is blocked.
    Current,
    /// On any other thread (a read-ahead thread of [`crate::Prefetched`], a program's main
    /// thread): the decode pool, a pool of its own that only ever parses. The replay's workers
    /// may all be blocked waiting for the batches this thread decodes; a loop queued on their
    /// pool would then never start (issue 19's deadlock, with `--jobs` or more plain traces).
    Decode(&'static rayon::ThreadPool),
    /// The decode pool could not be started: on this thread, one chunk after the other.
    Serial,
}

/// The pool a parallel parse on this thread runs on. The decode pool is made when first needed,
/// with as many threads as the global pool has (`--jobs`).
fn parse_pool() -> ParsePool {
    static DECODE_POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    if rayon::current_thread_index().is_some() {
        return ParsePool::Current;
    }
    let pool = DECODE_POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("ptbench-decode-{i}"))
            .build()
            .ok()
    });
    pool.as_ref().map_or(ParsePool::Serial, ParsePool::Decode)
}

/// The state of [`Trace::locate_location`]'s walk.
struct Finder {
    index: u64,
    skip_bad: bool,
    seen: u64,
    line: u64,
    offset: u64,
    scratch: Vec<Access>,
    format: Option<Format>,
}

impl Finder {
    /// Walks one block of whole lines or records; `Ok(Some(..))` once the access is found.
    fn visit(
        &mut self,
        kind: Kind,
        block: &[u8],
    ) -> Result<Option<Location>, (Location, TraceErrorKind)> {
        if let Kind::Binary(f) = kind {
            let size = f.record_bytes().unwrap_or(1);
            for rec in block.chunks_exact(size) {
                self.scratch.clear();
                champsim::decode(f, rec, &mut self.scratch);
                self.seen += self.scratch.len() as u64;
                if self.seen > self.index {
                    return Ok(Some(Location::Offset(self.offset)));
                }
                self.offset += size as u64;
            }
            return Ok(None);
        }
        for raw in block.split_inclusive(|b| *b == b'\n') {
            self.line += 1;
            let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
            self.scratch.clear();
            match engine::handle_line(raw, &mut self.format, &mut self.scratch) {
                Ok(Line::Rec(Rec::Access)) => {
                    self.seen += self.scratch.len() as u64;
                    if self.seen > self.index {
                        return Ok(Some(Location::Line(self.line)));
                    }
                }
                Ok(_) => {}
                Err(_) if self.skip_bad => {}
                Err(k) => return Err((Location::Line(self.line), k)),
            }
        }
        Ok(None)
    }

    /// Walks an over-long line of a stream, of which `prefix` was kept.
    fn long_line(&mut self, prefix: &[u8]) -> Result<(), (Location, TraceErrorKind)> {
        self.line += 1;
        match engine::long_line(prefix, self.format) {
            Err(k) if !self.skip_bad => Err((Location::Line(self.line), k)),
            _ => Ok(()),
        }
    }
}

fn truncated(f: Format, partial: usize) -> TraceErrorKind {
    TraceErrorKind::TruncatedRecord {
        format: f.name(),
        record_bytes: f.record_bytes().unwrap_or(0),
        partial_bytes: partial,
    }
}

fn native_elsewhere(path: &Path) -> TraceError {
    TraceError::new(
        path,
        Location::File,
        TraceErrorKind::Malformed {
            format: "ptbench",
            text: String::new(),
            reason: "native and drmemtrace traces are read by ptbench_trace::open, not Trace"
                .to_string(),
        },
    )
}

fn kind_of(opts: &ReaderOptions, name: &str) -> Kind {
    match opts.format.or_else(|| champsim::from_name(name)) {
        Some(f) if f.is_binary() => Kind::Binary(f),
        format => Kind::Text {
            format,
            lazy_from: None,
        },
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads until `buf` is full or the input ends; the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

/// Whether `path` is a regular file (which is mapped, or read twice); a FIFO, a pipe
/// (`<(...)`, `/dev/stdin`) or a device is not, and is read once, as a stream. A directory, or
/// a path that does not exist, is an error naming what it is.
pub(crate) fn is_regular(path: &Path) -> Result<bool, TraceError> {
    let meta =
        std::fs::metadata(path).map_err(|e| TraceError::new(path, Location::File, e.into()))?;
    if meta.is_dir() {
        return Err(TraceError::new(
            path,
            Location::File,
            TraceErrorKind::NotAFile("a directory"),
        ));
    }
    Ok(meta.is_file())
}

/// A stream opened by [`open_stream`]: the decoded bytes, the codec, and the counter of raw
/// bytes read.
pub(crate) type RawStream = (Box<dyn Read + Send>, Option<Codec>, Arc<Counter>);

/// Opens a file that is not regular (a FIFO, a pipe) as a stream, read once: its first bytes
/// choose the compression (as for a file), and the rest follows them. Returns the decoded
/// stream, the codec, and the counter of raw bytes read.
pub(crate) fn open_stream(path: &Path) -> Result<RawStream, TraceError> {
    let io_err = |e: io::Error| TraceError::new(path, Location::File, e.into());
    let mut file = File::open(path).map_err(io_err)?;
    let mut head = vec![0u8; 4096];
    let got = read_full(&mut file, &mut head).map_err(io_err)?;
    head.truncate(got);
    let codec = compress::codec_of(&head, &file_name(path));
    let counter = Arc::new(Counter::default());
    let counting = Counting {
        inner: io::Cursor::new(head).chain(file),
        counter: counter.clone(),
    };
    let reader: Box<dyn Read + Send> = match codec {
        Some(c) => {
            compress::decoder(c, BufReader::with_capacity(1 << 16, counting)).map_err(io_err)?
        }
        None => Box::new(counting),
    };
    Ok((reader, codec, counter))
}

fn stream_input<R: Read + Send + 'static>(
    raw: R,
    codec: Option<Codec>,
    opts: &ReaderOptions,
) -> io::Result<Input> {
    let counter = Arc::new(Counter::default());
    let counting = Counting {
        inner: raw,
        counter: counter.clone(),
    };
    let reader: Box<dyn Read + Send> = match codec {
        Some(c) => compress::decoder(c, BufReader::with_capacity(1 << 16, counting))?,
        None => Box::new(counting),
    };
    Ok(Input::Stream {
        stream: Stream::new(reader, opts.chunk()),
        compressed: codec.is_some(),
        counter,
    })
}
