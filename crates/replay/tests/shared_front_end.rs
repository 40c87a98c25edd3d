//! A shared front end changes no count: every design gives the same counters, TLB counters,
//! cycle and cache counters, digest and errors when it replays alone
//! (`SimOptions::no_shared_front_end`) as when it follows one front end with the designs that
//! see the same TLB hits and misses, for every TLB spec, cache hierarchy, OS setting,
//! page-crossing rule and wide-address rule, on random traces with processes, region
//! events and permission faults, and on the shipped real traces.

mod common;

use common::{op, options, os_configs, read, shipped_traces, DESIGNS, TLBS};
use proptest::prelude::*;
use ptbench_core::Access;
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::{TlbSpec, TlbStats};
use ptbench_replay::{
    replay_all, share_groups, HugePolicy, NextUses, Placement, Sim, SimOptions, Stats,
    WideAddresses,
};

/// Each design's counters (wall time zeroed) and TLB counters, or the error it stopped with.
type Outcome = Result<(Stats, Option<TlbStats>), String>;

/// Replays `trace` through every design of `designs` behind `tlb`, together (shared front ends
/// where they can be, unless `opts` says not): each design's outcome, and how many started
/// following a shared front end (an access above the lower half makes some replay again alone).
fn replay(
    designs: &[&str],
    tlb: &str,
    opts: &SimOptions,
    trace: &[Access],
    batch: usize,
) -> (Vec<Outcome>, usize) {
    let tlb = TlbSpec::parse(tlb).unwrap();
    let mut sims: Vec<Sim> = designs
        .iter()
        .map(|d| Sim::build_with_tlb(&DesignSpec::parse(d).unwrap(), &tlb, opts).unwrap())
        .collect();
    let addrs = trace.iter().filter(|a| !a.kind.is_event()).map(|a| a.addr);
    if let (Some(lo), Some(hi)) = (addrs.clone().min(), addrs.max()) {
        sims.iter_mut().for_each(|s| s.set_address_range(lo, hi));
    }
    for sim in &mut sims {
        if sim.needs_next_uses() {
            let mut pass = NextUses::new(sim.page_shift(), opts.page_crossing);
            pass.push(trace);
            sim.set_next_uses(pass.finish());
        }
    }
    let followers = share_groups(&sims)
        .iter()
        .filter(|g| g.len() >= 2)
        .map(Vec::len)
        .sum();
    let failed = replay_all(&mut sims, trace, batch);
    let outcomes = sims
        .iter()
        .zip(failed)
        .map(|(s, f)| match f {
            Some(e) => Err(e.to_string()),
            None => {
                let mut stats = s.stats();
                stats.busy_nanos = 0;
                Ok((stats, s.tlb_stats()))
            }
        })
        .collect();
    (outcomes, followers)
}

/// Replays with and without shared front ends and asserts the same outcome for every design;
/// returns how many designs followed a shared front end.
fn same(designs: &[&str], tlb: &str, opts: &SimOptions, trace: &[Access], batch: usize) -> usize {
    let (shared, followers) = replay(designs, tlb, opts, trace, batch);
    let alone = SimOptions {
        no_shared_front_end: true,
        ..opts.clone()
    };
    let (own, none) = replay(designs, tlb, &alone, trace, batch);
    assert_eq!(none, 0, "--no-shared-front-end shares nothing");
    for ((d, a), b) in designs.iter().zip(&shared).zip(&own) {
        assert_eq!(a, b, "{d} behind {tlb} under {} ({:?})", opts.os, opts.wide);
    }
    followers
}

/// Cache hierarchies: none; Skylake's; tiny LRU L1s that table reads and data evict from each
/// other (the front end's filter of repeated hits is exact only under LRU); another policy (no
/// filter); page-table reads that bypass the caches, or enter at the L2 (walks then leave the
/// L1s alone, and the filter keeps their sets).
const CACHES: &[&str] = &[
    "none",
    "none",
    "skylake",
    "l1i=4x2,l1d=4x2,l2=16x4,llc=none,line=32",
    "l1i=4x2,l1d=4x2,l2=16x4,llc=none,repl=fifo",
    "l1d=8x2,l2=none,llc=32x4,ptes=bypass,mem_lat=7",
    "l1i=4x2,l1d=4x2,l2=16x4,llc=none,walker=l2",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn a_shared_front_end_changes_no_count(
        ops in prop::collection::vec(op(), 1..60),
        first in any::<bool>(),
        count_wide in any::<bool>(),
        huge in prop::sample::select(vec![
            HugePolicy::Off,
            HugePolicy::Off,
            HugePolicy::Thp,
            HugePolicy::Always,
            HugePolicy::Madvise,
            HugePolicy::Defer,
        ]),
        upper in any::<bool>(),
        cache in prop::sample::select(CACHES),
        placement in prop::sample::select(vec![Placement::Os, Placement::Identity]),
        batch in 1usize..200,
    ) {
        // Without `upper`, every access lies in the lower 47 bits, where designs of 47 bits or
        // more share a front end to the end; with it, such a front end splits. An inverted table
        // of 16 frames runs out of memory on some traces: the front end (of the fewest frames)
        // splits, and the designs with more frames go on alone.
        let trace: Vec<Access> = ops
            .into_iter()
            .flatten()
            .filter(|a| upper || a.kind.is_event() || a.addr < 1 << 47)
            .collect();
        // Transparent huge pages (every THP policy): the designs that store 2 MiB pages (huge
        // mappings free and replace radix tables, whose page-walk-cache entries must go).
        let thp = huge != HugePolicy::Off;
        let designs: Vec<&str> = DESIGNS
            .iter()
            .chain(&["x86-64-5l", "flat:va_bits=48", "inverted:frames=16"])
            .copied()
            .filter(|d| !thp || !d.starts_with("flat") && !d.starts_with("inverted"))
            .collect();
        for os in os_configs() {
            let mut opts = options(first, os);
            if !count_wide {
                opts.wide = WideAddresses::Error;
            }
            opts.huge = huge;
            opts.cache = cache.parse().unwrap();
            opts.placement = placement;
            for tlb in TLBS {
                let followers = same(&designs, tlb, &opts, &trace, batch);
                // Every TLB spec with an L1 gives the designs of one geometry one front end.
                if tlb.contains("l1") || *tlb == "tiny" || *tlb == "skylake" {
                    prop_assert!(followers >= 2, "{tlb}: {followers} followers");
                }
            }
        }
    }
}

#[test]
fn a_shared_front_end_changes_no_count_on_the_shipped_traces() {
    let traces = shipped_traces();
    let designs = [
        "x86-64",
        "x86-64-5l",
        "flat:va_bits=48",
        "hashed",
        "hashed:collision=chain",
        "ecpt",
        "inverted",
        "radix:levels=3,pobits=14",
    ];
    for path in &traces {
        let trace = read(path);
        for (tlb, cache) in [
            ("skylake", "none"),
            ("l1=16x4,pwc=8x2", "none"),
            ("skylake", "skylake"),
        ] {
            let opts = SimOptions {
                cache: cache.parse().unwrap(),
                ..SimOptions::default()
            };
            let followers = same(&designs, tlb, &opts, &trace, 1 << 16);
            assert!(followers >= 4, "{}: {followers} followers", path.display());
        }
    }
}

/// A front end runs out of frames with its smallest member (an inverted table of 16 frames):
/// that member stops there as it would alone, the others replay the trace again alone, to the
/// end, and every count is the same as without sharing.
#[test]
fn a_front_end_out_of_frames_splits() {
    use ptbench_core::AccessKind;
    let trace: Vec<Access> = (0..40u64)
        .map(|p| Access::new(AccessKind::Write, 0x10_0000 + p * 4096, 8))
        .collect();
    let designs = ["x86-64", "hashed", "inverted:frames=16"];
    let followers = same(&designs, "skylake", &SimOptions::default(), &trace, 7);
    assert_eq!(followers, 3);
    let (outcomes, _) = replay(&designs, "skylake", &SimOptions::default(), &trace, 7);
    assert_eq!(outcomes[0].as_ref().unwrap().0.page_faults, 40);
    assert_eq!(outcomes[1].as_ref().unwrap().0.page_faults, 40);
    let err = outcomes[2].as_ref().unwrap_err();
    assert!(
        err.contains("access #16") && err.contains("16 data frames"),
        "{err}"
    );
}

/// Page runs are found only for simulations that count inside them in bulk: with caches every
/// access is looked at (the front end logs it, or the design sends it through its caches), so a
/// run of designs that all have caches finds none; one design without caches needs them.
#[test]
fn runs_are_found_only_for_a_simulation_that_counts_in_bulk() {
    let build = |design: &str, cache: &str| {
        let opts = SimOptions {
            cache: ptbench_replay::CacheSpec::parse(cache).unwrap(),
            ..SimOptions::default()
        };
        let tlb = TlbSpec::parse("skylake").unwrap();
        Sim::build_with_tlb(&DesignSpec::parse(design).unwrap(), &tlb, &opts).unwrap()
    };
    let designs = ["x86-64", "x86-64-5l", "radix:levels=3,pobits=14", "hashed"];
    for (caches, want) in [
        (["none"; 4], true),
        (["skylake"; 4], false),
        (["skylake", "skylake", "skylake", "none"], true),
        (["skylake", "skylake", "none", "skylake"], true),
    ] {
        let mut sims: Vec<Sim> = designs
            .iter()
            .zip(caches)
            .map(|(d, c)| build(d, c))
            .collect();
        let alone: Vec<bool> = sims.iter().map(Sim::uses_runs).collect();
        assert_eq!(
            alone,
            caches.map(|c| c == "none").to_vec(),
            "{caches:?}: alone"
        );
        let fan = ptbench_replay::Fanout::new(&mut sims);
        assert_eq!(fan.uses_runs(&sims), want, "{caches:?}");
    }
}
