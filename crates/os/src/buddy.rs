//! Physical memory as a binary buddy allocator, as the Linux page allocator keeps it: blocks of
//! `2^order` base frames (order 0 a 4 KiB frame, 9 a 2 MiB block, 18 a 1 GiB block), each
//! aligned to its size. An allocation takes the lowest free block of its order, splitting the
//! lowest larger one when there is none (its upper halves go back to the free lists); a free
//! merges the block with its buddy (`start ^ 2^order`) while the buddy is free and whole, up to
//! the largest order. Memory need not be a power of two: it starts as the largest aligned blocks
//! that tile `0..frames`, and a block whose buddy lies past the end never merges.
//!
//! Everything is deterministic: free lists are ordered sets, so the same calls give the same
//! frames. [`Buddy::take`] removes one given frame (a pinned allocation of another tenant, for
//! fragmentation), splitting the block around it. What it is for and how it is wired into the
//! OS model is issue 24's work; this module is the allocator alone.

use ptbench_core::SplitMix;
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// The largest order: 1 GiB blocks of 4 KiB frames.
pub const MAX_ORDER: u8 = 18;

/// Why the allocator refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuddyError {
    /// No free block of this order or larger.
    #[error("no free block of order {order} ({} frames) is left", 1u64 << order)]
    OutOfMemory {
        /// The order asked for.
        order: u8,
    },
    /// An order above [`MAX_ORDER`].
    #[error("order {0} is above the largest, {MAX_ORDER} (1 GiB of 4 KiB frames)")]
    Order(u8),
    /// A free of a frame that starts no allocated block.
    #[error("frame {0:#x} starts no allocated block")]
    NotAllocated(u64),
    /// A frame outside memory, or one already in use.
    #[error("frame {0:#x} is not free")]
    NotFree(u64),
}

/// A buddy allocator over `frames` base frames (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buddy {
    frames: u64,
    /// Free blocks by order: their first frames.
    free: Vec<BTreeSet<u64>>,
    /// Allocated blocks: first frame to order.
    used: BTreeMap<u64, u8>,
    free_frames: u64,
}

impl Buddy {
    /// Memory of `frames` base frames, all free.
    pub fn new(frames: u64) -> Buddy {
        let mut b = Buddy {
            frames,
            free: vec![BTreeSet::new(); usize::from(MAX_ORDER) + 1],
            used: BTreeMap::new(),
            free_frames: frames,
        };
        let mut at = 0u64;
        while at < frames {
            // The largest aligned block that starts at `at` and fits.
            let mut order = MAX_ORDER.min(at.trailing_zeros().min(63) as u8);
            while at + (1u64 << order) > frames {
                order -= 1;
            }
            b.free[usize::from(order)].insert(at);
            at += 1u64 << order;
        }
        b
    }

    /// Base frames of memory.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Base frames free.
    pub fn free_frames(&self) -> u64 {
        self.free_frames
    }

    /// Free blocks of exactly `order`.
    pub fn free_blocks(&self, order: u8) -> usize {
        self.free.get(usize::from(order)).map_or(0, BTreeSet::len)
    }

    /// Free aligned blocks of `order` the free lists hold, counting those inside larger free
    /// blocks: how many allocations of that order could succeed now.
    pub fn available(&self, order: u8) -> u64 {
        (order..=MAX_ORDER)
            .map(|o| (self.free_blocks(o) as u64) << (o - order))
            .sum()
    }

    /// The first frame of a free block of `2^order` frames, aligned to its size: the lowest one
    /// of that order, or the lower part of the lowest larger one (split).
    pub fn alloc(&mut self, order: u8) -> Result<u64, BuddyError> {
        if order > MAX_ORDER {
            return Err(BuddyError::Order(order));
        }
        let from = (order..=MAX_ORDER)
            .find(|&o| !self.free[usize::from(o)].is_empty())
            .ok_or(BuddyError::OutOfMemory { order })?;
        let start = self.free[usize::from(from)]
            .pop_first()
            .ok_or(BuddyError::OutOfMemory { order })?;
        // Split down: each upper half goes back to its free list.
        for o in (order..from).rev() {
            self.free[usize::from(o)].insert(start + (1u64 << o));
        }
        self.used.insert(start, order);
        self.free_frames -= 1u64 << order;
        Ok(start)
    }

    /// Takes base frame `frame` alone (a pinned page of another tenant): the free block holding
    /// it is split down to that one frame.
    pub fn take(&mut self, frame: u64) -> Result<(), BuddyError> {
        let (order, start) = (0..=MAX_ORDER)
            .find_map(|o| {
                let start = frame & !((1u64 << o) - 1);
                self.free[usize::from(o)]
                    .contains(&start)
                    .then_some((o, start))
            })
            .ok_or(BuddyError::NotFree(frame))?;
        self.free[usize::from(order)].remove(&start);
        // Split down along `frame`'s path: the halves that do not hold it go back.
        let mut at = start;
        for o in (0..order).rev() {
            let half = 1u64 << o;
            if frame >= at + half {
                self.free[usize::from(o)].insert(at);
                at += half;
            } else {
                self.free[usize::from(o)].insert(at + half);
            }
        }
        self.used.insert(frame, 0);
        self.free_frames -= 1;
        Ok(())
    }

    /// Frees the block that starts at `start` (from [`Buddy::alloc`] or [`Buddy::take`]),
    /// merging it with its free buddies; returns its order.
    pub fn free(&mut self, start: u64) -> Result<u8, BuddyError> {
        let order = self
            .used
            .remove(&start)
            .ok_or(BuddyError::NotAllocated(start))?;
        self.free_frames += 1u64 << order;
        let (mut at, mut o) = (start, order);
        while o < MAX_ORDER {
            let buddy = at ^ (1u64 << o);
            if !self.free[usize::from(o)].remove(&buddy) {
                break;
            }
            at = at.min(buddy);
            o += 1;
        }
        self.free[usize::from(o)].insert(at);
        Ok(order)
    }

    /// Fragments free memory as other tenants' pinned pages would (Virtuoso's target
    /// fragmentation): one frame, at a seeded offset, is taken in each of `blocks` free aligned
    /// blocks of `order` chosen by a seeded shuffle (at most as many as are free). Returns the
    /// frames taken. Deterministic for a seed.
    pub fn pin_blocks(
        &mut self,
        order: u8,
        blocks: u64,
        seed: u64,
    ) -> Result<Vec<u64>, BuddyError> {
        if order > MAX_ORDER {
            return Err(BuddyError::Order(order));
        }
        let size = 1u64 << order;
        // The free aligned blocks of `order`, in address order.
        let mut free: Vec<u64> = (order..=MAX_ORDER)
            .flat_map(|o| {
                self.free[usize::from(o)]
                    .iter()
                    .flat_map(move |&s| (0..1u64 << (o - order)).map(move |k| s + k * size))
            })
            .collect();
        free.sort_unstable();
        let mut rng = SplitMix(seed);
        // A partial Fisher-Yates shuffle picks `blocks` of them.
        let n = (blocks as usize).min(free.len());
        for i in 0..n {
            let j = i + (rng.next() % (free.len() - i) as u64) as usize;
            free.swap(i, j);
        }
        let mut taken: Vec<u64> = free[..n].iter().map(|&b| b + rng.next() % size).collect();
        taken.sort_unstable();
        for &f in &taken {
            self.take(f)?;
        }
        Ok(taken)
    }

    /// [`Buddy::pin_blocks`] for a fraction `f` (0 to 1) of the memory's aligned blocks of
    /// `order`: after it, at least that fraction of them holds a pinned frame.
    pub fn fragment(&mut self, order: u8, f: f64, seed: u64) -> Result<Vec<u64>, BuddyError> {
        let blocks = self.frames >> order.min(63);
        let want = (f.clamp(0.0, 1.0) * blocks as f64).round() as u64;
        self.pin_blocks(order, want, seed)
    }

    /// The order of the allocated block that starts at `start`, if there is one.
    pub fn allocated(&self, start: u64) -> Option<u8> {
        self.used.get(&start).copied()
    }

    /// Splits the allocated block at `start` into allocated base frames (a huge page split
    /// into base pages): each frame can then be freed on its own.
    pub fn split(&mut self, start: u64) -> Result<(), BuddyError> {
        let order = self
            .allocated(start)
            .ok_or(BuddyError::NotAllocated(start))?;
        for f in start..start + (1u64 << order) {
            self.used.insert(f, 0);
        }
        Ok(())
    }

    /// The allocated blocks (first frame, order) that start in `[start, start + n)`.
    pub fn allocated_in(&self, start: u64, n: u64) -> impl Iterator<Item = (u64, u8)> + '_ {
        self.used
            .range(start..start.saturating_add(n))
            .map(|(&f, &o)| (f, o))
    }

    /// Takes every free block inside the aligned block of `2^order` frames at `start`, each as
    /// an allocation of its own order (compaction reserves a block this way before it moves the
    /// pages out); returns their first frames, to [`Buddy::free`] later.
    pub fn reserve(&mut self, start: u64, order: u8) -> Vec<u64> {
        let end = start + (1u64 << order);
        let mut taken = Vec::new();
        for o in 0..order.min(MAX_ORDER + 1) {
            let inside: Vec<u64> = self.free[usize::from(o)]
                .range(start..end)
                .copied()
                .collect();
            for f in inside {
                self.free[usize::from(o)].remove(&f);
                self.used.insert(f, o);
                self.free_frames -= 1u64 << o;
                taken.push(f);
            }
        }
        taken.sort_unstable();
        taken
    }

    /// Gorman's unusable free space index for `order`: the fraction of free memory in blocks
    /// too small for an allocation of that order (0 with no free memory).
    pub fn unusable_index(&self, order: u8) -> f64 {
        if self.free_frames == 0 {
            return 0.0;
        }
        let usable = self.available(order) << order;
        1.0 - usable as f64 / self.free_frames as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_starts_as_the_largest_aligned_blocks() {
        // 1 GiB + 2 MiB + 3 frames: one order-18 block, one order-9, one order-1, one order-0.
        let n = (1 << 18) + (1 << 9) + 3;
        let b = Buddy::new(n);
        assert_eq!(b.free_frames(), n);
        assert_eq!(
            (0..=MAX_ORDER)
                .filter(|&o| b.free_blocks(o) > 0)
                .collect::<Vec<_>>(),
            vec![0, 1, 9, 18]
        );
        assert_eq!(b.available(9), 512 + 1);
    }

    #[test]
    fn a_split_hands_out_the_lowest_frames_and_a_free_merges_back() {
        let mut b = Buddy::new(1 << 10);
        assert_eq!(b.alloc(0), Ok(0));
        assert_eq!(b.alloc(0), Ok(1));
        assert_eq!(b.alloc(9), Ok(512));
        assert_eq!(b.alloc(1), Ok(2));
        assert_eq!(b.alloc(9), Err(BuddyError::OutOfMemory { order: 9 }));
        assert_eq!(b.free(1), Ok(0));
        assert_eq!(b.free(1), Err(BuddyError::NotAllocated(1)));
        for start in [0, 2, 512] {
            b.free(start).unwrap();
        }
        assert_eq!(b, Buddy::new(1 << 10));
    }

    #[test]
    fn fragmentation_pins_one_frame_in_the_asked_fraction_of_2_mib_blocks() {
        let blocks = 64u64;
        let frames = blocks << 9;
        for (f, left) in [(0.0, 64), (0.25, 48), (0.5, 32), (1.0, 0)] {
            let mut b = Buddy::new(frames);
            let pinned = b.fragment(9, f, 7).unwrap();
            assert_eq!(pinned.len() as u64, blocks - left, "{f}");
            assert_eq!(b.available(9), left, "{f}");
            assert_eq!(b.free_frames(), frames - (blocks - left), "{f}");
            // One frame in each of distinct blocks.
            let mut of: Vec<u64> = pinned.iter().map(|p| p >> 9).collect();
            of.dedup();
            assert_eq!(of.len(), pinned.len());
            // The same seed, the same frames; another seed, others.
            let mut again = Buddy::new(frames);
            assert_eq!(again.fragment(9, f, 7).unwrap(), pinned);
            if f > 0.0 && f < 1.0 {
                let mut other = Buddy::new(frames);
                assert_ne!(other.fragment(9, f, 8).unwrap(), pinned);
            }
            for p in pinned {
                b.free(p).unwrap();
            }
            assert_eq!(b, Buddy::new(frames));
        }
        // 2 GiB of memory with one 2 MiB block pinned: one 1 GiB block is left whole.
        let mut b = Buddy::new(1 << 19);
        assert_eq!(b.available(MAX_ORDER), 2);
        b.pin_blocks(9, 1, 3).unwrap();
        assert_eq!((b.available(MAX_ORDER), b.available(9)), (1, 1023));
        // Asking for more blocks than are free pins every free one.
        let mut b = Buddy::new(frames);
        b.alloc(9).unwrap();
        assert_eq!(b.pin_blocks(9, 1000, 1).unwrap().len(), 63);
        assert_eq!(b.available(9), 0);
    }

    #[test]
    fn split_reserve_and_the_unusable_index() {
        let mut b = Buddy::new(1 << 11);
        assert_eq!(b.unusable_index(9), 0.0);
        let huge = b.alloc(9).unwrap();
        b.split(huge).unwrap();
        // Each base frame of the split block frees alone; the block merges back when all are.
        for f in huge..huge + 511 {
            assert_eq!(b.free(f), Ok(0));
        }
        assert_eq!(b.available(9), 3);
        b.take(700).unwrap();
        // 2 MiB blocks: 1024 and 1536 free, 512 holds frame 700, 0 holds frame 511.
        assert_eq!(b.available(9), 2);
        let free = b.free_frames() as f64;
        assert!((b.unusable_index(9) - (1.0 - 1024.0 / free)).abs() < 1e-12);
        let reserved = b.reserve(512, 9);
        assert_eq!(b.free_frames(), free as u64 - 511);
        assert_eq!(
            b.allocated_in(512, 512).count(),
            reserved.len() + 1,
            "the pinned frame and the reserved pieces"
        );
        for f in reserved {
            b.free(f).unwrap();
        }
        b.free(700).unwrap();
        b.free(511).unwrap();
        assert_eq!(b, Buddy::new(1 << 11));
    }

    #[test]
    fn taking_one_frame_breaks_its_2_mib_block_only() {
        let mut b = Buddy::new(1 << 12);
        b.take(700).unwrap();
        assert_eq!(b.take(700), Err(BuddyError::NotFree(700)));
        assert_eq!(b.available(9), 7);
        assert_eq!(b.available(0), (1 << 12) - 1);
        assert_eq!(b.alloc(9), Ok(0));
        assert_eq!(b.alloc(9), Ok(1024));
        b.free(700).unwrap();
        b.free(0).unwrap();
        b.free(1024).unwrap();
        assert_eq!(b, Buddy::new(1 << 12));
    }
}
