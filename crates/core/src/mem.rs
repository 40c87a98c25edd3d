//! Simulated physical memory.
//!
//! The physical address space (`phys_bits` wide, frames of `1 << frame_shift` bytes) is split in
//! two halves: data frames below, which the OS model hands out and which need no contents, and
//! page-table frames above, which designs allocate for their tables and whose contents live here.
//! Keeping the two pools apart means the frame that backs a data page does not depend on how many
//! table frames a design used, so every design translates a trace to the same frames.
//!
//! Table frames are materialised on their first write; an untouched frame reads as zeros, so a
//! design may reserve a huge linear table and pay only for the parts a trace touches. The map from
//! a table frame to its stored contents is sparse too: a directory of chunks of
//! `2^CHUNK_BITS` frames, dense for the first `DENSE_CHUNKS` chunks (every ordinary table) and a
//! hash map beyond, so host memory grows with the frames written, not with the highest one (a flat
//! table for 57-bit addresses reserves 2^36 frames and costs only what a trace touches).
//!
//! Recorded reads: when asked to ([`PhysMem::record_reads`]), memory logs the physical address,
//! width and dependency step of every counted read, so that a cache model can say what a walk
//! cost in cycles. Reads are sequential steps (each waits for the one before: a radix chain, a
//! hash chain) unless a design marks a group as parallel ([`PhysMem::begin_parallel`]: the ways
//! of an elastic cuckoo table), whose reads share one step. Off, the log costs one predictable
//! branch per read.
//!
//! Freed frames: when asked to ([`PhysMem::track_freed`]), memory logs every range of table frames
//! a design frees, and [`PhysMem::drain_freed`] hands the log to whoever caches table addresses
//! (the replay loop invalidates the page-walk-cache entries that point into freed tables).

use crate::{PhysAddr, WalkCost};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
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
/// log2 of the frames one directory chunk maps.
const CHUNK_BITS: u32 = 8;
/// Frames per directory chunk.
const CHUNK: usize = 1 << CHUNK_BITS;
/// Chunks indexed by the dense directory (at most 256 KiB of it, for 2^24 frames: 64 GiB of 4 KiB
/// table frames); chunks beyond are found through a hash map.
const DENSE_CHUNKS: u64 = 1 << 16;

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
    /// Chunk number (relative frame >> CHUNK_BITS) below DENSE_CHUNKS -> chunk index, or
    /// UNMATERIALISED.
    dir: Vec<u32>,
    /// Chunk number at or above DENSE_CHUNKS -> chunk index.
    far: HashMap<u64, u32>,
    /// `CHUNK` slots per chunk: a frame's index into `words` (in frames), or UNMATERIALISED.
    chunks: Vec<u32>,
    words: Vec<u64>,
    words_per_frame: usize,
    live_table_frames: u64,
    writes: u64,
    /// Whether frees are logged in `freed`.
    track_freed: bool,
    /// Freed table frames not yet drained: (first physical address, one past the last byte).
    freed: Vec<(PhysAddr, PhysAddr)>,
    /// Whether counted reads are logged in `reads`.
    recording: Cell<bool>,
    /// The step the next read belongs to, and whether a parallel group is open.
    step: Cell<(u16, bool)>,
    /// In an open parallel group: the lane reads go to (step + lane), and how many lanes read.
    lanes: Cell<(u16, u16)>,
    /// Reads logged since recording started (or was last taken).
    reads: RefCell<Vec<TableRead>>,
}

/// One counted read of table memory, as [`PhysMem::take_reads`] gives it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TableRead {
    /// Its physical address.
    pub pa: PhysAddr,
    /// Bytes read (an entry, or a bucket or slot read as one reference).
    pub bytes: u32,
    /// Its dependency step: reads of one step are issued together and the step costs its
    /// slowest read; a step starts when the one before ended. Steps are not always in read
    /// order (see [`PhysMem::parallel_lane`]).
    pub step: u16,
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
            dir: Vec::new(),
            far: HashMap::new(),
            chunks: Vec::new(),
            words: Vec::new(),
            words_per_frame: ((1usize << frame_shift) / 8).max(1),
            live_table_frames: 0,
            writes: 0,
            track_freed: false,
            freed: Vec::new(),
            recording: Cell::new(false),
            step: Cell::new((0, false)),
            lanes: Cell::new((0, 0)),
            reads: RefCell::new(Vec::new()),
        })
    }

    /// Starts (clearing the log) or stops logging counted reads.
    pub fn record_reads(&self, on: bool) {
        self.recording.set(on);
        self.step.set((0, false));
        self.reads.borrow_mut().clear();
    }

    /// Whether counted reads are being logged.
    #[inline(always)]
    pub fn recording(&self) -> bool {
        self.recording.get()
    }

    /// Moves the reads logged so far into `out` (cleared first); the next read starts step 0.
    pub fn take_reads(&self, out: &mut Vec<TableRead>) {
        out.clear();
        std::mem::swap(out, &mut self.reads.borrow_mut());
        self.step.set((0, false));
    }

    /// Opens a group of reads issued in parallel: they share one step until
    /// [`PhysMem::end_parallel`].
    #[inline(always)]
    pub fn begin_parallel(&self) {
        let (step, _) = self.step.get();
        self.step.set((step, true));
        self.lanes.set((0, 0));
    }

    /// In an open parallel group, sends the next reads to lane `lane`: step `group + lane`, so
    /// that reads which must wait for a lane-0 read (an elastic cuckoo walk's fallback probes
    /// after its cuckoo walk cache's way missed) form a later step while the group's other
    /// reads stay in its first, whatever order they are made in. Outside a group it does
    /// nothing.
    #[inline(always)]
    pub fn parallel_lane(&self, lane: u16) {
        let (_, used) = self.lanes.get();
        self.lanes.set((lane, used));
    }

    /// Closes a parallel group: the next read starts the step after the group's last lane (the
    /// group's own step, if it read nothing).
    #[inline(always)]
    pub fn end_parallel(&self) {
        let (step, _) = self.step.get();
        let (_, used) = self.lanes.get();
        self.step.set((step.wrapping_add(used), false));
        self.lanes.set((0, 0));
    }

    #[cold]
    #[inline(never)]
    fn log_read(&self, pa: PhysAddr, bytes: u32) {
        let (step, parallel) = self.step.get();
        if parallel {
            let (lane, used) = self.lanes.get();
            self.lanes.set((lane, used.max(lane + 1)));
            let step = step.wrapping_add(lane);
            self.reads.borrow_mut().push(TableRead { pa, bytes, step });
        } else {
            self.reads.borrow_mut().push(TableRead { pa, bytes, step });
            self.step.set((step.wrapping_add(1), false));
        }
    }

    /// Logs `read` as it is, step included (when recording): a nested design's walk, whose
    /// steps it composes from its two dimensions' reads.
    pub fn log_read_at(&self, read: TableRead) {
        if self.recording.get() {
            self.reads.borrow_mut().push(read);
        }
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

    /// Bytes of host memory the stored contents take (frames written, and the directory that
    /// finds them): grows with the frames a design writes, never with the frames it reserves.
    pub fn host_bytes(&self) -> u64 {
        let bytes = self.words.capacity() * 8
            + self.chunks.capacity() * 4
            + self.dir.capacity() * 4
            + self.far.capacity() * 16;
        bytes as u64
    }

    /// Starts (or stops) logging the table frames designs free, for [`PhysMem::drain_freed`].
    pub fn track_freed(&mut self, on: bool) {
        self.track_freed = on;
        if !on {
            self.freed.clear();
        }
    }

    /// The table frames freed since the last drain (while tracking), as physical address ranges
    /// `(start, end)` with `end` exclusive; adjacent frees are merged.
    pub fn drain_freed(&mut self) -> std::vec::Drain<'_, (PhysAddr, PhysAddr)> {
        self.freed.drain(..)
    }

    /// Whether the table frame holding `pa` has been written (an unwritten frame reads as zeros).
    pub fn is_materialised(&self, pa: PhysAddr) -> bool {
        self.slot_of(pa.0 >> self.frame_shift).is_some()
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

    /// Returns `n` table frames starting at `pa` to the allocator (and logs them, when tracking).
    pub fn free_table_frames(&mut self, pa: PhysAddr, n: u64) {
        let first = pa.0 >> self.frame_shift;
        for pfn in first..first + n {
            debug_assert!(self.is_table_frame(pfn));
            self.free_tables.push(pfn);
        }
        self.live_table_frames -= n;
        if self.track_freed && n > 0 {
            let start = first << self.frame_shift;
            let end = (first + n) << self.frame_shift;
            match self.freed.last_mut() {
                Some((_, last_end)) if last_end.0 == start => last_end.0 = end,
                _ => self.freed.push((PhysAddr(start), PhysAddr(end))),
            }
        }
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
        if let Some(slot) = self.slot_of(pfn) {
            let start = slot as usize * self.words_per_frame;
            self.words[start..start + self.words_per_frame].fill(0);
        }
    }

    /// The chunk index of chunk number `c`, if that chunk exists.
    #[inline(always)]
    fn chunk_of(&self, c: u64) -> Option<usize> {
        let ci = if c < DENSE_CHUNKS {
            *self.dir.get(c as usize)?
        } else {
            *self.far.get(&c)?
        };
        (ci != UNMATERIALISED).then_some(ci as usize)
    }

    /// Where frame `pfn`'s words start in `words` (in frames), if the frame is materialised.
    #[inline(always)]
    fn slot_of(&self, pfn: u64) -> Option<u32> {
        let rel = pfn.wrapping_sub(self.table_base);
        let ci = self.chunk_of(rel >> CHUNK_BITS)?;
        let slot = self.chunks[ci * CHUNK + (rel as usize & (CHUNK - 1))];
        (slot != UNMATERIALISED).then_some(slot)
    }

    /// Materialises table frame `pfn` (zeroed) if it is not yet, and returns its slot.
    fn materialise(&mut self, pfn: u64) -> u32 {
        if let Some(slot) = self.slot_of(pfn) {
            return slot;
        }
        let rel = pfn - self.table_base;
        let c = rel >> CHUNK_BITS;
        let ci = match self.chunk_of(c) {
            Some(ci) => ci,
            None => {
                let ci = self.chunks.len() / CHUNK;
                self.chunks
                    .resize(self.chunks.len() + CHUNK, UNMATERIALISED);
                if c < DENSE_CHUNKS {
                    let c = c as usize;
                    if c >= self.dir.len() {
                        self.dir.resize(c + 1, UNMATERIALISED);
                    }
                    self.dir[c] = ci as u32;
                } else {
                    self.far.insert(c, ci as u32);
                }
                ci
            }
        };
        let slot = (self.words.len() / self.words_per_frame) as u32;
        self.chunks[ci * CHUNK + (rel as usize & (CHUNK - 1))] = slot;
        self.words
            .resize(self.words.len() + self.words_per_frame, 0);
        slot
    }

    /// Index into `words` of the 8-byte word holding `pa`, if its frame is materialised.
    #[inline(always)]
    fn word_index(&self, pa: PhysAddr) -> Option<usize> {
        let slot = self.slot_of(pa.0 >> self.frame_shift)?;
        let within = (pa.0 & ((1 << self.frame_shift) - 1)) >> 3;
        Some(slot as usize * self.words_per_frame + within as usize)
    }

    /// Reads the entry at `pa` and counts one memory reference in `cost`.
    #[inline(always)]
    pub fn read(&self, pa: PhysAddr, width: EntryWidth, cost: &mut WalkCost) -> u64 {
        cost.refs += 1;
        if self.recording.get() {
            self.log_read(pa, width.bytes() as u32);
        }
        self.peek(pa, width)
    }

    /// Reads `out.len()` consecutive 8-byte words from `pa` as one memory reference (a cache-line
    /// or bucket read) counted in `cost`. The words must lie in one frame.
    #[inline]
    pub fn read_block(&self, pa: PhysAddr, out: &mut [u64], cost: &mut WalkCost) {
        cost.refs += 1;
        if self.recording.get() {
            self.log_read(pa, (out.len() * 8) as u32);
        }
        match self.word_index(pa) {
            Some(i) => out.copy_from_slice(&self.words[i..i + out.len()]),
            None => out.fill(0),
        }
    }

    /// Reads `out.len()` words at `pa` as ONE counted reference, like [`PhysMem::read_block`],
    /// but logs nothing: the caller logs what it looked at with [`PhysMem::log_lines`] once it
    /// knows (a hash bucket scanned slot by slot stops at its match).
    pub fn read_block_unlogged(&self, pa: PhysAddr, out: &mut [u64], cost: &mut WalkCost) {
        cost.refs += 1;
        match self.word_index(pa) {
            Some(i) => out.copy_from_slice(&self.words[i..i + out.len()]),
            None => out.fill(0),
        }
    }

    /// Logs `bytes` bytes at `pa` (when recording) as one read per `line`-byte line they touch,
    /// each a step after the one before: a scan that reaches the next line only after the last.
    #[inline]
    pub fn log_lines(&self, pa: PhysAddr, bytes: u32, line: u64) {
        if !self.recording.get() || bytes == 0 {
            return;
        }
        let end = pa.0 + u64::from(bytes);
        let mut at = pa.0;
        while at < end {
            let next = ((at / line) + 1) * line;
            let n = next.min(end) - at;
            self.log_read(PhysAddr(at), n as u32);
            at += n;
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
        let slot = self.materialise(pfn);
        let within = (pa.0 & ((1 << self.frame_shift) - 1)) >> 3;
        let i = slot as usize * self.words_per_frame + within as usize;
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
    fn reads_are_logged_with_their_steps_only_while_recording() {
        let mut mem = PhysMem::new(12, 40).unwrap();
        let t = mem.alloc_table_frames(1).unwrap();
        let mut cost = WalkCost::default();
        mem.read(t, EntryWidth::U64, &mut cost);
        let mut out = Vec::new();
        mem.take_reads(&mut out);
        assert!(out.is_empty(), "not recording");
        mem.record_reads(true);
        mem.read(t, EntryWidth::U64, &mut cost);
        mem.read(PhysAddr(t.0 + 8), EntryWidth::U32, &mut cost);
        mem.begin_parallel();
        let mut words = [0u64; 4];
        mem.read_block(PhysAddr(t.0 + 64), &mut words, &mut cost);
        mem.read_block(PhysAddr(t.0 + 128), &mut words, &mut cost);
        mem.end_parallel();
        mem.begin_parallel();
        mem.end_parallel(); // an empty group takes no step
        mem.read(PhysAddr(t.0 + 16), EntryWidth::U64, &mut cost);
        // A group with a second lane: its reads wait for the first lane's, whatever their order.
        mem.begin_parallel();
        mem.read(PhysAddr(t.0 + 24), EntryWidth::U64, &mut cost);
        mem.parallel_lane(1);
        mem.read(PhysAddr(t.0 + 32), EntryWidth::U64, &mut cost);
        mem.parallel_lane(0);
        mem.read(PhysAddr(t.0 + 40), EntryWidth::U64, &mut cost);
        mem.end_parallel();
        mem.read(PhysAddr(t.0 + 48), EntryWidth::U64, &mut cost);
        mem.take_reads(&mut out);
        let got: Vec<(u64, u32, u16)> = out
            .iter()
            .map(|r| (r.pa.0 - t.0, r.bytes, r.step))
            .collect();
        assert_eq!(
            got,
            [
                (0, 8, 0),
                (8, 4, 1),
                (64, 32, 2),
                (128, 32, 2),
                (16, 8, 3),
                (24, 8, 4),
                (32, 8, 5),
                (40, 8, 4),
                (48, 8, 6)
            ]
        );
        assert_eq!(cost.refs, 10);
        // A block read as one reference, logged as the lines a scan reached, one after another.
        let mut cost = WalkCost::default();
        let mut words = [0u64; 16];
        mem.read_block_unlogged(PhysAddr(t.0 + 128), &mut words, &mut cost);
        mem.log_lines(PhysAddr(t.0 + 128), 80, 64);
        mem.take_reads(&mut out);
        let got: Vec<(u64, u32, u16)> = out
            .iter()
            .map(|r| (r.pa.0 - t.0, r.bytes, r.step))
            .collect();
        assert_eq!(got, [(128, 64, 0), (192, 16, 1)]);
        assert_eq!(cost.refs, 1);
        mem.read(t, EntryWidth::U64, &mut cost);
        mem.take_reads(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].step, 0, "taking the log starts the steps over");
        mem.record_reads(false);
        mem.read(t, EntryWidth::U64, &mut cost);
        mem.take_reads(&mut out);
        assert!(out.is_empty());
    }

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

    #[test]
    fn far_frames_cost_host_memory_only_when_written() {
        // 2^36 reserved frames (a flat table for 57-bit addresses): reserving is free, and writing
        // its first and last frames stores two frames (and two chunks of the directory).
        let mut mem = PhysMem::new(12, 52).unwrap();
        let base = mem.alloc_table_frames(1 << 36).unwrap();
        assert_eq!(mem.host_bytes(), 0);
        let last = PhysAddr(base.0 + ((1u64 << 36) - 1) * 4096 + 8);
        mem.write(base, EntryWidth::U64, 1);
        mem.write(last, EntryWidth::U64, 2);
        let mut cost = WalkCost::default();
        assert_eq!(mem.read(base, EntryWidth::U64, &mut cost), 1);
        assert_eq!(mem.read(last, EntryWidth::U64, &mut cost), 2);
        assert_eq!(mem.peek(PhysAddr(last.0 - 4096), EntryWidth::U64), 0);
        assert_eq!(mem.materialised_frames(), 2);
        assert!(mem.host_bytes() < 64 << 10, "{}", mem.host_bytes());
    }

    #[test]
    fn freed_frames_are_logged_only_while_tracking_and_merged() {
        let mut mem = PhysMem::new(12, 32).unwrap();
        let a = mem.alloc_table_frames(4).unwrap();
        mem.free_table_frames(a, 1);
        assert_eq!(mem.drain_freed().count(), 0, "not tracking");
        mem.track_freed(true);
        mem.free_table_frames(PhysAddr(a.0 + 4096), 1);
        mem.free_table_frames(PhysAddr(a.0 + 2 * 4096), 1);
        mem.free_table_frames(PhysAddr(a.0 + 3 * 4096), 1);
        let got: Vec<_> = mem.drain_freed().collect();
        assert_eq!(got, vec![(PhysAddr(a.0 + 4096), PhysAddr(a.0 + 4 * 4096))]);
        assert_eq!(mem.drain_freed().count(), 0, "drained");
    }
}
