//! A TLB hierarchy: split (instruction / data) or unified L1, an optional unified L2 (STLB), and
//! optional page-walk caches, with the counters the replay loop reports.
//!
//! Layout: each TLB level is a [`SetAssocTlb`] per page size (`huge=separate`: the 4 KiB, 2 MiB
//! and 1 GiB entries live in different arrays, each of the level's geometry), or one array whose
//! entries are tagged by page size (`huge=shared`). An entry's key is the page number in units of
//! its own page size, `vpn >> (size.shift - base.shift)`, and its ASID (0 for every entry when
//! ASIDs are off).
//!
//! Cost model, and how lookups are counted:
//! - A translation is one L1 lookup: it counts one `l1i_*` (fetches) or `l1d_*` (loads, stores)
//!   hit or miss, whatever the number of arrays probed. With a unified L1 the instruction/data
//!   split of the counters follows the access kind.
//! - Page sizes are probed smallest first until the first hit; each array probe (separate) or
//!   tagged probe (shared) adds one to `l1_probes` / `l2_probes`, so a miss costs as many probes as
//!   there are page sizes. (Hardware probes the sizes in parallel; the probe counters are what a
//!   sequential model would pay.)
//! - An L1 miss is one L2 lookup (`l2_hits` / `l2_misses`); `tlb_misses` counts misses of the last
//!   level (L2 when present, else L1; every translation when there is no TLB), i.e. page walks.
//! - Page-walk-cache lookups count `pwc_hits[level]` for the deepest hit level, else `pwc_misses`.
//!
//! Inclusion between L1 and L2 (`l2incl=`):
//! - **non-inclusive** (`non`): a miss fills L2 and L1; an L2 hit fills L1; victims of either level
//!   are dropped, and an L2 eviction does not touch L1.
//! - **inclusive** (`incl`): as non-inclusive, except that L2 is filled first and its victim is
//!   *back-invalidated* from every L1 array, so every L1 entry is also in L2. (L1 hits do not
//!   update L2's replacement state, so a hot L1 entry can age out of L2 and be back-invalidated.)
//! - **exclusive** (`excl`): a miss fills only L1; an L2 hit *moves* the entry from L2 to L1; every
//!   L1 victim is inserted into L2 (L2's own victim is dropped) unless the other L1 of a split pair
//!   still holds that page; so no entry is in both an L1 and L2.
//!
//! ASIDs (`asid=`): on, entries are tagged with the access's ASID and survive context switches;
//! off, every entry is tagged 0 and [`TlbHierarchy::context_switch`] flushes everything.
//!
//! A PTE whose page size has no array (the design maps a size the hierarchy was not built for) is
//! *splintered*: cached as the largest configured smaller size, the piece that covers the access.

use crate::array::SetArray;
use crate::policy::{Lru, PolicyError, ReplPolicy};
use crate::pwc::{PageWalkCache, PwcHit, PwcLayout, PwcSpec, MAX_LEVELS};
use crate::spec::{L1Spec, TlbSpec, TlbSpecError};
use crate::{Geometry, SetAssocTlb, Tlb, TlbKey};
use ptbench_core::{AccessKind, PageSize, PhysAddr, Pte, Vpn};
use std::fmt;
use thiserror::Error;

/// Inclusion between L1 and L2 (see the module docs for the exact rules).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Inclusion {
    /// Every L1 entry is in L2: an L2 eviction back-invalidates L1 (`incl`).
    Inclusive,
    /// No entry is in both: L1 victims go to L2, L2 hits move to L1 (`excl`).
    Exclusive,
    /// Both are filled, nothing is back-invalidated (`non`).
    #[default]
    NonInclusive,
}

impl Inclusion {
    /// The spec name.
    pub const fn name(self) -> &'static str {
        match self {
            Inclusion::Inclusive => "incl",
            Inclusion::Exclusive => "excl",
            Inclusion::NonInclusive => "non",
        }
    }
}

/// How entries of different page sizes are stored (`huge=`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum HugeMode {
    /// One array per page size, each of the level's geometry.
    #[default]
    Separate,
    /// One array; entries tagged by page size compete for its slots.
    Shared,
}

impl HugeMode {
    /// The spec name.
    pub const fn name(self) -> &'static str {
        match self {
            HugeMode::Separate => "separate",
            HugeMode::Shared => "shared",
        }
    }
}

/// Which level of the hierarchy translated an access.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum HitLevel {
    /// The L1 (instruction, data or unified).
    L1,
    /// The L2 (STLB).
    L2,
    /// No TLB had it: the page table must be walked.
    Miss,
}

/// A hit on a base-size entry of an L1 TLB ([`TlbHierarchy::base_l1_hit`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct L1Hit {
    /// The entry.
    pub pte: Pte,
    /// Its set: the only one whose recency changed (`vpn & set_mask`).
    pub set: u64,
    /// The L1's sets, less one (a power of two less one).
    pub set_mask: u64,
    /// Whether one L1 serves fetches and data (else the hit was in the one of the access's kind).
    pub unified: bool,
}

/// The result of a hierarchy lookup.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TlbLookup {
    /// Hit in L1.
    L1(Pte),
    /// Missed L1, hit in L2 (the entry is now in L1 too).
    L2(Pte),
    /// Missed every level.
    Miss,
}

impl TlbLookup {
    /// The cached PTE, on a hit.
    #[inline(always)]
    pub fn pte(self) -> Option<Pte> {
        match self {
            TlbLookup::L1(p) | TlbLookup::L2(p) => Some(p),
            TlbLookup::Miss => None,
        }
    }

    /// The level that hit.
    #[inline(always)]
    pub fn level(self) -> HitLevel {
        match self {
            TlbLookup::L1(_) => HitLevel::L1,
            TlbLookup::L2(_) => HitLevel::L2,
            TlbLookup::Miss => HitLevel::Miss,
        }
    }
}

/// Counters of a hierarchy (see the module docs for what counts as one lookup).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TlbStats {
    /// Fetches that hit L1 (the ITLB, or the unified L1).
    pub l1i_hits: u64,
    /// Fetches that missed L1.
    pub l1i_misses: u64,
    /// Loads and stores that hit L1 (the DTLB, or the unified L1).
    pub l1d_hits: u64,
    /// Loads and stores that missed L1.
    pub l1d_misses: u64,
    /// L1 misses that hit L2.
    pub l2_hits: u64,
    /// L1 misses that missed L2.
    pub l2_misses: u64,
    /// Translations that missed the last level (page walks).
    pub tlb_misses: u64,
    /// Array probes in L1 (one per page size tried).
    pub l1_probes: u64,
    /// Array probes in L2.
    pub l2_probes: u64,
    /// Valid entries evicted from the ITLB (unified L1: by fetches).
    pub l1i_evictions: u64,
    /// Valid entries evicted from the DTLB (unified L1: by loads and stores).
    pub l1d_evictions: u64,
    /// Valid entries evicted from L2.
    pub l2_evictions: u64,
    /// L1 entries removed because their L2 copy was evicted (inclusive).
    pub back_invalidations: u64,
    /// L1 victims inserted into L2 (exclusive).
    pub l2_victim_fills: u64,
    /// Page-walk-cache lookups whose deepest hit was at level `k` (root = 0).
    pub pwc_hits: [u64; MAX_LEVELS],
    /// Page-walk-cache lookups that hit no level.
    pub pwc_misses: u64,
    /// Whole-hierarchy flushes (`flush`, and `context_switch` with ASIDs off).
    pub flushes: u64,
    /// Page-walk-cache entries dropped because the table they pointed at was freed
    /// ([`TlbHierarchy::pwc_invalidate_tables`]).
    pub pwc_invalidations: u64,
    /// Nested designs: guest-physical pages the nested TLB held (no host walk).
    pub ntlb_hits: u64,
    /// Nested designs: guest-physical pages the nested TLB missed (a host walk).
    pub ntlb_misses: u64,
    /// Nested designs: host walks that started below the host root from the host page-walk
    /// cache.
    pub hpwc_hits: u64,
    /// Nested designs: host walks the host page-walk cache could not shorten.
    pub hpwc_misses: u64,
}

impl std::ops::AddAssign<&TlbStats> for TlbStats {
    /// Adds every counter of `o` (the counters of several cores' hierarchies summed).
    fn add_assign(&mut self, o: &TlbStats) {
        let TlbStats {
            l1i_hits,
            l1i_misses,
            l1d_hits,
            l1d_misses,
            l2_hits,
            l2_misses,
            tlb_misses,
            l1_probes,
            l2_probes,
            l1i_evictions,
            l1d_evictions,
            l2_evictions,
            back_invalidations,
            l2_victim_fills,
            pwc_hits,
            pwc_misses,
            flushes,
            pwc_invalidations,
            ntlb_hits,
            ntlb_misses,
            hpwc_hits,
            hpwc_misses,
        } = o;
        self.l1i_hits += l1i_hits;
        self.l1i_misses += l1i_misses;
        self.l1d_hits += l1d_hits;
        self.l1d_misses += l1d_misses;
        self.l2_hits += l2_hits;
        self.l2_misses += l2_misses;
        self.tlb_misses += tlb_misses;
        self.l1_probes += l1_probes;
        self.l2_probes += l2_probes;
        self.l1i_evictions += l1i_evictions;
        self.l1d_evictions += l1d_evictions;
        self.l2_evictions += l2_evictions;
        self.back_invalidations += back_invalidations;
        self.l2_victim_fills += l2_victim_fills;
        for (a, b) in self.pwc_hits.iter_mut().zip(pwc_hits) {
            *a += b;
        }
        self.pwc_misses += pwc_misses;
        self.flushes += flushes;
        self.pwc_invalidations += pwc_invalidations;
        self.ntlb_hits += ntlb_hits;
        self.ntlb_misses += ntlb_misses;
        self.hpwc_hits += hpwc_hits;
        self.hpwc_misses += hpwc_misses;
    }
}

/// Why a hierarchy could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlbError {
    /// No page sizes were given.
    #[error("a TLB hierarchy needs at least one page size")]
    NoPageSizes,
    /// The spec is inconsistent.
    #[error(transparent)]
    Spec(#[from] TlbSpecError),
    /// A replacement policy cannot drive an array's geometry.
    #[error("{array}: {source}")]
    Policy {
        /// The array (`l1`, `l1i`, `l1d`, `l2`).
        array: &'static str,
        /// Why.
        #[source]
        source: PolicyError,
    },
}

/// The arrays of one TLB level: one per page size, or one shared.
#[derive(Clone, Debug)]
struct LevelArrays {
    arrays: Vec<SetAssocTlb>,
    shared: bool,
    /// Per set of the base-size array: the entry the set's last access (a hit or a fill) left
    /// there, when it is a base-size entry. See [`Recent`].
    recent: Box<[Recent]>,
    /// Per set of the second array (separate arrays only; 2 MiB pages on x86-64): the entry the
    /// set's last access left there, the same way.
    recent_huge: Box<[Recent]>,
    /// `sets - 1`.
    set_mask: u64,
}

impl LevelArrays {
    fn new(
        g: Geometry,
        policy: ReplPolicy,
        sizes: &[PageSize],
        mode: HugeMode,
        name: &'static str,
    ) -> Result<LevelArrays, TlbError> {
        let build = |size| {
            SetAssocTlb::new(g, policy, size).map_err(|source| TlbError::Policy {
                array: name,
                source,
            })
        };
        let arrays = match mode {
            HugeMode::Separate => sizes.iter().map(|&s| build(s)).collect::<Result<_, _>>()?,
            HugeMode::Shared => vec![build(sizes[0])?],
        };
        Ok(LevelArrays {
            arrays,
            shared: mode == HugeMode::Shared,
            recent: vec![Recent::NONE; g.sets() as usize].into_boxed_slice(),
            recent_huge: vec![Recent::NONE; g.sets() as usize].into_boxed_slice(),
            set_mask: u64::from(g.sets()) - 1,
        })
    }

    /// The entry a lookup of `vpn` (base pages; `huge_vpn` in the second array's pages) in
    /// `asid` would hit with no change of state, and the probes it would count: a base-size
    /// entry its set's last access left there (1 probe), or, with separate arrays, the second
    /// array's entry its set's last access left there when the base array does not hold `vpn`
    /// (its probe misses and changes nothing: 2 probes).
    #[inline(always)]
    fn repeat(&self, vpn: u64, huge_vpn: u64, asid: u16, base: PageSize) -> Option<(Pte, u8)> {
        let r = &self.recent[(vpn & self.set_mask) as usize];
        if r.vpn == vpn && r.asid == asid {
            return Some((r.pte, 1));
        }
        if self.shared || self.arrays.len() < 2 {
            return None;
        }
        let h = &self.recent_huge[(huge_vpn & self.set_mask) as usize];
        (h.vpn == huge_vpn && h.asid == asid && !self.contains(0, TlbKey { vpn, asid }, base))
            .then_some((h.pte, 2))
    }

    /// Records the last access to the set of `key` in the array of size index `size_idx`: a
    /// base-size entry is remembered, anything else in the base array forgets the set.
    #[inline(always)]
    fn touched(&mut self, size_idx: usize, key: TlbKey, pte: Option<Pte>) {
        if size_idx != 0 && !self.shared {
            // Another array: the base array's sets are unchanged.
            if size_idx == 1 {
                self.recent_huge[(key.vpn & self.set_mask) as usize] = match pte {
                    Some(pte) => Recent {
                        vpn: key.vpn,
                        asid: key.asid,
                        pte,
                    },
                    None => Recent::NONE,
                };
            }
            return;
        }
        let r = &mut self.recent[(key.vpn & self.set_mask) as usize];
        *r = match pte {
            Some(pte) if size_idx == 0 => Recent {
                vpn: key.vpn,
                asid: key.asid,
                pte,
            },
            _ => Recent::NONE,
        };
    }

    #[inline(always)]
    fn array(&mut self, size_idx: usize) -> &mut SetAssocTlb {
        let i = if self.shared { 0 } else { size_idx };
        &mut self.arrays[i]
    }

    #[inline(always)]
    fn array_ref(&self, size_idx: usize) -> &SetAssocTlb {
        let i = if self.shared { 0 } else { size_idx };
        &self.arrays[i]
    }

    /// Probes the sizes smallest first; returns the size index and PTE of the first hit.
    #[inline]
    fn lookup(
        &mut self,
        keys: &SizeKeys,
        sizes: &[PageSize],
        probes: &mut u64,
    ) -> Option<(usize, Pte)> {
        for (i, &size) in sizes.iter().enumerate() {
            *probes += 1;
            if let Some(p) = self.array(i).lookup_sized(keys.key(i), size) {
                self.touched(i, keys.key(i), Some(p));
                return Some((i, p));
            }
        }
        None
    }

    fn peek(&self, keys: &SizeKeys, sizes: &[PageSize]) -> Option<Pte> {
        sizes
            .iter()
            .enumerate()
            .find_map(|(i, &size)| self.array_ref(i).peek_sized(keys.key(i), size))
    }

    #[inline]
    fn fill(&mut self, size_idx: usize, key: TlbKey, pte: Pte) -> Option<(TlbKey, Pte)> {
        let victim = self.array(size_idx).fill(key, pte);
        self.touched(size_idx, key, Some(pte));
        victim
    }

    #[inline]
    fn remove(&mut self, size_idx: usize, key: TlbKey, size: PageSize) -> Option<Pte> {
        let removed = self.array(size_idx).invalidate_sized(key, size);
        if removed.is_some() {
            self.touched(size_idx, key, None);
        }
        removed
    }

    #[inline]
    fn contains(&self, size_idx: usize, key: TlbKey, size: PageSize) -> bool {
        self.array_ref(size_idx).peek_sized(key, size).is_some()
    }

    fn flush(&mut self) {
        self.arrays.iter_mut().for_each(|a| a.flush());
        self.recent.fill(Recent::NONE);
        self.recent_huge.fill(Recent::NONE);
    }

    fn flush_asid(&mut self, asid: u16) {
        self.arrays.iter_mut().for_each(|a| a.flush_asid(asid));
        self.recent.fill(Recent::NONE);
        self.recent_huge.fill(Recent::NONE);
    }

    fn len(&self) -> usize {
        self.arrays.iter().map(|a| a.len()).sum()
    }

    fn entries(&self) -> Vec<(TlbKey, Pte)> {
        let mut v: Vec<_> = self.arrays.iter().flat_map(|a| a.entries()).collect();
        v.sort_by_key(|(k, p)| (p.size, k.asid, k.vpn));
        v
    }
}

/// The key of one translation at each page size (at most [`MAX_SIZES`]).
struct SizeKeys {
    keys: [TlbKey; MAX_SIZES],
}

impl SizeKeys {
    #[inline(always)]
    fn key(&self, i: usize) -> TlbKey {
        self.keys[i]
    }
}

/// The most page sizes a hierarchy distinguishes.
pub const MAX_SIZES: usize = 4;

#[derive(Clone, Debug)]
enum L1 {
    None,
    Unified(LevelArrays),
    Split { i: LevelArrays, d: LevelArrays },
}

/// A TLB hierarchy built from a [`TlbSpec`] for a page table's page sizes.
///
/// Typical use per access: [`lookup`](Self::lookup); on [`TlbLookup::Miss`], walk the page table
/// (optionally starting from [`pwc_lookup`](Self::pwc_lookup)'s hit and filling the page-walk caches
/// with [`pwc_fill`](Self::pwc_fill)) and [`fill`](Self::fill) the PTE found.
#[derive(Clone, Debug)]
pub struct TlbHierarchy {
    spec: TlbSpec,
    sizes: Vec<PageSize>,
    /// `sizes[i].shift() - base.shift()`.
    deltas: Vec<u8>,
    base: PageSize,
    l1: L1,
    l2: Option<LevelArrays>,
    pwc: Option<PageWalkCache>,
    /// Nested designs: the nested TLB (guest-physical page to host frame; LRU).
    ntlb: Option<SetArray<u64, Lru>>,
    /// Nested designs: the host table's page-walk cache.
    hpwc: Option<PageWalkCache>,
    stats: TlbStats,
}

/// The entry an L1 set's last access (a hit or a fill) left there, remembered per set so that
/// the next lookup of the same page costs one compare.
///
/// Exact: the entry is its set's most recently used, and for every replacement policy touching
/// the most recently touched way again changes no state that matters (LRU re-stamps it, keeping
/// the set's order; tree and bit PLRU set bits already set; FIFO and random ignore hits). So such
/// a hit only counts (`l1*_hits`, one `l1_probes`: base-size entries are probed first). Any other
/// access to the set (another entry's hit or fill, an eviction, an invalidation) forgets it, and
/// a flush forgets every set; other sets and other arrays keep theirs. With separate arrays per
/// page size, the second array (2 MiB pages) keeps its own the same way: a repeated hit there
/// counts two `l1_probes` (the base array's probe misses first and changes nothing), provided
/// the base array does not hold the page.
#[derive(Copy, Clone, Debug)]
struct Recent {
    /// Page number in the array's page size; `u64::MAX` (no page's number): none.
    vpn: u64,
    asid: u16,
    pte: Pte,
}

impl Recent {
    const NONE: Recent = Recent {
        vpn: u64::MAX,
        asid: 0,
        pte: Pte::EMPTY,
    };
}

impl TlbHierarchy {
    /// Builds the hierarchy `spec` describes for a page table with page sizes `sizes` (any order;
    /// the smallest is the base size page numbers are counted in; at most [`MAX_SIZES`], extra
    /// larger sizes are splintered). Page-walk caches are built only when `pwc_layout` is given
    /// (the design is hierarchical) and the spec asks for some.
    pub fn new(
        spec: &TlbSpec,
        sizes: &[PageSize],
        pwc_layout: Option<&PwcLayout>,
    ) -> Result<TlbHierarchy, TlbError> {
        spec.validate()?;
        let mut sizes = sizes.to_vec();
        sizes.sort();
        sizes.dedup();
        sizes.truncate(MAX_SIZES);
        let base = *sizes.first().ok_or(TlbError::NoPageSizes)?;
        let deltas = sizes.iter().map(|s| s.shift() - base.shift()).collect();
        let level = |g, name| LevelArrays::new(g, spec.repl, &sizes, spec.huge, name);
        let l1 = match spec.l1 {
            L1Spec::None => L1::None,
            L1Spec::Unified(g) => L1::Unified(level(g, "l1")?),
            L1Spec::Split { i, d } => L1::Split {
                i: level(i, "l1i")?,
                d: level(d, "l1d")?,
            },
        };
        let l2 = spec.l2.map(|g| level(g, "l2")).transpose()?;
        let pwc = pwc_layout.and_then(|layout| PageWalkCache::new(&spec.pwc, layout));
        let ntlb = spec.ntlb.map(|g| {
            let (sets, ways) = (g.sets() as usize, g.ways() as usize);
            SetArray::new(sets, ways, 0, Lru::new(sets, ways))
        });
        Ok(TlbHierarchy {
            spec: *spec,
            sizes,
            deltas,
            base,
            l1,
            l2,
            pwc,
            ntlb,
            hpwc: None,
            stats: TlbStats::default(),
        })
    }

    /// Builds the host page-walk cache the spec asks for (`hpwc=`) over a nested design's host
    /// table of layout `layout`; without a layout (a host with no upper levels) there is none.
    pub fn set_host_layout(&mut self, layout: Option<&PwcLayout>) {
        self.hpwc = match (self.spec.hpwc, layout) {
            (Some(g), Some(layout)) => PageWalkCache::new(&PwcSpec::Unified(g), layout),
            _ => None,
        };
    }

    /// Whether a nested design's walks have a nested TLB or a host page-walk cache here.
    pub fn has_nested_caches(&self) -> bool {
        self.ntlb.is_some() || self.hpwc.is_some()
    }

    /// The nested TLB's host frame for guest-physical page `gfn`, counting a hit or a miss
    /// (nothing without a nested TLB).
    #[inline]
    pub fn ntlb_lookup(&mut self, gfn: u64) -> Option<u64> {
        let ntlb = self.ntlb.as_mut()?;
        let hit = ntlb.lookup(gfn, 0);
        match hit {
            Some(_) => self.stats.ntlb_hits += 1,
            None => self.stats.ntlb_misses += 1,
        }
        hit
    }

    /// Remembers in the nested TLB that guest-physical page `gfn` is in host frame `hfn`.
    #[inline]
    pub fn ntlb_fill(&mut self, gfn: u64, hfn: u64) {
        if let Some(n) = &mut self.ntlb {
            n.fill(gfn, 0, hfn);
        }
    }

    /// Drops guest-physical page `gfn` from the nested TLB.
    pub fn ntlb_invalidate(&mut self, gfn: u64) {
        if let Some(n) = &mut self.ntlb {
            n.invalidate(gfn, 0);
        }
    }

    /// The host page-walk cache's deepest hit on host page `vpn`'s path, counting `hpwc_hits` or
    /// `hpwc_misses` (nothing without one).
    #[inline]
    pub fn host_pwc_lookup(&mut self, vpn: Vpn) -> Option<PwcHit> {
        let hpwc = self.hpwc.as_mut()?;
        let hit = hpwc.lookup_deepest(vpn, 0);
        match hit {
            Some(_) => self.stats.hpwc_hits += 1,
            None => self.stats.hpwc_misses += 1,
        }
        hit
    }

    /// As [`pwc_fill`](Self::pwc_fill), for the host page-walk cache.
    #[inline]
    pub fn host_pwc_fill(&mut self, level: u8, vpn: Vpn, next_table: PhysAddr) {
        if let Some(p) = &mut self.hpwc {
            p.fill(level, vpn, 0, next_table);
        }
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &TlbSpec {
        &self.spec
    }

    /// The page sizes it distinguishes, smallest (base) first.
    pub fn page_sizes(&self) -> &[PageSize] {
        &self.sizes
    }

    /// Whether there is any TLB level (false for `none`).
    pub fn has_tlb(&self) -> bool {
        !matches!(self.l1, L1::None)
    }

    /// Whether entries are tagged with ASIDs.
    pub fn asids(&self) -> bool {
        self.spec.asid
    }

    /// The counters.
    pub fn stats(&self) -> &TlbStats {
        &self.stats
    }

    /// Zeroes the counters (e.g. after warm-up), keeping the cached entries.
    pub fn reset_stats(&mut self) {
        self.stats = TlbStats::default();
    }

    #[inline(always)]
    fn tag(&self, asid: u16) -> u16 {
        if self.spec.asid {
            asid
        } else {
            0
        }
    }

    #[inline(always)]
    fn keys(&self, vpn: Vpn, asid: u16) -> SizeKeys {
        let mut keys = [TlbKey { vpn: 0, asid }; MAX_SIZES];
        for (k, &d) in keys.iter_mut().zip(&self.deltas) {
            k.vpn = vpn.0 >> d;
        }
        SizeKeys { keys }
    }

    /// The size index, key and (possibly splintered) PTE under which `pte` for `vpn` is cached.
    #[inline]
    fn canonical(&self, vpn: Vpn, asid: u16, pte: Pte) -> (usize, TlbKey, Pte) {
        let (i, pte) = match self.sizes.iter().position(|&s| s == pte.size) {
            Some(i) => (i, pte),
            None if pte.size < self.base => (
                0,
                Pte {
                    size: self.base,
                    ..pte
                },
            ),
            None => {
                let i = self.sizes.iter().rposition(|&s| s < pte.size).unwrap_or(0);
                let frame = pte.frame_of(vpn, self.base.shift()).0;
                let span = (1u64 << self.deltas[i]) - 1;
                let piece = Pte {
                    pfn: ptbench_core::Pfn(frame & !span),
                    size: self.sizes[i],
                    ..pte
                };
                (i, piece)
            }
        };
        let key = TlbKey {
            vpn: vpn.0 >> self.deltas[i],
            asid,
        };
        (i, key, pte)
    }

    /// Translates `vpn` (in base pages) for an access of `kind` in address space `asid`.
    ///
    /// An L2 hit brings the entry into the L1 (moving it, when exclusive).
    #[inline]
    pub fn lookup(&mut self, vpn: Vpn, asid: u16, kind: AccessKind) -> TlbLookup {
        let fetch = kind == AccessKind::Fetch;
        if let Some((pte, probes)) = self.repeat_hit(vpn, asid, kind) {
            self.count_repeat_hits(u64::from(fetch), probes, u64::from(!fetch), probes);
            return TlbLookup::L1(pte);
        }
        self.lookup_full(vpn, self.tag(asid), fetch)
    }

    /// The L1 arrays that serve fetches (`fetch`) or loads and stores.
    #[inline(always)]
    fn l1_for(&self, fetch: bool) -> Option<&LevelArrays> {
        match &self.l1 {
            L1::None => None,
            L1::Unified(a) => Some(a),
            L1::Split { i, d } => Some(if fetch { i } else { d }),
        }
    }

    /// The entry [`lookup`](Self::lookup) of `vpn` by an access of `kind` in `asid` would return
    /// through the repeated-hit shortcut, with the L1 probes it would count; `None` when it would
    /// take the full lookup. Changes nothing.
    #[inline(always)]
    pub fn repeat_hit(&self, vpn: Vpn, asid: u16, kind: AccessKind) -> Option<(Pte, u8)> {
        let huge = vpn.0 >> self.deltas.get(1).copied().unwrap_or(0);
        self.l1_for(kind == AccessKind::Fetch)?
            .repeat(vpn.0, huge, self.tag(asid), self.base)
    }

    /// A [`lookup`](Self::lookup) of `vpn` by an access of `kind` in `asid` that hits a
    /// base-size entry of the L1 ([`L1Hit`]), done and counted as `lookup` does it; `None`,
    /// having changed nothing, when the base-size L1 array does not hold it (`lookup` would do
    /// more). Only the hit set's recency changes.
    #[inline]
    pub fn base_l1_hit(&mut self, vpn: Vpn, asid: u16, kind: AccessKind) -> Option<L1Hit> {
        let fetch = kind == AccessKind::Fetch;
        let key = TlbKey {
            vpn: vpn.0 >> self.deltas.first().copied().unwrap_or(0),
            asid: self.tag(asid),
        };
        let size = *self.sizes.first()?;
        let (l1, unified) = match &mut self.l1 {
            L1::None => return None,
            L1::Unified(a) => (a, true),
            L1::Split { i, d } => (if fetch { i } else { d }, false),
        };
        let pte = l1.array(0).lookup_sized(key, size)?;
        l1.touched(0, key, Some(pte));
        let hit = L1Hit {
            pte,
            set: key.vpn & l1.set_mask,
            set_mask: l1.set_mask,
            unified,
        };
        // One L1 hit of one probe (the base size is probed first).
        self.count_repeat_hits(u64::from(fetch), 1, u64::from(!fetch), 1);
        Some(hit)
    }

    /// Counts `fetches` and `data` lookups that took the repeated-hit shortcut, each counting
    /// `fetch_probes` or `data_probes` L1 probes: exactly what as many calls of
    /// [`lookup`](Self::lookup) for which [`repeat_hit`](Self::repeat_hit) answered would count.
    #[inline]
    pub fn count_repeat_hits(
        &mut self,
        fetches: u64,
        fetch_probes: u8,
        data: u64,
        data_probes: u8,
    ) {
        let st = &mut self.stats;
        st.l1i_hits += fetches;
        st.l1d_hits += data;
        st.l1_probes += fetches * u64::from(fetch_probes) + data * u64::from(data_probes);
    }

    /// [`lookup`](Self::lookup) without the repeated-hit shortcut; `asid` is already tagged.
    #[inline]
    fn lookup_full(&mut self, vpn: Vpn, asid: u16, fetch: bool) -> TlbLookup {
        let keys = self.keys(vpn, asid);
        let st = &mut self.stats;
        let (l1, other) = match &mut self.l1 {
            L1::None => {
                st.tlb_misses += 1;
                return TlbLookup::Miss;
            }
            L1::Unified(a) => (a, None),
            L1::Split { i, d } => {
                if fetch {
                    (i, Some(&*d))
                } else {
                    (d, Some(&*i))
                }
            }
        };
        if let Some((_, pte)) = l1.lookup(&keys, &self.sizes, &mut st.l1_probes) {
            if fetch {
                st.l1i_hits += 1;
            } else {
                st.l1d_hits += 1;
            }
            return TlbLookup::L1(pte);
        }
        if fetch {
            st.l1i_misses += 1;
        } else {
            st.l1d_misses += 1;
        }
        let Some(l2) = &mut self.l2 else {
            st.tlb_misses += 1;
            return TlbLookup::Miss;
        };
        let Some((i, pte)) = l2.lookup(&keys, &self.sizes, &mut st.l2_probes) else {
            st.l2_misses += 1;
            st.tlb_misses += 1;
            return TlbLookup::Miss;
        };
        st.l2_hits += 1;
        let key = keys.key(i);
        let exclusive = self.spec.l2incl == Inclusion::Exclusive;
        if exclusive {
            l2.remove(i, key, pte.size);
        }
        if let Some(victim) = l1.fill(i, key, pte) {
            count_l1_eviction(st, fetch);
            if exclusive {
                spill_to_l2(st, &self.sizes, l2, other, victim);
            }
        }
        TlbLookup::L2(pte)
    }

    /// Caches `pte`, found by a walk for `vpn` (in base pages), after [`lookup`](Self::lookup)
    /// missed; follows the inclusion policy (see the module docs).
    #[inline]
    pub fn fill(&mut self, vpn: Vpn, asid: u16, kind: AccessKind, pte: Pte) {
        let asid = self.tag(asid);
        let (i, key, pte) = self.canonical(vpn, asid, pte);
        let fetch = kind == AccessKind::Fetch;
        let st = &mut self.stats;
        let (l1, mut other) = match &mut self.l1 {
            L1::None => return,
            L1::Unified(a) => (a, None),
            L1::Split { i, d } => {
                if fetch {
                    (i, Some(d))
                } else {
                    (d, Some(i))
                }
            }
        };
        match (self.spec.l2incl, &mut self.l2) {
            (_, None) => {
                if l1.fill(i, key, pte).is_some() {
                    count_l1_eviction(st, fetch);
                }
            }
            (Inclusion::NonInclusive, Some(l2)) => {
                if l2.fill(i, key, pte).is_some() {
                    st.l2_evictions += 1;
                }
                if l1.fill(i, key, pte).is_some() {
                    count_l1_eviction(st, fetch);
                }
            }
            (Inclusion::Inclusive, Some(l2)) => {
                if let Some((vk, vp)) = l2.fill(i, key, pte) {
                    st.l2_evictions += 1;
                    let vi = self.sizes.iter().position(|&s| s == vp.size).unwrap_or(0);
                    if l1.remove(vi, vk, vp.size).is_some() {
                        st.back_invalidations += 1;
                    }
                    if let Some(o) = other.as_deref_mut() {
                        if o.remove(vi, vk, vp.size).is_some() {
                            st.back_invalidations += 1;
                        }
                    }
                }
                if l1.fill(i, key, pte).is_some() {
                    count_l1_eviction(st, fetch);
                }
            }
            (Inclusion::Exclusive, Some(l2)) => {
                l2.remove(i, key, pte.size);
                if let Some(victim) = l1.fill(i, key, pte) {
                    count_l1_eviction(st, fetch);
                    spill_to_l2(st, &self.sizes, l2, other.as_deref(), victim);
                }
            }
        }
    }

    /// The L1 entry for `vpn` that an access of `kind` would hit, without touching any state.
    pub fn peek_l1(&self, vpn: Vpn, asid: u16, kind: AccessKind) -> Option<Pte> {
        let keys = self.keys(vpn, self.tag(asid));
        match &self.l1 {
            L1::None => None,
            L1::Unified(a) => a.peek(&keys, &self.sizes),
            L1::Split { i, d } => {
                if kind == AccessKind::Fetch {
                    i.peek(&keys, &self.sizes)
                } else {
                    d.peek(&keys, &self.sizes)
                }
            }
        }
    }

    /// The L2 entry for `vpn`, without touching any state.
    pub fn peek_l2(&self, vpn: Vpn, asid: u16) -> Option<Pte> {
        let keys = self.keys(vpn, self.tag(asid));
        self.l2.as_ref()?.peek(&keys, &self.sizes)
    }

    /// The valid entries of the L1 that serves `kind`, sorted by (size, asid, vpn).
    pub fn l1_entries(&self, kind: AccessKind) -> Vec<(TlbKey, Pte)> {
        match &self.l1 {
            L1::None => Vec::new(),
            L1::Unified(a) => a.entries(),
            L1::Split { i, d } => {
                if kind == AccessKind::Fetch {
                    i.entries()
                } else {
                    d.entries()
                }
            }
        }
    }

    /// The valid L2 entries, sorted by (size, asid, vpn).
    pub fn l2_entries(&self) -> Vec<(TlbKey, Pte)> {
        self.l2
            .as_ref()
            .map(LevelArrays::entries)
            .unwrap_or_default()
    }

    /// Valid entries over every TLB array (page-walk caches excluded).
    pub fn len(&self) -> usize {
        self.l1_arrays().map(LevelArrays::len).sum::<usize>()
            + self.l2.as_ref().map_or(0, LevelArrays::len)
    }

    /// Whether no TLB entry is valid.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn l1_arrays(&self) -> impl Iterator<Item = &LevelArrays> {
        let (a, b) = match &self.l1 {
            L1::None => (None, None),
            L1::Unified(a) => (Some(a), None),
            L1::Split { i, d } => (Some(i), Some(d)),
        };
        a.into_iter().chain(b)
    }

    fn all_arrays_mut(&mut self) -> impl Iterator<Item = &mut LevelArrays> {
        let (a, b) = match &mut self.l1 {
            L1::None => (None, None),
            L1::Unified(a) => (Some(a), None),
            L1::Split { i, d } => (Some(i), Some(d)),
        };
        a.into_iter().chain(b).chain(self.l2.as_mut())
    }

    /// Drops every entry (of any size) that translates `vpn`, at every level, and the page-walk
    /// cache entries on its path (e.g. after an unmap or a permission change).
    pub fn invalidate(&mut self, vpn: Vpn, asid: u16) {
        let asid = self.tag(asid);
        let keys = self.keys(vpn, asid);
        let mut sizes = [self.base; MAX_SIZES];
        let n = self.sizes.len();
        sizes[..n].copy_from_slice(&self.sizes);
        for level in self.all_arrays_mut() {
            for (i, &size) in sizes[..n].iter().enumerate() {
                level.remove(i, keys.key(i), size);
            }
        }
        if let Some(p) = &mut self.pwc {
            p.invalidate(vpn, asid);
        }
    }

    /// Drops everything: every TLB array and the page-walk caches.
    pub fn flush(&mut self) {
        self.all_arrays_mut().for_each(LevelArrays::flush);
        if let Some(p) = &mut self.pwc {
            p.flush();
        }
        self.stats.flushes += 1;
    }

    /// Drops the entries of address space `asid` (with ASIDs off, every entry).
    pub fn flush_asid(&mut self, asid: u16) {
        let asid = self.tag(asid);
        self.all_arrays_mut().for_each(|a| a.flush_asid(asid));
        if let Some(p) = &mut self.pwc {
            p.flush_asid(asid);
        }
    }

    /// Tells the hierarchy the running address space changed. With ASIDs off, this flushes
    /// everything (TLBs and page-walk caches) and returns true; with ASIDs on, entries are tagged
    /// and nothing needs flushing, so it does nothing and returns false.
    pub fn context_switch(&mut self) -> bool {
        if self.spec.asid {
            false
        } else {
            self.flush();
            true
        }
    }

    /// The page-walk caches, if any were built.
    pub fn pwc(&self) -> Option<&PageWalkCache> {
        self.pwc.as_ref()
    }

    /// The deepest page-walk-cache hit on `vpn`'s path (None, counting nothing, without page-walk
    /// caches); counts `pwc_hits[level]` or `pwc_misses`.
    #[inline]
    pub fn pwc_lookup(&mut self, vpn: Vpn, asid: u16) -> Option<PwcHit> {
        let asid = self.tag(asid);
        let pwc = self.pwc.as_mut()?;
        let hit = pwc.lookup_deepest(vpn, asid);
        match hit {
            Some(h) => self.stats.pwc_hits[h.level as usize] += 1,
            None => self.stats.pwc_misses += 1,
        }
        hit
    }

    /// Drops the page-walk-cache entries that point at tables in the physical range `start..end`
    /// (table frames a design freed: an emptied radix table under a new huge page, the old ways
    /// of a finished resize). TLB entries translate pages, not tables, and stay; so do page-walk
    /// cache entries pointing anywhere else. Returns how many entries were dropped.
    pub fn pwc_invalidate_tables(&mut self, start: PhysAddr, end: PhysAddr) -> usize {
        let n = self
            .pwc
            .as_mut()
            .map_or(0, |p| p.invalidate_tables(start, end));
        self.stats.pwc_invalidations += n as u64;
        n
    }

    /// Records, after a walk, that the level-`level` entry on `vpn`'s path points at the
    /// level-`level + 1` table at `next_table`; ignored for uncached levels.
    #[inline]
    pub fn pwc_fill(&mut self, level: u8, vpn: Vpn, asid: u16, next_table: PhysAddr) {
        let asid = self.tag(asid);
        if let Some(p) = &mut self.pwc {
            p.fill(level, vpn, asid, next_table);
        }
    }
}

#[inline(always)]
fn count_l1_eviction(st: &mut TlbStats, fetch: bool) {
    if fetch {
        st.l1i_evictions += 1;
    } else {
        st.l1d_evictions += 1;
    }
}

/// Exclusive: inserts an L1 victim into L2 unless the other L1 still holds the page.
#[inline]
fn spill_to_l2(
    st: &mut TlbStats,
    sizes: &[PageSize],
    l2: &mut LevelArrays,
    other: Option<&LevelArrays>,
    (key, pte): (TlbKey, Pte),
) {
    let i = sizes.iter().position(|&s| s == pte.size).unwrap_or(0);
    if other.is_some_and(|o| o.contains(i, key, pte.size)) {
        return;
    }
    st.l2_victim_fills += 1;
    if l2.fill(i, key, pte).is_some() {
        st.l2_evictions += 1;
    }
}

impl fmt::Display for TlbStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "l1i {}/{} l1d {}/{} l2 {}/{} walks {}",
            self.l1i_hits,
            self.l1i_misses,
            self.l1d_hits,
            self.l1d_misses,
            self.l2_hits,
            self.l2_misses,
            self.tlb_misses
        )
    }
}

#[cfg(test)]
mod tests {
    //! The repeated-hit shortcut ([`Recent`]) against the same hierarchy with every remembered
    //! entry forgotten before each operation (so every lookup takes the full path): the same
    //! lookups and the same counters, for every policy, inclusion, page-size mode and ASIDs.

    use super::*;
    use proptest::prelude::*;
    use ptbench_core::{Perms, Pfn};

    impl TlbHierarchy {
        fn forget_repeats(&mut self) {
            let (a, b) = match &mut self.l1 {
                L1::None => (None, None),
                L1::Unified(a) => (Some(a), None),
                L1::Split { i, d } => (Some(i), Some(d)),
            };
            for l in a.into_iter().chain(b) {
                l.recent.fill(Recent::NONE);
                l.recent_huge.fill(Recent::NONE);
            }
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Access(u64, u16, u8),
        Invalidate(u64, u16),
        Switch,
        FlushAsid(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            12 => (0u64..40, 0u16..2, 0u8..3).prop_map(|(p, a, k)| Op::Access(p, a, k)),
            1 => (0u64..40, 0u16..2).prop_map(|(p, a)| Op::Invalidate(p, a)),
            1 => Just(Op::Switch),
            1 => (0u16..2).prop_map(Op::FlushAsid),
        ]
    }

    /// Page `p`'s mapping: pages 32.. lie in a 2 MiB page (when the sizes have one).
    fn pte_of(p: u64, sizes: &[PageSize]) -> (Vpn, Pte) {
        // Odd pages below 32 lie in the 2 MiB region the pages from 32 on share, so a base
        // entry and a huge one can both cover a page (vpn 617: p = 21 and p = 35).
        let vpn = if p >= 32 {
            0x200 + p * 3
        } else if p % 2 == 1 {
            0x200 + p * 5
        } else {
            p * 5
        };
        let huge = p >= 32 && sizes.contains(&PageSize::M2);
        let pte = Pte {
            pfn: Pfn(if huge { 0x1000 } else { 0x5000 + vpn }),
            perms: Perms::RW,
            size: if huge { PageSize::M2 } else { PageSize::K4 },
        };
        (Vpn(vpn), pte)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn the_shortcut_changes_no_lookup_and_no_counter(
            ops in prop::collection::vec(op(), 1..300),
            spec in prop::sample::select(vec![
                "l1=1x1", "l1=4x2", "l1=8x8,repl=plru", "l1=8x4,repl=bitplru", "l1=2x2,huge=separate",
                "l1=8x2,repl=fifo", "l1=8x2,repl=random,seed=3", "l1=4x4,asid=on",
                "l1i=4x2,l1d=4x2,l2=16x4,l2incl=incl",
                "l1i=4x2,l1d=4x2,l2=16x4,l2incl=excl,asid=on",
                "l1i=4x2,l1d=2x1,l2=8x2,l2incl=non,huge=shared",
                "l1=4x1,l2=8x2,l2incl=incl,huge=shared,repl=plru",
            ]),
            huge in any::<bool>(),
        ) {
            let sizes: &[PageSize] = if huge {
                &[PageSize::K4, PageSize::M2, PageSize::G1]
            } else {
                &[PageSize::K4]
            };
            let spec = TlbSpec::parse(spec).unwrap();
            let mut fast = TlbHierarchy::new(&spec, sizes, None).unwrap();
            let mut full = TlbHierarchy::new(&spec, sizes, None).unwrap();
            for op in &ops {
                full.forget_repeats();
                match *op {
                    Op::Access(p, asid, k) => {
                        let kind = [AccessKind::Read, AccessKind::Write, AccessKind::Fetch][k as usize];
                        let (vpn, pte) = pte_of(p, sizes);
                        let repeat = fast.repeat_hit(vpn, asid, kind);
                        let before = fast.stats().l1_probes;
                        let a = fast.lookup(vpn, asid, kind);
                        let probed = fast.stats().l1_probes - before;
                        let b = full.lookup(vpn, asid, kind);
                        prop_assert_eq!(a, b);
                        if let Some((r, probes)) = repeat {
                            // The entry and the probes the lookup counts: 1 for a base-size
                            // entry, 2 for one of the second array.
                            prop_assert_eq!(a, TlbLookup::L1(r));
                            prop_assert_eq!(u64::from(probes), probed);
                        }
                        if a == TlbLookup::Miss {
                            fast.fill(vpn, asid, kind, pte);
                            full.fill(vpn, asid, kind, pte);
                        }
                    }
                    Op::Invalidate(p, asid) => {
                        let (vpn, _) = pte_of(p, sizes);
                        fast.invalidate(vpn, asid);
                        full.invalidate(vpn, asid);
                    }
                    Op::Switch => {
                        fast.context_switch();
                        full.context_switch();
                    }
                    Op::FlushAsid(asid) => {
                        fast.flush_asid(asid);
                        full.flush_asid(asid);
                    }
                }
                prop_assert_eq!(fast.stats(), full.stats());
            }
        }
    }
}
