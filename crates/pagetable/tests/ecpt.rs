//! Property tests of the elastic cuckoo page table: random map / unmap / walk sequences against the
//! BTreeMap reference in several geometries (tiny ways that force collisions, kicks, elastic
//! resizes and blocking rehashes), and its cost and footprint invariants.

mod common;

use common::Op;
use proptest::prelude::*;
use ptbench_core::{PageSize, PageTable, Perms, Pfn, PhysMem, Pte, Vpn, WalkCost};
use ptbench_pagetable::{Ecpt, EcptConfig};

/// The geometries under test: the default, and small ones that resize and collide all the time.
fn configs() -> Vec<EcptConfig> {
    let d = EcptConfig::DEFAULT;
    vec![
        d,
        // One slot per way, no kicks: every full candidate set forces a resize.
        EcptConfig {
            ways: 2,
            entries: 1,
            cluster: 1,
            load: 1.0,
            max_kicks: 0,
            ..d
        },
        EcptConfig {
            ways: 3,
            entries: 2,
            cluster: 2,
            load: 0.5,
            max_kicks: 4,
            ..d
        },
        EcptConfig {
            ways: 4,
            entries: 4,
            cluster: 8,
            growth: 4,
            load: 0.9,
            max_kicks: 1,
            ..d
        },
        EcptConfig {
            ways: 8,
            entries: 1,
            cluster: 16,
            load: 0.3,
            max_kicks: 32,
            ..d
        },
        EcptConfig {
            ways: 2,
            entries: 2,
            cluster: 4,
            load: 1.0,
            max_kicks: 2,
            ..d
        },
    ]
}

fn agrees(cfg: EcptConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut mem = PhysMem::new(12, 52).unwrap();
    let pt = Ecpt::new(cfg, &mut mem).unwrap();
    common::agrees_with_reference(pt, mem, ops)
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(common::op(1 << 20), 1..120)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn default_ecpt_agrees_with_the_reference(ops in ops()) {
        agrees(configs()[0], &ops)?;
    }

    #[test]
    fn one_slot_ways_without_kicks_agree_with_the_reference(ops in ops()) {
        agrees(configs()[1], &ops)?;
    }

    #[test]
    fn small_three_way_clusters_of_two_agree_with_the_reference(ops in ops()) {
        agrees(configs()[2], &ops)?;
    }

    #[test]
    fn four_ways_growing_fourfold_agree_with_the_reference(ops in ops()) {
        agrees(configs()[3], &ops)?;
    }

    #[test]
    fn eight_ways_of_sixteen_page_clusters_agree_with_the_reference(ops in ops()) {
        agrees(configs()[4], &ops)?;
    }

    #[test]
    fn two_ways_two_kicks_agree_with_the_reference(ops in ops()) {
        agrees(configs()[5], &ops)?;
    }

    /// After every operation: the footprint's frames are the frames the design holds in memory,
    /// entries fit the capacity, moves add up; every walk reads one slot per way of every enabled
    /// ECPT (two for a way being migrated), with refs == probes.
    #[test]
    fn costs_and_footprint_are_consistent(
        which in 0usize..6,
        ops in prop::collection::vec(common::op(1 << 20), 1..200),
    ) {
        let cfg = configs()[which];
        let mut mem = PhysMem::new(12, 52).unwrap();
        let mut pt = Ecpt::new(cfg, &mut mem).unwrap();
        let ways = u32::from(cfg.ways);
        for op in &ops {
            match *op {
                Op::Map { vpn, pfn, size, write } => {
                    let pte = Pte {
                        pfn: Pfn(pfn),
                        perms: if write { Perms::RW } else { Perms::R },
                        size: PageSize::from_shift(size).unwrap(),
                    };
                    let _ = pt.map(&mut mem, Vpn(vpn), pte);
                }
                Op::Unmap { vpn } => {
                    pt.unmap(&mut mem, Vpn(vpn)).unwrap();
                }
                Op::Walk { vpn } => {
                    let mut cost = WalkCost::default();
                    pt.walk(&mem, Vpn(vpn), &mut cost);
                    let enabled = pt.enabled_tables() as u32;
                    prop_assert_eq!(cost.refs, cost.probes);
                    if vpn >> 36 != 0 {
                        prop_assert_eq!(cost.refs, 0);
                    } else {
                        prop_assert!(cost.refs >= ways * enabled, "{:?}", cost);
                        prop_assert!(cost.refs <= 2 * ways * enabled, "{:?}", cost);
                        let migrating = pt.page_sizes().iter().any(|s| pt.resizing(*s));
                        if !migrating {
                            prop_assert_eq!(cost.refs, ways * enabled);
                        }
                    }
                }
            }
            let f = pt.footprint();
            prop_assert_eq!(f.table_pages, mem.table_frames());
            prop_assert_eq!(f.table_bytes, f.table_pages << 12);
            prop_assert!(f.entries <= f.capacity);
            let st = pt.stats();
            prop_assert_eq!(f.moved_entries, st.migrated + st.rehashed + st.kicks);
            prop_assert_eq!(f.collisions, st.collisions);
            prop_assert_eq!(f.resizes, st.resizes);
        }
    }

    /// Many base pages through the tiniest geometries: every one still translates after all the
    /// resizes, and unmapping them all leaves nothing behind.
    #[test]
    fn many_base_pages_survive_every_resize(
        which in 1usize..6,
        raw in prop::collection::vec(0u64..(1 << 22), 1..400),
    ) {
        let cfg = configs()[which];
        let mut mem = PhysMem::new(12, 52).unwrap();
        let mut pt = Ecpt::new(cfg, &mut mem).unwrap();
        let mut pages: Vec<u64> = raw.iter().map(|r| r * 3 + (r >> 20)).collect();
        pages.sort_unstable();
        pages.dedup();
        let pte = |i: usize| Pte { pfn: Pfn(i as u64), perms: Perms::RW, size: PageSize::K4 };
        for (i, v) in pages.iter().enumerate() {
            pt.map(&mut mem, Vpn(*v), pte(i)).unwrap();
        }
        prop_assert_eq!(pt.footprint().entries, pages.len() as u64);
        for (i, v) in pages.iter().enumerate() {
            prop_assert_eq!(pt.walk(&mem, Vpn(*v), &mut WalkCost::default()), Some(pte(i)));
        }
        for (i, v) in pages.iter().enumerate().rev() {
            prop_assert_eq!(pt.unmap(&mut mem, Vpn(*v)).unwrap(), Some(pte(i)));
        }
        prop_assert_eq!(pt.footprint().entries, 0);
        prop_assert_eq!(pt.occupied_slots(PageSize::K4), 0);
        prop_assert_eq!(pt.footprint().table_pages, mem.table_frames());
    }
}
