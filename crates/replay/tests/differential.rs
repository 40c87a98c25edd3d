//! Every design, under every huge-page policy, translates random access streams to the same frames
//! with the same faults as the reference: the digest of (page, frame, faulted) and the counts agree.

use proptest::prelude::*;
use ptbench_core::{Access, AccessKind, PageSize};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::{HugePolicy, PageCrossing, Sim, SimOptions};

const DESIGNS: &[&str] = &[
    "x86-64",
    "x86-64-5l",
    "radix:levels=3,pobits=12",
    "flat:va_bits=40",
    "hashed",
    "hashed:collision=chain,entries=8,bucket=2",
    "hashed:entries=4,bucket=1,load=1",
    "inverted",
    "inverted:hat=2",
    "ecpt",
    "ecpt:entries=1,ways=2,cluster=1,load=1",
    "ecpt:entries=2,ways=4,cluster=4,max_kicks=0",
];

fn access() -> impl Strategy<Value = Access> {
    (
        prop::sample::select(vec![
            0x40_0000u64,
            0x60_0000,
            0x7f_0000_0000,
            0x55_5555_0000,
        ]),
        0u64..(8 << 20),
        prop::sample::select(vec![1u32, 4, 8, 16, 64]),
        0u8..3,
    )
        .prop_map(|(base, off, size, kind)| {
            let kind = [AccessKind::Read, AccessKind::Write, AccessKind::Fetch][kind as usize];
            Access::new(kind, base + off, size)
        })
}

fn policy() -> impl Strategy<Value = HugePolicy> {
    prop::sample::select(vec![
        HugePolicy::Off,
        HugePolicy::Fixed(PageSize::M2),
        HugePolicy::Fixed(PageSize::G1),
        HugePolicy::Thp,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_design_translates_like_the_reference(
        trace in prop::collection::vec(access(), 1..400),
        huge in policy(),
        first in any::<bool>(),
    ) {
        let opts = SimOptions {
            page_crossing: if first { PageCrossing::First } else { PageCrossing::Split },
            huge,
        };
        let lo = trace.iter().map(|a| a.addr).min().unwrap();
        let hi = trace.iter().map(|a| a.last_byte().unwrap()).max().unwrap();
        let run = |name: &str| {
            let mut sim = Sim::build(&DesignSpec::parse(name).unwrap(), &opts).unwrap();
            sim.set_address_range(lo, hi);
            // Two batches, so state carries across batch boundaries.
            let (a, b) = trace.split_at(trace.len() / 2);
            sim.replay(a, 0).unwrap();
            sim.replay(b, a.len() as u64).unwrap();
            sim.stats()
        };
        let want = run("reference");
        prop_assert!(want.page_faults > 0);
        for name in DESIGNS {
            let got = run(name);
            prop_assert_eq!(got.digest, want.digest, "{} under {:?}", name, huge);
            prop_assert_eq!(got.page_faults, want.page_faults, "{}", name);
            prop_assert_eq!(got.translations, want.translations, "{}", name);
            prop_assert_eq!(got.walks, want.translations + want.page_faults, "{}", name);
        }
    }
}
