//! Elastic cuckoo page tables (ECPT), after Skarlatos, Kokolis, Xu and Torrellas, "Elastic Cuckoo
//! Page Tables: Rethinking Virtual Memory Translation for Parallelism" (ASPLOS 2020): one d-ary
//! cuckoo hash table per page size, each of its `WAYS` ways a separate table in its own contiguous
//! table frames with its own hash function, resized gradually ("elastically") by a per-way
//! rehashing pointer.
//!
//! Layout: a slot holds one *cluster* of `CLUSTER` consecutive pages of one size: a tag word then
//! `CLUSTER` PTE words. The tag is `cluster key << 3 | size code << 1 | 1`, where the cluster key
//! is the page number in units of that size (`vpn >> (size shift - POBITS)`) shifted right by
//! `log2(CLUSTER)`, the size code is 0, 1, 2 for the base page, 2 MiB and 1 GiB, and bit 0 is the
//! valid bit, so a zero tag is an empty slot. PTE word `i` maps the cluster's `i`-th page:
//! `pfn << POBITS | perms << 1 | 1` (bit 0 present, bits 1..=4 read, write, execute, user; with `pobits=4` the user bit has no
//! room and is implied). A slot of
//! `1 + CLUSTER` words is padded to a power of two and aligned to it, so it never straddles a
//! frame: with the default `CLUSTER = 8` a slot is 9 words in a 128-byte slot (the paper's 64-byte
//! line of 8 PTEs plus an explicit tag word, kept as its own word so that every accepted geometry
//! fits; `table_bytes` includes the padding), and it is read with ONE `read_block`, one memory
//! reference. A way of `n` slots takes `max(1, n * slot bytes / 2^POBITS)` contiguous frames;
//! way `w` places cluster key `k` at slot `hash_w(k) mod n`, with `hash_w` a xor-shift-multiply
//! mix of `k` with a per-way seed. Because growth is a power of two, a key's slot in a grown way
//! is its old slot plus a multiple of the old size.
//!
//! Page sizes: one ECPT per page size (base, 2 MiB, 1 GiB, the huge ones when larger than the
//! base), as in the paper. The base ECPT is allocated when the design is built and kept; a huge
//! ECPT when its first page is mapped, and it is freed (with its frames) when its last page is
//! unmapped, so it comes back at the initial size.
//!
//! Insertion (a cluster key not yet in the ECPT): the key goes to the first way, in way order,
//! whose candidate slot is empty. If none is (a *collision*), it displaces the occupant of its
//! slot in way 0, the victim tries the empty candidate slots of its other ways, and otherwise
//! displaces the occupant of its slot in the next way (way after the one it was evicted from,
//! round robin), up to `MAX_KICKS` displacements. A chain that does not end in an empty slot is
//! undone (every displaced entry goes back, so nothing is lost and no move is counted) and forces
//! a resize: an elastic resize when none is in progress (the key then goes into the new, empty
//! ways), or a blocking rehash when one is (every entry of the old and new ways, and the key, go
//! into ways `GROWTH` times larger than the new ones, growing again until every entry fits).
//! Mapping another page of a cluster already present only writes its PTE word.
//!
//! Elastic resizing: before an insertion, if the occupied slots (old and new ways together) would
//! exceed `floor(LOAD * WAYS * n)` for the current ways of `n` slots, new ways of `GROWTH * n`
//! slots are allocated (a resize in progress is first finished at once) and every way gets a
//! rehashing pointer at 0; new insertions go to the new ways only. Every later insertion first
//! advances each way's rehashing pointer by ONE old slot, moving the entry there (if any) into the
//! new ways with the cuckoo insertion above; so a migration moves at most `WAYS` entries per
//! insertion and always ends after exactly `n` insertions (the pointers move in step), when the
//! old frames are freed. An entry whose old slot in way `w` lies below way `w`'s pointer has
//! already moved. Unmapping never migrates, and ECPTs never shrink (the paper's downsizing is not
//! modelled).
//!
//! Cost model: a walk probes every ECPT that holds at least one mapping (the OS knows which sizes
//! are in use, as if it kept a per-size enable register), smallest size first, and does NOT stop
//! at a hit: the paper probes all ways of all sizes in parallel (its cuckoo walk caches, which
//! prune them, are not modelled), and ptbench counts every line read. In each ECPT it reads, for
//! each way `w`, the key's slot in the current ways and, while a resize is in progress and the
//! key's old slot is at or above way `w`'s rehashing pointer, that old slot too. Each slot read is
//! one memory reference and one probe, so a walk costs `WAYS` references per enabled ECPT (up to
//! `2 * WAYS` during its resize), whether it hits or misses; an address outside `VA_BITS` reads
//! nothing. `table_bytes` is every table frame held (all ways of every allocated ECPT, old ways
//! included during a migration) times the frame size, `table_pages` counts those frames, and
//! `capacity` is their PTE words (slots times `CLUSTER`), so `load_factor` is mapped pages per
//! PTE word; the resize threshold applies to slots (clusters), not pages.
//!
//! Counters: a *collision* is an insertion of a slot (a new cluster, an entry migrated by the
//! elastic resize, or one re-inserted by a blocking rehash that succeeds) that found every
//! candidate slot occupied, i.e. that needed at least one kick (or, with `MAX_KICKS = 0`, a
//! resize). `moved_entries` counts slots written somewhere new without being mapped again: entries
//! moved by elastic migration, entries re-inserted by a blocking rehash, and every cuckoo
//! displacement (kick) of a resident entry that stands. [`Ecpt::stats`] reports the three
//! separately. `resizes` counts sets of new ways allocated: elastic resizes (by load or forced by
//! a failed kick chain) and blocking-rehash attempts.
//!
//! Map and unmap read entries with uncounted `peek`s and keep, on the host, the number of smaller
//! mappings inside each 2 MiB and 1 GiB region (for overlap checks only); walks never use it.
//!
//! Cycles (with a cache model): every read of a walk (each way of each page size, old slots
//! during a resize) is issued at once, one parallel step that costs its slowest read. With the
//! cuckoo walk cache (a page-walk cache in the TLB spec: `pwc=`), its lookup costs `pwc_lat`, a
//! size it predicts a way for reads only that way's slot (and its old slot during a resize) in
//! the first step, alongside the sizes it has no prediction for (every way); a predicted way
//! that misses sends that size's fallback probes of every way to a second step, which waits
//! for the first.

use crate::spec::{DesignConfig, ParamInfo, ParamValues, SpecError};
use ptbench_core::{
    check_in_space, check_mapping, EntryWidth, Footprint, MapError, MemError, NoRecord, PageSize,
    PageTable, Perms, Pfn, PhysAddr, PhysMem, Pte, VaField, Vpn, WalkCache, WalkCost, WalkRecorder,
    WalkStep, WalkTrace,
};
use std::collections::HashMap;

/// Valid bit of a tag; a zero tag is an empty slot.
const VALID: u64 = 1;
/// Every word of a slot is 8 bytes.
const WORD: EntryWidth = EntryWidth::U64;
/// Present bit of a PTE word.
const PRESENT: u64 = 1;
/// The cluster key starts at this bit of a tag.
const TAG_SHIFT: u32 = 3;
/// Most ways.
const MAX_WAYS: usize = 8;
/// Largest cluster, in pages.
const MAX_CLUSTER: usize = 16;
/// Words of the largest slot that are read (a tag and `MAX_CLUSTER` PTEs).
const MAX_WORDS: usize = MAX_CLUSTER + 1;
/// A way never grows beyond 2^MAX_WAY_LOG2 slots.
const MAX_WAY_LOG2: u8 = 32;
/// Width of the physical addresses a PTE word holds.
const PHYS_BITS: u8 = 52;
/// Page sizes: the base page, 2 MiB, 1 GiB.
const SIZES: usize = 3;
/// Per-way hash seeds.
const SEEDS: [u64; MAX_WAYS] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0xD6E8_FEB8_6659_FD93,
    0xA076_1D64_78BD_642F,
    0xE703_7ED1_A0B4_28DB,
    0x8EBC_6AF0_9C88_C6E3,
    0x5899_65CC_7537_4CC3,
];

/// The way-`way` hash of a cluster key (a xor-shift-multiply mix; the low bits index the way).
#[inline(always)]
fn hash(key: u64, way: usize) -> u64 {
    let mut x = key ^ SEEDS[way & (MAX_WAYS - 1)];
    x = (x ^ (x >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x = (x ^ (x >> 32)).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^ (x >> 32)
}

/// The parameters of an elastic cuckoo page table.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct EcptConfig {
    /// log2 of the base page size, 4 to 30 (a slot must fit in one frame).
    pub pobits: u8,
    /// Width of the virtual address space, `pobits` to 64.
    pub va_bits: u8,
    /// Ways (d) of every ECPT, 2 to 8.
    pub ways: u8,
    /// Slots per way of a new ECPT: a power of two, 1 to 2^24.
    pub entries: u64,
    /// Resize when occupied slots would exceed this fraction of the current ways' slots, in (0, 1].
    pub load: f64,
    /// Factor by which a resize grows every way: a power of two, 2 to 16.
    pub growth: u64,
    /// Pages per slot (consecutive pages of one size sharing a tag): a power of two, 1 to 16.
    pub cluster: u8,
    /// Most displacements of one insertion before it forces a resize, 0 to 1024.
    pub max_kicks: u32,
}

impl EcptConfig {
    /// The defaults: 4 KiB pages, 48-bit addresses, 3 ways of 512 slots of 8 PTEs, resize at load
    /// 0.7 to twice the size, at most 32 kicks per insertion.
    pub const DEFAULT: EcptConfig = EcptConfig {
        pobits: 12,
        va_bits: 48,
        ways: 3,
        entries: 512,
        load: 0.7,
        growth: 2,
        cluster: 8,
        max_kicks: 32,
    };

    /// Words of a slot that hold something: the tag and `cluster` PTEs.
    pub const fn slot_words(&self) -> u64 {
        1 + self.cluster as u64
    }

    /// Bytes of a slot: `slot_words() * 8` rounded up to a power of two (128 for `cluster = 8`).
    pub const fn slot_bytes(&self) -> u64 {
        (self.slot_words() * 8).next_power_of_two()
    }

    /// Checks the parameters, explaining what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(4..=30).contains(&self.pobits) {
            return Err(format!("pobits={} is outside 4..=30", self.pobits));
        }
        if self.va_bits < self.pobits || self.va_bits > 64 {
            return Err(format!(
                "va_bits={} is outside pobits..=64 ({}..=64)",
                self.va_bits, self.pobits
            ));
        }
        if !(2..=MAX_WAYS as u8).contains(&self.ways) {
            return Err(format!("ways={} is outside 2..=8", self.ways));
        }
        if !self.entries.is_power_of_two() || self.entries > 1 << 24 {
            return Err(format!(
                "entries={} is not a power of two from 1 to 2^24",
                self.entries
            ));
        }
        if !(self.load > 0.0 && self.load <= 1.0) {
            return Err(format!(
                "load={} is outside (0, 1]",
                crate::spec::compact_f64(self.load)
            ));
        }
        if !self.growth.is_power_of_two() || !(2..=16).contains(&self.growth) {
            return Err(format!(
                "growth={} is not a power of two from 2 to 16",
                self.growth
            ));
        }
        if !self.cluster.is_power_of_two() || self.cluster as usize > MAX_CLUSTER {
            return Err(format!(
                "cluster={} is not a power of two from 1 to {MAX_CLUSTER}",
                self.cluster
            ));
        }
        if self.max_kicks > 1024 {
            return Err(format!("max_kicks={} is above 1024", self.max_kicks));
        }
        if self.slot_bytes() > 1 << self.pobits {
            return Err(format!(
                "a slot of {} bytes (cluster={}) does not fit in one {}-byte frame",
                self.slot_bytes(),
                self.cluster,
                1u64 << self.pobits
            ));
        }
        let slots = self.entries * u64::from(self.ways);
        if ((self.load * slots as f64) as u64) < 1 {
            return Err(format!(
                "load={} of {slots} slots holds no cluster before the first resize: load must be \
                 from 1/{slots} ({}) to 1",
                crate::spec::compact_f64(self.load),
                crate::spec::compact_f64(1.0 / slots as f64),
            ));
        }
        Ok(())
    }
}

impl Default for EcptConfig {
    fn default() -> EcptConfig {
        EcptConfig::DEFAULT
    }
}

impl DesignConfig for EcptConfig {
    const NAME: &'static str = "ecpt";
    const WALK: &'static str = "one parallel step: every way of every page size in use (and old slots during a resize) read at once, costing the slowest; with the cuckoo walk cache (pwc=) a lookup (pwc_lat), the predicted way only, and a second step of every way after a wrong prediction";
    const SUMMARY: &'static str =
        "elastic cuckoo page tables (ASPLOS 2020): d-ary cuckoo hashing per page size, clustered slots, gradual resizing";
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            key: "pobits",
            default: "12",
            help: "log2 of the base page size, 4 to 30; table frames are one page",
        },
        ParamInfo {
            key: "va_bits",
            default: "48",
            help: "width of the virtual address space, pobits to 64",
        },
        ParamInfo {
            key: "ways",
            default: "3",
            help: "cuckoo ways (d), 2 to 8, each its own table with its own hash; a walk reads one slot per way",
        },
        ParamInfo {
            key: "entries",
            default: "512",
            help: "slots per way of a new ECPT, a power of two",
        },
        ParamInfo {
            key: "load",
            default: "0.7",
            help: "start an elastic resize when occupied slots would exceed this fraction, in (0, 1]",
        },
        ParamInfo {
            key: "growth",
            default: "2",
            help: "a resize multiplies every way's slots by this, a power of two from 2 to 16",
        },
        ParamInfo {
            key: "cluster",
            default: "8",
            help: "consecutive pages per slot (one tag), a power of two from 1 to 16; a slot is read as one reference",
        },
        ParamInfo {
            key: "max_kicks",
            default: "32",
            help: "cuckoo displacements before an insertion forces a resize, 0 to 1024",
        },
    ];
    type Table = Ecpt;

    fn from_params(p: &ParamValues) -> Result<Self, SpecError> {
        let cfg = EcptConfig {
            pobits: p.u8_in("pobits", 4, 30)?,
            va_bits: p.u8_in("va_bits", 4, 64)?,
            ways: p.u8_in("ways", 2, MAX_WAYS as u8)?,
            entries: p.u64_in("entries", 1, 1 << 24)?,
            load: p.f64_in("load", 0.0, 1.0)?,
            growth: p.u64_in("growth", 2, 16)?,
            cluster: p.u8_in("cluster", 1, MAX_CLUSTER as u8)?,
            max_kicks: p.u64_in("max_kicks", 0, 1024)? as u32,
        };
        cfg.validate().map_err(|e| p.geometry(e))?;
        Ok(cfg)
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("pobits", self.pobits.to_string()),
            ("va_bits", self.va_bits.to_string()),
            ("ways", self.ways.to_string()),
            ("entries", self.entries.to_string()),
            ("load", crate::spec::compact_f64(self.load)),
            ("growth", self.growth.to_string()),
            ("cluster", self.cluster.to_string()),
            ("max_kicks", self.max_kicks.to_string()),
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

    fn build(&self, mem: &mut PhysMem) -> Result<Ecpt, MapError> {
        Ecpt::new(*self, mem)
    }
}

/// Counters of an [`Ecpt`], with the moves split by cause.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct EcptStats {
    /// Slot insertions that found every candidate slot occupied.
    pub collisions: u64,
    /// Cuckoo displacements of resident entries that stand (undone chains are not counted).
    pub kicks: u64,
    /// Entries moved from old to new ways by elastic migration (rehashing-pointer steps).
    pub migrated: u64,
    /// Entries re-inserted by blocking rehashes (a forced resize while one was in progress).
    pub rehashed: u64,
    /// Sets of new ways allocated (elastic resizes and blocking-rehash attempts).
    pub resizes: u64,
    /// Resizes forced by a failed kick chain rather than by the load threshold.
    pub forced_resizes: u64,
}

/// The fixed geometry every ECPT of a design shares.
#[derive(Copy, Clone, Debug)]
struct Geom {
    ways: usize,
    slot_words: usize,
    slot_shift: u32,
    frame_shift: u32,
    pobits: u8,
    growth_log2: u8,
    init_log2: u8,
    load: f64,
    max_kicks: u32,
    cluster_log2: u32,
    cluster_mask: u64,
}

impl Geom {
    /// Frames of one way of `2^log2` slots.
    fn way_frames(&self, log2: u8) -> u64 {
        let bytes_log2 = u32::from(log2) + self.slot_shift;
        if bytes_log2 <= self.frame_shift {
            1
        } else {
            1 << (bytes_log2 - self.frame_shift)
        }
    }

    /// The load threshold of ways of `2^log2` slots.
    fn limit(&self, log2: u8) -> u64 {
        (self.load * ((self.ways as u64) << log2) as f64) as u64
    }
}

/// One slot's contents (the first `slot_words` words are meaningful).
type Slot = [u64; MAX_WORDS];

/// Collision and kick counts of insertions, merged into the stats when they stand.
#[derive(Copy, Clone, Debug, Default)]
struct Tally {
    collisions: u64,
    kicks: u64,
}

/// A set of ways: their base addresses and their size.
#[derive(Copy, Clone, Debug)]
struct Ways {
    base: [u64; MAX_WAYS],
    log2: u8,
    mask: u64,
}

impl Ways {
    fn alloc(mem: &mut PhysMem, g: &Geom, log2: u8) -> Result<Ways, MapError> {
        if log2 > MAX_WAY_LOG2 {
            return Err(MapError::Unsupported(format!(
                "an ECPT way would need more than 2^{MAX_WAY_LOG2} slots"
            )));
        }
        let frames = g.way_frames(log2);
        let mut base = [0; MAX_WAYS];
        for w in 0..g.ways {
            match mem.alloc_table_frames(frames) {
                Ok(pa) => base[w] = pa.0,
                Err(e) => {
                    for b in &base[..w] {
                        mem.free_table_frames(PhysAddr(*b), frames);
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(Ways {
            base,
            log2,
            mask: (1 << log2) - 1,
        })
    }

    fn free(&self, mem: &mut PhysMem, g: &Geom) {
        let frames = g.way_frames(self.log2);
        for b in &self.base[..g.ways] {
            mem.free_table_frames(PhysAddr(*b), frames);
        }
    }

    #[inline(always)]
    fn slot(&self, g: &Geom, way: usize, index: u64) -> u64 {
        self.base[way] + (index << g.slot_shift)
    }

    fn slots(&self) -> u64 {
        1 << self.log2
    }
}

fn peek_slot(mem: &PhysMem, g: &Geom, pa: u64) -> Slot {
    let mut s = [0; MAX_WORDS];
    for (i, w) in s[..g.slot_words].iter_mut().enumerate() {
        *w = mem.peek(PhysAddr(pa + 8 * i as u64), WORD);
    }
    s
}

fn write_slot(mem: &mut PhysMem, g: &Geom, pa: u64, s: &Slot) {
    for (i, w) in s[..g.slot_words].iter().enumerate() {
        mem.write(PhysAddr(pa + 8 * i as u64), WORD, *w);
    }
}

fn slot_empty(mem: &PhysMem, pa: u64) -> bool {
    mem.peek(PhysAddr(pa), WORD) & VALID == 0
}

/// Inserts `item` into `ways` (cuckoo hashing with at most `max_kicks` displacements). On failure
/// every displacement is undone and the item is handed back.
fn cuckoo(
    mem: &mut PhysMem,
    g: &Geom,
    ways: &Ways,
    item: Slot,
    tally: &mut Tally,
) -> Result<(), Box<Slot>> {
    let key = item[0] >> TAG_SHIFT;
    for w in 0..g.ways {
        let pa = ways.slot(g, w, hash(key, w) & ways.mask);
        if slot_empty(mem, pa) {
            write_slot(mem, g, pa, &item);
            return Ok(());
        }
    }
    tally.collisions += 1;
    let mut path: Vec<u64> = Vec::new();
    let mut hand = item;
    let mut way = 0;
    for _ in 0..g.max_kicks {
        let key = hand[0] >> TAG_SHIFT;
        let pa = ways.slot(g, way, hash(key, way) & ways.mask);
        let victim = peek_slot(mem, g, pa);
        write_slot(mem, g, pa, &hand);
        path.push(pa);
        hand = victim;
        let vkey = hand[0] >> TAG_SHIFT;
        for w in (0..g.ways).filter(|&w| w != way) {
            let pa = ways.slot(g, w, hash(vkey, w) & ways.mask);
            if slot_empty(mem, pa) {
                write_slot(mem, g, pa, &hand);
                tally.kicks += path.len() as u64;
                return Ok(());
            }
        }
        way = (way + 1) % g.ways;
    }
    // Undo: swapping back in reverse order restores every slot and returns the item to hand.
    for pa in path.iter().rev() {
        let held = peek_slot(mem, g, *pa);
        write_slot(mem, g, *pa, &hand);
        hand = held;
    }
    Err(Box::new(hand))
}

/// The ECPT of one page size.
#[derive(Clone, Debug)]
struct SizeTable {
    /// `vpn >> vshift` is the page number in this size's units.
    vshift: u32,
    /// Size code (0, 1, 2) already shifted into place in a tag.
    code: u64,
    /// The current ways: every insertion goes here.
    cur: Ways,
    /// Whether an elastic resize is in progress (then `old` and `ptr` are meaningful).
    resizing: bool,
    /// The ways being migrated away from.
    old: Ways,
    /// Per-way rehashing pointers: old slots below `ptr[w]` of way `w` have been migrated.
    ptr: [u64; MAX_WAYS],
    /// Occupied slots, old and current ways together.
    occupied: u64,
    /// Mapped pages.
    mappings: u64,
    /// The load threshold of the current ways.
    limit: u64,
}

impl SizeTable {
    fn new(mem: &mut PhysMem, g: &Geom, size_index: usize, vshift: u32) -> Result<Self, MapError> {
        let cur = Ways::alloc(mem, g, g.init_log2)?;
        Ok(SizeTable {
            vshift,
            code: (size_index as u64) << 1,
            cur,
            resizing: false,
            old: cur,
            ptr: [0; MAX_WAYS],
            occupied: 0,
            mappings: 0,
            limit: g.limit(g.init_log2),
        })
    }

    #[inline(always)]
    fn tag(&self, key: u64) -> u64 {
        (key << TAG_SHIFT) | self.code | VALID
    }

    fn free(&self, mem: &mut PhysMem, g: &Geom) {
        self.cur.free(mem, g);
        if self.resizing {
            self.old.free(mem, g);
        }
    }

    /// Frames held (current and old ways).
    fn frames(&self, g: &Geom) -> u64 {
        let mut f = g.way_frames(self.cur.log2) * g.ways as u64;
        if self.resizing {
            f += g.way_frames(self.old.log2) * g.ways as u64;
        }
        f
    }

    /// Slots held (current and old ways).
    fn slots(&self, g: &Geom) -> u64 {
        let mut s = self.cur.slots() * g.ways as u64;
        if self.resizing {
            s += self.old.slots() * g.ways as u64;
        }
        s
    }

    /// The physical address of the slot holding `key`, found with uncounted peeks.
    fn locate(&self, mem: &PhysMem, g: &Geom, key: u64) -> Option<u64> {
        let tag = self.tag(key);
        let is = |pa: u64| mem.peek(PhysAddr(pa), WORD) == tag;
        for w in 0..g.ways {
            let h = hash(key, w);
            if self.resizing {
                let j = h & self.old.mask;
                if j >= self.ptr[w] {
                    let pa = self.old.slot(g, w, j);
                    if is(pa) {
                        return Some(pa);
                    }
                }
            }
            let pa = self.cur.slot(g, w, h & self.cur.mask);
            if is(pa) {
                return Some(pa);
            }
        }
        None
    }

    /// Inserts a slot for a key not present, resizing first when the load threshold says so.
    fn insert(
        &mut self,
        mem: &mut PhysMem,
        g: &Geom,
        st: &mut EcptStats,
        item: Slot,
    ) -> Result<(), MapError> {
        if self.occupied + 1 > self.limit {
            if self.resizing {
                self.finish_migration(mem, g, st)?;
            }
            if self.occupied + 1 > self.limit {
                self.start_resize(mem, g, st)?;
            }
        } else if self.resizing {
            self.migrate_step(mem, g, st)?;
        }
        let mut tally = Tally::default();
        let res = cuckoo(mem, g, &self.cur, item, &mut tally);
        st.collisions += tally.collisions;
        st.kicks += tally.kicks;
        if let Err(item) = res {
            st.forced_resizes += 1;
            if self.resizing {
                self.rehash(mem, g, st, Some(*item))?;
            } else {
                self.start_resize(mem, g, st)?;
                let mut tally = Tally::default();
                if let Err(item) = cuckoo(mem, g, &self.cur, *item, &mut tally) {
                    // Not reached (the new ways are empty), but never lose an entry.
                    self.rehash(mem, g, st, Some(*item))?;
                }
            }
        }
        self.occupied += 1;
        Ok(())
    }

    /// Allocates ways `growth` times larger and starts migrating into them.
    fn start_resize(
        &mut self,
        mem: &mut PhysMem,
        g: &Geom,
        st: &mut EcptStats,
    ) -> Result<(), MapError> {
        let new = Ways::alloc(mem, g, self.cur.log2 + g.growth_log2)?;
        self.old = self.cur;
        self.cur = new;
        self.ptr = [0; MAX_WAYS];
        self.resizing = true;
        self.limit = g.limit(new.log2);
        st.resizes += 1;
        Ok(())
    }

    /// Advances every way's rehashing pointer by one old slot, moving the entry there.
    fn migrate_step(
        &mut self,
        mem: &mut PhysMem,
        g: &Geom,
        st: &mut EcptStats,
    ) -> Result<(), MapError> {
        let old_slots = self.old.slots();
        for w in 0..g.ways {
            if self.ptr[w] >= old_slots {
                continue;
            }
            let pa = self.old.slot(g, w, self.ptr[w]);
            if !slot_empty(mem, pa) {
                let item = peek_slot(mem, g, pa);
                let mut tally = Tally::default();
                let res = cuckoo(mem, g, &self.cur, item, &mut tally);
                st.collisions += tally.collisions;
                st.kicks += tally.kicks;
                if res.is_err() {
                    // The entry is still in its old slot: rehash everything, it included.
                    st.forced_resizes += 1;
                    return self.rehash(mem, g, st, None);
                }
                mem.write(PhysAddr(pa), WORD, 0);
                st.migrated += 1;
            }
            self.ptr[w] += 1;
        }
        if self.ptr[..g.ways].iter().all(|&p| p >= old_slots) {
            self.old.free(mem, g);
            self.resizing = false;
        }
        Ok(())
    }

    fn finish_migration(
        &mut self,
        mem: &mut PhysMem,
        g: &Geom,
        st: &mut EcptStats,
    ) -> Result<(), MapError> {
        while self.resizing {
            self.migrate_step(mem, g, st)?;
        }
        Ok(())
    }

    /// Blocking rehash: every resident entry (and `extra`) into new ways `growth` times larger
    /// than the current ones, growing further until all fit. Changes nothing on error.
    fn rehash(
        &mut self,
        mem: &mut PhysMem,
        g: &Geom,
        st: &mut EcptStats,
        extra: Option<Slot>,
    ) -> Result<(), MapError> {
        let mut items: Vec<Slot> = Vec::new();
        if self.resizing {
            for w in 0..g.ways {
                for j in self.ptr[w]..self.old.slots() {
                    let pa = self.old.slot(g, w, j);
                    if !slot_empty(mem, pa) {
                        items.push(peek_slot(mem, g, pa));
                    }
                }
            }
        }
        for w in 0..g.ways {
            for j in 0..self.cur.slots() {
                let pa = self.cur.slot(g, w, j);
                if !slot_empty(mem, pa) {
                    items.push(peek_slot(mem, g, pa));
                }
            }
        }
        let residents = items.len() as u64;
        items.extend(extra);
        let mut log2 = self.cur.log2 + g.growth_log2;
        loop {
            let new = Ways::alloc(mem, g, log2)?;
            st.resizes += 1;
            let mut tally = Tally::default();
            let fits = items
                .iter()
                .all(|item| cuckoo(mem, g, &new, *item, &mut tally).is_ok());
            if fits {
                self.free(mem, g);
                self.cur = new;
                self.old = new;
                self.resizing = false;
                self.ptr = [0; MAX_WAYS];
                self.limit = g.limit(log2);
                st.collisions += tally.collisions;
                st.kicks += tally.kicks;
                st.rehashed += residents;
                return Ok(());
            }
            new.free(mem, g);
            log2 += g.growth_log2;
        }
    }
}

/// An elastic cuckoo page table: one d-ary cuckoo hash table per page size in simulated memory.
#[derive(Clone, Debug)]
pub struct Ecpt {
    cfg: EcptConfig,
    g: Geom,
    sizes: Vec<PageSize>,
    tables: [Option<SizeTable>; SIZES],
    /// Smaller mappings inside each (size index, region) of a huge size; for overlap checks only.
    regions: HashMap<(usize, u64), u64>,
    mappings: u64,
    stats: EcptStats,
}

impl Ecpt {
    /// Builds an empty table (the base-size ECPT allocated) in `mem`, whose frames must be
    /// `2^pobits` bytes.
    pub fn new(cfg: EcptConfig, mem: &mut PhysMem) -> Result<Ecpt, MapError> {
        cfg.validate()
            .map_err(|e| MapError::Memory(MemError::Geometry(e)))?;
        if mem.frame_shift() != cfg.pobits {
            return Err(MapError::Memory(MemError::Geometry(format!(
                "ecpt with pobits={} in memory of 2^{}-byte frames",
                cfg.pobits,
                mem.frame_shift()
            ))));
        }
        let base = PageSize::from_shift(cfg.pobits).ok_or_else(|| {
            MapError::Memory(MemError::Geometry(format!(
                "pobits={} is not a page size",
                cfg.pobits
            )))
        })?;
        let mut sizes = vec![base];
        sizes.extend(
            [PageSize::M2, PageSize::G1]
                .into_iter()
                .filter(|s| *s > base),
        );
        let g = Geom {
            ways: cfg.ways as usize,
            slot_words: cfg.slot_words() as usize,
            slot_shift: cfg.slot_bytes().trailing_zeros(),
            frame_shift: u32::from(cfg.pobits),
            pobits: cfg.pobits,
            growth_log2: cfg.growth.trailing_zeros() as u8,
            init_log2: cfg.entries.trailing_zeros() as u8,
            load: cfg.load,
            max_kicks: cfg.max_kicks,
            cluster_log2: u32::from(cfg.cluster).trailing_zeros(),
            cluster_mask: u64::from(cfg.cluster) - 1,
        };
        let first = SizeTable::new(mem, &g, 0, 0)?;
        Ok(Ecpt {
            cfg,
            g,
            sizes,
            tables: [Some(first), None, None],
            regions: HashMap::new(),
            mappings: 0,
            stats: EcptStats::default(),
        })
    }

    /// The parameters.
    pub fn config(&self) -> EcptConfig {
        self.cfg
    }

    /// The counters, with moves split by cause.
    pub fn stats(&self) -> EcptStats {
        self.stats
    }

    /// Whether the ECPT of `size` is migrating to larger ways.
    pub fn resizing(&self, size: PageSize) -> bool {
        self.table_of(size).is_some_and(|t| t.resizing)
    }

    /// Slots per way of the ECPT of `size` (current ways), if it is allocated.
    pub fn way_slots(&self, size: PageSize) -> Option<u64> {
        self.table_of(size).map(|t| t.cur.slots())
    }

    /// The rehashing pointers of the ECPT of `size` while it migrates (one per way).
    pub fn rehash_pointers(&self, size: PageSize) -> Option<&[u64]> {
        self.table_of(size)
            .filter(|t| t.resizing)
            .map(|t| &t.ptr[..self.g.ways])
    }

    /// Occupied slots (clusters) of the ECPT of `size`.
    pub fn occupied_slots(&self, size: PageSize) -> u64 {
        self.table_of(size).map_or(0, |t| t.occupied)
    }

    /// ECPTs a walk probes now (those holding at least one mapping).
    pub fn enabled_tables(&self) -> usize {
        self.tables
            .iter()
            .flatten()
            .filter(|t| t.mappings > 0)
            .count()
    }

    fn table_of(&self, size: PageSize) -> Option<&SizeTable> {
        let i = self.sizes.iter().position(|s| *s == size)?;
        self.tables[i].as_ref()
    }

    fn vshift(&self, size_index: usize) -> u32 {
        u32::from(self.sizes[size_index].shift() - self.cfg.pobits)
    }

    #[inline(always)]
    fn decode(&self, word: u64, size: PageSize) -> Pte {
        Pte {
            pfn: Pfn(word >> self.cfg.pobits),
            // With 16-byte pages (pobits 4) the user bit has no room: it is implied.
            perms: if self.cfg.pobits < 5 {
                Perms::from_bits(((word >> 1) & 7) as u8).union(Perms::U)
            } else {
                Perms::from_bits((word >> 1) as u8)
            },
            size,
        }
    }

    /// The slot and PTE word index of `vpn` in ECPT `s`, if its cluster is there (uncounted).
    fn find(&self, mem: &PhysMem, s: usize, vpn: Vpn) -> Option<(u64, u64)> {
        let t = self.tables[s].as_ref()?;
        let vs = vpn.0 >> t.vshift;
        let pa = t.locate(mem, &self.g, vs >> self.g.cluster_log2)?;
        Some((pa, 1 + (vs & self.g.cluster_mask)))
    }

    /// The plain walk, recording its steps in `rec` ([`NoRecord`] on the hot path).
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
        let g = &self.g;
        let mut buf = [0u64; MAX_WORDS];
        let words = &mut buf[..g.slot_words];
        let mut found = None;
        for (s, t) in self.tables.iter().enumerate() {
            let Some(t) = t.as_ref().filter(|t| t.mappings > 0) else {
                if let Some(size) = self.sizes.get(s) {
                    rec.note(|| format!("the {size} ECPT holds no mapping: skipped, nothing read"));
                }
                continue;
            };
            let vs = vpn.0 >> t.vshift;
            let key = vs >> g.cluster_log2;
            let tag = t.tag(key);
            let i = 1 + (vs & g.cluster_mask) as usize;
            rec.note(|| {
                format!(
                    "{} ECPT: cluster key {key:#x}, tag {tag:#x}, PTE word {i} of the slot; \
                     every way is read, hit or miss",
                    self.sizes[s]
                )
            });
            for w in 0..g.ways {
                let h = hash(key, w);
                if t.resizing {
                    let j = h & t.old.mask;
                    if j >= t.ptr[w] {
                        let pa = t.old.slot(g, w, j);
                        mem.read_block(PhysAddr(pa), words, cost);
                        cost.probes += 1;
                        rec.step(|| {
                            self.slot_step(s, t.old.base[w], w, j, pa, words, tag, i, "old ")
                        });
                        if words[0] == tag && words[i] & PRESENT != 0 {
                            found = Some(self.decode(words[i], self.sizes[s]));
                        }
                    }
                }
                let j = h & t.cur.mask;
                let pa = t.cur.slot(g, w, j);
                mem.read_block(PhysAddr(pa), words, cost);
                cost.probes += 1;
                rec.step(|| self.slot_step(s, t.cur.base[w], w, j, pa, words, tag, i, ""));
                if words[0] == tag && words[i] & PRESENT != 0 {
                    found = Some(self.decode(words[i], self.sizes[s]));
                }
            }
        }
        rec.outcome(|| match found {
            Some(p) => format!("found in the {} ECPT", p.size),
            None => "page fault: no way holds the page".to_string(),
        });
        found
    }

    /// The step of reading slot `j` of way `w` (at `way_base`), whose words are `words`.
    #[allow(clippy::too_many_arguments)]
    fn slot_step(
        &self,
        s: usize,
        way_base: u64,
        w: usize,
        j: u64,
        pa: u64,
        words: &[u64],
        tag: u64,
        i: usize,
        old: &str,
    ) -> WalkStep {
        let hit = words[0] == tag && words[i] & PRESENT != 0;
        let meaning = if words[0] & VALID == 0 {
            format!("empty slot (tag 0); want tag {tag:#x}")
        } else if words[0] != tag {
            format!("tag {:#x} is another cluster; want {tag:#x}", words[0])
        } else if !hit {
            format!("tag {tag:#x} matches, but PTE word {i} has P=0: page not mapped")
        } else {
            let p = self.decode(words[i], self.sizes[s]);
            format!(
                "tag {tag:#x} matches, PTE word {i} = {:#x}: P=1, frame {:#x}, perms {:?}",
                words[i], p.pfn.0, p.perms
            )
        };
        WalkStep {
            place: format!("{} ECPT, {old}way {w}, slot {j:#x}", self.sizes[s]),
            table: PhysAddr(way_base),
            index: j,
            addr: PhysAddr(pa),
            words: words.to_vec(),
            word_bytes: 8,
            valid: hit,
            perms: hit.then(|| self.decode(words[i], self.sizes[s]).perms),
            meaning,
        }
    }

    fn count_regions(&mut self, s: usize, vpn: Vpn, up: bool) {
        for l in s + 1..self.sizes.len() {
            let region = (l, vpn.0 >> self.vshift(l));
            if up {
                *self.regions.entry(region).or_insert(0) += 1;
            } else if let Some(c) = self.regions.get_mut(&region) {
                *c -= 1;
                if *c == 0 {
                    self.regions.remove(&region);
                }
            }
        }
    }
}

impl PageTable for Ecpt {
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
        let s = check_mapping(self, vpn, &pte)?;
        let vshift = self.vshift(s);
        if pte.pfn.0 >> (PHYS_BITS - self.cfg.pobits) != 0 {
            return Err(MapError::FrameTooWide(pte.pfn));
        }
        if (s + 1..self.sizes.len()).any(|l| {
            self.find(mem, l, vpn)
                .is_some_and(|(pa, i)| mem.peek(PhysAddr(pa + 8 * i), WORD) & PRESENT != 0)
        }) {
            return Err(MapError::Overlap { vpn });
        }
        if s > 0 && self.regions.contains_key(&(s, vpn.0 >> vshift)) {
            return Err(MapError::Overlap { vpn });
        }
        let perms = if self.cfg.pobits < 5 {
            pte.perms.rwx()
        } else {
            pte.perms
        };
        let word = (pte.pfn.0 << self.cfg.pobits) | (u64::from(perms.bits()) << 1) | PRESENT;
        if let Some((pa, i)) = self.find(mem, s, vpn) {
            let at = PhysAddr(pa + 8 * i);
            let old = mem.peek(at, WORD);
            mem.write(at, WORD, word);
            if old & PRESENT == 0 {
                if let Some(t) = self.tables[s].as_mut() {
                    t.mappings += 1;
                }
                self.mappings += 1;
                self.count_regions(s, vpn, true);
            }
            return Ok(());
        }
        let g = self.g;
        let mut t = match self.tables[s].take() {
            Some(t) => t,
            None => SizeTable::new(mem, &g, s, vshift)?,
        };
        let vs = vpn.0 >> vshift;
        let mut item = [0; MAX_WORDS];
        item[0] = t.tag(vs >> g.cluster_log2);
        item[1 + (vs & g.cluster_mask) as usize] = word;
        match t.insert(mem, &g, &mut self.stats, item) {
            Ok(()) => {
                t.mappings += 1;
                self.tables[s] = Some(t);
                self.mappings += 1;
                self.count_regions(s, vpn, true);
                Ok(())
            }
            Err(e) => {
                if s > 0 && t.mappings == 0 {
                    t.free(mem, &g);
                } else {
                    self.tables[s] = Some(t);
                }
                Err(e)
            }
        }
    }

    fn unmap(&mut self, mem: &mut PhysMem, vpn: Vpn) -> Result<Option<Pte>, MapError> {
        check_in_space(self, vpn)?;
        let w64 = WORD;
        for s in 0..self.sizes.len() {
            let Some((pa, i)) = self.find(mem, s, vpn) else {
                continue;
            };
            let word = mem.peek(PhysAddr(pa + 8 * i), w64);
            if word & PRESENT == 0 {
                continue;
            }
            mem.write(PhysAddr(pa + 8 * i), w64, 0);
            let size = self.sizes[s];
            let start = Vpn(vpn.0 & !((1u64 << self.vshift(s)) - 1));
            let cluster_empty = (1..self.g.slot_words as u64)
                .all(|k| mem.peek(PhysAddr(pa + 8 * k), w64) & PRESENT == 0);
            let g = self.g;
            if let Some(t) = self.tables[s].as_mut() {
                if cluster_empty {
                    mem.write(PhysAddr(pa), w64, 0);
                    t.occupied -= 1;
                }
                t.mappings -= 1;
                if s > 0 && t.mappings == 0 {
                    t.free(mem, &g);
                    self.tables[s] = None;
                }
            }
            self.mappings -= 1;
            self.count_regions(s, start, false);
            return Ok(Some(self.decode(word, size)));
        }
        Ok(None)
    }

    #[inline]
    /// The plain walk, kept apart from [`walk_cached`](PageTable::walk_cached): routing it
    /// through the cached walk with `NoWalkCache` measured 13% slower (`cargo bench -- walk/ecpt`).
    fn walk(&self, mem: &PhysMem, vpn: Vpn, cost: &mut WalkCost) -> Option<Pte> {
        // Every way of every size is probed at once: one step, as costly as its slowest read.
        mem.begin_parallel();
        let found = self.walk_rec(mem, vpn, cost, &mut NoRecord);
        mem.end_parallel();
        found
    }

    fn explain(&self, mem: &PhysMem, vpn: Vpn) -> Option<WalkTrace> {
        let va = self.cfg.va_bits;
        let split = (self.cfg.pobits + self.g.cluster_log2 as u8).min(va);
        let mut fields = Vec::new();
        if split < va {
            fields.push(VaField::new("cluster key", va - 1, split));
        }
        if split > self.cfg.pobits {
            fields.push(VaField::new("page in cluster", split - 1, self.cfg.pobits));
        }
        Some(WalkTrace::record(fields, |cost, t| {
            self.walk_rec(mem, vpn, cost, t)
        }))
    }

    /// The cuckoo walk cache: one cached level keyed by (page size, cluster key), holding the way
    /// the cluster was last found in (see [`Ecpt::walk_cached`](PageTable::walk_cached)).
    fn walk_cache_levels(&self) -> Option<(u8, Vec<(u8, u8)>)> {
        Some((2, vec![(0, 0)]))
    }

    /// Walks like [`walk`](PageTable::walk), but consults a cuckoo walk cache first (Skarlatos et
    /// al.'s CWC, simplified): for each page size in use, a cached way for the cluster means only
    /// that way's slot is read (and its old slot while a resize is in progress); a stale or absent
    /// entry falls back to probing every way, and the way found is cached. Cache keys are
    /// `size index << 61 | cluster key`; the cached "table address" is the way number.
    fn walk_dyn(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        mut cache: &mut dyn WalkCache,
    ) -> Option<Pte> {
        self.walk_cached(mem, vpn, cost, &mut cache)
    }

    fn walk_cached<C: WalkCache>(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        cache: &mut C,
    ) -> Option<Pte> {
        if !self.covers(vpn) {
            return None;
        }
        mem.begin_parallel();
        let found = self.walk_cwc(mem, vpn, cost, cache);
        mem.end_parallel();
        found
    }

    fn footprint(&self) -> Footprint {
        self.footprint_now()
    }
}

impl Ecpt {
    /// [`walk_cached`](PageTable::walk_cached)'s probes, in one parallel group: a first step, and a
    /// second for the fallback probes after a wrong cached way ([`PhysMem::parallel_lane`]).
    fn walk_cwc<C: WalkCache>(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        cache: &mut C,
    ) -> Option<Pte> {
        let g = &self.g;
        let mut buf = [0u64; MAX_WORDS];
        let words = &mut buf[..g.slot_words];
        let mut found = None;
        for (s, t) in self.tables.iter().enumerate() {
            let Some(t) = t else { continue };
            if t.mappings == 0 {
                continue;
            }
            let vs = vpn.0 >> t.vshift;
            let key = vs >> g.cluster_log2;
            let tag = t.tag(key);
            let i = 1 + (vs & g.cluster_mask) as usize;
            let ckey = Vpn(((s as u64) << 61) | (key & ((1 << 61) - 1)));
            let probe = |w: usize, words: &mut [u64], cost: &mut WalkCost| -> Option<Pte> {
                let h = hash(key, w);
                let mut hit = None;
                if t.resizing {
                    let j = h & t.old.mask;
                    if j >= t.ptr[w] {
                        mem.read_block(PhysAddr(t.old.slot(g, w, j)), words, cost);
                        cost.probes += 1;
                        if words[0] == tag && words[i] & PRESENT != 0 {
                            hit = Some(self.decode(words[i], self.sizes[s]));
                        }
                    }
                }
                mem.read_block(PhysAddr(t.cur.slot(g, w, h & t.cur.mask)), words, cost);
                cost.probes += 1;
                if words[0] == tag && words[i] & PRESENT != 0 {
                    hit = Some(self.decode(words[i], self.sizes[s]));
                }
                hit
            };
            if let Some((_, way)) = cache.lookup(ckey) {
                let w = way.0 as usize;
                if w < g.ways {
                    if let Some(p) = probe(w, words, cost) {
                        found = Some(p);
                        continue;
                    }
                    // The predicted way missed: the fallback probes wait for that answer.
                    mem.parallel_lane(1);
                }
            }
            for w in 0..g.ways {
                if let Some(p) = probe(w, words, cost) {
                    found = Some(p);
                    cache.fill(1, ckey, PhysAddr(w as u64));
                }
            }
            mem.parallel_lane(0);
        }
        found
    }

    fn footprint_now(&self) -> Footprint {
        let tables = self.tables.iter().flatten();
        let table_pages: u64 = tables.clone().map(|t| t.frames(&self.g)).sum();
        let slots: u64 = tables.map(|t| t.slots(&self.g)).sum();
        Footprint {
            table_bytes: table_pages << self.g.pobits,
            table_pages,
            per_level: Vec::new(),
            entries: self.mappings,
            capacity: slots * u64::from(self.cfg.cluster),
            collisions: self.stats.collisions,
            moved_entries: self.stats.migrated + self.stats.rehashed + self.stats.kicks,
            resizes: self.stats.resizes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K4: PageSize = PageSize::K4;

    fn mem() -> PhysMem {
        PhysMem::new(12, 52).unwrap()
    }

    fn pte(pfn: u64, size: PageSize) -> Pte {
        Pte {
            pfn: Pfn(pfn),
            perms: Perms::RW,
            size,
        }
    }

    fn walk(pt: &Ecpt, mem: &PhysMem, vpn: u64) -> (Option<Pte>, WalkCost) {
        let mut cost = WalkCost::default();
        let got = pt.walk(mem, Vpn(vpn), &mut cost);
        (got, cost)
    }

    /// Cluster-1 configurations, where a cluster key is the vpn itself.
    fn tiny(ways: u8, entries: u64, load: f64, max_kicks: u32) -> EcptConfig {
        EcptConfig {
            ways,
            entries,
            load,
            cluster: 1,
            max_kicks,
            ..EcptConfig::DEFAULT
        }
    }

    /// The first vpn from 1 up, not in `used`, whose way-0 and way-1 hashes satisfy `pred`.
    fn key_where(used: &[u64], pred: impl Fn(u64, u64) -> bool) -> u64 {
        (1u64..)
            .find(|k| !used.contains(k) && pred(hash(*k, 0), hash(*k, 1)))
            .unwrap()
    }

    /// An unbounded walk cache keyed as the ECPT keys it.
    #[derive(Default)]
    struct Cwc(HashMap<u64, PhysAddr>);

    impl WalkCache for Cwc {
        fn lookup(&mut self, vpn: Vpn) -> Option<(usize, PhysAddr)> {
            self.0.get(&vpn.0).map(|pa| (1, *pa))
        }
        fn fill(&mut self, _level: usize, vpn: Vpn, table: PhysAddr) {
            self.0.insert(vpn.0, table);
        }
    }

    #[test]
    fn the_cuckoo_walk_cache_reads_one_way_and_survives_stale_entries() {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let mut pt = Ecpt::new(EcptConfig::DEFAULT, &mut mem).unwrap();
        let pte = |pfn| Pte {
            pfn: Pfn(pfn),
            perms: Perms::RW,
            size: K4,
        };
        pt.map(&mut mem, Vpn(0x100), pte(7)).unwrap();
        pt.map(&mut mem, Vpn(0x101), pte(8)).unwrap();
        let mut cwc = Cwc::default();
        let mut cost = WalkCost::default();
        assert_eq!(
            pt.walk_cached(&mem, Vpn(0x100), &mut cost, &mut cwc),
            Some(pte(7))
        );
        assert_eq!(cost.refs, 3, "a cold walk reads every way");
        assert_eq!(cwc.0.len(), 1);
        // Same cluster of 8 pages: the cached way alone.
        let mut cost = WalkCost::default();
        assert_eq!(
            pt.walk_cached(&mem, Vpn(0x101), &mut cost, &mut cwc),
            Some(pte(8))
        );
        assert_eq!((cost.refs, cost.probes), (1, 1));
        // Steps, for the cycle model: a right prediction is one read in one step.
        let steps = |mem: &PhysMem| {
            let mut reads = Vec::new();
            mem.take_reads(&mut reads);
            reads.iter().map(|r| r.step).collect::<Vec<_>>()
        };
        mem.record_reads(true);
        let mut cost = WalkCost::default();
        pt.walk_cached(&mem, Vpn(0x101), &mut cost, &mut cwc);
        assert_eq!(steps(&mem), [0]);
        // A stale way (as after a kick) costs the wrong way plus every way, and is corrected;
        // the fallback probes wait for the wrong way's answer: a second step.
        let key = *cwc.0.keys().next().unwrap();
        let right = cwc.0[&key];
        cwc.0.insert(key, PhysAddr((right.0 + 1) % 3));
        let mut cost = WalkCost::default();
        assert_eq!(
            pt.walk_cached(&mem, Vpn(0x101), &mut cost, &mut cwc),
            Some(pte(8))
        );
        assert_eq!(cost.refs, 4);
        assert_eq!(steps(&mem), [0, 1, 1, 1]);
        assert_eq!(cwc.0[&key], right);
        // With no prediction every way is probed at once: one step.
        cwc.0.clear();
        pt.walk_cached(&mem, Vpn(0x101), &mut cost, &mut cwc);
        assert_eq!(steps(&mem), [0, 0, 0]);
        mem.record_reads(false);
        // An unmapped page of a cached cluster is still not found.
        let mut cost = WalkCost::default();
        assert_eq!(pt.walk_cached(&mem, Vpn(0x102), &mut cost, &mut cwc), None);
    }

    #[test]
    fn defaults_and_validation() {
        let d = EcptConfig::DEFAULT;
        assert_eq!(d.validate(), Ok(()));
        assert_eq!(d.slot_words(), 9);
        assert_eq!(d.slot_bytes(), 128);
        // PARAMS defaults are exactly DEFAULT, in to_params order.
        let params = d.to_params();
        assert_eq!(params.len(), EcptConfig::PARAMS.len());
        for ((key, value), info) in params.iter().zip(EcptConfig::PARAMS) {
            assert_eq!(*key, info.key);
            assert_eq!(value, info.default, "{key}");
        }
        let bad = |c: EcptConfig| c.validate().unwrap_err();
        assert!(bad(EcptConfig { ways: 1, ..d }).contains("ways=1"));
        assert!(bad(EcptConfig { ways: 9, ..d }).contains("ways=9"));
        assert!(bad(EcptConfig { entries: 500, ..d }).contains("power of two"));
        assert!(bad(EcptConfig { entries: 0, ..d }).contains("power of two"));
        assert!(bad(EcptConfig { growth: 3, ..d }).contains("growth=3"));
        assert!(bad(EcptConfig { cluster: 3, ..d }).contains("cluster=3"));
        assert!(bad(EcptConfig { cluster: 32, ..d }).contains("cluster=32"));
        assert!(bad(EcptConfig { load: 0.0, ..d }).contains("load=0"));
        assert!(bad(EcptConfig {
            load: f64::NAN,
            ..d
        })
        .contains("load=NaN"));
        assert!(bad(EcptConfig { load: 1.5, ..d }).contains("load=1.5"));
        assert!(bad(EcptConfig {
            max_kicks: 5000,
            ..d
        })
        .contains("max_kicks"));
        assert!(bad(EcptConfig { va_bits: 11, ..d }).contains("va_bits=11"));
        assert!(bad(EcptConfig { pobits: 6, ..d }).contains("does not fit in one 64-byte frame"));
        assert!(bad(tiny(2, 1, 0.3, 0)).contains("holds no cluster"));
        assert_eq!(
            EcptConfig {
                pobits: 7,
                va_bits: 20,
                ..d
            }
            .validate(),
            Ok(())
        );
        // A config and memory that disagree on the frame size.
        let mut m14 = PhysMem::new(14, 52).unwrap();
        assert!(matches!(
            Ecpt::new(d, &mut m14),
            Err(MapError::Memory(MemError::Geometry(_)))
        ));
        assert!(Ecpt::new(EcptConfig { ways: 0, ..d }, &mut mem()).is_err());
    }

    #[test]
    fn an_empty_table_holds_the_base_ecpt_and_probes_nothing() {
        let mut m = mem();
        let pt = Ecpt::new(EcptConfig::DEFAULT, &mut m).unwrap();
        assert_eq!(pt.page_sizes(), &[PageSize::K4, PageSize::M2, PageSize::G1]);
        let f = pt.footprint();
        // 3 ways x 512 slots x 128 bytes = 3 x 64 KiB = 48 frames.
        assert_eq!(f.table_pages, 48);
        assert_eq!(f.table_bytes, 3 * 512 * 128);
        assert_eq!(f.capacity, 3 * 512 * 8);
        assert_eq!(
            (f.entries, f.collisions, f.moved_entries, f.resizes),
            (0, 0, 0, 0)
        );
        assert!(f.per_level.is_empty());
        assert_eq!(m.table_frames(), 48);
        // No ECPT holds a mapping, so a walk reads nothing.
        assert_eq!(walk(&pt, &m, 0x1234), (None, WalkCost::default()));
        assert_eq!(pt.enabled_tables(), 0);
    }

    #[test]
    fn a_walk_reads_one_slot_per_way_of_every_enabled_size_hit_or_miss() {
        let mut m = mem();
        let mut pt = Ecpt::new(EcptConfig::DEFAULT, &mut m).unwrap();
        pt.map(&mut m, Vpn(0x12345), pte(7, K4)).unwrap();
        let (got, cost) = walk(&pt, &m, 0x12345);
        assert_eq!(got, Some(pte(7, K4)));
        assert_eq!((cost.refs, cost.probes), (3, 3));
        let (got, cost) = walk(&pt, &m, 0x99999);
        assert_eq!(got, None);
        assert_eq!((cost.refs, cost.probes), (3, 3));
        // A 2 MiB page enables (and allocates) the 2 MiB ECPT: 3 more slots per walk.
        let m2 = pte(0x400, PageSize::M2);
        pt.map(&mut m, Vpn(0x200), m2).unwrap();
        assert_eq!(pt.footprint().table_pages, 96);
        assert_eq!(
            walk(&pt, &m, 0x12345),
            (
                Some(pte(7, K4)),
                WalkCost {
                    refs: 6,
                    probes: 6,
                    ..WalkCost::default()
                }
            )
        );
        let (got, cost) = walk(&pt, &m, 0x3ff);
        assert_eq!(got, Some(m2));
        assert_eq!(got.unwrap().frame_of(Vpn(0x3ff), 12), Pfn(0x5ff));
        assert_eq!(cost.refs, 6);
        // A 1 GiB page: all three sizes, 9 references.
        let g1 = pte(1 << 18, PageSize::G1);
        pt.map(&mut m, Vpn(3 << 18), g1).unwrap();
        assert_eq!(
            walk(&pt, &m, (3 << 18) + 12345),
            (
                Some(g1),
                WalkCost {
                    refs: 9,
                    probes: 9,
                    ..WalkCost::default()
                }
            )
        );
        assert_eq!(walk(&pt, &m, 0x777).1.refs, 9);
        assert_eq!(pt.enabled_tables(), 3);
        assert_eq!(pt.footprint().table_pages, 144);
        assert_eq!(pt.footprint().entries, 3);
        // Unmapping the last huge page of a size frees its ECPT.
        assert_eq!(pt.unmap(&mut m, Vpn((3 << 18) + 5)).unwrap(), Some(g1));
        assert_eq!(walk(&pt, &m, 0x12345).1.refs, 6);
        assert_eq!(pt.unmap(&mut m, Vpn(0x250)).unwrap(), Some(m2));
        assert_eq!(walk(&pt, &m, 0x12345).1.refs, 3);
        assert_eq!(pt.footprint().table_pages, 48);
        assert_eq!(m.table_frames(), 48);
        assert_eq!(pt.way_slots(PageSize::M2), None);
    }

    #[test]
    fn consecutive_pages_share_a_cluster_slot_and_every_perm_round_trips() {
        let mut m = mem();
        let mut pt = Ecpt::new(EcptConfig::DEFAULT, &mut m).unwrap();
        for (i, bits) in (0..8u64).zip(0..8u8) {
            let p = Pte {
                pfn: Pfn(100 + i),
                perms: Perms::from_bits(bits),
                size: K4,
            };
            pt.map(&mut m, Vpn(0x1000 + i), p).unwrap();
        }
        assert_eq!(pt.occupied_slots(K4), 1);
        for (i, bits) in (0..8u64).zip(0..8u8) {
            let got = walk(&pt, &m, 0x1000 + i).0.unwrap();
            assert_eq!(got.perms, Perms::from_bits(bits));
            assert_eq!(got.pfn, Pfn(100 + i));
        }
        pt.map(&mut m, Vpn(0x1008), pte(1, K4)).unwrap();
        assert_eq!(pt.occupied_slots(K4), 2);
        assert_eq!(pt.footprint().entries, 9);
        // Remapping a page replaces it; the count is unchanged.
        pt.map(&mut m, Vpn(0x1003), pte(555, K4)).unwrap();
        assert_eq!(pt.footprint().entries, 9);
        assert_eq!(walk(&pt, &m, 0x1003).0, Some(pte(555, K4)));
        // The slot is freed with its last page.
        for i in 0..7 {
            assert!(pt.unmap(&mut m, Vpn(0x1000 + i)).unwrap().is_some());
        }
        assert_eq!(pt.occupied_slots(K4), 2);
        assert_eq!(walk(&pt, &m, 0x1003).0, None);
        assert_eq!(pt.unmap(&mut m, Vpn(0x1003)).unwrap(), None);
        assert!(pt.unmap(&mut m, Vpn(0x1007)).unwrap().is_some());
        assert_eq!(pt.occupied_slots(K4), 1);
        assert_eq!(pt.footprint().entries, 1);
    }

    #[test]
    fn overlaps_misalignment_and_bad_sizes_are_errors() {
        let mut m = mem();
        let mut pt = Ecpt::new(EcptConfig::DEFAULT, &mut m).unwrap();
        let m2 = pte(0x400, PageSize::M2);
        pt.map(&mut m, Vpn(0x200), m2).unwrap();
        let overlap = |r: Result<(), MapError>| matches!(r, Err(MapError::Overlap { .. }));
        assert!(overlap(pt.map(&mut m, Vpn(0x201), pte(1, K4))));
        assert!(overlap(pt.map(&mut m, Vpn(0x200), pte(1, K4))));
        assert!(overlap(pt.map(&mut m, Vpn(0), pte(0, PageSize::G1))));
        assert!(matches!(
            pt.map(&mut m, Vpn(0x201), pte(0x400, PageSize::M2)),
            Err(MapError::Misaligned { .. })
        ));
        assert!(matches!(
            pt.map(&mut m, Vpn(0x400), pte(0x401, PageSize::M2)),
            Err(MapError::Misaligned { .. })
        ));
        let k8 = PageSize::from_shift(13).unwrap();
        assert_eq!(
            pt.map(&mut m, Vpn(2), pte(2, k8)),
            Err(MapError::UnsupportedPageSize(k8))
        );
        assert_eq!(
            pt.map(&mut m, Vpn(2), pte(1 << 40, K4)),
            Err(MapError::FrameTooWide(Pfn(1 << 40)))
        );
        // A base page below a 1 GiB region blocks the 1 GiB page, then no longer does.
        pt.map(&mut m, Vpn((5 << 18) + 3), pte(9, K4)).unwrap();
        assert!(overlap(pt.map(&mut m, Vpn(5 << 18), pte(0, PageSize::G1))));
        assert_eq!(
            pt.unmap(&mut m, Vpn((5 << 18) + 3)).unwrap(),
            Some(pte(9, K4))
        );
        pt.map(&mut m, Vpn(5 << 18), pte(0, PageSize::G1)).unwrap();
        assert_eq!(pt.unmap(&mut m, Vpn(0x3ff)).unwrap(), Some(m2));
        pt.map(&mut m, Vpn(0x201), pte(1, K4)).unwrap();
        assert_eq!(pt.footprint().entries, 2);
        assert_eq!(m.table_frames(), pt.footprint().table_pages);
    }

    #[test]
    fn the_top_of_the_address_space_maps_and_wider_addresses_are_refused() {
        let mut m = mem();
        let mut pt = Ecpt::new(EcptConfig::DEFAULT, &mut m).unwrap();
        let top = (1u64 << 36) - 1;
        pt.map(&mut m, Vpn(top), pte(3, K4)).unwrap();
        assert_eq!(
            walk(&pt, &m, top),
            (
                Some(pte(3, K4)),
                WalkCost {
                    refs: 3,
                    probes: 3,
                    ..WalkCost::default()
                }
            )
        );
        pt.map(&mut m, Vpn((1 << 36) - 1024), pte(0x200, PageSize::M2))
            .unwrap();
        assert!(matches!(
            pt.map(&mut m, Vpn((1 << 36) - (1 << 18)), pte(0, PageSize::G1)),
            Err(MapError::Overlap { .. })
        ));
        let wide = 1u64 << 36;
        assert_eq!(
            pt.map(&mut m, Vpn(wide), pte(1, K4)),
            Err(MapError::AddressTooWide {
                vpn: Vpn(wide),
                va_bits: 48
            })
        );
        assert!(matches!(
            pt.unmap(&mut m, Vpn(wide)),
            Err(MapError::AddressTooWide { .. })
        ));
        assert_eq!(walk(&pt, &m, wide), (None, WalkCost::default()));
        assert_eq!(walk(&pt, &m, u64::MAX), (None, WalkCost::default()));
        // A 64-bit space: the top page's tag still fits.
        let cfg = EcptConfig {
            va_bits: 64,
            ..EcptConfig::DEFAULT
        };
        let mut m = mem();
        let mut pt = Ecpt::new(cfg, &mut m).unwrap();
        let top = u64::MAX >> 12;
        pt.map(&mut m, Vpn(top), pte(5, K4)).unwrap();
        pt.map(&mut m, Vpn(top & !7), pte(6, K4)).unwrap();
        assert_eq!(walk(&pt, &m, top).0, Some(pte(5, K4)));
        assert_eq!(walk(&pt, &m, top & !7).0, Some(pte(6, K4)));
        assert_eq!(pt.occupied_slots(K4), 1);
        let g1 = top & !((1 << 18) - 1);
        assert!(matches!(
            pt.map(&mut m, Vpn(g1), pte(0, PageSize::G1)),
            Err(MapError::Overlap { .. })
        ));
        assert_eq!(pt.unmap(&mut m, Vpn(top)).unwrap(), Some(pte(5, K4)));
    }

    /// Hand-worked: two ways of two slots, every key's old slot is 0 in both ways.
    #[test]
    fn a_collision_in_a_tiny_table_forces_an_elastic_resize_then_migrates() {
        let mut m = mem();
        let mut pt = Ecpt::new(tiny(2, 2, 1.0, 2), &mut m).unwrap();
        let mut used = Vec::new();
        let mut pick = |pred: &dyn Fn(u64, u64) -> bool| {
            let k = key_where(&used, pred);
            used.push(k);
            k
        };
        // Slots in the 4-slot ways: k1 (0, 0), k2 (0, 0), k3 (2, 2), k4 (1, 1), k5 (3, 3).
        let k1 = pick(&|a, b| a & 3 == 0 && b & 3 == 0);
        let k2 = pick(&|a, b| a & 3 == 0 && b & 3 == 0);
        let k3 = pick(&|a, b| a & 3 == 2 && b & 3 == 2);
        let k4 = pick(&|a, b| a & 3 == 1 && b & 3 == 1);
        let k5 = pick(&|a, b| a & 3 == 3 && b & 3 == 3);
        pt.map(&mut m, Vpn(k1), pte(1, K4)).unwrap(); // way 0, slot 0
        pt.map(&mut m, Vpn(k2), pte(2, K4)).unwrap(); // way 1, slot 0
        assert_eq!(pt.stats(), EcptStats::default());
        assert_eq!(
            walk(&pt, &m, k1).1,
            WalkCost {
                refs: 2,
                probes: 2,
                ..WalkCost::default()
            }
        );
        // k3: both candidates full; k3 kicks k1 out of way 0, k1 kicks k2 out of way 1, k2 finds
        // way 0 taken by k3: 2 kicks, the chain is undone, and a resize to 4 slots is forced.
        pt.map(&mut m, Vpn(k3), pte(3, K4)).unwrap();
        let st = pt.stats();
        assert_eq!(
            (st.collisions, st.kicks, st.resizes, st.forced_resizes),
            (1, 0, 1, 1)
        );
        assert!(pt.resizing(K4));
        assert_eq!(pt.way_slots(K4), Some(4));
        assert_eq!(pt.rehash_pointers(K4), Some(&[0u64, 0][..]));
        let f = pt.footprint();
        assert_eq!(
            (f.table_pages, f.capacity, f.collisions, f.moved_entries),
            (4, 12, 1, 0)
        );
        // During the migration every way is probed twice (old slot 0 >= pointer 0).
        for (k, pfn) in [(k1, 1), (k2, 2), (k3, 3)] {
            assert_eq!(
                walk(&pt, &m, k),
                (
                    Some(pte(pfn, K4)),
                    WalkCost {
                        refs: 4,
                        probes: 4,
                        ..WalkCost::default()
                    }
                )
            );
        }
        assert_eq!(
            walk(&pt, &m, k4),
            (
                None,
                WalkCost {
                    refs: 4,
                    probes: 4,
                    ..WalkCost::default()
                }
            )
        );
        // k4's insertion moves old slot 0 of each way: k1 to way 0 slot 0, k2 to way 1 slot 0.
        pt.map(&mut m, Vpn(k4), pte(4, K4)).unwrap();
        assert_eq!(pt.rehash_pointers(K4), Some(&[1u64, 1][..]));
        assert_eq!(pt.stats().migrated, 2);
        // Old slot 0 is below the pointers: only the new ways are read. k4's old slot is 1.
        for (k, pfn) in [(k1, 1), (k2, 2), (k3, 3)] {
            assert_eq!(
                walk(&pt, &m, k),
                (
                    Some(pte(pfn, K4)),
                    WalkCost {
                        refs: 2,
                        probes: 2,
                        ..WalkCost::default()
                    }
                )
            );
        }
        assert_eq!(
            walk(&pt, &m, k4),
            (
                Some(pte(4, K4)),
                WalkCost {
                    refs: 4,
                    probes: 4,
                    ..WalkCost::default()
                }
            )
        );
        // k5's insertion passes the empty old slots 1: the migration ends, the old ways go.
        pt.map(&mut m, Vpn(k5), pte(5, K4)).unwrap();
        assert!(!pt.resizing(K4));
        for (k, pfn) in [(k1, 1), (k2, 2), (k3, 3), (k4, 4), (k5, 5)] {
            assert_eq!(
                walk(&pt, &m, k),
                (
                    Some(pte(pfn, K4)),
                    WalkCost {
                        refs: 2,
                        probes: 2,
                        ..WalkCost::default()
                    }
                )
            );
        }
        let f = pt.footprint();
        assert_eq!((f.table_pages, f.capacity, f.entries), (2, 8, 5));
        assert_eq!((f.collisions, f.moved_entries, f.resizes), (1, 2, 1));
        assert_eq!(m.table_frames(), 2);
    }

    /// Hand-worked: with no kicks allowed, a migrated entry that finds both candidates taken forces
    /// a blocking rehash of old and new ways into ways twice as large as the new ones.
    #[test]
    fn a_failed_migration_forces_a_blocking_rehash() {
        let mut m = mem();
        let mut pt = Ecpt::new(tiny(2, 2, 1.0, 0), &mut m).unwrap();
        let mut used = Vec::new();
        let mut pick = |pred: &dyn Fn(u64, u64) -> bool| {
            let k = key_where(&used, pred);
            used.push(k);
            k
        };
        // Slots modulo 8 (way 0, way 1); modulo 2 all are (0, 0).
        let k2 = pick(&|a, b| a & 7 == 0 && b & 3 == 2);
        let k3 = pick(&|a, b| a & 7 == 4 && b & 1 == 0);
        let k1 = pick(&|a, b| a & 3 == 0 && b & 3 == 2);
        let k4 = pick(&|a, _| a & 7 == 1);
        pt.map(&mut m, Vpn(k1), pte(1, K4)).unwrap(); // old way 0 slot 0
        pt.map(&mut m, Vpn(k2), pte(2, K4)).unwrap(); // old way 1 slot 0
        pt.map(&mut m, Vpn(k3), pte(3, K4)).unwrap(); // collision: new way 0 slot 0
        assert_eq!((pt.stats().collisions, pt.stats().resizes), (1, 1));
        assert!(pt.resizing(K4));
        // k4's insertion migrates k1 (new way 1 slot 2), then k2 finds new way 0 slot 0 (k3) and
        // new way 1 slot 2 (k1) taken: rehash k2, k3, k1 into 8-slot ways, then insert k4.
        pt.map(&mut m, Vpn(k4), pte(4, K4)).unwrap();
        let st = pt.stats();
        assert_eq!(
            st,
            EcptStats {
                collisions: 2,
                kicks: 0,
                migrated: 1,
                rehashed: 3,
                resizes: 2,
                forced_resizes: 2,
            }
        );
        assert!(!pt.resizing(K4));
        assert_eq!(pt.way_slots(K4), Some(8));
        for (k, pfn) in [(k1, 1), (k2, 2), (k3, 3), (k4, 4)] {
            assert_eq!(
                walk(&pt, &m, k),
                (
                    Some(pte(pfn, K4)),
                    WalkCost {
                        refs: 2,
                        probes: 2,
                        ..WalkCost::default()
                    }
                )
            );
        }
        let f = pt.footprint();
        assert_eq!(
            (f.table_pages, f.moved_entries, f.resizes, f.entries),
            (2, 4, 2, 4)
        );
        assert_eq!(m.table_frames(), 2);
    }

    /// Expected references of a walk for `vpn` in the base ECPT: one per way, two for a way whose
    /// old slot is at or above its rehashing pointer.
    fn expected_refs(pt: &Ecpt, vpn: u64) -> u32 {
        let key = vpn >> pt.g.cluster_log2;
        let ways = pt.g.ways;
        match pt.rehash_pointers(K4) {
            None => ways as u32,
            Some(ptr) => {
                let old = pt.way_slots(K4).unwrap() / pt.cfg.growth;
                (0..ways)
                    .map(|w| 1 + u32::from(hash(key, w) & (old - 1) >= ptr[w]))
                    .sum()
            }
        }
    }

    #[test]
    fn a_resize_in_the_middle_of_a_sequence_keeps_every_mapping() {
        let cfg = EcptConfig {
            entries: 8,
            ..EcptConfig::DEFAULT
        };
        let mut m = mem();
        let mut pt = Ecpt::new(cfg, &mut m).unwrap();
        // 3 ways x 8 slots, threshold floor(0.7 * 24) = 16 clusters.
        let vpn_of = |i: u64| i * 8 * 13 + i % 8;
        let mut during = 0;
        let mut doubled = 0;
        for i in 0..200u64 {
            let before = pt.occupied_slots(K4);
            pt.map(&mut m, Vpn(vpn_of(i)), pte(1000 + i, K4)).unwrap();
            if i == 16 {
                // The 17th cluster would exceed the threshold: the resize starts before it.
                assert_eq!(before, 16);
                assert!(pt.resizing(K4));
                assert_eq!(pt.way_slots(K4), Some(16));
                assert_eq!(pt.footprint().table_pages, 6);
            }
            for j in 0..=i {
                let (got, cost) = walk(&pt, &m, vpn_of(j));
                assert_eq!(got, Some(pte(1000 + j, K4)), "page {j} after map {i}");
                assert_eq!(cost.refs, expected_refs(&pt, vpn_of(j)));
                assert_eq!(cost.probes, cost.refs);
                if pt.resizing(K4) {
                    during += 1;
                    doubled += u32::from(cost.refs > 3);
                }
            }
            let (got, cost) = walk(&pt, &m, vpn_of(i) + 1);
            assert_eq!(got, None);
            assert_eq!(cost.refs, expected_refs(&pt, vpn_of(i) + 1));
            assert_eq!(m.table_frames(), pt.footprint().table_pages);
        }
        assert!(during > 0 && doubled > 0 && doubled < during);
        let f = pt.footprint();
        assert!(f.resizes >= 4, "{f:?}");
        assert_eq!(f.entries, 200);
        assert!(pt.stats().migrated > 0);
        assert_eq!(
            f.moved_entries,
            pt.stats().migrated + pt.stats().rehashed + pt.stats().kicks
        );
        assert_eq!(f.collisions, pt.stats().collisions);
        for i in 0..200u64 {
            assert_eq!(
                pt.unmap(&mut m, Vpn(vpn_of(i))).unwrap(),
                Some(pte(1000 + i, K4))
            );
        }
        assert_eq!(pt.footprint().entries, 0);
        assert_eq!(pt.occupied_slots(K4), 0);
        assert_eq!(walk(&pt, &m, vpn_of(3)), (None, WalkCost::default()));
    }

    #[test]
    fn huge_and_base_pages_mixed_through_resizes() {
        let cfg = tiny(3, 1, 0.7, 4);
        let mut m = mem();
        let mut pt = Ecpt::new(cfg, &mut m).unwrap();
        let mut mapped = Vec::new();
        for i in 0..40u64 {
            let (vpn, p) = match i % 4 {
                0 => ((i + 8) << 18, pte(i << 18, PageSize::G1)),
                1 => ((1 << 18) + (i << 9), pte(i << 9, PageSize::M2)),
                _ => ((2 << 18) + i * 3, pte(i, K4)),
            };
            pt.map(&mut m, Vpn(vpn), p).unwrap();
            mapped.push((vpn, p));
            for &(v, q) in &mapped {
                let span = 1u64 << (q.size.shift() - 12);
                assert_eq!(walk(&pt, &m, v + span - 1).0, Some(q));
            }
        }
        assert_eq!(pt.enabled_tables(), 3);
        assert!(pt.stats().resizes >= 3);
        assert!(pt.way_slots(PageSize::G1).unwrap() > 1);
        // Unmap every 1 GiB page: its ECPT goes, and so do its references.
        let refs = walk(&pt, &m, 5).1.refs;
        for &(v, q) in mapped.iter().filter(|(_, q)| q.size == PageSize::G1) {
            assert_eq!(pt.unmap(&mut m, Vpn(v + 77)).unwrap(), Some(q));
        }
        assert_eq!(pt.enabled_tables(), 2);
        assert!(walk(&pt, &m, 5).1.refs < refs);
        assert_eq!(pt.way_slots(PageSize::G1), None);
        assert_eq!(m.table_frames(), pt.footprint().table_pages);
        assert_eq!(pt.footprint().entries, 30);
    }
}
