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
        "    = l1i=512x8,l1d=512x8,l2=4096x4,llc=131072x16,line=64,repl=lru,l1_lat=4,l2_lat=12,llc_lat=42,mem_lat=250,walker=l1d,ptes=cached,fault_lat=5000,disk_lat=350000"
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

#[test]
fn a_sweep_has_a_cache_axis_whose_keys_resume() {
    let d = tempfile::tempdir().unwrap();
    let trace = d.path().join("t.ptbt");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    common::gen_zipf(&trace, 20000, "64m", 3);
    let exp = d.path().join("e.toml");
    std::fs::write(
        &exp,
        "name = \"c\"\n[[trace]]\npath = \"t.ptbt\"\n[[design]]\nspec = \"x86-64\"\n[[design]]\nspec = \"ecpt\"\n\
         [[tlb]]\nspec = \"skylake\"\n[[cache]]\nspec = \"none\"\n[[cache]]\nspec = \"skylake\"\nmem_lat = [200, 400]\n",
    )
    .unwrap();
    let dir = d.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "sweep".to_string(),
            p(&exp),
            "--out".into(),
            p(&dir),
            "--no-report".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = ptbench(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    run(&[]);
    let results = dir.join("results.csv");
    let rows = common::csv_maps(std::fs::File::open(&results).unwrap());
    // 2 designs x 3 caches.
    assert_eq!(rows.len(), 6);
    let listed = ptbench(&["sweep", &p(&exp), "--list"]);
    let keys: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let cells: Vec<String> = rows.iter().map(|r| r["cell"].clone()).collect();
    assert_eq!(keys, cells, "the rows' keys are the experiment's");
    assert!(
        !keys[0].contains("cache="),
        "no cache model, no cache in the key: {}",
        keys[0]
    );
    for r in &rows {
        let cycles: u64 = r["walk_cycles"].parse().unwrap();
        if r["cache"] == "none" {
            assert_eq!(cycles, 0);
        } else {
            assert!(r["cache"].contains("mem_lat=200") || r["cache"].contains("mem_lat=400"));
            assert!(cycles > 0, "{r:?}");
            assert!(r["cell"].ends_with(&format!("|cache={}", r["cache"])));
        }
    }
    // The same walks with memory twice as far cost more cycles.
    let cyc = |design: &str, lat: &str| -> u64 {
        rows.iter()
            .find(|r| r["design"] == design && r["cache"].contains(lat))
            .unwrap()["walk_cycles"]
            .parse()
            .unwrap()
    };
    assert!(cyc("x86-64", "mem_lat=400") > cyc("x86-64", "mem_lat=200"));
    // Drop the last row: --resume runs exactly that cell again.
    let text = std::fs::read_to_string(&results).unwrap();
    let kept: String = text.lines().take(6).map(|l| format!("{l}\n")).collect();
    std::fs::write(&results, kept).unwrap();
    let err = run(&["--resume"]);
    assert!(
        err.contains("1 cell of 6 run in") && err.contains("(5 done before)"),
        "{err}"
    );
}

#[test]
fn designs_say_the_shape_of_their_walks() {
    let out = ptbench(&["designs"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let walk_of = |design: &str| -> String {
        let block = text
            .split("\n")
            .skip_while(|l| *l != design)
            .skip(1)
            .take_while(|l| l.starts_with("    "))
            .find(|l| l.starts_with("    walk (cycles, with --cache): "))
            .unwrap_or_else(|| panic!("{design}: no walk line in\n{text}"));
        block.to_string()
    };
    assert!(walk_of("x86-64").contains("a chain"));
    assert!(walk_of("x86-64").contains("pwc_lat"));
    assert!(walk_of("flat").contains("one read"));
    assert!(walk_of("hashed").contains("a chain of buckets"));
    assert!(walk_of("inverted").contains("the hash anchor, then"));
    assert!(walk_of("ecpt").contains("one parallel step"));
    assert!(walk_of("ecpt").contains("second step"));
}

#[test]
fn cycle_columns_are_the_same_for_any_number_of_jobs() {
    let d = tempfile::tempdir().unwrap();
    let trace = d.path().join("t.ptbt");
    let p = |x: &std::path::Path| x.to_str().unwrap().to_string();
    common::gen_zipf(&trace, 30000, "256m", 5);
    // Two traces (so that -j also spreads them), five designs, two TLBs (one with page-walk
    // caches), two cache specs.
    let sort = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/sort.lackey.gz");
    let csv_of = |jobs: &str| {
        let csv = d.path().join(format!("j{jobs}.csv"));
        let o = ptbench(&[
            "run",
            "-q",
            "-j",
            jobs,
            "-d",
            "x86-64",
            "-d",
            "flat",
            "-d",
            "hashed",
            "-d",
            "inverted",
            "-d",
            "ecpt",
            "--tlb",
            "skylake",
            "--tlb",
            "champsim",
            "--cache",
            "skylake",
            "--cache",
            "emt,walker=l2",
            "--csv",
            &p(&csv),
            &p(&trace),
            &p(&sort),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        common::csv_maps(std::fs::File::open(&csv).unwrap())
            .into_iter()
            .map(|mut r| {
                r.remove("wall_seconds");
                r.remove("accesses_per_second");
                r
            })
            .collect::<Vec<_>>()
    };
    let one = csv_of("1");
    assert_eq!(one.len(), 2 * 5 * 2 * 2);
    assert!(one.iter().all(|r| r["walk_cycles"] != "0"));
    for jobs in ["2", "3"] {
        assert_eq!(csv_of(jobs), one, "-j {jobs}");
    }
}
