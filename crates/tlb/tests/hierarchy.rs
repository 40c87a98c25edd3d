//! The hierarchy: inclusive / exclusive / non-inclusive behaviour on a hand-worked sequence, the
//! inclusion invariants on random streams, page sizes, ASIDs and flushes.

use proptest::prelude::*;
use ptbench_core::{AccessKind, PageSize, Perms, Pfn, Pte, Vpn};
use ptbench_tlb::{HitLevel, TlbHierarchy, TlbLookup, TlbSpec};

const READ: AccessKind = AccessKind::Read;
const FETCH: AccessKind = AccessKind::Fetch;

fn pte(page: u64) -> Pte {
    Pte {
        pfn: Pfn(1000 + page),
        perms: Perms::RW,
        size: PageSize::K4,
    }
}

fn build(spec: &str) -> TlbHierarchy {
    TlbHierarchy::new(&TlbSpec::parse(spec).unwrap(), &[PageSize::K4], None).unwrap()
}

/// One translation: lookup, and on a miss "walk" (pte(page)) and fill. Returns the hit level.
fn access(h: &mut TlbHierarchy, page: u64, asid: u16, kind: AccessKind) -> HitLevel {
    let r = h.lookup(Vpn(page), asid, kind);
    match r {
        TlbLookup::Miss => h.fill(Vpn(page), asid, kind, pte(page)),
        hit => assert_eq!(hit.pte(), Some(pte(page)), "page {page}"),
    }
    r.level()
}

fn pages(v: Vec<(ptbench_tlb::TlbKey, Pte)>) -> Vec<u64> {
    let mut p: Vec<u64> = v.into_iter().map(|(k, _)| k.vpn).collect();
    p.sort();
    p
}

use HitLevel::{Miss as M, L1, L2};

/// The sequence 1 2 1 3 1 4 1 2 with a 2-entry fully associative L1 and a 3-entry fully
/// associative L2, LRU everywhere. Page 1 stays hot in L1 while the L2 fills up behind it.
const SEQ: [u64; 8] = [1, 2, 1, 3, 1, 4, 1, 2];

#[test]
fn non_inclusive_by_hand() {
    let mut h = build("l1=2x2,l2=3x3,l2incl=non");
    // 1: miss; fill L2 {1}, L1 {1}.            2: miss; L2 {1,2}, L1 {1,2}.
    // 1: L1 hit (L2's LRU order is not touched: 1 stays older than 2 there).
    // 3: miss; L2 {1,2,3}; L1 evicts its LRU, 2: L1 {1,3}.
    // 1: L1 hit.
    // 4: miss; L2 evicts its LRU, 1, and L1 is left alone: L2 {2,3,4}; L1 evicts 3: L1 {1,4}.
    // 1: L1 hit - it survived its L2 eviction.
    // 2: L1 miss, L2 hit; L1 evicts 4 (filled before 1 was last used): L1 {1,2}, L2 {2,3,4}.
    let got: Vec<_> = SEQ.iter().map(|&p| access(&mut h, p, 0, READ)).collect();
    assert_eq!(got, [M, M, L1, M, L1, M, L1, L2]);
    assert_eq!(pages(h.l1_entries(READ)), [1, 2]);
    assert_eq!(pages(h.l2_entries()), [2, 3, 4]);
    let s = h.stats();
    assert_eq!((s.l1d_hits, s.l1d_misses), (3, 5));
    assert_eq!((s.l2_hits, s.l2_misses, s.tlb_misses), (1, 4, 4));
    assert_eq!((s.l1d_evictions, s.l2_evictions), (3, 1));
    assert_eq!((s.back_invalidations, s.l2_victim_fills), (0, 0));
    assert_eq!((s.l1i_hits, s.l1i_misses, s.l1i_evictions), (0, 0, 0));
}

#[test]
fn inclusive_by_hand() {
    let mut h = build("l1=2x2,l2=3x3,l2incl=incl");
    // 1, 2: misses; L2 {1,2}, L1 {1,2}.        1: L1 hit.
    // 3: miss; L2 {1,2,3}; L1 evicts 2: L1 {1,3}.
    // 1: L1 hit (again invisible to L2).
    // 4: miss; L2 is filled first and evicts its LRU, 1, which is back-invalidated from L1:
    //    L1 {3}; L2 {2,3,4}; then L1 takes 4 into the freed way: L1 {3,4}, no L1 eviction.
    // 1: L1 miss, L2 miss: a walk. L2 evicts 2 (not in L1); L2 {3,4,1}; L1 evicts 3: L1 {4,1}.
    // 2: L1 miss, L2 miss: a walk. L2 evicts 3 (not in L1); L2 {4,1,2}; L1 evicts 4: L1 {1,2}.
    let got: Vec<_> = SEQ.iter().map(|&p| access(&mut h, p, 0, READ)).collect();
    assert_eq!(got, [M, M, L1, M, L1, M, M, M]);
    assert_eq!(pages(h.l1_entries(READ)), [1, 2]);
    assert_eq!(pages(h.l2_entries()), [1, 2, 4]);
    let s = h.stats();
    assert_eq!((s.l1d_hits, s.l1d_misses), (2, 6));
    assert_eq!((s.l2_hits, s.l2_misses, s.tlb_misses), (0, 6, 6));
    assert_eq!((s.l1d_evictions, s.l2_evictions), (3, 3));
    assert_eq!((s.back_invalidations, s.l2_victim_fills), (1, 0));
}

#[test]
fn exclusive_by_hand() {
    let mut h = build("l1=2x2,l2=3x3,l2incl=excl");
    // 1, 2: misses fill only L1: L1 {1,2}, L2 {}.     1: L1 hit.
    // 3: miss; L1 evicts 2, which moves to L2: L1 {1,3}, L2 {2}.
    // 1: L1 hit.
    // 4: miss; L1 evicts 3 into L2: L1 {1,4}, L2 {2,3}.
    // 1: L1 hit.
    // 2: L1 miss, L2 hit: 2 moves out of L2 into L1, whose victim 4 moves to L2:
    //    L1 {1,2}, L2 {3,4}.
    let got: Vec<_> = SEQ.iter().map(|&p| access(&mut h, p, 0, READ)).collect();
    assert_eq!(got, [M, M, L1, M, L1, M, L1, L2]);
    assert_eq!(pages(h.l1_entries(READ)), [1, 2]);
    assert_eq!(pages(h.l2_entries()), [3, 4]);
    let s = h.stats();
    assert_eq!((s.l1d_hits, s.l1d_misses), (3, 5));
    assert_eq!((s.l2_hits, s.l2_misses, s.tlb_misses), (1, 4, 4));
    assert_eq!((s.l1d_evictions, s.l2_evictions), (3, 0));
    assert_eq!((s.back_invalidations, s.l2_victim_fills), (0, 3));
    // Capacity is the sum: 5 distinct pages all stay cached.
    let mut x = build("l1=2x2,l2=3x3,l2incl=excl");
    for p in [1, 2, 3, 4, 5] {
        access(&mut x, p, 0, READ);
    }
    assert_eq!(x.len(), 5);
    for p in [1, 2, 3, 4, 5] {
        assert_ne!(access(&mut x, p, 0, READ), M);
    }
}

#[test]
fn exclusive_split_l1_keeps_a_page_out_of_l2_while_the_other_l1_holds_it() {
    let mut h = build("l1i=1x1,l1d=1x1,l2=4x4,l2incl=excl");
    // Page 7 is both code and data: it sits in the ITLB and the DTLB.
    assert_eq!(access(&mut h, 7, 0, FETCH), M);
    assert_eq!(access(&mut h, 7, 0, READ), M);
    // The DTLB evicts 7 for 8; the ITLB still holds 7, so it does not go to L2.
    assert_eq!(access(&mut h, 8, 0, READ), M);
    assert!(h.l2_entries().is_empty());
    assert_eq!(h.stats().l2_victim_fills, 0);
    // The ITLB evicts 7 for 9: now it goes to L2, and a data access finds it there.
    assert_eq!(access(&mut h, 9, 0, FETCH), M);
    assert_eq!(pages(h.l2_entries()), [7]);
    assert_eq!(access(&mut h, 7, 0, READ), L2);
    // 7 moved to the DTLB; the DTLB's victim 8 moved to L2.
    assert_eq!(pages(h.l2_entries()), [8]);
    let s = h.stats();
    assert_eq!((s.l1i_misses, s.l1d_misses, s.l2_hits), (2, 3, 1));
    assert_eq!((s.l1i_evictions, s.l1d_evictions), (1, 2));
}

#[test]
fn split_l1_counts_by_kind_and_unified_l1_too() {
    let mut h = build("l1i=4x4,l1d=4x4");
    access(&mut h, 1, 0, FETCH);
    access(&mut h, 1, 0, FETCH);
    access(&mut h, 1, 0, READ); // a different array: miss
    access(&mut h, 1, 0, AccessKind::Write);
    let s = *h.stats();
    assert_eq!(
        (s.l1i_hits, s.l1i_misses, s.l1d_hits, s.l1d_misses),
        (1, 1, 1, 1)
    );
    assert_eq!((s.tlb_misses, s.l2_hits, s.l2_misses), (2, 0, 0));
    let mut u = build("l1=4x4");
    access(&mut u, 1, 0, FETCH);
    access(&mut u, 1, 0, READ); // same array: hit
    let s = *u.stats();
    assert_eq!(
        (s.l1i_hits, s.l1i_misses, s.l1d_hits, s.l1d_misses),
        (0, 1, 1, 0)
    );
    assert_eq!(s.tlb_misses, 1);
    assert_eq!(s.l1_probes, 2);
}

#[test]
fn no_tlb_walks_every_time() {
    let mut h = build("none");
    assert!(!h.has_tlb());
    for p in [1, 1, 1] {
        assert_eq!(access(&mut h, p, 0, READ), M);
    }
    assert_eq!(h.stats().tlb_misses, 3);
    assert!(h.is_empty());
}

#[test]
fn asid_tagging_and_flushes() {
    let mut h = build("l1=8x8,l2=16x4,asid=on");
    assert!(h.asids());
    access(&mut h, 1, 1, READ);
    access(&mut h, 2, 1, READ);
    access(&mut h, 1, 2, READ);
    // Same page, other address space: a separate entry.
    assert_eq!(h.len(), 6); // three entries in each of L1 and L2
    assert_eq!(access(&mut h, 1, 1, READ), L1);
    assert_eq!(access(&mut h, 1, 2, READ), L1);
    assert_eq!(h.peek_l1(Vpn(2), 2, READ), None);
    // A context switch with ASIDs on flushes nothing.
    assert!(!h.context_switch());
    assert_eq!(h.len(), 6);
    // flush_asid drops one address space everywhere.
    h.flush_asid(1);
    assert_eq!(h.peek_l1(Vpn(1), 1, READ), None);
    assert_eq!(h.peek_l2(Vpn(1), 1), None);
    assert_eq!(h.peek_l1(Vpn(1), 2, READ), Some(pte(1)));
    assert_eq!(h.len(), 2);
    // invalidate drops one page everywhere.
    h.invalidate(Vpn(1), 2);
    assert!(h.is_empty());
    access(&mut h, 3, 0, READ);
    h.flush();
    assert!(h.is_empty());
    assert_eq!(h.stats().flushes, 1);
}

#[test]
fn asids_off_share_entries_and_context_switch_flushes() {
    let mut h = build("l1=8x8,asid=off");
    assert!(!h.asids());
    access(&mut h, 1, 1, READ);
    // Untagged: another address space hits the same entry (which is why a switch must flush).
    assert_eq!(access(&mut h, 1, 2, READ), L1);
    assert!(h.context_switch());
    assert!(h.is_empty());
    assert_eq!(access(&mut h, 1, 2, READ), M);
    assert_eq!(h.stats().flushes, 1);
    // flush_asid cannot tell address spaces apart: it drops everything.
    h.flush_asid(9);
    assert!(h.is_empty());
}

fn huge(pfn: u64, size: PageSize) -> Pte {
    Pte {
        pfn: Pfn(pfn),
        perms: Perms::RWX,
        size,
    }
}

#[test]
fn huge_pages_separate_arrays() {
    let sizes = [PageSize::K4, PageSize::M2, PageSize::G1];
    let spec = TlbSpec::parse("l1=1x1,l2=2x2,huge=separate").unwrap();
    let mut h = TlbHierarchy::new(&spec, &sizes, None).unwrap();
    // A 2 MiB page at base vpn 0x200 (2 MiB vpn 1) and a 4 KiB page elsewhere.
    let big = huge(0x400, PageSize::M2);
    assert_eq!(h.lookup(Vpn(0x2ab), 0, READ), TlbLookup::Miss);
    assert_eq!(h.stats().l1_probes, 3); // a miss probes every size
    h.fill(Vpn(0x2ab), 0, READ, big);
    h.fill(Vpn(0x5), 0, READ, pte(5));
    // Separate arrays: the 4 KiB fill did not evict the 2 MiB entry from the 1-entry L1.
    assert_eq!(h.lookup(Vpn(0x3ff), 0, READ), TlbLookup::L1(big));
    assert_eq!(h.lookup(Vpn(0x200), 0, READ), TlbLookup::L1(big));
    assert_eq!(h.lookup(Vpn(0x5), 0, READ), TlbLookup::L1(pte(5)));
    assert_eq!(h.lookup(Vpn(0x400), 0, READ), TlbLookup::Miss);
    // 3 + 2 (4K miss, 2M hit) + 2 + 1 + 3.
    assert_eq!(h.stats().l1_probes, 11);
    assert_eq!(h.l1_entries(READ).len(), 2);
    // Invalidating any base page inside the huge page drops it.
    h.invalidate(Vpn(0x3f0), 0);
    assert_eq!(h.peek_l1(Vpn(0x200), 0, READ), None);
    assert_eq!(h.peek_l2(Vpn(0x200), 0), None);
    assert_eq!(h.peek_l1(Vpn(0x5), 0, READ), Some(pte(5)));
}

#[test]
fn huge_pages_shared_array_compete_for_slots() {
    let sizes = [PageSize::K4, PageSize::M2];
    let spec = TlbSpec::parse("l1=1x1,huge=shared").unwrap();
    let mut h = TlbHierarchy::new(&spec, &sizes, None).unwrap();
    let big = huge(0x400, PageSize::M2);
    h.fill(Vpn(0x2ab), 0, READ, big);
    // 2 MiB vpn 1 and 4 KiB vpn 1 do not alias in the shared array.
    assert_eq!(h.lookup(Vpn(0x1), 0, READ), TlbLookup::Miss);
    h.fill(Vpn(0x1), 0, READ, pte(1)); // evicts the 2 MiB entry: one slot
    assert_eq!(h.lookup(Vpn(0x2ab), 0, READ), TlbLookup::Miss);
    assert_eq!(h.lookup(Vpn(0x1), 0, READ), TlbLookup::L1(pte(1)));
    assert_eq!(h.stats().l1d_evictions, 1);
}

#[test]
fn unknown_page_sizes_are_splintered() {
    // Built for 4 KiB only; a 2 MiB PTE is cached as the 4 KiB piece that covers the access.
    let mut h = build("l1=4x4");
    h.fill(Vpn(0x234), 0, READ, huge(0x400, PageSize::M2));
    assert_eq!(
        h.lookup(Vpn(0x234), 0, READ),
        TlbLookup::L1(huge(0x434, PageSize::K4))
    );
    assert_eq!(h.lookup(Vpn(0x235), 0, READ), TlbLookup::Miss);
    // Built for 4 KiB and 2 MiB; a 1 GiB PTE becomes the covering 2 MiB piece.
    let spec = TlbSpec::parse("l1=4x4").unwrap();
    let mut h = TlbHierarchy::new(&spec, &[PageSize::M2, PageSize::K4], None).unwrap();
    assert_eq!(h.page_sizes(), [PageSize::K4, PageSize::M2]);
    h.fill(Vpn(0x4_0a33), 0, READ, huge(0x8_0000, PageSize::G1));
    assert_eq!(
        h.lookup(Vpn(0x4_0a00), 0, READ),
        TlbLookup::L1(huge(0x8_0a00, PageSize::M2))
    );
    assert_eq!(h.lookup(Vpn(0x4_0c00), 0, READ), TlbLookup::Miss);
}

#[test]
fn build_errors() {
    let spec = TlbSpec::parse("l1=4x4").unwrap();
    assert!(TlbHierarchy::new(&spec, &[], None).is_err());
    // A spec built by hand with a policy that cannot drive it is refused, not panicked on.
    let mut bad = TlbSpec::SKYLAKE;
    bad.repl = ptbench_tlb::ReplPolicy::TreePlru;
    let err = TlbHierarchy::new(&bad, &[PageSize::K4], None).unwrap_err();
    assert!(err.to_string().contains("l2=1536x12"), "{err}");
}

fn kind() -> impl Strategy<Value = AccessKind> {
    prop_oneof![Just(READ), Just(FETCH), Just(AccessKind::Write)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// After every access: inclusive keeps each L1 entry in L2; exclusive keeps L1 and L2 disjoint;
    /// every hit returns the PTE of its page; and the counters add up.
    #[test]
    fn inclusion_invariants(
        incl in prop_oneof![Just("incl"), Just("excl"), Just("non")],
        split in any::<bool>(),
        l1 in prop_oneof![Just("2x2"), Just("4x2"), Just("4x4"), Just("8x2")],
        l2 in prop_oneof![Just("4x4"), Just("8x2"), Just("8x8"), Just("16x4")],
        repl in prop_oneof![Just("lru"), Just("fifo"), Just("random"), Just("plru"), Just("bitplru")],
        stream in prop::collection::vec((0u64..24, kind()), 0..200),
    ) {
        let l1s = if split { format!("l1i={l1},l1d={l1}") } else { format!("l1={l1}") };
        let mut h = build(&format!("{l1s},l2={l2},l2incl={incl},repl={repl}"));
        for &(p, k) in &stream {
            access(&mut h, p, 0, k);
            let l2e = pages(h.l2_entries());
            for kind in [READ, FETCH] {
                for p1 in pages(h.l1_entries(kind)) {
                    match incl {
                        "incl" => prop_assert!(l2e.contains(&p1), "{p1} in L1 but not L2"),
                        "excl" => prop_assert!(!l2e.contains(&p1), "{p1} in L1 and L2"),
                        _ => {}
                    }
                }
            }
        }
        let s = *h.stats();
        let n = stream.len() as u64;
        prop_assert_eq!(s.l1i_hits + s.l1i_misses + s.l1d_hits + s.l1d_misses, n);
        prop_assert_eq!(s.l2_hits + s.l2_misses, s.l1i_misses + s.l1d_misses);
        prop_assert_eq!(s.tlb_misses, s.l2_misses);
    }
}
