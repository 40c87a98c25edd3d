//! `ptbench caches`: the cache presets with their canonical specs, which parse back to themselves.

mod common;
use common::ptbench;

#[test]
fn caches_lists_each_preset_with_a_spec_that_parses_back() {
    let out = ptbench(&["caches"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "none");
    assert_eq!(lines[2], "    = none");
    assert_eq!(lines[3], "skylake");
    assert_eq!(
        lines[5],
        "    = l1i=512x8,l1d=512x8,l2=4096x4,llc=131072x16,line=64,repl=lru,l1_lat=4,l2_lat=12,llc_lat=42,mem_lat=250,walker=l1d,ptes=cached"
    );
    assert_eq!(lines[6], "emt");
    for p in ptbench_tlb::cache_presets() {
        let shown = format!("    = {}", p.spec);
        assert!(lines.contains(&shown.as_str()), "{}", p.name);
        assert_eq!(
            shown[6..].parse::<ptbench_tlb::CacheSpec>().unwrap(),
            p.spec
        );
    }
    assert!(text.contains("walker=l1d|l2"));
}
