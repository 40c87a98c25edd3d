//! Replaying one trace through many designs: the trace is decoded once and each batch is handed to
//! every design's simulator in parallel (rayon), designs that see the same TLB hits and misses
//! through one shared front end ([`Fanout`]). With more than one worker thread the trace is
//! decoded on its own thread, ahead of the simulators; with one (`--jobs 1`) the same thread decodes
//! and replays, so a run asked to use one core uses one. One simulator never sees its accesses out
//! of order, so results are the same for any number of threads.

use crate::{Fanout, ReplayError, Sim};
use ptbench_trace::{Format, Location, Prefetched, ReaderOptions, TraceError, TraceReader, BATCH};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;
use thiserror::Error;

/// What replaying one trace found, beyond each simulator's own counters.
#[derive(Clone, Debug)]
pub struct TraceRun {
    /// Accesses in the trace.
    pub accesses: u64,
    /// Lines read (text traces).
    pub lines: u64,
    /// The detected format, if the trace had any access.
    pub format: Option<Format>,
    /// Seconds from opening the trace to the last batch replayed.
    pub wall_seconds: f64,
    /// `skipped N bad lines (first: ...)`, when bad lines were skipped.
    pub skipped: Option<String>,
    /// Simulators that stopped with an error, by their index in the slice given to
    /// [`replay_trace`], with the error (naming the trace and line); the others replayed the
    /// whole trace.
    pub failures: Vec<(usize, String)>,
}

/// Why replaying a trace stopped.
#[derive(Debug, Error)]
pub enum RunError {
    /// The trace could not be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A design could not replay an access.
    #[error("{}{}: {error}", path.display(), LineSuffix(*line))]
    Replay {
        /// The trace.
        path: PathBuf,
        /// The line (or byte offset) of the access, when it could be found.
        line: Option<Location>,
        /// What failed.
        error: ReplayError,
    },
    /// An access larger than the limit (it would be split into that many page translations).
    #[error("{}{}: an access of {size} bytes at {addr:#x} spans more than the {limit} bytes one access may (--max-access {limit}); a trace of real accesses has none this large, and a larger limit replays it", path.display(), LineSuffix(*line))]
    AccessTooLarge {
        /// The trace.
        path: PathBuf,
        /// The line (or byte offset) of the access, when it could be found.
        line: Option<Location>,
        /// Its address.
        addr: u64,
        /// Its size.
        size: u32,
        /// The limit.
        limit: u64,
    },
}

/// Batches the read-ahead thread may hold decoded (16 MiB of accesses). A plain text trace is
/// parsed a window of chunks at a time, several batches each: with room for more than a window,
/// the decode pool parses the next window while the simulators replay this one (two batches of
/// room left them taking turns: `run` on 218 MB of lackey text 284.7 -> 185.1 ms).
const AHEAD: usize = 16;

/// The default of [`replay_trace`]'s `max_access_bytes`: 1 GiB.
pub const DEFAULT_MAX_ACCESS_BYTES: u64 = 1 << 30;

struct LineSuffix(Option<Location>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(loc) => write!(f, "{loc}"),
            None => Ok(()),
        }
    }
}

/// Replays the trace at `path` through every simulator in `sims`, calling `progress(bytes read,
/// accesses replayed)` after each batch. A simulator that fails stops there and is listed in
/// [`TraceRun::failures`]; the others go on. An error reading the trace, or an access of more
/// than `max_access_bytes` ([`DEFAULT_MAX_ACCESS_BYTES`] by default), stops them all.
pub fn replay_trace(
    path: &Path,
    opts: &ReaderOptions,
    max_access_bytes: u64,
    sims: &mut [Sim],
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<TraceRun, RunError> {
    let start = Instant::now();
    let mut failed: Vec<Option<ReplayError>> = (0..sims.len()).map(|_| None).collect();
    let mut fan = Fanout::new(sims);
    let (index, reader) = pass(
        path,
        opts,
        max_access_bytes,
        sims,
        &mut failed,
        &mut fan,
        progress,
    );
    let again = fan.finish(sims, &mut failed);
    let (index, reader) = (index?, reader);
    if !again.is_empty() {
        // A shared front end met an access outside its space: its designs replay alone.
        let mut fan = Fanout::only(sims.len(), &again);
        let (second, _) = pass(
            path,
            opts,
            max_access_bytes,
            sims,
            &mut failed,
            &mut fan,
            &|_, _| {},
        );
        second?;
    }
    let accesses = index;
    let (format, lines, skipped) = reader
        .map(|r| (r.format(), r.lines(), r.skip_summary()))
        .unwrap_or((None, 0, None));
    let failures = failed
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| f.map(|e| (i, replay_error(path, opts, e).to_string())))
        .collect();
    Ok(TraceRun {
        accesses,
        lines,
        format,
        wall_seconds: start.elapsed().as_secs_f64(),
        skipped,
        failures,
    })
}

/// One pass over the trace at `path` through `sims` as `fan` says: the accesses read, and the
/// reader (for its counts of lines and skipped lines).
fn pass(
    path: &Path,
    opts: &ReaderOptions,
    max_access_bytes: u64,
    sims: &mut [Sim],
    failed: &mut [Option<ReplayError>],
    fan: &mut Fanout,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> (Result<u64, RunError>, Option<ptbench_trace::TraceFile>) {
    let reader = match ptbench_trace::open_with(path, opts) {
        Ok(r) => r,
        Err(e) => return (Err(e.into()), None),
    };
    // With more than one worker, decode on another thread, up to AHEAD batches ahead of the
    // simulators; with one, on this thread.
    let depth = if rayon::current_num_threads() > 1 {
        AHEAD
    } else {
        0
    };
    // The read-ahead thread also finds each batch's page runs, for every simulation, unless
    // none counts in bulk (with caches, every access is looked at): then nobody reads them.
    let with_runs = fan.uses_runs(sims);
    let mut ahead = Prefetched::with_runs(reader, depth, with_runs);
    let mut batch = Vec::with_capacity(BATCH);
    let mut runs = Vec::new();
    let mut index = 0u64;
    let replayed = loop {
        let read = if with_runs {
            ahead.read_batch_runs(&mut batch, &mut runs)
        } else {
            ahead.read_batch(&mut batch)
        };
        match read {
            Ok(0) => break Ok(index),
            Ok(n) => {
                // One branch-free pass finds the widest access; only a batch with one too wide
                // is searched for it. An access that is not a run start lies inside one 4 KiB
                // page, so with a limit of a page or more only the starts need looking at.
                // Without runs, the read-ahead thread found the widest beside the decoding.
                let widest = match ahead.widest() {
                    Some(w) => w,
                    None if max_access_bytes >= 4096 && !runs.is_empty() => {
                        ptbench_core::widest_access(runs.iter().map(|r| &r.access))
                    }
                    None => ptbench_core::widest_access(&batch),
                };
                if let Some(i) = (u64::from(widest) > max_access_bytes)
                    .then(|| {
                        batch.iter().position(|a| {
                            !a.kind.is_event() && u64::from(a.size) > max_access_bytes
                        })
                    })
                    .flatten()
                {
                    let a = batch[i];
                    let line = ptbench_trace::open_with(path, opts)
                        .and_then(|t| t.locate_location(index + i as u64))
                        .ok()
                        .flatten();
                    break Err(RunError::AccessTooLarge {
                        path: path.to_path_buf(),
                        line,
                        addr: a.addr,
                        size: a.size,
                        limit: max_access_bytes,
                    });
                }
                fan.replay(sims, failed, &batch, &runs, index);
                index += n as u64;
                if !fan.active(failed) {
                    break Ok(index);
                }
                progress(ahead.bytes_read(), index);
            }
            Err(e) => break Err(RunError::Trace(e)),
        }
    };
    (replayed, ahead.into_inner())
}

fn replay_error(path: &Path, opts: &ReaderOptions, source: ReplayError) -> RunError {
    let index = match &source {
        ReplayError::AddressTooWide { index, .. }
        | ReplayError::NonCanonical { index, .. }
        | ReplayError::Os { index, .. } => Some(*index),
        ReplayError::Lost { .. } | ReplayError::Diverged { .. } => None,
    };
    let line = index.and_then(|i| {
        ptbench_trace::open_with(path, opts)
            .and_then(|t| t.locate_location(i))
            .ok()
            .flatten()
    });
    RunError::Replay {
        path: path.to_path_buf(),
        line,
        error: source,
    }
}
