//! The report page answers "which design costs what, and when" at a glance: the verdict first
//! (checked against the results file), the experiment's name and description, every axis drawn
//! (huge pages side by side), only the columns that vary; and `report --out` never replaces a
//! user's file under a chart's name unless forced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ptbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ptbench"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small experiment: two generated traces, three designs, no TLB and Skylake's, huge pages off
/// and on. Returns the sweep's output directory.
fn small_sweep(dir: &Path) -> PathBuf {
    let exp = dir.join("small.toml");
    std::fs::write(
        &exp,
        r#"name = "small"
description = "Three designs on two small patterns, with and without huge pages."
huge = ["off", "thp"]
[[trace]]
name = "zipf"
gen = { pattern = "zipf", accesses = 20000, footprint = "64m", seed = 1 }
[[trace]]
name = "chase"
gen = { pattern = "pointer-chase", accesses = 20000, footprint = "16m", seed = 2 }
[[design]]
spec = "x86-64"
[[design]]
spec = "hashed"
[[design]]
spec = "ecpt"
[[tlb]]
spec = "none"
[[tlb]]
spec = "skylake"
"#,
    )
    .unwrap();
    let out = dir.join("r");
    ok(&ptbench(&["sweep", s(&exp), "--out", s(&out)]));
    out
}

/// The results file's rows as column -> value maps.
fn results(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The cells of the Markdown verdict table's rows (trace cell filled in from the row above).
fn verdict_rows(md: &str) -> Vec<Vec<String>> {
    let start = md.find("## Verdict").expect("a verdict");
    let end = md.find("## Charts").expect("charts after the verdict");
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut trace = String::new();
    for line in md[start..end].lines().filter(|l| l.starts_with("| ")) {
        let mut cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().to_string())
            .collect();
        if cells[0] == "Trace" {
            continue;
        }
        if cells[0].is_empty() {
            cells[0] = trace.clone();
        } else {
            trace = cells[0].clone();
        }
        rows.push(cells);
    }
    rows
}

#[test]
fn the_verdict_comes_first_and_names_the_cheapest_and_the_costliest_from_the_results() {
    let d = tempfile::tempdir().unwrap();
    let out = small_sweep(d.path());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    // The title and the description, then the verdict before any chart.
    assert!(md.starts_with(
        "# small\n\nThree designs on two small patterns, with and without huge pages.\n\n"
    ));
    let verdict = md.find("## Verdict").unwrap();
    assert!(verdict < md.find("![").unwrap());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(
        "<h1>small</h1>\n<p class=\"description\">Three designs on two small patterns, with and without huge pages.</p>"
    ));
    assert!(html.find("<h2>Verdict</h2>").unwrap() < html.find("<figure").unwrap());

    // Independently from the CSV: per trace, TLB and huge-page policy, the design with the
    // fewest and the most references per translation.
    let rows = results(&out.join("results.csv"));
    assert_eq!(rows.len(), 2 * 3 * 2 * 2);
    let table = verdict_rows(&md);
    // A row per (trace, TLB, huge pages): 2 x 2 x 2.
    assert_eq!(table.len(), 8, "{md}");
    for (trace, label) in [("gen:zipf", "gen:zipf"), ("gen:chase", "gen:chase")] {
        for (tlb, tlb_label) in [("none", "no TLB"), ("skylake", "skylake")] {
            for huge in ["off", "thp"] {
                let of: Vec<&HashMap<String, String>> = rows
                    .iter()
                    .filter(|r| {
                        r["trace"] == trace
                            && r["huge"] == huge
                            && (if tlb == "none" {
                                r["tlb"] == "none"
                            } else {
                                r["tlb"] != "none"
                            })
                    })
                    .collect();
                assert_eq!(of.len(), 3, "{trace} {tlb} {huge}");
                let v = |r: &HashMap<String, String>| -> f64 {
                    r["refs_per_translation"].parse().unwrap()
                };
                let lo = of.iter().map(|r| v(r)).fold(f64::INFINITY, f64::min);
                let hi = of.iter().map(|r| v(r)).fold(f64::NEG_INFINITY, f64::max);
                let named = |x: f64| -> Vec<String> {
                    of.iter()
                        .filter(|r| v(r) == x)
                        .map(|r| r["design"].clone())
                        .collect()
                };
                let condition = format!("{tlb_label}, huge {huge}");
                let row = table
                    .iter()
                    .find(|r| r[0] == label && r[1] == condition)
                    .unwrap_or_else(|| panic!("no verdict row {label} {condition}: {md}"));
                if lo == hi {
                    assert!(row[2].starts_with("all 3 designs: "), "{row:?}");
                    continue;
                }
                let cheapest = named(lo);
                let costliest = named(hi);
                assert!(
                    row[2].starts_with(&format!("`{}` ", cheapest.join(", "))),
                    "{row:?}, expected {cheapest:?} at {lo}"
                );
                assert!(
                    row[3].starts_with(&format!("`{}` ", costliest.join(", "))),
                    "{row:?}, expected {costliest:?} at {hi}"
                );
                // The values as printed parse back to the values of the results, to 3 digits.
                let shown: f64 = row[2].rsplit(' ').next().unwrap().parse().unwrap();
                assert!((shown - lo).abs() <= lo * 5e-3, "{row:?} against {lo}");
                let factor: f64 = row[4].trim_end_matches('x').parse().unwrap();
                assert!(
                    (factor - hi / lo).abs() <= hi / lo * 5e-3,
                    "{row:?} against {}",
                    hi / lo
                );
            }
        }
    }
    // The table sizes, on the first row of each (trace, huge pages).
    for trace in ["gen:zipf", "gen:chase"] {
        let of: Vec<&HashMap<String, String>> = rows
            .iter()
            .filter(|r| r["trace"] == trace && r["huge"] == "off" && r["tlb"] == "none")
            .collect();
        let b = |r: &HashMap<String, String>| -> u64 { r["table_bytes"].parse().unwrap() };
        let smallest = of.iter().min_by_key(|r| b(r)).unwrap();
        let largest = of.iter().max_by_key(|r| b(r)).unwrap();
        let row = table
            .iter()
            .find(|r| r[0] == trace && r[1] == "no TLB, huge off")
            .unwrap();
        assert!(
            row[5].starts_with(&format!("`{}` ", smallest["design"])),
            "{row:?}"
        );
        assert!(
            row[6].starts_with(&format!("`{}` ", largest["design"])),
            "{row:?}"
        );
    }
}

#[test]
fn huge_pages_are_drawn_and_constant_columns_are_said_once() {
    let d = tempfile::tempdir().unwrap();
    let out = small_sweep(d.path());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    // Huge pages off and on side by side in the references charts.
    assert!(md.contains(
        "Page-table entries read per translated page \\(walk\\_refs / translations\\), by design, for each trace: every translation walks; solid bars with huge pages off, pale bars with huge pages thp.\n"
    ), "{md}");
    assert!(
        md.contains(
            "![Memory references per translation behind skylake](refs_per_translation_tlb1.png)"
        ),
        "{md}"
    );
    // The results table: the columns that vary, the others once above it.
    let results = &md[md.find("## Results").unwrap()..];
    assert!(
        results.contains("Same on every row: page 4 KiB, va bits 48, crossing split, frames unlimited, policy lru, first touch zero, translations 20,000."),
        "{results}"
    );
    let header = results.lines().find(|l| l.starts_with("| ")).unwrap();
    assert_eq!(
        header,
        "| trace | design | tlb | huge | refs/xlat | TLB misses | faults | table | M acc/s |"
    );
    // Skylake by its preset name, its spec on hover.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains(
        "<td title=\"l1i=128x8,l1d=64x4,l2=1536x12,repl=lru,l2incl=non,huge=separate,asid=on\">skylake</td>"
    ));
    // Sortable, with a sticky header, and nothing fetched.
    assert!(html.contains("<table class=\"results sortable\">"));
    assert!(html.contains("position: sticky"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

#[test]
fn a_users_file_under_a_charts_name_is_kept_unless_forced() {
    let d = tempfile::tempdir().unwrap();
    let out = small_sweep(d.path());
    let results = out.join("results.csv");
    let mine = d.path().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    let user = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><!-- my own drawing --></svg>\n";
    std::fs::write(mine.join("table_bytes.svg"), user).unwrap();
    let refused = ptbench(&["report", s(&results), "--out", s(&mine)]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(&format!(
            "chart table_bytes.svg: --out {}",
            mine.join("table_bytes.svg").display()
        )),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(mine.join("table_bytes.svg")).unwrap(), user);
    // --force replaces it.
    ok(&ptbench(&[
        "report",
        s(&results),
        "--out",
        s(&mine),
        "--force",
    ]));
    let svg = std::fs::read_to_string(mine.join("table_bytes.svg")).unwrap();
    assert!(svg.contains("<!-- ptbench chart -->"));
    // Its own output is replaced without --force.
    ok(&ptbench(&["report", s(&results), "--out", s(&mine)]));
    // A chart of an older version (no mark) is replaced when the report.md beside it links it;
    // an unlinked, unmarked one is not.
    std::fs::write(
        mine.join("refs_per_translation.png"),
        b"\x89PNG\r\n\x1a\nold",
    )
    .unwrap();
    ok(&ptbench(&["report", s(&results), "--out", s(&mine)]));
    let png = std::fs::read(mine.join("refs_per_translation.png")).unwrap();
    assert!(png.windows(20).any(|w| w == b"tEXtSoftware\0ptbench"));
    let md = std::fs::read_to_string(mine.join("report.md")).unwrap();
    std::fs::write(
        mine.join("report.md"),
        md.replace("(refs_per_translation.png)", "(elsewhere.png)"),
    )
    .unwrap();
    std::fs::write(
        mine.join("refs_per_translation.png"),
        b"\x89PNG\r\n\x1a\nold",
    )
    .unwrap();
    let refused = ptbench(&["report", s(&results), "--out", s(&mine)]);
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        std::fs::read(mine.join("refs_per_translation.png")).unwrap(),
        b"\x89PNG\r\n\x1a\nold"
    );
}
