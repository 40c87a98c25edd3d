//! `ptbench sweep --emit-slurm`: the three Slurm scripts it writes (array size, the per-task shard
//! line, quoting of paths, partition/time/mem lines), and clear errors; no Slurm needed (the
//! scripts run on a real Slurm in scripts/test-slurm-sweep.sh).

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::ptbench;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An experiment of 2 generated traces x 3 designs x 2 TLBs = 12 cells.
fn experiment(dir: &Path) -> PathBuf {
    let mut t = String::from("name = \"slurm-test\"\n");
    for (i, n) in [4000u64, 1000].iter().enumerate() {
        t.push_str(&format!(
            "[[trace]]\nname = \"z{i}\"\ngen = {{ pattern = \"zipf\", accesses = {n}, footprint = \"64m\", seed = {i} }}\n"
        ));
    }
    t.push_str(
        r#"
[[design]]
spec = "x86-64"
[[design]]
spec = "hashed"
[[design]]
spec = "ecpt"
[[tlb]]
spec = "none"
[[tlb]]
spec = "repl=lru"
l1 = ["16x4"]
"#,
    );
    let p = dir.join("exp.toml");
    std::fs::write(&p, t).unwrap();
    p
}

/// `'text'` with `'` written as `'\''`, as the scripts hold paths.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[test]
fn emit_slurm_writes_the_three_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    // A folder with a space, a quote and a percent sign, to check the quoting.
    let dir = tmp.path().join("it's a run 100%");
    std::fs::create_dir_all(&dir).unwrap();
    let exp = experiment(&dir);
    let slurm = dir.join("slurm out");
    let out = ok(&ptbench(&[
        "sweep",
        s(&exp),
        "--emit-slurm",
        s(&slurm),
        "--shards",
        "3",
        "--partition",
        "debug",
        "--time",
        "0:30:00",
        "--mem",
        "2G",
    ]));
    let slurm = slurm.canonicalize().unwrap();
    let exp = exp.canonicalize().unwrap();
    for name in ["array.sbatch", "merge.sbatch", "submit.sh"] {
        assert!(slurm.join(name).is_file(), "{name} written");
        assert!(out.contains(s(&slurm.join(name))), "{name} named: {out}");
    }
    let array = std::fs::read_to_string(slurm.join("array.sbatch")).unwrap();
    let lines: Vec<&str> = array.lines().collect();
    for want in [
        "#SBATCH --array=0-2",
        "#SBATCH --partition=debug",
        "#SBATCH --time=0:30:00",
        "#SBATCH --mem=2G",
        "#SBATCH --job-name=ptbench-slurm-test",
        "SHARDS=3",
        r#"exec "$PTBENCH" sweep "$EXPERIMENT" --out "$OUT/shard-$I" --shard "$I/$SHARDS" --resume"#,
    ] {
        assert!(lines.contains(&want), "{want:?} in:\n{array}");
    }
    assert!(
        lines.contains(
            &r#"I="${SLURM_ARRAY_TASK_ID:?not a task of a Slurm job array: submit with sbatch}""#
        ),
        "{array}"
    );
    // Paths are absolute and single-quoted; the binary is this ptbench.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ptbench"))
        .canonicalize()
        .unwrap();
    let want_bin = format!("PTBENCH={}", quoted(s(&bin)));
    let want_exp = format!("EXPERIMENT={}", quoted(s(&exp)));
    let want_out = format!("OUT={}", quoted(s(&slurm)));
    for want in [&want_bin, &want_exp, &want_out] {
        assert!(lines.contains(&want.as_str()), "{want} in:\n{array}");
    }
    assert!(want_exp.contains(r"it'\''s a run 100%"), "{want_exp}");
    // The log path in #SBATCH: double-quoted, % doubled.
    let log = format!(
        "#SBATCH --output=\"{}/logs/shard-%a.out\"",
        s(&slurm).replace('%', "%%")
    );
    assert!(lines.contains(&log.as_str()), "{log} in:\n{array}");

    let merge = std::fs::read_to_string(slurm.join("merge.sbatch")).unwrap();
    let mlines: Vec<&str> = merge.lines().collect();
    for want in [
        "#SBATCH --job-name=ptbench-slurm-test-merge",
        "#SBATCH --partition=debug",
        "SHARDS=3",
        want_bin.as_str(),
        want_out.as_str(),
        r#""$PTBENCH" merge "${results[@]}" --out "$OUT/merged" --no-report"#,
        r#""$PTBENCH" report "$OUT/merged/results.csv" --out "$OUT/merged""#,
    ] {
        assert!(mlines.contains(&want), "{want:?} in:\n{merge}");
    }

    let submit = std::fs::read_to_string(slurm.join("submit.sh")).unwrap();
    assert!(submit.contains("--dependency=\"afterok:$jid\""), "{submit}");
    assert!(submit.lines().any(|l| l == want_out), "{submit}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(slurm.join("submit.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "submit.sh is executable");
    }
    // What it prints: per-shard work and the command to submit.
    for i in 0..3 {
        assert!(out.contains(&format!("shard {i}/3:")), "{out}");
    }
    assert!(out.contains("submit.sh' --wait"), "{out}");
    // Nothing ran.
    assert!(!slurm.join("shard-0").exists());
    assert!(!slurm.join("merged").exists());
}

#[test]
fn emit_slurm_shards_default_and_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path());
    let d = tmp.path().join("s");
    ok(&ptbench(&["sweep", s(&exp), "--emit-slurm", s(&d)]));
    let array = std::fs::read_to_string(d.join("array.sbatch")).unwrap();
    assert!(array.contains("\n#SBATCH --array=0-3\n"), "{array}");
    assert!(!array.contains("--partition"), "{array}");
    assert!(!array.contains("--time"), "{array}");
    assert!(!array.contains("--mem"), "{array}");
    // More shards than cells, or none, is refused.
    for (n, want) in [("13", "12 cells"), ("0", "at least 1")] {
        let o = ptbench(&["sweep", s(&exp), "--emit-slurm", s(&d), "--shards", n]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{n}: {err}");
    }
    // --shards only with --emit-slurm.
    let o = ptbench(&["sweep", s(&exp), "--shards", "2"]);
    assert!(!o.status.success());
}

#[test]
fn emit_slurm_bad_time_mem_partition_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path());
    let d = tmp.path().join("s");
    for (flag, value, want) in [
        ("--time", "1h", "--time \"1h\" is not a Slurm time"),
        ("--time", "1:60", "D-HH:MM:SS"),
        ("--mem", "4GB", "--mem \"4GB\" is not a Slurm memory size"),
        (
            "--partition",
            "a b",
            "--partition \"a b\" is not a partition name",
        ),
    ] {
        let o = ptbench(&["sweep", s(&exp), "--emit-slurm", s(&d), flag, value]);
        assert_eq!(o.status.code(), Some(1), "{flag} {value}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{flag} {value}: {err}");
        assert!(!d.join("array.sbatch").exists(), "nothing written");
    }
}
