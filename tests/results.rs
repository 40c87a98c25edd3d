//! Results files read by `report` and `merge`, end to end: hostile input fails fast in bounded
//! memory, a cut-off last line is refused (and repaired by `sweep --resume`), a merge refuses
//! rows given twice, missing columns and malformed histograms naming file, line and column, and
//! names that start like a spreadsheet formula are quoted in the file and read back exactly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{csv_maps, ptbench, ptbench_within};

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

/// The error of a command that must fail with status 1.
fn fails(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    err
}

/// An experiment of two small generated traces and 4 cells each (2 designs, 2 TLBs),
/// run as shards 0/2 and 1/2 in `dir/shard-0` and `dir/shard-1`.
fn shards(dir: &Path) -> (PathBuf, Vec<PathBuf>) {
    let exp = dir.join("exp.toml");
    std::fs::write(
        &exp,
        r#"name = "t"
[[trace]]
name = "-neg"
gen = { pattern = "zipf", accesses = 2000, footprint = "16m", seed = 1 }
[[trace]]
name = "b"
gen = { pattern = "zipf", accesses = 3000, footprint = "16m", seed = 2 }
[[design]]
spec = "x86-64"
[[design]]
spec = "hashed"
[[tlb]]
spec = "none"
[[tlb]]
spec = "repl=lru"
l1 = ["16x4"]
"#,
    )
    .unwrap();
    let parts: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("shard-{i}"))).collect();
    for (i, p) in parts.iter().enumerate() {
        ok(&ptbench(&[
            "sweep",
            s(&exp),
            "--out",
            s(p),
            "--shard",
            &format!("{i}/2"),
            "--no-report",
        ]));
    }
    (exp, parts)
}

fn merge(parts: &[PathBuf], out: &Path) -> Output {
    let mut args = vec!["merge"];
    args.extend(parts.iter().map(|p| s(p)));
    args.extend(["--out", s(out), "--no-report"]);
    ptbench_within(20, None, &args)
}

#[test]
fn endless_input_is_refused_fast() {
    let err = fails(&ptbench_within(
        20,
        None,
        &["report", "/dev/zero", "--out", "/tmp"],
    ));
    assert_eq!(
        err,
        "ptbench: error: /dev/zero: not a ptbench results file (it does not start with `trace,design,`)\n"
    );
    // A results header followed by a line that never ends, through a FIFO.
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("results.csv");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            let junk = vec![b'a'; 1 << 16];
            let _ = f.write_all(b"trace,design,");
            // Ends when the reader closes the pipe.
            while f.write_all(&junk).is_ok() {}
        })
    };
    let err = fails(&ptbench_within(
        20,
        None,
        &["report", s(&fifo), "--out", s(d.path())],
    ));
    writer.join().unwrap();
    assert_eq!(
        err,
        format!(
            "ptbench: error: {}: line 1 is longer than 1 MiB: not a ptbench results file\n",
            fifo.display()
        )
    );
    // A shard whose results.csv is /dev/zero.
    let (_, parts) = shards(d.path());
    let results = parts[1].join("results.csv");
    std::fs::remove_file(&results).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &results).unwrap();
    let err = fails(&merge(&parts, &d.path().join("m")));
    assert_eq!(
        err,
        format!(
            "ptbench: error: {}: not a ptbench results file (it does not start with `trace,design,`)\n",
            results.display()
        )
    );
}

#[test]
fn a_cut_off_last_line_is_refused_and_resume_repairs_it() {
    let d = tempfile::tempdir().unwrap();
    let (exp, parts) = shards(d.path());
    let results = parts[1].join("results.csv");
    let text = std::fs::read(&results).unwrap();
    let lines = text.iter().filter(|&&b| b == b'\n').count();
    // A full disk stopped the last row's write 30 bytes short.
    std::fs::write(&results, &text[..text.len() - 30]).unwrap();
    let want = format!(
        "ptbench: error: {}: line {lines} is cut off (no newline at its end): a write was \
         interrupted; `ptbench sweep --resume` repairs a sweep's results\n",
        results.display()
    );
    let err = fails(&ptbench_within(
        20,
        None,
        &["report", s(&results), "--out", s(d.path())],
    ));
    assert_eq!(err, want);
    let err = fails(&merge(&parts, &d.path().join("m")));
    assert_eq!(err, want);
    // --resume drops the cut-off row, says so, and runs its cell again.
    let out = ptbench(&[
        "sweep",
        s(&exp),
        "--out",
        s(&parts[1]),
        "--shard",
        "1/2",
        "--resume",
        "--no-report",
    ]);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let last_line_bytes = text[..text.len() - 1]
        .iter()
        .rev()
        .position(|&b| b == b'\n')
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!(
            "{}: line {lines} was cut off (a write was interrupted): its {} bytes are dropped",
            results.display(),
            last_line_bytes - 30
        )),
        "{err}"
    );
    assert!(err.contains("1 cell of 4 run"), "{err}");
    ok(&merge(&parts, &d.path().join("m")));
    assert_eq!(
        csv_maps(std::fs::File::open(d.path().join("m/results.csv")).unwrap()).len(),
        8
    );
}

/// Rewrites the results file at `path` through `edit` of its lines.
fn edit(path: &Path, edit: impl FnOnce(&mut Vec<String>)) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    edit(&mut lines);
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn merge_refuses_rows_twice_missing_columns_and_bad_histograms() {
    let d = tempfile::tempdir().unwrap();
    let (_, parts) = shards(d.path());
    let results = parts[0].join("results.csv");
    let good = std::fs::read_to_string(&results).unwrap();
    let rows = good.lines().count() - 1;
    let cell = csv_maps(good.as_bytes())[0]["cell"].clone();

    // The shard's first row given again at its end.
    edit(&results, |l| {
        let first = l[1].clone();
        l.push(first);
    });
    let err = fails(&merge(&parts, &d.path().join("m")));
    let r = results.display();
    assert_eq!(
        err,
        format!(
            "ptbench: error: cannot merge: {r}: line {}, column `cell`: cell `{cell}` again (its \
             row is at {r} line 2 already): a row given twice\n",
            rows + 2
        )
    );

    // The same rows in the other shard too.
    std::fs::write(&results, &good).unwrap();
    let other = parts[1].join("results.csv");
    let other_good = std::fs::read_to_string(&other).unwrap();
    edit(&other, |l| l.push(good.lines().nth(1).unwrap().to_string()));
    let err = fails(&merge(&parts, &d.path().join("m")));
    assert!(
        err.contains(&format!(
            "{}: line {}, column `cell`: `{cell}` is not one of the cells of shard 1/2 of experiment t",
            other.display(),
            other_good.lines().count() + 1
        )),
        "{err}"
    );
    std::fs::write(&other, &other_good).unwrap();

    // A shard without one of the later columns while those after it are there: not a file of an
    // earlier ptbench (which lacks a tail of them), a column lost.
    let lost = good
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "cache_llc_misses")
        .unwrap();
    let mut cut = csv::Writer::from_writer(Vec::new());
    for rec in csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(good.as_bytes())
        .records()
    {
        let rec = rec.unwrap();
        cut.write_record(
            rec.iter()
                .enumerate()
                .filter(|(i, _)| *i != lost)
                .map(|(_, f)| f),
        )
        .unwrap();
    }
    std::fs::write(&results, cut.into_inner().unwrap()).unwrap();
    let err = fails(&merge(&parts, &d.path().join("m")));
    assert_eq!(
        err,
        format!("ptbench: error: {r}: line 1: column `cache_llc_misses` is missing\n")
    );

    // A row whose histogram is garbage.
    std::fs::write(&results, &good).unwrap();
    let hist = csv_maps(good.as_bytes())[0]["walk_refs_histogram"].clone();
    assert!(!hist.is_empty());
    edit(&results, |l| l[1] = l[1].replacen(&hist, "4:-5;x:y", 1));
    let err = fails(&merge(&parts, &d.path().join("m")));
    assert_eq!(
        err,
        format!(
            "ptbench: error: {r}: line 2, column `walk_refs_histogram`: `4:-5;x:y` is not \
             `refs:walks` count pairs separated by `;` (like `1:5;4:380`): `4:-5`\n"
        )
    );

    // A row with a field missing is not read as 0.
    edit(&results, |l| {
        l[1] = good.lines().nth(1).unwrap().replacen(",0,", ",", 1);
    });
    let err = fails(&merge(&parts, &d.path().join("m")));
    assert!(
        err.starts_with(&format!(
            "ptbench: error: {r}: line 2 has 114 fields for the header's 115 columns"
        )),
        "{err}"
    );
    std::fs::write(&results, &good).unwrap();
    ok(&merge(&parts, &d.path().join("m")));
}

#[test]
fn names_that_start_like_formulas_are_quoted_and_read_back() {
    let d = tempfile::tempdir().unwrap();
    let name = "+SUM(1+1).lackey";
    let mut text = String::new();
    for i in 0..4u64 {
        text.push_str(&format!(" L {:x},8\n", 0x10_0000 + i * 4096));
    }
    std::fs::write(d.path().join(name), text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ptbench"))
        .current_dir(d.path())
        .args(["run", "-q", "-d", "x86-64", "--csv", "out.csv", name])
        .output()
        .unwrap();
    ok(&out);
    let csv = std::fs::read_to_string(d.path().join("out.csv")).unwrap();
    let row = csv.lines().nth(1).unwrap();
    assert!(row.starts_with("'+SUM(1+1).lackey,x86-64,4,"), "{row}");
    assert!(
        row.contains(",trace=+SUM(1+1).lackey|design=x86-64|"),
        "{row}"
    );
    let rows = ptbench_sweep::read_rows(&d.path().join("out.csv")).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].trace, name);
    ok(&ptbench(&[
        "report",
        s(&d.path().join("out.csv")),
        "--out",
        s(d.path()),
    ]));

    // A sweep of that trace: quoted in the file, read back to the cells' keys by --resume.
    let sweep = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ptbench"))
            .current_dir(d.path())
            .args(["sweep", "exp.toml", "--out", "o", "--no-report"])
            .args(args)
            .output()
            .unwrap();
        ok(&out);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    std::fs::write(
        d.path().join("exp.toml"),
        "name = \"f\"\n[[trace]]\npath = \"+SUM(1+1).lackey\"\n[[design]]\nspec = \"x86-64\"\n\
         [[design]]\nspec = \"hashed\"\n[[tlb]]\nspec = \"none\"\n",
    )
    .unwrap();
    sweep(&[]);
    let results = d.path().join("o/results.csv");
    edit(&results, |l| {
        assert_eq!(l.len(), 3);
        assert!(
            l[1..].iter().all(|r| r.starts_with("'+SUM(1+1).lackey,")),
            "{l:?}"
        );
        l.pop();
    });
    let err = sweep(&["--resume"]);
    assert!(err.contains("1 cell of 2 run"), "{err}");
    let rows = ptbench_sweep::read_rows(&results).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.trace == name), "{rows:?}");
    let err = sweep(&[]);
    assert!(
        err.contains("holds every cell of this sweep already"),
        "{err}"
    );
}
