//! Property tests: the radix closed form, and radix against the BTreeMap reference.

mod common;

use proptest::prelude::*;
use ptbench_core::{EntryWidth, PageSize, PageTable, Perms, Pfn, PhysMem, Pte, Vpn, WalkCost};
use ptbench_pagetable::{Radix, RadixConfig};
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Random map / unmap / walk sequences with 4 KiB, 2 MiB and 1 GiB pages give the same result,
    /// operation by operation, in x86-64 and in the reference.
    #[test]
    fn radix_agrees_with_the_reference(ops in prop::collection::vec(common::op(1 << 20), 1..120)) {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let radix = Radix::new(RadixConfig::X86_64, &mut mem).unwrap();
        common::agrees_with_reference(radix, mem, &ops)?;
    }
}
