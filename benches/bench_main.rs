//! Criterion benchmarks: `cargo bench` (all groups) or `cargo bench -- walk` (one group).

use criterion::{criterion_group, criterion_main};

mod groups;

criterion_group!(
    benches,
    groups::walk::bench,
    groups::replay::bench,
    groups::baseline::bench,
    groups::parse::bench,
    groups::tlb::bench,
    groups::cycles::bench,
    groups::nested::bench
);
criterion_main!(benches);
