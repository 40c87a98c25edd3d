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

/// An experiment of 2 generated traces x 4 designs x 2 TLBs (16 cells) that takes a few
/// seconds: long enough for a second command to start while it runs.
fn slow_experiment(dir: &Path) -> PathBuf {
    let mut text = String::from("name = \"slow\"\n");
    for i in 0..2 {
        text.push_str(&format!(
            "[[trace]]\nname = \"z{i}\"\ngen = {{ pattern = \"zipf\", accesses = \"3m\", footprint = \"256m\", seed = {i} }}\n"
        ));
    }
    for d in ["x86-64", "hashed", "ecpt", "inverted"] {
        text.push_str(&format!("[[design]]\nspec = \"{d}\"\n"));
    }
    text.push_str("[[tlb]]\nspec = \"none\"\n[[tlb]]\nspec = \"skylake\"\n");
    let p = dir.join("slow.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn spawn_ptbench(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_ptbench"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` at most `secs` seconds (killing it then and failing); its stderr and status.
fn finish(mut child: std::process::Child, secs: u64) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, err);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("ptbench did not finish within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn cells_of(results: &Path) -> Vec<String> {
    let mut cells: Vec<String> = csv_maps(std::fs::File::open(results).unwrap())
        .into_iter()
        .map(|r| r["cell"].clone())
        .collect();
    cells.sort();
    cells
}

#[test]
fn two_sweeps_into_one_out_never_lose_a_row() {
    let d = tempfile::tempdir().unwrap();
    let exp = slow_experiment(d.path());
    let out = d.path().join("out");
    let args = ["sweep", s(&exp), "--out", s(&out), "--no-report", "--force"];
    // The second starts while the first holds the directory: it stops, naming the first.
    let first = spawn_ptbench(&args);
    let lock = out.join(".ptbench.lock");
    let t = std::time::Instant::now();
    while !lock.exists() {
        assert!(
            t.elapsed().as_secs() < 60,
            "the first sweep never took its lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let first_pid = first.id();
    let (status, err) = finish(spawn_ptbench(&args), 120);
    assert_eq!(status.code(), Some(1), "{err}");
    let want = format!(
        "--out {}: another ptbench is writing there (pid {first_pid}, `",
        out.display()
    );
    assert!(err.contains(&want), "{err}");
    let (status, err) = finish(first, 300);
    assert!(status.success(), "{err}");
    let cells = cells_of(&out.join("results.csv"));
    assert_eq!(cells.len(), 16);
    assert!(cells.windows(2).all(|w| w[0] != w[1]), "duplicated rows");
    assert!(!lock.exists(), "the lock file outlived its sweep");
    // Started together, again and again: one waits its turn or is refused; no row is lost.
    for _ in 0..4 {
        let a = spawn_ptbench(&args);
        let b = spawn_ptbench(&args);
        let (sa, ea) = finish(a, 300);
        let (sb, eb) = finish(b, 300);
        assert!(sa.success() || sb.success(), "{ea}\n{eb}");
        for (st, e) in [(sa, &ea), (sb, &eb)] {
            assert!(
                st.success() || e.contains("another ptbench is writing there"),
                "{e}"
            );
        }
        assert_eq!(cells_of(&out.join("results.csv")), cells);
    }
}

#[test]
fn resume_and_force_remove_temporaries_of_killed_runs() {
    let d = tempfile::tempdir().unwrap();
    plain_lackey(&d.path().join("a.lackey"), 1000, 1);
    let exp = experiment(d.path(), "tmp", &["a.lackey"], &["x86-64"]);
    let out = d.path().join("out");
    std::fs::create_dir_all(out.join("cache")).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    for flag in ["--resume", "--force"] {
        let left = [
            out.join(format!(".ptbench-{dead}-a1b2c3.tmp")),
            out.join("cache")
                .join(format!(".ptbench-{dead}-d4e5f6.tmp")),
        ];
        for p in &left {
            std::fs::write(p, "half a trace").unwrap();
        }
        // A stale lock of the killed run is taken over, too.
        std::fs::write(out.join(".ptbench.lock"), format!("pid = {dead}\n")).unwrap();
        let o = ptbench_within(
            60,
            None,
            &["sweep", s(&exp), "--out", s(&out), "--no-report", flag],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(
            err.contains(&format!(
                "ptbench: note: removed 2 temporary files left in {} by a killed run",
                out.display()
            )),
            "{err}"
        );
        assert!(left.iter().all(|p| !p.exists()));
    }
}

#[test]
fn names_stay_names_and_foreign_files_in_out_are_kept() {
    let d = tempfile::tempdir().unwrap();
    plain_lackey(&d.path().join("a.lackey"), 1000, 1);
    // `name` leading out of reports/ is refused before anything is written.
    let evil = d.path().join("evil.toml");
    std::fs::write(
        &evil,
        "name = \"../../../x\"\n[[trace]]\npath = \"a.lackey\"\n[[design]]\nspec = \"x86-64\"\n",
    )
    .unwrap();
    let o = ptbench_within(60, Some(d.path()), &["sweep", "evil.toml"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "evil.toml: name: \"../../../x\" is not a name: it must be one path component"
        ),
        "{err}"
    );
    assert!(!d.path().join("reports").exists());
    // A user's own files in --out are refused, each, unless --force.
    let exp = experiment(d.path(), "mine", &["a.lackey"], &["x86-64"]);
    let out = d.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    for (name, text) in [
        ("experiment.toml", "# my notes, not an experiment copy\n"),
        ("sweep.toml", "my = \"settings\"\n"),
    ] {
        let mine = out.join(name);
        std::fs::write(&mine, text).unwrap();
        let o = ptbench_within(
            60,
            None,
            &["sweep", s(&exp), "--out", s(&out), "--no-report"],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "--out {}: the file exists and does not look like",
                mine.display()
            )),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&mine).unwrap(), text);
        assert!(!out.join("results.csv").exists());
        std::fs::remove_file(&mine).unwrap();
    }
    std::fs::write(out.join("experiment.toml"), "# mine\n").unwrap();
    let o = ptbench_within(
        60,
        None,
        &["sweep", s(&exp), "--out", s(&out), "--no-report", "--force"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(out.join("experiment.toml")).unwrap(),
        std::fs::read_to_string(&exp).unwrap()
    );
    // Its own files (manifest, experiment copy) are its own: a second run replaces them.
    let o = ptbench_within(
        60,
        None,
        &["sweep", s(&exp), "--out", s(&out), "--no-report", "--force"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn resume_works_from_another_directory() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("traces")).unwrap();
    std::fs::create_dir_all(d.path().join("exp")).unwrap();
    plain_lackey(&d.path().join("traces/a.lackey"), 2000, 1);
    plain_lackey(&d.path().join("traces/b.lackey"), 3000, 2);
    std::fs::write(
        d.path().join("exp/e.toml"),
        "name = \"e\"\n[[trace]]\npath = \"../traces/*.lackey\"\n[[design]]\nspec = \"x86-64\"\n[[design]]\nspec = \"hashed\"\n",
    )
    .unwrap();
    // Started from the top directory...
    let o = ptbench_within(
        60,
        Some(d.path()),
        &["sweep", "exp/e.toml", "--out", "out", "--no-report"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let results = d.path().join("out/results.csv");
    let full = std::fs::read_to_string(&results).unwrap();
    // ... interrupted after its first trace (two rows kept) ...
    let kept: String = full.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(&results, kept).unwrap();
    // ... and resumed from the experiment's directory.
    let o = ptbench_within(
        60,
        Some(&d.path().join("exp")),
        &[
            "sweep",
            "e.toml",
            "--out",
            "../out",
            "--resume",
            "--no-report",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("2 cells of 4 run in"), "{err}");
    assert!(err.contains("(2 done before)"), "{err}");
    let columns = |text: &str| -> Vec<(String, String, String)> {
        csv_maps(text.as_bytes())
            .into_iter()
            .map(|r| {
                (
                    r["cell"].clone(),
                    r["digest"].clone(),
                    r["walk_refs"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        columns(&std::fs::read_to_string(&results).unwrap()),
        columns(&full)
    );
    let rows = csv_maps(std::fs::File::open(&results).unwrap());
    let traces: Vec<&str> = rows.iter().map(|r| r["trace"].as_str()).collect();
    assert_eq!(
        traces,
        [
            "traces/a.lackey",
            "traces/a.lackey",
            "traces/b.lackey",
            "traces/b.lackey"
        ]
    );
}

#[test]
fn an_interrupted_sweep_says_what_it_kept_and_leaves_no_stale_report() {
    let d = tempfile::tempdir().unwrap();
    let exp = slow_experiment(d.path());
    let out = d.path().join("out");
    // A finished sweep with its report...
    let o = ptbench_within(300, None, &["sweep", s(&exp), "--out", s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("report.md").exists());
    let charts = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    assert!(charts > 0);
    for signal in ["INT", "TERM"] {
        // ... started over with --force and interrupted once its first trace is written.
        let child = spawn_ptbench(&["sweep", s(&exp), "--out", s(&out), "--force"]);
        let results = out.join("results.csv");
        let t = std::time::Instant::now();
        loop {
            // Rows of the new start: it rewrites the file to its header first.
            let now = std::fs::read_to_string(&results).unwrap_or_default();
            if now.lines().count() == 1 {
                break;
            }
            assert!(t.elapsed().as_secs() < 120, "the sweep never started over");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        loop {
            let now = std::fs::read_to_string(&results).unwrap_or_default();
            if now.lines().count() > 1 {
                break;
            }
            assert!(t.elapsed().as_secs() < 120, "no row was written");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let kill = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let (status, err) = finish(child, 60);
        assert!(!status.success(), "{err}");
        // The old page and charts went when the sweep started over.
        assert!(
            err.contains("ptbench: note: removed the report of the earlier results ("),
            "{err}"
        );
        assert!(!out.join("report.md").exists() && !out.join("report.html").exists());
        let svgs = std::fs::read_dir(&out)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "svg")
            })
            .count();
        assert_eq!(svgs, 0);
        // What is kept is what the note says, and --resume finishes it.
        let kept = std::fs::read_to_string(&results)
            .unwrap()
            .split_inclusive('\n')
            .skip(1)
            .filter(|l| l.ends_with('\n'))
            .count();
        let want = format!(
            "ptbench: interrupted: {kept} of 16 cells kept in {}; rerun with --resume to run the other {}",
            results.display(),
            16 - kept
        );
        assert!(err.contains(&want), "{want}\n{err}");
        let o = ptbench_within(300, None, &["sweep", s(&exp), "--out", s(&out), "--resume"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(err.contains(&format!("({kept} done before)")), "{err}");
        assert_eq!(cells_of(&results).len(), 16);
        assert!(out.join("report.md").exists());
    }
}
