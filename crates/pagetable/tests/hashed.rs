//! Property tests of the hashed design: random map / unmap / walk sequences with 4 KiB, 2 MiB and
//! 1 GiB pages give the reference's answers under open addressing and chaining, from the defaults
//! down to tables so small that every insertion collides and resizes come every few mappings; and
//! the footprint stays consistent with simulated memory throughout.

mod common;

use common::Op;
use proptest::prelude::*;
use ptbench_core::{PageSize, PageTable, Perms, Pfn, PhysMem, Pte, Vpn, WalkCost};
use ptbench_pagetable::hashed::Collision;
use ptbench_pagetable::{Hashed, HashedConfig};

fn cfg(entries: u64, bucket: u64, collision: Collision, load: f64, growth: u64) -> HashedConfig {
    HashedConfig {
        entries,
        bucket,
        collision,
        load,
        growth,
        ..HashedConfig::DEFAULT
    }
}

/// The configurations under test: defaults, then tiny tables that force collisions and resizes.
fn configs() -> Vec<(&'static str, HashedConfig)> {
    vec![
        ("default open", HashedConfig::DEFAULT),
        ("default chain", cfg(4096, 4, Collision::Chain, 0.6, 2)),
        ("open 4x1 full", cfg(4, 1, Collision::Open, 1.0, 2)),
        ("open 2x2 x4", cfg(2, 2, Collision::Open, 0.6, 4)),
        ("open 8x8 0.9", cfg(8, 8, Collision::Open, 0.9, 2)),
        ("chain 4x2 full", cfg(4, 2, Collision::Chain, 1.0, 2)),
        ("chain 4x4 full", cfg(4, 4, Collision::Chain, 1.0, 8)),
        ("chain 16x8 0.5", cfg(16, 8, Collision::Chain, 0.5, 2)),
    ]
}

fn build(c: HashedConfig) -> (Hashed, PhysMem) {
    let mut mem = PhysMem::new(12, 52).unwrap();
    let pt = Hashed::new(c, &mut mem).unwrap();
    (pt, mem)
}

fn agrees(c: HashedConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let (pt, mem) = build(c);
    common::agrees_with_reference(pt, mem, ops)
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(common::op(1 << 20), 1..160)
}

/// Pages packed into a few buckets' worth of hash space, so that tiny tables see long clusters
/// and chains, and unmaps shift entries back.
fn dense_ops() -> impl Strategy<Value = Vec<Op>> {
    let vpn = 0u64..48;
    let one = prop_oneof![
        3 => (vpn.clone(), 0u64..64).prop_map(|(vpn, pfn)| Op::Map { vpn, pfn: 1000 + pfn, size: 12, write: true }),
        2 => vpn.clone().prop_map(|vpn| Op::Unmap { vpn }),
        3 => vpn.prop_map(|vpn| Op::Walk { vpn }),
    ];
    prop::collection::vec(one, 1..200)
}

/// Runs `ops` (errors ignored) and checks after each one that the footprint matches simulated
/// memory and the load limit, and that every walk's refs equal its probes; then unmaps every
/// page and checks that the table is empty and walks read nothing.
fn consistent(c: HashedConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let (mut pt, mut mem) = build(c);
    let mut mapped: Vec<u64> = Vec::new();
    for op in ops {
        match *op {
            Op::Map {
                vpn,
                pfn,
                size,
                write,
            } => {
                let pte = Pte {
                    pfn: Pfn(pfn),
                    perms: if write { Perms::RW } else { Perms::R },
                    size: PageSize::from_shift(size).unwrap(),
                };
                if pt.map(&mut mem, Vpn(vpn), pte).is_ok() {
                    mapped.push(vpn);
                }
            }
            Op::Unmap { vpn } => {
                pt.unmap(&mut mem, Vpn(vpn)).unwrap();
            }
            Op::Walk { vpn } => {
                let mut cost = WalkCost::default();
                pt.walk(&mem, Vpn(vpn), &mut cost);
                prop_assert_eq!(cost.refs, cost.probes);
            }
        }
        let f = pt.footprint();
        prop_assert_eq!(f.table_pages, mem.table_frames());
        prop_assert_eq!(f.table_bytes, f.table_pages << 12);
        prop_assert!(f.load_factor() <= c.load, "{:?}", f);
        prop_assert!(f.per_level.is_empty());
    }
    for vpn in mapped {
        pt.unmap(&mut mem, Vpn(vpn)).unwrap();
        let mut cost = WalkCost::default();
        prop_assert_eq!(pt.walk(&mem, Vpn(vpn), &mut cost), None);
    }
    prop_assert_eq!(pt.footprint().entries, 0);
    let mut cost = WalkCost::default();
    prop_assert_eq!(pt.walk(&mem, Vpn(0), &mut cost), None);
    prop_assert_eq!(cost.refs, 0, "every size is empty, so nothing is read");
    prop_assert_eq!(pt.footprint().table_pages, mem.table_frames());
    Ok(())
}

macro_rules! against_reference {
    ($($name:ident => $index:expr),* $(,)?) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            $(
                #[test]
                fn $name(ops in ops(), dense in dense_ops()) {
                    let (label, c) = configs()[$index];
                    prop_assert!(c.validate().is_ok(), "{}", label);
                    agrees(c, &ops)?;
                    agrees(c, &dense)?;
                }
            )*
        }
    };
}

against_reference! {
    default_open_agrees_with_the_reference => 0,
    default_chain_agrees_with_the_reference => 1,
    open_one_slot_buckets_full_load_agrees => 2,
    open_two_slot_buckets_growth_four_agrees => 3,
    open_eight_slot_buckets_agrees => 4,
    chain_two_slot_buckets_full_load_agrees => 5,
    chain_one_bucket_growth_eight_agrees => 6,
    chain_eight_slot_buckets_agrees => 7,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The footprint follows simulated memory and the load limit in every configuration.
    #[test]
    fn footprint_matches_memory_and_load(ops in ops(), dense in dense_ops()) {
        for (_, c) in configs() {
            consistent(c, &ops)?;
            consistent(c, &dense)?;
        }
    }
}
