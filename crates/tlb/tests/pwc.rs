//! Page-walk caches: deepest-hit lookups, LRU per level, the unified variant, ChampSim's geometry
//! mapped onto tables of different depths, ASIDs and the hierarchy's counters.

use ptbench_core::{PageSize, PhysAddr, Vpn};
use ptbench_tlb::{PageWalkCache, PwcHit, PwcLayout, PwcSpec, TlbHierarchy, TlbSpec};

/// x86-64 4-level: shifts 27 (PML4, level 0), 18 (PDPT, level 1), 9 (PD, level 2).
fn x86() -> PwcLayout {
    PwcLayout::radix(4, 9).unwrap()
}

fn pwc(spec: &str, layout: &PwcLayout) -> PageWalkCache {
    PageWalkCache::new(&TlbSpec::parse(spec).unwrap().pwc, layout).unwrap()
}

/// A vpn from its four 9-bit indices, root first.
fn vpn(i0: u64, i1: u64, i2: u64, i3: u64) -> Vpn {
    Vpn(i0 << 27 | i1 << 18 | i2 << 9 | i3)
}

#[test]
fn deepest_hit_wins() {
    let mut c = pwc("pwc=4x4", &x86());
    let v = vpn(1, 2, 3, 4);
    assert_eq!(c.lookup_deepest(v, 0), None);
    // A walk of v read the PML4 entry -> PDPT at 0x1000, the PDPT entry -> PD at 0x2000, the PD
    // entry -> PT at 0x3000.
    c.fill(0, v, 0, PhysAddr(0x1000));
    assert_eq!(
        c.lookup_deepest(v, 0),
        Some(PwcHit {
            level: 0,
            next_table: PhysAddr(0x1000)
        })
    );
    c.fill(1, v, 0, PhysAddr(0x2000));
    c.fill(2, v, 0, PhysAddr(0x3000));
    let hit = c.lookup_deepest(v, 0).unwrap();
    assert_eq!(
        (hit.level, hit.resume_level(), hit.next_table),
        (2, 3, PhysAddr(0x3000))
    );
    // Another page of the same PT: same PD entry.
    assert_eq!(c.lookup_deepest(vpn(1, 2, 3, 511), 0).unwrap().level, 2);
    // Another PD under the same PDPT: the PDPT entry hits.
    let h = c.lookup_deepest(vpn(1, 2, 9, 0), 0).unwrap();
    assert_eq!((h.level, h.next_table), (1, PhysAddr(0x2000)));
    // Another PDPT under the same PML4 entry.
    assert_eq!(c.lookup_deepest(vpn(1, 7, 3, 4), 0).unwrap().level, 0);
    // Another PML4 entry: nothing.
    assert_eq!(c.lookup_deepest(vpn(2, 2, 3, 4), 0), None);
    // The leaf level is never cached, and uncached levels are ignored by fill.
    assert!(!c.fill(3, v, 0, PhysAddr(0x4000)));
    assert!(c.caches_level(2) && !c.caches_level(3));
    assert_eq!(c.len(), 3);
}

#[test]
fn each_level_is_lru() {
    // Only PSCL2 (the PD-entry cache, level 2): 2 entries, fully associative.
    let mut c = pwc("pscl2=2x2", &x86());
    assert!(!c.caches_level(0) && !c.caches_level(1) && c.caches_level(2));
    let (a, b, d) = (vpn(0, 0, 1, 0), vpn(0, 0, 2, 0), vpn(0, 0, 3, 0));
    c.fill(2, a, 0, PhysAddr(0xa000));
    c.fill(2, b, 0, PhysAddr(0xb000));
    // Touch a: b becomes the LRU entry.
    assert_eq!(c.lookup_deepest(a, 0).unwrap().next_table, PhysAddr(0xa000));
    c.fill(2, d, 0, PhysAddr(0xd000));
    assert_eq!(c.peek(2, a, 0), Some(PhysAddr(0xa000)));
    assert_eq!(c.peek(2, b, 0), None);
    assert_eq!(c.peek(2, d, 0), Some(PhysAddr(0xd000)));
    // A level-0 fill is ignored: not cached.
    assert!(!c.fill(0, a, 0, PhysAddr(0x1)));
    assert_eq!(c.len(), 2);
}

#[test]
fn unified_cache_tags_by_level() {
    let mut c = pwc("upwc=2x2", &x86());
    assert_eq!(c.geometry(0), Some((2, 2)));
    assert_eq!(c.geometry(3), None);
    // Two paths whose level-0 and level-1 prefixes are both 1: vpn(0,1,..) has level-1 prefix
    // (0 << 9 | 1) = 1 and vpn(1,..) has level-0 prefix 1.
    let p = vpn(0, 1, 0, 0);
    let q = vpn(1, 0, 0, 0);
    c.fill(1, p, 0, PhysAddr(0x1111));
    c.fill(0, q, 0, PhysAddr(0x2222));
    assert_eq!(c.peek(1, p, 0), Some(PhysAddr(0x1111)));
    assert_eq!(c.peek(0, q, 0), Some(PhysAddr(0x2222)));
    assert_eq!(c.peek(0, p, 0), None); // p's level-0 prefix is 0
                                       // Levels compete for the shared entries: a third fill evicts the LRU one.
    c.fill(2, p, 0, PhysAddr(0x3333));
    assert_eq!(c.peek(1, p, 0), None);
    assert_eq!(c.lookup_deepest(p, 0).unwrap().level, 2);
    assert_eq!(c.len(), 2);
}

#[test]
fn champsim_pscls_map_by_height() {
    let spec = TlbSpec::CHAMPSIM.pwc;
    // ChampSim's default table has 5 levels: PSCL5 caches root entries.
    let five = PageWalkCache::new(&spec, &PwcLayout::radix(5, 9).unwrap()).unwrap();
    let geoms: Vec<_> = (0..5).map(|k| five.geometry(k)).collect();
    assert_eq!(
        geoms,
        [
            Some((2, 2)),
            Some((4, 4)),
            Some((8, 4)),
            Some((32, 8)),
            None
        ]
    );
    // On a 4-level table PSCL5 has nothing to cache.
    let four = PageWalkCache::new(&spec, &x86()).unwrap();
    let geoms: Vec<_> = (0..4).map(|k| four.geometry(k)).collect();
    assert_eq!(geoms, [Some((4, 4)), Some((8, 4)), Some((32, 8)), None]);
    // A two-level table only has PSCL2.
    let two = PageWalkCache::new(&spec, &PwcLayout::radix(2, 10).unwrap()).unwrap();
    assert_eq!(two.geometry(0), Some((32, 8)));
    // Only PSCL5 on a 4-level table: nothing to build.
    let only5 = TlbSpec::parse("pscl5=2x2").unwrap().pwc;
    assert!(PageWalkCache::new(&only5, &x86()).is_none());
    assert!(PageWalkCache::new(&PwcSpec::None, &x86()).is_none());
}

#[test]
fn asids_invalidate_and_flush() {
    let mut c = pwc("pwc=8x2", &x86());
    let v = vpn(3, 3, 3, 3);
    c.fill(2, v, 1, PhysAddr(0x100));
    c.fill(1, v, 1, PhysAddr(0x200));
    c.fill(2, v, 2, PhysAddr(0x900));
    assert_eq!(c.lookup_deepest(v, 2).unwrap().next_table, PhysAddr(0x900));
    assert_eq!(c.lookup_deepest(v, 3), None);
    c.flush_asid(2);
    assert_eq!(c.lookup_deepest(v, 2), None);
    assert_eq!(c.lookup_deepest(v, 1).unwrap().level, 2);
    c.invalidate(v, 1);
    assert!(c.is_empty());
    c.fill(0, v, 1, PhysAddr(0x1));
    c.flush();
    assert!(c.is_empty());
}

#[test]
fn hierarchy_counts_pwc_hits_per_level() {
    let spec = TlbSpec::parse("l1=4x4,pwc=4x4,asid=off").unwrap();
    let layout = x86();
    let mut h = TlbHierarchy::new(&spec, &[PageSize::K4], Some(&layout)).unwrap();
    let v = vpn(1, 2, 3, 4);
    assert_eq!(h.pwc_lookup(v, 5), None);
    h.pwc_fill(0, v, 5, PhysAddr(0x1000));
    h.pwc_fill(1, v, 5, PhysAddr(0x2000));
    assert_eq!(h.pwc_lookup(v, 6).unwrap().level, 1); // asids off: untagged
    assert_eq!(h.pwc_lookup(vpn(1, 9, 0, 0), 6).unwrap().level, 0);
    let s = *h.stats();
    assert_eq!(
        (s.pwc_misses, s.pwc_hits[0], s.pwc_hits[1], s.pwc_hits[2]),
        (1, 1, 1, 0)
    );
    // A context switch with ASIDs off flushes the page-walk caches too.
    assert!(h.context_switch());
    assert!(h.pwc().unwrap().is_empty());
    // Without a layout (a design that is not hierarchical) there is no page-walk cache.
    let mut flat = TlbHierarchy::new(&spec, &[PageSize::K4], None).unwrap();
    assert!(flat.pwc().is_none());
    assert_eq!(flat.pwc_lookup(v, 0), None);
    assert_eq!(flat.stats().pwc_misses, 0);
}

#[test]
fn invalidating_freed_tables_drops_only_entries_pointing_into_them() {
    for spec in ["pwc=4x4", "upwc=8x8"] {
        let mut c = pwc(spec, &x86());
        let v = vpn(1, 2, 3, 4);
        c.fill(0, v, 0, PhysAddr(0x1000));
        c.fill(1, v, 0, PhysAddr(0x2000));
        c.fill(2, v, 0, PhysAddr(0x3000));
        c.fill(2, vpn(1, 2, 5, 0), 7, PhysAddr(0x3800));
        c.fill(2, vpn(1, 2, 6, 0), 0, PhysAddr(0x4000));
        // Frames 0x3000..0x4000 freed: the two PD entries pointing there go (any ASID); the PT at
        // 0x4000 (just past the range) and the upper levels stay.
        assert_eq!(
            c.invalidate_tables(PhysAddr(0x3000), PhysAddr(0x4000)),
            2,
            "{spec}"
        );
        assert_eq!(c.len(), 3, "{spec}");
        let h = c.lookup_deepest(v, 0).unwrap();
        assert_eq!((h.level, h.next_table), (1, PhysAddr(0x2000)), "{spec}");
        assert_eq!(c.peek(2, vpn(1, 2, 6, 0), 0), Some(PhysAddr(0x4000)));
    }
    // Through the hierarchy: counted, and the TLB entries stay.
    let mut h = TlbHierarchy::new(
        &TlbSpec::parse("l1=4x4,pwc=4x4").unwrap(),
        &[PageSize::K4],
        Some(&x86()),
    )
    .unwrap();
    let v = vpn(1, 2, 3, 4);
    let pte = ptbench_core::Pte {
        pfn: ptbench_core::Pfn(9),
        perms: ptbench_core::Perms::RW,
        size: PageSize::K4,
    };
    h.fill(v, 0, ptbench_core::AccessKind::Read, pte);
    h.pwc_fill(2, v, 0, PhysAddr(0x3000));
    assert_eq!(
        h.pwc_invalidate_tables(PhysAddr(0x3000), PhysAddr(0x4000)),
        1
    );
    assert_eq!(h.stats().pwc_invalidations, 1);
    assert_eq!(h.stats().flushes, 0);
    assert_eq!(
        h.lookup(v, 0, ptbench_core::AccessKind::Read).pte(),
        Some(pte)
    );
    assert_eq!(h.pwc_lookup(v, 0), None);
}
