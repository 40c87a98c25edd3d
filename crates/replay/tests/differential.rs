//! Every design, under every huge-page policy, translates random access streams to the same frames
//! with the same faults as the reference: the digest of (page, frame, faulted) and the counts agree.

use proptest::prelude::*;
use ptbench_core::{Access, AccessKind, PageSize};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::TlbSpec;
use ptbench_replay::{HugePolicy, PageCrossing, Sim, SimOptions};

/// TLB configurations every design runs under: none, one entry, a tiny fully associative one,
/// set-associative with each replacement policy, split L1 with inclusive and exclusive L2, page-walk
/// caches split and unified, and the named presets.
const TLBS: &[&str] = &[
    "none",
    "l1=1x1",
    "tiny",
    "l1=16x4,repl=fifo",
    "l1=16x4,repl=random,seed=7",
    "l1=16x4,repl=plru",
    "l1=8x8,repl=bitplru",
    "l1i=8x2,l1d=8x2,l2=32x4,l2incl=incl",
    "l1i=8x2,l1d=8x2,l2=32x4,l2incl=excl,huge=shared",
    "l1=4x4,pwc=8x2",
    "l1=4x4,upwc=8x4",
    "skylake",
    "champsim",
];

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
        HugePolicy::Always,
        HugePolicy::Defer,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_design_translates_like_the_reference(
        trace in prop::collection::vec(access(), 1..400),
        huge in policy(),
        first in any::<bool>(),
    ) {
        let opts = SimOptions {
            page_crossing: if first { PageCrossing::First } else { PageCrossing::Split },
            huge,
            ..SimOptions::default()
        };
        let lo = trace.iter().map(|a| a.addr).min().unwrap();
        let hi = trace.iter().map(|a| a.last_byte().unwrap()).max().unwrap();
        let run = |name: &str, tlb: &str| {
            let tlb = TlbSpec::parse(tlb).unwrap();
            let spec = DesignSpec::parse(name).unwrap();
            let mut sim = Sim::build_with_tlb(&spec, &tlb, &opts).unwrap();
            sim.set_address_range(lo, hi);
            // Two batches, so state carries across batch boundaries.
            let (a, b) = trace.split_at(trace.len() / 2);
            sim.replay(a, 0).unwrap();
            sim.replay(b, a.len() as u64).unwrap();
            (sim.stats(), sim.tlb_stats())
        };
        let (want, _) = run("reference", "none");
        prop_assert!(want.page_faults > 0);
        for name in DESIGNS {
            for tlb in TLBS {
                let (got, tlb_stats) = run(name, tlb);
                prop_assert_eq!(got.digest, want.digest, "{} {} under {:?}", name, tlb, huge);
                prop_assert_eq!(got.page_faults, want.page_faults, "{} {}", name, tlb);
                prop_assert_eq!(got.translations, want.translations, "{} {}", name, tlb);
                // Walks: one per TLB miss, plus the retry of every fault.
                let misses = tlb_stats.map_or(want.translations, |t| t.tlb_misses);
                prop_assert_eq!(got.walks, misses + want.page_faults, "{} {}", name, tlb);
            }
        }
    }
}
