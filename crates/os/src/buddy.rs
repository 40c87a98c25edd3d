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

    /// The order of the allocated block that starts at `start`, if there is one.
    pub fn allocated(&self, start: u64) -> Option<u8> {
        self.used.get(&start).copied()
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
