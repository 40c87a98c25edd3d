//! Every design of one page size keeps the same TLB entries for the same trace, so the TLB
//! counters (L1, L2, `tlb_misses`) and the walks are identical across designs, even when tables
//! resize and free frames (ECPT's old ways, hashed tables, radix tables emptied under a huge page):
//! freeing a table drops only the page-walk-cache entries that point at it.

use ptbench_core::{Access, PageSize, PageTable, Perms, Pfn, PhysMem, Pte, Vpn};
use ptbench_pagetable::{DesignSpec, Radix, RadixConfig};
use ptbench_replay::ptbench_tlb::{TlbSpec, TlbStats};
use ptbench_replay::{HugePolicy, Sim, SimOptions, Simulator, Stats};
use ptbench_trace::gen::{GenSpec, Generator, Pattern};
use ptbench_trace::TraceReader;

/// The default designs of 4 KiB pages (`radix:levels=3,pobits=14` has 16 KiB pages, so other
/// TLB keys), the 39-bit radix, and the oracle.
const DESIGNS: &[&str] = &[
    "x86-64",
    "x86-64-5l",
    "radix:levels=3,pobits=12",
    "flat:va_bits=40",
    "hashed",
    "hashed:collision=chain",
    "inverted",
    "ecpt",
    "reference",
];

/// 400 Ki zipf accesses over 4 GiB (2^20 pages) starting at 64 GiB.
fn trace() -> Vec<Access> {
    let mut spec = GenSpec::new(Pattern::Zipf, 400 << 10, 4 << 30);
    spec.seed = 7;
    let mut g = Generator::new(spec).unwrap();
    let (mut out, mut buf) = (Vec::new(), Vec::new());
    while g.read_batch(&mut buf).unwrap() > 0 {
        out.extend_from_slice(&buf);
    }
    out
}

struct Run {
    stats: Stats,
    tlb: TlbStats,
    resizes: u64,
}

fn run(design: &str, tlb: &str, huge: HugePolicy, range: (u64, u64), trace: &[Access]) -> Run {
    let opts = SimOptions {
        huge,
        ..SimOptions::default()
    };
    let spec = DesignSpec::parse(design).unwrap();
    let mut sim = Sim::build_with_tlb(&spec, &TlbSpec::parse(tlb).unwrap(), &opts).unwrap();
    sim.set_address_range(range.0, range.1);
    for (i, batch) in trace.chunks(1 << 16).enumerate() {
        sim.replay(batch, (i << 16) as u64).unwrap();
    }
    Run {
        stats: sim.stats(),
        tlb: sim.tlb_stats().unwrap(),
        resizes: sim.footprint().resizes,
    }
}

/// The counters that must not depend on the design.
fn tlb_counters(t: &TlbStats) -> [u64; 8] {
    [
        t.l1i_hits,
        t.l1i_misses,
        t.l1d_hits,
        t.l1d_misses,
        t.l2_hits,
        t.l2_misses,
        t.tlb_misses,
        t.flushes,
    ]
}

#[test]
fn every_design_has_the_same_tlb_counters_while_tables_resize_and_free_frames() {
    let trace = trace();
    let lo = trace.iter().map(|a| a.addr).min().unwrap();
    let hi = trace.iter().map(|a| a.last_byte().unwrap()).max().unwrap();
    // Base pages everywhere, then THP over the lower half of the range only: 2 MiB pages there,
    // 4 KiB pages above, so the tables of both sizes fill.
    let cases = [
        (HugePolicy::Off, (lo, hi)),
        (HugePolicy::Thp, (lo, lo + (hi - lo) / 2)),
    ];
    for tlb in ["skylake", "champsim"] {
        for (huge, range) in cases {
            let want = run("reference", tlb, huge, range, &trace);
            assert!(
                want.tlb.tlb_misses > 10_000,
                "{tlb} {huge:?}: a trace that misses"
            );
            for design in DESIGNS {
                let got = run(design, tlb, huge, range, &trace);
                let what = format!("{design} under {tlb}, {huge:?}");
                assert_eq!(got.stats.digest, want.stats.digest, "{what}");
                assert_eq!(got.stats.page_faults, want.stats.page_faults, "{what}");
                assert_eq!(
                    tlb_counters(&got.tlb),
                    tlb_counters(&want.tlb),
                    "{what}: l1i, l1d, l2 hits/misses, tlb_misses, flushes"
                );
                assert_eq!(got.tlb.flushes, 0, "{what}");
                assert_eq!(got.stats.walks, want.stats.walks, "{what}");
                assert_eq!(
                    got.stats.walks,
                    got.tlb.tlb_misses + got.stats.page_faults,
                    "{what}"
                );
                if design.starts_with("hashed") || *design == "ecpt" {
                    assert!(got.resizes > 0, "{what}: the tables resize");
                }
            }
        }
    }
}

/// A radix table emptied under a huge page: the walk that faults caches a pointer to the empty
/// page table; mapping the 2 MiB page frees that table, and the retry must not use the stale
/// pointer. Exactly that entry goes: no flush, and the TLB keeps what it had.
#[test]
fn a_radix_table_freed_under_a_huge_page_drops_only_its_walk_cache_entry() {
    let cfg = RadixConfig::X86_64;
    let mut mem = PhysMem::new(cfg.pobits, cfg.phys_bits()).unwrap();
    let mut pt = Radix::new(cfg, &mut mem).unwrap();
    // A page mapped and unmapped in the 2 MiB region at vpn 0x400 leaves its page table empty.
    let pte = Pte {
        pfn: Pfn(0x4_0000),
        perms: Perms::RW,
        size: PageSize::K4,
    };
    pt.map(&mut mem, Vpn(0x450), pte).unwrap();
    pt.unmap(&mut mem, Vpn(0x450)).unwrap();
    assert_eq!(pt.footprint().per_level, vec![1, 1, 1, 1]);
    let opts = SimOptions {
        huge: HugePolicy::Fixed(PageSize::M2),
        ..SimOptions::default()
    };
    let tlb = TlbSpec::parse("l1=4x4,pwc=4x4").unwrap();
    let mut sim = Simulator::new("x86-64".into(), pt, mem, &opts)
        .with_tlb(&tlb)
        .unwrap();
    let trace = [
        Access::new(ptbench_core::AccessKind::Read, 0x20_0000, 8),
        Access::new(ptbench_core::AccessKind::Read, 0x45_0000, 8),
        Access::new(ptbench_core::AccessKind::Read, 0x20_0008, 8),
    ];
    sim.replay(&trace, 0).unwrap();
    assert_eq!(
        sim.table().footprint().per_level,
        vec![1, 1, 1, 0],
        "the page table was freed"
    );
    let t = sim.tlb_stats().unwrap();
    assert_eq!(
        t.pwc_invalidations, 1,
        "the PD entry pointing at the freed table"
    );
    assert_eq!(t.flushes, 0);
    assert_eq!(
        (t.l1d_hits, t.tlb_misses),
        (1, 2),
        "the first page is still cached"
    );
    assert_eq!(sim.stats().page_faults, 2);
}
