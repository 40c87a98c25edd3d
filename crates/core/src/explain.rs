//! Explaining a walk step by step, and the virtual address spaces designs translate.
//!
//! A design explains a walk by running its real walk with a [`WalkRecorder`] that keeps each
//! memory reference as a [`WalkStep`] ([`PageTable::explain`](crate::PageTable::explain)); the
//! walk of the hot path runs with [`NoRecord`], whose calls compile to nothing. So an explanation
//! has exactly one step per counted reference.

use crate::{Perms, PhysAddr, Pte, WalkCost};

/// One memory reference of a walk: where it went and what the entry read there means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkStep {
    /// What was read, in words: `level 0 table`, `4KiB table, bucket 0x1f`, `HAT`, `way 2`.
    pub place: String,
    /// Physical address of the table (table page, hash table, way) the read went to.
    pub table: PhysAddr,
    /// Index of the entry, bucket or slot within that table.
    pub index: u64,
    /// The physical address read: one counted memory reference.
    pub addr: PhysAddr,
    /// The raw words read: one entry, or a whole bucket or slot for a block read.
    pub words: Vec<u64>,
    /// Bytes of each word in memory (4 or 8).
    pub word_bytes: u8,
    /// Whether the entry that matters is valid (its valid or present bit, or a matching tag).
    pub valid: bool,
    /// The permissions, when this step found the mapping.
    pub perms: Option<Perms>,
    /// What the entry means and what the walk does next.
    pub meaning: String,
}

/// One field of a virtual address as a design splits it: bits `lo..=hi`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaField {
    /// Its name: `L0 index`, `page number`, `cluster key`.
    pub name: String,
    /// Highest bit.
    pub hi: u8,
    /// Lowest bit.
    pub lo: u8,
}

impl VaField {
    /// Bits `lo..=hi`.
    pub fn new(name: impl Into<String>, hi: u8, lo: u8) -> VaField {
        VaField {
            name: name.into(),
            hi,
            lo,
        }
    }

    /// The whole page number of a `va_bits`-bit address with `pobits` offset bits: the one field
    /// of a design that looks pages up without splitting them (hashed, inverted, a map).
    pub fn page_number(va_bits: u8, pobits: u8) -> VaField {
        VaField::new("page number", va_bits.saturating_sub(1), pobits)
    }

    /// The field's value in `addr`.
    pub fn value(&self, addr: u64) -> u64 {
        let width = u32::from(self.hi.saturating_sub(self.lo)) + 1;
        let mask = if width >= 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        addr.checked_shr(u32::from(self.lo)).unwrap_or(0) & mask
    }
}

/// A walk explained: how the design splits the page number, every reference it made, and what
/// it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalkTrace {
    /// The fields of the page number as the design uses them, most significant first (the page
    /// offset below them is not listed).
    pub fields: Vec<VaField>,
    /// One step per memory reference, in order: `steps.len() == cost.refs`.
    pub steps: Vec<WalkStep>,
    /// What the design does without reading memory (tables it skips, host lookups).
    pub notes: Vec<String>,
    /// The mapping found, as [`PageTable::walk`](crate::PageTable::walk) returns it.
    pub pte: Option<Pte>,
    /// The walk's cost, as `walk` counts it.
    pub cost: WalkCost,
    /// Why the walk ended: where it found the mapping, or where and why it stopped.
    pub outcome: String,
    /// A two-dimensional walk's grid, one line per guest read and the guest page: which steps
    /// read what (empty for native walks).
    pub grid: Vec<String>,
}

/// Receives the steps of a walk. [`NoRecord`] drops them at compile time; [`WalkTrace`] keeps
/// them.
pub trait WalkRecorder {
    /// Records one memory reference; `step` runs only for recorders that keep steps.
    fn step(&mut self, step: impl FnOnce() -> WalkStep);
    /// Records something the walk did without reading memory.
    fn note(&mut self, note: impl FnOnce() -> String);
    /// Records why the walk ended.
    fn outcome(&mut self, outcome: impl FnOnce() -> String);
}

/// A recorder that keeps nothing: the hot path's walks use it.
#[derive(Copy, Clone, Debug, Default)]
pub struct NoRecord;

impl WalkRecorder for NoRecord {
    #[inline(always)]
    fn step(&mut self, _step: impl FnOnce() -> WalkStep) {}
    #[inline(always)]
    fn note(&mut self, _note: impl FnOnce() -> String) {}
    #[inline(always)]
    fn outcome(&mut self, _outcome: impl FnOnce() -> String) {}
}

impl WalkTrace {
    /// Explains one walk: `walk` runs with a fresh trace (holding `fields`) as its recorder, and
    /// its result and cost are stored in the trace.
    pub fn record(
        fields: Vec<VaField>,
        walk: impl FnOnce(&mut WalkCost, &mut WalkTrace) -> Option<Pte>,
    ) -> WalkTrace {
        let mut t = WalkTrace {
            fields,
            ..WalkTrace::default()
        };
        let mut cost = WalkCost::default();
        t.pte = walk(&mut cost, &mut t);
        t.cost = cost;
        t
    }
}

impl WalkRecorder for WalkTrace {
    fn step(&mut self, step: impl FnOnce() -> WalkStep) {
        self.steps.push(step());
    }
    fn note(&mut self, note: impl FnOnce() -> String) {
        self.notes.push(note());
    }
    fn outcome(&mut self, outcome: impl FnOnce() -> String) {
        self.outcome = outcome();
    }
}

/// Why an address lies outside a design's virtual address space.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outside {
    /// Above `2^va_bits` in a design whose addresses are not sign-extended.
    TooWide,
    /// Not a sign extension of bit `va_bits - 1` in a design whose addresses are (x86-64).
    NonCanonical,
}

/// The virtual addresses a design translates: `va_bits` wide, and either zero-extended (every
/// address below `2^va_bits`) or canonical (bits above `va_bits - 1` copy it, as on x86-64, so
/// the upper half `2^64 - 2^(va_bits-1) ..` is valid too). A walk indexes with the low `va_bits`
/// bits.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AddrSpace {
    /// Width of the space.
    pub va_bits: u8,
    /// Whether addresses are sign-extended.
    pub canonical: bool,
}

impl AddrSpace {
    /// A space of `va_bits` (clamped to 1..=64); canonical only below 64 bits.
    pub fn new(va_bits: u8, canonical: bool) -> AddrSpace {
        let va_bits = va_bits.clamp(1, 64);
        AddrSpace {
            va_bits,
            canonical: canonical && va_bits < 64,
        }
    }

    /// The mask of the low `va_bits` bits.
    pub fn mask(self) -> u64 {
        if self.va_bits >= 64 {
            u64::MAX
        } else {
            (1u64 << self.va_bits) - 1
        }
    }

    /// The highest address of the low range: `2^va_bits - 1`, or `2^(va_bits-1) - 1` when
    /// canonical.
    pub fn low_last(self) -> u64 {
        if self.canonical {
            self.mask() >> 1
        } else {
            self.mask()
        }
    }

    /// The lowest address of the upper (sign-extended) half; `None` unless canonical.
    pub fn high_start(self) -> Option<u64> {
        self.canonical.then(|| !(self.mask() >> 1))
    }

    /// Whether every byte of `first..=last` lies in the space (in one half of it).
    #[inline(always)]
    pub fn contains_range(self, first: u64, last: u64) -> bool {
        last <= self.low_last()
            || self
                .high_start()
                .is_some_and(|h| first >= h && first <= last)
    }

    /// The address the walk indexes with (its low `va_bits` bits), or why it is outside.
    pub fn resolve(self, addr: u64) -> Result<u64, Outside> {
        if self.contains_range(addr, addr) {
            Ok(addr & self.mask())
        } else if self.canonical {
            Err(Outside::NonCanonical)
        } else {
            Err(Outside::TooWide)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_spaces_accept_both_halves_and_nothing_between() {
        let x = AddrSpace::new(48, true);
        assert_eq!(x.resolve(0x7fff_ffff_ffff), Ok(0x7fff_ffff_ffff));
        assert_eq!(x.resolve(0xffff_8000_0000_0000), Ok(0x8000_0000_0000));
        assert_eq!(x.resolve(0xffff_ffff_ffff_f123), Ok(0xffff_ffff_f123));
        assert_eq!(x.resolve(0x8000_0000_0000), Err(Outside::NonCanonical));
        assert_eq!(x.resolve(0xfff7_8000_0000_0000), Err(Outside::NonCanonical));
        assert!(!x.contains_range(0x7fff_ffff_fff0, 0x8000_0000_000f));
        let flat = AddrSpace::new(48, false);
        assert_eq!(flat.resolve(0x8000_0000_0000), Ok(0x8000_0000_0000));
        assert_eq!(flat.resolve(0xffff_8000_0000_0000), Err(Outside::TooWide));
        let all = AddrSpace::new(64, true);
        assert!(!all.canonical);
        assert_eq!(all.resolve(u64::MAX), Ok(u64::MAX));
        assert_eq!(VaField::new("L0", 29, 21).value(0x1234_5678), 0x91);
        assert_eq!(VaField::new("all", 63, 0).value(u64::MAX), u64::MAX);
    }
}
