//! `parse`: decoding lackey text (1 Mi lines, from a file in the page cache), plain and gzip,
//! and `inspect --no-reuse`'s pass over it; the reuse histogram's stack distances over the
//! `sort` trace's pages; and the native binary format (4 Mi records), through the reader and
//! the decoder alone.

use super::SplitMix;
use criterion::{Criterion, Throughput};
use ptbench_trace::TraceReader;
use std::io::Write;

const LINES: u64 = 1 << 20;

pub fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = Vec::new();
    let mut rng = SplitMix(3);
    for i in 0..LINES {
        let addr = 0x4000_0000 + (rng.next() % (1 << 24));
        match i % 4 {
            0 => writeln!(text, "I  {addr:08x},{}", 1 + rng.next() % 8),
            1 => writeln!(text, " L {:09x},8", addr + 0x1f_0000_0000),
            2 => writeln!(text, " S {addr:08x},4"),
            _ => writeln!(text, " M {addr:08x},4"),
        }
        .unwrap();
    }
    let plain = dir.path().join("t.lackey");
    std::fs::write(&plain, &text).unwrap();
    let gz = dir.path().join("t.lackey.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&text).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();

    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(text.len() as u64));
    for (name, path) in [("lackey", &plain), ("lackey-gzip", &gz)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut r = ptbench_trace::open(path).unwrap();
                let mut buf = Vec::new();
                let mut n = 0;
                while r.read_batch(&mut buf).unwrap() > 0 {
                    n += buf.len();
                }
                n
            })
        });
    }
    // `inspect --no-reuse`'s pass: every chunk counted on the core that parsed it.
    group.bench_function("lackey-inspect", |b| {
        b.iter(|| {
            let mut t = ptbench_trace::Trace::open(&plain).unwrap();
            let opts = ptbench_trace::inspect::InspectOptions::without_reuse();
            ptbench_trace::inspect::inspect_trace(&mut t, &opts)
                .unwrap()
                .accesses
        })
    });
    group.finish();

    // The reuse histogram's stack distances over a real trace's 4 KiB pages (`sort`, decoded
    // once), the costly part of the default `inspect`.
    let pages: Vec<u64> = super::baseline::real_trace("sort.lackey.gz")
        .iter()
        .map(|a| a.addr >> 12)
        .collect();
    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    group.throughput(Throughput::Elements(pages.len() as u64));
    group.bench_function("reuse-sort", |b| {
        b.iter(|| {
            let mut s = ptbench_trace::inspect::StackDistance::new();
            pages.iter().filter(|p| s.access(**p).is_none()).count()
        })
    });
    group.finish();

    // The native binary format: 4 Mi records decoded from the page cache, on one thread.
    let native = dir.path().join("t.ptbt");
    let mut w = ptbench_trace::NativeWriter::create(&native).unwrap();
    let mut rng = SplitMix(9);
    let records: Vec<ptbench_core::Access> = (0..(4u64 << 20))
        .map(|_| ptbench_core::Access::new(ptbench_core::AccessKind::Read, rng.next() >> 16, 8))
        .collect();
    w.write(&records).unwrap();
    w.finish().unwrap();
    let mut group = c.benchmark_group("parse");
    group.sample_size(10);
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("ptbt", |b| {
        b.iter(|| {
            let mut r = ptbench_trace::open(&native).unwrap();
            let mut buf = Vec::new();
            let mut n = 0;
            while r.read_batch(&mut buf).unwrap() > 0 {
                n += buf.len();
            }
            n
        })
    });
    // The decoder alone, on the same records held in memory, in batches as the reader hands
    // them out: the record-by-record reference beside the fast path, in one run.
    let bytes = std::fs::read(&native).unwrap();
    let body = &bytes[ptbench_trace::native::HEADER_BYTES..];
    type Decoder = fn(&[u8], &mut Vec<ptbench_core::Access>) -> Result<(), (usize, String)>;
    let decoders: [(&str, Decoder); 2] = [
        ("ptbt-decode", ptbench_trace::native::decode),
        ("ptbt-decode-each", ptbench_trace::native::decode_each),
    ];
    for (name, decode) in decoders {
        group.bench_function(name, |b| {
            let mut buf = Vec::with_capacity(ptbench_trace::BATCH);
            b.iter(|| {
                let mut n = 0;
                for batch in body.chunks(ptbench_trace::BATCH * ptbench_trace::native::RECORD_BYTES)
                {
                    buf.clear();
                    decode(batch, &mut buf).unwrap();
                    n += buf.len();
                }
                n
            })
        });
    }
    group.finish();
}
