//! The replay loop's fast path (a repeated translation only counted) changes no count: every
//! design, TLB configuration and OS setting gives the same counters, TLB counters and digest with
//! and without it (`SimOptions::no_fast_path`), on random traces with locality, processes, region
//! events, permission faults and wide addresses, and on the shipped real traces.
//!
//! The cache model only observes: with a cache hierarchy every counter but the cycle counters is
//! the same as without, and the fast path gives the same cycle counters as the general path.

use proptest::prelude::*;
use ptbench_core::{Access, AccessKind};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::{TlbSpec, TlbStats};
use ptbench_replay::{
    NextUses, OsConfig, PageCrossing, Policy, Sim, SimOptions, Stats, WideAddresses,
};
use ptbench_trace::TraceReader;
use std::path::Path;

const DESIGNS: &[&str] = &[
    "x86-64",
    "radix:levels=3,pobits=12",
    "flat:va_bits=40",
    "hashed:collision=chain,entries=8,bucket=2",
    "inverted",
    "ecpt:entries=2,ways=4,cluster=4,max_kicks=0",
    "reference",
];

const TLBS: &[&str] = &[
    "none",
    "l1=1x1",
    "tiny",
    "l1=16x4,repl=plru",
    "l1=8x8,repl=bitplru",
    "l1=4x4,repl=fifo,asid=on",
    "l1i=8x2,l1d=8x2,l2=32x4,l2incl=incl",
    "l1i=8x2,l1d=8x2,l2=32x4,l2incl=excl",
    "l1=4x4,pwc=8x2",
    "pwc=8x2",
    "skylake",
];

/// The counters of one replay (wall time zeroed), its TLB counters, or the error it stopped with.
type Outcome = Result<(Stats, Option<TlbStats>), String>;

fn replay(design: &str, tlb: &str, opts: &SimOptions, trace: &[Access], batch: usize) -> Outcome {
    let spec = DesignSpec::parse(design).unwrap();
    let mut sim = Sim::build_with_tlb(&spec, &TlbSpec::parse(tlb).unwrap(), opts).unwrap();
    if sim.needs_next_uses() {
        let mut pass = NextUses::new(sim.page_shift(), opts.page_crossing);
        pass.push(trace);
        sim.set_next_uses(pass.finish());
    }
    for (i, b) in trace.chunks(batch).enumerate() {
        sim.replay(b, (i * batch) as u64)
            .map_err(|e| e.to_string())?;
    }
    let mut stats = sim.stats();
    stats.busy_nanos = 0;
    Ok((stats, sim.tlb_stats()))
}

/// Replays with and without the fast path and asserts the same outcome.
fn same(design: &str, tlb: &str, opts: &SimOptions, trace: &[Access], batch: usize) -> Outcome {
    let fast = replay(design, tlb, opts, trace, batch);
    let slow = replay(
        design,
        tlb,
        &SimOptions {
            no_fast_path: true,
            ..opts.clone()
        },
        trace,
        batch,
    );
    assert_eq!(fast, slow, "{design} behind {tlb} under {}", opts.os);
    fast
}

/// Accesses in bursts on a few pages (so translations repeat), of every kind and size, some
/// crossing pages or too wide for 40 bits; context switches among three address spaces, forks,
/// mmap, mprotect (read-only: later writes fault) and munmap.
fn op() -> impl Strategy<Value = Vec<Access>> {
    prop_oneof![
        8 => (0u64..4, 0u64..4096, prop::sample::select(vec![1u32, 4, 8, 64, 4096]), 0u8..3, 1usize..40)
            .prop_map(|(page, off, size, kind, n)| {
                let kind = [AccessKind::Read, AccessKind::Write, AccessKind::Fetch][kind as usize];
                let addr = 0x7f_0000_0000 + page * 4096 + off;
                (0..n).map(|i| Access::new(kind, addr + (i as u64 * 8) % 4096, size)).collect()
            }),
        1 => (0u16..3).prop_map(|asid| vec![Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(asid)]),
        1 => (0u64..4, 1u32..4, 0u8..8).prop_map(|(page, pages, flags)| {
            let mut e = Access::new(AccessKind::Mprotect, 0x7f_0000_0000 + page * 4096, pages);
            e.flags = flags & 7;
            vec![e]
        }),
        1 => (0u64..4, 1u32..4).prop_map(|(page, pages)| {
            let mut e = Access::new(AccessKind::Mmap, 0x7f_0000_0000 + page * 4096, pages);
            e.flags = 3;
            vec![e]
        }),
        1 => (0u64..4).prop_map(|page| {
            vec![Access::new(AccessKind::Munmap, 0x7f_0000_0000 + page * 4096, 1)]
        }),
        1 => (1u16..3).prop_map(|child| vec![Access::new(AccessKind::Fork, u64::from(child), 0)]),
        1 => Just(vec![Access::new(AccessKind::Read, 1 << 45, 8)]),
    ]
}

fn os_configs() -> Vec<OsConfig> {
    let limited = |frames, policy| OsConfig {
        frames: Some(frames),
        policy,
        ..OsConfig::default()
    };
    vec![
        OsConfig::default(),
        limited(6, Policy::Lru),
        limited(5, Policy::Clock),
        limited(6, Policy::Opt),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_fast_path_changes_no_count(
        ops in prop::collection::vec(op(), 1..60),
        first in any::<bool>(),
        batch in 1usize..200,
    ) {
        let trace: Vec<Access> = ops.into_iter().flatten().collect();
        for os in os_configs() {
            let opts = options(first, os);
            for design in DESIGNS {
                for tlb in TLBS {
                    let _ = same(design, tlb, &opts, &trace, batch);
                }
            }
        }
    }
}

/// Replays with and without caches and asserts the same counters, cycles aside, and with
/// caches the same counters, cycles included, with and without the fast path ([`same`]).
fn observed(design: &str, tlb: &str, opts: &SimOptions, trace: &[Access], batch: usize) {
    let plain = replay(design, tlb, opts, trace, batch);
    for cache in ["skylake", "l1d=8x2,l2=none,llc=32x4,ptes=bypass,mem_lat=7"] {
        let with = same(
            design,
            tlb,
            &SimOptions {
                cache: cache.parse().unwrap(),
                ..opts.clone()
            },
            trace,
            batch,
        );
        let without_cycles = with.map(|(mut s, t)| {
            s.cycles = Default::default();
            (s, t)
        });
        assert_eq!(
            plain, without_cycles,
            "{design} behind {tlb} with caches {cache}"
        );
    }
}

/// The options of a proptest case: its page-crossing rule and OS settings, wide addresses
/// counted.
fn options(first: bool, os: OsConfig) -> SimOptions {
    SimOptions {
        page_crossing: if first {
            PageCrossing::First
        } else {
            PageCrossing::Split
        },
        wide: WideAddresses::Count,
        os,
        ..SimOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn the_cache_model_only_observes(
        ops in prop::collection::vec(op(), 1..60),
        first in any::<bool>(),
        batch in 1usize..200,
    ) {
        let trace: Vec<Access> = ops.into_iter().flatten().collect();
        for os in os_configs() {
            let opts = options(first, os);
            for design in DESIGNS {
                for tlb in ["none", "tiny", "l1=4x4,pwc=8x2", "skylake"] {
                    observed(design, tlb, &opts, &trace, batch);
                }
            }
        }
    }
}

fn read(path: &Path) -> Vec<Access> {
    let mut r = ptbench_trace::open(path).unwrap();
    let (mut all, mut buf) = (Vec::new(), Vec::new());
    while r.read_batch(&mut buf).unwrap() > 0 {
        all.extend_from_slice(&buf);
    }
    all
}

#[test]
fn the_fast_path_changes_no_count_on_the_shipped_traces() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../traces");
    let mut traces: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".lackey.gz") || n.ends_with(".ptbt.zst")
        })
        .collect();
    traces.sort();
    assert!(traces.len() >= 4);
    for path in &traces {
        let trace = read(path);
        let mut opts = SimOptions::default();
        for (design, tlb) in [
            ("x86-64", "skylake"),
            ("x86-64", "none"),
            ("hashed", "tiny"),
            ("ecpt", "l1=16x4,pwc=8x2"),
        ] {
            let (stats, _) = same(design, tlb, &opts, &trace, 1 << 16).unwrap();
            assert!(stats.translations >= stats.accesses && stats.accesses > 100_000);
        }
        opts.os = OsConfig {
            frames: Some(64),
            policy: Policy::Lru,
            ..OsConfig::default()
        };
        same("x86-64", "skylake", &opts, &trace, 1 << 16).unwrap();
    }
}
