//! End-to-end tests of the `ptbench` binary against an independent model of the counting rules,
//! written here from the rules in the README, not with the simulator's code.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

mod common;
use common::ptbench;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (address, size) of every access, parsed independently of ptbench's readers.
fn accesses(path: &Path) -> Vec<(u64, u64)> {
    let raw = std::fs::read(path).unwrap();
    let text = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(raw).unwrap()
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("==") || t.starts_with("--") || t.starts_with('#') {
            continue;
        }
        if let Some((op, rest)) = t.split_once(' ') {
            if matches!(op, "I" | "L" | "S" | "M") && rest.contains(',') {
                let (a, s) = rest.trim().split_once(',').unwrap();
                let (a, s) = (u64::from_str_radix(a, 16).unwrap(), s.parse().unwrap());
                out.push((a, s));
                if op == "M" {
                    out.push((a, s));
                }
                continue;
            }
        }
        let addr = t.split_whitespace().next().unwrap();
        out.push((
            u64::from_str_radix(addr.trim_start_matches("0x"), 16).unwrap(),
            1,
        ));
    }
    out
}

/// The expected counters of an n-level radix table with 8-byte entries under demand paging.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    accesses: u64,
    translations: u64,
    walks: u64,
    walk_refs: u64,
    page_faults: u64,
    distinct_pages: u64,
    table_pages: u64,
}

fn model(trace: &[(u64, u64)], levels: u32, pobits: u32, split: bool) -> Expected {
    let b = pobits - 3;
    let mut seen = HashSet::new();
    let mut prefixes: Vec<HashSet<u64>> = vec![HashSet::new(); levels as usize];
    let mut e = Expected::default();
    for &(addr, size) in trace {
        e.accesses += 1;
        let first = addr >> pobits;
        let last = if split {
            (addr + size.max(1) - 1) >> pobits
        } else {
            first
        };
        for vpn in first..=last {
            e.translations += 1;
            e.walks += 1;
            if seen.contains(&vpn) {
                e.walk_refs += u64::from(levels);
                continue;
            }
            // The faulting walk reads the root entry, then one more entry for every level whose
            // table already exists; then the retry reads every level.
            let existing = (1..levels)
                .filter(|k| prefixes[*k as usize].contains(&(vpn >> (k * b))))
                .count() as u64;
            e.walk_refs += 1 + existing + u64::from(levels);
            e.walks += 1;
            e.page_faults += 1;
            seen.insert(vpn);
            for k in 1..levels {
                prefixes[k as usize].insert(vpn >> (k * b));
            }
        }
    }
    e.distinct_pages = seen.len() as u64;
    e.table_pages = 1 + prefixes.iter().map(|p| p.len() as u64).sum::<u64>();
    e
}

fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    common::csv_maps(std::fs::File::open(path).unwrap())
}

fn num(row: &HashMap<String, String>, key: &str) -> u64 {
    row[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key} = {}", row[key]))
}

/// Runs the command on `trace` and checks both designs against the model.
fn check_trace(trace: &Path, split: bool) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let mode = if split { "split" } else { "first" };
    let out = ptbench(&[
        "run",
        "--page-crossing",
        mode,
        "--design",
        "x86-64",
        "--design",
        "radix:levels=3,pobits=14",
        "--csv",
        csv.to_str().unwrap(),
        trace.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}: {}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 2);
    let parsed = accesses(trace);
    for (row, (design, levels, pobits)) in rows
        .iter()
        .zip([("x86-64", 4, 12), ("radix:levels=3,pobits=14", 3, 14)])
    {
        assert_eq!(row["design"], design);
        let want = model(&parsed, levels, pobits, split);
        let got = Expected {
            accesses: num(row, "accesses"),
            translations: num(row, "translations"),
            walks: num(row, "walks"),
            walk_refs: num(row, "walk_refs"),
            page_faults: num(row, "page_faults"),
            distinct_pages: num(row, "distinct_pages"),
            table_pages: num(row, "table_pages"),
        };
        assert_eq!(got, want, "{} {design} {mode}", trace.display());
        assert_eq!(num(row, "page_faults"), want.distinct_pages);
        assert_eq!(num(row, "table_bytes"), want.table_pages << pobits);
        let rpt: f64 = row["refs_per_translation"].parse().unwrap();
        assert!((rpt - want.walk_refs as f64 / want.translations as f64).abs() < 1e-9);
    }
}

fn shipped_traces() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("traces"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".lackey.gz"))
        .collect();
    v.sort();
    v
}

#[test]
fn shipped_lackey_traces_match_the_model_first_byte() {
    let traces = shipped_traces();
    assert!(traces.len() >= 3, "traces/ holds the project's own traces");
    for t in &traces {
        check_trace(t, false);
    }
}

#[test]
fn shipped_lackey_trace_matches_the_model_split() {
    check_trace(&shipped_traces()[0], true);
}

#[test]
fn shared_traces_match_the_model_when_present() {
    let shared = root().join("../shared/traces");
    if !shared.is_dir() {
        eprintln!("../shared/traces is absent: skipped");
        return;
    }
    for rel in [
        "cachelab/yi.trace",
        "cachelab/trans.trace",
        "cachelab/long.trace",
        "osprac/trace1",
        "osprac/trace3",
        "osprac/gcc.trace.gz",
    ] {
        let t = shared.join(rel);
        check_trace(&t, false);
        check_trace(&t, true);
    }
}

#[test]
fn malformed_line_names_file_and_line_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.trace");
    std::fs::write(&bad, " L 7ff0005b8,8\n S zzzz,4\n L 10,4\n").unwrap();
    let csv = dir.path().join("out.csv");
    let out = ptbench(&["run", "--csv", csv.to_str().unwrap(), bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.trace:2: malformed lackey line ` S zzzz,4`"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!csv.exists(), "no CSV is written for a failed run");
}

#[test]
fn truncated_gzip_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(&shipped_traces()[0]).unwrap();
    let cut = dir.path().join("cut.lackey.gz");
    std::fs::write(&cut, &whole[..whole.len() / 3]).unwrap();
    let out = ptbench(&["run", cut.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cut.lackey.gz:"), "{err}");
    assert!(err.contains("truncated"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn address_wider_than_the_design_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("wide.trace");
    std::fs::write(&t, "==1== lackey\nI  0400d7d4,8\n L 1ffefff000,8\n").unwrap();
    let out = ptbench(&["run", "--design", "two-level", t.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("wide.trace:3: access #1 at 0x1ffefff000 (8 bytes) lies outside the 32-bit virtual address space of design `two-level`"),
        "{err}"
    );
    // The same trace fits x86-64.
    assert!(ptbench(&["run", "--design", "x86-64", t.to_str().unwrap()])
        .status
        .success());
}

#[test]
fn bad_design_specs_and_missing_files_are_errors() {
    let t = shipped_traces()[0].clone();
    let out = ptbench(&["run", "--design", "radix:levels=7", t.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("levels=7 is outside 1..=6"));
    let out = ptbench(&["run", "/no/such/trace"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/trace: no such trace file"));
}

#[test]
fn designs_lists_every_design_with_its_parameters() {
    let out = ptbench(&["designs"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["radix", "two-level", "x86-64", "x86-64-5l", "reference"] {
        assert!(text.lines().any(|l| l == name), "{name} missing:\n{text}");
    }
    assert!(text.contains("levels     default 4"));
    assert!(text.contains("pobits     default 12"));
}

#[test]
fn csv_has_the_documented_columns() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let t = dir.path().join("t.trace");
    std::fs::write(&t, "0041f7a0 R\n13f5e2c0 W\n0041f7a4 R\n").unwrap();
    let out = ptbench(&[
        "run",
        "-d",
        "two-level",
        "--csv",
        csv.to_str().unwrap(),
        t.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with(
        "trace,design,accesses,translations,walks,walk_refs,refs_per_translation,page_faults,\
         table_pages,table_bytes,distinct_pages,wall_seconds,accesses_per_second,"
    ));
    let rows = csv_rows(&csv);
    // Two pages in two different 4 MiB regions: root + 2 leaf tables; 1+2, 1+2, then 2 refs.
    assert_eq!(num(&rows[0], "page_faults"), 2);
    assert_eq!(num(&rows[0], "table_pages"), 3);
    assert_eq!(num(&rows[0], "walk_refs"), 3 + 3 + 2);
    assert_eq!(rows[0]["trace_format"], "hexaddr R|W");
}

/// Every design of 4 KiB pages, as `--design` arguments.
const ALL_4K_DESIGNS: &[&str] = &[
    "x86-64",
    "x86-64-5l",
    "radix:levels=3,pobits=12",
    "flat:va_bits=40",
    "hashed",
    "hashed:collision=chain",
    "hashed:entries=16,bucket=1",
    "inverted",
    "inverted:hat=64",
    "ecpt",
    "ecpt:entries=4,ways=2",
    "reference",
];

/// Replays `trace` through every design under `huge` and returns each design's translation digest.
fn digests(trace: &Path, huge: &str) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let mut args = vec![
        "run",
        "--quiet",
        "--huge",
        huge,
        "--csv",
        csv.to_str().unwrap(),
    ];
    for d in ALL_4K_DESIGNS {
        args.extend(["--design", d]);
    }
    args.push(trace.to_str().unwrap());
    let out = ptbench(&args);
    assert!(
        out.status.success(),
        "{} --huge {huge}: {}",
        trace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    csv_rows(&csv)
        .into_iter()
        .map(|r| (r["design"].clone(), r["digest"].clone()))
        .collect()
}

fn all_traces() -> Vec<PathBuf> {
    let mut traces = shipped_traces();
    let shared = root().join("../shared/traces");
    if shared.is_dir() {
        for rel in [
            "cachelab/yi.trace",
            "cachelab/yi2.trace",
            "cachelab/dave.trace",
            "cachelab/trans.trace",
            "cachelab/long.trace",
            "osprac/trace1",
            "osprac/trace2",
            "osprac/trace3",
            "osprac/gcc.trace.gz",
            "osprac/swim.trace.gz",
        ] {
            traces.push(shared.join(rel));
        }
    }
    traces
}

#[test]
fn every_design_translates_every_trace_the_same() {
    for trace in all_traces() {
        for huge in ["off", "2m", "thp"] {
            let d = digests(&trace, huge);
            assert_eq!(d.len(), ALL_4K_DESIGNS.len());
            assert!(
                d.iter().all(|(_, digest)| *digest == d[0].1),
                "{} --huge {huge}: {d:?}",
                trace.display()
            );
        }
    }
}

/// Kind of each access: true for instruction fetches (lackey `I` lines).
fn fetches(path: &Path) -> Vec<bool> {
    let raw = std::fs::read(path).unwrap();
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_string(&mut s)
        .unwrap();
    let mut out = Vec::new();
    for line in s.lines() {
        match line.as_bytes() {
            [b'I', b' ', ..] => out.push(true),
            [b' ', b'M', ..] => out.extend([false, false]),
            [b' ', b'L' | b'S', ..] => out.push(false),
            _ => {}
        }
    }
    out
}

/// Misses of a fully associative LRU TLB of `n` entries over a page stream: an access misses when
/// its page is not among the `n` most recently used distinct pages (naive stack-distance model).
fn lru_misses(pages: impl Iterator<Item = u64>, n: usize) -> (u64, Vec<bool>) {
    let mut stack: Vec<u64> = Vec::new();
    let mut missed = Vec::new();
    for p in pages {
        let hit = match stack.iter().position(|q| *q == p) {
            Some(i) => {
                stack.remove(i);
                i < n
            }
            None => false,
        };
        stack.insert(0, p);
        missed.push(!hit);
    }
    (missed.iter().filter(|m| **m).count() as u64, missed)
}

#[test]
fn tlb_misses_and_walks_match_an_lru_stack_model() {
    let trace = root().join("traces/sha256sum.lackey.gz");
    let parsed = accesses(&trace);
    let kinds = fetches(&trace);
    assert_eq!(parsed.len(), kinds.len());
    let pages: Vec<u64> = parsed.iter().map(|(a, _)| a >> 12).collect();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let out = ptbench(&[
        "run",
        "--page-crossing",
        "first",
        "-d",
        "x86-64",
        "--tlb",
        "l1=64x64",
        "--tlb",
        "l1i=16x16,l1d=32x32",
        "--csv",
        csv.to_str().unwrap(),
        trace.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = csv_rows(&csv);

    // Unified 64-entry fully associative LRU.
    let (misses, missed) = lru_misses(pages.iter().copied(), 64);
    let u = &rows[0];
    assert_eq!(num(u, "tlb_misses"), misses);
    assert_eq!(num(u, "l1i_misses") + num(u, "l1d_misses"), misses);
    // Walk references: a missing translation walks 4 levels, plus its faulting walk on a first touch.
    let mut seen = HashSet::new();
    let mut prefixes: Vec<HashSet<u64>> = vec![HashSet::new(); 4];
    let mut refs = 0;
    for (p, m) in pages.iter().zip(&missed) {
        if !*m {
            continue;
        }
        if seen.insert(*p) {
            refs += 1
                + (1..4u32)
                    .filter(|k| prefixes[*k as usize].contains(&(p >> (k * 9))))
                    .count() as u64;
            for k in 1..4u32 {
                prefixes[k as usize].insert(p >> (k * 9));
            }
        }
        refs += 4;
    }
    assert_eq!(num(u, "walk_refs"), refs);
    assert_eq!(num(u, "walks"), misses + seen.len() as u64);

    // Split 16-entry ITLB and 32-entry DTLB, each its own LRU stack over its own accesses.
    let split = &rows[1];
    let (i_misses, _) = lru_misses(
        pages
            .iter()
            .zip(&kinds)
            .filter(|(_, f)| **f)
            .map(|(p, _)| *p),
        16,
    );
    let (d_misses, _) = lru_misses(
        pages
            .iter()
            .zip(&kinds)
            .filter(|(_, f)| !**f)
            .map(|(p, _)| *p),
        32,
    );
    assert_eq!(num(split, "l1i_misses"), i_misses);
    assert_eq!(num(split, "l1d_misses"), d_misses);
    assert_eq!(num(split, "tlb_misses"), i_misses + d_misses);
    assert_eq!(
        num(split, "l1i_hits") + num(split, "l1d_hits") + i_misses + d_misses,
        pages.len() as u64
    );
    assert_eq!(split["digest"], u["digest"]);
}

/// The counters of a one-design run, as CSV values keyed by column, without the timing columns.
fn stats_of(trace: &Path, extra: &[&str]) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("o.csv");
    let mut args = vec![
        "run",
        "-q",
        "-d",
        "x86-64",
        "--tlb",
        "skylake",
        "--csv",
        csv.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(trace.to_str().unwrap());
    let out = ptbench(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = csv_rows(&csv).remove(0);
    let mut v: Vec<(String, String)> = row
        .into_iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "trace" | "cell" | "wall_seconds" | "accesses_per_second" | "trace_format"
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn converted_traces_replay_to_identical_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let src = shipped_traces()[0].clone();
    let want = stats_of(&src, &[]);
    for (name, to) in [
        ("t.ptbt", "ptbt"),
        ("t.ptbt.zst", "ptbt"),
        ("t.txt", "ptbt-text"),
        ("t.lackey", "lackey"),
    ] {
        let out_path = dir.path().join(name);
        let out = ptbench(&[
            "convert",
            src.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
            "--to",
            to,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stats_of(&out_path, &[]), want, "{name}");
        // And back to ptbt from each.
        let again = dir.path().join(format!("{name}.again.ptbt"));
        let out = ptbench(&[
            "convert",
            out_path.to_str().unwrap(),
            "-o",
            again.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stats_of(&again, &[]), want, "{name} -> ptbt");
    }
    let bad = ptbench(&[
        "convert",
        src.to_str().unwrap(),
        "-o",
        dir.path().join("x.hexrw").to_str().unwrap(),
        "--to",
        "hexrw",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot hold record #0"));
    assert!(
        !dir.path().join("x.hexrw").exists(),
        "a failed conversion leaves no file"
    );
}

#[test]
fn gen_is_reproducible_and_skip_bad_lines_counts() {
    let dir = tempfile::tempdir().unwrap();
    // The same trace, each time: `64MiB`, `64MB` and `2^26` are `64m` (every size flag reads
    // sizes alike).
    let first = dir.path().join("0.ptbt");
    for (i, footprint) in ["64m", "64m", "64MiB", "64MB", "2^26"].iter().enumerate() {
        let p = dir.path().join(format!("{i}.ptbt"));
        common::gen_zipf(&p, 20_000, footprint, 5);
        assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(&first).unwrap());
    }
    assert_eq!(std::fs::metadata(&first).unwrap().len(), 32 + 16 * 20_000);

    let t = dir.path().join("bad.trace");
    std::fs::write(&t, " L 10,4\n S zzzz,4\n L 20,4\n L junk,4\n").unwrap();
    let out = ptbench(&[
        "run",
        "-q",
        "--csv",
        "/dev/null",
        "--skip-bad-lines",
        "-d",
        "x86-64",
        t.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("skipped 2 bad lines (first: ") && err.contains("bad.trace:2:"),
        "{err}"
    );
}

#[test]
fn host_frames_and_policy_apply_to_nested_designs() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("z.ptbt");
    common::gen_zipf(&t, 20_000, "4m", 3);
    let t = t.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run", "-q", "--csv", "-", "-d", "nested", "-d", "x86-64", &t,
        ];
        args.extend_from_slice(extra);
        common::ptbench(&args)
    };
    let out = run(&["--host-frames", "64", "--host-policy", "clock"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = common::csv_maps(&out.stdout[..]);
    assert_eq!(
        rows[0]["design"],
        "nested:guest=x86-64,host=x86-64,host_frames=64,host_policy=clock"
    );
    let n = |r: &HashMap<String, String>, c: &str| -> u64 { r[c].parse().unwrap() };
    assert!(n(&rows[0], "host_evictions") > 0);
    assert_eq!(
        n(&rows[0], "host_faults"),
        64 + n(&rows[0], "host_evictions")
    );
    assert_eq!(
        rows[0]["digest"], rows[1]["digest"],
        "the guest translates as x86-64 alone"
    );
    assert_eq!(
        (n(&rows[1], "host_faults"), n(&rows[1], "host_evictions")),
        (0, 0)
    );
    // The flags without a nested design, and a policy that does not exist.
    let err = |out: std::process::Output| String::from_utf8_lossy(&out.stderr).trim().to_string();
    let out = common::ptbench(&["run", "-d", "x86-64", "--host-frames", "8", &t]);
    assert!(err(out).contains("apply to nested designs"));
    let out = run(&["--host-policy", "lru"]);
    assert_eq!(
        err(out),
        "ptbench: error: --host-policy lru: must be one of fifo, clock"
    );
    let out = common::ptbench(&["run", "-d", "nested:host_frames=0", &t]);
    assert!(
        err(out).contains("`host_frames`"),
        "host_frames=0 is refused"
    );
}

/// Linux's THP policies on a fragmented machine from the command line: the flags reach the OS
/// model (its setting in the `os` column, the new columns filled), `never` is `off`, and bad
/// values are errors that name the flag.
#[test]
fn thp_policies_and_fragmentation_flags() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("u t's <b>.ptbt");
    common::gen_zipf(&t, 20_000, "64m", 3);
    let t = t.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run", "-q", "--csv", "-", "-d", "x86-64", "--tlb", "skylake", &t,
        ];
        args.extend_from_slice(extra);
        common::ptbench(&args)
    };
    let out = run(&[
        "--huge",
        "off,always,never,defer",
        "--ram",
        "64M",
        "--fragmentation",
        "0.75",
        "--thp-min",
        "16",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = common::csv_maps(&out.stdout[..]);
    let n = |r: &HashMap<String, String>, c: &str| -> u64 { r[c].parse().unwrap() };
    let huges: Vec<&str> = rows.iter().map(|r| r["huge"].as_str()).collect();
    assert_eq!(huges, ["off", "always", "defer"], "never is off, run once");
    for r in &rows {
        assert_eq!(
            r["os"],
            "frames=unlimited,policy=lru,first_touch=zero,ram=64M,fragmentation=0.75,thp_min=16"
        );
        assert_eq!(r["fragmentation"], "0.75");
        // 32 blocks, 24 broken: 8 free at the start.
        assert!(n(r, "free_huge_blocks_min") <= 8);
        let index: f64 = r["fragmentation_index"].parse().unwrap();
        assert!((0.0..=1.0).contains(&index));
    }
    assert_eq!(n(&rows[0], "thp_faults"), 0);
    assert!(n(&rows[1], "thp_faults") > 0 && n(&rows[1], "thp_faults") <= 8);
    assert!(
        n(&rows[1], "thp_fallbacks") > 0,
        "more eligible regions than free blocks"
    );
    assert!(n(&rows[1], "tlb_misses") < n(&rows[0], "tlb_misses"));
    assert!(n(&rows[2], "thp_promotions") > 0);
    let err = |out: std::process::Output| String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(err(run(&["--fragmentation", "2"])).contains("--fragmentation 2"));
    assert!(err(run(&["--ram", "lots"])).contains("--ram"));
    assert!(err(run(&["--thp-min", "0"])).contains("thp_min"));
    assert!(err(run(&["--compaction", "maybe"])).contains("--compaction maybe"));
    assert!(err(run(&["--fragmentation", "0.5", "--free-huge", "3"])).contains("cannot be used"));
    // A machine too small for the trace: out of memory, named.
    let e = err(run(&["--huge", "always", "--ram", "2M"]));
    assert!(e.contains("--ram 2M has no free block"), "{e}");
}
