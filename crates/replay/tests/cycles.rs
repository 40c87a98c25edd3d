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
