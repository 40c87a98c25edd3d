//! Translation cost in cycles on the report page: with a cache model, cycles per translation are
//! the first charts (then the walks' latency and where table reads were served), the verdict
//! ranks by cycles first (checked against the results file) and names the preset; without one,
//! the page and charts are what they were.

use ptbench_report::findings::{significant, times};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

mod common;

fn ptbench_in(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ptbench"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A small zipf trace in `dir` (`t.ptbt`).
fn trace(dir: &Path) {
    common::gen_zipf(&dir.join("t.ptbt"), 20000, "64m", 1);
}

/// The results file's rows as column -> value maps.
fn results(path: &Path) -> Vec<HashMap<String, String>> {
    common::csv_maps(std::fs::File::open(path).unwrap())
}

fn skylake_spec() -> String {
    ptbench_tlb::cache_presets()
        .into_iter()
        .find(|p| p.name == "skylake")
        .unwrap()
        .spec
        .to_string()
}

#[test]
fn cycles_come_first_and_the_verdict_ranks_by_them() {
    let d = tempfile::tempdir().unwrap();
    trace(d.path());
    ptbench_in(
        d.path(),
        &[
            "run", "--cache", "skylake", "--cache", "emt", "-d", "x86-64", "-d", "hashed", "-d",
            "ecpt", "t.ptbt", "--csv", "r.csv", "-q",
        ],
    );
    let all = results(&d.path().join("r.csv"));
    assert_eq!(all.len(), 6);
    assert_eq!(all[0]["cache"], skylake_spec());
    let rows: Vec<&HashMap<String, String>> = all
        .iter()
        .filter(|r| r["cache"] == skylake_spec())
        .collect();
    assert_eq!(rows.len(), 3);
    ptbench_in(d.path(), &["report", "r.csv", "--out", "rep"]);
    let out = d.path().join("rep");

    // The three cycle charts, drawn and linked before every other chart.
    for name in [
        "cycles_per_translation",
        "walk_cycles",
        "walk_cycles_cdf",
        "pte_served",
    ] {
        for ext in ["png", "svg"] {
            let f = out.join(format!("{name}.{ext}"));
            assert!(f.is_file(), "{} missing", f.display());
            assert!(ptbench_report::charts::has_mark(&f), "{name}.{ext}");
        }
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let links = common::png_links(&md);
    assert_eq!(
        &links[..9],
        [
            "cycles_per_translation.png",
            "cycles_per_translation_2.png",
            "walk_cycles.png",
            "walk_cycles_cdf.png",
            "walk_cycles_2.png",
            "walk_cycles_cdf_2.png",
            "pte_served.png",
            "pte_served_2.png",
            "refs_per_translation.png"
        ]
    );
    assert!(md.contains("### Walk latency behind skylake's caches\n"));
    // The CDF's data: each row's histogram counts every walk, and (exact below 2048 cycles)
    // its values sum to walk_cycles.
    for r in &all {
        let pairs: Vec<(u64, u64)> = r["walk_cycles_histogram"]
            .split(';')
            .map(|p| {
                let (v, c) = p.split_once(':').unwrap();
                (v.parse().unwrap(), c.parse().unwrap())
            })
            .collect();
        let walks: u64 = r["walks"].parse().unwrap();
        assert_eq!(
            pairs.iter().map(|p| p.1).sum::<u64>(),
            walks,
            "{}",
            r["design"]
        );
        assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        if pairs.iter().all(|p| p.0 < 2048) {
            let total: u64 = pairs.iter().map(|(v, c)| v * c).sum();
            assert_eq!(total.to_string(), r["walk_cycles"], "{}", r["design"]);
        }
    }
    assert!(md.contains("### Cycles per translation behind skylake's caches, no TLB\n"));
    assert!(md.contains("### Cycles per translation behind emt's caches, no TLB\n"));
    assert!(out.join("cycles_per_translation_2.png").is_file());

    // The cheapest and the costliest by cycles, computed here from the CSV.
    let cycles: Vec<(&str, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["design"].as_str(),
                r["cycles_per_translation"].parse::<f64>().unwrap(),
            )
        })
        .collect();
    let lo = cycles
        .iter()
        .copied()
        .reduce(|a, b| if b.1 < a.1 { b } else { a })
        .unwrap();
    let hi = cycles
        .iter()
        .copied()
        .reduce(|a, b| if b.1 > a.1 { b } else { a })
        .unwrap();
    assert!(lo.1 < hi.1, "{cycles:?}");
    // The verdict table lists cycles first.
    let header = md
        .lines()
        .find(|l| l.starts_with("| Trace |"))
        .expect("a verdict table");
    assert_eq!(
        header,
        "| Trace | Condition | Fewest cycles/translation | Most | Apart | Fewest refs/translation | Most | Apart | Smallest table | Largest | Apart |"
    );
    let row = md
        .lines()
        .find(|l| l.starts_with("| t.ptbt | "))
        .expect("a verdict row");
    let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
    assert_eq!(cells[1], "no TLB, cache skylake");
    assert_eq!(cells[2], format!("`{}` {}", lo.0, significant(lo.1, 3)));
    assert_eq!(cells[3], format!("`{}` {}", hi.0, significant(hi.1, 3)));
    assert_eq!(cells[4], times(hi.1 / lo.1));
    // The cycles sentence comes first.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let first = html
        .split("<h2>Verdict</h2>\n<p>")
        .nth(1)
        .and_then(|t| t.split("</p>").next())
        .unwrap();
    assert_eq!(
        first,
        format!(
            "Behind skylake's caches, <code>{}</code> needs the fewest cycles per translation ({}) and <code>{}</code> the most ({}), {} apart.",
            lo.0,
            significant(lo.1, 3),
            hi.0,
            significant(hi.1, 3),
            times(hi.1 / lo.1)
        )
    );
    // The results table: the cache by its preset's name, the full spec on hover.
    assert!(html.contains(&format!("<td title=\"{}\">skylake</td>", skylake_spec())));
    assert!(html.contains("\">emt</td>"));
    assert!(html.contains("<th>cycles/xlat</th>"));
}

/// Every file of `dir` by name, `report.md`/`report.html` without their line naming the date
/// and the results file.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let mut bytes = std::fs::read(e.path()).unwrap();
            if name.starts_with("report.") {
                let text = String::from_utf8(bytes).unwrap();
                bytes = text
                    .lines()
                    .filter(|l| !l.contains("Made by ptbench"))
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes();
            }
            (name, bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn without_a_cache_model_the_page_and_charts_are_as_before() {
    let d = tempfile::tempdir().unwrap();
    trace(d.path());
    ptbench_in(
        d.path(),
        &[
            "run", "--tlb", "none", "--tlb", "skylake", "--huge", "off,thp", "-d", "x86-64", "-d",
            "hashed", "-d", "ecpt", "t.ptbt", "--csv", "r.csv", "-q",
        ],
    );
    // The same rows as a file written before the cache columns existed.
    let mut r = csv::Reader::from_path(d.path().join("r.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    let keep: Vec<usize> = (0..headers.len())
        .filter(|i| !ptbench_report::LATER_COLUMNS.contains(&&headers[*i]))
        .collect();
    assert_eq!(
        keep.len() + ptbench_report::LATER_COLUMNS.len(),
        headers.len()
    );
    let old = d.path().join("old");
    std::fs::create_dir(&old).unwrap();
    let mut w = csv::Writer::from_path(old.join("r.csv")).unwrap();
    w.write_record(keep.iter().map(|i| &headers[*i])).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        assert_eq!(
            &rec[headers.iter().position(|h| h == "cache").unwrap()],
            "none"
        );
        w.write_record(keep.iter().map(|i| &rec[*i])).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    ptbench_in(d.path(), &["report", "r.csv", "--out", "new"]);
    ptbench_in(&old, &["report", "r.csv", "--out", "rep"]);
    let (a, b) = (files(&d.path().join("new")), files(&old.join("rep")));
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "refs_per_translation.png",
            "refs_per_translation.svg",
            "refs_per_translation_tlb1.png",
            "refs_per_translation_tlb1.svg",
            "report.html",
            "report.md",
            "table_bytes.png",
            "table_bytes.svg",
            "walk_refs_cdf.png",
            "walk_refs_cdf.svg"
        ]
    );
    for ((n, x), (m, y)) in a.iter().zip(&b) {
        assert_eq!(n, m);
        assert!(x == y, "{n} differs");
    }
    let md = String::from_utf8(a[5].1.clone()).unwrap();
    assert_eq!(a[5].0, "report.md");
    assert!(!md.contains("cycles"), "{md}");
    assert!(!md.contains("cache"), "{md}");
}
