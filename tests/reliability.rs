//! The defects a hostile probe found (issue 19) that belong to running and sweeping: no hang
//! with more plain traces than jobs, one sweep at a time per output directory, names that stay
//! names, no file ptbench did not write replaced without `--force`, temporary files of dead
//! processes cleaned, `--resume` from any directory, experiments too large refused up front.
//! Every command runs under a harness timeout ([`common::ptbench_within`]).

use std::path::{Path, PathBuf};

mod common;
use common::{csv_maps, ptbench_within};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A plain lackey trace of `lines` loads over 64 pages, about 17 bytes a line: large enough
/// (> 256 KiB) that the reader cuts it into several chunks parsed in parallel.
fn plain_lackey(path: &Path, lines: usize, seed: u64) {
    let mut text = String::with_capacity(lines * 18);
    for i in 0..lines as u64 {
        let page = (i.wrapping_mul(7).wrapping_add(seed)) % 64;
        text.push_str(&format!(
            " L {:x},8\n",
            0x40_0000 + page * 4096 + (i % 512) * 8
        ));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn more_plain_traces_than_jobs_do_not_deadlock() {
    let d = tempfile::tempdir().unwrap();
    let traces: Vec<PathBuf> = (0..5)
        .map(|i| {
            let p = d.path().join(format!("t{i}.lackey"));
            plain_lackey(&p, 60_000 + i * 1000, i as u64);
            p
        })
        .collect();
    for (jobs, n) in [(1, 2), (2, 2), (2, 5), (3, 4)] {
        let csv = d.path().join(format!("j{jobs}-{n}.csv"));
        let mut args: Vec<String> = ["run", "-j", &jobs.to_string(), "-d", "x86-64", "-d"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        args.extend(["hashed".into(), "--csv".into(), s(&csv).into()]);
        args.extend(traces[..n].iter().map(|p| s(p).to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ptbench_within(60, None, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = csv_maps(std::fs::File::open(&csv).unwrap());
        assert_eq!(rows.len(), 2 * n, "-j {jobs} with {n} traces");
        for (i, r) in rows.iter().enumerate() {
            // Every load is one translation of one 8-byte access within a page.
            assert_eq!(
                r["translations"],
                (60_000 + (i / 2) * 1000).to_string(),
                "{r:?}"
            );
        }
    }
}

/// An experiment over `traces` (paths relative to the experiment file) with the given designs.
fn experiment(dir: &Path, name: &str, traces: &[&str], designs: &[&str]) -> PathBuf {
    let mut text = format!("name = \"{name}\"\n");
    for t in traces {
        text.push_str(&format!("[[trace]]\npath = \"{t}\"\n"));
    }
    for d in designs {
        text.push_str(&format!("[[design]]\nspec = \"{d}\"\n"));
    }
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_sweep_over_more_plain_traces_than_jobs_finishes() {
    let d = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..8).map(|i| format!("p{i}.lackey")).collect();
    for (i, n) in names.iter().enumerate() {
        plain_lackey(&d.path().join(n), 40_000, i as u64);
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let exp = experiment(d.path(), "plain", &refs, &["x86-64", "ecpt"]);
    let out_dir = d.path().join("out");
    let out = ptbench_within(
        120,
        None,
        &[
            "sweep",
            s(&exp),
            "--out",
            s(&out_dir),
            "--jobs",
            "2",
            "--no-report",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = csv_maps(std::fs::File::open(out_dir.join("results.csv")).unwrap());
    assert_eq!(rows.len(), 16);
    assert!(
        rows.iter().all(|r| r["translations"] == "40000"),
        "{rows:?}"
    );
}
