//! Threads on cores: every core count translates alike (the digest and every OS counter are the
//! one-core run's, for every design, TLB spec, quantum and shootdown rule, on random traces with
//! processes, threads and cpu events; and every counter is the same without the fast path); one thread on many cores is one core; independent
//! processes pinned to their own cores each count what they count alone (a closed form, and
//! the process replayed alone); and a munmap by one of three threads interrupts the two other
//! cores (precise) or every other core (broadcast).

mod common;

use common::{op, options, shipped_traces, DESIGNS};
use proptest::prelude::*;
use ptbench_core::{Access, AccessKind};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::{TlbSpec, TlbStats};
use ptbench_replay::{NextUses, OsConfig, OsCounters, Policy, Shootdown, Sim, SimOptions, Stats};

/// What a replay gave: counters (wall time zeroed) and TLB counters, or the error.
type Outcome = Result<(Stats, Option<TlbStats>), String>;

fn replay(design: &str, tlb: &str, opts: &SimOptions, trace: &[Access], batch: usize) -> Outcome {
    let tlb = TlbSpec::parse(tlb).unwrap();
    let mut sim = Sim::build_with_tlb(&DesignSpec::parse(design).unwrap(), &tlb, opts).unwrap();
    let addrs = trace.iter().filter(|a| !a.kind.is_event()).map(|a| a.addr);
    if let (Some(lo), Some(hi)) = (addrs.clone().min(), addrs.max()) {
        sim.set_address_range(lo, hi);
    }
    if sim.needs_next_uses() {
        let mut pass = NextUses::new(sim.page_shift(), opts.page_crossing);
        pass.push(trace);
        sim.set_next_uses(pass.finish());
    }
    for (i, chunk) in trace.chunks(batch).enumerate() {
        sim.replay(chunk, (i * batch) as u64)
            .map_err(|e| e.to_string())?;
    }
    let mut stats = sim.stats();
    stats.busy_nanos = 0;
    Ok((stats, sim.tlb_stats()))
}

fn on_cores(opts: &SimOptions, cores: u16, quantum: u64, shootdown: Shootdown) -> SimOptions {
    SimOptions {
        os: OsConfig {
            cores,
            quantum,
            shootdown,
            ..opts.os.clone()
        },
        ..opts.clone()
    }
}

/// Translations, whatever core makes them: the counters no core count may change.
fn translation_counters(s: &Stats) -> impl PartialEq + std::fmt::Debug {
    (
        s.digest,
        s.accesses,
        s.translations,
        s.page_faults,
        s.distinct_pages,
        s.noncanonical,
        s.events,
        // An inverted table's alias faults are a cost: a walk a TLB hit saved finds none.
        OsCounters {
            alias_faults: 0,
            ..s.os.clone()
        },
        s.cores.threads,
    )
}

/// TLB lookups by kind, which every core count makes as many of.
fn lookups(t: &Option<TlbStats>) -> Option<(u64, u64)> {
    t.map(|t| (t.l1i_hits + t.l1i_misses, t.l1d_hits + t.l1d_misses))
}

/// `ops` with every access in the address space the last context switch, fork's child or
/// thread event named, and thread and cpu events among them.
fn threaded(ops: Vec<(Vec<Access>, u8, u16, u64)>) -> Vec<Access> {
    let mut asid = 0u16;
    let mut out = Vec::new();
    for (accesses, extra, a, n) in ops {
        match extra {
            1 => {
                asid = a % 3;
                out.push(Access::new(AccessKind::Thread, n % 4, 0).in_asid(asid));
            }
            2 => out.push(Access::new(AccessKind::Cpu, n % 6, 0).in_asid(asid)),
            _ => {}
        }
        for mut x in accesses {
            match x.kind {
                AccessKind::ContextSwitch => asid = x.asid,
                // A fork's child runs next, as its parent's thread.
                AccessKind::Fork => {
                    out.push(x.in_asid(asid));
                    asid = x.addr as u16;
                    out.push(Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(asid));
                    continue;
                }
                _ => x = x.in_asid(asid),
            }
            out.push(x);
        }
    }
    out
}

const TLBS: &[&str] = &[
    "none",
    "tiny",
    "l1=4x4,repl=fifo,asid=on",
    "l1i=8x2,l1d=8x2,l2=32x4,l2incl=excl",
    "l1=4x4,pwc=8x2",
    "skylake",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn any_core_count_translates_alike(
        ops in prop::collection::vec((op(), 0u8..6, 0u16..3, 0u64..8), 1..50),
        first in any::<bool>(),
        cores in prop::sample::select(vec![2u16, 3, 8, 64]),
        quantum in prop::sample::select(vec![0u64, 0, 1, 5, 13]),
        limited in any::<bool>(),
        cache in prop::sample::select(vec!["none", "l1i=4x2,l1d=4x2,l2=16x4,llc=64x4"]),
        batch in 1usize..100,
    ) {
        let trace = threaded(ops);
        let os = if limited {
            OsConfig { frames: Some(6), policy: Policy::Clock, ..OsConfig::default() }
        } else {
            OsConfig::default()
        };
        let mut base = options(first, os);
        base.cache = cache.parse().unwrap();
        for design in DESIGNS {
            for tlb in TLBS {
                let one = replay(design, tlb, &base, &trace, batch);
                let mut ipis = Vec::new();
                for shootdown in [Shootdown::Precise, Shootdown::Broadcast] {
                    let opts = on_cores(&base, cores, quantum, shootdown);
                    let many = replay(design, tlb, &opts, &trace, batch);
                    // The repeated-translation shortcut changes nothing on many cores either.
                    let slow = SimOptions { no_fast_path: true, ..opts.clone() };
                    let general = replay(design, tlb, &slow, &trace, batch);
                    prop_assert_eq!(&many, &general, "{} behind {} on {} cores: fast path", design, tlb, cores);
                    let what = format!("{design} behind {tlb} on {cores} cores, quantum {quantum}, {shootdown}");
                    match (&one, &many) {
                        (Ok((a, at)), Ok((b, bt))) => {
                            prop_assert_eq!(translation_counters(a), translation_counters(b), "{}", what);
                            prop_assert_eq!(lookups(at), lookups(bt), "{}", what);
                            let c = &b.cores;
                            prop_assert_eq!(c.per_core.len(), usize::from(cores));
                            let per: u64 = c.per_core.iter().map(|p| p.accesses).sum();
                            prop_assert_eq!(per, b.accesses, "{}", what);
                            let got: u64 = c.per_core.iter().map(|p| p.ipis).sum();
                            prop_assert_eq!(got, c.shootdown_ipis, "{}", what);
                            let inv: u64 = c.per_core.iter().map(|p| p.invalidations).sum();
                            prop_assert_eq!(inv, c.remote_invalidations, "{}", what);
                            prop_assert!(c.shootdown_ipis <= c.shootdown_events * u64::from(cores - 1));
                            if let Some(t) = bt {
                                let mut sum = TlbStats::default();
                                c.per_core.iter().for_each(|p| sum += &p.tlb);
                                prop_assert_eq!(&sum, t, "{}", what);
                            }
                            ipis.push((c.shootdown_events, c.shootdown_ipis, c.remote_invalidations));
                        }
                        (Err(a), Err(b)) => prop_assert_eq!(a, b, "{}", what),
                        _ => prop_assert!(false, "{}: {:?} against {:?}", what, one.as_ref().err(), many.as_ref().err()),
                    }
                }
                // Broadcasting interrupts every core precise shootdowns interrupt, and more.
                if let [p, b] = ipis[..] {
                    prop_assert!(p.0 <= b.0 && p.1 <= b.1 && p.2 <= b.2, "{design} {tlb}: {p:?} {b:?}");
                }
            }
        }
    }
}

#[test]
fn one_thread_on_many_cores_counts_as_one_core() {
    let traces = shipped_traces();
    for path in &traces[..2] {
        let trace = common::read(path);
        let base = options(false, OsConfig::default());
        for design in DESIGNS {
            for tlb in ["none", "tiny", "skylake"] {
                let (a, at) = replay(design, tlb, &base, &trace, 4096).unwrap();
                let four = on_cores(&base, 4, 0, Shootdown::Broadcast);
                let (b, bt) = replay(design, tlb, &four, &trace, 4096).unwrap();
                let what = format!("{design} behind {tlb} on {}", path.display());
                assert_eq!(at, bt, "{what}");
                assert_eq!(a.cores.threads, 1, "{what}");
                assert_eq!(b.cores.per_core[0].accesses, a.accesses, "{what}");
                assert_eq!(b.cores.per_core[0].tlb, at.unwrap_or_default(), "{what}");
                assert!(b.cores.per_core[1..]
                    .iter()
                    .all(|c| c.accesses == 0 && c.tlb == TlbStats::default()));
                assert_eq!(b.cores.shootdown_ipis, 0);
                let rest = |s: Stats| Stats {
                    cores: Default::default(),
                    ..s
                };
                assert_eq!(rest(a), rest(b), "{what}");
            }
        }
    }
}

/// `n` processes, process `k` with `(k + 1) * 8` pages, each page read `reads` times, the
/// processes' accesses interleaved a page at a time (context switches between).
fn processes(n: u16, reads: u64) -> Vec<Access> {
    let mut out = Vec::new();
    let most = u64::from(n) * 8;
    for round in 0..reads {
        for page in 0..most {
            for k in 0..n {
                if page < (u64::from(k) + 1) * 8 {
                    out.push(Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(k));
                    let addr = 0x4000_0000 + page * 4096 + round * 8;
                    out.push(Access::new(AccessKind::Read, addr, 8).in_asid(k));
                }
            }
        }
    }
    out
}

#[test]
fn independent_processes_on_their_own_cores_count_what_they_count_alone() {
    let n = 4u16;
    let reads = 3u64;
    let trace = processes(n, reads);
    let base = options(false, OsConfig::default());
    for design in DESIGNS {
        // A TLB that holds every page: each process's first touch of a page misses, the rest
        // hit (a closed form), on its own core whatever the others do.
        let opts = on_cores(&base, n, 0, Shootdown::Precise);
        let (s, _) = replay(design, "l1=64x4,asid=on", &opts, &trace, 1000).unwrap();
        assert_eq!(s.cores.threads, u64::from(n));
        for (k, c) in s.cores.per_core.iter().enumerate() {
            let pages = (k as u64 + 1) * 8;
            assert_eq!(c.threads, 1, "{design} core {k}");
            assert_eq!(c.accesses, pages * reads, "{design} core {k}");
            assert_eq!(c.tlb.l1d_misses, pages, "{design} core {k}");
            assert_eq!(c.tlb.l1d_hits, pages * (reads - 1), "{design} core {k}");
            assert_eq!(c.tlb.tlb_misses, pages, "{design} core {k}");
        }
        // A TLB too small for them: each core counts what its process counts replayed alone,
        // without ASIDs too (a core never switches context).
        for tlb in [
            "tiny",
            "l1i=8x2,l1d=8x2,l2=32x4",
            "l1=32x4,pwc=8x2,asid=off",
        ] {
            let (s, _) = replay(design, tlb, &opts, &trace, 1000).unwrap();
            for k in 0..n {
                let alone: Vec<Access> = trace
                    .iter()
                    .filter(|a| a.asid == k && !a.kind.is_event())
                    .map(|a| a.in_asid(0))
                    .collect();
                let (_, t) = replay(design, tlb, &base, &alone, 1000).unwrap();
                let mine = &s.cores.per_core[usize::from(k)].tlb;
                let t = t.unwrap();
                assert_eq!(
                    (
                        mine.l1d_hits,
                        mine.l1d_misses,
                        mine.l2_hits,
                        mine.tlb_misses
                    ),
                    (t.l1d_hits, t.l1d_misses, t.l2_hits, t.tlb_misses),
                    "{design} behind {tlb}, core {k}"
                );
                assert_eq!(mine.pwc_hits, t.pwc_hits, "{design} behind {tlb}, core {k}");
            }
            // Together on one core they evict each other (and without ASIDs flush).
            let (_, one) = replay(design, tlb, &base, &trace, 1000).unwrap();
            let sum: u64 = s.cores.per_core.iter().map(|c| c.tlb.tlb_misses).sum();
            // (`tiny` misses every access of this trace even alone.)
            let together = one.unwrap().tlb_misses;
            if tlb == "tiny" {
                assert_eq!(together, sum, "{design} behind {tlb}");
            } else {
                assert!(together > sum, "{design} behind {tlb}: {together} <= {sum}");
            }
        }
    }
}

/// Three threads of one process on cores 0, 1 and 2 touch its two pages; thread 1, back on
/// core 0, unmaps them.
fn three_threads() -> Vec<Access> {
    let mut mmap = Access::new(AccessKind::Mmap, 0x60_0000, 4);
    mmap.flags = 3;
    let t = |tid| Access::new(AccessKind::Thread, tid, 0);
    let cpu = |c| Access::new(AccessKind::Cpu, c, 0);
    vec![
        mmap,
        t(1),
        cpu(0),
        Access::new(AccessKind::Write, 0x60_0000, 8),
        Access::new(AccessKind::Write, 0x60_1000, 8),
        t(2),
        cpu(1),
        Access::new(AccessKind::Read, 0x60_0000, 8),
        t(3),
        cpu(2),
        Access::new(AccessKind::Read, 0x60_1000, 8),
        t(1),
        cpu(0),
        Access::new(AccessKind::Munmap, 0x60_0000, 4),
    ]
}

#[test]
fn a_munmap_interrupts_the_cores_that_ran_the_process_or_all() {
    let trace = three_threads();
    let base = options(false, OsConfig::default());
    for design in DESIGNS {
        for tlb in ["none", "skylake"] {
            for cores in 3u16..=8 {
                for (shootdown, ipis) in [
                    (Shootdown::Precise, 2),
                    (Shootdown::Broadcast, u64::from(cores) - 1),
                ] {
                    let opts = on_cores(&base, cores, 0, shootdown);
                    let (s, _) = replay(design, tlb, &opts, &trace, 3).unwrap();
                    let c = &s.cores;
                    let what = format!("{design} behind {tlb}, {cores} cores, {shootdown}");
                    assert_eq!(c.threads, 3, "{what}");
                    assert_eq!(c.shootdown_events, 1, "{what}");
                    assert_eq!(c.shootdown_ipis, ipis, "{what}");
                    // Two mapped pages, invalidated on each interrupted core.
                    assert_eq!(c.remote_invalidations, 2 * ipis, "{what}");
                    assert_eq!(c.per_core[0].ipis, 0, "{what}");
                    assert_eq!((c.per_core[1].ipis, c.per_core[2].ipis), (1, 1), "{what}");
                    let threads: Vec<u64> = c.per_core.iter().map(|p| p.threads).collect();
                    assert_eq!(&threads[..3], &[1, 1, 1], "{what}");
                    // Without a cache model, shootdowns cost no cycles.
                    assert_eq!(c.shootdown_cycles, 0, "{what}");
                }
            }
        }
    }
    // With the cycles model: 3000 cycles an interrupt and 250 a remote page, by default.
    let mut opts = on_cores(&base, 4, 0, Shootdown::Broadcast);
    opts.cache = "skylake".parse().unwrap();
    let (s, _) = replay("x86-64", "skylake", &opts, &trace, 3).unwrap();
    assert_eq!(s.cores.shootdown_cycles, 3 * 3000 + 6 * 250);
}
