//! `replay`: the whole replay loop (page split, walk, fault handling, counters) over a batch of
//! accesses, for the monomorphized simulator and for the same design behind `Box<dyn PageTable>`,
//! so the cost of dynamic dispatch is measured rather than assumed.

use super::SplitMix;
use criterion::{BenchmarkId, Criterion, Throughput};
use ptbench_core::{Access, AccessKind, PageTable};
use ptbench_pagetable::{DesignSpec, Radix, RadixConfig};
use ptbench_replay::{SimOptions, Simulator};

const ACCESSES: usize = 1 << 16;

fn trace() -> Vec<Access> {
    // Mostly sequential 8-byte accesses in a 64 MiB region with a random jump every 64 accesses:
    // page-local like real code, with enough pages that walks vary.
    let mut rng = SplitMix(7);
    let mut addr = 0x5555_0000_0000u64;
    (0..ACCESSES)
        .map(|i| {
            if i % 64 == 0 {
                addr = (0x5555_0000_0000 + rng.next() % (64 << 20)) & !7;
            }
            addr += 8;
            Access::new(
                if i % 3 == 0 {
                    AccessKind::Write
                } else {
                    AccessKind::Read
                },
                addr,
                8,
            )
        })
        .collect()
}

fn replay_all<P: PageTable>(sim: &mut Simulator<P>, batch: &[Access], index: &mut u64) {
    sim.replay(batch, *index).unwrap();
    *index += batch.len() as u64;
}

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(ACCESSES as u64));
    let batch = trace();
    let opts = SimOptions::default();
    let spec = DesignSpec::parse("x86-64").unwrap();

    let mut mem = spec.new_mem().unwrap();
    let pt = Radix::new(RadixConfig::X86_64, &mut mem).unwrap();
    let mut mono = Simulator::new("x86-64".into(), pt, mem, &opts);
    let mut index = 0;
    replay_all(&mut mono, &batch, &mut index); // warm: every page mapped
    group.bench_function(BenchmarkId::new("x86-64", "monomorphized"), |b| {
        b.iter(|| replay_all(&mut mono, &batch, &mut index))
    });

    let mut mem = spec.new_mem().unwrap();
    let pt = spec.build_boxed(&mut mem).unwrap();
    let mut dynamic = Simulator::new("x86-64".into(), pt, mem, &opts);
    let mut index = 0;
    replay_all(&mut dynamic, &batch, &mut index);
    group.bench_function(BenchmarkId::new("x86-64", "box-dyn"), |b| {
        b.iter(|| replay_all(&mut dynamic, &batch, &mut index))
    });
    group.finish();
}
