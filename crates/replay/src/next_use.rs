//! OPT's look into the future: each translation's next use, from a backward pass over the trace.
//!
//! Translations are numbered as the replay loop makes them (events skipped; an access makes one
//! translation per page it touches under [`PageCrossing::Split`], one under `First`), so entry
//! `i` of the result is the number of the next translation of the same (address space, page) as
//! translation `i`, or `u64::MAX` when there is none. Pages are the design's base pages, so the
//! pass is made once per base page size.
//!
//! Memory: the pass holds the whole trace's keys, 16 bytes per translation, then the result,
//! 8 bytes per translation (24 bytes per translation at the peak: about 24 MB for a million
//! translations), plus a hash map of the distinct pages.

use crate::PageCrossing;
use ptbench_core::Access;
use ptbench_trace::{ReaderOptions, TraceError, TraceReader};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Collects a trace's translations, then computes their next uses.
#[derive(Clone, Debug, Default)]
pub struct NextUses {
    shift: u8,
    crossing: PageCrossing,
    keys: Vec<(u16, u64)>,
}

impl NextUses {
    /// An empty pass for base pages of `1 << shift` bytes.
    pub fn new(shift: u8, crossing: PageCrossing) -> NextUses {
        NextUses {
            shift,
            crossing,
            keys: Vec::new(),
        }
    }

    /// Adds the translations of `batch`.
    pub fn push(&mut self, batch: &[Access]) {
        for a in batch.iter().filter(|a| !a.kind.is_event()) {
            let last = match self.crossing {
                PageCrossing::Split => a.last_byte().unwrap_or(a.addr),
                PageCrossing::First => a.addr,
            };
            for vpn in (a.addr >> self.shift)..=(last >> self.shift) {
                self.keys.push((a.asid, vpn));
            }
        }
    }

    /// The backward pass: each translation's next use.
    pub fn finish(self) -> Arc<[u64]> {
        let mut next = vec![u64::MAX; self.keys.len()];
        let mut seen: HashMap<(u16, u64), u64> = HashMap::new();
        for (i, key) in self.keys.iter().enumerate().rev() {
            if let Some(j) = seen.insert(*key, i as u64) {
                next[i] = j;
            }
        }
        next.into()
    }
}

/// The next uses of the trace at `path` (read with `opts`) for base pages of `1 << shift` bytes.
pub fn next_uses(
    path: &Path,
    opts: &ReaderOptions,
    shift: u8,
    crossing: PageCrossing,
) -> Result<Arc<[u64]>, TraceError> {
    let mut reader = ptbench_trace::open_with(path, opts)?;
    let mut pass = NextUses::new(shift, crossing);
    let mut batch = Vec::new();
    while reader.read_batch(&mut batch)? > 0 {
        pass.push(&batch);
    }
    Ok(pass.finish())
}
