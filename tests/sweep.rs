//! `ptbench sweep`, `merge` and `report` end to end: results independent of the thread count, of
//! the memory limit and of shared front ends, an interrupted sweep resumed to the same results, shards merged to the unsharded sweep, and
//! merge refusing incomplete or mixed sets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::ptbench;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An experiment of generated traces (sizes in accesses) and 8 or more configurations.
fn experiment(dir: &Path, sizes: &[u64]) -> PathBuf {
    let mut t = String::from("name = \"t\"\n");
    for (i, n) in sizes.iter().enumerate() {
        t.push_str(&format!(
            "[[trace]]\nname = \"z{i}\"\ngen = {{ pattern = \"zipf\", accesses = {n}, footprint = \"256m\", seed = {i} }}\n"
        ));
    }
    t.push_str(
        r#"
[[design]]
spec = "x86-64"
[[design]]
spec = "hashed"
bucket = [1, 4]
[[design]]
spec = "ecpt"
[[tlb]]
spec = "none"
[[tlb]]
spec = "repl=lru"
l1 = ["16x4", "64x4"]
"#,
    );
    let p = dir.join("exp.toml");
    std::fs::write(&p, t).unwrap();
    p
}

/// The results rows without the timing columns, as text lines.
fn untimed(path: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    let skip: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| matches!(*h, "wall_seconds" | "accesses_per_second"))
        .map(|(i, _)| i)
        .collect();
    r.records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .enumerate()
                .filter(|(i, _)| !skip.contains(i))
                .map(|(_, v)| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn results_are_the_same_for_any_number_of_threads() {
    let d = tempfile::tempdir().unwrap();
    let e = experiment(d.path(), &[20_000, 30_000]);
    let (a, b) = (d.path().join("j1"), d.path().join("j2"));
    ok(&ptbench(&[
        "sweep",
        s(&e),
        "--out",
        s(&a),
        "--jobs",
        "1",
        "--no-report",
    ]));
    ok(&ptbench(&[
        "sweep",
        s(&e),
        "--out",
        s(&b),
        "--jobs",
        "2",
        "--no-report",
    ]));
    let (ra, rb) = (
        untimed(&a.join("results.csv")),
        untimed(&b.join("results.csv")),
    );
    // 2 traces x 4 designs x 3 TLBs.
    assert_eq!(ra.len(), 24);
    assert_eq!(ra, rb);
}

/// Waves (a memory limit so small that every group of cells runs alone, reading the trace once
/// per group) and shared front ends change no result.
#[test]
fn results_are_the_same_for_any_memory_limit_and_without_shared_front_ends() {
    let d = tempfile::tempdir().unwrap();
    let e = experiment(d.path(), &[20_000, 30_000]);
    let runs = [
        ("all", vec!["--memory-limit", "1g"]),
        ("waves", vec!["--memory-limit", "1k"]),
        ("alone", vec!["--no-shared-front-end"]),
    ];
    let mut results = Vec::new();
    for (name, extra) in &runs {
        let out = d.path().join(name);
        let mut args = vec![
            "sweep",
            s(&e),
            "--out",
            s(&out),
            "--jobs",
            "2",
            "--no-report",
        ];
        args.extend(extra.iter().copied());
        ok(&ptbench(&args));
        results.push(untimed(&out.join("results.csv")));
    }
    assert_eq!(results[0].len(), 24);
    assert_eq!(results[0], results[1], "one wave against a wave per group");
    assert_eq!(results[0], results[2], "shared front ends against none");
}

/// Starts `sweep EXPERIMENT --out OUT --jobs 1 --no-report EXTRA`, kills it (SIGKILL) once
/// `OUT/results.csv` holds `rows` rows, and returns that file's path.
fn kill_after_rows(e: &Path, out: &Path, extra: &[&str], rows: usize) -> PathBuf {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ptbench"))
        .args(["sweep", s(e), "--out", s(out), "--jobs", "1", "--no-report"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let results = out.join("results.csv");
    let start = Instant::now();
    loop {
        let written = std::fs::read_to_string(&results)
            .map(|t| t.lines().count().saturating_sub(1))
            .unwrap_or(0);
        if written >= rows {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before it could be killed"
        );
        assert!(start.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    results
}

/// A trace's cells run in waves (here one share group each): a sweep killed in the middle of a
/// trace keeps the rows of its finished waves, and the resumed sweep runs only the other cells.
#[test]
fn a_sweep_killed_between_waves_keeps_the_finished_waves() {
    let d = tempfile::tempdir().unwrap();
    let e = experiment(d.path(), &[20_000_000]);
    let cut = d.path().join("cut");
    let results = kill_after_rows(&e, &cut, &["--memory-limit", "1k"], 1);
    let kept = untimed(&results).len();
    assert!((1..12).contains(&kept), "{kept} of 12 rows kept");
    let out = ptbench(&["sweep", s(&e), "--out", s(&cut), "--resume", "--no-report"]);
    ok(&out);
    let ran = format!("{} cells of 12 run", 12 - kept);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&ran),
        "{ran}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(untimed(&results).len(), 12);
}

#[test]
fn a_killed_sweep_resumes_to_the_same_results() {
    let d = tempfile::tempdir().unwrap();
    // Small traces first, then one long enough to be killed in.
    let e = experiment(d.path(), &[10_000, 20_000, 30_000, 40_000_000]);
    let whole = d.path().join("whole");
    let cut = d.path().join("cut");
    // Wait for the three small traces' rows (3 x 12), then kill it mid-way through the last.
    let results = kill_after_rows(&e, &cut, &[], 36);
    let partial = untimed(&results);
    assert_eq!(
        partial.len(),
        36,
        "the finished traces' rows are kept whole"
    );
    // Rerunning without --resume refuses to throw them away.
    let out = ptbench(&["sweep", s(&e), "--out", s(&cut), "--no-report"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    let out = ptbench(&["sweep", s(&e), "--out", s(&cut), "--resume", "--no-report"]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("12 cells of 48 run"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(&ptbench(&[
        "sweep",
        s(&e),
        "--out",
        s(&whole),
        "--no-report",
    ]));
    let (a, b) = (untimed(&results), untimed(&whole.join("results.csv")));
    assert_eq!(a.len(), 48);
    let mut sa = a.clone();
    let mut sb = b.clone();
    sa.sort();
    sb.sort();
    assert_eq!(
        sa, sb,
        "the resumed sweep has the uninterrupted sweep's rows"
    );
}

#[test]
fn shards_merge_to_the_unsharded_sweep_and_incomplete_sets_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let e = experiment(d.path(), &[10_000, 50_000, 20_000]);
    let whole = d.path().join("whole");
    ok(&ptbench(&[
        "sweep",
        s(&e),
        "--out",
        s(&whole),
        "--no-report",
    ]));
    let parts: Vec<PathBuf> = (0..3).map(|i| d.path().join(format!("part{i}"))).collect();
    for (i, p) in parts.iter().enumerate() {
        ok(&ptbench(&[
            "sweep",
            s(&e),
            "--out",
            s(p),
            "--shard",
            &format!("{i}/3"),
            "--no-report",
        ]));
    }
    // Every shard has work, and no cell is in two.
    let counts: Vec<usize> = parts
        .iter()
        .map(|p| untimed(&p.join("results.csv")).len())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 36, "{counts:?}");
    assert!(counts.iter().all(|c| *c > 0), "{counts:?}");
    let merged = d.path().join("merged");
    let out = ptbench(&[
        "merge",
        s(&parts[0]),
        s(&parts[1]),
        s(&parts[2]),
        "--out",
        s(&merged),
    ]);
    ok(&out);
    assert_eq!(
        untimed(&merged.join("results.csv")),
        untimed(&whole.join("results.csv")),
        "merged shards equal the unsharded sweep, in the same order"
    );
    assert!(merged.join("report.html").exists());
    // A missing shard is named.
    let out = ptbench(&[
        "merge",
        s(&parts[0]),
        s(&parts[2]),
        "--out",
        s(&d.path().join("m2")),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("missing shards: 1/3"), "{err}");
    // A shard with a lost row is named, with its cells.
    let text = std::fs::read_to_string(parts[1].join("results.csv")).unwrap();
    let cut: Vec<&str> = text.lines().collect();
    std::fs::write(
        parts[1].join("results.csv"),
        cut[..cut.len() - 1].join("\n") + "\n",
    )
    .unwrap();
    let out = ptbench(&[
        "merge",
        s(&parts[0]),
        s(&parts[1]),
        s(&parts[2]),
        "--out",
        s(&d.path().join("m3")),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("shard 1/3") && err.contains("lacks 1 of its"),
        "{err}"
    );
    // A shard of another experiment is a mixed set.
    let e2 = experiment(d.path(), &[10_000]);
    let other = d.path().join("other");
    ok(&ptbench(&[
        "sweep",
        s(&e2),
        "--out",
        s(&other),
        "--shard",
        "1/3",
        "--no-report",
    ]));
    let out = ptbench(&[
        "merge",
        s(&parts[0]),
        s(&other),
        s(&parts[2]),
        "--out",
        s(&d.path().join("m4")),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("mixed set"), "{err}");
}

#[test]
fn report_draws_every_chart_the_results_support() {
    let d = tempfile::tempdir().unwrap();
    let e = experiment(d.path(), &[10_000, 20_000]);
    let out_dir = d.path().join("r");
    let out = ptbench(&["sweep", s(&e), "--out", s(&out_dir)]);
    ok(&out);
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    // refs/xlat without TLB, the two TLB sizes as one sweep (references and miss rate), table
    // size, the CDFs (a panel per trace).
    assert_eq!(html.matches("<figure class=\"chart\"").count(), 5, "{html}");
    assert!(
        html.contains("not drawn"),
        "the faults chart is skipped with a note"
    );
    for name in ["refs_per_translation", "table_bytes", "tlb_miss_rate"] {
        let png = std::fs::read(out_dir.join(format!("{name}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        assert!(png.len() > 10_000, "{name}.png is not blank");
    }
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(md.contains("![Page-table size against footprint](table_bytes.png)"));
    // `ptbench report` remakes them from the results alone.
    let again = d.path().join("again");
    ok(&ptbench(&[
        "report",
        s(&out_dir.join("results.csv")),
        "--out",
        s(&again),
    ]));
    assert!(again.join("table_bytes.svg").exists());
}
