//! The OS model through `ptbench run`: segmentation and protection faults from a trace with
//! mmap/mprotect events in ptbench's text format, what `--on-violation stop` says, watched pages,
//! and the CSV columns of a memory limit.

use std::collections::HashMap;

mod common;
use common::ptbench;

/// The CSV rows of `ptbench run --csv - ARGS`, as column -> value maps.
fn rows(args: &[&str]) -> Vec<HashMap<String, String>> {
    let mut all = vec!["run", "-q", "--csv", "-"];
    all.extend_from_slice(args);
    let out = ptbench(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    common::csv_maps(&out.stdout[..])
}

fn n(row: &HashMap<String, String>, col: &str) -> u64 {
    row[col].parse().unwrap()
}

const REGIONS: &str = "ptbench-trace v1
mmap 0 400000 4 r-x
mmap 0 600000 2 rw-
I 400010 4
R 400100 8
W 400200 8
W 600000 8
R 601000 8
mprotect 0 601000 1 r--
W 601008 8
R 700000 8
I 600010 4
munmap 0 600000 1
R 600000 8
W 601010 8
";

#[test]
fn segv_and_protection_faults_from_region_events() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("regions.txt");
    std::fs::write(&t, REGIONS).unwrap();
    let designs = [
        "x86-64",
        "hashed",
        "inverted",
        "ecpt",
        "flat:va_bits=40",
        "reference",
    ];
    let mut args: Vec<&str> = designs.iter().flat_map(|d| ["-d", *d]).collect();
    args.push(t.to_str().unwrap());
    let rows = rows(&args);
    assert_eq!(rows.len(), designs.len());
    for r in &rows {
        let what = &r["design"];
        // Minor faults: 400 (fetch), 600, 601 (read).
        assert_eq!(n(r, "minor_faults"), 3, "{what}");
        // Protection: a write to r-x text (line 6), a write to the page made read-only (line 10),
        // a fetch from rw- data (line 12), and another write to the read-only page (line 15).
        assert_eq!(n(r, "protection_faults"), 4, "{what}");
        // Segmentation: 700000 (no region) and 600000 after munmap.
        assert_eq!(n(r, "segv"), 2, "{what}");
        assert_eq!(n(r, "page_faults"), 9, "{what}");
        assert_eq!(n(r, "events"), 4, "{what}");
        assert_eq!(r["digest"], rows[0]["digest"], "{what}");
    }
}

#[test]
fn on_violation_stop_names_the_access() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("regions.txt");
    std::fs::write(&t, REGIONS).unwrap();
    let out = ptbench(&[
        "run",
        "-d",
        "x86-64",
        "--on-violation",
        "stop",
        t.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("regions.txt:6:"), "{err}");
    assert!(err.contains("protection fault: write"), "{err}");
}

#[test]
fn watched_variable_counts_true_and_false_hits_for_every_page_size() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("watch.txt");
    // The watched 8 bytes at 0x10_0000_0040; writes to them, beside them on the same 4 KiB page,
    // and on the next 4 KiB page (same 2 MiB page).
    std::fs::write(
        &t,
        "ptbench-trace v1\nW 1000000040 8\nW 1000000048 8\nR 1000000040 8\nW 1000000044 2\n\
         W 1000001000 8\nW 1000000000 8\n",
    )
    .unwrap();
    let t = t.to_str().unwrap();
    let base = rows(&["-d", "x86-64", "--watch", "0x1000000040:8", t]);
    assert_eq!(n(&base[0], "watch_hits"), 2);
    assert_eq!(n(&base[0], "watch_false_faults"), 2);
    let huge = rows(&[
        "-d",
        "x86-64",
        "--huge",
        "2m",
        "--watch",
        "0x1000000040:8",
        t,
    ]);
    assert_eq!(n(&huge[0], "watch_hits"), 2);
    assert_eq!(n(&huge[0], "watch_false_faults"), 3);
}

#[test]
fn memory_limit_columns_and_settings() {
    let trace = concat!(env!("CARGO_MANIFEST_DIR"), "/traces/listwalk.lackey.gz");
    let r = rows(&[
        "-d", "x86-64", "-d", "hashed", "--frames", "32", "--policy", "clock", trace,
    ]);
    for row in &r {
        assert_eq!(row["frames"], "32");
        assert_eq!(row["policy"], "clock");
        assert_eq!(row["first_touch"], "zero");
        assert_eq!(row["os"], "frames=32,policy=clock,first_touch=zero");
        assert_eq!(n(row, "resident_frames_peak"), 32);
        assert!(n(row, "evictions") > 0);
        assert_eq!(
            n(row, "page_faults"),
            n(row, "minor_faults") + n(row, "major_faults")
        );
        assert_eq!(n(row, "disk_reads"), n(row, "major_faults"));
        assert_eq!(n(row, "disk_writes"), n(row, "dirty_evictions"));
        assert_eq!(row["digest"], r[0]["digest"]);
    }
    // Without a limit: every fault is minor, nothing moves.
    let r = rows(&["-d", "x86-64", trace]);
    assert_eq!(n(&r[0], "minor_faults"), n(&r[0], "page_faults"));
    assert_eq!(n(&r[0], "evictions") + n(&r[0], "disk_reads"), 0);
    assert_eq!(r[0]["frames"], "0");
}

/// A file-backed region (`rw-f`) and an anonymous one, under a two-frame LRU limit.
const FILES: &str = "ptbench-trace v1
mmap 0 400000 4 rw-f
mmap 0 800000 4 rw-
R 400000 8
W 401000 8
R 402000 8
R 403000 8
R 400000 8
R 800000 8
";

#[test]
fn file_backed_regions_read_and_write_their_file() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("files.txt");
    std::fs::write(&t, FILES).unwrap();
    let designs = ["x86-64", "hashed", "inverted", "ecpt", "reference"];
    let mut args: Vec<&str> = designs.iter().flat_map(|d| ["-d", *d]).collect();
    args.extend(["--frames", "2", "--policy", "lru", t.to_str().unwrap()]);
    let rows = rows(&args);
    assert_eq!(rows.len(), designs.len());
    for row in &rows {
        let what = &row["design"];
        // Five file pages read from the file (page 0 twice: its clean eviction dropped it),
        // one anonymous first touch; the dirty file page written back, no swap.
        assert_eq!(n(row, "major_faults"), 5, "{what}");
        assert_eq!(n(row, "minor_faults"), 1, "{what}");
        assert_eq!(n(row, "disk_reads"), 5, "{what}");
        assert_eq!(n(row, "disk_writes"), 1, "{what}");
        assert_eq!(n(row, "dirty_evictions"), 1, "{what}");
        assert_eq!(n(row, "evictions"), 4, "{what}");
        assert_eq!(n(row, "swap_peak"), 0, "{what}");
        assert_eq!(n(row, "page_faults"), 6, "{what}");
    }
}

#[test]
fn file_flags_round_trip_through_the_text_and_binary_formats() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("files.txt");
    std::fs::write(&t, FILES).unwrap();
    let bin = d.path().join("files.ptbt");
    let back = d.path().join("back.txt");
    for (from, to) in [(&t, &bin), (&bin, &back)] {
        let out = ptbench(&[
            "convert",
            from.to_str().unwrap(),
            "-o",
            to.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&back).unwrap();
    assert!(text.contains("mmap 0 400000 4 rw-f\n"), "{text}");
    assert!(text.contains("mmap 0 800000 4 rw-\n"), "{text}");
    // Only mmap takes the file letter.
    let bad = d.path().join("bad.txt");
    std::fs::write(&bad, "ptbench-trace v1\nmprotect 0 400000 1 r--f\n").unwrap();
    let out = ptbench(&["run", "-d", "x86-64", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected permissions like r-x"), "{err}");
}
