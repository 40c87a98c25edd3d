//! Threads on cores from the command line: a scripted munmap by one of three threads interrupts
//! two cores (`--shootdown precise`) or all others (`broadcast`); DynamoRIO's 9-thread trace
//! on 1 to 8 cores translates alike, gives the same results for any `-j`, and under broadcast
//! shootdowns interrupts every other core once per eviction; a core-sharded trace's cores each
//! replay what their file holds (`--per-core`).

mod common;

use common::{csv_maps, ptbench};
use std::collections::HashMap;

fn traces() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/drmemtrace")
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn n(row: &HashMap<String, String>, col: &str) -> u64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col}: {}", row[col]))
}

/// Three threads of one process: thread 1 on CPU 0 writes two pages, thread 2 on CPU 1 reads
/// one, thread 3 on CPU 2 the other; thread 1, on CPU 0 again, unmaps the region.
const THREE: &str = "ptbench-trace v1
mmap 0 600000 4 rw-
thread 0 1
cpu 0
W 600000 8
W 601000 8
thread 0 2
cpu 1
R 600000 8
thread 0 3
cpu 2
R 601000 8
thread 0 1
cpu 0
munmap 0 600000 4
";

#[test]
fn a_munmap_on_core_0_interrupts_the_two_cores_that_ran_the_process() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("three threads.txt");
    std::fs::write(&t, THREE).unwrap();
    let per_core = d.path().join("per core.csv");
    for (policy, ipis) in [("precise", [2, 2, 2]), ("broadcast", [2, 3, 7])] {
        let out = ptbench(&[
            "run",
            "-q",
            "--csv",
            "-",
            "--cores",
            "3,4,8",
            "--shootdown",
            policy,
            "--tlb",
            "skylake",
            "-d",
            "x86-64",
            "-d",
            "hashed",
            "--per-core",
            per_core.to_str().unwrap(),
            t.to_str().unwrap(),
        ]);
        ok(&out);
        let rows = csv_maps(&out.stdout[..]);
        assert_eq!(rows.len(), 6);
        for r in &rows {
            let cores = n(r, "cores");
            let i = [3, 4, 8].iter().position(|&c| c == cores).unwrap();
            let what = format!("{} on {cores} cores, {policy}", r["design"]);
            assert_eq!(r["shootdown"], policy, "{what}");
            assert_eq!(n(r, "threads"), 3, "{what}");
            assert_eq!(n(r, "shootdown_events"), 1, "{what}");
            assert_eq!(n(r, "shootdown_ipis"), ipis[i], "{what}");
            // The two pages the threads touched, on every interrupted core.
            assert_eq!(n(r, "remote_invalidations"), 2 * ipis[i], "{what}");
            // Each core missed on the pages it touched: core 0 two, cores 1 and 2 one each.
            assert_eq!(n(r, "tlb_misses"), 4, "{what}");
            assert_eq!(r["digest"], rows[0]["digest"], "{what}");
        }
        let cores = csv_maps(std::fs::File::open(&per_core).unwrap());
        assert_eq!(cores.len(), 2 * (3 + 4 + 8));
        for c in cores.iter().filter(|c| c["cores"] == "8") {
            let core = n(c, "core");
            let want_ipis = match (policy, core) {
                (_, 0) => 0,
                ("precise", 1 | 2) | ("broadcast", _) => 1,
                _ => 0,
            };
            assert_eq!(n(c, "shootdown_ipis"), want_ipis, "core {core}, {policy}");
            let (threads, accesses, misses) = match core {
                0 => (1, 2, 2),
                1 | 2 => (1, 1, 1),
                _ => (0, 0, 0),
            };
            assert_eq!(n(c, "threads"), threads, "core {core}");
            assert_eq!(n(c, "accesses"), accesses, "core {core}");
            assert_eq!(n(c, "tlb_misses"), misses, "core {core}");
        }
    }
}

/// Every column but the wall time.
fn without_time(rows: Vec<HashMap<String, String>>) -> Vec<Vec<(String, String)>> {
    rows.into_iter()
        .map(|r| {
            let mut v: Vec<(String, String)> = r
                .into_iter()
                .filter(|(k, _)| k != "wall_seconds" && k != "accesses_per_second")
                .collect();
            v.sort();
            v
        })
        .collect()
}

#[test]
fn dynamorios_threads_on_1_to_8_cores_translate_alike_for_any_jobs() {
    let dir = traces().join("drmemtrace.threadsig.x64.tracedir");
    let run = |jobs: &str, policy: &str| {
        let out = ptbench(&[
            "run",
            "-q",
            "--csv",
            "-",
            "-j",
            jobs,
            "--cores",
            "1,2,4,8",
            "--shootdown",
            policy,
            "--frames",
            "128",
            "--tlb",
            "skylake",
            "-d",
            "x86-64",
            "-d",
            "hashed",
            "-d",
            "inverted",
            dir.to_str().unwrap(),
        ]);
        ok(&out);
        csv_maps(&out.stdout[..])
    };
    let rows = run("1", "broadcast");
    assert_eq!(rows.len(), 12);
    let mut misses = HashMap::new();
    for r in &rows {
        let cores = n(r, "cores");
        let what = format!("{} on {cores} cores", r["design"]);
        assert_eq!(r["digest"], rows[0]["digest"], "{what}");
        assert_eq!(n(r, "threads"), 9, "{what}");
        assert_eq!(n(r, "evictions"), n(&rows[0], "evictions"), "{what}");
        // Broadcast: every eviction interrupts every other core, which invalidates its page.
        let evictions = n(r, "evictions");
        assert!(evictions > 100, "{what}");
        let (events, others) = if cores == 1 {
            (0, 0)
        } else {
            (evictions, cores - 1)
        };
        assert_eq!(n(r, "shootdown_events"), events, "{what}");
        assert_eq!(n(r, "shootdown_ipis"), events * others, "{what}");
        assert_eq!(n(r, "remote_invalidations"), events * others, "{what}");
        // Every design's TLBs miss alike.
        let m = *misses.entry(cores).or_insert(n(r, "tlb_misses"));
        assert_eq!(n(r, "tlb_misses"), m, "{what}");
    }
    // More cores, more TLBs to fill.
    assert!(misses[&1] < misses[&2] && misses[&2] < misses[&4] && misses[&4] < misses[&8]);
    assert_eq!(without_time(run("3", "broadcast")), without_time(rows));
    // Precise: never more than broadcast; here every core ran the process before long.
    let precise = run("2", "precise");
    for r in &precise {
        assert_eq!(r["digest"], precise[0]["digest"]);
        assert!(n(r, "shootdown_ipis") <= n(r, "evictions") * (n(r, "cores") - 1));
    }
    // Round-robin every 10,000 records: the same translations, threads on other cores.
    let out = ptbench(&[
        "run",
        "-q",
        "--csv",
        "-",
        "--cores",
        "4",
        "--quantum",
        "10000",
        "--tlb",
        "skylake",
        "-d",
        "x86-64",
        dir.to_str().unwrap(),
    ]);
    ok(&out);
    let q = csv_maps(&out.stdout[..]);
    assert_eq!(q[0]["quantum"], "10000");
    let one = ptbench(&[
        "run",
        "-q",
        "--csv",
        "-",
        "--tlb",
        "skylake",
        "-d",
        "x86-64",
        dir.to_str().unwrap(),
    ]);
    ok(&one);
    let one = csv_maps(&one.stdout[..]);
    assert_eq!(q[0]["digest"], one[0]["digest"]);
    assert!(n(&q[0], "tlb_misses") > n(&one[0], "tlb_misses"));
}

#[test]
fn a_core_sharded_traces_cores_replay_their_own_files() {
    let dir = traces().join("drmemtrace.threadsig-core-sharded.x64.tracedir");
    let d = tempfile::tempdir().unwrap();
    let per_core = d.path().join("cores.csv");
    let out = ptbench(&[
        "run",
        "-q",
        "--csv",
        "-",
        "--cores",
        "4",
        "--tlb",
        "skylake",
        "-d",
        "x86-64",
        "--per-core",
        per_core.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    ok(&out);
    let cores = csv_maps(std::fs::File::open(&per_core).unwrap());
    assert_eq!(cores.len(), 4);
    let mut sum = 0;
    for c in &cores {
        let k = n(c, "core");
        let file = dir.join(format!("drmemtrace.core.{k:06}.trace.zip"));
        let out = ptbench(&["inspect", "--no-reuse", file.to_str().unwrap()]);
        ok(&out);
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("accesses "))
            .unwrap_or_else(|| panic!("{text}"));
        let accesses: u64 = line
            .split_whitespace()
            .nth(1)
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap();
        assert_eq!(n(c, "accesses"), accesses, "core {k}");
        sum += n(c, "tlb_misses");
    }
    let rows = csv_maps(&out.stdout[..]);
    assert_eq!(n(&rows[0], "tlb_misses"), sum);
    assert_eq!(n(&rows[0], "accesses"), 922_934);
}
