use crate::{AddrSpace, MemError, PageSize, PhysAddr, PhysMem, Pte, Vpn, WalkTrace};
use thiserror::Error;

/// What one walk cost. The caller resets it (or starts from `default()`) before each walk.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct WalkCost {
    /// Memory references: entries, buckets or cache lines read from simulated memory.
    pub refs: u32,
    /// Hash probes (hashed designs); 0 for radix walks.
    pub probes: u32,
    /// Of `refs`, those a nested design's host made translating guest-physical addresses; 0
    /// for native designs.
    pub host_refs: u32,
    /// Host walks a nested design made (one per guest-physical address translated); 0 for
    /// native designs.
    pub host_walks: u32,
}

impl std::ops::AddAssign for WalkCost {
    /// Adds another walk's cost (a retry's, or a dimension's) to this one.
    fn add_assign(&mut self, o: WalkCost) {
        self.refs += o.refs;
        self.probes += o.probes;
        self.host_refs += o.host_refs;
        self.host_walks += o.host_walks;
    }
}

/// How much memory a design's tables take.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Bytes of table the design occupies (or reserves, for designs whose point is their size).
    pub table_bytes: u64,
    /// Table frames (pages) allocated.
    pub table_pages: u64,
    /// Table pages per level, root first (radix designs); empty for others.
    pub per_level: Vec<u64>,
    /// Mappings stored (one per mapped page, whatever its size).
    pub entries: u64,
    /// Entry slots the design has room for (hashed designs: `load_factor = entries / capacity`);
    /// 0 where the notion does not apply.
    pub capacity: u64,
    /// Insertions that did not land in their first-choice slot (hash collisions, cuckoo kicks).
    pub collisions: u64,
    /// Entries moved by resizing or rehashing, so far.
    pub moved_entries: u64,
    /// Resizes so far.
    pub resizes: u64,
}

impl Footprint {
    /// `entries / capacity`, or 0 when the design has no notion of capacity.
    pub fn load_factor(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            self.entries as f64 / self.capacity as f64
        }
    }
}

/// Page-walk caches: upper-level table addresses a walk may start from instead of the root.
///
/// Levels are numbered from the root (0); the table at level `k >= 1` on `vpn`'s path is selected
/// by the prefix `vpn >> ((LEVELS - k) * index_bits)` of a radix table.
pub trait WalkCache {
    /// The deepest cached table on `vpn`'s path: its level (at least 1) and physical address.
    fn lookup(&mut self, vpn: Vpn) -> Option<(usize, PhysAddr)>;
    /// Remembers that the table at `level` (at least 1) on `vpn`'s path is at `table`.
    fn fill(&mut self, level: usize, vpn: Vpn, table: PhysAddr);

    /// A nested design's nested TLB: the host frame of guest-physical page `gfn` (in host
    /// pages), if it holds it (counting a hit or a miss). Without one: `None`, counting nothing.
    fn ntlb_lookup(&mut self, gfn: u64) -> Option<u64> {
        let _ = gfn;
        None
    }

    /// Remembers in the nested TLB that guest-physical page `gfn` is in host frame `hfn`.
    fn ntlb_fill(&mut self, gfn: u64, hfn: u64) {
        let _ = (gfn, hfn);
    }

    /// Drops guest-physical page `gfn` from the nested TLB (the hypervisor evicted it).
    fn ntlb_invalidate(&mut self, gfn: u64) {
        let _ = gfn;
    }

    /// A nested design's host page-walk cache, for walks of the host table: as
    /// [`WalkCache::lookup`].
    fn host_lookup(&mut self, vpn: Vpn) -> Option<(usize, PhysAddr)> {
        let _ = vpn;
        None
    }

    /// As [`WalkCache::fill`], for the host page-walk cache.
    fn host_fill(&mut self, level: usize, vpn: Vpn, table: PhysAddr) {
        let _ = (level, vpn, table);
    }
}

impl<T: WalkCache + ?Sized> WalkCache for &mut T {
    #[inline(always)]
    fn lookup(&mut self, vpn: Vpn) -> Option<(usize, PhysAddr)> {
        (**self).lookup(vpn)
    }
    #[inline(always)]
    fn fill(&mut self, level: usize, vpn: Vpn, table: PhysAddr) {
        (**self).fill(level, vpn, table)
    }
    fn ntlb_lookup(&mut self, gfn: u64) -> Option<u64> {
        (**self).ntlb_lookup(gfn)
    }
    fn ntlb_fill(&mut self, gfn: u64, hfn: u64) {
        (**self).ntlb_fill(gfn, hfn)
    }
    fn ntlb_invalidate(&mut self, gfn: u64) {
        (**self).ntlb_invalidate(gfn)
    }
    fn host_lookup(&mut self, vpn: Vpn) -> Option<(usize, PhysAddr)> {
        (**self).host_lookup(vpn)
    }
    fn host_fill(&mut self, level: usize, vpn: Vpn, table: PhysAddr) {
        (**self).host_fill(level, vpn, table)
    }
}

/// No page-walk cache.
#[derive(Copy, Clone, Debug, Default)]
pub struct NoWalkCache;

impl WalkCache for NoWalkCache {
    #[inline(always)]
    fn lookup(&mut self, _vpn: Vpn) -> Option<(usize, PhysAddr)> {
        None
    }
    #[inline(always)]
    fn fill(&mut self, _level: usize, _vpn: Vpn, _table: PhysAddr) {}
}

/// Why a design refused a mapping.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MapError {
    /// The page lies above the design's virtual address space.
    #[error("virtual page {vpn:?} is outside the design's {va_bits}-bit virtual address space")]
    AddressTooWide {
        /// The page.
        vpn: Vpn,
        /// The design's virtual address width.
        va_bits: u8,
    },
    /// The design does not store pages of this size.
    #[error("the design does not support {0} pages")]
    UnsupportedPageSize(PageSize),
    /// A huge page's virtual or physical frame is not aligned to its size.
    #[error("{size} page at {vpn:?} is not aligned to its size")]
    Misaligned {
        /// The page.
        vpn: Vpn,
        /// Its size.
        size: PageSize,
    },
    /// The mapping overlaps one of another page size.
    #[error("{vpn:?} overlaps a mapping of another page size")]
    Overlap {
        /// The page.
        vpn: Vpn,
    },
    /// The frame number does not fit the design's entry format.
    #[error("frame {0:?} does not fit the design's entry format")]
    FrameTooWide(crate::Pfn),
    /// The design cannot store this mapping (e.g. an inverted table given a frame that already
    /// backs another page).
    #[error("{0}")]
    Unsupported(String),
    /// Physical memory ran out of table frames.
    #[error(transparent)]
    Memory(#[from] MemError),
}

/// A page-table design: stores the mappings the OS model decides and finds them again, keeping its
/// entries in simulated physical memory so that every walk's memory references are counted.
///
/// Page numbers are in units of the design's base page (`1 << page_shift()` bytes). A huge-page
/// mapping is given by its first base page and must be aligned to its size.
pub trait PageTable {
    /// log2 of the base page size.
    fn page_shift(&self) -> u8;

    /// Width of the virtual address space the design translates.
    fn va_bits(&self) -> u8;

    /// Page sizes the design can store, base size first.
    fn page_sizes(&self) -> &[PageSize];

    /// Maps the page at `vpn` (replacing any mapping of the same page).
    fn map(&mut self, mem: &mut PhysMem, vpn: Vpn, pte: Pte) -> Result<(), MapError>;

    /// Removes the mapping that covers `vpn` and returns it.
    fn unmap(&mut self, mem: &mut PhysMem, vpn: Vpn) -> Result<Option<Pte>, MapError>;

    /// Finds the mapping that covers `vpn`, reading entries through `mem` so each read is counted
    /// in `cost`. A `vpn` outside the address space finds nothing and reads nothing.
    fn walk(&self, mem: &PhysMem, vpn: Vpn, cost: &mut WalkCost) -> Option<Pte>;

    /// Walks like [`PageTable::walk`], but may start below the root where `cache` holds a table on
    /// the path, and fills `cache` with the tables it visits. Designs without upper-level tables
    /// ignore the cache.
    #[inline]
    fn walk_cached<C: WalkCache>(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        cache: &mut C,
    ) -> Option<Pte>
    where
        Self: Sized,
    {
        let _ = cache;
        self.walk(mem, vpn, cost)
    }

    /// [`PageTable::walk_cached`] for a cache behind a trait object (a nested design's guest and
    /// host tables are trait objects); designs without upper-level tables ignore the cache.
    fn walk_dyn(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        cache: &mut dyn WalkCache,
    ) -> Option<Pte> {
        let _ = cache;
        self.walk(mem, vpn, cost)
    }

    /// The tables' size.
    fn footprint(&self) -> Footprint;

    /// `(levels, index bits per level)` for designs made of a radix tree of tables, whose upper
    /// levels page-walk caches can hold; `None` for the others.
    fn radix_geometry(&self) -> Option<(u8, u8)> {
        None
    }

    /// The levels a page-walk cache may hold for this design: `(levels, [(level, prefix shift)])`,
    /// where the cached entry of `level` is selected by `vpn >> shift` (root = level 0). Radix
    /// designs: their upper levels; designs with a walk cache of their own kind (ECPT's cuckoo
    /// walk cache) describe it the same way; `None` for the others.
    fn walk_cache_levels(&self) -> Option<(u8, Vec<(u8, u8)>)> {
        let (levels, bits) = self.radix_geometry()?;
        let upper = (0..levels.saturating_sub(1))
            .map(|k| (k, (levels - 1 - k).saturating_mul(bits)))
            .collect();
        Some((levels, upper))
    }

    /// Data frames the design can map, if it limits them (an inverted table has one entry per
    /// frame); the OS model never hands out a frame at or above this.
    fn frame_limit(&self) -> Option<u64> {
        None
    }

    /// Whether one table holds the mappings of every address space, each entry tagged with its
    /// asid (the hash covers the asid, a match compares page and asid), as PowerPC's hashed and
    /// inverted tables and Itanium's VHPT do. Such a design maps, unmaps and walks in the address
    /// space [`PageTable::set_asid`] selected last, and the replay keeps one table for every
    /// process. `false` (the default): one table per address space, as radix tables are.
    fn shares_asids(&self) -> bool {
        false
    }

    /// Selects the address space that `map`, `unmap` and `walk` work in (designs that
    /// [`PageTable::shares_asids`]: the hardware's current-asid register); others ignore it.
    fn set_asid(&mut self, asid: u16) {
        let _ = asid;
    }

    /// Whether the design's addresses are canonical (sign-extended from bit `va_bits - 1`, as on
    /// x86-64), so upper-half addresses are valid and walk with their low `va_bits` bits.
    fn canonical(&self) -> bool {
        false
    }

    /// The virtual addresses the design translates.
    fn address_space(&self) -> AddrSpace {
        AddrSpace::new(self.va_bits(), self.canonical())
    }

    /// Walks for `vpn` exactly as [`PageTable::walk`] does, recording every memory reference as
    /// a step (`steps.len() == cost.refs`, same mapping, same cost). `None`: the design does not
    /// explain its walks.
    fn explain(&self, mem: &PhysMem, vpn: Vpn) -> Option<WalkTrace> {
        let _ = (mem, vpn);
        None
    }

    /// A new empty table for another address space, where the design's tables of one run share
    /// state (a nested design's host); `None`: build it like the first.
    fn new_address_space(&self, mem: &mut PhysMem) -> Option<Result<Self, MapError>>
    where
        Self: Sized,
    {
        let _ = mem;
        None
    }

    /// A nested design's host: the levels its page-walk cache may hold, as
    /// [`PageTable::walk_cache_levels`]; `None` for native designs.
    fn host_walk_cache_levels(&self) -> Option<(u8, Vec<(u8, u8)>)> {
        None
    }

    /// A nested design: the host frame (in guest-frame units) of guest frame `gfn`, where the
    /// hardware reads its data, when the host has mapped it and its pages are no smaller than the
    /// guest's frames; `None` for native designs (a frame is where its data is).
    fn host_frame(&self, gfn: u64) -> Option<u64> {
        let _ = gfn;
        None
    }

    /// Guest-physical pages a nested design's hypervisor has evicted, when it has a frame limit
    /// (every eviction flushes the TLBs, as INVEPT does); `None` for native designs and
    /// unlimited hosts.
    fn host_evictions(&self) -> Option<u64> {
        None
    }

    /// Guest-physical pages a nested design's host has mapped (each one host fault) so far;
    /// `None` for native designs.
    fn host_faults(&self) -> Option<u64> {
        None
    }

    /// Whether `vpn` lies in the design's virtual address space.
    #[inline(always)]
    fn covers(&self, vpn: Vpn) -> bool {
        let page_bits = self.va_bits() - self.page_shift();
        page_bits >= 64 || vpn.0 >> page_bits == 0
    }
}

/// `Ok` if `vpn` lies in `pt`'s virtual address space, else the [`MapError::AddressTooWide`] that
/// `map` and `unmap` return.
#[inline]
pub fn check_in_space<P: PageTable + ?Sized>(pt: &P, vpn: Vpn) -> Result<(), MapError> {
    if pt.covers(vpn) {
        Ok(())
    } else {
        Err(MapError::AddressTooWide {
            vpn,
            va_bits: pt.va_bits(),
        })
    }
}

/// The checks every design's `map` makes first, in this order: the page lies in the address space
/// ([`MapError::AddressTooWide`]), its size is one the design stores
/// ([`MapError::UnsupportedPageSize`]), and its page and frame are both aligned to that size
/// ([`MapError::Misaligned`]). Returns the size's index in [`PageTable::page_sizes`].
pub fn check_mapping<P: PageTable + ?Sized>(
    pt: &P,
    vpn: Vpn,
    pte: &Pte,
) -> Result<usize, MapError> {
    check_in_space(pt, vpn)?;
    let index = pt
        .page_sizes()
        .iter()
        .position(|s| *s == pte.size)
        .ok_or(MapError::UnsupportedPageSize(pte.size))?;
    let span = (1u64 << (pte.size.shift() - pt.page_shift())) - 1;
    if vpn.0 & span != 0 || pte.pfn.0 & span != 0 {
        return Err(MapError::Misaligned {
            vpn,
            size: pte.size,
        });
    }
    Ok(index)
}

impl<T: PageTable + ?Sized> PageTable for Box<T> {
    fn page_shift(&self) -> u8 {
        (**self).page_shift()
    }
    fn va_bits(&self) -> u8 {
        (**self).va_bits()
    }
    fn page_sizes(&self) -> &[PageSize] {
        (**self).page_sizes()
    }
    fn map(&mut self, mem: &mut PhysMem, vpn: Vpn, pte: Pte) -> Result<(), MapError> {
        (**self).map(mem, vpn, pte)
    }
    fn unmap(&mut self, mem: &mut PhysMem, vpn: Vpn) -> Result<Option<Pte>, MapError> {
        (**self).unmap(mem, vpn)
    }
    #[inline]
    fn walk(&self, mem: &PhysMem, vpn: Vpn, cost: &mut WalkCost) -> Option<Pte> {
        (**self).walk(mem, vpn, cost)
    }
    fn footprint(&self) -> Footprint {
        (**self).footprint()
    }
    fn frame_limit(&self) -> Option<u64> {
        (**self).frame_limit()
    }
    fn radix_geometry(&self) -> Option<(u8, u8)> {
        (**self).radix_geometry()
    }
    fn walk_cache_levels(&self) -> Option<(u8, Vec<(u8, u8)>)> {
        (**self).walk_cache_levels()
    }
    fn canonical(&self) -> bool {
        (**self).canonical()
    }
    fn shares_asids(&self) -> bool {
        (**self).shares_asids()
    }
    fn set_asid(&mut self, asid: u16) {
        (**self).set_asid(asid)
    }
    fn explain(&self, mem: &PhysMem, vpn: Vpn) -> Option<WalkTrace> {
        (**self).explain(mem, vpn)
    }
    fn host_faults(&self) -> Option<u64> {
        (**self).host_faults()
    }
    fn host_walk_cache_levels(&self) -> Option<(u8, Vec<(u8, u8)>)> {
        (**self).host_walk_cache_levels()
    }
    fn host_frame(&self, gfn: u64) -> Option<u64> {
        (**self).host_frame(gfn)
    }
    fn host_evictions(&self) -> Option<u64> {
        (**self).host_evictions()
    }
    fn walk_dyn(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        cache: &mut dyn WalkCache,
    ) -> Option<Pte> {
        (**self).walk_dyn(mem, vpn, cost, cache)
    }
}
