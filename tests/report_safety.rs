//! `ptbench report` never hangs, never leaves a broken chart, never writes names raw: values
//! that cannot be drawn, big results files, kills while it writes, write failures, names that
//! are Markdown or HTML, and names whose charts would share a file.

use ptbench_report::RunRow;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod common;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What a finished `ptbench report` said.
struct Done {
    status: ExitStatus,
    stderr: String,
}

/// Runs `ptbench args` and waits at most `limit`: past it the child is killed and the test fails.
fn run_within(args: &[&str], limit: Duration) -> Done {
    let out = common::ptbench_within(limit.as_secs(), None, args);
    Done {
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn report(results: &Path, out: &Path) -> Done {
    run_within(
        &["report", s(results), "--out", s(out)],
        Duration::from_secs(60),
    )
}

fn row(trace: &str, design: &str, tlb: &str, pages: u64, misses: u64) -> RunRow {
    RunRow {
        trace: trace.into(),
        design: design.into(),
        tlb: tlb.into(),
        huge: "off".into(),
        translations: 1000,
        tlb_misses: misses,
        walk_refs: 4 * misses,
        refs_per_translation: 4.0 * misses as f64 / 1000.0,
        distinct_pages: pages,
        page_bytes: 4096,
        table_bytes: pages * 8 + 4096,
        walk_refs_histogram: format!("1:1;4:{}", misses.max(1)),
        cell: format!("trace={trace}|design={design}|tlb={tlb}|huge=off"),
        ..RunRow::default()
    }
}

/// Rows for `traces` x `designs`, without TLB and behind two TLB sizes.
fn rows(traces: &[&str], designs: &[&str]) -> Vec<RunRow> {
    let mut out = Vec::new();
    for (i, t) in traces.iter().enumerate() {
        for d in designs {
            let pages = 100 * (i as u64 + 1);
            out.push(row(t, d, "none", pages, 1000));
            for e in [16, 64] {
                out.push(row(t, d, &format!("l1={e}x4,repl=lru"), pages, 1000 / e));
            }
        }
    }
    out
}

fn write_results(dir: &Path, rows: &[RunRow]) -> PathBuf {
    let p = dir.join("results.csv");
    ptbench_report::write_csv(&p, rows).unwrap();
    p
}

/// The file names in `dir` ending with `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ext) && !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// The count in `ptbench: N charts (SVG and PNG), ...`.
fn charts_said(stderr: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains(" charts (SVG and PNG)"))
        .unwrap_or_else(|| panic!("no chart count in {stderr}"));
    line.trim_start_matches("ptbench: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

const IEND: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];

/// Whether every PNG in `dir` is whole (signature to IEND) and every SVG ends with `</svg>`.
fn broken_charts(dir: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for n in files(dir, ".png") {
        let b = std::fs::read(dir.join(&n)).unwrap();
        if !(b.starts_with(b"\x89PNG\r\n\x1a\n") && b.ends_with(&IEND)) {
            bad.push(format!("{n} ({} bytes)", b.len()));
        }
    }
    for n in files(dir, ".svg") {
        let t = std::fs::read_to_string(dir.join(&n)).unwrap_or_default();
        if !t.trim_end().ends_with("</svg>") {
            bad.push(format!("{n} ({} bytes)", t.len()));
        }
    }
    bad
}

/// Every chart the report says it drew is a whole file, and no other chart file is there.
fn assert_charts_match(dir: &Path, done: &Done) {
    let n = charts_said(&done.stderr);
    assert_eq!(files(dir, ".png").len(), n, "{:?}", files(dir, ".png"));
    assert_eq!(files(dir, ".svg").len(), n, "{:?}", files(dir, ".svg"));
    assert_eq!(broken_charts(dir), Vec::<String>::new());
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let links = common::png_links(&md);
    assert_eq!(links.len(), n, "{md}");
    for l in links {
        assert!(
            dir.join(l).is_file(),
            "report.md links {l}, which is missing"
        );
    }
}

#[test]
fn inf_and_nan_are_left_out_with_a_note_naming_the_row() {
    let d = tempfile::tempdir().unwrap();
    let mut rs = rows(&["a.ptbt", "b.ptbt"], &["x86-64", "hashed"]);
    // Row 1: a.ptbt, x86-64, no TLB; row 4: a.ptbt, hashed, no TLB; row 8: b.ptbt, x86-64, l1=16x4.
    rs[0].refs_per_translation = f64::INFINITY;
    rs[3].refs_per_translation = f64::NAN;
    rs[7].refs_per_translation = f64::NEG_INFINITY;
    let results = write_results(d.path(), &rs);
    let text = std::fs::read_to_string(&results).unwrap();
    assert!(text.contains(",inf,") && text.contains(",NaN,") && text.contains(",-inf,"));
    let done = report(&results, d.path());
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    for note in [
        "ptbench: note: row 1 (trace a.ptbt, design x86-64): refs_per_translation is inf; left out of the references-per-translation charts\n",
        "ptbench: note: row 4 (trace a.ptbt, design hashed): refs_per_translation is NaN; left out of the references-per-translation charts\n",
        "ptbench: note: row 8 (trace b.ptbt, design x86-64): refs_per_translation is -inf; left out of the references-per-translation charts\n",
    ] {
        assert!(done.stderr.contains(note), "{}", done.stderr);
    }
    // Bars without TLB, the two TLB sizes as one sweep (references and miss rate), table size,
    // the CDFs (a panel per trace).
    assert_eq!(charts_said(&done.stderr), 5, "{}", done.stderr);
    assert_charts_match(d.path(), &done);
    let html = std::fs::read_to_string(d.path().join("report.html")).unwrap();
    assert!(html.contains(
        "<li>row 1 (trace a.ptbt, design x86-64): refs_per_translation is inf; left out of the references-per-translation charts.</li>"
    ));
}

#[test]
fn degenerate_ranges_and_huge_values_never_hang() {
    let d = tempfile::tempdir().unwrap();
    let mut rs = rows(&["a.ptbt", "b.ptbt", "c.ptbt"], &["x86-64"]);
    // A value whose bar axis would be infinite, a footprint beyond 64 bits, a zero footprint and
    // a zero-entry TLB on log axes, every walk the same length (a one-point CDF).
    rs[1].refs_per_translation = f64::MAX;
    rs[0].distinct_pages = u64::MAX;
    rs[3].distinct_pages = 0;
    rs[2].tlb = "l1=0x4,repl=lru".into();
    for r in &mut rs {
        r.walk_refs_histogram = "4:10".into();
    }
    // Faults at two frame counts, one with no faults (log axis).
    for (frames, faults) in [(4, 0), (8, 0), (16, 100)] {
        rs.push(RunRow {
            frames,
            page_faults: faults,
            policy: "lru".into(),
            cell: format!("trace=a.ptbt|design=x86-64|frames={frames}"),
            ..row("a.ptbt", "x86-64", "none", 100, 1000)
        });
    }
    let results = write_results(d.path(), &rs);
    let done = report(&results, d.path());
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    assert!(
        done.stderr.contains(
            "note: row 1 (trace a.ptbt, design x86-64): distinct_pages 18446744073709551615 x page_bytes 4096 is beyond 64 bits; left out of the page-table size chart"
        ),
        "{}",
        done.stderr
    );
    // Bars without TLB; the three TLB sizes as one sweep (f64::MAX on a log axis, the 0-entry
    // TLB left out of it), references and miss rate; table size; CDFs; faults.
    assert_eq!(charts_said(&done.stderr), 6, "{}", done.stderr);
    assert_charts_match(d.path(), &done);
    assert!(d.path().join("faults_vs_frames.png").is_file());
}

#[test]
fn big_results_are_reported_in_linear_time_with_a_capped_table() {
    let d = tempfile::tempdir().unwrap();
    // 200,000 rows of 100,000 traces: the old quadratic grouping never finished.
    let rs: Vec<RunRow> = (0..200_000u64)
        .map(|i| {
            let t = format!("t{}.ptbt", i / 2);
            let design = if i % 2 == 0 { "x86-64" } else { "hashed" };
            row(&t, design, "none", 100 + i, 1000)
        })
        .collect();
    let results = write_results(d.path(), &rs);
    drop(rs);
    let out = d.path().join("r");
    let done = run_within(
        &["report", s(&results), "--out", s(&out)],
        Duration::from_secs(120),
    );
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("ptbench: note: the charts show the first 24 of 100,000 traces\n"),
        "{}",
        done.stderr
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // The verdict covers the first 24 traces (a header and a row each), the results table the
    // first 1,000 rows (and its header).
    assert_eq!(html.matches("<tr>").count(), 1 + 24 + 1 + 1000);
    assert!(html.contains("<p>The table covers the first 24 of 100,000 traces.</p>"));
    assert!(html.contains(&format!(
        "<p>The table shows the first 1,000 of 200,000 rows; {} holds all.</p>",
        results.display()
    )));
    assert!(html.len() < 4 << 20, "report.html is {} bytes", html.len());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        1 + 24 + 1 + 1000
    );
    // refs_per_translation, table_bytes, the CDFs (12 panels).
    assert_eq!(charts_said(&done.stderr), 3, "{}", done.stderr);
    assert!(done
        .stderr
        .contains("ptbench: note: the references-per-walk chart: a panel for each of the first 12 of 24 traces\n"));
    assert_charts_match(&out, &done);
}

#[test]
fn results_beyond_the_row_limit_are_refused_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let rs: Vec<RunRow> = (0..1001)
        .map(|i| row(&format!("t{i}.ptbt"), "x86-64", "none", 100, 1000))
        .collect();
    let results = write_results(d.path(), &rs);
    let out = d.path().join("r");
    let limit = |n: &str| {
        run_within(
            &["report", s(&results), "--out", s(&out), "--max-rows", n],
            Duration::from_secs(60),
        )
    };
    let done = limit("1000");
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains(&format!(
            "{}: more than 1,000 rows; report reads at most 1,000 (--max-rows, at most 1,000,000; each row takes about 1.6 KiB of memory)",
            results.display()
        )),
        "{}",
        done.stderr
    );
    assert!(!out.join("report.md").exists());
    let done = limit("1001");
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    assert!(out.join("report.md").exists());
}

#[test]
fn killed_report_leaves_old_or_new_charts_never_broken_ones() {
    let d = tempfile::tempdir().unwrap();
    let results = write_results(
        d.path(),
        &rows(&["a.ptbt", "b.ptbt", "c.ptbt"], &["x86-64", "hashed"]),
    );
    let first = report(&results, d.path());
    assert_eq!(first.status.code(), Some(0), "{}", first.stderr);
    let good = files(d.path(), ".png");
    assert_eq!(good.len(), charts_said(&first.stderr));
    let start = Instant::now();
    let _ = report(&results, d.path());
    let took = start.elapsed();
    for i in 0..20u32 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ptbench"))
            .args(["report", s(&results), "--out", s(d.path())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(took * i / 20);
        if i % 2 == 0 {
            let _ = child.kill();
        } else {
            // SIGINT: the signal handler removes the temporaries, then the process dies of it.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
        }
        let _ = child.wait();
        assert_eq!(
            broken_charts(d.path()),
            Vec::<String>::new(),
            "after a kill at {:?}",
            took * i / 20
        );
        assert_eq!(files(d.path(), ".png"), good);
        let md = std::fs::read_to_string(d.path().join("report.md")).unwrap();
        assert!(md.contains("## Results"), "report.md is whole");
    }
}

#[test]
fn a_chart_that_cannot_be_written_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let results = write_results(d.path(), &rows(&["a.ptbt", "b.ptbt"], &["x86-64"]));
    // A directory where a chart goes.
    let out = d.path().join("dir");
    std::fs::create_dir_all(out.join("table_bytes.png")).unwrap();
    let done = report(&results, &out);
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains(&format!(
            "chart table_bytes.png: --out {}: that is a directory",
            out.join("table_bytes.png").display()
        )),
        "{}",
        done.stderr
    );
    assert!(!out.join("report.md").exists());
    // A full disk (/dev/full through a link: writes fail with ENOSPC, even as root).
    let out = d.path().join("full");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink("/dev/full", out.join("refs_per_translation.png")).unwrap();
    let done = report(&results, &out);
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains(&format!(
            "chart refs_per_translation.png: cannot write {}: No space left on device",
            out.join("refs_per_translation.png").display()
        )),
        "{}",
        done.stderr
    );
    assert!(!out.join("report.md").exists());
}

#[test]
fn names_are_escaped_in_markdown_and_html() {
    let d = tempfile::tempdir().unwrap();
    let img = "d/<img src=x onerror=alert(1)>.ptbt";
    let odd = "e/a`b*c_d[e]|f\ng.ptbt";
    let design = "<img src=x onerror=alert(2)>";
    let results = write_results(d.path(), &rows(&[img, odd], &[design, "x86-64"]));
    let experiment = "name = \"T <img src=x onerror=alert(3)> *a*\"\ndescription = \"\"\"\n```\n# not a heading\n\"\"\"\n";
    std::fs::write(d.path().join("experiment.toml"), experiment).unwrap();
    let done = report(&results, d.path());
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    let md = std::fs::read_to_string(d.path().join("report.md")).unwrap();
    assert!(
        md.starts_with("# T &lt;img src=x onerror=alert\\(3\\)&gt; \\*a\\*\n"),
        "{md}"
    );
    // The description under the title, as text.
    assert!(md.contains("\n\n\\`\\`\\` \\# not a heading\n\n"), "{md}");
    // Every design has the same value: the verdict says so and names no winner.
    assert!(
        md.contains("| &lt;img src=x onerror=alert\\(1\\)&gt;.ptbt | no TLB | all 2 designs: 4 | - | - | all 2 designs: 4.78 KiB | - | - |\n"),
        "{md}"
    );
    assert!(
        md.contains(
            "| a\\`b\\*c\\_d\\[e\\]\\|f g.ptbt | &lt;img src=x onerror=alert\\(2\\)&gt; | no TLB |"
        ),
        "{md}"
    );
    assert!(
        md.ends_with(&format!(
            "\n## Experiment\n\n````toml\n{}\n````\n",
            experiment.trim_end()
        )),
        "{md}"
    );
    // The fenced experiment is code; everything before it has no raw HTML.
    let body = &md[..md.find("\n## Experiment\n").unwrap()];
    assert!(!body.contains("<img"), "{md}");
    let html = std::fs::read_to_string(d.path().join("report.html")).unwrap();
    assert!(!html.contains("<img"), "raw <img in report.html");
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert_charts_match(d.path(), &done);
}

#[test]
fn charts_of_traces_with_the_same_file_name_do_not_collide() {
    let d = tempfile::tempdir().unwrap();
    let traces = [
        "a/t.lackey",
        "b/t.lackey",
        "x y.lackey",
        "x_y.lackey",
        "solo.lackey",
    ];
    let results = write_results(d.path(), &rows(&traces, &["x86-64"]));
    let done = report(&results, d.path());
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    // Bars without TLB, the TLB sweep (references and miss rate), table size, the CDFs: one
    // chart each, a panel or a line per trace.
    assert_eq!(charts_said(&done.stderr), 5, "{}", done.stderr);
    assert_charts_match(d.path(), &done);
    // Traces that share a file name are told apart by their whole name.
    let cdf = std::fs::read_to_string(d.path().join("walk_refs_cdf.svg")).unwrap();
    for label in [
        ">\na/t.lackey\n<",
        ">\nb/t.lackey\n<",
        ">\nx y.lackey\n<",
        ">\nx_y.lackey\n<",
        ">\nsolo.lackey\n<",
    ] {
        assert!(cdf.contains(label), "{label} is not a panel title");
    }
    let miss = std::fs::read_to_string(d.path().join("tlb_miss_rate.svg")).unwrap();
    for label in [">\na/t.lackey\n<", ">\nb/t.lackey\n<", ">\nsolo.lackey\n<"] {
        assert!(miss.contains(label), "{label} is not a line of the legend");
    }
}
