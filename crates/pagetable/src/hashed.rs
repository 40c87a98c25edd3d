//! A global hashed page table, as in Itanium's long-format VHPT and "Hash, Don't Cache (the Page
//! Table)" (Yaniv and Tsafrir, SIGMETRICS 2016): one hash table of (tag, PTE) entries per page
//! size, its buckets each one cache line of contiguous table frames.
//!
//! Layout: an entry slot is 16 bytes, an 8-byte tag then an 8-byte PTE word. The tag is
//! `page number << 4 | size index << 2 | 1`, where the page number is the vpn shifted right by the
//! page size (in base pages), the size index is 0, 1, 2 for the base page, 2 MiB and 1 GiB, and bit
//! 0 is the valid bit, so a tag names exactly one page of one size and a zero tag is an empty slot.
//! The PTE word is `pfn << POBITS | perms` (bit 0 read, 1 write, 2 execute, 3 user). A bucket is `BUCKET`
//! consecutive slots (`BUCKET * 16` bytes, 64 by default: one cache line), aligned to its size, so
//! it never straddles a frame. A table of `ENTRIES` slots has `ENTRIES / BUCKET` buckets in
//! `max(1, ENTRIES * 16 / 2^POBITS)` contiguous frames; a page number's home bucket is the top
//! `log2(buckets)` bits of `page number * 0x9E3779B97F4A7C15` (Fibonacci hashing).
//!
//! Address spaces: the table is global, as Itanium's VHPT and PowerPC's hashed table are: every
//! process's mappings live in it, told apart by the asid in bits 48..64 of the tag (a tag is
//! `asid << 48 | page number << 4 | size index << 2 | 1`), so the home bucket, the top bits of the
//! hash of `tag >> 4 = asid << 44 | page number`, depends on the asid too, and a match compares
//! page, size and asid at once. [`PageTable::set_asid`] selects the asid that `map`, `unmap` and
//! `walk` use (the current-asid register); asid 0's tags are exactly the page number's. A page
//! number of `2^44` or more (addresses wider than 56 bits with 4 KiB pages) leaves no room for an
//! asid: only asid 0 maps such a page ([`MapError::Unsupported`] for the others, whose walks
//! find nothing there). One table for every process means one footprint: table pages, entries,
//! resizes and collisions are counted once for the whole machine.
//!
//! Page sizes: every size (base, 2 MiB, 1 GiB) has its own table with its own resizing. The base
//! table is allocated when the design is built; a huge size's table when its first page is mapped,
//! and it is kept (not freed) when it empties. A walk probes the tables smallest size first and
//! skips a size that holds no mapping at the moment: the OS knows which sizes are in use, as if it
//! kept a per-size enable register, so a process without huge pages pays for one table only.
//!
//! Collisions: with `collision=open` (open addressing) an entry goes in the first free slot of its
//! home bucket or, when that bucket is full, of the next buckets in turn (linear probing bucket by
//! bucket, wrapping). Unmapping uses backward-shift deletion, never tombstones: the hole is
//! refilled by the first later entry of the cluster whose probe path crosses it, repeatedly, so the
//! invariant "every bucket from an entry's home up to (not including) its own is full" always
//! holds and a lookup may stop at the first bucket with an empty slot. With `collision=chain`
//! (chaining) the last 16-byte slot of every bucket is its link: word 0 is the physical address of
//! the next bucket of the chain (0 ends it), word 1 is reserved (0). So a bucket holds `BUCKET - 1`
//! entries (`BUCKET >= 2`), and a table of `ENTRIES` slots costs the same bytes in both modes. A
//! full chain grows by an overflow bucket (same size, same link slot) taken from the table's own
//! overflow area: frames allocated one at a time and carved into buckets, a freed bucket reused
//! first. Only the last bucket of a chain may have empty slots (unmapping fills the hole with the
//! chain's last entry and frees an emptied overflow bucket), so chains stay as short as possible.
//! Overflow frames return to memory when the table is resized.
//!
//! Resizing: `capacity` is the entry slots of the home buckets (`ENTRIES`, or
//! `ENTRIES * (BUCKET - 1) / BUCKET` with chaining). When mapping a new page would make a table's
//! mappings exceed `floor(LOAD * capacity)`, a table `GROWTH` times larger (repeatedly, until it
//! fits) is allocated, every entry is re-inserted into it (with chaining, into a fresh overflow
//! area), and the old frames are freed. Replacing a mapping never resizes, and tables never shrink.
//!
//! Cost model: a walk reads whole buckets with one `read_block` each, so one memory reference and
//! one probe per bucket read: per enabled size, the home bucket and then, until the tag is found,
//! the next buckets while they are full (open addressing; at most every bucket once) or the chain's
//! overflow buckets (chaining). A hit in the base table costs 1 reference when its home bucket
//! holds it; a miss costs at least one reference per enabled size. `table_bytes` is every table
//! frame the design holds (home-bucket frames of every allocated table plus overflow frames)
//! times the frame size; `table_pages` counts those frames.
//!
//! Counters: a *collision* is a new mapping (not a replacement, not a re-insertion during a
//! resize) that did not land in its home bucket. A *moved entry* is an entry written to a new slot
//! without being mapped again: every re-insertion of a resize, every backward shift of an
//! open-addressing unmap, and every chain tail entry moved into an unmapped hole. `resizes` counts
//! table resizes (of any size's table).
//!
//! Map and unmap read entries with uncounted `peek`s and keep, on the host, the number of smaller
//! mappings inside each 2 MiB and 1 GiB region (for overlap checks only); walks never use it.
//!
//! Cycles (with a cache model): a chain. A bucket is scanned slot by slot up to its match (or
//! whole): the slots of one 64-byte line are one read, a bucket of two lines (`bucket=8`) is two
//! reads, the second waiting for the first, and only the lines up to the match are read; the
//! next bucket of a chain is known only once the one before is read, so each waits for the last.
//! (A bucket is still one memory reference in `walk_refs`.)

use crate::spec::{DesignConfig, ParamInfo, ParamValues, SpecError};
use ptbench_core::{
    check_in_space, check_mapping, EntryWidth, Footprint, MapError, MemError, NoRecord, PageSize,
    PageTable, Perms, Pfn, PhysAddr, PhysMem, Pte, VaField, Vpn, WalkCost, WalkRecorder, WalkStep,
    WalkTrace,
};
use std::collections::HashMap;

/// Valid bit of a tag; a zero tag is an empty slot.
const VALID: u64 = 1;
/// The page number starts at this bit of a tag.
const TAG_SHIFT: u32 = 4;
/// Bytes of one slot: a tag word and a PTE word.
const SLOT_BYTES: u64 = 16;
/// Largest bucket, in slots.
const MAX_BUCKET: usize = 8;
/// The line a bucket scan reads at a time, for the cycle model (see the module docs).
const LINE_BYTES: u64 = 64;
/// Width of the physical addresses a PTE word (and a chain link) holds.
const PHYS_BITS: u8 = 52;
/// Fibonacci hashing multiplier (2^64 / golden ratio).
const HASH_MUL: u64 = 0x9E37_79B9_7F4A_7C15;
/// Page sizes: the base page, 2 MiB, 1 GiB.
const SIZES: usize = 3;
/// The asid starts at this bit of a tag.
const ASID_SHIFT: u32 = 48;
/// Page numbers of an address space other than asid 0 must be below `2^ASID_PN_BITS`, so that
/// the tag has room for the asid.
const ASID_PN_BITS: u32 = ASID_SHIFT - TAG_SHIFT;

/// How a full home bucket is resolved.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Collision {
    /// Open addressing: linear probing bucket by bucket, backward-shift deletion.
    Open,
    /// Chaining: each bucket's last slot links to an overflow bucket.
    Chain,
}

impl Collision {
    /// The name in a spec.
    pub const fn name(self) -> &'static str {
        match self {
            Collision::Open => "open",
            Collision::Chain => "chain",
        }
    }
}

/// The parameters of a hashed table.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct HashedConfig {
    /// log2 of the base page size, 12 to 16.
    pub pobits: u8,
    /// Width of the virtual address space, `pobits` to 64.
    pub va_bits: u8,
    /// 16-byte slots of each table when it is allocated: a power of two, at least one bucket.
    pub entries: u64,
    /// Slots per bucket: 1, 2, 4 or 8 (the bucket is `16 * bucket` bytes, read as one reference).
    pub bucket: u64,
    /// Open addressing or chaining.
    pub collision: Collision,
    /// Resize when a table's mappings would exceed this fraction of its capacity, in (0, 1].
    pub load: f64,
    /// Factor by which a resize grows a table: a power of two, 2 to 16.
    pub growth: u64,
}

impl HashedConfig {
    /// The defaults: 4 KiB pages, 48-bit addresses, 4096 slots in 64-byte buckets of 4, open
    /// addressing, resize at load 0.6 to twice the size.
    pub const DEFAULT: HashedConfig = HashedConfig {
        pobits: 12,
        va_bits: 48,
        entries: 4096,
        bucket: 4,
        collision: Collision::Open,
        load: 0.6,
        growth: 2,
    };

    /// Entry slots per bucket: `bucket`, less the link slot with chaining.
    pub const fn entries_per_bucket(&self) -> u64 {
        match self.collision {
            Collision::Open => self.bucket,
            Collision::Chain => self.bucket.saturating_sub(1),
        }
    }

    /// Entry slots of the home buckets of a freshly allocated table.
    pub const fn initial_capacity(&self) -> u64 {
        self.entries / self.bucket * self.entries_per_bucket()
    }

    /// Checks the parameters, explaining what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(12..=16).contains(&self.pobits) {
            return Err(format!("pobits={} is outside 12..=16", self.pobits));
        }
        if self.va_bits < self.pobits || self.va_bits > 64 {
            return Err(format!(
                "va_bits={} is outside pobits..=64 ({}..=64)",
                self.va_bits, self.pobits
            ));
        }
        if !matches!(self.bucket, 1 | 2 | 4 | 8) {
            return Err(format!("bucket={} is not 1, 2, 4 or 8", self.bucket));
        }
        if self.bucket * SLOT_BYTES > 1 << self.pobits {
            return Err(format!(
                "a bucket of {} bytes does not fit in one {}-byte frame",
                self.bucket * SLOT_BYTES,
                1u64 << self.pobits
            ));
        }
        if self.collision == Collision::Chain && self.bucket < 2 {
            return Err(
                "collision=chain needs bucket >= 2: a bucket's last slot is its chain link"
                    .to_string(),
            );
        }
        if !self.entries.is_power_of_two() || self.entries < self.bucket {
            return Err(format!(
                "entries={} must be a power of two and at least one bucket ({} slots)",
                self.entries, self.bucket
            ));
        }
        if self.entries > 1 << 40 {
            return Err(format!("entries={} is above 2^40", self.entries));
        }
        if !(self.load > 0.0 && self.load <= 1.0) {
            return Err(format!(
                "load={} is outside (0, 1]",
                crate::spec::compact_f64(self.load)
            ));
        }
        let cap = self.initial_capacity();
        if ((self.load * cap as f64) as u64) < 1 {
            return Err(format!(
                "load={} of {cap} entry slots holds no mapping before the first resize: load \
                 must be from 1/{cap} ({}) to 1",
                crate::spec::compact_f64(self.load),
                crate::spec::compact_f64(1.0 / cap as f64),
            ));
        }
        if !self.growth.is_power_of_two() || !(2..=16).contains(&self.growth) {
            return Err(format!(
                "growth={} is not a power of two from 2 to 16",
                self.growth
            ));
        }
        Ok(())
    }
}

impl Default for HashedConfig {
    fn default() -> HashedConfig {
        HashedConfig::DEFAULT
    }
}

impl DesignConfig for HashedConfig {
    const NAME: &'static str = "hashed";
    const WALK: &'static str = "a chain of buckets, each waiting for the one before; a bucket is scanned up to its match, one read per 64-byte line (bucket=8: two reads in turn); one table per page size in use, probed in turn";
    const SUMMARY: &'static str =
        "global hashed table (Itanium VHPT long format): (tag, PTE) buckets of one cache line, one table per page size, resized by load";
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            key: "pobits",
            default: "12",
            help: "log2 of the base page size, 12 to 16; table frames are one page",
        },
        ParamInfo {
            key: "va_bits",
            default: "48",
            help: "width of the virtual address space, pobits to 64",
        },
        ParamInfo {
            key: "entries",
            default: "4096",
            help: "16-byte (tag, PTE) slots of a new table, a power of two",
        },
        ParamInfo {
            key: "bucket",
            default: "4",
            help: "slots per bucket, 1, 2, 4 or 8; a bucket is read as one memory reference (4 = one 64-byte line)",
        },
        ParamInfo {
            key: "collision",
            default: "open",
            help: "open (linear probing bucket by bucket) or chain (last slot of a bucket links to an overflow bucket)",
        },
        ParamInfo {
            key: "load",
            default: "0.6",
            help: "resize when mappings would exceed this fraction of the home-bucket slots, in (0, 1]",
        },
        ParamInfo {
            key: "growth",
            default: "2",
            help: "a resize multiplies the table's slots by this, a power of two from 2 to 16",
        },
    ];
    type Table = Hashed;

    fn from_params(p: &ParamValues) -> Result<Self, SpecError> {
        let collision = match p.choice("collision", &["open", "chain"])? {
            "chain" => Collision::Chain,
            _ => Collision::Open,
        };
        let cfg = HashedConfig {
            pobits: p.u8_in("pobits", 12, 16)?,
            va_bits: p.u8_in("va_bits", 12, 64)?,
            entries: p.u64_in("entries", 1, 1 << 40)?,
            bucket: p.u64_in("bucket", 1, 8)?,
            collision,
            load: p.f64_in("load", 0.0, 1.0)?,
            growth: p.u64_in("growth", 2, 16)?,
        };
        cfg.validate().map_err(|e| p.geometry(e))?;
        Ok(cfg)
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("pobits", self.pobits.to_string()),
            ("va_bits", self.va_bits.to_string()),
            ("entries", self.entries.to_string()),
            ("bucket", self.bucket.to_string()),
            ("collision", self.collision.name().to_string()),
            ("load", crate::spec::compact_f64(self.load)),
            ("growth", self.growth.to_string()),
        ]
    }

    fn page_shift(&self) -> u8 {
        self.pobits
    }

    fn va_bits(&self) -> u8 {
        self.va_bits
    }

    fn phys_bits(&self) -> u8 {
        PHYS_BITS
    }

    fn build(&self, mem: &mut PhysMem) -> Result<Hashed, MapError> {
        Hashed::new(*self, mem)
    }
}

/// The bucket geometry shared by every size's table.
#[derive(Copy, Clone, Debug)]
struct Layout {
    chain: bool,
    /// Slots per bucket (with chaining, the last is the link).
    bucket: u64,
    /// Entry slots per bucket.
    per_bucket: u64,
    /// log2 of the bucket's bytes.
    bucket_shift: u8,
    frame_shift: u8,
    load: f64,
}

/// Where an entry sits.
#[derive(Copy, Clone, Debug)]
struct Loc {
    /// Bucket index (open addressing) or home bucket index (chaining).
    bucket: u64,
    /// Physical address of the bucket.
    bucket_pa: u64,
    /// Physical address of the slot.
    slot_pa: u64,
}

/// One page size's hashed table.
#[derive(Clone, Debug)]
struct Table {
    /// Mappings stored.
    entries: u64,
    /// Physical address of the first home bucket (0 while unallocated).
    base: u64,
    /// Buckets - 1.
    mask: u64,
    /// `63 - log2(buckets)`: the home bucket is `(hash >> 1) >> hash_shift`.
    hash_shift: u32,
    /// vpn >> page_bits = page number.
    page_bits: u8,
    /// Size index << 2 | VALID.
    tag_code: u64,
    /// 16-byte slots of the home buckets.
    slots: u64,
    /// Frames of the home buckets.
    frames: u64,
    /// Entry slots of the home buckets.
    capacity: u64,
    /// Most mappings before a resize.
    limit: u64,
    /// Overflow frames (chaining).
    overflow_frames: Vec<u64>,
    /// Free overflow buckets, the next to use last (chaining).
    free_overflow: Vec<u64>,
}

impl Table {
    fn unallocated(page_bits: u8, size_index: u64) -> Table {
        Table {
            entries: 0,
            base: 0,
            mask: 0,
            hash_shift: 63,
            page_bits,
            tag_code: (size_index << 2) | VALID,
            slots: 0,
            frames: 0,
            capacity: 0,
            limit: 0,
            overflow_frames: Vec::new(),
            free_overflow: Vec::new(),
        }
    }

    /// An empty table of `slots` slots with the same page size as `self`.
    fn allocate(&self, mem: &mut PhysMem, lay: &Layout, slots: u64) -> Result<Table, MapError> {
        let bytes = slots
            .checked_mul(SLOT_BYTES)
            .ok_or_else(|| MapError::Unsupported(format!("a table of {slots} slots")))?;
        let frames = (bytes >> lay.frame_shift).max(1);
        let base = mem.alloc_table_frames(frames)?.0;
        let buckets = slots / lay.bucket;
        let capacity = buckets * lay.per_bucket;
        Ok(Table {
            entries: 0,
            base,
            mask: buckets - 1,
            hash_shift: 63 - buckets.trailing_zeros(),
            page_bits: self.page_bits,
            tag_code: self.tag_code,
            slots,
            frames,
            capacity,
            limit: (lay.load * capacity as f64) as u64,
            overflow_frames: Vec::new(),
            free_overflow: Vec::new(),
        })
    }

    fn allocated(&self) -> bool {
        self.frames > 0
    }

    /// Home bucket of a page number.
    #[inline(always)]
    fn home(&self, pn: u64) -> u64 {
        (pn.wrapping_mul(HASH_MUL) >> 1) >> self.hash_shift
    }

    /// The tag of page number `pn` of address space `asid` (see the module docs).
    #[inline(always)]
    fn tag(&self, pn: u64, asid: u16) -> u64 {
        (pn << TAG_SHIFT) | self.tag_code | (u64::from(asid) << ASID_SHIFT)
    }

    #[inline(always)]
    fn bucket_pa(&self, lay: &Layout, b: u64) -> u64 {
        self.base + (b << lay.bucket_shift)
    }

    /// Finds the slot holding `tag` with uncounted reads.
    fn locate(&self, mem: &PhysMem, lay: &Layout, tag: u64) -> Option<Loc> {
        if self.entries == 0 {
            return None;
        }
        let home = self.home(tag >> TAG_SHIFT);
        if lay.chain {
            let mut pa = self.bucket_pa(lay, home);
            for _ in 0..=self.entries {
                for s in 0..lay.per_bucket {
                    let at = pa + s * SLOT_BYTES;
                    if peek(mem, at) == tag {
                        return Some(Loc {
                            bucket: home,
                            bucket_pa: pa,
                            slot_pa: at,
                        });
                    }
                }
                pa = peek(mem, pa + lay.per_bucket * SLOT_BYTES);
                if pa == 0 {
                    return None;
                }
            }
            None
        } else {
            let mut b = home;
            for _ in 0..=self.mask {
                let pa = self.bucket_pa(lay, b);
                let mut open = false;
                for s in 0..lay.bucket {
                    let at = pa + s * SLOT_BYTES;
                    let t = peek(mem, at);
                    if t == tag {
                        return Some(Loc {
                            bucket: b,
                            bucket_pa: pa,
                            slot_pa: at,
                        });
                    }
                    open |= t == 0;
                }
                if open {
                    return None;
                }
                b = (b + 1) & self.mask;
            }
            None
        }
    }

    /// Stores an entry whose tag the table does not hold; returns whether it missed its home
    /// bucket. Does not count it in `entries`.
    fn insert(
        &mut self,
        mem: &mut PhysMem,
        lay: &Layout,
        tag: u64,
        word: u64,
    ) -> Result<bool, MapError> {
        let home = self.home(tag >> TAG_SHIFT);
        if lay.chain {
            let home_pa = self.bucket_pa(lay, home);
            let mut pa = home_pa;
            loop {
                for s in 0..lay.per_bucket {
                    let at = pa + s * SLOT_BYTES;
                    if peek(mem, at) == 0 {
                        write_slot(mem, at, tag, word);
                        return Ok(pa != home_pa);
                    }
                }
                match peek(mem, pa + lay.per_bucket * SLOT_BYTES) {
                    0 => break,
                    next => pa = next,
                }
            }
            let fresh = self.alloc_overflow(mem, lay)?;
            write_slot(mem, fresh, tag, word);
            mem.write(
                PhysAddr(pa + lay.per_bucket * SLOT_BYTES),
                EntryWidth::U64,
                fresh,
            );
            Ok(true)
        } else {
            let mut b = home;
            for _ in 0..=self.mask {
                let pa = self.bucket_pa(lay, b);
                for s in 0..lay.bucket {
                    let at = pa + s * SLOT_BYTES;
                    if peek(mem, at) == 0 {
                        write_slot(mem, at, tag, word);
                        return Ok(b != home);
                    }
                }
                b = (b + 1) & self.mask;
            }
            Err(MapError::Unsupported(
                "hashed table full (load factor above 1)".to_string(),
            ))
        }
    }

    /// A zeroed overflow bucket.
    fn alloc_overflow(&mut self, mem: &mut PhysMem, lay: &Layout) -> Result<u64, MapError> {
        if let Some(pa) = self.free_overflow.pop() {
            return Ok(pa);
        }
        let frame = mem.alloc_table_frames(1)?.0;
        self.overflow_frames.push(frame);
        let buckets = 1u64 << (lay.frame_shift - lay.bucket_shift);
        self.free_overflow
            .extend((1..buckets).rev().map(|i| frame + (i << lay.bucket_shift)));
        Ok(frame)
    }

    /// Removes the entry at `loc`, keeping the lookup invariants; returns the entries moved.
    fn remove(&mut self, mem: &mut PhysMem, lay: &Layout, loc: Loc) -> u64 {
        if lay.chain {
            self.remove_chained(mem, lay, loc)
        } else {
            self.remove_open(mem, lay, loc)
        }
    }

    /// Backward-shift deletion over buckets.
    fn remove_open(&mut self, mem: &mut PhysMem, lay: &Layout, loc: Loc) -> u64 {
        let was_full = (0..lay.bucket).all(|s| peek(mem, loc.bucket_pa + s * SLOT_BYTES) != 0);
        clear_slot(mem, loc.slot_pa);
        if !was_full {
            // No probe path went past this bucket.
            return 0;
        }
        let (mut hole_b, mut hole_pa) = (loc.bucket, loc.slot_pa);
        let mut moves = 0;
        let mut j = (hole_b + 1) & self.mask;
        for _ in 0..self.mask {
            let pa = self.bucket_pa(lay, j);
            let mut full = true;
            let mut mover = None;
            for s in 0..lay.bucket {
                let at = pa + s * SLOT_BYTES;
                let t = peek(mem, at);
                if t == 0 {
                    full = false;
                } else if mover.is_none() {
                    // The entry's probe path [home, j) crosses the hole: move it there.
                    let h = self.home(t >> TAG_SHIFT);
                    if (j.wrapping_sub(h) & self.mask) >= (j.wrapping_sub(hole_b) & self.mask) {
                        mover = Some((at, t));
                    }
                }
            }
            if let Some((at, t)) = mover {
                write_slot(mem, hole_pa, t, peek(mem, at + 8));
                clear_slot(mem, at);
                moves += 1;
                hole_b = j;
                hole_pa = at;
            }
            if !full {
                break;
            }
            j = (j + 1) & self.mask;
        }
        moves
    }

    /// Fills the hole with the chain's last entry and frees an emptied overflow bucket.
    fn remove_chained(&mut self, mem: &mut PhysMem, lay: &Layout, loc: Loc) -> u64 {
        let link_off = lay.per_bucket * SLOT_BYTES;
        let home_pa = self.bucket_pa(lay, loc.bucket);
        let (mut prev, mut tail) = (0, home_pa);
        for _ in 0..=self.entries {
            match peek(mem, tail + link_off) {
                0 => break,
                next => {
                    prev = tail;
                    tail = next;
                }
            }
        }
        let last = (0..lay.per_bucket)
            .rev()
            .map(|s| tail + s * SLOT_BYTES)
            .find(|&at| peek(mem, at) != 0)
            .unwrap_or(loc.slot_pa);
        let mut moves = 0;
        if last != loc.slot_pa {
            write_slot(mem, loc.slot_pa, peek(mem, last), peek(mem, last + 8));
            moves = 1;
        }
        clear_slot(mem, last);
        let empty = (0..lay.per_bucket).all(|s| peek(mem, tail + s * SLOT_BYTES) == 0);
        if tail != home_pa && empty {
            mem.write(PhysAddr(prev + link_off), EntryWidth::U64, 0);
            self.free_overflow.push(tail);
        }
        moves
    }

    /// Every (tag, PTE word) the table holds, read uncounted.
    fn collect(&self, mem: &PhysMem, lay: &Layout) -> Vec<(u64, u64)> {
        let mut out = Vec::with_capacity(self.entries as usize);
        if !self.allocated() {
            return out;
        }
        for b in 0..=self.mask {
            let mut pa = self.bucket_pa(lay, b);
            loop {
                for s in 0..lay.per_bucket {
                    let at = pa + s * SLOT_BYTES;
                    let t = peek(mem, at);
                    if t != 0 {
                        out.push((t, peek(mem, at + 8)));
                    }
                }
                if !lay.chain {
                    break;
                }
                pa = peek(mem, pa + lay.per_bucket * SLOT_BYTES);
                if pa == 0 {
                    break;
                }
            }
        }
        out
    }

    /// Returns every frame of the table to `mem`.
    fn release(&mut self, mem: &mut PhysMem) {
        if self.frames > 0 {
            mem.free_table_frames(PhysAddr(self.base), self.frames);
        }
        for &f in &self.overflow_frames {
            mem.free_table_frames(PhysAddr(f), 1);
        }
        self.frames = 0;
        self.overflow_frames.clear();
        self.free_overflow.clear();
    }

    fn table_pages(&self) -> u64 {
        self.frames + self.overflow_frames.len() as u64
    }
}

#[inline(always)]
fn peek(mem: &PhysMem, pa: u64) -> u64 {
    mem.peek(PhysAddr(pa), EntryWidth::U64)
}

fn write_slot(mem: &mut PhysMem, at: u64, tag: u64, word: u64) {
    mem.write(PhysAddr(at), EntryWidth::U64, tag);
    mem.write(PhysAddr(at + 8), EntryWidth::U64, word);
}

fn clear_slot(mem: &mut PhysMem, at: u64) {
    write_slot(mem, at, 0, 0);
}

/// A global hashed page table in simulated physical memory: one hashed table per page size.
#[derive(Clone, Debug)]
pub struct Hashed {
    cfg: HashedConfig,
    lay: Layout,
    sizes: [PageSize; SIZES],
    tables: [Table; SIZES],
    /// Per size index k >= 1: (asid, region number (vpn >> page_bits)) -> mappings of smaller
    /// sizes in it.
    inside: [HashMap<(u16, u64), u64>; SIZES],
    /// The address space `map`, `unmap` and `walk` work in.
    asid: u16,
    pfn_bits: u8,
    collisions: u64,
    moved: u64,
    resizes: u64,
}

impl Hashed {
    /// Builds an empty table (the base size's table allocated) in `mem`, whose frames must be
    /// `2^pobits` bytes.
    pub fn new(cfg: HashedConfig, mem: &mut PhysMem) -> Result<Hashed, MapError> {
        cfg.validate()
            .map_err(|e| MapError::Memory(MemError::Geometry(e)))?;
        if mem.frame_shift() != cfg.pobits {
            return Err(MapError::Memory(MemError::Geometry(format!(
                "hashed with pobits={} in memory of 2^{}-byte frames",
                cfg.pobits,
                mem.frame_shift()
            ))));
        }
        let base = PageSize::from_shift(cfg.pobits).ok_or_else(|| {
            MapError::Memory(MemError::Geometry(format!("pobits={}", cfg.pobits)))
        })?;
        let sizes = [base, PageSize::M2, PageSize::G1];
        let lay = Layout {
            chain: cfg.collision == Collision::Chain,
            bucket: cfg.bucket,
            per_bucket: cfg.entries_per_bucket(),
            bucket_shift: (cfg.bucket * SLOT_BYTES).trailing_zeros() as u8,
            frame_shift: cfg.pobits,
            load: cfg.load,
        };
        let mut tables =
            [0, 1, 2].map(|k| Table::unallocated(sizes[k].shift() - cfg.pobits, k as u64));
        tables[0] = tables[0].allocate(mem, &lay, cfg.entries)?;
        Ok(Hashed {
            cfg,
            lay,
            sizes,
            tables,
            inside: Default::default(),
            asid: 0,
            pfn_bits: PHYS_BITS - cfg.pobits,
            collisions: 0,
            moved: 0,
            resizes: 0,
        })
    }

    /// The parameters.
    pub fn config(&self) -> HashedConfig {
        self.cfg
    }

    /// Physical address of the first home bucket of the table for `size`, if it is allocated.
    pub fn table_base(&self, size: PageSize) -> Option<PhysAddr> {
        let k = self.sizes.iter().position(|s| *s == size)?;
        self.tables[k]
            .allocated()
            .then_some(PhysAddr(self.tables[k].base))
    }

    /// Home bucket index of the page of `size` that starts at `vpn`, in that size's current table.
    pub fn home_bucket(&self, vpn: Vpn, size: PageSize) -> Option<u64> {
        let k = self.sizes.iter().position(|s| *s == size)?;
        let t = &self.tables[k];
        t.allocated()
            .then(|| t.home(t.tag(vpn.0 >> t.page_bits, self.asid) >> TAG_SHIFT))
    }

    #[inline(always)]
    fn decode(&self, word: u64, k: usize) -> Pte {
        Pte {
            pfn: Pfn(word >> self.cfg.pobits),
            perms: Perms::from_bits(word as u8),
            size: self.sizes[k],
        }
    }

    /// Finds the mapping of any size that covers `vpn`: its size index and slot.
    fn find(&self, mem: &PhysMem, vpn: Vpn) -> Option<(usize, Loc)> {
        self.tables.iter().enumerate().find_map(|(k, t)| {
            if self.asid != 0 && (vpn.0 >> t.page_bits) >> ASID_PN_BITS != 0 {
                return None;
            }
            t.locate(mem, &self.lay, t.tag(vpn.0 >> t.page_bits, self.asid))
                .map(|loc| (k, loc))
        })
    }

    /// Makes room for one more mapping in table `k`: allocates it, or resizes it.
    fn reserve(&mut self, mem: &mut PhysMem, k: usize) -> Result<(), MapError> {
        let lay = self.lay;
        if !self.tables[k].allocated() {
            self.tables[k] = self.tables[k].allocate(mem, &lay, self.cfg.entries)?;
        }
        let old = &self.tables[k];
        if old.entries < old.limit {
            return Ok(());
        }
        let mut slots = old.slots;
        loop {
            slots = slots
                .checked_mul(self.cfg.growth)
                .filter(|s| *s <= 1 << 50)
                .ok_or_else(|| {
                    MapError::Unsupported(format!(
                        "hashed table of {} slots cannot grow further",
                        old.slots
                    ))
                })?;
            let capacity = slots / lay.bucket * lay.per_bucket;
            if (lay.load * capacity as f64) as u64 > old.entries {
                break;
            }
        }
        let items = old.collect(mem, &lay);
        let mut next = old.allocate(mem, &lay, slots)?;
        for &(tag, word) in &items {
            if let Err(e) = next.insert(mem, &lay, tag, word) {
                next.release(mem);
                return Err(e);
            }
        }
        next.entries = old.entries;
        let mut old = std::mem::replace(&mut self.tables[k], next);
        old.release(mem);
        self.moved += items.len() as u64;
        self.resizes += 1;
        Ok(())
    }

    /// Counts (`add`) or uncounts a mapping of size index `k` at `vpn` in the regions of every
    /// larger size that contain it.
    fn count_inside(&mut self, vpn: Vpn, k: usize, add: bool) {
        for j in k + 1..SIZES {
            let region = (self.asid, vpn.0 >> self.tables[j].page_bits);
            let map = &mut self.inside[j];
            if add {
                *map.entry(region).or_insert(0) += 1;
            } else if let Some(n) = map.get_mut(&region) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&region);
                }
            }
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn probe_open<R: WalkRecorder>(
        &self,
        mem: &PhysMem,
        k: usize,
        t: &Table,
        pn: u64,
        buf: &mut [u64],
        cost: &mut WalkCost,
        rec: &mut R,
    ) -> Option<u64> {
        let tag = t.tag(pn, self.asid);
        let mut b = t.home(tag >> TAG_SHIFT);
        for probe in 0..=t.mask {
            let pa = PhysAddr(t.bucket_pa(&self.lay, b));
            mem.read_block_unlogged(pa, buf, cost);
            cost.probes += 1;
            let mut open = false;
            for (i, pair) in buf.chunks_exact(2).enumerate() {
                if pair[0] == tag {
                    mem.log_lines(pa, (SLOT_BYTES * (i as u64 + 1)) as u32, LINE_BYTES);
                    rec.step(|| self.bucket_step(k, t, b, probe, pa, buf, tag, "open"));
                    return Some(pair[1]);
                }
                open |= pair[0] == 0;
            }
            mem.log_lines(pa, 8 * buf.len() as u32, LINE_BYTES);
            rec.step(|| self.bucket_step(k, t, b, probe, pa, buf, tag, "open"));
            if open {
                return None;
            }
            b = (b + 1) & t.mask;
        }
        None
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn probe_chain<R: WalkRecorder>(
        &self,
        mem: &PhysMem,
        k: usize,
        t: &Table,
        pn: u64,
        buf: &mut [u64],
        cost: &mut WalkCost,
        rec: &mut R,
    ) -> Option<u64> {
        let tag = t.tag(pn, self.asid);
        let home = t.home(tag >> TAG_SHIFT);
        let mut pa = t.bucket_pa(&self.lay, home);
        let link = buf.len() - 2;
        for probe in 0..=t.entries {
            mem.read_block_unlogged(PhysAddr(pa), buf, cost);
            cost.probes += 1;
            rec.step(|| self.bucket_step(k, t, home, probe, PhysAddr(pa), buf, tag, "chain"));
            for (i, pair) in buf[..link].chunks_exact(2).enumerate() {
                if pair[0] == tag {
                    mem.log_lines(
                        PhysAddr(pa),
                        (SLOT_BYTES * (i as u64 + 1)) as u32,
                        LINE_BYTES,
                    );
                    return Some(pair[1]);
                }
            }
            mem.log_lines(PhysAddr(pa), 8 * buf.len() as u32, LINE_BYTES);
            pa = buf[link];
            if pa == 0 {
                return None;
            }
        }
        None
    }

    /// The step of reading bucket `buf` (probe number `probe` from home bucket or bucket `b`).
    #[allow(clippy::too_many_arguments)]
    fn bucket_step(
        &self,
        k: usize,
        t: &Table,
        b: u64,
        probe: u64,
        pa: PhysAddr,
        buf: &[u64],
        tag: u64,
        mode: &str,
    ) -> WalkStep {
        let entries = if mode == "chain" {
            &buf[..buf.len() - 2]
        } else {
            buf
        };
        let hit = entries.chunks_exact(2).position(|p| p[0] == tag);
        let tags: Vec<String> = entries
            .chunks_exact(2)
            .map(|p| {
                if p[0] == 0 {
                    "empty".to_string()
                } else {
                    format!("{:#x}", p[0])
                }
            })
            .collect();
        let where_ = if mode == "chain" {
            if probe == 0 {
                format!("home bucket {b:#x}")
            } else {
                format!("overflow bucket {probe} of home bucket {b:#x}")
            }
        } else if probe == 0 {
            format!("home bucket {b:#x}")
        } else {
            format!("bucket {b:#x} (probe {})", probe + 1)
        };
        let mut meaning = format!("want tag {tag:#x}; slot tags [{}]", tags.join(", "));
        let perms = hit.map(|s| {
            let pte = self.decode(entries[2 * s + 1], k);
            meaning.push_str(&format!(
                "; match in slot {s}: frame {:#x}, perms {:?}",
                pte.pfn.0, pte.perms
            ));
            pte.perms
        });
        if hit.is_none() {
            meaning.push_str(&if mode == "chain" {
                match buf[buf.len() - 2] {
                    0 => "; no match, end of chain".to_string(),
                    next => format!("; no match, next bucket at {next:#x}"),
                }
            } else if entries.chunks_exact(2).any(|p| p[0] == 0) {
                "; no match and a free slot: the page is not here".to_string()
            } else {
                "; no match and the bucket is full: probe the next bucket".to_string()
            });
        }
        WalkStep {
            place: format!("{} table, {where_}", self.sizes[k]),
            table: PhysAddr(t.base),
            index: b,
            addr: pa,
            words: buf.to_vec(),
            word_bytes: 8,
            valid: hit.is_some(),
            perms,
            meaning,
        }
    }

    /// The walk itself, recording its steps in `rec` ([`NoRecord`] on the hot path).
    #[inline(always)]
    fn walk_rec<R: WalkRecorder>(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        rec: &mut R,
    ) -> Option<Pte> {
        if !self.covers(vpn) {
            rec.outcome(|| "outside the address space: nothing read".to_string());
            return None;
        }
        let mut block = [0u64; 2 * MAX_BUCKET];
        let buf = &mut block[..2 * self.lay.bucket as usize];
        for (k, t) in self.tables.iter().enumerate() {
            if t.entries == 0 {
                rec.note(|| {
                    format!(
                        "the {} table holds no mapping: skipped, nothing read",
                        self.sizes[k]
                    )
                });
                continue;
            }
            let pn = vpn.0 >> t.page_bits;
            if self.asid != 0 && pn >> ASID_PN_BITS != 0 {
                rec.note(|| {
                    format!(
                        "{} table: page number {pn:#x} leaves no room for asid {} in a tag: \
                         skipped",
                        self.sizes[k], self.asid
                    )
                });
                continue;
            }
            rec.note(|| {
                format!(
                    "{} table: asid {}, page number {pn:#x}, tag {:#x}, home bucket {:#x} of {}",
                    self.sizes[k],
                    self.asid,
                    t.tag(pn, self.asid),
                    t.home(t.tag(pn, self.asid) >> TAG_SHIFT),
                    t.mask + 1
                )
            });
            let hit = if self.lay.chain {
                self.probe_chain(mem, k, t, pn, buf, cost, rec)
            } else {
                self.probe_open(mem, k, t, pn, buf, cost, rec)
            };
            if let Some(word) = hit {
                rec.outcome(|| format!("found in the {} table", self.sizes[k]));
                return Some(self.decode(word, k));
            }
        }
        rec.outcome(|| "page fault: no table holds the page".to_string());
        None
    }
}

impl PageTable for Hashed {
    fn page_shift(&self) -> u8 {
        self.cfg.pobits
    }

    fn va_bits(&self) -> u8 {
        self.cfg.va_bits
    }

    fn page_sizes(&self) -> &[PageSize] {
        &self.sizes
    }

    fn map(&mut self, mem: &mut PhysMem, vpn: Vpn, pte: Pte) -> Result<(), MapError> {
        let k = check_mapping(self, vpn, &pte)?;
        let page_bits = self.tables[k].page_bits;
        if pte.pfn.0 >> self.pfn_bits != 0 {
            return Err(MapError::FrameTooWide(pte.pfn));
        }
        if self.asid != 0 && (vpn.0 >> page_bits) >> ASID_PN_BITS != 0 {
            return Err(MapError::Unsupported(format!(
                "hashed: page {vpn:?} of asid {} has a page number wider than {ASID_PN_BITS} bits, \
                 which leaves no room for the asid in its tag (only asid 0 maps such pages)",
                self.asid
            )));
        }
        let word = (pte.pfn.0 << self.cfg.pobits) | u64::from(pte.perms.bits());
        match self.find(mem, vpn) {
            // The same page again: replace its PTE word in place.
            Some((j, loc)) if j == k => {
                mem.write(PhysAddr(loc.slot_pa + 8), EntryWidth::U64, word);
                return Ok(());
            }
            Some(_) => return Err(MapError::Overlap { vpn }),
            None => {}
        }
        if self.inside[k].contains_key(&(self.asid, vpn.0 >> page_bits)) {
            return Err(MapError::Overlap { vpn });
        }
        self.reserve(mem, k)?;
        let lay = self.lay;
        let t = &mut self.tables[k];
        let tag = t.tag(vpn.0 >> page_bits, self.asid);
        if t.insert(mem, &lay, tag, word)? {
            self.collisions += 1;
        }
        t.entries += 1;
        self.count_inside(vpn, k, true);
        Ok(())
    }

    fn unmap(&mut self, mem: &mut PhysMem, vpn: Vpn) -> Result<Option<Pte>, MapError> {
        check_in_space(self, vpn)?;
        let Some((k, loc)) = self.find(mem, vpn) else {
            return Ok(None);
        };
        let pte = self.decode(peek(mem, loc.slot_pa + 8), k);
        let lay = self.lay;
        let t = &mut self.tables[k];
        self.moved += t.remove(mem, &lay, loc);
        t.entries -= 1;
        let start = Vpn(vpn.0 >> t.page_bits << t.page_bits);
        self.count_inside(start, k, false);
        Ok(Some(pte))
    }

    #[inline]
    fn walk(&self, mem: &PhysMem, vpn: Vpn, cost: &mut WalkCost) -> Option<Pte> {
        self.walk_rec(mem, vpn, cost, &mut NoRecord)
    }

    fn explain(&self, mem: &PhysMem, vpn: Vpn) -> Option<WalkTrace> {
        let fields = vec![VaField::page_number(self.cfg.va_bits, self.cfg.pobits)];
        Some(WalkTrace::record(fields, |cost, t| {
            self.walk_rec(mem, vpn, cost, t)
        }))
    }

    fn shares_asids(&self) -> bool {
        true
    }

    fn set_asid(&mut self, asid: u16) {
        self.asid = asid;
    }

    fn footprint(&self) -> Footprint {
        let table_pages: u64 = self.tables.iter().map(Table::table_pages).sum();
        Footprint {
            table_bytes: table_pages << self.cfg.pobits,
            table_pages,
            per_level: Vec::new(),
            entries: self.tables.iter().map(|t| t.entries).sum(),
            capacity: self.tables.iter().map(|t| t.capacity).sum(),
            collisions: self.collisions,
            moved_entries: self.moved,
            resizes: self.resizes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_mem() -> PhysMem {
        PhysMem::new(12, PHYS_BITS).unwrap()
    }

    fn pte(pfn: u64, size: PageSize) -> Pte {
        Pte {
            pfn: Pfn(pfn),
            perms: Perms::RW,
            size,
        }
    }

    fn base(pfn: u64) -> Pte {
        pte(pfn, PageSize::K4)
    }

    /// The refs and probes of one walk, and what it found.
    fn walk(pt: &Hashed, mem: &PhysMem, vpn: u64) -> (Option<Pte>, u32, u32) {
        let mut cost = WalkCost::default();
        let got = pt.walk(mem, Vpn(vpn), &mut cost);
        (got, cost.refs, cost.probes)
    }

    fn tiny(entries: u64, bucket: u64, collision: Collision, load: f64) -> HashedConfig {
        HashedConfig {
            entries,
            bucket,
            collision,
            load,
            ..HashedConfig::DEFAULT
        }
    }

    #[test]
    fn home_buckets_are_the_top_bits_of_the_fibonacci_hash() {
        // Worked by hand: 0x9E3779B97F4A7C15 * pn mod 2^64, top bit (2 buckets) and top 2 bits.
        let one = Table {
            hash_shift: 62,
            ..Table::unallocated(0, 0)
        };
        let homes: Vec<u64> = (0..10).map(|pn| one.home(pn)).collect();
        assert_eq!(homes, [0, 1, 0, 1, 0, 0, 1, 0, 1, 1]);
        let two = Table {
            hash_shift: 61,
            ..one.clone()
        };
        let homes: Vec<u64> = (0..10).map(|pn| two.home(pn)).collect();
        assert_eq!(homes, [0, 2, 0, 3, 1, 0, 2, 1, 3, 2]);
        assert_eq!(Table::unallocated(0, 0).home(12345), 0, "one bucket");
    }

    #[test]
    fn walk_reads_one_bucket_per_enabled_size() {
        let mut mem = new_mem();
        let mut pt = Hashed::new(HashedConfig::DEFAULT, &mut mem).unwrap();
        assert_eq!(pt.page_sizes(), &[PageSize::K4, PageSize::M2, PageSize::G1]);
        // 4096 slots * 16 bytes = 16 frames; only the base table exists yet.
        assert_eq!(pt.footprint().table_pages, 16);
        assert_eq!(pt.footprint().capacity, 4096);
        assert_eq!(
            walk(&pt, &mem, 0x12345),
            (None, 0, 0),
            "no size holds a mapping"
        );
        pt.map(&mut mem, Vpn(0x12345), base(7)).unwrap();
        assert_eq!(walk(&pt, &mem, 0x12345), (Some(base(7)), 1, 1));
        // A miss stops at its home bucket, which has empty slots.
        assert_eq!(walk(&pt, &mem, 0x12346), (None, 1, 1));

        let huge = pte(0x400, PageSize::M2);
        pt.map(&mut mem, Vpn(0x200), huge).unwrap();
        assert_eq!(
            pt.footprint().table_pages,
            32,
            "the 2 MiB table is allocated"
        );
        assert_eq!(pt.footprint().capacity, 8192);
        // 4 KiB table first (miss), then the 2 MiB table (hit); the empty 1 GiB size is skipped.
        assert_eq!(walk(&pt, &mem, 0x3ff), (Some(huge), 2, 2));
        assert_eq!(walk(&pt, &mem, 0x12345), (Some(base(7)), 1, 1));
        assert_eq!(walk(&pt, &mem, 0x5000000), (None, 2, 2));
        assert_eq!(pt.footprint().entries, 2);
        assert_eq!(pt.footprint().table_bytes, 32 * 4096);
        assert_eq!(mem.table_frames(), 32);
    }

    #[test]
    fn open_addressing_collides_probes_on_and_shifts_back() {
        // 8 slots in 2 buckets of 4; load 1 lets the table fill. Homes (top hash bit): pn 0, 2,
        // 4, 5, 7 -> bucket 0; 1, 3, 6, 8 -> bucket 1.
        let mut mem = new_mem();
        let mut pt = Hashed::new(tiny(8, 4, Collision::Open, 1.0), &mut mem).unwrap();
        for pn in [0, 2, 4, 5] {
            pt.map(&mut mem, Vpn(pn), base(pn)).unwrap();
        }
        assert_eq!(pt.footprint().collisions, 0);
        pt.map(&mut mem, Vpn(7), base(7)).unwrap();
        assert_eq!(pt.footprint().collisions, 1, "bucket 0 was full");
        assert_eq!(walk(&pt, &mem, 7), (Some(base(7)), 2, 2));
        // pn 10 (home 0) is absent: bucket 0 is full, bucket 1 has a free slot.
        assert_eq!(walk(&pt, &mem, 10), (None, 2, 2));
        assert_eq!(walk(&pt, &mem, 1), (None, 1, 1));
        for pn in [1, 3, 6] {
            pt.map(&mut mem, Vpn(pn), base(pn)).unwrap();
        }
        assert_eq!(pt.footprint().collisions, 1);
        assert_eq!(pt.footprint().load_factor(), 1.0);
        assert_eq!(pt.footprint().resizes, 0);
        // Full table: a miss reads every bucket once and stops.
        assert_eq!(walk(&pt, &mem, 9), (None, 2, 2));
        // Unmapping pn 0 shifts pn 7 (home 0, stored in bucket 1) back into bucket 0.
        assert_eq!(pt.unmap(&mut mem, Vpn(0)).unwrap(), Some(base(0)));
        assert_eq!(pt.footprint().moved_entries, 1);
        assert_eq!(walk(&pt, &mem, 7), (Some(base(7)), 1, 1));
        assert_eq!(walk(&pt, &mem, 0), (None, 2, 2));
        // pn 8 (home 1) takes the slot pn 7 left: no collision.
        pt.map(&mut mem, Vpn(8), base(8)).unwrap();
        assert_eq!(pt.footprint().collisions, 1);
        for pn in [1, 2, 3, 4, 5, 6, 7, 8] {
            assert_eq!(walk(&pt, &mem, pn).0, Some(base(pn)), "pn {pn}");
        }
        // Removing from a bucket that was not full moves nothing.
        pt.unmap(&mut mem, Vpn(8)).unwrap();
        pt.unmap(&mut mem, Vpn(1)).unwrap();
        assert_eq!(pt.footprint().moved_entries, 1);
        assert_eq!(pt.footprint().entries, 6);
    }

    #[test]
    fn a_resize_in_the_middle_keeps_every_mapping() {
        // 4 buckets of one slot, load 0.5: at most 2, then 4, 8, 16 mappings.
        let mut mem = new_mem();
        let mut pt = Hashed::new(tiny(4, 1, Collision::Open, 0.5), &mut mem).unwrap();
        for pn in 0..10u64 {
            pt.map(&mut mem, Vpn(pn << 3), base(100 + pn)).unwrap();
            for q in 0..=pn {
                assert_eq!(walk(&pt, &mem, q << 3).0, Some(base(100 + q)));
            }
        }
        let f = pt.footprint();
        // Resizes before the 3rd, 5th and 9th mapping moved 2 + 4 + 8 entries.
        assert_eq!((f.resizes, f.moved_entries, f.capacity), (3, 14, 32));
        assert_eq!(f.entries, 10);
        assert_eq!(f.table_pages, 1, "32 slots of 16 bytes fit in one frame");
        assert_eq!(mem.table_frames(), 1, "the old tables were freed");
        // Replacing a mapping neither grows the table nor counts an entry.
        pt.map(&mut mem, Vpn(0), base(5)).unwrap();
        assert_eq!(pt.footprint().entries, 10);
        assert_eq!(pt.footprint().resizes, 3);
        assert_eq!(walk(&pt, &mem, 0).0, Some(base(5)));
    }

    #[test]
    fn chaining_links_overflow_buckets_and_frees_them() {
        // 4 slots = 2 buckets of (1 entry + link); load 1 -> at most 2 mappings before a resize.
        let mut mem = new_mem();
        let mut pt = Hashed::new(tiny(4, 2, Collision::Chain, 1.0), &mut mem).unwrap();
        assert_eq!(pt.footprint().capacity, 2);
        pt.map(&mut mem, Vpn(0), base(10)).unwrap();
        pt.map(&mut mem, Vpn(2), base(12)).unwrap(); // home 0 too: an overflow bucket.
        let f = pt.footprint();
        assert_eq!(
            (f.collisions, f.table_pages),
            (1, 2),
            "home frame + overflow frame"
        );
        assert_eq!(walk(&pt, &mem, 2), (Some(base(12)), 2, 2));
        assert_eq!(walk(&pt, &mem, 4), (None, 2, 2), "home 0: the whole chain");
        assert_eq!(walk(&pt, &mem, 1), (None, 1, 1), "home 1: empty bucket");
        // The chain's last entry fills the hole and the emptied overflow bucket is freed.
        assert_eq!(pt.unmap(&mut mem, Vpn(0)).unwrap(), Some(base(10)));
        assert_eq!(pt.footprint().moved_entries, 1);
        assert_eq!(walk(&pt, &mem, 2), (Some(base(12)), 1, 1));
        assert_eq!(walk(&pt, &mem, 4), (None, 1, 1));
        pt.map(&mut mem, Vpn(4), base(14)).unwrap(); // Reuses the freed overflow bucket.
        assert_eq!(pt.footprint().table_pages, 2);
        assert_eq!(pt.footprint().collisions, 2);
        // A third mapping resizes to 8 slots (4 buckets); homes 2 -> 0, 4 -> 1, 1 -> 2: no chains.
        pt.map(&mut mem, Vpn(1), base(11)).unwrap();
        let f = pt.footprint();
        assert_eq!((f.resizes, f.moved_entries, f.capacity), (1, 3, 4));
        assert_eq!(
            f.table_pages, 1,
            "the overflow frame went back with the old table"
        );
        assert_eq!(mem.table_frames(), 1);
        for (pn, pfn) in [(1, 11), (2, 12), (4, 14)] {
            assert_eq!(walk(&pt, &mem, pn), (Some(base(pfn)), 1, 1));
        }
    }

    #[test]
    fn huge_and_base_pages_mix_and_overlaps_are_refused() {
        let mut mem = new_mem();
        let mut pt = Hashed::new(HashedConfig::DEFAULT, &mut mem).unwrap();
        let gig = pte(1 << 18, PageSize::G1);
        let two = pte(0x400, PageSize::M2);
        pt.map(&mut mem, Vpn(1 << 18), gig).unwrap();
        pt.map(&mut mem, Vpn(0x200), two).unwrap();
        pt.map(&mut mem, Vpn(0x12345), base(3)).unwrap();
        let overlap = |r: Result<(), MapError>| matches!(r, Err(MapError::Overlap { .. }));
        assert!(overlap(pt.map(&mut mem, Vpn((1 << 18) + 5), base(9))));
        assert!(overlap(pt.map(&mut mem, Vpn((1 << 18) + 512), two)));
        assert!(
            overlap(pt.map(&mut mem, Vpn(0), pte(0, PageSize::G1))),
            "holds 2M and 4K"
        );
        assert!(overlap(pt.map(
            &mut mem,
            Vpn(0x12200),
            pte(0x800, PageSize::M2)
        )));
        assert!(
            overlap(pt.map(&mut mem, Vpn(0x200), base(0x400))),
            "same start, other size"
        );
        assert!(matches!(
            pt.map(&mut mem, Vpn(0x201), pte(0x400, PageSize::M2)),
            Err(MapError::Misaligned { .. })
        ));
        assert!(matches!(
            pt.map(&mut mem, Vpn(0x600), pte(0x401, PageSize::M2)),
            Err(MapError::Misaligned { .. })
        ));
        assert!(matches!(
            pt.map(&mut mem, Vpn(0), pte(0, PageSize::from_shift(13).unwrap())),
            Err(MapError::UnsupportedPageSize(_))
        ));
        assert_eq!(pt.footprint().entries, 3);
        // Inside the 1 GiB page: miss in the 4 KiB and 2 MiB tables, hit in the 1 GiB one.
        assert_eq!(walk(&pt, &mem, (1 << 18) + 12345), (Some(gig), 3, 3));
        let got = walk(&pt, &mem, (1 << 18) + 12345).0.unwrap();
        assert_eq!(
            got.frame_of(Vpn((1 << 18) + 12345), 12),
            Pfn((1 << 18) + 12345)
        );
        // Mapping the 2 MiB page again with the same size replaces it.
        let two_b = Pte {
            perms: Perms::R,
            ..pte(0x800, PageSize::M2)
        };
        pt.map(&mut mem, Vpn(0x200), two_b).unwrap();
        assert_eq!(pt.footprint().entries, 3);
        assert_eq!(walk(&pt, &mem, 0x333).0, Some(two_b));
        // Unmapping any base page of a huge page removes the huge page.
        assert_eq!(pt.unmap(&mut mem, Vpn(0x3ff)).unwrap(), Some(two_b));
        assert_eq!(pt.unmap(&mut mem, Vpn(0x3ff)).unwrap(), None);
        assert_eq!(
            walk(&pt, &mem, 0x3ff),
            (None, 2, 2),
            "the empty 2 MiB size is skipped"
        );
        // With the 2 MiB page gone, its 4 KiB pages can be mapped, and then no 1 GiB page over it.
        pt.map(&mut mem, Vpn(0x3ff), base(0x3ff)).unwrap();
        assert!(overlap(pt.map(&mut mem, Vpn(0), pte(0, PageSize::G1))));
        pt.unmap(&mut mem, Vpn(0x3ff)).unwrap();
        pt.unmap(&mut mem, Vpn(0x12345)).unwrap();
        pt.map(&mut mem, Vpn(0), pte(0, PageSize::G1)).unwrap();
        assert_eq!(
            pt.unmap(&mut mem, Vpn(1 << 17)).unwrap(),
            Some(pte(0, PageSize::G1))
        );
        assert_eq!(pt.unmap(&mut mem, Vpn(1 << 18)).unwrap(), Some(gig));
        assert_eq!(pt.footprint().entries, 0);
        assert_eq!(
            walk(&pt, &mem, 1 << 18),
            (None, 0, 0),
            "every size is empty"
        );
    }

    #[test]
    fn perms_round_trip() {
        let mut mem = new_mem();
        let mut pt = Hashed::new(HashedConfig::DEFAULT, &mut mem).unwrap();
        let rx = Perms::R.union(Perms::X);
        for (i, perms) in [Perms::R, Perms::RW, rx, Perms::RWX, Perms::NONE]
            .into_iter()
            .enumerate()
        {
            let p = Pte {
                perms,
                ..base(i as u64 + 1)
            };
            pt.map(&mut mem, Vpn(i as u64), p).unwrap();
            assert_eq!(walk(&pt, &mem, i as u64).0, Some(p));
        }
    }

    #[test]
    fn the_top_of_the_address_range_and_wider_addresses() {
        let mut mem = new_mem();
        let mut pt = Hashed::new(HashedConfig::DEFAULT, &mut mem).unwrap();
        let top = (1u64 << 36) - 1;
        pt.map(&mut mem, Vpn(top), base(1)).unwrap();
        assert_eq!(walk(&pt, &mem, top), (Some(base(1)), 1, 1));
        let gig = pte(1 << 18, PageSize::G1);
        // The second-highest 1 GiB page (the highest holds `top`).
        pt.map(&mut mem, Vpn((1 << 36) - (2 << 18)), gig).unwrap();
        assert_eq!(walk(&pt, &mem, top - (1 << 18)).0, Some(gig));
        assert!(matches!(
            pt.map(&mut mem, Vpn(top + 1), base(2)),
            Err(MapError::AddressTooWide { va_bits: 48, .. })
        ));
        assert!(matches!(
            pt.unmap(&mut mem, Vpn(top + 1)),
            Err(MapError::AddressTooWide { .. })
        ));
        assert_eq!(walk(&pt, &mem, top + 1), (None, 0, 0), "reads nothing");
        assert_eq!(walk(&pt, &mem, u64::MAX), (None, 0, 0));
        assert!(matches!(
            pt.map(&mut mem, Vpn(5), base(1 << 40)),
            Err(MapError::FrameTooWide(_))
        ));

        // A 64-bit space: the highest page number still fits the tag.
        let mut mem = new_mem();
        let cfg = HashedConfig {
            va_bits: 64,
            ..HashedConfig::DEFAULT
        };
        let mut pt = Hashed::new(cfg, &mut mem).unwrap();
        let top = (1u64 << 52) - 1;
        pt.map(&mut mem, Vpn(top), base(9)).unwrap();
        pt.map(&mut mem, Vpn(top >> 1), base(8)).unwrap();
        assert_eq!(walk(&pt, &mem, top).0, Some(base(9)));
        assert_eq!(walk(&pt, &mem, top >> 1).0, Some(base(8)));
        assert!(matches!(
            pt.map(&mut mem, Vpn(1 << 52), base(1)),
            Err(MapError::AddressTooWide { va_bits: 64, .. })
        ));
    }

    #[test]
    fn configs_are_checked() {
        assert_eq!(HashedConfig::DEFAULT.validate(), Ok(()));
        assert_eq!(HashedConfig::DEFAULT.initial_capacity(), 4096);
        let err = |c: HashedConfig| c.validate().unwrap_err();
        let d = HashedConfig::DEFAULT;
        assert!(err(HashedConfig { bucket: 3, ..d }).contains("1, 2, 4 or 8"));
        assert!(err(HashedConfig { entries: 4000, ..d }).contains("power of two"));
        assert!(err(HashedConfig { entries: 2, ..d }).contains("at least one bucket"));
        assert!(err(HashedConfig { load: 0.0, ..d }).contains("(0, 1]"));
        assert!(err(HashedConfig {
            load: f64::NAN,
            ..d
        })
        .contains("(0, 1]"));
        assert!(err(HashedConfig {
            load: 0.1,
            entries: 4,
            ..d
        })
        .contains("no mapping"));
        assert!(err(HashedConfig { growth: 3, ..d }).contains("power of two"));
        assert!(err(HashedConfig { pobits: 11, ..d }).contains("12..=16"));
        assert!(err(HashedConfig { va_bits: 11, ..d }).contains("va_bits"));
        assert!(err(HashedConfig {
            collision: Collision::Chain,
            bucket: 1,
            entries: 4,
            ..d
        })
        .contains("bucket >= 2"));
        let chain = HashedConfig {
            collision: Collision::Chain,
            ..d
        };
        assert_eq!(chain.initial_capacity(), 3072, "a link slot per bucket");
        let mut mem14 = PhysMem::new(14, PHYS_BITS).unwrap();
        assert!(matches!(
            Hashed::new(d, &mut mem14),
            Err(MapError::Memory(MemError::Geometry(_)))
        ));
        let c16 = HashedConfig { pobits: 16, ..d };
        let mut mem16 = PhysMem::new(16, PHYS_BITS).unwrap();
        let pt = Hashed::new(c16, &mut mem16).unwrap();
        assert_eq!(
            pt.footprint().table_pages,
            1,
            "64 KiB of slots in one 64 KiB frame"
        );
        assert_eq!(
            c16.to_params()[4..],
            [
                ("collision", "open".to_string()),
                ("load", "0.6".to_string()),
                ("growth", "2".to_string())
            ]
        );
    }

    #[test]
    fn a_million_pages_fit_through_resizing() {
        for collision in [Collision::Open, Collision::Chain] {
            let mut mem = new_mem();
            let cfg = HashedConfig {
                collision,
                ..HashedConfig::DEFAULT
            };
            let mut pt = Hashed::new(cfg, &mut mem).unwrap();
            let n = 1u64 << 20;
            // Pages scattered over the 48-bit space, in 4 clusters.
            let vpn = |i: u64| ((i & 3) << 34) | ((i >> 2) * 3);
            for i in 0..n {
                pt.map(&mut mem, Vpn(vpn(i)), base(i)).unwrap();
            }
            let f = pt.footprint();
            assert_eq!(f.entries, n);
            assert!(f.load_factor() <= 0.6, "{collision:?} {f:?}");
            // Open: 4096 * 2^9 slots is the first size whose 0.6 holds 2^20 mappings; chaining
            // has 3/4 of that capacity (0.6 * 1572864 < 2^20), so it grows once more.
            let resizes = if collision == Collision::Open { 9 } else { 10 };
            assert_eq!(f.resizes, resizes, "{collision:?}");
            assert_eq!(f.capacity, (4096 << resizes) / 4 * cfg.entries_per_bucket());
            assert_eq!(mem.table_frames(), f.table_pages);
            let mut refs = 0u64;
            for i in 0..n {
                let mut cost = WalkCost::default();
                assert_eq!(pt.walk(&mem, Vpn(vpn(i)), &mut cost), Some(base(i)));
                assert_eq!(cost.refs, cost.probes);
                refs += u64::from(cost.refs);
            }
            // Most hits take one bucket read.
            assert!(refs < n + n / 4, "{collision:?}: {refs} refs");
        }
    }
}
