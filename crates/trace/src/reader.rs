//! [`Trace`]: a trace file of any format and compression, opened for reading in batches.

use crate::compress::{self, Codec, Counter, Counting};
use crate::engine::{self, Block, Chunk, Data, Stream, KEEP_BAD};
use crate::syntax::Rec;
use crate::{champsim, Format, Location, TraceError, TraceErrorKind, TraceReader, BATCH};
use ptbench_core::Access;
use rayon::prelude::*;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
    /// Text; `format` is forced, or was found on the line starting at byte `from` of a mapped
    /// file, or is not known yet.
    Text {
        format: Option<Format>,
        forced: bool,
        from: usize,
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
    ready: VecDeque<Vec<Access>>,
    pool: Vec<Vec<Access>>,
    format: Option<Format>,
    lines: u64,
    bytes: u64,
    ignored: u64,
    skipped: u64,
    first_skipped: Vec<TraceError>,
    pending: Option<TraceError>,
    done: bool,
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
        if opts.format == Some(Format::Native) {
            return Err(native_elsewhere(path));
        }
        let io_err = |e: io::Error| TraceError::new(path, Location::File, e.into());
        let mut file = File::open(path).map_err(io_err)?;
        let mut head = [0u8; 8];
        let mut got = 0;
        while got < head.len() {
            match file.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let codec = compress::sniff(&head[..got]).or_else(|| compress::from_extension(&name));
        let kind = kind_of(opts, &name);
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
                        // Not mappable (a pipe, say): read it whole.
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
        Ok(Trace::new(path.to_path_buf(), opts, kind, input))
    }

    /// Reads a trace held in memory. `name` stands for the file in messages, and its extension
    /// chooses a binary format as a file's would.
    pub fn from_bytes(
        name: impl Into<PathBuf>,
        bytes: Vec<u8>,
        opts: &ReaderOptions,
    ) -> Result<Trace, TraceError> {
        let path: PathBuf = name.into();
        if opts.format == Some(Format::Native) {
            return Err(native_elsewhere(&path));
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let codec = compress::sniff(&bytes).or_else(|| compress::from_extension(&file_name));
        let kind = kind_of(opts, &file_name);
        let input = if codec.is_none() && !opts.sequential {
            Input::Bytes {
                data: Data::Owned(bytes),
                pos: 0,
            }
        } else {
            stream_input(io::Cursor::new(bytes), codec, opts)
                .map_err(|e| TraceError::new(&path, Location::File, e.into()))?
        };
        Ok(Trace::new(path, opts, kind, input))
    }

    fn new(path: PathBuf, opts: &ReaderOptions, mut kind: Kind, input: Input) -> Trace {
        let mut format = match kind {
            Kind::Binary(f) => Some(f),
            Kind::Text { format, .. } => format,
        };
        // A mapped text file: find its format now, so every chunk can be parsed in it.
        if let (Kind::Text { format: None, .. }, Input::Bytes { data, .. }) = (&kind, &input) {
            if let Some((f, at)) = engine::detect_prefix(data, opts.skip_bad_lines) {
                kind = Kind::Text {
                    format: Some(f),
                    forced: false,
                    from: at,
                };
                format = Some(f);
            }
        }
        Trace {
            path,
            opts: opts.clone(),
            kind,
            input,
            ready: VecDeque::new(),
            pool: Vec::new(),
            format,
            lines: 0,
            bytes: 0,
            ignored: 0,
            skipped: 0,
            first_skipped: Vec::new(),
            pending: None,
            done: false,
            per_chunk: 2,
        }
    }

    /// The trace file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format: forced, implied by the name, or detected (for a text trace, once its first
    /// line that is not a comment has been seen). `None` for a trace with no such line.
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

    /// `skipped N bad lines (first: file:line: ...)`, or `None` if no line was skipped.
    pub fn skip_summary(&self) -> Option<String> {
        let first = self.first_skipped.first()?;
        let s = if self.skipped == 1 { "" } else { "s" };
        Some(format!(
            "skipped {} bad line{s} (first: {first})",
            self.skipped
        ))
    }

    fn error(&self, location: Location, kind: TraceErrorKind) -> TraceError {
        TraceError::new(&self.path, location, kind)
    }

    /// Parses the next chunks into `ready`, merging what they counted.
    fn refill(&mut self) {
        let chunks = match self.input {
            Input::Bytes { .. } => self.next_window(),
            Input::Stream { .. } => vec![self.next_block()],
        };
        for c in chunks {
            self.merge(c);
        }
    }

    /// The next block of a stream, parsed on this thread.
    fn next_block(&mut self) -> Chunk {
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
            Ok(Block::Partial(n)) => {
                if let Kind::Binary(f) = self.kind {
                    c.error = Some((Location::Offset(stream.consumed), truncated(f, n)));
                }
                self.done = true;
            }
            Ok(Block::End) => self.done = true,
            Err(e) => {
                let kind = compress::classify(e, *compressed, counter);
                c.error = Some((Location::File, kind));
            }
        }
        c.end = if *compressed {
            counter.bytes.load(Ordering::Relaxed)
        } else {
            stream.consumed
        };
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
            if let Kind::Text {
                format,
                forced,
                from,
            } = self.kind
            {
                // Chunks after the line the format was found on start in that format; the
                // chunk holding it (and any before) finds it again on that line.
                c.format = if forced || r.start > from {
                    format
                } else {
                    None
                };
            }
            for _ in 0..self.per_chunk {
                match self.pool.pop() {
                    Some(b) => c.spare.push(b),
                    None => break,
                }
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
    fn next_window(&mut self) -> Vec<Chunk> {
        let mut chunks = match self.plan_window() {
            Some(mut w) => {
                if let Input::Bytes { data, .. } = &self.input {
                    w.parse(data);
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
        if self.pending.is_some() {
            // A chunk after one that failed: its results are not handed out.
            self.pool.extend(c.batches.into_iter().map(|mut b| {
                b.clear();
                b
            }));
            return;
        }
        self.per_chunk = self.per_chunk.max(c.batches.len());
        let base = self.lines;
        let at = |loc: Location| match loc {
            Location::Line(n) => Location::Line(base + n),
            other => other,
        };
        for b in c.batches {
            if b.is_empty() {
                self.pool.push(b);
            } else {
                self.ready.push_back(b);
            }
        }
        if matches!(self.kind, Kind::Text { .. }) && c.format.is_some() {
            self.format = c.format;
        }
        self.lines += c.lines;
        self.ignored += c.ignored;
        self.skipped += c.bad;
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
                Kind::Text { format, forced, .. } => format.filter(|_| forced),
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

impl TraceReader for Trace {
    fn read_batch(&mut self, out: &mut Vec<Access>) -> Result<usize, TraceError> {
        out.clear();
        loop {
            if let Some(mut b) = self.ready.pop_front() {
                debug_assert!(b.len() <= BATCH);
                std::mem::swap(out, &mut b);
                if self.pool.len() < 40 * (self.per_chunk + 1) {
                    b.clear();
                    self.pool.push(b);
                }
                return Ok(out.len());
            }
            if let Some(e) = self.pending.take() {
                return Err(e);
            }
            if self.done {
                return Ok(0);
            }
            self.refill();
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
    /// Parses every chunk, in parallel on the rayon pool.
    fn parse(&mut self, data: &Data) {
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
        };
        if self.chunks.len() > 1 {
            self.chunks
                .par_iter_mut()
                .zip(self.ranges.par_iter())
                .for_each(work);
        } else {
            self.chunks
                .iter_mut()
                .zip(self.ranges.iter())
                .for_each(work);
        }
    }
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
                Ok(Some(Rec::Access)) => {
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
            reason: "native traces are read by ptbench_trace::open, not Trace".to_string(),
        },
    )
}

fn kind_of(opts: &ReaderOptions, name: &str) -> Kind {
    match opts.format.or_else(|| champsim::from_name(name)) {
        Some(f) if f.is_binary() => Kind::Binary(f),
        format => Kind::Text {
            format,
            forced: format.is_some(),
            from: 0,
        },
    }
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
