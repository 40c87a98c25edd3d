//! Simulated physical memory.
//!
//! The physical address space (`phys_bits` wide, frames of `1 << frame_shift` bytes) is split in
//! two halves: data frames below, which the OS model hands out and which need no contents, and
//! page-table frames above, which designs allocate for their tables and whose contents live here.
//! Keeping the two pools apart means the frame that backs a data page does not depend on how many
//! table frames a design used, so every design translates a trace to the same frames.
//!
//! Table frames are materialised on their first write; an untouched frame reads as zeros, so a
//! design may reserve a huge linear table and pay only for the parts a trace touches.

use crate::{PhysAddr, WalkCost};
use thiserror::Error;

/// Width of one page-table entry in memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryWidth {
    /// 4-byte entries (32-bit two-level tables).
    U32 = 4,
    /// 8-byte entries.
    U64 = 8,
}

impl EntryWidth {
    /// Bytes per entry.
    #[inline(always)]
    pub const fn bytes(self) -> u64 {
        self as u64
    }

    /// log2 of the bytes per entry.
    #[inline(always)]
    pub const fn shift(self) -> u8 {
        match self {
            EntryWidth::U32 => 2,
            EntryWidth::U64 => 3,
        }
    }
}

/// Why physical memory could not satisfy a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemError {
    /// The table half of physical memory is exhausted.
    #[error("out of page-table memory: {requested} more frame(s) of {frame_bytes} bytes do not fit in a {phys_bits}-bit physical address space")]
    OutOfTableFrames {
        /// Frames asked for.
        requested: u64,
        /// Bytes per frame.
        frame_bytes: u64,
        /// Width of the physical address space.
        phys_bits: u8,
    },
    /// The geometry cannot be simulated.
    #[error("invalid physical memory: {0}")]
    Geometry(String),
}

const UNMATERIALISED: u32 = u32::MAX;

/// Simulated physical memory: a data-frame region the OS model allocates from, and table frames
/// whose contents are stored and whose every write is counted.
#[derive(Clone, Debug)]
pub struct PhysMem {
    frame_shift: u8,
    phys_bits: u8,
    table_base: u64,
    table_end: u64,
    next_table: u64,
    free_tables: Vec<u64>,
    slots: Vec<u32>,
    words: Vec<u64>,
    words_per_frame: usize,
    live_table_frames: u64,
    writes: u64,
}

impl PhysMem {
    /// Memory with frames of `1 << frame_shift` bytes in a `phys_bits`-wide physical address space.
    pub fn new(frame_shift: u8, phys_bits: u8) -> Result<PhysMem, MemError> {
        if !(4..=40).contains(&frame_shift) || phys_bits > 64 || phys_bits < frame_shift + 2 {
            return Err(MemError::Geometry(format!(
                "frames of 2^{frame_shift} bytes in a {phys_bits}-bit physical space"
            )));
        }
        let frames_bits = phys_bits - frame_shift;
        let table_base = 1u64 << (frames_bits - 1);
        let table_end = if frames_bits == 64 {
            u64::MAX
        } else {
            1u64 << frames_bits
        };
        Ok(PhysMem {
            frame_shift,
            phys_bits,
            table_base,
            table_end,
            next_table: table_base,
            free_tables: Vec::new(),
            slots: Vec::new(),
            words: Vec::new(),
            words_per_frame: ((1usize << frame_shift) / 8).max(1),
            live_table_frames: 0,
            writes: 0,
        })
    }

    /// log2 of the bytes per frame.
    #[inline(always)]
    pub fn frame_shift(&self) -> u8 {
        self.frame_shift
    }

    /// Width of the physical address space in bits.
    pub fn phys_bits(&self) -> u8 {
        self.phys_bits
    }

    /// Number of data frames (frame numbers `0..data_frames()` are data frames).
    pub fn data_frames(&self) -> u64 {
        self.table_base
    }

    /// Table frames currently allocated.
    pub fn table_frames(&self) -> u64 {
        self.live_table_frames
    }

    /// Table frames whose contents have been written at least once.
    pub fn materialised_frames(&self) -> u64 {
        (self.words.len() / self.words_per_frame) as u64
    }

    /// Entry writes so far.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Allocates `n` contiguous zeroed table frames and returns the physical address of the first.
    pub fn alloc_table_frames(&mut self, n: u64) -> Result<PhysAddr, MemError> {
        let pfn = if n == 1 {
            match self.free_tables.pop() {
                Some(pfn) => {
                    self.zero_frame(pfn);
                    pfn
                }
                None => self.bump(n)?,
            }
        } else {
            self.bump(n)?
        };
        self.live_table_frames += n;
        Ok(PhysAddr(pfn << self.frame_shift))
    }

    /// Returns `n` table frames starting at `pa` to the allocator.
    pub fn free_table_frames(&mut self, pa: PhysAddr, n: u64) {
        let first = pa.0 >> self.frame_shift;
        for pfn in first..first + n {
            debug_assert!(self.is_table_frame(pfn));
            self.free_tables.push(pfn);
        }
        self.live_table_frames -= n;
    }

    fn bump(&mut self, n: u64) -> Result<u64, MemError> {
        let pfn = self.next_table;
        match pfn.checked_add(n) {
            Some(end) if end <= self.table_end => {
                self.next_table = end;
                Ok(pfn)
            }
            _ => Err(MemError::OutOfTableFrames {
                requested: n,
                frame_bytes: 1 << self.frame_shift,
                phys_bits: self.phys_bits,
            }),
        }
    }

    fn is_table_frame(&self, pfn: u64) -> bool {
        pfn >= self.table_base && pfn < self.next_table
    }

    fn zero_frame(&mut self, pfn: u64) {
        if let Some(&slot) = self.slots.get((pfn - self.table_base) as usize) {
            if slot != UNMATERIALISED {
                let start = slot as usize * self.words_per_frame;
                self.words[start..start + self.words_per_frame].fill(0);
            }
        }
    }

    /// Index into `words` of the 8-byte word holding `pa`, if its frame is materialised.
    #[inline(always)]
    fn word_index(&self, pa: PhysAddr) -> Option<usize> {
        let pfn = pa.0 >> self.frame_shift;
        let slot = *self.slots.get(pfn.wrapping_sub(self.table_base) as usize)?;
        if slot == UNMATERIALISED {
            return None;
        }
        let within = (pa.0 & ((1 << self.frame_shift) - 1)) >> 3;
        Some(slot as usize * self.words_per_frame + within as usize)
    }

    /// Reads the entry at `pa` and counts one memory reference in `cost`.
    #[inline(always)]
    pub fn read(&self, pa: PhysAddr, width: EntryWidth, cost: &mut WalkCost) -> u64 {
        cost.refs += 1;
        self.peek(pa, width)
    }

    /// Reads `out.len()` consecutive 8-byte words from `pa` as one memory reference (a cache-line
    /// or bucket read) counted in `cost`. The words must lie in one frame.
    #[inline]
    pub fn read_block(&self, pa: PhysAddr, out: &mut [u64], cost: &mut WalkCost) {
        cost.refs += 1;
        match self.word_index(pa) {
            Some(i) => out.copy_from_slice(&self.words[i..i + out.len()]),
            None => out.fill(0),
        }
    }

    /// Reads the entry at `pa` without counting it: for inspection and tests, never for walks.
    #[inline(always)]
    pub fn peek(&self, pa: PhysAddr, width: EntryWidth) -> u64 {
        match self.word_index(pa) {
            None => 0,
            Some(i) => {
                let w = self.words[i];
                match width {
                    EntryWidth::U64 => w,
                    EntryWidth::U32 => (w >> ((pa.0 & 4) * 8)) & 0xffff_ffff,
                }
            }
        }
    }

    /// Writes the entry at `pa` (which must lie in an allocated table frame) and counts the write.
    pub fn write(&mut self, pa: PhysAddr, width: EntryWidth, value: u64) {
        self.writes += 1;
        let pfn = pa.0 >> self.frame_shift;
        assert!(
            self.is_table_frame(pfn),
            "design bug: write to {pa:?}, which is not a table frame"
        );
        let rel = (pfn - self.table_base) as usize;
        if rel >= self.slots.len() {
            self.slots.resize(rel + 1, UNMATERIALISED);
        }
        if self.slots[rel] == UNMATERIALISED {
            self.slots[rel] = (self.words.len() / self.words_per_frame) as u32;
            self.words
                .resize(self.words.len() + self.words_per_frame, 0);
        }
        let i = self
            .word_index(pa)
            .expect("frame was materialised just above");
        match width {
            EntryWidth::U64 => self.words[i] = value,
            EntryWidth::U32 => {
                let shift = (pa.0 & 4) * 8;
                let mask = 0xffff_ffffu64 << shift;
                self.words[i] = (self.words[i] & !mask) | ((value & 0xffff_ffff) << shift);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_frames_live_in_the_upper_half_and_read_back() {
        let mut mem = PhysMem::new(12, 32).unwrap();
        assert_eq!(mem.data_frames(), 1 << 19);
        let a = mem.alloc_table_frames(1).unwrap();
        assert_eq!(a, PhysAddr(1 << 31));
        let b = mem.alloc_table_frames(3).unwrap();
        assert_eq!(b, PhysAddr((1 << 31) + 4096));
        assert_eq!(mem.table_frames(), 4);
        let mut cost = WalkCost::default();
        assert_eq!(mem.read(b, EntryWidth::U64, &mut cost), 0);
        mem.write(PhysAddr(b.0 + 8), EntryWidth::U32, 0xdead_beef);
        mem.write(PhysAddr(b.0 + 12), EntryWidth::U32, 0x1234_5678);
        assert_eq!(mem.peek(PhysAddr(b.0 + 8), EntryWidth::U32), 0xdead_beef);
        assert_eq!(mem.peek(PhysAddr(b.0 + 12), EntryWidth::U32), 0x1234_5678);
        assert_eq!(
            mem.read(PhysAddr(b.0 + 8), EntryWidth::U64, &mut cost),
            0x1234_5678_dead_beef
        );
        assert_eq!(cost.refs, 2);
        assert_eq!(mem.writes(), 2);
        assert_eq!(mem.materialised_frames(), 1);
        mem.free_table_frames(b, 1);
        assert_eq!(mem.alloc_table_frames(1).unwrap(), b);
        assert_eq!(
            mem.peek(PhysAddr(b.0 + 8), EntryWidth::U64),
            0,
            "reused frames are zeroed"
        );
    }

    #[test]
    fn exhausting_table_memory_is_an_error() {
        let mut mem = PhysMem::new(12, 16).unwrap();
        assert_eq!(mem.data_frames(), 8);
        assert!(mem.alloc_table_frames(8).is_ok());
        assert!(matches!(
            mem.alloc_table_frames(1),
            Err(MemError::OutOfTableFrames { .. })
        ));
        assert!(PhysMem::new(12, 13).is_err());
        assert!(PhysMem::new(3, 32).is_err());
    }
}
