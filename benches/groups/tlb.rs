//! `tlb`: replay throughput when the TLB hits: a TLB-friendly stream (8-byte strides through 16
//! pages, so nearly every translation hits the L1) replayed through x86-64 with no TLB, with the
//! `tiny` and `skylake` hierarchies and ChampSim's (TLBs plus page-walk caches).

use criterion::{BenchmarkId, Criterion, Throughput};
use ptbench_core::{Access, AccessKind};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::TlbSpec;
use ptbench_replay::{Sim, SimOptions};

const ACCESSES: usize = 1 << 16;

pub fn bench(c: &mut Criterion) {
    let batch: Vec<Access> = (0..ACCESSES as u64)
        .map(|i| {
            let kind = if i % 4 == 0 {
                AccessKind::Fetch
            } else {
                AccessKind::Read
            };
            Access::new(kind, 0x5555_0000_0000 + (i * 8) % (16 << 12), 8)
        })
        .collect();
    let mut group = c.benchmark_group("tlb");
    group.throughput(Throughput::Elements(ACCESSES as u64));
    let spec = DesignSpec::parse("x86-64").unwrap();
    for tlb in ["none", "tiny", "skylake", "champsim"] {
        let t = TlbSpec::parse(tlb).unwrap();
        let mut sim = Sim::build_with_tlb(&spec, &t, &SimOptions::default()).unwrap();
        let mut index = 0;
        sim.replay(&batch, index).unwrap();
        group.bench_function(BenchmarkId::new("replay-x86-64", tlb), |b| {
            b.iter(|| {
                index += ACCESSES as u64;
                sim.replay(&batch, index).unwrap()
            })
        });
    }
    group.finish();
}
