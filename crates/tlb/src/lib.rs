//! TLBs and page-walk caches for ptbench: what a translation costs *before* the page table is
//! walked; and the data caches ([`cache`]) its walks and the trace's accesses go through.
//!
//! The model: a TLB caches whole [`Pte`]s (frame, permissions, page size) keyed by [`TlbKey`] - the
//! page number in units of the entry's own page size and the address space's ASID. Every TLB is a
//! set-associative array ([`SetAssocTlb`]; fully associative = one set, direct-mapped = one way)
//! whose sets are a power of two (set = `vpn & (sets - 1)`) and whose ways are any number, with a
//! replacement policy chosen at construction ([`ReplPolicy`]: true LRU, FIFO, seeded random,
//! tree-PLRU, bit-PLRU, each defined exactly in [`policy`]). A [`TlbHierarchy`] composes split or
//! unified L1s, an optional L2 (STLB) with an inclusion policy, per-page-size or shared arrays,
//! ASID tagging, and page-walk caches ([`PageWalkCache`]) that let a hierarchical walk start below
//! the root; it counts hits, misses, evictions and walks in plain `u64` fields ([`TlbStats`]).
//! Everything is described by a [`TlbSpec`] string (`skylake`, `l1=64x4,l2=1536x12,...`).
//!
//! The crate knows nothing of any page-table design: the replay loop looks up the hierarchy, walks
//! the design on a miss (starting from the page-walk cache's deepest hit, for radix designs) and
//! fills the hierarchy with what the walk found. No lookup allocates, hashes or dispatches
//! dynamically; the per-set policy is a `match` on a small enum, or a type parameter.

mod array;
pub mod cache;
mod geometry;
mod hierarchy;
pub mod policy;
mod pwc;
mod spec;
mod tlb;

pub use cache::{
    cache_presets, CacheHierarchy, CachePreset, CacheSpec, CacheSpecError, CacheStats,
    PrivateCaches, PteRoute, Served, Walker, DEFAULT_DISK_LAT, DEFAULT_FAULT_LAT,
};
pub use geometry::{Geometry, GeometryError, MAX_ENTRIES};
pub use hierarchy::{
    HitLevel, HugeMode, Inclusion, L1Hit, TlbError, TlbHierarchy, TlbLookup, TlbStats, MAX_SIZES,
};
pub use policy::{
    AnyRepl, BitPlru, Fifo, Lru, PolicyError, RandomRepl, ReplPolicy, Replacement, TreePlru,
};
pub use pwc::{PageWalkCache, PwcError, PwcHit, PwcLayout, PwcSpec, MAX_LEVELS};
pub use spec::{presets, L1Spec, Preset, TlbLatency, TlbSpec, TlbSpecError, DEFAULT_SEED};
pub use tlb::SetAssocTlb;

use ptbench_core::Pte;

/// What a TLB entry is found by: the page number in units of the entry's page size, and the
/// address-space id (0 for every entry when ASIDs are off).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlbKey {
    /// Page number, in units of the entry's page size.
    pub vpn: u64,
    /// Address-space id.
    pub asid: u16,
}

impl TlbKey {
    /// The key of page `vpn` in address space `asid`.
    pub const fn new(vpn: u64, asid: u16) -> TlbKey {
        TlbKey { vpn, asid }
    }
}

/// One TLB array.
pub trait Tlb {
    /// The cached PTE for `key`; a hit updates the replacement state.
    fn lookup(&mut self, key: TlbKey) -> Option<Pte>;
    /// Caches `pte` under `key` and returns the valid entry it evicted, if any (an exclusive
    /// hierarchy moves it to the next level). Filling a key already present updates it in place.
    fn fill(&mut self, key: TlbKey, pte: Pte) -> Option<(TlbKey, Pte)>;
    /// Drops the entry for `key`; returns it if it was present.
    fn invalidate(&mut self, key: TlbKey) -> Option<Pte>;
    /// Drops every entry.
    fn flush(&mut self);
    /// Drops every entry of address space `asid`.
    fn flush_asid(&mut self, asid: u16);
}
