//! The OS model against independent models: the course answers of `../shared/traces/osprac`,
//! an LRU stack-distance count, a Belady computation, copy-on-write through every design, and
//! every design agreeing on translations and OS counters under memory pressure and forks.

use ptbench_core::{Access, AccessKind, PageTable, Perms};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::TlbSpec;
use ptbench_replay::{
    FirstTouch, NextUses, OsConfig, OsCounters, PageCrossing, Policy, Sim, SimOptions, Stats,
};
use ptbench_trace::gen::{GenSpec, Generator, Pattern};
use ptbench_trace::{ReaderOptions, TraceReader};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const DESIGNS: &[&str] = &[
    "x86-64",
    "x86-64-5l",
    "radix:levels=3,pobits=12",
    "flat:va_bits=40",
    "hashed",
    "hashed:collision=chain,entries=8,bucket=2",
    "inverted",
    "inverted:frames=64",
    "ecpt",
    "reference",
];

const TLBS: &[&str] = &["none", "l1=4x2", "l1i=8x2,l1d=8x2,l2=32x4,pwc=8x2"];

fn read_all(path: &Path) -> Vec<Access> {
    let mut r = ptbench_trace::open_with(path, &ReaderOptions::default()).unwrap();
    let mut out = Vec::new();
    let mut batch = Vec::new();
    while r.read_batch(&mut batch).unwrap() > 0 {
        out.extend_from_slice(&batch);
    }
    out
}

fn generated(pattern: Pattern, accesses: u64, pages: u64, seed: u64) -> Vec<Access> {
    let spec = GenSpec {
        seed,
        ..GenSpec::new(pattern, accesses, pages * 4096)
    };
    let mut g = Generator::new(spec).unwrap();
    let mut out = Vec::new();
    let mut batch = Vec::new();
    while g.read_batch(&mut batch).unwrap() > 0 {
        out.extend_from_slice(&batch);
    }
    out
}

/// Replays `trace` through `design` behind `tlb` under `os` (OPT gets its next uses).
fn replay(
    design: &str,
    tlb: &str,
    os: &OsConfig,
    crossing: PageCrossing,
    trace: &[Access],
) -> Stats {
    let opts = SimOptions {
        page_crossing: crossing,
        os: os.clone(),
        ..SimOptions::default()
    };
    let spec = DesignSpec::parse(design).unwrap();
    let mut sim = Sim::build_with_tlb(&spec, &TlbSpec::parse(tlb).unwrap(), &opts).unwrap();
    if os.policy == Policy::Opt {
        let mut pass = NextUses::new(sim.page_shift(), crossing);
        pass.push(trace);
        sim.set_next_uses(pass.finish());
    }
    for (i, batch) in trace.chunks(1000).enumerate() {
        sim.replay(batch, (i * 1000) as u64)
            .unwrap_or_else(|e| panic!("{design} {tlb} {os}: {e}"));
    }
    sim.stats()
}

fn limited(frames: u64, policy: Policy) -> OsConfig {
    OsConfig {
        frames: Some(frames),
        policy,
        ..OsConfig::default()
    }
}

fn osprac() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces/osprac");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: {} is missing; skipping", dir.display());
        None
    }
}

/// `trace1-4frames-clock`: (trace, frames, policy).
fn answer_name(name: &str) -> Option<(String, u64, Policy)> {
    let name = name.strip_suffix(".ans").unwrap_or(name);
    let mut parts = name.split('-');
    let trace = parts.next()?.to_string();
    let frames = parts.next()?.strip_suffix("frames")?.parse().ok()?;
    let policy = parts.next()?.parse().ok()?;
    Some((trace, frames, policy))
}

fn answer_field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim_start_matches(':').trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{key}` in {text}"))
}

#[test]
fn osprac_answers_are_reproduced_by_every_design() {
    let Some(dir) = osprac() else { return };
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some((trace, frames, policy)) = answer_name(&name) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(answer_field(&text, "total memory frames"), frames, "{name}");
        let events = answer_field(&text, "events in trace");
        let reads = answer_field(&text, "total disk reads");
        let writes = answer_field(&text, "total disk writes");
        let accesses = read_all(&dir.join(&trace));
        let os = OsConfig {
            first_touch: FirstTouch::Disk,
            ..limited(frames, policy)
        };
        for design in DESIGNS {
            for tlb in TLBS {
                let s = replay(design, tlb, &os, PageCrossing::First, &accesses);
                let what = format!("{name} {design} {tlb}");
                assert_eq!(s.accesses, events, "{what}");
                assert_eq!(s.os.disk_reads, reads, "{what}");
                assert_eq!(s.page_faults, reads, "{what}: disk reads = page faults");
                assert_eq!(s.os.disk_writes, writes, "{what}");
                assert_eq!(
                    s.os.dirty_evictions, writes,
                    "{what}: writes = dirty evictions"
                );
                assert_eq!(s.os.major_faults, reads, "{what}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 5, "five answer files");
}

/// Pages of the translations of `trace` (one per access: none crosses a page).
fn pages(trace: &[Access]) -> Vec<(u16, u64)> {
    trace
        .iter()
        .filter(|a| !a.kind.is_event())
        .map(|a| (a.asid, a.addr >> 12))
        .collect()
}

/// Faults of LRU with `frames` frames from stack distances: an access faults when its page is
/// new or more than `frames` distinct pages were used since its last use.
fn lru_by_stack_distance(pages: &[(u16, u64)], frames: usize) -> u64 {
    let mut stack: Vec<(u16, u64)> = Vec::new();
    let mut faults = 0;
    for p in pages {
        match stack.iter().rposition(|q| q == p) {
            Some(i) => {
                if stack.len() - i > frames {
                    faults += 1;
                }
                stack.remove(i);
            }
            None => faults += 1,
        }
        stack.push(*p);
    }
    faults
}

/// Faults of Belady's OPT with `frames` frames, by scanning ahead.
fn belady(pages: &[(u16, u64)], frames: usize) -> u64 {
    let mut resident: HashSet<(u16, u64)> = HashSet::new();
    let mut faults = 0;
    for (i, p) in pages.iter().enumerate() {
        if resident.contains(p) {
            continue;
        }
        faults += 1;
        if resident.len() == frames {
            let victim = *resident
                .iter()
                .max_by_key(|q| {
                    pages[i + 1..]
                        .iter()
                        .position(|r| r == *q)
                        .unwrap_or(usize::MAX)
                })
                .unwrap();
            resident.remove(&victim);
        }
        resident.insert(*p);
    }
    faults
}

fn workloads() -> Vec<(String, Vec<Access>)> {
    let mut w = Vec::new();
    for (pattern, pages) in [
        (Pattern::Zipf, 200),
        (Pattern::Uniform, 64),
        (Pattern::PointerChase, 48),
        (Pattern::Matrix, 32),
    ] {
        w.push((format!("{pattern}"), generated(pattern, 4000, pages, 7)));
    }
    w
}

#[test]
fn lru_equals_a_stack_distance_count() {
    for (name, trace) in workloads() {
        let p = pages(&trace);
        for frames in [1u64, 2, 3, 8, 16, 31, 64, 100] {
            let want = lru_by_stack_distance(&p, frames as usize);
            for design in ["x86-64", "hashed", "inverted"] {
                let s = replay(
                    design,
                    "none",
                    &limited(frames, Policy::Lru),
                    PageCrossing::Split,
                    &trace,
                );
                assert_eq!(s.page_faults, want, "{name} {design} frames={frames}");
            }
        }
    }
}

#[test]
fn opt_equals_belady_and_no_policy_beats_it() {
    for (name, trace) in workloads() {
        let p = pages(&trace);
        for frames in [1u64, 2, 5, 8, 16, 33, 64] {
            let want = belady(&p, frames as usize);
            let os = limited(frames, Policy::Opt);
            let got = replay("x86-64", "none", &os, PageCrossing::Split, &trace);
            assert_eq!(got.page_faults, want, "{name} frames={frames}");
            assert_eq!(
                replay("ecpt", "l1=4x2", &os, PageCrossing::Split, &trace).page_faults,
                want
            );
            for (policy_name, policy) in Policy::ALL {
                let s = replay(
                    "x86-64",
                    "none",
                    &limited(frames, policy),
                    PageCrossing::Split,
                    &trace,
                );
                assert!(
                    s.page_faults >= want,
                    "{name} {policy_name} frames={frames}"
                );
            }
        }
    }
}

#[test]
fn on_every_shipped_trace_no_policy_beats_opt() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../traces");
    let mut traces: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".gz"))
        .collect();
    traces.sort();
    assert!(!traces.is_empty());
    for path in traces {
        let trace = read_all(&path);
        for frames in [16u64, 256] {
            let opt = replay(
                "x86-64",
                "none",
                &limited(frames, Policy::Opt),
                PageCrossing::Split,
                &trace,
            );
            for (name, policy) in Policy::ALL {
                let s = replay(
                    "x86-64",
                    "none",
                    &limited(frames, policy),
                    PageCrossing::Split,
                    &trace,
                );
                assert!(
                    s.page_faults >= opt.page_faults,
                    "{} {name} frames={frames}: {} < OPT {}",
                    path.display(),
                    s.page_faults,
                    opt.page_faults
                );
            }
        }
    }
}

#[test]
fn copy_on_write_through_every_design() {
    let page = 0x7f00_0000_1000u64 & ((1 << 40) - 1);
    let w = |asid| Access::new(AccessKind::Write, page + 8, 8).in_asid(asid);
    let r = |asid| Access::new(AccessKind::Read, page + 16, 8).in_asid(asid);
    let fork = Access::new(AccessKind::Fork, 1, 0);
    for design in DESIGNS {
        for tlb in TLBS {
            let what = format!("{design} {tlb}");
            let spec = DesignSpec::parse(design).unwrap();
            let opts = SimOptions::default();
            let mut sim = Sim::build_with_tlb(&spec, &TlbSpec::parse(tlb).unwrap(), &opts).unwrap();
            let step = |sim: &mut Sim, a: Access| {
                sim.replay(&[a], 0).unwrap();
                sim.stats().os
            };
            // The parent writes the page: a minor fault.
            let s = step(&mut sim, w(0));
            assert_eq!((s.minor_faults, s.cow_faults), (1, 0), "{what}");
            step(&mut sim, fork);
            // Both read it: no copy, no fault.
            step(&mut sim, r(0));
            let s = step(&mut sim, r(1));
            assert_eq!(
                (s.minor_faults, s.cow_faults, s.cow_copies),
                (1, 0, 0),
                "{what}"
            );
            // The child writes it: one COW fault, one copy.
            let s = step(&mut sim, w(1));
            assert_eq!((s.cow_faults, s.cow_copies), (1, 1), "{what}");
            // The parent writes it: the last sharer, made writable without a copy.
            let s = step(&mut sim, w(0));
            assert_eq!((s.cow_faults, s.cow_copies), (2, 1), "{what}");
            // Writes after that fault no more.
            step(&mut sim, w(0));
            let s = step(&mut sim, w(1));
            assert_eq!(
                (s.cow_faults, s.minor_faults, s.protection_faults),
                (2, 1, 0),
                "{what}"
            );
            assert_eq!(sim.stats().page_faults, 3, "{what}");
            assert_eq!(s.resident_frames_peak, 2, "{what}");
            // An inverted table holds one entry for the shared frame: after the fork the child
            // holds it, the parent's read takes it back, the child's read takes it again (two
            // alias faults, not page faults); the child's write copies, so the parent's write
            // finds the frame free of aliases.
            let aliases = if design.starts_with("inverted") { 2 } else { 0 };
            assert_eq!(s.alias_faults, aliases, "{what}");
        }
    }
}

/// Several processes: forks, switches, regions, writes and exits, under memory pressure.
fn processes(seed: u64) -> Vec<Access> {
    let mut out = Vec::new();
    let base = 0x10_0000_0000u64;
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut mmap = Access::new(AccessKind::Mmap, base, 48);
    mmap.flags = 3;
    out.push(mmap);
    let mut live = vec![0u16];
    for round in 0..40u64 {
        let asid = live[(next() % live.len() as u64) as usize];
        out.push(Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(asid));
        for _ in 0..50 {
            let kind = if next() % 3 == 0 {
                AccessKind::Write
            } else {
                AccessKind::Read
            };
            // Some accesses fall past the 48-page region: segmentation faults.
            let addr = base + (next() % 52) * 4096 + (next() % 512) * 8;
            out.push(Access::new(kind, addr, 8).in_asid(asid));
        }
        match round % 8 {
            2 if live.len() < 4 => {
                let child = live.iter().max().unwrap() + 1;
                out.push(Access::new(AccessKind::Fork, u64::from(child), 0).in_asid(asid));
                live.push(child);
            }
            5 => {
                let mut p = Access::new(AccessKind::Mprotect, base + 4096 * (next() % 40), 4);
                p.flags = 1;
                out.push(p.in_asid(asid));
            }
            7 if live.len() > 1 => {
                let victim = live.pop().unwrap();
                out.push(Access::new(AccessKind::Exit, 0, 0).in_asid(victim));
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_design_agrees_on_translations_and_os_counters_under_pressure_and_forks() {
    let mut aliases = Vec::new();
    for seed in [1u64, 2, 3] {
        let trace = processes(seed);
        for (os_name, os) in [
            ("unlimited", OsConfig::default()),
            ("lru-12", limited(12, Policy::Lru)),
            ("clock-7", limited(7, Policy::Clock)),
            ("fifo-20", limited(20, Policy::Fifo)),
            ("random-9", limited(9, Policy::Random)),
            ("opt-9", limited(9, Policy::Opt)),
            (
                "nru-9",
                OsConfig {
                    period: 64,
                    ..limited(9, Policy::Nru)
                },
            ),
            (
                "aging-9",
                OsConfig {
                    period: 64,
                    ..limited(9, Policy::Aging)
                },
            ),
        ] {
            let want = replay("reference", "none", &os, PageCrossing::Split, &trace);
            assert!(want.os.segv > 0, "{os_name}: {:?}", want.os);
            assert!(want.os.protection_faults > 0, "{os_name}: {:?}", want.os);
            if os.frames.is_some() {
                assert!(want.os.evictions > 0, "{os_name}");
            } else {
                assert!(want.os.cow_copies > 0, "{os_name}: {:?}", want.os);
            }
            for design in DESIGNS {
                if os.frames.is_none() && design.contains("frames=") {
                    continue; // a 64-frame inverted table needs a memory limit to replace pages
                }
                for tlb in TLBS {
                    let got = replay(design, tlb, &os, PageCrossing::Split, &trace);
                    let what = format!("seed {seed} {os_name} {design} {tlb}");
                    assert_eq!(got.digest, want.digest, "{what}");
                    // Inverted tables alone take alias faults (one entry per frame: a frame
                    // shared after a fork is mapped by one sharer at a time).
                    if design.starts_with("inverted") {
                        aliases.push((what.clone(), got.os.alias_faults));
                    } else {
                        assert_eq!(got.os.alias_faults, 0, "{what}");
                    }
                    let os = OsCounters {
                        alias_faults: 0,
                        ..got.os.clone()
                    };
                    assert_eq!(os, want.os, "{what}");
                    assert_eq!(got.page_faults, want.page_faults, "{what}");
                }
            }
        }
    }
    assert!(aliases.iter().any(|(_, n)| *n > 0), "{aliases:?}");
}

#[test]
fn without_a_limit_every_fault_is_minor_and_nothing_is_evicted() {
    let trace = generated(Pattern::Zipf, 3000, 300, 3);
    let s = replay(
        "x86-64",
        "none",
        &OsConfig::default(),
        PageCrossing::Split,
        &trace,
    );
    assert_eq!(s.os.minor_faults, s.page_faults);
    assert_eq!(s.page_faults, s.distinct_pages);
    assert_eq!(
        (
            s.os.evictions,
            s.os.disk_reads,
            s.os.disk_writes,
            s.os.swap_peak
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(s.os.resident_frames_peak, s.distinct_pages);
}

/// The frames two address spaces' page `vpn` translate to in a global table, walking it with
/// each asid in turn.
fn frames_of<P: PageTable + Clone>(s: &ptbench_replay::Simulator<P>, vpn: u64) -> Vec<Option<u64>> {
    let mut t = s.table().clone();
    (0..2u16)
        .map(|asid| {
            t.set_asid(asid);
            let mut cost = ptbench_core::WalkCost::default();
            t.walk(s.mem(), ptbench_core::Vpn(vpn), &mut cost)
                .map(|p| p.pfn.0)
        })
        .collect()
}

#[test]
fn hashed_and_inverted_tables_are_global_and_keyed_by_asid() {
    let page = 0x40_0000u64;
    let w = |asid| Access::new(AccessKind::Write, page, 8).in_asid(asid);
    for design in [
        "hashed",
        "hashed:collision=chain,entries=8,bucket=2",
        "inverted",
        "x86-64",
    ] {
        let spec = DesignSpec::parse(design).unwrap();
        let one = {
            let mut sim = Sim::build(&spec, &SimOptions::default()).unwrap();
            sim.replay(&[w(0)], 0).unwrap();
            sim.footprint()
        };
        let mut sim = Sim::build(&spec, &SimOptions::default()).unwrap();
        // Two processes (no fork) write the same page: two first touches, two frames.
        sim.replay(&[w(0), w(1), w(0), w(1)], 0).unwrap();
        let s = sim.stats();
        assert_eq!((s.os.minor_faults, s.page_faults), (2, 2), "{design}");
        assert_eq!(s.os.resident_frames_peak, 2, "{design}");
        let f = sim.footprint();
        assert_eq!(f.entries, 2, "{design}: both entries in the table(s)");
        let vpn = page >> 12;
        match &sim {
            Sim::Hashed(h) => {
                assert!(h.table().shares_asids());
                assert_eq!(frames_of(h, vpn), vec![Some(0), Some(1)], "{design}");
                // One global table: the same table pages as one process's.
                assert_eq!(f.table_pages, one.table_pages, "{design}");
                assert_eq!(f.table_bytes, one.table_bytes, "{design}");
            }
            Sim::Inverted(i) => {
                assert!(i.table().shares_asids());
                assert_eq!(frames_of(i, vpn), vec![Some(0), Some(1)], "{design}");
                assert_eq!(f.table_pages, one.table_pages, "{design}");
                assert_eq!(f.capacity, one.capacity, "{design}");
            }
            Sim::Radix(r) => {
                assert!(!r.table().shares_asids());
                // One table per address space: a second 4-level path.
                assert_eq!((one.table_pages, f.table_pages), (4, 8), "{design}");
            }
            _ => unreachable!(),
        }
        // The second process exits: its entry leaves the global table.
        sim.replay(&[Access::new(AccessKind::Exit, 0, 0).in_asid(1)], 4)
            .unwrap();
        assert_eq!(sim.footprint().entries, 1, "{design}");
        match &sim {
            Sim::Hashed(h) => assert_eq!(frames_of(h, vpn), vec![Some(0), None]),
            Sim::Inverted(i) => assert_eq!(frames_of(i, vpn), vec![Some(0), None]),
            _ => {}
        }
    }
}

#[test]
fn file_backed_pages_are_read_from_and_written_back_to_their_file() {
    let base = 0x50_0000u64;
    let at = |p: u64| base + p * 4096;
    for (file, design) in [true, false]
        .into_iter()
        .flat_map(|f| DESIGNS.iter().map(move |d| (f, *d)))
    {
        if design.contains("frames=") {
            continue;
        }
        let mut mmap = Access::new(AccessKind::Mmap, base, 4);
        mmap.flags = 3 | if file { ptbench_core::FILE_BACKED } else { 0 };
        let trace = [
            mmap,
            Access::new(AccessKind::Read, at(0), 8),
            Access::new(AccessKind::Write, at(1), 8),
            // Evicts page 0 (clean), then page 1 (dirty), then page 2 (clean) under LRU.
            Access::new(AccessKind::Read, at(2), 8),
            Access::new(AccessKind::Read, at(3), 8),
            Access::new(AccessKind::Read, at(0), 8),
        ];
        let s = replay(
            design,
            "none",
            &limited(2, Policy::Lru),
            PageCrossing::Split,
            &trace,
        )
        .os;
        let what = format!("file={file} {design}");
        assert_eq!((s.evictions, s.dirty_evictions), (3, 1), "{what}");
        if file {
            // Every page comes in from the file, the re-read page 0 too; the clean pages are
            // dropped, the dirty one is written back to the file: no swap.
            assert_eq!((s.minor_faults, s.major_faults), (0, 5), "{what}");
            assert_eq!(
                (s.disk_reads, s.disk_writes, s.swap_peak),
                (5, 1, 0),
                "{what}"
            );
        } else {
            // Anonymous: zero-filled on first touch, page 0 (never written) zero-filled again,
            // the dirty page 1 written to swap.
            assert_eq!((s.minor_faults, s.major_faults), (5, 0), "{what}");
            assert_eq!(
                (s.disk_reads, s.disk_writes, s.swap_peak),
                (0, 1, 1),
                "{what}"
            );
        }
    }
    // A file page even under --first-touch zero is a major fault; a copy-on-write copy of it is
    // anonymous, evicted dirty into swap.
    let mut mmap = Access::new(AccessKind::Mmap, base, 4);
    mmap.flags = 3 | ptbench_core::FILE_BACKED;
    let trace = [
        mmap,
        Access::new(AccessKind::Read, at(0), 8),
        Access::new(AccessKind::Fork, 1, 0),
        Access::new(AccessKind::Write, at(0), 8).in_asid(1),
        Access::new(AccessKind::Read, at(1), 8),
        Access::new(AccessKind::Read, at(2), 8),
    ];
    let s = replay(
        "x86-64",
        "none",
        &limited(2, Policy::Fifo),
        PageCrossing::Split,
        &trace,
    )
    .os;
    assert_eq!((s.cow_faults, s.cow_copies), (1, 1));
    assert_eq!((s.minor_faults, s.major_faults), (0, 3));
    // FIFO evicts the shared file frame (clean: dropped), then the child's dirty copy (swap).
    assert_eq!((s.evictions, s.dirty_evictions), (2, 1));
    assert_eq!((s.disk_reads, s.disk_writes, s.swap_peak), (3, 1, 1));
}

fn perms_at<P: PageTable>(s: &ptbench_replay::Simulator<P>, vpn: u64) -> Option<Perms> {
    let mut cost = ptbench_core::WalkCost::default();
    s.table()
        .walk(s.mem(), ptbench_core::Vpn(vpn), &mut cost)
        .map(|p| p.perms)
}

#[test]
fn every_design_stores_and_returns_the_user_bit() {
    let page = 0x7000u64;
    let mut mmap = Access::new(AccessKind::Mmap, page, 1);
    mmap.flags = 5; // r-x
    let trace = [mmap, Access::new(AccessKind::Fetch, page, 4)];
    let want = Perms::RX.union(Perms::U);
    for design in DESIGNS {
        let spec = DesignSpec::parse(design).unwrap();
        let mut sim = Sim::build(&spec, &SimOptions::default()).unwrap();
        sim.replay(&trace, 0).unwrap();
        let got = match &sim {
            Sim::Radix(s) => perms_at(s, page >> 12),
            Sim::Flat(s) => perms_at(s, page >> 12),
            Sim::Hashed(s) => perms_at(s, page >> 12),
            Sim::Inverted(s) => perms_at(s, page >> 12),
            Sim::Ecpt(s) => perms_at(s, page >> 12),
            Sim::Reference(s) => perms_at(s, page >> 12),
            Sim::Nested(s) => perms_at(s, page >> 12),
        };
        assert_eq!(got, Some(want), "{design}");
        assert_eq!(format!("{:?}", want), "r-xu");
    }
}

/// Copy-on-write of a transparent huge page copies it into a whole aligned huge page: a write
/// after a fork takes 512 more frames (not one, which left the copy unaligned and the frame count
/// 511 short, so dropping it later wrapped the count around), and every design agrees.
#[test]
fn copy_on_write_of_a_huge_page_copies_a_huge_page() {
    let base = 0x7f_0000_0000u64; // 2 MiB aligned
    let mut mmap = Access::new(AccessKind::Mmap, base, 1);
    mmap.flags = 3;
    let trace = vec![
        Access::new(AccessKind::Read, base, 1),
        Access::new(AccessKind::Fork, 1, 0),
        Access::new(AccessKind::Write, base + 8, 1),
        mmap,
        Access::new(AccessKind::Fork, 1, 0),
        Access::new(AccessKind::Read, base, 1),
        Access::new(AccessKind::Read, base + (4 << 20), 8),
    ];
    let opts = SimOptions {
        huge: ptbench_replay::HugePolicy::Thp,
        ..SimOptions::default()
    };
    let mut digests = HashSet::new();
    for design in ["x86-64", "hashed", "ecpt", "reference"] {
        let spec = DesignSpec::parse(design).unwrap();
        let mut sim = Sim::build_with_tlb(&spec, &TlbSpec::NONE, &opts).unwrap();
        sim.set_address_range(base, base + (6 << 20));
        sim.replay(&trace, 0)
            .unwrap_or_else(|e| panic!("{design}: {e}"));
        let s = sim.stats();
        // The first huge page (512 frames), its copy (512, aligned), then: the mmap drops the
        // parent's copy, the fork drops the child's share of the first (its last owner), the
        // reads map one huge page each.
        assert_eq!(s.os.cow_copies, 1, "{design}");
        assert_eq!(s.os.resident_frames_peak, 1024, "{design}");
        digests.insert(s.digest);
    }
    assert_eq!(digests.len(), 1);
}

/// A read of an execute-only page faults once, when the page is mapped (a protection fault the
/// model lets through); once mapped, reads are allowed (entries have no read bit). After a fork
/// an inverted table gives the shared frame's one entry to the child: the parent's next read is
/// then the table's alias, not another protection fault, so every design counts the same
/// (proptest of the cores found the inverted table counting one more without a TLB).
#[test]
fn reads_of_an_execute_only_page_after_a_fork_fault_alike_in_every_design() {
    let mut mprotect = Access::new(AccessKind::Mprotect, 0x7f_0000_0000, 2);
    mprotect.flags = Perms::X.bits();
    let mut trace = vec![mprotect];
    trace.extend((0..4).map(|i| Access::new(AccessKind::Read, 0x7f_0000_0000 + i * 8, 8)));
    trace.push(Access::new(AccessKind::Fork, 1, 0));
    trace.extend((0..4).map(|i| Access::new(AccessKind::Read, 0x7f_0000_0100 + i * 8, 8)));
    let mut digests = HashSet::new();
    for design in ["x86-64", "hashed", "inverted", "ecpt", "flat:va_bits=48"] {
        for tlb in ["none", "tiny"] {
            let spec = DesignSpec::parse(design).unwrap();
            let tlb = TlbSpec::parse(tlb).unwrap();
            let mut sim = Sim::build_with_tlb(&spec, &tlb, &SimOptions::default()).unwrap();
            sim.replay(&trace, 0).unwrap();
            let s = sim.stats();
            assert_eq!(s.os.protection_faults, 1, "{design} behind {tlb}");
            assert_eq!(s.page_faults, 2, "{design} behind {tlb}");
            digests.insert(s.digest);
        }
    }
    assert_eq!(digests.len(), 1);
}
