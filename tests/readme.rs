//! Every figure of the README's "What the main job shows" is read from the committed report
//! (`docs/default-report/results.csv`, made by the main job): when the results change, this test
//! names the sentence to update.

use std::collections::HashMap;

mod common;
use common::csv_maps;

fn rows() -> Vec<HashMap<String, String>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/default-report/results.csv"
    );
    csv_maps(std::fs::File::open(path).expect("the committed default report"))
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The one row of `trace` (a suffix), `design`, `tlb` (`none`, or a prefix of the spec) and
/// `huge`, without memory pressure.
fn one<'a>(
    rows: &'a [HashMap<String, String>],
    trace: &str,
    design: &str,
    tlb: &str,
    huge: &str,
) -> &'a HashMap<String, String> {
    let found: Vec<&HashMap<String, String>> = rows
        .iter()
        .filter(|r| {
            r["trace"].ends_with(trace)
                && r["design"] == design
                && (if tlb == "none" {
                    r["tlb"] == "none"
                } else {
                    r["tlb"].starts_with(tlb)
                })
                && r["huge"] == huge
                && r["frames"] == "0"
                && r.get("cache").is_none_or(|c| c == "none")
        })
        .collect();
    assert_eq!(found.len(), 1, "{trace} {design} {tlb} {huge}");
    found[0]
}

fn num(r: &HashMap<String, String>, col: &str) -> f64 {
    r[col].parse().unwrap()
}

/// Column `col` of the one row of `trace` (a suffix) and `design` behind the caches, huge pages
/// off, on the machine as it comes (no fragmentation setting).
fn with_caches(rows: &[HashMap<String, String>], trace: &str, design: &str, col: &str) -> f64 {
    let found: Vec<&HashMap<String, String>> = rows
        .iter()
        .filter(|r| {
            r["trace"].ends_with(trace)
                && r["design"] == design
                && r["cache"] != "none"
                && r["huge"] == "off"
                && !r["os"].contains("fragmentation=")
        })
        .collect();
    assert_eq!(found.len(), 1, "{trace} {design} with caches");
    num(found[0], col)
}

const SKYLAKE: &str = "l1i=128x8,l1d=64x4,l2=1536x12";
const TRACES: [&str; 5] = [
    "hashprobe.ptbt.zst",
    "transpose.ptbt.zst",
    "sort.lackey.gz",
    "zipf-4g",
    "chase-1g",
];

/// The paragraphs after "What it shows:" up to the main job's time, on one line.
fn shows_all(text: &str) -> String {
    let from = text.find("What it shows:").expect("the paragraph");
    let to = text[from..]
        .find("On this machine's two cores")
        .map_or(text.len(), |i| from + i);
    text[from..to].replace('\n', " ")
}

fn says(text: &str, claim: &str) {
    assert!(
        text.contains(claim),
        "README's \"What it shows\" should say: {claim}"
    );
}

#[test]
fn what_the_main_job_shows_is_what_the_committed_report_holds() {
    let rows = rows();
    let text = readme();
    let shows = &text[text.find("What it shows:").expect("the paragraph")..];
    let shows = &shows[..shows.find("\n\n").unwrap_or(shows.len())];
    let shows = shows.replace('\n', " ");
    says(
        &text,
        &format!("replays six traces through {} cells", rows.len()),
    );
    // Without a TLB: each design's walk length (zipf's faults walk twice for x86-64).
    for (design, words) in [
        ("x86-64", "for x86-64"),
        ("flat:va_bits=48", "for the flat array"),
        ("hashed", "a hashed table"),
        ("inverted", "for the inverted table"),
        ("ecpt", "for ECPT"),
    ] {
        for t in &TRACES[..3] {
            let v = num(one(&rows, t, design, "none", "off"), "refs_per_translation");
            let n = format!("{v:.0}");
            assert!(
                (v - v.round()).abs() < 0.01
                    && (shows.contains(&format!("{n} {words}"))
                        || shows.contains(&format!("{n} for the flat array and {words}"))),
                "{t} {design}: {v} references per translation; README: {shows}"
            );
        }
    }
    let zipf = |d: &str| {
        format!(
            "{:.2}",
            num(
                one(&rows, "zipf-4g", d, "none", "off"),
                "refs_per_translation"
            )
        )
    };
    says(
        &shows,
        &format!(
            "on the 4 GiB zipf {} for x86-64 and {} for the inverted table",
            zipf("x86-64"),
            zipf("inverted")
        ),
    );
    // Behind Skylake's TLB: the recorded programs below 0.2, the patterns' STLB miss rates.
    for t in ["hashprobe.ptbt.zst", "transpose.ptbt.zst"] {
        for d in ["x86-64", "flat:va_bits=48", "hashed", "inverted", "ecpt"] {
            let v = num(one(&rows, t, d, SKYLAKE, "off"), "refs_per_translation");
            assert!(v < 0.2, "{t} {d}: {v}");
        }
    }
    says(
        &shows,
        "recorded programs stay below 0.2 references per translation",
    );
    let rate = |t: &str| {
        let r = one(&rows, t, "x86-64", SKYLAKE, "off");
        format!(
            "{:.0}%",
            100.0 * num(r, "tlb_misses") / num(r, "translations")
        )
    };
    says(
        &shows,
        &format!(
            "miss the STLB on {} and {} of translations",
            rate("zipf-4g"),
            rate("chase-1g")
        ),
    );
    let refs = |d: &str| {
        format!(
            "{:.2}",
            num(
                one(&rows, "zipf-4g", d, SKYLAKE, "off"),
                "refs_per_translation"
            )
        )
    };
    says(
        &shows,
        &format!(
            "{} references per translation for x86-64 against {} for a hashed table on zipf",
            refs("x86-64"),
            refs("hashed")
        ),
    );
    // Huge pages.
    let misses = |t: &str, h: &str| {
        let r = one(&rows, t, "x86-64", SKYLAKE, h);
        let n: u64 = r["tlb_misses"].parse().unwrap();
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    says(
        &shows,
        &format!(
            "cut zipf's STLB misses from {} to {} and the pointer chase's to {}",
            misses("zipf-4g", "off"),
            misses("zipf-4g", "thp"),
            misses("chase-1g", "thp")
        ),
    );
    // Table sizes.
    let table = |t: &str, d: &str| num(one(&rows, t, d, "none", "off"), "table_bytes");
    says(
        &shows,
        &format!(
            "flat array reserves {:.0} GiB of table",
            table("zipf-4g", "flat:va_bits=48") / (1u64 << 30) as f64
        ),
    );
    for t in TRACES {
        assert_eq!(
            table(t, "inverted"),
            table("zipf-4g", "inverted"),
            "inverted is the same size for every trace"
        );
    }
    says(
        &shows,
        &format!(
            "inverted table {:.0} MiB whatever is mapped",
            table("zipf-4g", "inverted") / (1u64 << 20) as f64
        ),
    );
    says(
        &shows,
        &format!(
            "({:.0} KiB for hashprobe",
            table("hashprobe.ptbt.zst", "x86-64") / 1024.0
        ),
    );
    let zipf = one(&rows, "zipf-4g", "x86-64", "none", "off");
    says(
        &shows,
        &format!(
            "{:.0} MiB for zipf's {:.1} GiB of touched pages",
            num(zipf, "table_bytes") / (1u64 << 20) as f64,
            num(zipf, "distinct_pages") * 4096.0 / (1u64 << 30) as f64
        ),
    );
    // Cycles, behind Skylake's TLB and caches.
    let cyc = |t: &str, d: &str| with_caches(&rows, t, d, "cycles_per_translation");
    let hp = |d: &str| format!("{:.3}", cyc("hashprobe.ptbt.zst", d));
    says(
        &shows_all(&text),
        &format!(
            "costs {} cycles per translation against flat's {}, ECPT's {} and x86-64's {}",
            hp("hashed"),
            hp("flat:va_bits=48"),
            hp("ecpt"),
            hp("x86-64")
        ),
    );
    says(
        &shows_all(&text),
        &format!("the inverted table is the costliest ({})", hp("inverted")),
    );
    let z = |d: &str| {
        let v = cyc("zipf-4g", d);
        if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    says(&shows_all(&text), &format!(
        "a translation costs {} cycles with the flat array, {} with x86-64, {} with ECPT, {} with a hashed table and {} with the inverted table",
        z("flat:va_bits=48"),
        z("x86-64"),
        z("ecpt"),
        z("hashed"),
        z("inverted")
    ));
    let zipf_x86 = rows
        .iter()
        .find(|r| {
            r["trace"].ends_with("zipf-4g")
                && r["design"] == "x86-64"
                && r["cache"] != "none"
                && r["huge"] == "off"
        })
        .unwrap();
    says(
        &shows_all(&text),
        &format!(
            "add another {:.0} cycles per translation whatever the design",
            num(zipf_x86, "fault_cycles") / num(zipf_x86, "translations")
        ),
    );
    let refs = |d: &str| {
        rows.iter()
            .find(|r| {
                r["trace"].ends_with("hashprobe.ptbt.zst")
                    && r["design"] == d
                    && r["cache"] != "none"
            })
            .map(|r| format!("{:.4}", num(r, "refs_per_translation")))
            .unwrap()
    };
    assert_eq!(refs("hashed"), refs("flat:va_bits=48"));
    says(
        &shows_all(&text),
        &format!(
            "as the flat array ({} references per translation)",
            refs("hashed")
        ),
    );
    // Virtualized: the nested pairs against their guests native, behind Skylake's TLB and caches.
    let nested = [
        "nested:guest=x86-64,host=x86-64",
        "nested:guest=ecpt,host=ecpt",
        "nested:guest=x86-64,host=ecpt",
        "nested:guest=ecpt,host=x86-64",
    ];
    let with_caches = |t: &str, d: &str, col: &str| with_caches(&rows, t, d, col);
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for t in TRACES {
        for d in nested {
            let guest = d["nested:guest=".len()..].split(',').next().unwrap();
            let r = with_caches(t, d, "refs_per_translation")
                / with_caches(t, guest, "refs_per_translation");
            (lo, hi) = (lo.min(r), hi.max(r));
        }
    }
    says(
        &shows_all(&text),
        &format!("every pair reads {lo:.2} to {hi:.2} times its guest's native references"),
    );
    let z = |t: &str, d: &str, col: &str| {
        let v = with_caches(t, d, col);
        if v >= 100.0 {
            format!("{v:.0}")
        } else if v >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        }
    };
    says(
        &shows_all(&text),
        &format!(
            "{} for x86-64 over x86-64 against {} native",
            z("zipf-4g", nested[0], "refs_per_translation"),
            z("zipf-4g", "x86-64", "refs_per_translation")
        ),
    );
    says(
        &shows_all(&text),
        &format!(
            "x86-64 over x86-64 costs {} cycles per translation against {} native ({:.1}x)",
            z("zipf-4g", nested[0], "cycles_per_translation"),
            z("zipf-4g", "x86-64", "cycles_per_translation"),
            with_caches("zipf-4g", nested[0], "cycles_per_translation")
                / with_caches("zipf-4g", "x86-64", "cycles_per_translation")
        ),
    );
    says(
        &shows_all(&text),
        &format!(
            "costs {} against {}",
            z("zipf-4g", nested[1], "cycles_per_translation"),
            z("zipf-4g", "ecpt", "cycles_per_translation")
        ),
    );
    says(
        &shows_all(&text),
        &format!(
            "on the pointer chase {} against x86-64 over x86-64's {}",
            z("chase-1g", nested[1], "cycles_per_translation"),
            z("chase-1g", nested[0], "cycles_per_translation")
        ),
    );
    // Memory pressure: OPT least at every frame count, then LRU and clock, then FIFO.
    let faults = |policy: &str, frames: &str| -> u64 {
        rows.iter()
            .find(|r| r["policy"] == policy && r["frames"] == frames)
            .map(|r| r["page_faults"].parse().unwrap())
            .unwrap()
    };
    for frames in ["16", "32", "64", "128"] {
        let (opt, lru, clock, fifo) = (
            faults("opt", frames),
            faults("lru", frames),
            faults("clock", frames),
            faults("fifo", frames),
        );
        assert!(
            opt < lru.min(clock) && lru.max(clock) < fifo,
            "{frames} frames: {opt} {lru} {clock} {fifo}"
        );
    }
    says(
        &shows,
        "OPT faults least at every frame count, then LRU and clock, then FIFO",
    );
}

/// The fragmentation paragraph: huge pages on a 32 MiB machine whose 2 MiB blocks other tenants
/// broke, from the committed report's rows.
#[test]
fn the_fragmentation_paragraph_is_what_the_committed_report_holds() {
    let rows = rows();
    let text = readme();
    let from = text.find("On a fragmented machine").expect("the paragraph");
    let para =
        text[from..text[from..].find("\n\n").map_or(text.len(), |i| from + i)].replace('\n', " ");
    let at = |design: &str, huge: &str, frag: f64| -> &HashMap<String, String> {
        let found: Vec<&HashMap<String, String>> = rows
            .iter()
            .filter(|r| {
                r["trace"].ends_with("hashprobe.ptbt.zst")
                    && r["design"] == design
                    && r["huge"] == huge
                    && r["os"].contains("fragmentation=")
                    && num(r, "fragmentation") == frag
            })
            .collect();
        assert_eq!(found.len(), 1, "{design} {huge} {frag}");
        found[0]
    };
    let cyc =
        |d: &str, h: &str, f: f64| format!("{:.3}", num(at(d, h, f), "cycles_per_translation"));
    let misses =
        |d: &str, h: &str, f: f64| ptbench_report::thousands(num(at(d, h, f), "tlb_misses") as u64);
    for claim in [
        format!(
            "from {} cycles per translation with base pages to {} ({} TLB misses to {})",
            cyc("x86-64", "off", 0.0),
            cyc("x86-64", "always", 0.0),
            misses("x86-64", "off", 0.0),
            misses("x86-64", "always", 0.0)
        ),
        format!(
            "each of the trace's {} eligible regions",
            at("x86-64", "always", 0.0)["thp_faults"]
        ),
        format!(
            "to {} at fragmentation 0.5 ({} huge pages, {} fallbacks), {} at 0.75, and {} at 1, where none is made",
            cyc("x86-64", "always", 0.5),
            at("x86-64", "always", 0.5)["thp_faults"],
            at("x86-64", "always", 0.5)["thp_fallbacks"],
            cyc("x86-64", "always", 0.75),
            cyc("x86-64", "always", 1.0)
        ),
        format!(
            "keeps more at 0.75 ({} cycles, {} misses)",
            cyc("x86-64", "defer", 0.75),
            misses("x86-64", "defer", 0.75)
        ),
        format!(
            "the inverted table gains most ({} to {} cycles per translation)",
            cyc("inverted", "off", 0.0),
            cyc("inverted", "always", 0.0)
        ),
    ] {
        assert!(para.contains(&claim), "the README should say: {claim}\n{para}");
    }
    assert_eq!(at("x86-64", "always", 1.0)["thp_faults"], "0");
    assert_eq!(at("x86-64", "defer", 0.75)["thp_promotions"], "4");
    assert!(at("x86-64", "defer", 0.0)["os"].contains("thp_min=256"));
    // The inverted table's factor is the largest.
    let gain = |d: &str| {
        num(at(d, "off", 0.0), "cycles_per_translation")
            / num(at(d, "always", 0.0), "cycles_per_translation")
    };
    for d in ["x86-64", "flat:va_bits=48", "hashed", "ecpt"] {
        assert!(gain("inverted") > gain(d), "{d}");
    }
}

/// The cores paragraph: DynamoRIO's threads on 1 to 8 cores, from the committed report's rows.
#[test]
fn the_cores_paragraph_is_what_the_committed_report_holds() {
    let rows = rows();
    let text = readme();
    let from = text
        .find("With its threads on more cores")
        .expect("the paragraph");
    let para =
        text[from..text[from..].find("\n\n").map_or(text.len(), |i| from + i)].replace('\n', " ");
    let at = |design: &str, cores: u64, policy: &str| -> &HashMap<String, String> {
        let found: Vec<&HashMap<String, String>> = rows
            .iter()
            .filter(|r| {
                r["trace"].ends_with("threadsig.x64.tracedir")
                    && r["design"] == design
                    && r["frames"] == "128"
                    && num(r, "cores") as u64 == cores
                    && r["shootdown"] == policy
            })
            .collect();
        assert_eq!(found.len(), 1, "{design} {cores} {policy}");
        found[0]
    };
    let n = |r: &HashMap<String, String>, col: &str| ptbench_report::thousands(num(r, col) as u64);
    let x = |c| at("x86-64", c, "precise");
    for claim in [
        format!("so {} evictions unmap pages", n(x(1), "evictions")),
        format!(
            "the TLBs miss {} times on one core, {} on two, {} on four and {} on eight, for every design",
            n(x(1), "tlb_misses"),
            n(x(2), "tlb_misses"),
            n(x(4), "tlb_misses"),
            n(x(8), "tlb_misses")
        ),
        format!(
            "{}, {} and {} interrupts on 2, 4 and 8 cores under `precise`",
            n(x(2), "shootdown_ipis"),
            n(x(4), "shootdown_ipis"),
            n(x(8), "shootdown_ipis")
        ),
        format!(
            "{} on 8 under `broadcast`",
            n(at("x86-64", 8, "broadcast"), "shootdown_ipis")
        ),
        format!(
            "(x86-64 {:.3} on one core, {:.3} on eight)",
            num(x(1), "cycles_per_translation"),
            num(x(8), "cycles_per_translation")
        ),
        format!(
            "{} cycles on eight cores",
            n(x(8), "shootdown_cycles")
        ),
        format!("the {} cycles all translations take", n(x(8), "translation_cycles")),
    ] {
        assert!(para.contains(&claim), "the README should say: {claim}\n{para}");
    }
    // Every design misses alike; the shootdowns cost more than the translations.
    for d in ["flat:va_bits=48", "hashed", "inverted", "ecpt"] {
        for c in [1, 2, 4, 8] {
            assert_eq!(
                at(d, c, "precise")["tlb_misses"],
                x(c)["tlb_misses"],
                "{d} {c}"
            );
        }
    }
    assert!(num(x(8), "shootdown_cycles") > 2.0 * num(x(8), "translation_cycles"));
    assert_eq!(
        num(x(8), "shootdown_cycles"),
        3000.0 * num(x(8), "shootdown_ipis") + 250.0 * num(x(8), "remote_invalidations")
    );
}
