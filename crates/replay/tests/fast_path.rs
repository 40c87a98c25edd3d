//! The replay loop's fast path (a repeated translation only counted) changes no count: every
//! design, TLB configuration and OS setting gives the same counters, TLB counters and digest with
//! and without it (`SimOptions::no_fast_path`), on random traces with locality, processes, region
//! events, permission faults and wide addresses, and on the shipped real traces.
//!
//! Replaying with each batch's page runs (`Sim::replay_runs`, the runs counted in bulk) gives the
//! same outcome as the fast path access by access, and as the general path.
//!
//! The cache model only observes: with a cache hierarchy every counter but the cycle counters is
//! the same as without, and the fast path gives the same cycle counters as the general path.

mod common;

use common::{op, options, os_configs, read, shipped_traces, DESIGNS, TLBS};
use proptest::prelude::*;
use ptbench_core::{Access, AccessKind};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::{TlbSpec, TlbStats};
use ptbench_replay::{NextUses, OsConfig, Policy, Sim, SimOptions, Stats};

/// The counters of one replay (wall time zeroed), its TLB counters, or the error it stopped with.
type Outcome = Result<(Stats, Option<TlbStats>), String>;

fn replay(design: &str, tlb: &str, opts: &SimOptions, trace: &[Access], batch: usize) -> Outcome {
    replay_with(design, tlb, opts, trace, batch, false)
}

/// [`replay`], with each batch's page runs when `runs` is set.
fn replay_with(
    design: &str,
    tlb: &str,
    opts: &SimOptions,
    trace: &[Access],
    batch: usize,
    runs: bool,
) -> Outcome {
    let spec = DesignSpec::parse(design).unwrap();
    let mut sim = Sim::build_with_tlb(&spec, &TlbSpec::parse(tlb).unwrap(), opts).unwrap();
    if sim.needs_next_uses() {
        let mut pass = NextUses::new(sim.page_shift(), opts.page_crossing);
        pass.push(trace);
        sim.set_next_uses(pass.finish());
    }
    let mut starts = Vec::new();
    for (i, b) in trace.chunks(batch).enumerate() {
        let index = (i * batch) as u64;
        if runs {
            ptbench_core::page_runs(b, &mut starts);
            sim.replay_runs(b, &starts, index)
        } else {
            sim.replay(b, index)
        }
        .map_err(|e| e.to_string())?;
    }
    let mut stats = sim.stats();
    stats.busy_nanos = 0;
    Ok((stats, sim.tlb_stats()))
}

/// Replays with and without the fast path, and with page runs, and asserts the same outcome.
fn same(design: &str, tlb: &str, opts: &SimOptions, trace: &[Access], batch: usize) -> Outcome {
    let fast = replay(design, tlb, opts, trace, batch);
    let runs = replay_with(design, tlb, opts, trace, batch, true);
    assert_eq!(
        fast, runs,
        "{design} behind {tlb} under {}, page runs",
        opts.os
    );
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

/// Runs of accesses to pages that share the sets of small TLBs (multiples of 4 and 16 pages
/// apart), so that the pages of a set evict each other and their order in the set matters.
fn conflict_op() -> impl Strategy<Value = Vec<Access>> {
    (
        prop::sample::select(vec![0u64, 1, 4, 8, 16, 17, 32, 64, 128]),
        0u64..4096,
        0u8..3,
        1usize..6,
    )
        .prop_map(|(page, off, kind, n)| {
            let kind = [AccessKind::Read, AccessKind::Write, AccessKind::Fetch][kind as usize];
            let base = 0x7f_0000_0000 + page * 4096;
            (0..n as u64)
                .map(|i| Access::new(kind, base + (off / 8 * 8 + i * 8) % 4096, 8))
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Pages of one L1 set taking turns: a replay that took back a page it had found its set's
    /// most recent entry, after another page of that set had become it, would keep the wrong
    /// order in the set and evict other entries.
    #[test]
    fn the_fast_path_changes_no_count_where_pages_share_sets(
        ops in prop::collection::vec(conflict_op(), 1..120),
        batch in 1usize..300,
    ) {
        let trace: Vec<Access> = ops.into_iter().flatten().collect();
        let opts = options(false, OsConfig::default());
        for design in ["x86-64", "hashed"] {
            for tlb in [
                "l1=4x2",
                "l1=8x4,repl=plru",
                "l1=4x4,repl=fifo",
                "l1i=4x2,l1d=4x2,l2=16x4",
                "l1i=8x2,l1d=8x2,l2=32x4,l2incl=excl",
                "skylake",
            ] {
                let _ = same(design, tlb, &opts, &trace, batch);
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

#[test]
fn the_fast_path_changes_no_count_on_the_shipped_traces() {
    let traces = shipped_traces();
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
