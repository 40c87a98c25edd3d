//! Walk cycles against closed forms: with no cache level every read costs `mem_lat`, so a radix
//! walk (a chain) costs its references x `mem_lat` and an elastic cuckoo walk (every way probed
//! at once) one `mem_lat`; with an L1 larger than the table, a walk repeated after the first
//! pass costs its references x `l1_lat`. The trace's own accesses are counted at the L1s.

use ptbench_core::{Access, AccessKind};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::TlbSpec;
use ptbench_replay::{Sim, SimOptions, Stats};

/// `passes` passes over `pages` pages (a load and a fetch on each), each access on a line of
/// its own set (line `p` of page `p`), so that no two lines of the trace conflict in a cache.
fn trace(pages: u64, passes: usize) -> Vec<Access> {
    let mut t = Vec::new();
    for _ in 0..passes {
        for p in 0..pages {
            t.push(Access::new(
                AccessKind::Read,
                0x10_0000_0000 + p * 4160 + 8,
                8,
            ));
            t.push(Access::new(AccessKind::Fetch, 0x20_0000 + p * 4160, 4));
        }
    }
    t
}

/// Fetches only, one per page, `passes` times.
fn fetches(pages: u64, passes: usize) -> Vec<Access> {
    (0..passes)
        .flat_map(|_| (0..pages).map(|p| Access::new(AccessKind::Fetch, 0x20_0000 + p * 4096, 4)))
        .collect()
}

fn sim(design: &str, tlb: &str, cache: &str) -> Sim {
    let opts = SimOptions {
        cache: cache.parse().unwrap(),
        ..SimOptions::default()
    };
    Sim::build_with_tlb(
        &DesignSpec::parse(design).unwrap(),
        &TlbSpec::parse(tlb).unwrap(),
        &opts,
    )
    .unwrap()
}

fn run(design: &str, tlb: &str, cache: &str, t: &[Access]) -> Stats {
    let mut s = sim(design, tlb, cache);
    s.replay(t, 0).unwrap();
    s.stats()
}

#[test]
fn without_caches_a_radix_walk_costs_its_references_times_mem_lat() {
    for design in [
        "x86-64",
        "x86-64-5l",
        "radix:levels=3,pobits=14",
        "flat:va_bits=48",
        "hashed",
        "inverted",
    ] {
        let s = run(design, "none", "mem_lat=100", &trace(50, 2));
        assert!(s.walk_refs > 0 && s.walks >= 200, "{design}");
        assert_eq!(s.cycles.walk_cycles, s.walk_refs * 100, "{design}");
        assert_eq!(
            s.cycles.cache.pte_served[3], s.walk_refs,
            "{design}: every read from memory"
        );
    }
}

#[test]
fn an_elastic_cuckoo_walk_costs_one_mem_lat_per_parallel_step() {
    let s = run("ecpt", "none", "mem_lat=100", &trace(50, 2));
    // Every walk probes all ways at once, but the first: nothing was mapped, nothing read.
    assert_eq!(s.walk_refs, 3 * (s.walks - 1));
    assert_eq!(s.cycles.walk_cycles, 100 * (s.walks - 1));
    assert_eq!(s.cycles.walk_cycles_max, 100);
    assert_eq!(s.cycles.walk_cycles_p50, 100);
}

#[test]
fn with_an_l1_larger_than_the_table_a_repeated_walk_costs_references_times_l1_lat() {
    // Fetches with no L1I go past the L1D: it holds table lines only, and every table line of
    // the first pass is still there for the next ones.
    for design in ["x86-64", "hashed", "inverted", "ecpt", "flat:va_bits=48"] {
        let mut sim = sim(
            design,
            "none",
            "l1i=none,l1d=4096x8,l2=none,llc=none,l1_lat=2,mem_lat=100",
        );
        let t = fetches(40, 3);
        let (first, rest) = t.split_at(40);
        sim.replay(first, 0).unwrap();
        let a = sim.stats();
        sim.replay(rest, 40).unwrap();
        let b = sim.stats();
        let refs = b.walk_refs - a.walk_refs;
        assert_eq!(
            b.walks - a.walks,
            80,
            "{design}: one walk per translation, no fault"
        );
        let steps = if design == "ecpt" {
            b.walks - a.walks
        } else {
            refs
        };
        assert_eq!(
            b.cycles.walk_cycles - a.cycles.walk_cycles,
            steps * 2,
            "{design}"
        );
        assert_eq!(b.cycles.cache.l1d.accesses, 0, "{design}");
        assert_eq!(
            b.cycles.cache.pte_served[0] - a.cycles.cache.pte_served[0],
            refs,
            "{design}"
        );
    }
}

#[test]
fn a_tlb_hit_walks_nothing_and_data_still_goes_through_the_caches() {
    let s = run("x86-64", "skylake", "skylake", &trace(10, 5));
    // 10 data pages and 10 code pages: after the first pass every translation hits the TLB.
    assert_eq!(
        s.walks,
        20 * 2,
        "a cold walk and its retry after the fault, per page"
    );
    assert_eq!(s.cycles.cache.l1d.accesses, 50);
    assert_eq!(s.cycles.cache.l1i.accesses, 50);
    // The code and data lines stay in the L1s after their first touch.
    assert_eq!(s.cycles.cache.l1d.misses, 10);
    assert_eq!(s.cycles.cache.l1i.misses, 10);
    assert!(s.cycles.walk_cycles > 0);
}

fn run_with(design: &str, tlb: &str, opts: SimOptions, t: &[Access]) -> Stats {
    let mut s = Sim::build_with_tlb(
        &DesignSpec::parse(design).unwrap(),
        &TlbSpec::parse(tlb).unwrap(),
        &opts,
    )
    .unwrap();
    s.replay(t, 0).unwrap();
    s.stats()
}

#[test]
fn a_page_walk_cache_hit_costs_its_latency_plus_the_levels_below() {
    // 40 pages of one 2 MiB region: after the first pass the PSCL2 entry (pointing at the leaf
    // table) hits, and each walk reads the leaf entry alone.
    for pwc_lat in [1, 3] {
        let tlb = format!("pwc=16x4,pwc_lat={pwc_lat}");
        let mut sim = sim("x86-64", &tlb, "mem_lat=100");
        let t = fetches(40, 3);
        let (first, rest) = t.split_at(40);
        sim.replay(first, 0).unwrap();
        let a = sim.stats();
        // Every walk pays the lookup, hit or miss, then mem_lat per read.
        assert_eq!(a.cycles.walk_cycles, a.walks * pwc_lat + a.walk_refs * 100);
        sim.replay(rest, 40).unwrap();
        let b = sim.stats();
        assert_eq!((b.walks - a.walks, b.walk_refs - a.walk_refs), (80, 80));
        assert_eq!(
            b.cycles.walk_cycles - a.cycles.walk_cycles,
            80 * (pwc_lat + 100),
            "pwc_lat={pwc_lat}"
        );
        assert_eq!(b.cycles.walk_cycles_p50, pwc_lat + 100);
    }
    // Without page-walk caches no lookup is paid.
    let s = run("x86-64", "none", "mem_lat=100", &fetches(40, 3));
    assert_eq!(s.cycles.walk_cycles, s.walk_refs * 100);
}

#[test]
fn a_translation_costs_its_tlb_lookup_plus_its_walks() {
    // 20 pages (10 data, 10 code), 5 passes: 20 cold misses (each a walk, a fault and a retry),
    // then 80 L1 hits. Fetches and loads alike.
    let t = trace(10, 5);
    let s = run("x86-64", "skylake,l1_lat=2,l2_lat=10", "mem_lat=100", &t);
    let tlb = (s.translations, s.walks);
    assert_eq!(tlb, (100, 40));
    assert_eq!(s.cycles.walk_cycles, s.walk_refs * 100);
    assert_eq!(
        s.cycles.translation_cycles,
        80 * 2 + 20 * 10 + s.cycles.walk_cycles,
        "L1 hits at l1_lat, L1 misses at l2_lat (the total of an L2 lookup), then the walks"
    );
    // Without an L2 a miss costs the L1 lookup.
    let s = run("x86-64", "l1=64x4,l1_lat=2", "mem_lat=100", &t);
    assert_eq!(s.cycles.translation_cycles, 100 * 2 + s.cycles.walk_cycles);
    // The defaults: 1 and 9 cycles.
    let s = run("x86-64", "skylake", "mem_lat=100", &t);
    assert_eq!(
        s.cycles.translation_cycles,
        80 + 20 * 9 + s.cycles.walk_cycles
    );
    // Without TLBs a translation costs its walks.
    let s = run("x86-64", "none", "mem_lat=100", &t);
    assert_eq!(s.cycles.translation_cycles, s.cycles.walk_cycles);
}

#[test]
fn faults_cost_fault_lat_each_plus_disk_lat_per_page_moved() {
    // No memory limit: every distinct page is one minor fault, nothing touches the disk.
    let t = trace(10, 2);
    let s = run(
        "x86-64",
        "none",
        "mem_lat=100,fault_lat=1000,disk_lat=50000",
        &t,
    );
    assert_eq!((s.page_faults, s.os.disk_reads + s.os.disk_writes), (20, 0));
    assert_eq!(s.cycles.fault_cycles, 20 * 1000);
    // Four frames for 20 pages, stores: pages are evicted dirty and read back from swap.
    let stores: Vec<Access> = (0..3)
        .flat_map(|_| (0..20u64).map(|p| Access::new(AccessKind::Write, 0x4000_0000 + p * 4096, 8)))
        .collect();
    let mut opts = SimOptions {
        cache: "mem_lat=100,fault_lat=1000,disk_lat=50000".parse().unwrap(),
        ..SimOptions::default()
    };
    opts.os.frames = Some(4);
    let s = run_with("x86-64", "none", opts, &stores);
    // LRU over a loop larger than memory: every access faults; the first 20 are minor, the
    // other 40 read their page back; every eviction wrote a dirty page.
    assert_eq!(s.page_faults, 60);
    assert_eq!((s.os.disk_reads, s.os.disk_writes), (40, 56));
    assert_eq!(s.cycles.fault_cycles, 60 * 1000 + (40 + 56) * 50000);
    // Fault costs are apart: translation cycles are the walks (no TLB).
    assert_eq!(s.cycles.translation_cycles, s.cycles.walk_cycles);
}

#[test]
fn an_elastic_cuckoo_walk_with_its_walk_cache_is_one_step_or_two_after_a_wrong_way() {
    // Many pages into a small ECPT: kicks and resizes move clusters between ways, so cached
    // ways go stale. Every walk costs the lookup plus one mem_lat, or two after a wrong way.
    let t = fetches(3000, 2);
    let s = run("ecpt:entries=64", "pwc=64x4", "mem_lat=100", &t);
    let plain = run("ecpt:entries=64", "none", "mem_lat=100", &t);
    assert_eq!(s.digest, plain.digest);
    let values: Vec<u64> = s
        .cycles
        .walk_cycles_histogram
        .split(';')
        .map(|p| p.split_once(':').unwrap().0.parse().unwrap())
        .collect();
    // The first walk read nothing (an empty table): the lookup alone.
    assert_eq!(values, [1, 101, 201], "{}", s.cycles.walk_cycles_histogram);
    let plain_values: Vec<&str> = plain.cycles.walk_cycles_histogram.split(';').collect();
    assert_eq!(
        plain_values.len(),
        2,
        "{}",
        plain.cycles.walk_cycles_histogram
    );
    assert!(plain_values[0].starts_with("0:") && plain_values[1].starts_with("100:"));
}

#[test]
fn a_hashed_bucket_of_two_lines_is_read_line_after_line_up_to_its_match() {
    // Two pages. The first walk reads nothing (no table in use yet), its retry finds the entry
    // in the first slot; the second page's faulting walk scans its home bucket whole (no match),
    // its retry again stops in the first line. A bucket is one reference either way.
    let t = fetches(2, 1);
    for (design, fault_lines) in [
        ("hashed:bucket=4", 1),
        ("hashed:bucket=8", 2),
        ("hashed:bucket=8,collision=chain", 2),
    ] {
        let s = run(design, "none", "mem_lat=100", &t);
        assert_eq!((s.walks, s.walk_refs), (4, 3), "{design}");
        assert_eq!(
            s.cycles.walk_cycles,
            100 * (1 + fault_lines + 1),
            "{design}: the faulting walk reads {fault_lines} line(s), each retry one"
        );
    }
}
