//! DynamoRIO's drmemtrace traces from the command line: `inspect` prints DynamoRIO's basic
//! counts for its checked-in test directory (`traces/drmemtrace/`), and `run` replays a
//! directory as one trace, every design translating alike.

mod common;

fn traces() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/drmemtrace")
}

#[test]
fn inspect_prints_dynamorios_basic_counts() {
    let dir = traces().join("drmemtrace.threadsig.x64.tracedir");
    let out = common::ptbench(&["inspect", "--no-reuse", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "(drmemtrace)",
        "accesses          922,934 (reads 172,208, writes 100,150, fetches 650,576)",
        "drmemtrace      version 7, 9 input files, 1 process, 9 threads, 11 CPUs named",
        "  records       650,576 fetched instructions, 172,208 loads, 100,150 stores (34 of size 0, translated at their first byte)",
        "  skipped       126 non-fetched instructions (rep-string iterations), 0 prefetches, 0 flushes, 21,842 encodings",
        "  markers       3,314 timestamp and CPU, 530 kernel transfer, 480 system call, 717 other",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
}

#[test]
fn run_replays_a_directory_and_its_core_sharded_twin() {
    let mut digests = Vec::new();
    for d in [
        "drmemtrace.threadsig.x64.tracedir",
        "drmemtrace.threadsig-core-sharded.x64.tracedir",
    ] {
        let p = traces().join(d);
        let out = common::ptbench(&[
            "run",
            "-q",
            "--csv",
            "-",
            "-d",
            "x86-64",
            "-d",
            "hashed",
            "-d",
            "ecpt",
            "--tlb",
            "skylake",
            p.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = common::csv_maps(&out.stdout[..]);
        assert_eq!(rows.len(), 3);
        for r in &rows {
            assert_eq!(r["trace_format"], "drmemtrace");
            assert_eq!(r["accesses"], "922934");
            assert_eq!(
                r["digest"], rows[0]["digest"],
                "every design translates alike"
            );
        }
        digests.push(rows[0]["digest"].clone());
    }
}
