//! `walk`: one translation (a full walk of a mapped page) per element, per design, over 1 GiB of
//! 4 KiB pages (262,144 pages) visited in random order. Designs are concrete types, as in replay.

use super::SplitMix;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use ptbench_core::{PageSize, PageTable, Perms, Pfn, PhysMem, Pte, Vpn, WalkCost};
use ptbench_pagetable::{DesignConfig, DesignSpec};
use std::hint::black_box;

const PAGES: u64 = 1 << 18;
const LOOKUPS: usize = 1 << 16;
/// First page of the region: 0x7f_0000_0000 fits even a 39-bit design.
const BASE: u64 = 0x7f_0000_0000 >> 12;

fn walk_all<P: PageTable>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mut pt: P,
    mut mem: PhysMem,
    order: &[Vpn],
) {
    for i in 0..PAGES {
        let pte = Pte {
            pfn: Pfn(i),
            perms: Perms::RW,
            size: PageSize::K4,
        };
        pt.map(&mut mem, Vpn(BASE + i), pte).unwrap();
    }
    group.bench_with_input(BenchmarkId::from_parameter(name), order, |b, order| {
        b.iter(|| {
            let mut cost = WalkCost::default();
            let mut sum = 0u64;
            for vpn in order {
                sum += pt.walk(&mem, *vpn, &mut cost).map_or(0, |p| p.pfn.0);
            }
            black_box((sum, cost))
        })
    });
}

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("walk");
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    let mut rng = SplitMix(42);
    let order: Vec<Vpn> = (0..LOOKUPS)
        .map(|_| Vpn(BASE + rng.next() % PAGES))
        .collect();
    for name in [
        "x86-64",
        "x86-64-5l",
        "radix:levels=3,pobits=12",
        "flat:va_bits=40",
        "hashed",
        "hashed:collision=chain",
        "inverted",
        "ecpt",
        "reference",
    ] {
        let spec = DesignSpec::parse(name).unwrap();
        let mut mem = spec.new_mem().unwrap();
        ptbench_pagetable::with_design_config!(&spec, c => {
            let pt = c.build(&mut mem).unwrap();
            walk_all(&mut group, name, pt, mem, &order);
        });
    }
    group.finish();
}
