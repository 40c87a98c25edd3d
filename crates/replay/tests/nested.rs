//! Nested (two-dimensional) walks: the closed forms of a second pass over mapped pages, and every
//! guest over every host translating as the two tables composed by hand.

mod common;

use proptest::prelude::*;
use ptbench_core::{Access, AccessKind, PageTable, Vpn, WalkCost};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::TlbSpec;
use ptbench_replay::{Sim, SimOptions, Stats};

/// `n` distinct pages, each touched once, spread so that they use several upper-level tables
/// (all below 4 GiB, for 32-bit guests).
fn pages(n: u64) -> Vec<Access> {
    (0..n)
        .map(|i| Access::new(AccessKind::Read, 0x40_0000 + i * 37 * 4096 + 8 * i, 8))
        .collect()
}

/// The counters of a first pass over `trace` (every page mapped) and of a second pass alone.
fn two_passes(design: &str, tlb: &TlbSpec, trace: &[Access]) -> (Stats, Stats) {
    let spec = DesignSpec::parse(design).unwrap();
    let mut sim = Sim::build_with_tlb(&spec, tlb, &SimOptions::default()).unwrap();
    sim.replay(trace, 0).unwrap();
    let first = sim.stats();
    sim.replay(trace, trace.len() as u64).unwrap();
    let both = sim.stats();
    let second = Stats {
        translations: both.translations - first.translations,
        walks: both.walks - first.walks,
        walk_refs: both.walk_refs - first.walk_refs,
        host_refs: both.host_refs - first.host_refs,
        host_walks: both.host_walks - first.host_walks,
        page_faults: both.page_faults - first.page_faults,
        host_faults: both.host_faults - first.host_faults,
        ..Stats::default()
    };
    (first, second)
}

#[test]
fn a_second_pass_reads_g_plus_1_times_h_plus_1_minus_1_entries_per_translation() {
    let n = 200;
    let trace = pages(n);
    // (guest, host, guest reads g, host reads h per walk)
    for (guest, host, g, h) in [
        ("x86-64", "x86-64", 4, 4),
        ("x86-64-5l", "x86-64-5l", 5, 5),
        ("two-level", "x86-64", 2, 4),
        ("[radix:levels=3,pobits=14]", "x86-64", 3, 4),
        ("x86-64", "[radix:levels=2,pobits=12,pte_bytes=4]", 4, 2),
        ("flat", "flat", 1, 1),
        ("flat", "x86-64", 1, 4),
        ("x86-64", "reference", 4, 0),
    ] {
        let design = format!("nested:guest={guest},host={host}");
        let (first, second) = two_passes(&design, &TlbSpec::NONE, &trace);
        let per = (g + 1) * (h + 1) - 1;
        assert_eq!(second.translations, n, "{design}");
        assert_eq!(second.walks, n, "{design}");
        assert_eq!(second.walk_refs, n * per, "{design}: (g+1)(h+1)-1 = {per}");
        assert_eq!(
            second.walk_refs - second.host_refs,
            n * g,
            "{design}: guest refs"
        );
        assert_eq!(second.host_refs, n * (g + 1) * h, "{design}: host refs");
        assert_eq!(second.host_walks, n * (g + 1), "{design}: host walks");
        assert_eq!((second.page_faults, second.host_faults), (0, 0), "{design}");
        // The first pass faulted every page in, in the guest; the host mapped each guest
        // page and each guest table frame once.
        assert_eq!(first.page_faults, n, "{design}");
        assert!(first.host_faults > n, "{design}: {}", first.host_faults);
    }
    // The textbook numbers.
    let per = |d: &str| {
        let (_, s) = two_passes(d, &TlbSpec::NONE, &trace);
        s.walk_refs / s.translations
    };
    assert_eq!(per("nested:guest=x86-64,host=x86-64"), 24);
    assert_eq!(per("nested:guest=x86-64-5l,host=x86-64-5l"), 35);
    assert_eq!(per("nested:guest=two-level,host=x86-64"), 14);
    assert_eq!(per("nested:guest=flat,host=flat"), 3);
}

#[test]
fn a_nested_tlb_and_a_host_walk_cache_cut_the_host_dimension() {
    let n = 200;
    let trace = pages(n);
    let design = "nested:guest=x86-64,host=x86-64";
    // A nested TLB holding every guest-physical page: a second pass reads the guest's 4 entries
    // per translation and walks the host never.
    let tlb = TlbSpec::parse("ntlb=1024x4").unwrap();
    let (_, second) = two_passes(design, &tlb, &trace);
    assert_eq!(second.walk_refs, 4 * n);
    assert_eq!((second.host_refs, second.host_walks), (0, 0));
    // A host page-walk cache holding every upper host level: each of the 5 host walks reads only
    // its leaf entry, 4 + 5 = 9 per translation.
    let tlb = TlbSpec::parse("hpwc=1024x4").unwrap();
    let (_, second) = two_passes(design, &tlb, &trace);
    assert_eq!(second.walk_refs, 9 * n);
    assert_eq!((second.host_refs, second.host_walks), (5 * n, 5 * n));
    // The counters, through a whole run: a hit or a miss per host translation.
    let spec = DesignSpec::parse(design).unwrap();
    let tlb = TlbSpec::parse("ntlb=1024x4,hpwc=1024x4").unwrap();
    let mut sim = Sim::build_with_tlb(&spec, &tlb, &SimOptions::default()).unwrap();
    sim.replay(&trace, 0).unwrap();
    sim.replay(&trace, n).unwrap();
    let (s, t) = (sim.stats(), sim.tlb_stats().unwrap());
    assert_eq!(t.ntlb_misses, s.host_walks);
    assert!(t.ntlb_hits >= 5 * n, "{}", t.ntlb_hits);
    // One host page-walk-cache lookup per host walk, and one more for each walk again after a
    // host fault.
    assert_eq!(t.hpwc_hits + t.hpwc_misses, s.host_walks + s.host_faults);
    let text = "l1i=128x8,l1d=64x4,l2=1536x12,ntlb=64x4,hpwc=32x4,repl=lru,l2incl=non,huge=separate,asid=on";
    assert_eq!(
        TlbSpec::parse("skylake,ntlb=64x4,hpwc=32x4")
            .unwrap()
            .to_string(),
        text
    );
    assert_eq!(TlbSpec::parse(text).unwrap().to_string(), text);
}

#[test]
fn native_designs_have_no_host_dimension() {
    let (first, second) = two_passes("x86-64", &TlbSpec::NONE, &pages(50));
    assert_eq!(second.walk_refs, 50 * 4);
    assert_eq!(
        (first.host_refs, first.host_walks, first.host_faults),
        (0, 0, 0)
    );
}

#[test]
fn the_spec_round_trips_with_brackets() {
    for text in [
        "nested:guest=x86-64,host=x86-64",
        "nested:guest=[radix:levels=3,pobits=14],host=ecpt",
        "nested:guest=hashed,host=[radix:levels=2,pobits=12,pte_bytes=4]",
    ] {
        let spec = DesignSpec::parse(text).unwrap();
        assert_eq!(spec.to_string(), text);
        assert_eq!(DesignSpec::parse(&spec.to_string()).unwrap(), spec);
    }
    assert_eq!(
        DesignSpec::parse("nested").unwrap().to_string(),
        "nested:guest=x86-64,host=x86-64"
    );
    for (bad, says) in [
        ("nested:guest=[x86-64", "unbalanced brackets"),
        ("nested:guest=x86-64],host=x86-64", "unbalanced brackets"),
        ("nested:guest=nested", "native designs"),
        (
            "nested:guest=radix:levels=3,pobits=14",
            "has no parameter `pobits`",
        ),
        ("nested:host=bogus", "unknown design `bogus`"),
    ] {
        let err = DesignSpec::parse(bad).unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

/// Guests and hosts of the differential test: every kind of design.
const SIDES: &[&str] = &[
    "x86-64",
    "[radix:levels=3,pobits=12]",
    "[flat:va_bits=40]",
    "[hashed:collision=chain,entries=8,bucket=2]",
    "inverted",
    "[ecpt:entries=2,ways=4,cluster=4,max_kicks=0]",
];

fn access() -> impl Strategy<Value = Access> {
    (
        prop::sample::select(vec![0x40_0000u64, 0x60_0000, 0x7f_0000_0000]),
        0u64..(1 << 20),
        0u8..3,
    )
        .prop_map(|(base, off, kind)| {
            let kind = [AccessKind::Read, AccessKind::Write, AccessKind::Fetch][kind as usize];
            Access::new(kind, base + (off & !7), 8)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Every guest over every host: the same translations and faults as the guest alone (the
    /// digest), and each page's host-physical address, by the two-dimensional walk, is the host's
    /// mapping of the page the guest's own table gives: the two tables composed by hand. Host
    /// frames are never shared by two guest-physical pages.
    #[test]
    fn every_guest_over_every_host_composes_the_two_tables(
        trace in prop::collection::vec(access(), 1..300),
        tlb in prop::sample::select(vec!["none", "l1=4x4", "skylake", "l1=4x4,pwc=4x2,ntlb=4x2,hpwc=4x2", "skylake,ntlb=16x4"]),
    ) {
        let tlb = TlbSpec::parse(tlb).unwrap();
        let opts = SimOptions::default();
        for guest in SIDES {
            let native_spec = DesignSpec::parse(guest.trim_matches(['[', ']'])).unwrap();
            let mut native = Sim::build_with_tlb(&native_spec, &tlb, &opts).unwrap();
            native.replay(&trace, 0).unwrap();
            let want = native.stats();
            for host in SIDES {
                let design = format!("nested:guest={guest},host={host}");
                let spec = DesignSpec::parse(&design).unwrap();
                let mut sim = Sim::build_with_tlb(&spec, &tlb, &opts).unwrap();
                sim.replay(&trace, 0).unwrap();
                let got = sim.stats();
                prop_assert_eq!(got.digest, want.digest, "{}", design);
                prop_assert_eq!(got.page_faults, want.page_faults, "{}", design);
                prop_assert_eq!(got.walks, want.walks, "{}", design);
                prop_assert!(got.walk_refs >= want.walk_refs + got.host_refs, "{}", design);
                let Sim::Nested(s) = &sim else { unreachable!() };
                let nested = s.table();
                let mut frames = std::collections::HashMap::new();
                for a in &trace {
                    let vpn = Vpn(a.addr >> 12);
                    let gpa = with_guest(&native, vpn);
                    let (pte, hpa) = nested.walk_to_host(s.mem(), vpn).unwrap();
                    prop_assert_eq!(Some(pte.frame_of(vpn, 12).0 << 12), gpa, "{}", design);
                    let gpa = gpa.unwrap();
                    prop_assert_eq!(Some(hpa), nested.host_address(gpa), "{}", design);
                    if let Some(other) = frames.insert(hpa, gpa) {
                        prop_assert_eq!(other, gpa, "{}: two guest pages on one host frame", design);
                    }
                }
            }
        }
    }
}

/// The guest-physical address of page `vpn` in the native simulation's table.
fn with_guest(sim: &Sim, vpn: Vpn) -> Option<u64> {
    fn find<P: PageTable>(s: &ptbench_replay::Simulator<P>, vpn: Vpn) -> Option<u64> {
        let pte = s.table().walk(s.mem(), vpn, &mut WalkCost::default())?;
        Some(pte.frame_of(vpn, 12).0 << 12)
    }
    match sim {
        Sim::Radix(s) => find(s, vpn),
        Sim::Flat(s) => find(s, vpn),
        Sim::Hashed(s) => find(s, vpn),
        Sim::Inverted(s) => find(s, vpn),
        Sim::Ecpt(s) => find(s, vpn),
        Sim::Reference(s) => find(s, vpn),
        Sim::Nested(s) => find(s, vpn),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// With processes, forks, region events, permission faults and every OS setting, a nested
    /// design translates as its guest does: every counter but the walks' references equal.
    #[test]
    fn a_nested_design_counts_what_its_guest_counts(
        ops in prop::collection::vec(common::op(), 1..40),
        first in any::<bool>(),
        os in prop::sample::select(common::os_configs()),
        tlb in prop::sample::select(vec!["none", "l1=4x4,asid=on", "skylake", "l1=4x4,asid=off,pwc=4x2,ntlb=4x2,hpwc=4x2"]),
    ) {
        let trace: Vec<Access> = ops.into_iter().flatten().collect();
        let tlb = TlbSpec::parse(tlb).unwrap();
        let opts = common::options(first, os);
        for (guest, host) in [
            ("x86-64", "x86-64"),
            ("x86-64-5l", "[ecpt:entries=2,ways=4,cluster=4,max_kicks=0]"),
            ("[hashed:collision=chain,entries=8,bucket=2]", "x86-64"),
            ("inverted", "[radix:levels=3,pobits=12]"),
        ] {
            let native = DesignSpec::parse(guest.trim_matches(['[', ']'])).unwrap();
            let mut native = Sim::build_with_tlb(&native, &tlb, &opts).unwrap();
            let design = format!("nested:guest={guest},host={host}");
            let mut sim = Sim::build_with_tlb(&DesignSpec::parse(&design).unwrap(), &tlb, &opts).unwrap();
            let a = native.replay(&trace, 0).map_err(|e| e.to_string());
            let b = sim.replay(&trace, 0).map_err(|e| e.to_string().replace(&design, guest.trim_matches(['[', ']'])));
            prop_assert_eq!(a.is_ok(), b.is_ok(), "{}", design);
            let (want, got) = (native.stats(), sim.stats());
            let same = |s: &Stats| Stats {
                walk_refs: 0,
                probes: 0,
                host_refs: 0,
                host_walks: 0,
                host_faults: 0,
                busy_nanos: 0,
                refs_per_walk: Default::default(),
                // The per-core TLB counters hold the host's nested TLB and page-walk cache.
                cores: Default::default(),
                ..s.clone()
            };
            prop_assert_eq!(same(&got), same(&want), "{}", design);
            prop_assert_eq!(got.cores.threads, want.cores.threads, "{}", design);
            prop_assert_eq!(native.tlb_stats().map(|t| (t.l1i_misses, t.l1d_misses, t.l2_misses)),
                sim.tlb_stats().map(|t| (t.l1i_misses, t.l1d_misses, t.l2_misses)), "{}", design);
        }
    }
}

/// Walk cycles of a second pass over `n` mapped pages, with memory at 100 cycles and no cache
/// level: (walks, references, cycles).
fn second_pass_cycles(design: &str, n: u64) -> (u64, u64, u64) {
    let trace = pages(n);
    let opts = SimOptions {
        cache: "mem_lat=100".parse().unwrap(),
        ..SimOptions::default()
    };
    let spec = DesignSpec::parse(design).unwrap();
    let mut sim = Sim::build_with_tlb(&spec, &TlbSpec::NONE, &opts).unwrap();
    sim.replay(&trace, 0).unwrap();
    let first = sim.stats();
    sim.replay(&trace, n).unwrap();
    let both = sim.stats();
    (
        both.walks - first.walks,
        both.walk_refs - first.walk_refs,
        both.cycles.walk_cycles - first.cycles.walk_cycles,
    )
}

#[test]
fn with_memory_latency_only_a_nested_walk_costs_its_dependent_steps() {
    let n = 100;
    // Radix over radix: a chain of 24 dependent reads.
    assert_eq!(
        second_pass_cycles("nested:guest=x86-64,host=x86-64", n),
        (n, 24 * n, 24 * 100 * n)
    );
    // Elastic cuckoo over elastic cuckoo: the guest's probes (one per page size) need host walks,
    // all at once (each host walk's probes in one step), then the guest's probes, then the host
    // walk of the page found: 3 + 9 + 3 reads in 3 steps.
    assert_eq!(
        second_pass_cycles("nested:guest=ecpt,host=ecpt", n),
        (n, 15 * n, 3 * 100 * n)
    );
    // Radix over elastic cuckoo: 4 guest reads, each after a one-step host walk, then the last
    // host walk: 9 steps.
    assert_eq!(
        second_pass_cycles("nested:guest=x86-64,host=ecpt", n),
        (n, (4 + 5 * 3) * n, 9 * 100 * n)
    );
    // Native designs keep their shapes.
    assert_eq!(second_pass_cycles("x86-64", n), (n, 4 * n, 4 * 100 * n));
    assert_eq!(second_pass_cycles("ecpt", n), (n, 3 * n, 100 * n));
}

/// A fork gives the child new guest tables in guest-physical frames the host has never mapped;
/// the child's first walks map them (host faults, each walking the host table again). The fast
/// path, which repeats a remembered walk's cost without walking when no table changed, must not
/// repeat those faults' extra references: every count equals the general path's.
#[test]
fn a_walk_that_host_faulted_is_not_repeated_by_the_fast_path() {
    let mut trace = pages(8);
    trace.push(Access::new(AccessKind::Fork, 1, 0));
    trace.push(Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(1));
    let child: Vec<Access> = pages(8).into_iter().map(|a| a.in_asid(1)).collect();
    trace.extend_from_slice(&child);
    trace.extend_from_slice(&child);
    for design in ["nested", "nested:guest=hashed,host=x86-64"] {
        let spec = DesignSpec::parse(design).unwrap();
        let run = |no_fast_path| {
            let opts = SimOptions {
                no_fast_path,
                ..SimOptions::default()
            };
            let mut sim = Sim::build(&spec, &opts).unwrap();
            sim.replay(&trace, 0).unwrap();
            let mut s = sim.stats();
            s.busy_nanos = 0;
            s
        };
        let (fast, general) = (run(false), run(true));
        assert!(fast.host_faults > 0, "{design}");
        assert_eq!(fast, general, "{design}");
    }
}

/// The hypervisor's replacement, independently: the host faults and evictions of FIFO or clock
/// (second chance; a page's bit set when mapped and when a walk finds it) over `frames` frames,
/// for a string of guest-physical page references.
fn host_model(refs: &[u64], frames: usize, clock: bool) -> (u64, u64) {
    let (mut pages, mut bits): (Vec<u64>, Vec<bool>) = (Vec::new(), Vec::new());
    let (mut faults, mut evictions, mut hand) = (0, 0, 0);
    for &p in refs {
        if let Some(i) = pages.iter().position(|&q| q == p) {
            bits[i] = true;
            continue;
        }
        faults += 1;
        if pages.len() < frames {
            pages.push(p);
            bits.push(true);
            continue;
        }
        evictions += 1;
        loop {
            let f = hand;
            hand = (hand + 1) % frames;
            if clock && bits[f] {
                bits[f] = false;
                continue;
            }
            (pages[f], bits[f]) = (p, true);
            break;
        }
    }
    (faults, evictions)
}

#[test]
fn a_host_frame_limit_evicts_as_fifo_and_clock_do() {
    // A flat guest over a flat host, no TLB: each walk reads the guest's one table frame T (its
    // entries for these 20 consecutive pages share it) and then the page found. The first pass
    // walks each page twice (the guest faults in between: T, then T and the page); the second
    // once (T, the page).
    let p = 20u64;
    let trace: Vec<Access> = (0..p)
        .map(|i| Access::new(AccessKind::Read, 0x40_0000 + i * 4096, 8))
        .collect();
    let t = u64::MAX;
    let mut refs = Vec::new();
    for i in 0..p {
        refs.extend([t, t, i]);
    }
    for i in 0..p {
        refs.extend([t, i]);
    }
    for (frames, policy) in [
        (8usize, "fifo"),
        (8, "clock"),
        (2, "fifo"),
        (2, "clock"),
        (21, "fifo"),
        (64, "clock"),
    ] {
        let design =
            format!("nested:guest=flat,host=flat,host_frames={frames},host_policy={policy}");
        let spec = DesignSpec::parse(&design).unwrap();
        let mut sim = Sim::build(&spec, &SimOptions::default()).unwrap();
        sim.replay(&trace, 0).unwrap();
        sim.replay(&trace, p).unwrap();
        let s = sim.stats();
        let (faults, evictions) = host_model(&refs, frames, policy == "clock");
        assert_eq!(
            (s.host_faults, s.host_evictions),
            (faults, evictions),
            "{design}"
        );
        // Guest: two walks of one read for each page in the first pass, one in the second. Host:
        // one read per translation, and one more for each fault (the walk that found nothing).
        assert_eq!(s.walk_refs - s.host_refs, 3 * p, "{design}");
        assert_eq!(s.host_refs, 5 * p + faults, "{design}");
        assert_eq!(s.host_walks, 5 * p, "{design}");
        assert_eq!(s.page_faults, p, "{design}");
    }
    // Without a limit: T and each page, once.
    let (_, second) = two_passes("nested:guest=flat,host=flat", &TlbSpec::NONE, &trace);
    assert_eq!((second.host_faults, second.host_evictions), (0, 0));
    // Every walk that evicted flushes the TLB (once, however many pages it evicted): behind a TLB
    // that holds all 20 pages, the second pass walks only with a limit.
    let tlb = TlbSpec::parse("l1=64x4").unwrap();
    let (_, second) = two_passes("nested:guest=flat,host=flat", &tlb, &trace);
    assert_eq!(second.walks, 0);
    let spec = DesignSpec::parse("nested:guest=flat,host=flat,host_frames=8").unwrap();
    let mut sim = Sim::build_with_tlb(&spec, &tlb, &SimOptions::default()).unwrap();
    sim.replay(&trace, 0).unwrap();
    let first = sim.stats().walks;
    sim.replay(&trace, p).unwrap();
    let (s, t) = (sim.stats(), sim.tlb_stats().unwrap());
    assert!(
        s.walks - first >= p / 2,
        "{} walks in the second pass",
        s.walks - first
    );
    assert!(
        t.flushes > 0 && t.flushes <= s.host_evictions,
        "{} {}",
        t.flushes,
        s.host_evictions
    );
}
