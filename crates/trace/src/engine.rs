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

use crate::syntax::{is_skipped, shown, trim, trim_end, Rec, MAX_LINE_BYTES};
use crate::{champsim, dinero, hexrw, lackey, native_text, pinatrace};
use crate::{Format, Location, TraceErrorKind, BATCH};
use ptbench_core::{page_runs, Access, RunStart};
use std::io::{self, Read};

/// Bad lines whose messages a reader keeps under `skip_bad_lines`.
pub(crate) const KEEP_BAD: usize = 5;

/// Text formats in the order detection prefers them on a tie.
const TEXT_FORMATS: [Format; 7] = [
    Format::Lackey,
    Format::Pinatrace,
    Format::PinatraceSized,
    Format::HexRw,
    Format::OpFirst,
    Format::DinExtended,
    Format::Din,
];

/// A text trace's format is recognised from the lines wholly inside its first this many bytes.
pub(crate) const DETECT_BYTES: usize = 64 << 10;

/// ... and at most this many of those lines that are not skipped.
const DETECT_LINES: usize = 256;

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
        Format::OpFirst => hexrw::parse_op_first(line, out),
        Format::Pinatrace => pinatrace::parse(line, out),
        Format::PinatraceSized => pinatrace::parse_sized(line, out),
        Format::Din => dinero::parse_din(line, out),
        Format::DinExtended => dinero::parse_extended(line, out),
        Format::NativeText => native_text::parse(line, out),
        Format::ChampSim | Format::ChampSimCloudsuite | Format::Native | Format::DrMemtrace => {
            Err("a binary format has no lines".to_string())
        }
    }
}

/// Whether `line` (trimmed), which `format` did not parse, starts like one of its records: then
/// it is an error (a malformed record); otherwise it is noise, skipped and counted.
pub(crate) fn looks_like(format: Format, line: &[u8]) -> bool {
    match format {
        Format::Lackey => lackey::looks_like(line),
        Format::HexRw => hexrw::looks_like(line),
        Format::OpFirst => hexrw::looks_like_op_first(line),
        Format::Pinatrace | Format::PinatraceSized => pinatrace::looks_like(line),
        Format::Din => dinero::looks_like_din(line),
        Format::DinExtended => dinero::looks_like_extended(line),
        Format::NativeText => native_text::looks_like(line),
        Format::ChampSim | Format::ChampSimCloudsuite | Format::Native | Format::DrMemtrace => {
            false
        }
    }
}

/// Whether `line` (trimmed, not skipped) is a record of `f` that counts toward recognising it.
fn votes_for(f: Format, line: &[u8], scratch: &mut Vec<Access>) -> bool {
    if f == Format::OpFirst && !hexrw::votes_op_first(line) {
        return false;
    }
    scratch.clear();
    parse_line(f, line, scratch).is_ok()
}

/// The text format of one `line` (trimmed, not skipped): the first format, in detection order,
/// that parses it.
pub(crate) fn detect(line: &[u8]) -> Option<Format> {
    if native_text::sniff(line) {
        return Some(Format::NativeText);
    }
    let mut scratch = Vec::with_capacity(2);
    TEXT_FORMATS
        .iter()
        .copied()
        .find(|f| votes_for(*f, line, &mut scratch))
}

/// Recognises the format of a text trace that starts with `data` (`whole`: `data` is all of
/// it): among the lines wholly inside the first [`DETECT_BYTES`] (the first [`DETECT_LINES`] of
/// them that are not skipped), the format that parses the most; on a tie, the one that parsed
/// an earlier line, then the earlier in detection order. Noise around the records (a program's output, banners) does not decide.
/// `None` if no line there parses in any format.
pub(crate) fn detect_window(data: &[u8], whole: bool) -> Option<Format> {
    let window = if whole && data.len() <= DETECT_BYTES {
        data
    } else {
        let cut = &data[..data.len().min(DETECT_BYTES)];
        memchr::memrchr(b'\n', cut).map_or(&cut[..0], |i| &cut[..i + 1])
    };
    let mut votes = [0usize; TEXT_FORMATS.len()];
    let mut first = [usize::MAX; TEXT_FORMATS.len()];
    let mut scratch = Vec::with_capacity(2);
    let mut seen = 0;
    for raw in window.split(|b| *b == b'\n') {
        if raw.len() > MAX_LINE_BYTES {
            continue;
        }
        let line = trim(raw);
        if is_skipped(line) {
            continue;
        }
        if seen == 0 && native_text::sniff(line) {
            return Some(Format::NativeText);
        }
        for (i, f) in TEXT_FORMATS.iter().enumerate() {
            if votes_for(*f, line, &mut scratch) {
                votes[i] += 1;
                first[i] = first[i].min(seen);
            }
        }
        seen += 1;
        if seen == DETECT_LINES {
            break;
        }
    }
    (0..TEXT_FORMATS.len())
        .filter(|i| votes[*i] > 0)
        .min_by_key(|i| (std::cmp::Reverse(votes[*i]), first[*i], *i))
        .map(|i| TEXT_FORMATS[i])
}

/// The first line of `data` whose format [`detect`] finds, and where it starts: how a trace
/// whose first [`DETECT_BYTES`] hold no record is recognised (the same line a sequential read
/// finds it on).
pub(crate) fn detect_first(data: &[u8]) -> Option<(Format, usize)> {
    let mut p = 0;
    while p < data.len() {
        let end = memchr::memchr(b'\n', &data[p..]).map_or(data.len(), |i| p + i);
        let raw = &data[p..end];
        if raw.len() <= MAX_LINE_BYTES {
            let line = trim(raw);
            if !is_skipped(line) {
                if let Some(f) = detect(line) {
                    return Some((f, p));
                }
            }
        }
        p = end + 1;
    }
    None
}

/// What one line of text was.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A record (its accesses pushed).
    Rec(Rec),
    /// Blank, a comment or a Valgrind message: skipped, not counted.
    Blank,
    /// Not a record of the format (nor, before the format is known, of any): skipped and
    /// counted.
    Noise,
}

/// Handles one raw line (its `\n` cut off): skips comments, detects the format if it is not
/// known yet, parses. A line that does not parse is noise unless it starts like a record of
/// the format, which is an error; so is a line longer than [`MAX_LINE_BYTES`] that starts like
/// one (only its first [`MAX_LINE_BYTES`] are looked at, so that a stream need not hold it).
#[inline]
pub(crate) fn handle_line(
    raw: &[u8],
    format: &mut Option<Format>,
    out: &mut Vec<Access>,
) -> Result<Line, TraceErrorKind> {
    if raw.len() > MAX_LINE_BYTES {
        return long_line(&raw[..MAX_LINE_BYTES], *format);
    }
    let line = trim(raw);
    if is_skipped(line) {
        return Ok(Line::Blank);
    }
    let f = match *format {
        Some(f) => f,
        None => match detect(line) {
            Some(f) => {
                *format = Some(f);
                f
            }
            None => return Ok(Line::Noise),
        },
    };
    match parse_line(f, line, out) {
        Ok(r) => Ok(Line::Rec(r)),
        Err(reason) if looks_like(f, line) => Err(TraceErrorKind::Malformed {
            format: f.name(),
            text: shown(trim_end(raw)),
            reason,
        }),
        Err(_) => Ok(Line::Noise),
    }
}

/// A line longer than [`MAX_LINE_BYTES`], of which `prefix` is the start.
pub(crate) fn long_line(prefix: &[u8], format: Option<Format>) -> Result<Line, TraceErrorKind> {
    let line = trim(prefix);
    if is_skipped(line) {
        return Ok(Line::Blank);
    }
    match format {
        Some(f) if looks_like(f, line) => Err(TraceErrorKind::LineTooLong {
            format: f.name(),
            text: shown(trim_end(prefix)),
            limit: MAX_LINE_BYTES,
        }),
        _ => Ok(Line::Noise),
    }
}

/// The text of a noise line as a message shows it.
pub(crate) fn noise_text(raw: &[u8]) -> String {
    shown(trim_end(&raw[..raw.len().min(MAX_LINE_BYTES)]))
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
    /// Lines of noise skipped (see [`Line::Noise`]).
    pub noise: u64,
    /// The first of them: its line in the chunk and its text as shown.
    pub first_noise: Option<(u64, String)>,
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
    /// The page runs of each batch, in order, when found where the chunk was parsed
    /// ([`Chunk::find_runs`]); empty otherwise.
    pub runs: Vec<Vec<RunStart>>,
    /// Empty run lists to fill before allocating.
    pub spare_runs: Vec<Vec<RunStart>>,
}

impl Chunk {
    /// Finds the page runs of every batch ([`page_runs`]) into [`Chunk::runs`].
    pub(crate) fn find_runs(&mut self) {
        for b in &self.batches {
            let mut r = self.spare_runs.pop().unwrap_or_default();
            page_runs(b, &mut r);
            self.runs.push(r);
        }
    }

    fn batch(&mut self) -> Vec<Access> {
        self.spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BATCH))
    }

    fn noise_line(&mut self, line: u64, raw: &[u8]) {
        self.noise += 1;
        if self.first_noise.is_none() {
            self.first_noise = Some((line, noise_text(raw)));
        }
    }

    /// Takes one line's outcome; false when it stops the chunk.
    #[inline]
    fn outcome(
        &mut self,
        line: u64,
        raw: &[u8],
        r: Result<Line, TraceErrorKind>,
        skip_bad: bool,
    ) -> bool {
        match r {
            Ok(Line::Rec(Rec::Other)) => self.ignored += 1,
            Ok(Line::Noise) => self.noise_line(line, raw),
            Ok(_) => {}
            Err(kind) => return self.bad_line(Location::Line(line), kind, skip_bad),
        }
        true
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
        let r = handle_line(raw, &mut chunk.format, &mut batch);
        if !chunk.outcome(line, raw, r, skip_bad) {
            break;
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

/// Takes a line longer than [`MAX_LINE_BYTES`] of a stream, of which only `prefix` was kept,
/// into `chunk` as its one line.
pub(crate) fn parse_long_line(prefix: &[u8], skip_bad: bool, chunk: &mut Chunk) {
    let r = long_line(prefix, chunk.format);
    chunk.lines = 1;
    chunk.outcome(1, prefix, r, skip_bad);
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
/// The buffer stays bounded: it grows to hold a line up to [`MAX_LINE_BYTES`] (and the first
/// [`DETECT_BYTES`] for recognising the format), never more; of a longer line only the start is
/// kept, the rest is read and dropped.
pub(crate) struct Stream {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Dropping the rest of an over-long line.
    skipping: bool,
    /// A read error, reported once the whole lines before it are handed out.
    failed: Option<io::Error>,
    /// Decoded bytes handed out so far.
    pub consumed: u64,
}

/// A block of a [`Stream`].
pub(crate) enum Block<'a> {
    /// Whole lines or records.
    Data(&'a [u8]),
    /// The first [`MAX_LINE_BYTES`] of a longer line (the rest is dropped).
    Long(&'a [u8]),
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
            skipping: false,
            failed: None,
            consumed: 0,
        }
    }

    /// The buffer's size, for tests that check it stays bounded.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
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

    /// At least the first `n` bytes of the stream (fewer if it is shorter, or a read failed),
    /// and whether that is all of it. Call before taking any block.
    pub(crate) fn peek(&mut self, n: usize) -> (&[u8], bool) {
        while !self.eof && self.failed.is_none() && self.end - self.start < n {
            if let Err(e) = self.fill() {
                self.failed = Some(e);
            }
        }
        (
            &self.buf[self.start..self.end],
            self.eof && self.failed.is_none(),
        )
    }

    /// Drops the rest of an over-long line, up to and including its `\n`.
    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        while self.skipping {
            let window = &self.buf[self.start..self.end];
            match memchr::memchr(b'\n', window) {
                Some(i) => {
                    self.start += i + 1;
                    self.consumed += i as u64 + 1;
                    self.skipping = false;
                }
                None => {
                    self.consumed += window.len() as u64;
                    self.start = self.end;
                    if self.eof {
                        self.skipping = false;
                    } else if let Some(e) = self.failed.take() {
                        return Err(e);
                    } else {
                        self.fill()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The next block of at least `want` bytes of whole lines (fewer at the end of the stream,
    /// or before a read error), ending after a `\n` or at the end of the stream; or the start
    /// of a line longer than [`MAX_LINE_BYTES`].
    pub(crate) fn next_lines(&mut self, want: usize) -> io::Result<Block<'_>> {
        self.skip_rest_of_line()?;
        loop {
            let avail = self.end - self.start;
            if self.eof {
                if avail == 0 {
                    return Ok(Block::End);
                }
                return Ok(self.take(avail));
            }
            let window = &self.buf[self.start..self.end];
            if avail >= want || self.failed.is_some() {
                if let Some(i) = memchr::memrchr(b'\n', window) {
                    return Ok(self.take(i + 1));
                }
            }
            if avail > MAX_LINE_BYTES && memchr::memchr(b'\n', window).is_none() {
                // The line at `start` is over-long: hand out its start, drop the rest.
                self.skipping = true;
                return Ok(Block::Long(
                    &self.buf[self.start..self.start + MAX_LINE_BYTES],
                ));
            }
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            if let Err(e) = self.fill() {
                self.failed = Some(e);
            }
        }
    }

    /// The next block of at least `want` bytes of whole records of `size` bytes (fewer at the
    /// end of the stream).
    pub(crate) fn next_records(&mut self, want: usize, size: usize) -> io::Result<Block<'_>> {
        loop {
            let avail = self.end - self.start;
            if self.eof || avail >= want.max(size) || self.failed.is_some() {
                let whole = avail / size * size;
                if whole > 0 {
                    return Ok(self.take(whole));
                }
                if let Some(e) = self.failed.take() {
                    return Err(e);
                }
                if self.eof {
                    return Ok(if avail == 0 {
                        Block::End
                    } else {
                        Block::Partial(avail)
                    });
                }
            }
            if let Err(e) = self.fill() {
                self.failed = Some(e);
            }
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
            (b"I 4001000", Some(Format::Lackey)),
            (b"S zzzz", None),
            (b"W 0xbff05e7c", Some(Format::OpFirst)),
            (b"W 0xbff05e7c 4", Some(Format::OpFirst)),
            (b"w 1000 10", Some(Format::DinExtended)),
            (b"M 3000 10", Some(Format::DinExtended)),
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

        // An over-long line: its start, then the lines after it; the buffer stays bounded.
        let mut text = b"0 1\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 10 * MAX_LINE_BYTES));
        text.extend_from_slice(b"\n2 3\n");
        let mut s = Stream::new(Box::new(io::Cursor::new(text)), 3);
        let mut seen = Vec::new();
        loop {
            match s.next_lines(3).unwrap() {
                Block::Data(b) => seen.push(String::from_utf8_lossy(b).into_owned()),
                Block::Long(p) => seen.push(format!("long {}", p.len())),
                _ => break,
            }
        }
        assert_eq!(
            seen,
            ["0 1\n", format!("long {MAX_LINE_BYTES}").as_str(), "2 3\n"]
        );
        assert!(s.capacity() <= 2 * MAX_LINE_BYTES + 2, "{}", s.capacity());

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
                Block::End | Block::Long(_) => panic!("the partial record is reported"),
            }
        }
    }

    /// What a chunk's parse gave, comparable: accesses, counts, the first noise, the bad
    /// lines and the error, each with its line.
    type Seen = (
        Vec<Access>,
        u64,
        u64,
        u64,
        Option<(u64, String)>,
        Vec<(Location, String)>,
        Option<(Location, String)>,
    );

    fn seen(c: Chunk) -> Seen {
        let show = |(l, k): (Location, TraceErrorKind)| (l, k.to_string());
        (
            c.batches.concat(),
            c.lines,
            c.noise,
            c.bad,
            c.first_noise,
            c.first_bad.into_iter().map(show).collect(),
            c.error.map(show),
        )
    }

    /// The reference: every line through the strict parser ([`handle_line`]), no fast path.
    fn strict(data: &[u8], skip_bad: bool, format: Option<Format>) -> Seen {
        let mut c = Chunk {
            format,
            ..Chunk::default()
        };
        let mut out = Vec::new();
        let mut line = 0;
        for raw in data.split_inclusive(|b| *b == b'\n') {
            line += 1;
            let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
            let r = handle_line(raw, &mut c.format, &mut out);
            if !c.outcome(line, raw, r, skip_bad) {
                break;
            }
        }
        c.lines = line;
        c.batches = vec![out];
        seen(c)
    }

    /// A line like lackey's own (kind, padding, hex digits, comma, size), often damaged, or
    /// noise, or a line of another format.
    fn lackey_ish() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let record = (
            prop::sample::select(vec![
                "I  ", " L ", " S ", " M ", "I ", " L  ", "X  ", "  I ",
            ]),
            "[0-9a-fA-F]{1,18}",
            prop::sample::select(vec![",", ",0", ",", ""]),
            "[0-9]{0,11}",
            prop::sample::select(vec!["", "", "", "\r", " ", "\t", "x"]),
            any::<Option<(usize, u8)>>(),
        )
            .prop_map(|(kind, addr, comma, size, end, damage)| {
                let mut l = format!("{kind}{addr}{comma}{size}{end}").into_bytes();
                if let Some((at, b)) = damage {
                    let at = at % l.len();
                    l[at] = b" ,:xXzg\r0\x80\xff"[usize::from(b) % 11];
                }
                l
            });
        let other = prop::sample::select(vec![
            "",
            "==12== valgrind",
            "# comment",
            "total 9624",
            "0041f7a0 R",
            "I have a dream",
            " L zz,4",
            " L ffffffffffffffff,2",
            "\u{feff}I  10,4",
        ])
        .prop_map(|s| s.as_bytes().to_vec());
        prop_oneof![8 => record, 1 => other, 1 => "[ -~]{0,40}".prop_map(String::into_bytes)]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// The fast paths give what the strict parser gives on every line: the same accesses,
        /// the same noise and bad lines, the same error on the same line.
        #[test]
        fn fast_paths_equal_the_strict_parser(
            lines in proptest::collection::vec(lackey_ish(), 0..60),
            final_newline in proptest::prelude::any::<bool>(),
            skip_bad in proptest::prelude::any::<bool>(),
            detect in proptest::prelude::any::<bool>(),
        ) {
            let mut data = lines.join(&b'\n');
            if final_newline && !data.is_empty() {
                data.push(b'\n');
            }
            let format = (!detect).then_some(Format::Lackey);
            let mut chunk = Chunk {
                format,
                ..Chunk::default()
            };
            parse_text(&data, skip_bad, &mut chunk);
            proptest::prop_assert_eq!(seen(chunk), strict(&data, skip_bad, format));
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
