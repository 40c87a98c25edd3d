//! `replay/skylake` and `baseline`: ptbench's replay loop (x86-64 behind the `skylake` TLB) and
//! a hand-written simulation of the same hierarchy, on the same real trace
//! (`traces/sort.lackey.gz`, decoded once), each from a cold start per iteration; beside them
//! ptbench's general path alone (`SimOptions::no_fast_path`) and x86-64 without a TLB (every
//! translation walks), with and without the fast path.
//!
//! The baseline uses no ptbench type: the trace as plain `(addr, size, kind)` tuples, every
//! access split at page boundaries, an LRU array of sets per level (ITLB 128x8, DTLB 64x4, STLB
//! 1536x12, looked up in that order, an L2 hit filling L1, a miss filling both), and a hash set of
//! mapped pages for the walk. The bench setup asserts that its L1I, L1D and L2 miss counts equal
//! ptbench's before anything is timed.

use criterion::{BatchSize, Criterion, Throughput};
use ptbench_core::{Access, AccessKind};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::{ptbench_tlb::TlbSpec, Sim, SimOptions};
use std::collections::HashSet;
use std::path::Path;

/// The accesses of a checked-in real trace.
pub fn real_trace(name: &str) -> Vec<Access> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("traces")
        .join(name);
    let mut r = ptbench_trace::open(&path).unwrap();
    let (mut all, mut buf) = (Vec::new(), Vec::new());
    use ptbench_trace::TraceReader;
    while r.read_batch(&mut buf).unwrap() > 0 {
        all.extend_from_slice(&buf);
    }
    all
}

/// One LRU level: `sets x ways` tags (`u64::MAX` = empty) with last-use stamps.
struct Level {
    ways: usize,
    mask: u64,
    tags: Vec<u64>,
    stamps: Vec<u64>,
    clock: u64,
}

impl Level {
    fn new(entries: usize, ways: usize) -> Level {
        Level {
            ways,
            mask: (entries / ways) as u64 - 1,
            tags: vec![u64::MAX; entries],
            stamps: vec![0; entries],
            clock: 0,
        }
    }

    /// Looks `page` up; on a hit refreshes it and returns true.
    fn lookup(&mut self, page: u64) -> bool {
        let base = (page & self.mask) as usize * self.ways;
        self.clock += 1;
        for w in base..base + self.ways {
            if self.tags[w] == page {
                self.stamps[w] = self.clock;
                return true;
            }
        }
        false
    }

    /// Inserts `page` (known absent), evicting the least recently used way.
    fn fill(&mut self, page: u64) {
        let base = (page & self.mask) as usize * self.ways;
        self.clock += 1;
        let mut victim = base;
        for w in base..base + self.ways {
            if self.tags[w] == u64::MAX {
                victim = w;
                break;
            }
            if self.stamps[w] < self.stamps[victim] {
                victim = w;
            }
        }
        self.tags[victim] = page;
        self.stamps[victim] = self.clock;
    }
}

/// Miss counts: (L1I, L1D, L2).
#[derive(Debug, PartialEq, Eq)]
pub struct Misses(u64, u64, u64);

/// Kind codes of the plain trace.
const FETCH: u8 = 0;

fn baseline(trace: &[(u64, u32, u8)]) -> Misses {
    let mut itlb = Level::new(128, 8);
    let mut dtlb = Level::new(64, 4);
    let mut stlb = Level::new(1536, 12);
    let mut mapped: HashSet<u64> = HashSet::new();
    let mut m = Misses(0, 0, 0);
    for &(addr, size, kind) in trace {
        let first = addr >> 12;
        let last = (addr + u64::from(size) - 1) >> 12;
        for page in first..=last {
            let l1 = if kind == FETCH { &mut itlb } else { &mut dtlb };
            if l1.lookup(page) {
                continue;
            }
            if kind == FETCH {
                m.0 += 1;
            } else {
                m.1 += 1;
            }
            if !stlb.lookup(page) {
                m.2 += 1;
                mapped.insert(page); // the walk (and, on first touch, the fault)
                stlb.fill(page);
            }
            l1.fill(page);
        }
    }
    m
}

fn sim(tlb: &TlbSpec, no_fast_path: bool) -> Sim {
    let spec = DesignSpec::parse("x86-64").unwrap();
    let opts = SimOptions {
        no_fast_path,
        ..SimOptions::default()
    };
    Sim::build_with_tlb(&spec, tlb, &opts).unwrap()
}

fn ptbench_sim() -> Sim {
    sim(&TlbSpec::SKYLAKE, false)
}

fn ptbench_misses(sim: &Sim) -> Misses {
    let t = sim.tlb_stats().unwrap();
    Misses(t.l1i_misses, t.l1d_misses, t.l2_misses)
}

pub fn bench(c: &mut Criterion) {
    let trace = real_trace("sort.lackey.gz");
    let plain: Vec<(u64, u32, u8)> = trace
        .iter()
        .map(|a| {
            (
                a.addr,
                a.size,
                if a.kind == AccessKind::Fetch {
                    FETCH
                } else {
                    1
                },
            )
        })
        .collect();
    assert!(trace.iter().all(|a| !a.kind.is_event()));

    // The two simulations must agree before either is timed.
    let mut ptb = ptbench_sim();
    ptb.replay(&trace, 0).unwrap();
    let want = ptbench_misses(&ptb);
    assert_eq!(baseline(&plain), want, "baseline and ptbench miss counts");
    eprintln!(
        "replay/baseline: sort.lackey.gz, {} accesses, misses (l1i, l1d, l2) = {want:?}",
        trace.len()
    );

    // Without a TLB every translation walks; the fast path repeats unchanged walks.
    let walks = |no_fast_path| {
        let mut s = sim(&TlbSpec::NONE, no_fast_path);
        s.replay(&trace, 0).unwrap();
        let mut st = s.stats();
        st.busy_nanos = 0;
        st
    };
    let fast = walks(false);
    assert_eq!(fast, walks(true), "the fast path changes no count");
    eprintln!(
        "replay/x86-64/sort: {} walks, {} walk references",
        fast.walks, fast.walk_refs
    );

    // The page runs are found once per trace (the decoder's work), for every configuration.
    let mut runs = Vec::new();
    ptbench_core::page_runs(&trace, &mut runs);
    let mut by_runs = ptbench_sim();
    by_runs.replay_runs(&trace, &runs, 0).unwrap();
    let strip = |s: &Sim| {
        let mut st = s.stats();
        st.busy_nanos = 0;
        (st, s.tlb_stats())
    };
    assert_eq!(strip(&by_runs), strip(&ptb), "replay_runs changes no count");
    eprintln!(
        "replay/skylake/sort/runs: {} run starts in {} accesses",
        runs.len(),
        trace.len()
    );

    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(trace.len() as u64));
    for (name, tlb, no_fast_path) in [
        ("skylake/sort", TlbSpec::SKYLAKE, false),
        ("skylake/sort/general-path", TlbSpec::SKYLAKE, true),
        ("x86-64/sort", TlbSpec::NONE, false),
        ("x86-64/sort/general-path", TlbSpec::NONE, true),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || sim(&tlb, no_fast_path),
                |mut s| {
                    s.replay(&trace, 0).unwrap();
                    s
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.bench_function("skylake/sort/runs", |b| {
        b.iter_batched(
            ptbench_sim,
            |mut s| {
                s.replay_runs(&trace, &runs, 0).unwrap();
                s
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("baseline");
    group.sample_size(10);
    group.throughput(Throughput::Elements(trace.len() as u64));
    group.bench_function("skylake/sort", |b| b.iter(|| baseline(&plain)));
    group.finish();
}
