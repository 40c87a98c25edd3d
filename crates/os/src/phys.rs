//! The machine's physical memory behind the OS model when a setting asks for it (`--ram`,
//! fragmentation, churn, compaction, or a Linux THP policy): a [`Buddy`] allocator of base
//! frames, the frames other tenants hold (pinned: never moved), and their churn.

use crate::buddy::Buddy;
use crate::config::OsConfig;
use ptbench_core::SplitMix;
use std::collections::BTreeSet;

/// Physical memory: the buddy allocator and the other tenants' pinned frames.
#[derive(Clone, Debug)]
pub(crate) struct Phys {
    pub(crate) buddy: Buddy,
    /// The order of a 2 MiB block in base frames.
    pub(crate) huge_order: u8,
    /// Frames other tenants hold.
    pub(crate) tenants: BTreeSet<u64>,
    /// Other tenants' allocations and frees per fault, in millionths.
    churn: u64,
    /// Millionths of a churn operation owed.
    owed: u64,
    rng: SplitMix,
    /// Fewest free 2 MiB blocks seen.
    pub(crate) free_huge_min: u64,
}

impl Phys {
    /// `frames` base frames of `2^base_shift` bytes, fragmented as `cfg` says.
    pub(crate) fn new(frames: u64, base_shift: u8, cfg: &OsConfig) -> Phys {
        let huge_order = 21u8.saturating_sub(base_shift);
        let mut buddy = Buddy::new(frames);
        // A distinct stream from --policy random's, from the same seed.
        let seed = cfg.seed ^ 0x7f4a_7c15_9e37_79b9;
        let pinned = if let Some(n) = cfg.free_huge {
            let blocks = buddy.available(huge_order).saturating_sub(n);
            buddy.pin_blocks(huge_order, blocks, seed)
        } else if cfg.fragmentation.is_some() {
            buddy.fragment(huge_order, cfg.fragmentation_fraction(), seed)
        } else {
            Ok(Vec::new())
        };
        // pin_blocks only takes frames of free blocks: it cannot fail on fresh memory.
        let tenants: BTreeSet<u64> = pinned.unwrap_or_default().into_iter().collect();
        let free_huge_min = buddy.available(huge_order);
        Phys {
            buddy,
            huge_order,
            tenants,
            churn: cfg.churn.unwrap_or(0),
            owed: 0,
            rng: SplitMix(seed.rotate_left(17) ^ 0x2545_f491_4f6c_dd1d),
            free_huge_min,
        }
    }

    /// Free 2 MiB blocks now.
    pub(crate) fn free_huge(&self) -> u64 {
        self.buddy.available(self.huge_order)
    }

    /// Takes an aligned block of `2^order` frames.
    pub(crate) fn alloc(&mut self, order: u8) -> Option<u64> {
        let f = self.buddy.alloc(order).ok()?;
        self.note();
        Some(f)
    }

    /// Gives back the block (or split frame) at `start`.
    pub(crate) fn free(&mut self, start: u64) {
        // Every frame the OS frees it took from the allocator.
        let _ = self.buddy.free(start);
    }

    /// Records the fewest free 2 MiB blocks.
    pub(crate) fn note(&mut self) {
        self.free_huge_min = self.free_huge_min.min(self.free_huge());
    }

    /// One fault's worth of other tenants' churn: each operation pins a free frame drawn at
    /// random or frees one of the tenants' frames, with even odds.
    pub(crate) fn churn(&mut self) {
        if self.churn == 0 {
            return;
        }
        self.owed += self.churn;
        while self.owed >= 1_000_000 {
            self.owed -= 1_000_000;
            if self.tenants.is_empty() || self.rng.below(2) == 0 {
                let f = self.rng.below(self.buddy.frames().max(1));
                if self.buddy.take(f).is_ok() {
                    self.tenants.insert(f);
                }
            } else {
                let i = self.rng.below(self.tenants.len() as u64) as usize;
                if let Some(&f) = self.tenants.iter().nth(i) {
                    self.tenants.remove(&f);
                    self.free(f);
                }
            }
        }
        self.note();
    }
}
