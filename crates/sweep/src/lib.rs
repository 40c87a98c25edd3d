//! Parameter sweeps: an [`Experiment`] names traces and axes; [`run`] replays the cross product
//! of its cells, each trace decoded once and its batches handed to every configuration in
//! parallel, and appends each finished trace's rows to `OUT/results.csv` at once (flushed and
//! synced, whole lines only), so an interrupted sweep keeps every cell it finished and
//! `resume` runs only the missing ones.
//!
//! A sweep directory holds `results.csv` (the stable columns of `ptbench run`, the last one, `cell`,
//! the cell's key), `experiment.toml` (a copy of the experiment) and `sweep.toml` (the manifest:
//! the experiment's hash, the shard, and the cells it owns). [`shards`] splits the cells into N
//! disjoint slices balanced by estimated work (trace length times cells), and [`merge`] joins
//! shard directories back into one, refusing an incomplete or mixed set with the list of what is
//! missing. Results are identical for any number of threads.

pub mod experiment;
pub mod results;

pub use experiment::{Cell, Experiment, ExperimentError, TraceRef, TraceSource};
pub use ptbench_results::{header_line, row_lines};
pub use results::{
    append_whole, read_results, read_results_from, read_rows_at_most, read_rows_from, CutLine,
};

use ptbench_output::Rules;
use ptbench_replay::{replay_trace, run_row, Sim, SimOptions};
use ptbench_results::{looks_like_results, RunRow};
use ptbench_trace::{ReaderOptions, TraceReader};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use thiserror::Error;

/// Why a sweep or a merge stopped.
#[derive(Debug, Error)]
pub enum SweepError {
    /// The experiment is unusable.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// An output could not be written.
    #[error(transparent)]
    Output(#[from] ptbench_output::OutputError),
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
    /// A results or manifest file is not what ptbench writes.
    #[error("{}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A results file holds more rows than the reader was allowed.
    #[error("{}: line {line}: more than {limit} rows, the most a results file may hold", path.display())]
    TooManyRows {
        /// The file.
        path: PathBuf,
        /// The line of the first row beyond the limit.
        line: u64,
        /// The limit.
        limit: usize,
    },
    /// Results from an earlier sweep are in the way.
    #[error("{}: {message}", path.display())]
    Conflict {
        /// The file.
        path: PathBuf,
        /// What to do.
        message: String,
    },
    /// A generated trace could not be made.
    #[error("generating trace `{name}`: {message}")]
    Gen {
        /// The trace's name.
        name: String,
        /// What failed.
        message: String,
    },
    /// Shards to merge do not make one whole sweep.
    #[error("cannot merge: {0}")]
    Incomplete(String),
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> SweepError + '_ {
    move |error| SweepError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// `I/N`: the I-th (0-based) of N disjoint slices of the cells.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This slice, 0 to `count - 1`.
    pub index: u32,
    /// Slices in all.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not I/N (a slice I from 0 to N-1 of N, e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 {
            return Err(format!("`{s}`: N must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "`{s}`: I counts from 0, so it must be below N (the slices of {count} are 0/{count} to {}/{count})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Splits the cells into `n` slices balanced by estimated work (each cell costs its trace's
/// [`TraceRef::work`], so a trace weighs its length times its configurations): [`balance`] of the
/// cells in experiment order, so the split is the same on every machine. `--shard I/N` and the
/// Slurm scripts of `ptbench sweep --emit-slurm` both use this split.
pub fn shards(exp: &Experiment, n: u32) -> Vec<Vec<usize>> {
    balance(&cell_work(exp), n)
}

/// The estimated work of each cell, in experiment order: its trace's [`TraceRef::work`].
pub fn cell_work(exp: &Experiment) -> Vec<u64> {
    let work: Vec<u64> = exp.traces.iter().map(TraceRef::work).collect();
    exp.cells.iter().map(|c| work[c.trace]).collect()
}

/// Assigns items to `n` slices (at least 1) by estimated work: a deterministic greedy
/// longest-processing-time assignment. Items are taken by work descending (ties by position),
/// each to the slice with the least work so far (ties to the lowest index). Returns, for each
/// slice, the positions in `work` of its items in ascending order; every item is in exactly one
/// slice, and slices beyond the number of items are empty. The one balancing implementation of
/// ptbench (`ptbench_slurm::balance` calls it).
pub fn balance(work: &[u64], n: u32) -> Vec<Vec<usize>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = n.max(1) as usize;
    let mut order: Vec<usize> = (0..work.len()).collect();
    order.sort_by(|&a, &b| work[b].cmp(&work[a]).then(a.cmp(&b)));
    let mut out = vec![Vec::new(); n];
    // Least loaded first, then lowest index; u128 so that no sum of u64 works overflows.
    let mut heap: BinaryHeap<Reverse<(u128, usize)>> = (0..n).map(|i| Reverse((0, i))).collect();
    for item in order {
        let Some(Reverse((load, slice))) = heap.pop() else {
            break;
        };
        out[slice].push(item);
        heap.push(Reverse((load + u128::from(work[item]), slice)));
    }
    for s in &mut out {
        s.sort_unstable();
    }
    out
}

/// The manifest of a sweep directory (`sweep.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The experiment's name.
    pub experiment: String,
    /// [`Experiment::hash`], in hex.
    pub experiment_hash: String,
    /// Cells of the whole experiment.
    pub total_cells: usize,
    /// This directory's slice.
    pub shard: Shard,
    /// The cells this directory owns, by index.
    pub cells: Vec<usize>,
    /// Every cell's key, by index (so `merge` can order and name cells without the experiment).
    pub keys: Vec<String>,
    /// The ptbench that wrote it.
    pub ptbench_version: String,
}

/// What a sweep is asked to do.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// The directory of results.
    pub out: PathBuf,
    /// Run only the cells missing from an earlier run's results.
    pub resume: bool,
    /// Start over even if results are there.
    pub force: bool,
    /// Run only this slice.
    pub shard: Shard,
    /// How traces are read.
    pub reader: ReaderOptions,
    /// The most bytes one access may span.
    pub max_access_bytes: u64,
    /// Every design keeps its own TLBs and OS model (see `SimOptions::no_shared_front_end`).
    pub no_shared_front_end: bool,
    /// About the most bytes of simulator state the sweep holds at once (see [`wave_budget`]).
    pub memory_limit: u64,
}

/// Bytes of simulator state per distinct page of a trace, for each front end (the OS model's
/// page records, the TLB-side state and the design's tables): measured on `zipf-4g` of the
/// default experiment, about 120 MB for 651,968 pages behind `skylake` (x86-64 alone).
pub const FRONT_BYTES_PER_PAGE: u64 = 192;

/// Bytes per distinct page of each design that follows a shared front end (its tables in
/// simulated memory): measured on the same trace, flat, hashed and ecpt together hold 156 MB
/// more than one of them alone.
pub const FOLLOWER_BYTES_PER_PAGE: u64 = 128;

/// What one group of cells that share a front end holds for a trace of `pages` distinct pages.
pub fn group_bytes(members: usize, pages: u64) -> u64 {
    let followers = members.saturating_sub(1) as u64;
    pages.saturating_mul(FRONT_BYTES_PER_PAGE + followers * FOLLOWER_BYTES_PER_PAGE)
}

/// The share of `limit` one trace's cells may hold while `concurrent` traces replay at once.
pub fn wave_budget(limit: u64, concurrent: usize) -> u64 {
    limit / concurrent.max(1) as u64
}

/// Splits `groups` (sizes, in order) into waves that each hold at most `budget` bytes for a
/// trace of `pages` distinct pages (`None`: not known yet, so the first wave is the first group
/// alone); every wave has at least one group. Returns how many groups the next wave takes.
pub fn next_wave(groups: &[usize], pages: Option<u64>, budget: u64) -> usize {
    let Some(pages) = pages else {
        return groups.len().min(1);
    };
    let mut held = 0u64;
    let mut n = 0;
    for &members in groups {
        let b = group_bytes(members, pages);
        if n > 0 && held.saturating_add(b) > budget {
            break;
        }
        held = held.saturating_add(b);
        n += 1;
    }
    n
}

/// Splits a share group (its members' weights: 2 for a nested design, which holds two designs'
/// tables, else 1) into consecutive parts that each hold at most `limit` bytes for a trace of
/// `pages` distinct pages, each part with at least one member and its own front end. Returns the
/// parts' lengths; one part (the whole group) when it fits.
pub fn split_group(weights: &[usize], pages: u64, limit: u64) -> Vec<usize> {
    let mut parts = Vec::new();
    let (mut len, mut weight) = (0usize, 0usize);
    for &w in weights {
        if len > 0 && group_bytes(weight + w, pages) > limit {
            parts.push(len);
            (len, weight) = (0, 0);
        }
        len += 1;
        weight += w;
    }
    if len > 0 {
        parts.push(len);
    }
    parts
}

/// What a sweep is about to run, for progress reports.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Cells of this slice.
    pub cells: usize,
    /// Cells found done in the results already.
    pub done_before: usize,
    /// The results file.
    pub results: PathBuf,
    /// Each trace to replay: its index, its size in bytes (the file read) and its cells.
    pub traces: Vec<(usize, u64, usize)>,
}

/// Progress reports of a running sweep (called from worker threads).
pub trait Progress: Sync {
    /// The work ahead, before any trace starts.
    fn planned(&self, _plan: &Plan) {}
    /// A trace starts: its id, its file size and the cells replaying it.
    fn trace_started(&self, trace: usize, id: &str, bytes: u64, cells: usize);
    /// A trace has been read up to `bytes`, `accesses` replayed through its cells.
    fn trace_progress(&self, trace: usize, bytes: u64, accesses: u64);
    /// A wave of a trace's cells is done and its `cells` rows are written (the trace goes on).
    fn wave_done(&self, trace: usize, cells: usize) {
        let _ = (trace, cells);
    }
    /// A trace is done; the `cells` rows written since its last wave.
    fn trace_done(&self, trace: usize, cells: usize);
    /// A note for the user.
    fn note(&self, text: &str);
}

/// What a sweep did.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Cells of this slice.
    pub cells: usize,
    /// Cells replayed now.
    pub ran: usize,
    /// Cells found done in the results already.
    pub resumed: usize,
    /// Cells that failed, with why.
    pub failures: Vec<String>,
    /// The results file.
    pub results: PathBuf,
}

/// The results file of a sweep directory.
pub fn results_path(dir: &Path) -> PathBuf {
    dir.join("results.csv")
}

/// Reads a results file's rows (see [`results`]: bounded, every column required, a cut-off last
/// line refused); errors name the file, the line and the column.
pub fn read_rows(path: &Path) -> Result<Vec<RunRow>, SweepError> {
    Ok(read_results(path, CutLine::Refuse)?.rows)
}

fn write_small(path: &Path, text: &str) -> Result<(), SweepError> {
    write_sweep_file(path, text, false)
}

/// Writes one of a sweep directory's own files (`sweep.toml`, `experiment.toml`,
/// `results.csv`), replacing an existing one only when ptbench wrote it (or `force`): a
/// manifest that parses as one; an experiment copy equal to `text` or beside such a manifest;
/// a results file.
fn write_sweep_file(path: &Path, text: &str, force: bool) -> Result<(), SweepError> {
    let recognise = |p: &Path| is_sweep_file(p, text);
    let kind = match path.file_name().and_then(|n| n.to_str()) {
        Some("sweep.toml") => "a sweep manifest",
        Some("experiment.toml") => "the copy of an experiment",
        _ => "a results file",
    };
    let rules = Rules {
        force,
        ..Rules::new("--out", kind, &recognise)
    };
    Ok(ptbench_report::write_with(path, &rules, |w| {
        w.write_all(text.as_bytes())
    })?)
}

/// Whether the existing file `path` is one a sweep wrote (see [`write_sweep_file`]).
fn is_sweep_file(path: &Path, new_text: &str) -> bool {
    let manifest =
        |p: &Path| std::fs::read_to_string(p).is_ok_and(|t| toml::from_str::<Manifest>(&t).is_ok());
    match path.file_name().and_then(|n| n.to_str()) {
        Some("sweep.toml") => manifest(path),
        Some("experiment.toml") => {
            std::fs::read_to_string(path).is_ok_and(|t| t == new_text)
                || path
                    .parent()
                    .is_some_and(|d| manifest(&d.join("sweep.toml")))
        }
        _ => looks_like_results(path),
    }
}

impl From<ptbench_report::WriteError> for SweepError {
    fn from(e: ptbench_report::WriteError) -> SweepError {
        match e {
            ptbench_report::WriteError::Output(o) => SweepError::Output(o),
            ptbench_report::WriteError::Io { path, error } => SweepError::Io { path, error },
        }
    }
}

fn read_manifest(path: &Path) -> Result<Manifest, SweepError> {
    let text = results::read_text_bounded(path, results::MAX_MANIFEST_BYTES)?;
    toml::from_str(&text).map_err(|e| SweepError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Makes the cache file of every generated trace in `traces` that is missing.
fn make_generated(
    exp: &Experiment,
    traces: &[usize],
    cache: &Path,
    progress: &dyn Progress,
) -> Result<(), SweepError> {
    for &t in traces {
        let tr = &exp.traces[t];
        let TraceSource::Gen { name, spec } = &tr.source else {
            continue;
        };
        let file = tr.file(cache);
        if file.is_file() {
            continue;
        }
        std::fs::create_dir_all(cache).map_err(io_err(cache))?;
        progress.note(&format!(
            "generating {} ({} accesses of {}) into {}",
            tr.id,
            spec.accesses,
            spec.pattern,
            file.display()
        ));
        let gen_err = |message: String| SweepError::Gen {
            name: name.clone(),
            message,
        };
        let mut g = ptbench_trace::gen::Generator::new(spec.clone()).map_err(gen_err)?;
        let mut w =
            ptbench_trace::NativeWriter::create(&file).map_err(|e| gen_err(e.to_string()))?;
        let mut buf = Vec::with_capacity(ptbench_trace::BATCH);
        while g.read_batch(&mut buf).map_err(|e| gen_err(e.to_string()))? > 0 {
            w.write(&buf).map_err(|e| gen_err(e.to_string()))?;
        }
        w.finish().map_err(|e| gen_err(e.to_string()))?;
    }
    Ok(())
}

/// Runs the cells of `opts.shard` of `exp` that `OUT/results.csv` does not hold yet (all of
/// them unless `opts.resume`).
pub fn run(
    exp: &Experiment,
    opts: &SweepOptions,
    progress: &dyn Progress,
) -> Result<Summary, SweepError> {
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let results = results_path(out);
    let manifest_path = out.join("sweep.toml");
    // Resuming a sweep started from another directory: its rows name traces by paths relative
    // to that directory; the rows added now name them alike.
    let old_manifest = if opts.resume && manifest_path.exists() && results.exists() {
        Some(read_manifest(&manifest_path)?)
    } else {
        None
    };
    let adopted;
    let exp = match old_manifest
        .as_ref()
        .and_then(|old| resumed_names(exp, old))
    {
        Some(e) => {
            adopted = e;
            &adopted
        }
        None => exp,
    };
    let mine = shards(exp, opts.shard.count)
        .into_iter()
        .nth(opts.shard.index as usize)
        .unwrap_or_default();
    let manifest = Manifest {
        experiment: exp.name.clone(),
        experiment_hash: format!("{:016x}", exp.hash()),
        total_cells: exp.cells.len(),
        shard: opts.shard,
        cells: mine.clone(),
        keys: exp.cells.iter().map(|c| c.key.clone()).collect(),
        ptbench_version: env!("CARGO_PKG_VERSION").to_string(),
    };

    // What is done already.
    let existing = if results.exists() {
        if !looks_like_results(&results) && std::fs::metadata(&results).map_or(0, |m| m.len()) > 0 {
            return Err(SweepError::Conflict {
                path: results,
                message: "exists and is not a ptbench results file; choose another --out".into(),
            });
        }
        // A last line cut off by an interrupted write is dropped here and cut off the file
        // below before appending (with --resume); the cell of that row runs again.
        let read = read_results(&results, CutLine::Drop)?;
        if let (true, Some(d)) = (opts.resume, read.dropped) {
            progress.note(&format!(
                "{}: line {} was cut off (a write was interrupted): its {} bytes are dropped",
                results.display(),
                d.line,
                d.bytes
            ));
        }
        read.rows
    } else {
        Vec::new()
    };
    let mut done: HashSet<String> = HashSet::new();
    if opts.resume && !existing.is_empty() {
        if let Some(old) = &old_manifest {
            let legacy = format!("{:016x}", exp.hash_by_keys());
            if (old.experiment_hash != manifest.experiment_hash && old.experiment_hash != legacy)
                || old.shard != manifest.shard
            {
                return Err(SweepError::Conflict {
                    path: manifest_path,
                    message: format!(
                        "the results there are of another sweep (experiment {} hash {}, shard {}); this one is {} hash {}, shard {} (the hash covers every cell, trace files named relative to the experiment file, so it does not depend on the directory a sweep starts in): use another --out, or --force to start over",
                        old.experiment, old.experiment_hash, old.shard, manifest.experiment, manifest.experiment_hash, manifest.shard
                    ),
                });
            }
        }
        done = existing.iter().map(|r| r.cell.clone()).collect();
    } else if !existing.is_empty() && !opts.force {
        let have: HashSet<&str> = existing.iter().map(|r| r.cell.as_str()).collect();
        let complete = existing.len() == mine.len()
            && mine
                .iter()
                .all(|&i| have.contains(exp.cells[i].key.as_str()));
        if complete {
            // The same sweep, finished: nothing to run.
            progress.note(&format!(
                "{} holds every cell of this sweep already; --force runs them again",
                results.display()
            ));
            let mut failures = Vec::new();
            failures.extend(disagreements(&existing));
            return Ok(Summary {
                cells: mine.len(),
                ran: 0,
                resumed: mine.len(),
                failures,
                results,
            });
        }
        return Err(SweepError::Conflict {
            path: results,
            message: format!(
                "holds {} rows of an earlier sweep: --resume finishes it, --force starts over",
                existing.len()
            ),
        });
    }
    // The manifest first: it is what recognises the experiment copy beside it as ptbench's.
    let manifest_text = toml::to_string(&manifest).map_err(|e| SweepError::Malformed {
        path: manifest_path.clone(),
        message: e.to_string(),
    })?;
    let experiment_copy = out.join("experiment.toml");
    if !opts.force && experiment_copy.exists() && !is_sweep_file(&experiment_copy, &exp.text) {
        write_sweep_file(&experiment_copy, &exp.text, false)?;
    }
    write_sweep_file(&manifest_path, &manifest_text, opts.force)?;
    write_sweep_file(&experiment_copy, &exp.text, opts.force)?;
    let mut file = if opts.resume && !existing.is_empty() {
        // Drop a last line cut short, then append.
        let bytes = std::fs::read(&results).map_err(io_err(&results))?;
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let f = OpenOptions::new()
            .write(true)
            .open(&results)
            .map_err(io_err(&results))?;
        f.set_len(keep as u64).map_err(io_err(&results))?;
        drop(f);
        OpenOptions::new()
            .append(true)
            .open(&results)
            .map_err(io_err(&results))?
    } else {
        write_small(&results, &header_line())?;
        OpenOptions::new()
            .append(true)
            .open(&results)
            .map_err(io_err(&results))?
    };
    file.flush().map_err(io_err(&results))?;
    let file = Mutex::new(file);

    let pending: Vec<&Cell> = mine
        .iter()
        .map(|&i| &exp.cells[i])
        .filter(|c| !done.contains(&c.key))
        .collect();
    let mut by_trace: BTreeMap<usize, Vec<&Cell>> = BTreeMap::new();
    for c in &pending {
        by_trace.entry(c.trace).or_default().push(c);
    }
    let cache = out.join("cache");
    let traces: Vec<usize> = by_trace.keys().copied().collect();
    make_generated(exp, &traces, &cache, progress)?;
    progress.planned(&Plan {
        cells: mine.len(),
        done_before: mine.len() - pending.len(),
        results: results.clone(),
        traces: by_trace
            .iter()
            .map(|(&t, cells)| {
                let file = exp.traces[t].file(&cache);
                let bytes = ptbench_trace::trace_bytes(&file).max(1);
                (t, bytes, cells.len())
            })
            .collect(),
    });

    let failures = Mutex::new(Vec::new());
    let groups: Vec<(usize, Vec<&Cell>)> = by_trace.into_iter().collect();
    let outcome: Result<(), SweepError> = groups.par_iter().try_for_each(|(t, cells)| {
        // Each wave's rows as soon as it finishes.
        let keep = |rows: &[RunRow]| -> Result<(), SweepError> {
            let lines = row_lines(rows).map_err(io_err(&results))?;
            let mut f = file.lock().map_err(|_| SweepError::Io {
                path: results.clone(),
                error: io::Error::other("a worker panicked"),
            })?;
            // The rows and their count together: an interruption's note says exactly what the
            // file keeps.
            ptbench_output::uninterrupted(|| {
                append_whole(&mut f, &lines).map_err(io_err(&results))?;
                progress.wave_done(*t, rows.len());
                Ok(())
            })
        };
        run_trace(exp, *t, cells, &cache, opts, progress, &failures, &keep)?;
        progress.trace_done(*t, 0);
        Ok(())
    });
    outcome?;
    drop(file);
    // Rows were appended as traces finished; put them in the experiment's cell order, so the
    // file is the same for any thread count (atomically: an interruption now loses nothing).
    let mut rows = read_rows(&results)?;
    let order: std::collections::HashMap<&str, usize> = exp
        .cells
        .iter()
        .map(|c| (c.key.as_str(), c.index))
        .collect();
    rows.sort_by_key(|r| order.get(r.cell.as_str()).copied().unwrap_or(usize::MAX));
    let recognise = |_: &Path| true;
    let rules = Rules::new("--out", "a results file", &recognise);
    ptbench_report::write_csv_with(&results, &rows, &rules)?;
    let mut failures = failures.into_inner().unwrap_or_default();
    failures.extend(disagreements(&rows));
    Ok(Summary {
        cells: mine.len(),
        ran: pending.len(),
        resumed: mine.len() - pending.len(),
        failures,
        results,
    })
}

/// When the sweep being resumed, whose manifest is `old`, ran the same cells but names its traces
/// otherwise (it was started from another directory): `exp` renamed as `old` names them.
fn resumed_names(exp: &Experiment, old: &Manifest) -> Option<Experiment> {
    let keys: Vec<&String> = exp.cells.iter().map(|c| &c.key).collect();
    let same_keys =
        old.keys.len() == keys.len() && old.keys.iter().zip(&keys).all(|(a, b)| a == *b);
    if same_keys || old.experiment_hash != format!("{:016x}", exp.hash()) {
        return None;
    }
    exp.with_keys(&old.keys)
}

/// Replays one trace through its cells, wave by wave, giving `keep` the rows of each wave's cells
/// that finished.
#[allow(clippy::too_many_arguments)]
fn run_trace(
    exp: &Experiment,
    t: usize,
    cells: &[&Cell],
    cache: &Path,
    opts: &SweepOptions,
    progress: &dyn Progress,
    failures: &Mutex<Vec<String>>,
    keep: &dyn Fn(&[RunRow]) -> Result<(), SweepError>,
) -> Result<(), SweepError> {
    let tr = &exp.traces[t];
    let file = tr.file(cache);
    let fail = |key: &str, why: String| {
        if let Ok(mut f) = failures.lock() {
            f.push(format!("{key}: {why}"));
        }
    };
    let mut sims = Vec::new();
    let mut live: Vec<(&Cell, SimOptions)> = Vec::new();
    for c in cells {
        let so = SimOptions {
            page_crossing: exp.page_crossing,
            huge: c.huge,
            os: c.os_config.clone(),
            cache: c.cache,
            no_shared_front_end: opts.no_shared_front_end,
            ..SimOptions::default()
        };
        match Sim::build_with_tlb(&c.design, &c.tlb, &so) {
            Ok(s) => {
                sims.push(s);
                live.push((c, so));
            }
            Err(e) => fail(&c.key, e.to_string()),
        }
    }
    if live.iter().any(|(_, so)| so.huge.needs_range()) {
        match ptbench_trace::address_range_with(&file, &opts.reader) {
            Ok(Some((lo, hi))) => sims.iter_mut().for_each(|s| s.set_address_range(lo, hi)),
            Ok(None) => {}
            Err(e) => {
                for (c, _) in &live {
                    fail(&c.key, e.to_string());
                }
                return Ok(());
            }
        }
    }
    // OPT's pre-pass, shared by the cells that replace by OPT.
    if let Err(e) =
        ptbench_replay::prepare_next_uses(&mut sims, &file, &opts.reader, exp.page_crossing)
    {
        for (c, _) in &live {
            fail(&c.key, e.to_string());
        }
        return Ok(());
    }
    let bytes = ptbench_trace::trace_bytes(&file);
    progress.trace_started(t, &tr.id, bytes, live.len());
    // Waves of cells, each a few groups that share a front end, so that what is held at once
    // follows the budget, not the number of cells; the trace is read once per wave.
    let mut groups = ptbench_replay::share_groups(&sims);
    // A nested design holds two designs' tables (its guest's and its host's): it weighs two.
    let weights: Vec<usize> = sims
        .iter()
        .map(|s| if matches!(s, Sim::Nested(_)) { 2 } else { 1 })
        .collect();
    let mut split = false;
    let concurrent = rayon::current_num_threads().min(exp.traces.len());
    let budget = wave_budget(opts.memory_limit, concurrent);
    let mut slots: Vec<Option<Sim>> = sims.into_iter().map(Some).collect();
    let mut pages: Option<u64> = None;
    // Accesses read by the waves so far (progress counts every reading).
    let mut read = 0u64;
    let mut done = 0;
    while done < groups.len() {
        // Once the trace's pages are known, a group larger than the whole limit is split into
        // parts, each with its own front end: more front-end work, less held at once.
        if let (Some(p), false) = (pages, split) {
            split = true;
            let rest: Vec<Vec<usize>> = groups.split_off(done);
            for g in rest {
                let w: Vec<usize> = g.iter().map(|&i| weights[i]).collect();
                let mut at = 0;
                for len in split_group(&w, p, opts.memory_limit) {
                    groups.push(g[at..at + len].to_vec());
                    at += len;
                }
            }
        }
        let sizes: Vec<usize> = groups[done..]
            .iter()
            .map(|g| g.iter().map(|&i| weights[i]).sum())
            .collect();
        let n = next_wave(&sizes, pages, budget).max(1);
        let members: Vec<usize> = groups[done..done + n].iter().flatten().copied().collect();
        let mut wave: Vec<Sim> = members.iter().filter_map(|&i| slots[i].take()).collect();
        let base = bytes.saturating_mul(done as u64) / groups.len() as u64;
        let share = groups.len() as u64;
        let run = match replay_trace(
            &file,
            &opts.reader,
            opts.max_access_bytes,
            &mut wave,
            &|b, a| progress.trace_progress(t, base + b / share, read + a),
        ) {
            Ok(r) => r,
            Err(e) => {
                // The cells of earlier waves are kept; this wave's and the later ones fail.
                for &i in groups[done..].iter().flatten() {
                    fail(&live[i].0.key, e.to_string());
                }
                return Ok(());
            }
        };
        if let Some(s) = run.skipped.as_ref().filter(|_| done == 0) {
            progress.note(s);
        }
        let mut rows = Vec::new();
        for (k, (sim, &i)) in wave.iter().zip(&members).enumerate() {
            let (c, so) = &live[i];
            if let Some((_, e)) = run.failures.iter().find(|(f, _)| *f == k) {
                fail(&c.key, e.clone());
                continue;
            }
            let mut row = run_row(&file, &run, sim, so);
            pages = Some(pages.unwrap_or(0).max(row.distinct_pages));
            row.trace = tr.id.clone();
            row.cell = c.key.clone();
            rows.push(row);
        }
        keep(&rows)?;
        done += n;
        read += run.accesses;
    }
    Ok(())
}

/// Rows whose designs translated a trace differently from another design of the same page size
/// under the same settings (a bug in a design).
fn disagreements(rows: &[RunRow]) -> Vec<String> {
    let mut seen: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    let mut out = Vec::new();
    for r in rows {
        // Everything but the design and the TLB decides the translations.
        let rest: Vec<&str> = r
            .cell
            .split('|')
            .filter(|p| !p.starts_with("design=") && !p.starts_with("tlb="))
            .collect();
        let k = format!("{}|{}", rest.join("|"), r.page_bytes);
        match seen.get(&k) {
            Some((d, digest)) if *digest != r.digest => out.push(format!(
                "{}: {} digest {} but {} digest {} (a bug in a design; please report it)",
                r.trace, d, digest, r.design, r.digest
            )),
            Some(_) => {}
            None => {
                seen.insert(k, (&r.design, &r.digest));
            }
        }
    }
    out
}

/// What a merge produced.
#[derive(Clone, Debug)]
pub struct MergeSummary {
    /// Rows written.
    pub rows: usize,
    /// Shards joined.
    pub shards: u32,
    /// The merged results file.
    pub results: PathBuf,
}

/// Joins the shard directories (or their `results.csv`) `inputs` into `out`: every shard of one
/// experiment exactly once, each complete; rows in the experiment's cell order.
pub fn merge(inputs: &[PathBuf], out: &Path, force: bool) -> Result<MergeSummary, SweepError> {
    let mut parts = Vec::new();
    // Inputs that are not there (a shard whose task failed or never ran): named, not fatal at
    // once, so that the error lists every missing shard.
    let mut absent_inputs = Vec::new();
    for i in inputs {
        let dir = if i.is_dir() {
            i.clone()
        } else {
            i.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        let manifest_path = dir.join("sweep.toml");
        if !i.exists() || !manifest_path.exists() {
            absent_inputs.push(i.display().to_string());
            continue;
        }
        let manifest = read_manifest(&manifest_path)?;
        parts.push((dir, manifest));
    }
    let absent_note = (!absent_inputs.is_empty()).then(|| {
        format!(
            "missing (no shard there: its task failed or never ran; rerun it): {}",
            absent_inputs.join(", ")
        )
    });
    let Some((first_dir, first)) = parts.first() else {
        return Err(SweepError::Incomplete(
            absent_note.unwrap_or_else(|| "no shard directories given".into()),
        ));
    };
    let mut problems = Vec::new();
    for (dir, m) in &parts {
        if m.experiment_hash != first.experiment_hash || m.shard.count != first.shard.count {
            problems.push(format!(
                "{} is shard {} of experiment {} (hash {}), but {} is shard {} of {} (hash {}): a mixed set",
                dir.display(), m.shard, m.experiment, m.experiment_hash,
                first_dir.display(), first.shard, first.experiment, first.experiment_hash
            ));
        }
    }
    if !problems.is_empty() {
        return Err(SweepError::Incomplete(problems.join("\n  ")));
    }
    let n = first.shard.count;
    let mut by_index: BTreeMap<u32, &(PathBuf, Manifest)> = BTreeMap::new();
    for p in &parts {
        if let Some(prev) = by_index.insert(p.1.shard.index, p) {
            problems.push(format!(
                "shard {} is given twice ({} and {})",
                p.1.shard,
                prev.0.display(),
                p.0.display()
            ));
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|i| !by_index.contains_key(i))
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("missing shards: {}", missing.join(", ")));
    }
    problems.extend(absent_note);
    let mut rows: Vec<(usize, RunRow)> = Vec::new();
    // Where each cell's row was first seen: a second row of a cell is refused, naming both.
    let mut seen: HashMap<String, (PathBuf, u64)> = HashMap::new();
    let mut bad_rows = Vec::new();
    for (dir, m) in by_index.values() {
        let path = results_path(dir);
        if !path.exists() {
            problems.push(format!(
                "shard {} ({}): results.csv is missing (its task failed; rerun it)",
                m.shard,
                dir.display()
            ));
            continue;
        }
        let read = read_results(&path, CutLine::Refuse)?;
        let got = read.rows;
        let have: HashSet<&str> = got.iter().map(|r| r.cell.as_str()).collect();
        let absent: Vec<&str> = m
            .cells
            .iter()
            .filter_map(|&i| m.keys.get(i).map(String::as_str))
            .filter(|k| !have.contains(k))
            .collect();
        if !absent.is_empty() {
            problems.push(format!(
                "shard {} ({}) lacks {} of its {} cells (rerun it with --resume): {}{}",
                m.shard,
                dir.display(),
                absent.len(),
                m.cells.len(),
                absent
                    .iter()
                    .take(3)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", "),
                if absent.len() > 3 { ", ..." } else { "" }
            ));
        }
        let index: HashMap<&str, usize> = m
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let owned: HashSet<usize> = m.cells.iter().copied().collect();
        for (r, line) in got.into_iter().zip(read.lines) {
            let at = format!("{}: line {line}, column `cell`", path.display());
            let Some(&idx) = index.get(r.cell.as_str()).filter(|i| owned.contains(i)) else {
                bad_rows.push(format!(
                    "{at}: `{}` is not one of the cells of shard {} of experiment {}",
                    r.cell, m.shard, m.experiment
                ));
                continue;
            };
            if let Some((p0, l0)) = seen.get(&r.cell) {
                bad_rows.push(format!(
                    "{at}: cell `{}` again (its row is at {} line {l0} already): a row given twice",
                    r.cell,
                    p0.display()
                ));
                continue;
            }
            seen.insert(r.cell.clone(), (path.clone(), line));
            rows.push((idx, r));
        }
    }
    if bad_rows.len() > 5 {
        let more = bad_rows.len() - 5;
        bad_rows.truncate(5);
        bad_rows.push(format!("and {more} more such rows"));
    }
    problems.extend(bad_rows);
    if !problems.is_empty() {
        return Err(SweepError::Incomplete(problems.join("\n  ")));
    }
    rows.sort_by_key(|(i, _)| *i);
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let results = results_path(out);
    let all: Vec<RunRow> = rows.into_iter().map(|(_, r)| r).collect();
    let inputs: Vec<PathBuf> = parts.iter().map(|(d, _)| results_path(d)).collect();
    let rules = ptbench_report::csv_rules("--out", &inputs, force);
    ptbench_report::write_csv_with(&results, &all, &rules)?;
    let merged = Manifest {
        shard: Shard { index: 0, count: 1 },
        cells: (0..first.total_cells).collect(),
        ..first.clone()
    };
    let text = toml::to_string(&merged).map_err(|e| SweepError::Malformed {
        path: out.join("sweep.toml"),
        message: e.to_string(),
    })?;
    write_small(&out.join("sweep.toml"), &text)?;
    if let Ok(exp) = std::fs::read_to_string(first_dir.join("experiment.toml")) {
        write_small(&out.join("experiment.toml"), &exp)?;
    }
    Ok(MergeSummary {
        rows: all.len(),
        shards: n,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_and_parts_follow_the_estimates() {
        let pages = 1000;
        // A front end and one follower: 192 + 128 bytes a page.
        assert_eq!(group_bytes(2, pages), 320_000);
        // Groups of 1, 3 and 2 members against 600 kB: the first two (192 + 448 = 640 kB) do
        // not fit together, so the first wave is the first group alone.
        assert_eq!(next_wave(&[1, 3, 2], Some(pages), 600_000), 1);
        assert_eq!(next_wave(&[3, 2], Some(pages), 800_000), 2);
        assert_eq!(next_wave(&[3, 2], None, 10), 1);
        // A group of five (a nested design weighing two) against 600 kB: parts of weight at
        // most 4 (192 + 3 x 128 = 576 kB).
        assert_eq!(split_group(&[1, 1, 2, 1, 1], pages, 600_000), vec![3, 2]);
        assert_eq!(split_group(&[1, 1, 1], pages, 10), vec![1, 1, 1]);
        assert_eq!(split_group(&[1, 2, 1], pages, u64::MAX), vec![3]);
        assert_eq!(split_group(&[], pages, 10), Vec::<usize>::new());
    }

    #[test]
    fn shards_parse_zero_based() {
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert!("4/4"
            .parse::<Shard>()
            .unwrap_err()
            .contains("counts from 0"));
        assert!("0/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }
}
