//! Reading and appending results files (`results.csv` of `ptbench run --csv`, a sweep, a merge).
//!
//! The reader streams its input (a `csv::Reader` over the file, never the whole file in memory at
//! once) and is bounded: a line longer than [`MAX_LINE_BYTES`], a file larger than [`MAX_BYTES`]
//! or holding more than [`MAX_ROWS`] rows, and input whose first bytes are not the results header
//! (`/dev/zero`, a trace given by mistake) are refused at once with the limit named. It is strict,
//! so that `report` and `merge` never show numbers that are not in the file:
//! - the header must hold every column ptbench writes ([`columns`]), each once, and no other (a
//!   column ptbench does not write would be lost by a merge, so it is refused too); their order is
//!   free;
//! - every row has one field per column, each of its column's type (nothing defaults to 0), the
//!   per-level and histogram columns in their `1;1;2` and `refs:walks;...` forms;
//! - a last line without its newline (a write interrupted by a full disk or a kill) is refused
//!   with [`CutLine::Refuse`], or dropped and reported with [`CutLine::Drop`] (what
//!   `ptbench sweep --resume` uses before appending).
//!
//! Errors are [`SweepError::Malformed`] naming the file, the line and, where there is one, the
//! column. Text fields are unescaped as [`ptbench_results::unescape_text`] says (the formula
//! guard).

use crate::SweepError;
pub use ptbench_results::columns;
use ptbench_results::RunRow;
use std::io::{self, Read, Write};
use std::path::Path;

/// The longest line a results file may have (a real row is under 1 KiB, histograms included).
pub const MAX_LINE_BYTES: u64 = 1 << 20;
/// The most bytes a results file may have (1 GiB).
pub const MAX_BYTES: u64 = 1 << 30;
/// The most rows a results file may hold.
pub const MAX_ROWS: usize = 1_000_000;

/// The most bytes a sweep manifest (`sweep.toml`) may have: its cell keys, about 100 bytes a
/// cell, for [`MAX_ROWS`] cells.
pub const MAX_MANIFEST_BYTES: u64 = 128 << 20;

/// The text of the file at `path`, refused (naming `limit`) if it holds more than `limit` bytes
/// or is not UTF-8; never reads more than `limit + 1` bytes.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, SweepError> {
    let bad = |message: String| SweepError::Malformed {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|error| SweepError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| SweepError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    if bytes.len() as u64 > limit {
        return Err(bad(format!(
            "larger than {} MiB, the most this file may be",
            limit >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        bad(format!(
            "not UTF-8 text (byte {} is not)",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// What the reader does with a last line that has no newline at its end.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CutLine {
    /// An error naming the line (`report`, `merge`).
    Refuse,
    /// Dropped, and said in [`Results::dropped`] (`sweep --resume`, which cuts it off the file).
    Drop,
}

/// A last line without its newline that [`CutLine::Drop`] dropped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// Its line number (1-based).
    pub line: u64,
    /// Its length in bytes (what the file holds beyond its last newline).
    pub bytes: u64,
}

/// A results file's rows, each with the line it starts on.
#[derive(Clone, Debug, Default)]
pub struct Results {
    /// The rows, in file order.
    pub rows: Vec<RunRow>,
    /// `lines[i]` is the line (1-based) `rows[i]` starts on.
    pub lines: Vec<u64>,
    /// The cut-off last line dropped under [`CutLine::Drop`].
    pub dropped: Option<Dropped>,
}

/// Reads the results file at `path` (see the module's doc for what is refused).
pub fn read_results(path: &Path, cut: CutLine) -> Result<Results, SweepError> {
    let file = std::fs::File::open(path).map_err(|error| SweepError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    read_results_from(file, path, cut)
}

/// Reads results from `reader`; errors name it `name`. Empty input has no rows.
pub fn read_results_from(
    reader: impl Read,
    name: &Path,
    cut: CutLine,
) -> Result<Results, SweepError> {
    read_limited(reader, name, cut, Limits::DEFAULT)
}

/// Reads the results file at `path` as `report` does (a cut-off last line refused), holding at
/// most `max_rows` rows (and never more than [`MAX_ROWS`]): more is
/// [`SweepError::TooManyRows`], found while reading, so memory stays bounded by the limit.
pub fn read_rows_at_most(path: &Path, max_rows: usize) -> Result<Vec<RunRow>, SweepError> {
    let file = std::fs::File::open(path).map_err(|error| SweepError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let limits = Limits {
        rows: max_rows.min(MAX_ROWS),
        ..Limits::DEFAULT
    };
    Ok(read_limited(file, path, CutLine::Refuse, limits)?.rows)
}

/// The reader's bounds (smaller ones in tests).
#[derive(Copy, Clone, Debug)]
struct Limits {
    line: u64,
    bytes: u64,
    rows: usize,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        line: MAX_LINE_BYTES,
        bytes: MAX_BYTES,
        rows: MAX_ROWS,
    };
}

fn read_limited(
    reader: impl Read,
    name: &Path,
    cut: CutLine,
    limits: Limits,
) -> Result<Results, SweepError> {
    let bad = |message: String| SweepError::Malformed {
        path: name.to_path_buf(),
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Guard::new(reader, limits));
    let mut out = Results::default();
    let mut header: Option<csv::StringRecord> = None;
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                if let Some(limit) = rdr.get_ref().failure.clone() {
                    return Err(bad(limit));
                }
                let message = e.to_string();
                return Err(match e.into_kind() {
                    csv::ErrorKind::Io(error) => SweepError::Io {
                        path: name.to_path_buf(),
                        error,
                    },
                    _ => bad(message),
                });
            }
        }
        let (line, start) = rec.position().map_or((0, 0), |p| (p.line(), p.byte()));
        let g = rdr.get_ref();
        if g.eof && g.last != Some(b'\n') {
            match cut {
                CutLine::Refuse => {
                    return Err(bad(format!(
                        "line {line} is cut off (no newline at its end): a write was interrupted; \
                         `ptbench sweep --resume` repairs a sweep's results"
                    )))
                }
                CutLine::Drop => {
                    out.dropped = Some(Dropped {
                        line,
                        bytes: g.total - start,
                    });
                    break;
                }
            }
        }
        let fields =
            csv::StringRecord::from_byte_record(std::mem::take(&mut rec)).map_err(|e| {
                let column = e.utf8_error().field();
                let column = match &header {
                    Some(h) => h.get(column).unwrap_or("?").to_string(),
                    None => format!("#{}", column + 1),
                };
                bad(format!("line {line}, column `{column}`: not UTF-8 text"))
            })?;
        let Some(h) = &header else {
            check_header(&fields).map_err(|m| bad(format!("line {line}: {m}")))?;
            header = Some(fields);
            continue;
        };
        if fields.len() != h.len() {
            let what = if fields.len() < h.len() {
                format!(
                    "column `{}` and those after it are missing",
                    &h[fields.len()]
                )
            } else {
                "more fields than columns".to_string()
            };
            return Err(bad(format!(
                "line {line} has {} fields for the header's {} columns ({what})",
                fields.len(),
                h.len()
            )));
        }
        if out.rows.len() >= limits.rows {
            return Err(SweepError::TooManyRows {
                path: name.to_path_buf(),
                line,
                limit: limits.rows,
            });
        }
        let row: RunRow = fields.deserialize(Some(h)).map_err(|e| {
            bad(match e.kind() {
                csv::ErrorKind::Deserialize { err, .. } => match err.field() {
                    Some(i) => format!(
                        "line {line}, column `{}`: `{}` {}",
                        h.get(i as usize).unwrap_or("?"),
                        fields.get(i as usize).unwrap_or(""),
                        err.kind()
                    ),
                    None => format!("line {line}: {}", err.kind()),
                },
                _ => format!("line {line}: {e}"),
            })
        })?;
        check_lists(&row)
            .map_err(|(column, m)| bad(format!("line {line}, column `{column}`: {m}")))?;
        out.rows.push(row);
        out.lines.push(line);
    }
    Ok(out)
}

/// Reads the rows of `reader` (named `name` in errors), refusing a cut-off last line.
pub fn read_rows_from(reader: impl Read, name: &Path) -> Result<Vec<RunRow>, SweepError> {
    Ok(read_results_from(reader, name, CutLine::Refuse)?.rows)
}

/// Every column once, no other.
fn check_header(h: &csv::StringRecord) -> Result<(), String> {
    let all = columns();
    let mut seen = std::collections::HashSet::new();
    for c in h {
        if !all.iter().any(|k| k == c) {
            return Err(format!(
                "column `{c}` is not a column ptbench writes (a merge or rewrite would lose it)"
            ));
        }
        if !seen.insert(c) {
            return Err(format!("column `{c}` appears twice"));
        }
    }
    // A file of an earlier ptbench lacks the columns added after it: the later columns may miss
    // as a tail of LATER_COLUMNS (columns are only ever added at the end).
    let later = ptbench_results::LATER_COLUMNS;
    let missing_later: Vec<&str> = later
        .iter()
        .copied()
        .filter(|c| !seen.contains(c))
        .collect();
    let older_file = later.ends_with(&missing_later);
    let missing: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|c| !seen.contains(c))
        .filter(|c| !older_file || !later.contains(c))
        .collect();
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(format!("column `{one}` is missing")),
        many => Err(format!(
            "{} columns are missing: `{}`{}",
            many.len(),
            many[..many.len().min(5)].join("`, `"),
            if many.len() > 5 { ", ..." } else { "" }
        )),
    }
}

/// The `;`-separated columns in their forms: counts (`1;1;2`), or `refs:walks` pairs.
fn check_lists(r: &RunRow) -> Result<(), (&'static str, String)> {
    let counts = |text: &str| text.is_empty() || text.split(';').all(|n| n.parse::<u64>().is_ok());
    for (column, text) in [
        ("tables_per_level", &r.tables_per_level),
        ("pwc_hits_per_level", &r.pwc_hits_per_level),
    ] {
        if !counts(text) {
            return Err((
                column,
                format!("`{text}` is not counts separated by `;` (like `1;1;2`)"),
            ));
        }
    }
    for (column, h, unit) in [
        ("walk_refs_histogram", &r.walk_refs_histogram, "refs:walks"),
        (
            "walk_cycles_histogram",
            &r.walk_cycles_histogram,
            "cycles:walks",
        ),
    ] {
        if h.is_empty() {
            continue;
        }
        for pair in h.split(';') {
            let ok = pair
                .split_once(':')
                .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok());
            if !ok {
                return Err((
                    column,
                    format!(
                        "`{h}` is not `{unit}` count pairs separated by `;` (like `1:5;4:380`): `{pair}`"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The input of the reader, bounded: counts bytes, lines and the bytes of the current line, and
/// fails (with [`Guard::failure`] set) on the first byte that is not the header's start, a line
/// over [`MAX_LINE_BYTES`] or a total over [`MAX_BYTES`].
struct Guard<R> {
    inner: R,
    /// Bytes read so far.
    total: u64,
    /// The current line, 1-based.
    line: u64,
    /// Bytes of the current line so far.
    run: u64,
    /// The last byte read.
    last: Option<u8>,
    /// The input has ended.
    eof: bool,
    /// Why reading stopped at a limit.
    failure: Option<String>,
    limits: Limits,
}

impl<R: Read> Guard<R> {
    fn new(inner: R, limits: Limits) -> Guard<R> {
        Guard {
            inner,
            total: 0,
            line: 1,
            run: 0,
            last: None,
            eof: false,
            failure: None,
            limits,
        }
    }

    fn fail(&mut self, why: String) -> io::Error {
        self.failure = Some(why.clone());
        io::Error::new(io::ErrorKind::InvalidData, why)
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = &self.failure {
            return Err(io::Error::new(io::ErrorKind::InvalidData, f.clone()));
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.eof = true;
            return Ok(0);
        }
        let start = ptbench_results::CSV_HEADER_START.as_bytes();
        for (i, &b) in buf[..n].iter().enumerate() {
            let at = self.total + i as u64;
            if let Some(&want) = start.get(at as usize) {
                if b != want {
                    return Err(self.fail(format!(
                        "not a ptbench results file (it does not start with `{}`)",
                        ptbench_results::CSV_HEADER_START
                    )));
                }
            }
            if b == b'\n' {
                self.line += 1;
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > self.limits.line {
                    let line = self.line;
                    return Err(self.fail(format!(
                        "line {line} is longer than {}: not a ptbench results file",
                        size(self.limits.line)
                    )));
                }
            }
        }
        self.total += n as u64;
        if self.total > self.limits.bytes {
            return Err(self.fail(format!(
                "larger than {}, the most a results file may be",
                size(self.limits.bytes)
            )));
        }
        self.last = Some(buf[n - 1]);
        Ok(n)
    }
}

/// `n` bytes as `1 MiB`, `1 GiB` (whole units), or `n bytes`.
fn size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}

/// Appends `bytes` (whole rows) to the end of `file` and syncs it: all of them or none. On an
/// error (a full disk midway, a failed sync) the file is cut back to its length before the write
/// and the error returned, so that it never ends in a partial row.
pub fn append_whole(file: &mut std::fs::File, bytes: &[u8]) -> io::Result<()> {
    let before = file.metadata()?.len();
    write_whole(file, bytes, |f| f.sync_data(), |f| f.set_len(before))
}

/// [`append_whole`] over any writer: `write_all` then `sync`; on an error of either, `undo`.
fn write_whole<W: Write>(
    w: &mut W,
    bytes: &[u8],
    sync: impl FnOnce(&mut W) -> io::Result<()>,
    undo: impl FnOnce(&mut W) -> io::Result<()>,
) -> io::Result<()> {
    let done = w
        .write_all(bytes)
        .and_then(|()| w.flush())
        .and_then(|()| sync(w));
    match done {
        Ok(()) => Ok(()),
        Err(e) => match undo(w) {
            Ok(()) => Err(e),
            Err(u) => Err(io::Error::new(
                e.kind(),
                format!("{e} (and cutting the partial rows off failed: {u}; `ptbench sweep --resume` repairs it)"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cell: &str) -> RunRow {
        RunRow {
            trace: "t.lackey".into(),
            design: "x86-64".into(),
            accesses: 7,
            walk_refs_histogram: "1:2;4:10".into(),
            tables_per_level: "1;1;2".into(),
            cell: cell.into(),
            // What a file without these columns reads them as.
            cores: 1,
            shootdown: "precise".into(),
            ..RunRow::default()
        }
    }

    /// The header and the rows of `cells` as a results file's text.
    fn file(cells: &[&str]) -> String {
        let rows: Vec<RunRow> = cells.iter().map(|c| row(c)).collect();
        crate::header_line() + &String::from_utf8(crate::row_lines(&rows).unwrap()).unwrap()
    }

    fn read(text: &str) -> Result<Vec<RunRow>, String> {
        read_rows_from(text.as_bytes(), Path::new("r.csv")).map_err(|e| e.to_string())
    }

    fn read_with(input: impl Read, limits: Limits) -> String {
        read_limited(input, Path::new("r.csv"), CutLine::Refuse, limits)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn rows_read_back_as_written() {
        let rows = read(&file(&["a", "b"])).unwrap();
        assert_eq!(rows, vec![row("a"), row("b")]);
        assert_eq!(read("").unwrap(), vec![]);
        assert_eq!(read(&crate::header_line()).unwrap(), vec![]);
        assert_eq!(columns().len(), 115);
        assert_eq!(columns()[0], "trace");
        assert_eq!(columns()[65], "os");
        assert_eq!(columns()[66], "cache");
        assert_eq!(columns()[86], "cache_llc_misses");
        assert_eq!(columns()[88], "walk_cycles_histogram");
        assert_eq!(columns()[89], "guest_refs");
        assert_eq!(columns()[97], "hpwc_misses");
        assert_eq!(columns()[98], "host_evictions");
        assert_eq!(columns()[99], "fragmentation");
        assert_eq!(columns()[106], "fragmentation_index");
    }

    #[test]
    fn files_of_earlier_versions_read_the_later_columns_as_defaults() {
        // A results file cut to its first `n` columns, as an earlier ptbench wrote it.
        let first = |text: &str, n: usize| -> String {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(text.as_bytes());
            let mut w = csv::Writer::from_writer(Vec::new());
            for rec in r.records() {
                w.write_record(rec.unwrap().iter().take(n)).unwrap();
            }
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        };
        // The first 66 columns only, as ptbench wrote them before the cache model.
        let rows = read(&first(&file(&["a"]), 66)).unwrap();
        let mut want = row("a");
        want.cache = "none".into();
        want.placement = "os".into();
        assert_eq!(rows, vec![want]);
        // The 87 columns of the first cache model, before fault_cycles and the cycle histogram.
        let mut r = row("a");
        r.fault_cycles = 7;
        r.walk_cycles_histogram = "4:1".into();
        let text = crate::header_line()
            + &String::from_utf8(crate::row_lines(std::slice::from_ref(&r)).unwrap()).unwrap();
        let mut want = r.clone();
        want.fault_cycles = 0;
        want.walk_cycles_histogram = String::new();
        assert_eq!(read(&first(&text, 87)).unwrap(), vec![want]);
        // The 89 columns before nested designs: their columns read as 0.
        let mut r = row("a");
        (r.guest_refs, r.host_refs, r.host_walks, r.ntlb_hits) = (5, 7, 2, 1);
        (r.ntlb_misses, r.guest_faults, r.host_faults) = (2, 3, 4);
        (r.hpwc_hits, r.hpwc_misses, r.host_evictions) = (1, 1, 6);
        let text = crate::header_line()
            + &String::from_utf8(crate::row_lines(std::slice::from_ref(&r)).unwrap()).unwrap();
        let want = RunRow {
            guest_refs: 0,
            host_refs: 0,
            host_walks: 0,
            ntlb_hits: 0,
            ntlb_misses: 0,
            guest_faults: 0,
            host_faults: 0,
            hpwc_hits: 0,
            hpwc_misses: 0,
            host_evictions: 0,
            ..r.clone()
        };
        assert_eq!(read(&first(&text, 89)).unwrap(), vec![want]);
        assert_eq!(read(&text).unwrap(), vec![r]);
        // The 99 columns before physical memory as a buddy allocator: its columns read as 0.
        let mut r = row("a");
        (
            r.fragmentation,
            r.thp_faults,
            r.thp_fallbacks,
            r.thp_promotions,
        ) = (0.5, 3, 2, 1);
        (
            r.thp_splits,
            r.compaction_migrations,
            r.free_huge_blocks_min,
        ) = (4, 5, 6);
        r.fragmentation_index = 0.25;
        (r.cores, r.threads, r.quantum) = (4, 9, 1000);
        r.shootdown = "broadcast".into();
        (
            r.shootdown_events,
            r.shootdown_ipis,
            r.remote_invalidations,
            r.shootdown_cycles,
        ) = (2, 6, 12, 21000);
        let text = crate::header_line()
            + &String::from_utf8(crate::row_lines(std::slice::from_ref(&r)).unwrap()).unwrap();
        let want = RunRow {
            fragmentation: 0.0,
            thp_faults: 0,
            thp_fallbacks: 0,
            thp_promotions: 0,
            thp_splits: 0,
            compaction_migrations: 0,
            free_huge_blocks_min: 0,
            fragmentation_index: 0.0,
            cores: 1,
            threads: 0,
            shootdown: "precise".into(),
            quantum: 0,
            shootdown_events: 0,
            shootdown_ipis: 0,
            remote_invalidations: 0,
            shootdown_cycles: 0,
            ..r.clone()
        };
        assert_eq!(read(&first(&text, 99)).unwrap(), vec![want]);
        assert_eq!(read(&text).unwrap(), vec![r]);
        let text = file(&["a"]);
        // Some later columns but not all: refused, naming them.
        let (header, rest) = text.split_once('\n').unwrap();
        let partial = header.replacen(",walk_cycles,", ",", 1);
        let rest = rest.replacen(
            ",0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n",
            ",0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n",
            1,
        );
        assert_eq!(
            read(&format!("{partial}\n{rest}")).unwrap_err(),
            "r.csv: line 1: column `walk_cycles` is missing"
        );
    }

    #[test]
    fn formula_like_names_round_trip_through_the_file() {
        let mut r = row("trace=+SUM(1+1).lackey|design=x86-64");
        r.trace = "+SUM(1+1).lackey".into();
        r.design = "'-odd".into();
        let text = crate::header_line()
            + &String::from_utf8(crate::row_lines(std::slice::from_ref(&r)).unwrap()).unwrap();
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("'+SUM(1+1).lackey,''-odd,7,"),
            "{text}"
        );
        assert_eq!(read(&text).unwrap(), vec![r]);
    }

    #[test]
    fn lines_over_the_limit_are_refused_in_bounded_memory() {
        assert_eq!(MAX_LINE_BYTES, 1 << 20);
        // The header's start, then a line that never ends.
        let endless = "trace,design,".as_bytes().chain(io::repeat(b'a'));
        assert_eq!(
            read_rows_from(endless, Path::new("r.csv"))
                .unwrap_err()
                .to_string(),
            "r.csv: line 1 is longer than 1 MiB: not a ptbench results file"
        );
        let small = Limits {
            line: 2000,
            ..Limits::DEFAULT
        };
        let second = file(&["a"]) + &"x".repeat(2001) + "\n";
        assert_eq!(
            read_with(second.as_bytes(), small),
            "r.csv: line 3 is longer than 2000 bytes: not a ptbench results file"
        );
    }

    #[test]
    fn dev_zero_and_other_files_are_refused_at_their_first_byte() {
        let zeros = io::repeat(0);
        assert_eq!(
            read_rows_from(zeros, Path::new("/dev/zero"))
                .unwrap_err()
                .to_string(),
            "/dev/zero: not a ptbench results file (it does not start with `trace,design,`)"
        );
        assert_eq!(
            crate::read_rows(Path::new("/dev/zero"))
                .unwrap_err()
                .to_string(),
            "/dev/zero: not a ptbench results file (it does not start with `trace,design,`)"
        );
        assert_eq!(
            read(" S 7ff000,4\n").unwrap_err(),
            "r.csv: not a ptbench results file (it does not start with `trace,design,`)"
        );
    }

    #[test]
    fn size_and_row_limits_are_named() {
        assert_eq!((MAX_BYTES, MAX_ROWS), (1 << 30, 1_000_000));
        let text = file(&["a", "b", "c"]);
        let rows = Limits {
            rows: 2,
            ..Limits::DEFAULT
        };
        assert_eq!(
            read_with(text.as_bytes(), rows),
            "r.csv: line 4: more than 2 rows, the most a results file may hold"
        );
        let bytes = Limits {
            bytes: 2 << 20,
            ..Limits::DEFAULT
        };
        let endless = text.as_bytes().chain(io::repeat(b'\n'));
        assert_eq!(
            read_with(endless, bytes),
            "r.csv: larger than 2 MiB, the most a results file may be"
        );
    }

    #[test]
    fn a_cut_off_last_line_is_refused_or_dropped() {
        let whole = file(&["a", "b"]);
        let cut = &whole[..whole.len() - 20];
        assert_eq!(
            read(cut).unwrap_err(),
            "r.csv: line 3 is cut off (no newline at its end): a write was interrupted; \
             `ptbench sweep --resume` repairs a sweep's results"
        );
        let second = whole.lines().nth(2).unwrap().len() as u64;
        let r = read_results_from(cut.as_bytes(), Path::new("r.csv"), CutLine::Drop).unwrap();
        assert_eq!(r.rows, vec![row("a")]);
        assert_eq!(r.lines, vec![2]);
        assert_eq!(
            r.dropped,
            Some(Dropped {
                line: 3,
                bytes: second + 1 - 20
            })
        );
        // A header cut short: no rows.
        let r = read_results_from(
            "trace,design,acc".as_bytes(),
            Path::new("r.csv"),
            CutLine::Drop,
        )
        .unwrap();
        assert_eq!((r.rows.len(), r.dropped.map(|d| d.line)), (0, Some(1)));
        assert_eq!(
            read("trace,design,acc").unwrap_err(),
            "r.csv: line 1 is cut off (no newline at its end): a write was interrupted; \
             `ptbench sweep --resume` repairs a sweep's results"
        );
    }

    #[test]
    fn every_column_is_required_and_no_other() {
        let text = file(&["a"]);
        let (header, rest) = text.split_once('\n').unwrap();
        let no_os = header.replacen(",os,cache,", ",cache,", 1);
        assert_eq!(
            read(&format!("{no_os}\n{rest}")).unwrap_err(),
            "r.csv: line 1: column `os` is missing"
        );
        assert_eq!(
            read(&format!("{header},extra\n{rest}")).unwrap_err(),
            "r.csv: line 1: column `extra` is not a column ptbench writes (a merge or rewrite would lose it)"
        );
        assert_eq!(
            read(&format!("{header},walks\n{rest}")).unwrap_err(),
            "r.csv: line 1: column `walks` appears twice"
        );
        // A row without its last field.
        let short = rest.trim_end().rsplit_once(',').unwrap().0;
        assert_eq!(
            read(&format!("{header}\n{short}\n")).unwrap_err(),
            "r.csv: line 2 has 114 fields for the header's 115 columns (column `shootdown_cycles` and those after it are missing)"
        );
    }

    #[test]
    fn fields_of_the_wrong_form_are_named() {
        let text = file(&["a"]);
        let bad = |from: &str, to: &str| read(&text.replacen(from, to, 1)).unwrap_err();
        assert_eq!(
            bad(",1:2;4:10,", ",4:-5;x:y,"),
            "r.csv: line 2, column `walk_refs_histogram`: `4:-5;x:y` is not `refs:walks` count \
             pairs separated by `;` (like `1:5;4:380`): `4:-5`"
        );
        assert_eq!(
            bad(",1;1;2,", ",1;x,"),
            "r.csv: line 2, column `tables_per_level`: `1;x` is not counts separated by `;` (like `1;1;2`)"
        );
        assert_eq!(
            bad(",x86-64,7,", ",x86-64,seven,"),
            "r.csv: line 2, column `accesses`: `seven` invalid digit found in string"
        );
        assert_eq!(
            bad(",x86-64,7,0,", ",x86-64,7,,"),
            "r.csv: line 2, column `translations`: `` cannot parse integer from empty string"
        );
    }

    /// A writer that takes `room` bytes, then fails as a full disk does.
    struct Full {
        data: Vec<u8>,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room - self.data.len());
            if n == 0 {
                return Err(io::Error::from_raw_os_error(28));
            }
            self.data.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn appends_are_whole_rows_or_nothing() {
        let mut w = Full {
            data: b"header\n".to_vec(),
            room: 20,
        };
        let e = write_whole(
            &mut w,
            b"row one\nrow two\n",
            |_| Ok(()),
            |w| {
                w.data.truncate(7);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        assert_eq!(w.data, b"header\n", "the partial rows are cut off");
        let e = write_whole(
            &mut w,
            b"row one\nrow two\n",
            |_| Ok(()),
            |_| Err(io::Error::other("read-only")),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("(and cutting the partial rows off failed: read-only; `ptbench sweep --resume` repairs it)"),
            "{e}"
        );
        // A failed sync undoes the write too.
        let mut w = Full {
            data: b"header\n".to_vec(),
            room: 100,
        };
        let e = write_whole(
            &mut w,
            b"row\n",
            |_| Err(io::Error::other("sync failed")),
            |w| {
                w.data.truncate(7);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(
            (e.to_string().as_str(), &w.data[..]),
            ("sync failed", &b"header\n"[..])
        );
    }

    #[test]
    fn append_whole_appends_to_a_file_and_cuts_back_on_a_full_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, "header\n").unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        append_whole(&mut f, b"a\nb\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "header\na\nb\n");
        // /dev/full fails every write with ENOSPC.
        if let Ok(mut full) = std::fs::OpenOptions::new().append(true).open("/dev/full") {
            let e = append_whole(&mut full, b"a\n").unwrap_err().to_string();
            assert!(
                e.starts_with("No space left on device (os error 28)"),
                "{e}"
            );
        }
    }
}
