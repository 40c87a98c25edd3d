//! `cycles`: the cost of the cache model. One design (x86-64 behind the skylake TLB) replays a
//! recorded trace (`sort.lackey.gz`, decoded once) without caches and with the skylake cache
//! hierarchy (every access and every table read through four levels), side by side; the goal is
//! at least half the speed without caches.

use super::baseline::real_trace;
use criterion::{BenchmarkId, Criterion, Throughput};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::TlbSpec;
use ptbench_replay::{CacheSpec, Sim, SimOptions};

fn sim(cache: CacheSpec) -> Sim {
    let opts = SimOptions {
        cache,
        ..SimOptions::default()
    };
    Sim::build_with_tlb(
        &DesignSpec::parse("x86-64").unwrap(),
        &TlbSpec::SKYLAKE,
        &opts,
    )
    .unwrap()
}

pub fn bench(c: &mut Criterion) {
    let trace = real_trace("sort.lackey.gz");
    let mut group = c.benchmark_group("cycles");
    group.throughput(Throughput::Elements(trace.len() as u64));
    group.sample_size(20);
    // Both replay the same translations: the cache model only observes.
    let (mut a, mut b) = (sim(CacheSpec::NONE), sim(CacheSpec::SKYLAKE));
    a.replay(&trace, 0).unwrap();
    b.replay(&trace, 0).unwrap();
    assert_eq!(a.stats().digest, b.stats().digest);
    assert_eq!(a.stats().walk_refs, b.stats().walk_refs);
    assert!(b.stats().cycles.walk_cycles > 0);
    for (name, cache) in [("none", CacheSpec::NONE), ("skylake", CacheSpec::SKYLAKE)] {
        group.bench_function(BenchmarkId::new("x86-64+skylake-tlb/sort", name), |bench| {
            // A cold start each time: caches and TLBs empty, every page faulted in again.
            bench.iter(|| {
                let mut s = sim(cache);
                s.replay(&trace, 0).unwrap();
                s.stats().accesses
            })
        });
    }
    group.finish();
}
