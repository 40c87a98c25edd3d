//! Replaying one trace through many designs: the trace is decoded once, on its own thread, and each
//! batch is handed to every design's simulator in parallel (rayon). One simulator never sees its
//! accesses out of order, so results are the same for any number of threads.

use crate::{ReplayError, Sim};
use ptbench_trace::{Format, Location, Prefetched, ReaderOptions, TraceError, TraceReader, BATCH};
use rayon::prelude::*;
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
}

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
/// accesses replayed)` after each batch.
pub fn replay_trace(
    path: &Path,
    opts: &ReaderOptions,
    sims: &mut [Sim],
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<TraceRun, RunError> {
    let start = Instant::now();
    let reader = ptbench_trace::open_with(path, opts)?;
    // Decode on another thread, two batches ahead of the simulators.
    let mut ahead = Prefetched::new(reader, 2);
    let mut batch = Vec::with_capacity(BATCH);
    let mut index = 0u64;
    let replayed = loop {
        match ahead.read_batch(&mut batch) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(source) = sims
                    .par_iter_mut()
                    .try_for_each(|s| s.replay(&batch, index))
                {
                    break Err(replay_error(path, opts, source));
                }
                index += n as u64;
                progress(ahead.bytes_read(), index);
            }
            Err(e) => break Err(RunError::Trace(e)),
        }
    };
    let reader = ahead.into_inner();
    replayed?;
    let accesses = index;
    let (format, lines, skipped) = reader
        .map(|r| (r.format(), r.lines(), r.skip_summary()))
        .unwrap_or((None, 0, None));
    Ok(TraceRun {
        accesses,
        lines,
        format,
        wall_seconds: start.elapsed().as_secs_f64(),
        skipped,
    })
}

fn replay_error(path: &Path, opts: &ReaderOptions, source: ReplayError) -> RunError {
    let index = match &source {
        ReplayError::AddressTooWide { index, .. } | ReplayError::Os { index, .. } => Some(*index),
        ReplayError::Lost { .. } => None,
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
