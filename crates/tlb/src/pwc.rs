//! Page-walk caches (paging-structure caches) for hierarchical page tables.
//!
//! Model: levels of the page table are numbered from the root, 0, down to the leaf, `levels - 1`
//! (as in [`Footprint::per_level`](ptbench_core::Footprint)). An entry of an *upper* level `k`
//! (`k < levels - 1`) is selected by the virtual page number's prefix `vpn >> shift(k)` and points
//! at a level-`k + 1` table. A page-walk cache for level `k` maps `(prefix, asid)` to that table's
//! physical address, like Intel's PML4/PDPT/PD caches or ChampSim's PSCLs. A walk asks for the
//! *deepest* cached level on its path ([`PageWalkCache::lookup_deepest`]) and resumes there,
//! reading only the levels below; afterwards it fills the upper levels it read.
//!
//! ChampSim names its caches by *height* above the leaf instead: PSCL`h` caches entries of level
//! `levels - h` (PSCL2 holds entries of the level just above the leaf table; in a 5-level table
//! PSCL5 holds root entries). Specs use that numbering (`pscl2=..`), so one spec means the same
//! thing for tables of any depth; this module's API uses root-first levels.
//!
//! Layout: either one [`SetArray`](crate::array) per cached level (split), or one shared by all
//! levels and tagged by `(level, prefix)` (unified); LRU replacement, set = `prefix & (sets - 1)`.
//! Nothing here knows about radix tables: a [`PwcLayout`] just lists the levels and their shifts.
//!
//! Cost model: `lookup_deepest` probes the cached levels deepest first and stops at the first hit;
//! only that entry's LRU state is updated (the shallower ones were not needed). Each probe is one
//! set's `ways` comparisons.

use crate::array::{ctx, SetArray};
use crate::policy::Lru;
use crate::Geometry;
use ptbench_core::{PhysAddr, Vpn};
use thiserror::Error;

/// The most page-table levels a [`PwcLayout`] can describe.
pub const MAX_LEVELS: usize = 8;

/// Why a page-walk-cache layout was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PwcError {
    /// The level count is outside `2..=MAX_LEVELS`.
    #[error("a page-walk cache needs a table of 2 to {MAX_LEVELS} levels, not {0}")]
    Levels(u8),
    /// An upper level at or below the leaf.
    #[error("level {level} is not an upper level of a {levels}-level table (the leaf is level {})", levels - 1)]
    NotUpper {
        /// The level given.
        level: u8,
        /// The table's levels.
        levels: u8,
    },
    /// A prefix shift of 64 or more.
    #[error("level {level}: prefix shift {shift} must be below 64")]
    Shift {
        /// The level.
        level: u8,
        /// The shift given.
        shift: u8,
    },
    /// A deeper level whose prefix is not longer than a shallower one's.
    #[error("level {deeper} (shift {deeper_shift}) must have a smaller prefix shift than level {upper} (shift {upper_shift})")]
    NotDecreasing {
        /// The shallower level.
        upper: u8,
        /// Its shift.
        upper_shift: u8,
        /// The deeper level.
        deeper: u8,
        /// Its shift.
        deeper_shift: u8,
    },
}

/// Which upper levels of a page table exist and which vpn prefix selects an entry of each.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PwcLayout {
    levels: u8,
    shifts: [Option<u8>; MAX_LEVELS],
}

impl PwcLayout {
    /// A radix table of `levels` levels each indexed by `index_bits` bits of the vpn, root first:
    /// level `k < levels - 1` has prefix shift `(levels - 1 - k) * index_bits` (x86-64: levels 4,
    /// index bits 9, shifts 27, 18, 9 for the PML4, PDPT and PD).
    pub fn radix(levels: u8, index_bits: u8) -> Result<PwcLayout, PwcError> {
        if !(2..=MAX_LEVELS as u8).contains(&levels) {
            return Err(PwcError::Levels(levels));
        }
        let upper: Vec<(u8, u8)> = (0..levels - 1)
            .map(|k| {
                let shift = u32::from(levels - 1 - k) * u32::from(index_bits);
                (k, u8::try_from(shift).unwrap_or(u8::MAX))
            })
            .collect();
        PwcLayout::new(levels, &upper)
    }

    /// A table of `levels` levels whose upper levels `(level, prefix shift)` may be cached; shifts
    /// must shrink as levels deepen.
    pub fn new(levels: u8, upper: &[(u8, u8)]) -> Result<PwcLayout, PwcError> {
        if !(2..=MAX_LEVELS as u8).contains(&levels) {
            return Err(PwcError::Levels(levels));
        }
        let mut shifts = [None; MAX_LEVELS];
        for &(level, shift) in upper {
            if level >= levels - 1 {
                return Err(PwcError::NotUpper { level, levels });
            }
            if shift >= 64 {
                return Err(PwcError::Shift { level, shift });
            }
            shifts[level as usize] = Some(shift);
        }
        let mut prev: Option<(u8, u8)> = None;
        for (k, s) in shifts.iter().enumerate() {
            if let Some(s) = *s {
                if let Some((pk, ps)) = prev {
                    if s >= ps {
                        return Err(PwcError::NotDecreasing {
                            upper: pk,
                            upper_shift: ps,
                            deeper: k as u8,
                            deeper_shift: s,
                        });
                    }
                }
                prev = Some((k as u8, s));
            }
        }
        Ok(PwcLayout { levels, shifts })
    }

    /// Levels of the table, leaf included.
    pub fn levels(&self) -> u8 {
        self.levels
    }

    /// The prefix shift of upper level `level`, if it is one.
    pub fn shift(&self, level: u8) -> Option<u8> {
        self.shifts.get(level as usize).copied().flatten()
    }

    /// ChampSim's height of `level`: `levels - level` (the leaf is height 1).
    pub fn height(&self, level: u8) -> u8 {
        self.levels.saturating_sub(level)
    }
}

/// How page-walk caches are configured in a spec.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum PwcSpec {
    /// No page-walk cache.
    #[default]
    None,
    /// One cache per upper level; `per_height[h]` is the geometry of the PSCL of height `h`
    /// (`2..=MAX_LEVELS`; indices 0 and 1 are unused), `None` for an uncached level.
    Split {
        /// Geometry by height above the leaf.
        per_height: [Option<Geometry>; MAX_LEVELS + 1],
    },
    /// One cache for all upper levels, tagged by `(level, prefix)`.
    Unified(Geometry),
}

impl PwcSpec {
    /// Whether no level is cached.
    pub fn is_none(&self) -> bool {
        match self {
            PwcSpec::None => true,
            PwcSpec::Split { per_height } => per_height.iter().all(Option::is_none),
            PwcSpec::Unified(_) => false,
        }
    }
}

/// The deepest page-walk-cache hit of a lookup.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PwcHit {
    /// The cached upper level (root = 0) whose entry hit.
    pub level: u8,
    /// The physical address of the level-`level + 1` table that entry points at.
    pub next_table: PhysAddr,
}

impl PwcHit {
    /// The level the walk resumes at: `level + 1`, reading `next_table`.
    pub fn resume_level(&self) -> u8 {
        self.level + 1
    }
}

type PwcArray = SetArray<PhysAddr, Lru>;

fn array(g: Geometry) -> PwcArray {
    let (sets, ways) = (g.sets() as usize, g.ways() as usize);
    SetArray::new(sets, ways, PhysAddr(0), Lru::new(sets, ways))
}

/// Page-walk caches for one page table: split per level or unified.
#[derive(Clone, Debug)]
pub struct PageWalkCache {
    layout: PwcLayout,
    /// Split: one optional array per level (root first).
    split: Vec<Option<PwcArray>>,
    /// Unified: one array for every level of the layout.
    unified: Option<PwcArray>,
}

impl PageWalkCache {
    /// The caches `spec` asks for over the upper levels of `layout`; `None` when the spec caches
    /// none of them.
    pub fn new(spec: &PwcSpec, layout: &PwcLayout) -> Option<PageWalkCache> {
        let levels = layout.levels();
        match spec {
            PwcSpec::None => None,
            PwcSpec::Unified(g) => Some(PageWalkCache {
                layout: *layout,
                split: Vec::new(),
                unified: Some(array(*g)),
            }),
            PwcSpec::Split { per_height } => {
                let split: Vec<Option<PwcArray>> = (0..levels)
                    .map(|k| {
                        layout.shift(k)?;
                        per_height
                            .get(layout.height(k) as usize)
                            .copied()
                            .flatten()
                            .map(array)
                    })
                    .collect();
                if split.iter().all(Option::is_none) {
                    None
                } else {
                    Some(PageWalkCache {
                        layout: *layout,
                        split,
                        unified: None,
                    })
                }
            }
        }
    }

    /// The layout it caches.
    pub fn layout(&self) -> &PwcLayout {
        &self.layout
    }

    /// Whether entries of `level` are cached.
    pub fn caches_level(&self, level: u8) -> bool {
        match &self.unified {
            Some(_) => self.layout.shift(level).is_some(),
            None => matches!(self.split.get(level as usize), Some(Some(_))),
        }
    }

    /// The geometry of the cache holding `level` (the shared one when unified).
    pub fn geometry(&self, level: u8) -> Option<(usize, usize)> {
        let a = match &self.unified {
            Some(u) if self.layout.shift(level).is_some() => Some(u),
            Some(_) => None,
            None => self.split.get(level as usize).and_then(Option::as_ref),
        }?;
        Some((a.sets() * a.ways(), a.ways()))
    }

    /// The deepest cached level on `vpn`'s path, probing deepest first; updates that entry's LRU
    /// state.
    #[inline]
    pub fn lookup_deepest(&mut self, vpn: Vpn, asid: u16) -> Option<PwcHit> {
        let levels = self.layout.levels();
        for level in (0..levels - 1).rev() {
            let Some(shift) = self.layout.shift(level) else {
                continue;
            };
            let prefix = vpn.0 >> shift;
            let found = match &mut self.unified {
                Some(u) => u.lookup(prefix, ctx(asid, level)),
                None => match &mut self.split[level as usize] {
                    Some(a) => a.lookup(prefix, ctx(asid, level)),
                    None => continue,
                },
            };
            if let Some(next_table) = found {
                return Some(PwcHit { level, next_table });
            }
        }
        None
    }

    /// The entry of `level` on `vpn`'s path, without touching LRU state.
    pub fn peek(&self, level: u8, vpn: Vpn, asid: u16) -> Option<PhysAddr> {
        let shift = self.layout.shift(level)?;
        let prefix = vpn.0 >> shift;
        match &self.unified {
            Some(u) => u.peek(prefix, ctx(asid, level)),
            None => self
                .split
                .get(level as usize)?
                .as_ref()?
                .peek(prefix, ctx(asid, level)),
        }
    }

    /// Records that the level-`level` entry on `vpn`'s path points at the level-`level + 1` table
    /// at `next_table`. Levels that are not cached are ignored; returns whether it was stored.
    #[inline]
    pub fn fill(&mut self, level: u8, vpn: Vpn, asid: u16, next_table: PhysAddr) -> bool {
        let Some(shift) = self.layout.shift(level) else {
            return false;
        };
        let prefix = vpn.0 >> shift;
        let arr = match &mut self.unified {
            Some(u) => u,
            None => match self.split.get_mut(level as usize) {
                Some(Some(a)) => a,
                _ => return false,
            },
        };
        arr.fill(prefix, ctx(asid, level), next_table);
        true
    }

    /// Drops every level's entry on `vpn`'s path.
    pub fn invalidate(&mut self, vpn: Vpn, asid: u16) {
        for level in 0..self.layout.levels() {
            let Some(shift) = self.layout.shift(level) else {
                continue;
            };
            let prefix = vpn.0 >> shift;
            match &mut self.unified {
                Some(u) => {
                    u.invalidate(prefix, ctx(asid, level));
                }
                None => {
                    if let Some(Some(a)) = self.split.get_mut(level as usize) {
                        a.invalidate(prefix, ctx(asid, level));
                    }
                }
            }
        }
    }

    /// Drops every entry (of any level and ASID) that points at a table in `start..end`, a
    /// range of physical addresses whose table frames were freed; returns how many. Entries
    /// pointing elsewhere stay.
    pub fn invalidate_tables(&mut self, start: PhysAddr, end: PhysAddr) -> usize {
        self.arrays()
            .map(|a| a.invalidate_where(|t| (start.0..end.0).contains(&t.0)))
            .sum()
    }

    fn arrays(&mut self) -> impl Iterator<Item = &mut PwcArray> {
        self.unified
            .iter_mut()
            .chain(self.split.iter_mut().flatten())
    }

    /// Drops everything.
    pub fn flush(&mut self) {
        self.arrays().for_each(|a| a.flush());
    }

    /// Drops the entries of `asid`.
    pub fn flush_asid(&mut self, asid: u16) {
        self.arrays().for_each(|a| {
            a.flush_asid(asid);
        });
    }

    /// Valid entries over all levels.
    pub fn len(&self) -> usize {
        self.unified
            .iter()
            .chain(self.split.iter().flatten())
            .map(|a| a.len())
            .sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let l = PwcLayout::radix(4, 9).unwrap();
        assert_eq!(
            (l.shift(0), l.shift(1), l.shift(2), l.shift(3)),
            (Some(27), Some(18), Some(9), None)
        );
        assert_eq!((l.height(0), l.height(2)), (4, 2));
        assert_eq!(PwcLayout::radix(1, 9), Err(PwcError::Levels(1)));
        assert_eq!(PwcLayout::radix(9, 9), Err(PwcError::Levels(9)));
        assert!(matches!(
            PwcLayout::radix(8, 10),
            Err(PwcError::Shift { level: 0, .. })
        ));
        assert!(matches!(
            PwcLayout::new(3, &[(2, 1)]),
            Err(PwcError::NotUpper { .. })
        ));
        assert!(matches!(
            PwcLayout::new(3, &[(0, 5), (1, 9)]),
            Err(PwcError::NotDecreasing { .. })
        ));
        assert!(PwcError::NotUpper {
            level: 2,
            levels: 3
        }
        .to_string()
        .contains("leaf is level 2"));
    }
}
