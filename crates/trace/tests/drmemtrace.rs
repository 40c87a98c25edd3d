//! DynamoRIO's drmemtrace traces against DynamoRIO's own expected counts: the checked-in test
//! traces of the DynamoRIO repository (`traces/drmemtrace/`, BSD licence, see its README) and
//! the numbers its tests state (`clients/drcachesim/tests/core_serial.templatex`,
//! `core_sharded_test.cpp`, `reuse_offline.expect`).

use ptbench_core::AccessKind;
use ptbench_trace::{Format, TraceReader};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../traces/drmemtrace")
}

/// (fetches, loads, stores, switches) of the accesses, and the reader's counts.
fn read(path: &Path) -> ((u64, u64, u64, u64), ptbench_trace::drmemtrace::DrCounts) {
    let (n, _, c) = read_events(path);
    (n, c)
}

/// [`read`], and the distinct threads and CPUs the `thread` and `cpu` events name.
fn read_events(
    path: &Path,
) -> (
    (u64, u64, u64, u64),
    (usize, usize),
    ptbench_trace::drmemtrace::DrCounts,
) {
    let mut r = ptbench_trace::open(path).unwrap();
    assert_eq!(r.format(), Some(Format::DrMemtrace));
    let mut buf = Vec::new();
    let mut n = (0, 0, 0, 0);
    let (mut threads, mut cpus) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    while r.read_batch(&mut buf).unwrap() > 0 {
        for a in &buf {
            match a.kind {
                AccessKind::Fetch => n.0 += 1,
                AccessKind::Read => n.1 += 1,
                AccessKind::Write => n.2 += 1,
                AccessKind::ContextSwitch => n.3 += 1,
                AccessKind::Thread => {
                    threads.insert(a.addr);
                    continue;
                }
                AccessKind::Cpu => {
                    cpus.insert(a.addr);
                    continue;
                }
                k => panic!("{k:?}"),
            }
            assert!(a.size >= 1);
        }
    }
    (
        n,
        (threads.len(), cpus.len()),
        r.drmemtrace_counts().unwrap().clone(),
    )
}

#[test]
fn threadsig_directory_gives_dynamorios_basic_counts() {
    let (n, events, c) = read_events(&dir().join("drmemtrace.threadsig.x64.tracedir"));
    assert_eq!(
        events,
        (9, c.cpus as usize),
        "a thread event for each thread"
    );
    // core_serial.templatex: 650576 fetched instructions, 126 non-fetched, 172208 loads,
    // 100150 stores, 0 prefetches, 9 threads, 3314 timestamp + cpuid markers, 21842 encodings.
    assert_eq!(n, (650_576, 172_208, 100_150, 0));
    assert_eq!(
        (
            c.instructions,
            c.non_fetched,
            c.loads,
            c.stores,
            c.prefetches,
            c.threads
        ),
        (650_576, 126, 172_208, 100_150, 0, 9)
    );
    assert_eq!(c.timestamp_cpu_markers, 3314);
    // Kernel transfers 530, system calls 480; the other markers are basic_counts' 316 "other"
    // plus its 49 function ids, 144 arguments, 25 return values and 183 blocking calls.
    assert_eq!(
        (c.kernel_markers, c.syscall_markers, c.other_markers),
        (530, 480, 316 + 49 + 144 + 25 + 183)
    );
    assert_eq!(c.encodings, 21_842);
    assert_eq!((c.processes, c.inputs, c.version), (1, 9, 7));
    assert_eq!(c.zero_size, 34);
}

#[test]
fn core_sharded_directory_holds_the_same_trace() {
    let (n, c) = read(&dir().join("drmemtrace.threadsig-core-sharded.x64.tracedir"));
    assert_eq!(n, (650_576, 172_208, 100_150, 0));
    assert_eq!((c.threads, c.non_fetched, c.inputs), (9, 126, 4));
}

#[test]
fn a_version_1_file_reads_alone() {
    // reuse_offline.expect: 173 instruction and 56 data accesses.
    let (n, c) = read(&dir().join("drmemtrace.small.x64.trace"));
    assert_eq!((n.0, n.1 + n.2), (173, 56));
    assert_eq!((c.version, c.threads), (1, 1));
}

fn rec(t: u16, s: u16, a: u64) -> Vec<u8> {
    let mut v = t.to_le_bytes().to_vec();
    v.extend_from_slice(&s.to_le_bytes());
    v.extend_from_slice(&a.to_le_bytes());
    v
}

/// A hand-written file: the header, a thread of process 7, a fetch, a load of size 0, a
/// rep-string iteration, a prefetch, a store, then what the test appends.
fn file(tail: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for r in [
        rec(25, 0, 7),
        rec(28, 12, 7),
        rec(22, 4, 100),
        rec(24, 4, 7),
        rec(28, 2, 1000),
        rec(28, 3, 5),
        rec(10, 3, 0x401000),
        rec(0, 0, 0x7000),
        rec(29, 3, 0x401000),
        rec(3, 1, 0x8000),
        rec(1, 8, 0x9000),
    ] {
        b.extend_from_slice(&r);
    }
    b.extend_from_slice(tail);
    b
}

#[test]
fn hand_written_records_decode_exactly_and_bad_ones_name_their_offset() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("t.trace");
    let mut end = rec(23, 4, 100);
    end.extend_from_slice(&rec(26, 0, 0));
    std::fs::write(&p, file(&end)).unwrap();
    let mut r = ptbench_trace::open(&p).unwrap();
    let mut buf = Vec::new();
    r.read_batch(&mut buf).unwrap();
    use ptbench_core::Access;
    assert_eq!(
        buf,
        vec![
            Access::new(AccessKind::Thread, 100, 0),
            Access::new(AccessKind::Cpu, 5, 0),
            Access::new(AccessKind::Fetch, 0x401000, 3),
            Access::new(AccessKind::Read, 0x7000, 1),
            Access::new(AccessKind::Write, 0x9000, 8),
        ]
    );
    let c = r.drmemtrace_counts().unwrap();
    assert_eq!(
        (
            c.instructions,
            c.loads,
            c.stores,
            c.zero_size,
            c.non_fetched,
            c.prefetches
        ),
        (1, 1, 1, 1, 1, 1)
    );
    // With prefetches replayed: the prefetch (type 3, at 0x8000) as a one-byte read, in place.
    let opts = ptbench_trace::ReaderOptions {
        prefetches: true,
        ..Default::default()
    };
    let mut r = ptbench_trace::open_with(&p, &opts).unwrap();
    let mut with = Vec::new();
    r.read_batch(&mut with).unwrap();
    let mut want = buf.clone();
    want.insert(4, Access::new(AccessKind::Read, 0x8000, 1));
    assert_eq!(with, want);
    assert_eq!(r.drmemtrace_counts().unwrap().prefetches, 1);
    // LZ4-compressed (as DynamoRIO's `-compress lz4` writes): the same.
    let lz = d.path().join("t.trace.lz4");
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    std::io::Write::write_all(&mut e, &file(&end)).unwrap();
    std::fs::write(&lz, e.finish().unwrap()).unwrap();
    let mut r = ptbench_trace::open(&lz).unwrap();
    let mut again = Vec::new();
    r.read_batch(&mut again).unwrap();
    assert_eq!(again, buf);
    // Gzip-compressed: the same.
    let gz = d.path().join("t.trace.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut e, &file(&end)).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    let mut r = ptbench_trace::open(&gz).unwrap();
    let mut again = Vec::new();
    r.read_batch(&mut again).unwrap();
    assert_eq!(again, buf);
    // A record of an unknown type: an error at its byte offset.
    std::fs::write(&p, file(&rec(200, 0, 0))).unwrap();
    let mut r = ptbench_trace::open(&p).unwrap();
    // The accesses before it first, then the error, then the end.
    assert_eq!(r.read_batch(&mut buf).unwrap(), 5);
    let e = r.read_batch(&mut buf).unwrap_err();
    assert_eq!(r.read_batch(&mut buf).unwrap(), 0);
    let msg = e.to_string();
    assert!(
        msg.contains("byte 132") && msg.contains("unknown record type 200"),
        "{msg}"
    );
    // A file that ends inside a record: truncated, named.
    std::fs::write(&p, file(&rec(10, 3, 0x401003)[..7])).unwrap();
    let mut r = ptbench_trace::open(&p).unwrap();
    assert_eq!(r.read_batch(&mut buf).unwrap(), 5);
    let msg = r.read_batch(&mut buf).unwrap_err().to_string();
    assert!(
        msg.contains("byte 132") && msg.contains("truncated"),
        "{msg}"
    );
    // A version DynamoRIO never wrote is not taken for a drmemtrace file.
    let mut v9 = file(&[]);
    v9[4] = 9;
    std::fs::write(&p, v9).unwrap();
    assert!(ptbench_trace::open(&p).is_err());
}
