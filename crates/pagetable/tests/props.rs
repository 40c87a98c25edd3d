//! Property tests: the radix closed form, and radix against the BTreeMap reference.

use proptest::prelude::*;
use ptbench_core::{
    EntryWidth, MapError, PageSize, PageTable, Perms, Pfn, PhysMem, Pte, Vpn, WalkCost,
};
use ptbench_pagetable::{Radix, RadixConfig, Reference};
use std::collections::HashSet;

fn geometry() -> impl Strategy<Value = RadixConfig> {
    (1u8..=6, 4u8..=18, prop::bool::ANY)
        .prop_map(|(levels, pobits, wide)| RadixConfig {
            levels,
            pobits,
            entry: if wide {
                EntryWidth::U64
            } else {
                EntryWidth::U32
            },
        })
        .prop_filter("valid geometry", |c| c.validate().is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// An n-level table over any set of pages has exactly
    /// 1 + sum_{k=1}^{LEVELS-1} |{vpn >> k*index_bits}| table pages, and every page translates.
    #[test]
    fn radix_table_count_is_the_closed_form(
        cfg in geometry(),
        raw in prop::collection::vec(any::<u64>(), 1..200),
        cluster in 0u32..40,
    ) {
        let mut mem = PhysMem::new(cfg.pobits, cfg.phys_bits()).unwrap();
        let mut pt = Radix::new(cfg, &mut mem).unwrap();
        let page_bits = cfg.va_bits() - u32::from(cfg.pobits);
        // Cluster the pages into a window so that tables are shared.
        let window = page_bits.min(cluster + 1);
        let in_space = |r: u64| if page_bits >= 64 { r } else { r & ((1u64 << page_bits) - 1) };
        let mask = if window >= 64 { u64::MAX } else { (1u64 << window) - 1 };
        let high = in_space(raw[0]) & !mask;
        let vpns: Vec<u64> = raw.iter().map(|r| high | (in_space(*r) & mask)).collect();
        let size = PageSize::from_shift(cfg.pobits).unwrap();
        for (i, v) in vpns.iter().enumerate() {
            let pte = Pte { pfn: Pfn(i as u64), perms: Perms::RW, size };
            pt.map(&mut mem, Vpn(*v), pte).unwrap();
        }
        let b = u32::from(cfg.index_bits());
        let mut expected = 1u64;
        for k in 1..u32::from(cfg.levels) {
            let distinct: HashSet<u64> = vpns.iter().map(|v| v >> (k * b)).collect();
            expected += distinct.len() as u64;
        }
        prop_assert_eq!(pt.footprint().table_pages, expected);
        prop_assert_eq!(mem.table_frames(), expected);
        for v in &vpns {
            let mut cost = WalkCost::default();
            prop_assert!(pt.walk(&mem, Vpn(*v), &mut cost).is_some());
            prop_assert_eq!(cost.refs, u32::from(cfg.levels));
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Map {
        vpn: u64,
        pfn: u64,
        size: u8,
        write: bool,
    },
    Unmap {
        vpn: u64,
    },
    Walk {
        vpn: u64,
    },
}

/// Pages drawn from a few 1 GiB regions near each other and near the top of the 48-bit space, so
/// that sizes overlap and collide.
fn vpn() -> impl Strategy<Value = u64> {
    (
        prop::sample::select(vec![0u64, 1, 2, 0x1234, (1 << 18) - 1]),
        0u64..4,
        0u64..512,
        0u64..8,
    )
        .prop_map(|(gig, two_m, page, jitter)| {
            let in_gig = two_m * 512 + if jitter == 0 { 0 } else { page };
            (gig << 18) | in_gig
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (vpn(), 0u64..(1 << 20), prop::sample::select(vec![12u8, 12, 12, 21, 30]), any::<bool>())
            .prop_map(|(vpn, pfn, size, write)| {
                // Align most huge mappings so they are accepted; leave some misaligned.
                let span = (1u64 << (size - 12)) - 1;
                let (vpn, pfn) = if pfn % 7 == 0 { (vpn, pfn) } else { (vpn & !span, pfn & !span) };
                Op::Map { vpn, pfn, size, write }
            }),
        2 => vpn().prop_map(|vpn| Op::Unmap { vpn }),
        4 => vpn().prop_map(|vpn| Op::Walk { vpn }),
        1 => Just(Op::Walk { vpn: 1 << 36 }),
        1 => Just(Op::Map { vpn: 1 << 36, pfn: 0, size: 12, write: false }),
    ]
}

fn kind(r: &Result<(), MapError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(MapError::AddressTooWide { .. }) => "too-wide".into(),
        Err(MapError::Misaligned { .. }) => "misaligned".into(),
        Err(MapError::Overlap { .. }) => "overlap".into(),
        Err(e) => format!("other: {e}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Random map / unmap / walk sequences with 4 KiB, 2 MiB and 1 GiB pages give the same result,
    /// operation by operation, in x86-64 and in the reference.
    #[test]
    fn radix_agrees_with_the_reference(ops in prop::collection::vec(op(), 1..120)) {
        let mut rmem = PhysMem::new(12, 52).unwrap();
        let mut radix = Radix::new(RadixConfig::X86_64, &mut rmem).unwrap();
        let mut fmem = PhysMem::new(12, 52).unwrap();
        let mut reference = Reference::with_default_sizes(12, 48).unwrap();
        for (i, op) in ops.iter().enumerate() {
            match *op {
                Op::Map { vpn, pfn, size, write } => {
                    let pte = Pte {
                        pfn: Pfn(pfn),
                        perms: if write { Perms::RW } else { Perms::R },
                        size: PageSize::from_shift(size).unwrap(),
                    };
                    let a = radix.map(&mut rmem, Vpn(vpn), pte);
                    let b = reference.map(&mut fmem, Vpn(vpn), pte);
                    prop_assert_eq!(kind(&a), kind(&b), "op {} {:?}", i, op);
                }
                Op::Unmap { vpn } => {
                    let a = radix.unmap(&mut rmem, Vpn(vpn)).unwrap();
                    let b = reference.unmap(&mut fmem, Vpn(vpn)).unwrap();
                    prop_assert_eq!(a, b, "op {} {:?}", i, op);
                }
                Op::Walk { vpn } => {
                    let mut cost = WalkCost::default();
                    let a = radix.walk(&rmem, Vpn(vpn), &mut cost);
                    let b = reference.walk(&fmem, Vpn(vpn), &mut WalkCost::default());
                    prop_assert_eq!(a, b, "op {} {:?}", i, op);
                    prop_assert!((1..=4).contains(&cost.refs) || vpn >> 36 != 0);
                }
            }
            prop_assert_eq!(radix.footprint().entries, reference.footprint().entries);
        }
    }
}
