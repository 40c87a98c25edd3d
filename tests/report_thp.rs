//! Huge pages on a fragmented machine in a sweep and its report (issue 24): the benefit of huge
//! pages shrinks as fragmentation grows, for every design that stores 2 MiB pages, in the
//! results, in the fragmentation charts and in the verdict's sentence (its factors checked
//! against the results file).

use ptbench_report::findings::times;
use std::collections::HashMap;
use std::process::Command;

mod common;

fn f(r: &HashMap<String, String>, c: &str) -> f64 {
    r[c].parse().unwrap()
}

#[test]
fn the_benefit_of_huge_pages_shrinks_as_fragmentation_grows() {
    let d = tempfile::tempdir().unwrap();
    common::gen_zipf(&d.path().join("t.ptbt"), 30_000, "64m", 2);
    std::fs::write(
        d.path().join("thp.toml"),
        r#"name = "thp"
huge = ["off", "always"]
[[trace]]
path = "t.ptbt"
[[design]]
spec = "x86-64"
[[design]]
spec = "hashed"
[[design]]
spec = "ecpt"
[[tlb]]
spec = "skylake"
[os]
ram = ["64M"]
fragmentation = [0, 0.5, 1]
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ptbench"))
        .current_dir(d.path())
        .args(["sweep", "thp.toml", "--out", "rep", "--jobs", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep = d.path().join("rep");
    let rows = common::csv_maps(std::fs::File::open(rep.join("results.csv")).unwrap());
    assert_eq!(rows.len(), 3 * 2 * 3);
    let get = |design: &str, huge: &str, frag: f64| {
        rows.iter()
            .find(|r| r["design"] == design && r["huge"] == huge && f(r, "fragmentation") == frag)
            .unwrap_or_else(|| panic!("{design} {huge} {frag}"))
    };
    let per = |r: &HashMap<String, String>, c: &str| f(r, c) / f(r, "translations");
    for design in ["x86-64", "hashed", "ecpt"] {
        let (a0, a5, a1) = (
            get(design, "always", 0.0),
            get(design, "always", 0.5),
            get(design, "always", 1.0),
        );
        let off1 = get(design, "off", 1.0);
        // 32 blocks of 2 MiB: all free, 16 free (fewer than the trace's regions), none.
        assert_eq!(f(a0, "thp_fallbacks"), 0.0, "{design}");
        assert!(
            f(a5, "thp_fallbacks") > 0.0 && f(a5, "thp_faults") <= 16.0,
            "{design}"
        );
        assert_eq!(f(a1, "thp_faults"), 0.0, "{design}");
        assert!(per(a0, "tlb_misses") < per(a5, "tlb_misses"), "{design}");
        assert!(per(a5, "tlb_misses") < per(a1, "tlb_misses"), "{design}");
        assert!(
            per(a0, "walk_refs") < per(a5, "walk_refs")
                && per(a5, "walk_refs") < per(a1, "walk_refs"),
            "{design}: the benefit shrinks"
        );
        // Fully fragmented, `always` is base pages: every count of `off` on the same memory.
        for c in [
            "tlb_misses",
            "walk_refs",
            "page_faults",
            "digest",
            "table_bytes",
        ] {
            assert_eq!(a1[c], off1[c], "{design} {c}");
        }
        assert_eq!(f(a1, "fragmentation_index"), 1.0, "{design}");
    }
    // The charts, drawn and linked, and the sentence with the factors of the results.
    for name in [
        "thp_tlb_misses_vs_fragmentation",
        "thp_benefit_vs_fragmentation",
    ] {
        for ext in ["png", "svg"] {
            let p = rep.join(format!("{name}.{ext}"));
            assert!(ptbench_report::charts::has_mark(&p), "{}", p.display());
        }
    }
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    let links = common::png_links(&md);
    assert!(links.contains(&"thp_benefit_vs_fragmentation.png"));
    let factors = |frag: f64| -> Vec<f64> {
        ["x86-64", "hashed", "ecpt"]
            .iter()
            .map(|d| {
                f(get(d, "off", frag), "refs_per_translation")
                    / f(get(d, "always", frag), "refs_per_translation")
            })
            .collect()
    };
    let at0 = factors(0.0);
    let lo = at0.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = at0.iter().copied().fold(0.0, f64::max);
    let sentence = md
        .lines()
        .find(|l| l.contains("huge pages under `always` cut references per translation"))
        .unwrap_or_else(|| panic!("no sentence in\n{md}"));
    assert!(
        sentence.contains(&format!("by {} to {}", times(lo), times(hi))),
        "{sentence}"
    );
    assert!(sentence.ends_with("1x at fragmentation 1."), "{sentence}");
}
