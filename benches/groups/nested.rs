//! `nested`: the cost of two-dimensional walks. x86-64 alone and x86-64 over an x86-64 host
//! (`nested:guest=x86-64,host=x86-64`), behind the skylake TLB, replay a recorded trace
//! (`gzip.lackey.gz`, decoded once) side by side from a cold start; the goal is at least half the
//! native speed. The setup asserts that both translate alike (same digest and walks) and that the
//! nested walks read more.

use super::baseline::real_trace;
use criterion::{BenchmarkId, Criterion, Throughput};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::TlbSpec;
use ptbench_replay::{Sim, SimOptions};

fn sim(design: &str) -> Sim {
    Sim::build_with_tlb(
        &DesignSpec::parse(design).unwrap(),
        &TlbSpec::SKYLAKE,
        &SimOptions::default(),
    )
    .unwrap()
}

pub fn bench(c: &mut Criterion) {
    let trace = real_trace("gzip.lackey.gz");
    let designs = ["x86-64", "nested:guest=x86-64,host=x86-64"];
    let (mut a, mut b) = (sim(designs[0]), sim(designs[1]));
    a.replay(&trace, 0).unwrap();
    b.replay(&trace, 0).unwrap();
    let (a, b) = (a.stats(), b.stats());
    assert_eq!((a.digest, a.walks), (b.digest, b.walks));
    assert_eq!(b.walk_refs - b.host_refs, a.walk_refs);
    assert!(b.host_refs > 4 * a.walk_refs);
    let mut group = c.benchmark_group("nested");
    group.throughput(Throughput::Elements(trace.len() as u64));
    group.sample_size(20);
    for design in designs {
        group.bench_function(BenchmarkId::new("skylake/gzip", design), |bench| {
            bench.iter(|| {
                let mut s = sim(design);
                s.replay(&trace, 0).unwrap();
                s.stats().walks
            })
        });
    }
    group.finish();
}
