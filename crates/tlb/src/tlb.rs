//! One set-associative TLB array.
//!
//! Layout: a [`SetArray`](crate::array) of [`Pte`]s: per slot the page number (`u64` tag), a
//! context word (ASID, page-size shift, valid bit) and the PTE (16 bytes), `sets * ways` slots in
//! flat boxed slices, plus the replacement policy's flat state. An entry is tagged by its page
//! number *in units of its own page size*, its ASID and its page size, so entries of different
//! sizes can share one array without aliasing; the set is `vpn & (sets - 1)`.
//!
//! Cost model: a lookup compares the `ways` slots of one set (no hashing, no allocation); a fill
//! additionally scans the set for an invalid way and consults the policy only when the set is full;
//! `flush_asid` scans the whole array.

use crate::array::{ctx, SetArray};
use crate::policy::{AnyRepl, PolicyError, ReplPolicy, Replacement};
use crate::{Geometry, Tlb, TlbKey};
use ptbench_core::{PageSize, Pte};

/// A set-associative (or, with one set, fully associative) TLB.
///
/// `R` is the replacement policy; [`AnyRepl`] picks it at run time, a concrete policy type
/// (e.g. [`Lru`](crate::Lru)) monomorphizes it.
///
/// The [`Tlb`] trait methods look up and invalidate entries of the array's own page size (given
/// at construction); [`fill`](Tlb::fill) tags an entry with `pte.size`, and
/// [`lookup_sized`](Self::lookup_sized) finds entries of any size, which is how an array shared by
/// several page sizes is probed.
#[derive(Clone, Debug)]
pub struct SetAssocTlb<R = AnyRepl> {
    arr: SetArray<Pte, R>,
    geometry: Geometry,
    size: PageSize,
}

impl SetAssocTlb<AnyRepl> {
    /// An empty TLB of `geometry` whose entries are `size` pages, replacing by `policy`.
    pub fn new(
        geometry: Geometry,
        policy: ReplPolicy,
        size: PageSize,
    ) -> Result<SetAssocTlb, PolicyError> {
        let repl = policy.build(geometry.sets() as usize, geometry.ways() as usize)?;
        Ok(SetAssocTlb::with_policy(geometry, repl, size))
    }
}

impl<R: Replacement> SetAssocTlb<R> {
    /// An empty TLB with replacement state `repl`, which must have been built for the same
    /// `sets x ways` as `geometry`.
    pub fn with_policy(geometry: Geometry, repl: R, size: PageSize) -> SetAssocTlb<R> {
        SetAssocTlb {
            arr: SetArray::new(
                geometry.sets() as usize,
                geometry.ways() as usize,
                Pte::EMPTY,
                repl,
            ),
            geometry,
            size,
        }
    }

    /// The geometry.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// The page size the trait methods look up.
    pub fn page_size(&self) -> PageSize {
        self.size
    }

    /// The replacement state (for inspection in tests).
    pub fn replacement(&self) -> &R {
        self.arr.repl()
    }

    /// Looks up an entry of page size `size`, updating the replacement state on a hit.
    #[inline]
    pub fn lookup_sized(&mut self, key: TlbKey, size: PageSize) -> Option<Pte> {
        self.arr.lookup(key.vpn, ctx(key.asid, size.shift()))
    }

    /// Looks up an entry of page size `size` without touching the replacement state.
    #[inline]
    pub fn peek_sized(&self, key: TlbKey, size: PageSize) -> Option<Pte> {
        self.arr.peek(key.vpn, ctx(key.asid, size.shift()))
    }

    /// Looks up an entry of the array's page size without touching the replacement state.
    #[inline]
    pub fn peek(&self, key: TlbKey) -> Option<Pte> {
        self.peek_sized(key, self.size)
    }

    /// Drops the entry of page size `size` for `key`; returns it if it was present.
    #[inline]
    pub fn invalidate_sized(&mut self, key: TlbKey, size: PageSize) -> Option<Pte> {
        self.arr.invalidate(key.vpn, ctx(key.asid, size.shift()))
    }

    /// Valid entries.
    pub fn len(&self) -> usize {
        self.arr.len()
    }

    /// Whether no entry is valid.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The valid entries, set by set.
    pub fn entries(&self) -> impl Iterator<Item = (TlbKey, Pte)> + '_ {
        self.arr.entries().map(|(tag, c, pte)| {
            (
                TlbKey {
                    vpn: tag,
                    asid: c as u16,
                },
                pte,
            )
        })
    }
}

impl<R: Replacement> Tlb for SetAssocTlb<R> {
    #[inline]
    fn lookup(&mut self, key: TlbKey) -> Option<Pte> {
        self.lookup_sized(key, self.size)
    }

    #[inline]
    fn fill(&mut self, key: TlbKey, pte: Pte) -> Option<(TlbKey, Pte)> {
        self.arr
            .fill(key.vpn, ctx(key.asid, pte.size.shift()), pte)
            .map(|(tag, c, pte)| {
                (
                    TlbKey {
                        vpn: tag,
                        asid: c as u16,
                    },
                    pte,
                )
            })
    }

    #[inline]
    fn invalidate(&mut self, key: TlbKey) -> Option<Pte> {
        self.invalidate_sized(key, self.size)
    }

    fn flush(&mut self) {
        self.arr.flush();
    }

    fn flush_asid(&mut self, asid: u16) {
        self.arr.flush_asid(asid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ptbench_core::{Perms, Pfn};

    fn pte(pfn: u64, size: PageSize) -> Pte {
        Pte {
            pfn: Pfn(pfn),
            perms: Perms::RW,
            size,
        }
    }

    #[test]
    fn sizes_do_not_alias_in_a_shared_array() {
        let mut t =
            SetAssocTlb::new(Geometry::new(8, 2).unwrap(), ReplPolicy::Lru, PageSize::K4).unwrap();
        let k = TlbKey::new(5, 0);
        assert_eq!(t.fill(k, pte(1, PageSize::K4)), None);
        assert_eq!(t.fill(k, pte(512, PageSize::M2)), None);
        assert_eq!(t.lookup(k), Some(pte(1, PageSize::K4)));
        assert_eq!(
            t.lookup_sized(k, PageSize::M2),
            Some(pte(512, PageSize::M2))
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.invalidate(k), Some(pte(1, PageSize::K4)));
        assert_eq!(t.invalidate(k), None);
        assert_eq!(t.peek_sized(k, PageSize::M2), Some(pte(512, PageSize::M2)));
        t.flush();
        assert!(t.is_empty());
    }

    #[test]
    fn refill_updates_in_place() {
        let mut t =
            SetAssocTlb::new(Geometry::new(2, 2).unwrap(), ReplPolicy::Fifo, PageSize::K4).unwrap();
        t.fill(TlbKey::new(1, 0), pte(1, PageSize::K4));
        t.fill(TlbKey::new(1, 0), pte(9, PageSize::K4));
        assert_eq!(t.len(), 1);
        assert_eq!(t.peek(TlbKey::new(1, 0)), Some(pte(9, PageSize::K4)));
        assert_eq!(t.entries().count(), 1);
        assert_eq!(t.geometry().sets(), 1);
        assert_eq!(t.page_size(), PageSize::K4);
    }
}
