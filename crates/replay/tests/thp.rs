//! Huge pages as a kernel gets them (issue 24): Linux's THP policies on physical memory as a
//! buddy allocator, against closed forms. `always` on unfragmented memory is `thp`; on fully
//! fragmented memory it is `off`; `defer` promotes exactly the regions with at least `thp_min`
//! present pages; splits, `madvise` and compaction count what a hand count says. Every design
//! that stores 2 MiB pages translates alike under each.

use ptbench_core::{Access, AccessKind};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::ptbench_tlb::TlbSpec;
use ptbench_replay::{HugePolicy, OsConfig, Sim, SimOptions, Stats};
use ptbench_trace::gen::{GenSpec, Generator, Pattern};
use ptbench_trace::TraceReader;
use std::collections::HashSet;

/// Designs of every kind that store 2 MiB pages.
const DESIGNS: &[&str] = &[
    "x86-64",
    "x86-64-5l",
    "hashed",
    "hashed:collision=chain,entries=8,bucket=2",
    "inverted",
    "ecpt",
    "reference",
];

const TLBS: &[&str] = &["none", "skylake", "l1=4x2,l2=16x4,pwc=8x2"];

const MIB: u64 = 1 << 20;

fn generated(pattern: Pattern, accesses: u64, bytes: u64, seed: u64) -> Vec<Access> {
    let mut g = Generator::new(GenSpec {
        seed,
        ..GenSpec::new(pattern, accesses, bytes)
    })
    .unwrap();
    let mut out = Vec::new();
    let mut batch = Vec::new();
    while g.read_batch(&mut batch).unwrap() > 0 {
        out.extend_from_slice(&batch);
    }
    out
}

fn range(trace: &[Access]) -> (u64, u64) {
    let accesses = trace.iter().filter(|a| !a.kind.is_event());
    let lo = accesses.clone().map(|a| a.addr).min().unwrap();
    let hi = accesses
        .map(|a| a.addr + u64::from(a.size) - 1)
        .max()
        .unwrap();
    (lo, hi)
}

/// Replays `trace` through `design` behind `tlb` with `huge` under `os`.
fn run(design: &str, tlb: &str, huge: HugePolicy, os: &str, trace: &[Access]) -> (Stats, Sim) {
    let spec = DesignSpec::parse(design).unwrap();
    let opts = SimOptions {
        huge,
        os: os.parse::<OsConfig>().unwrap(),
        ..SimOptions::default()
    };
    let mut sim = Sim::build_with_tlb(&spec, &TlbSpec::parse(tlb).unwrap(), &opts)
        .unwrap_or_else(|e| panic!("{design}: {e}"));
    let (lo, hi) = range(trace);
    sim.set_address_range(lo, hi);
    sim.replay(trace, 0)
        .unwrap_or_else(|e| panic!("{design} {tlb} {huge:?} {os}: {e}"));
    (sim.stats(), sim)
}

fn mmap(addr: u64, pages: u32, flags: u8) -> Access {
    Access {
        flags,
        ..Access::new(AccessKind::Mmap, addr, pages)
    }
}

fn read(addr: u64) -> Access {
    Access::new(AccessKind::Read, addr, 1)
}

fn write(addr: u64) -> Access {
    Access::new(AccessKind::Write, addr, 1)
}

/// `--fragmentation 0 --huge always` gives today's `--huge thp`: the same huge pages, faults
/// and TLB counters; on a trace that only maps huge pages, the same frames too (the digest).
/// On the same `--ram`, `thp` and `always` are one policy, frames and all.
#[test]
fn always_on_unfragmented_memory_is_thp() {
    // A uniform trace over 64 MiB: its edges are base pages, the rest 2 MiB pages.
    let mixed = generated(Pattern::Uniform, 20_000, 64 * MIB + 12_345, 3);
    // A trace inside whole 2 MiB regions: every page is huge.
    let aligned: Vec<Access> = (0..4000u64)
        .map(|i| read(0x4000_0000 + (i * 40_961) % (32 * MIB)))
        .chain([read(0x4000_0000), read(0x4000_0000 + 32 * MIB - 1)])
        .collect();
    for design in DESIGNS {
        for tlb in TLBS {
            for (trace, name) in [(&mixed, "mixed"), (&aligned, "aligned")] {
                let (thp, tsim) = run(design, tlb, HugePolicy::Thp, "", trace);
                let (always, asim) = run(design, tlb, HugePolicy::Always, "fragmentation=0", trace);
                let at = format!("{design} {tlb} {name}");
                assert_eq!(tsim.tlb_stats(), asim.tlb_stats(), "{at}");
                assert_eq!(
                    (thp.page_faults, thp.translations, thp.os.pages_mapped),
                    (
                        always.page_faults,
                        always.translations,
                        always.os.pages_mapped
                    ),
                    "{at}"
                );
                assert_eq!(always.os.thp_faults, thp.os.thp_faults, "{at}");
                assert_eq!(always.os.thp_fallbacks, 0, "{at}");
                assert!(always.os.thp_faults > 0, "{at}");
                if name == "aligned" {
                    assert_eq!(always.os.thp_faults, 16, "{at}");
                    assert_eq!(thp.digest, always.digest, "{at}");
                    if !design.starts_with("inverted") {
                        assert_eq!(thp.walk_refs, always.walk_refs, "{at}");
                    }
                }
                // On the same machine (--ram), thp is always: the same frames.
                let (thp_ram, _) = run(design, tlb, HugePolicy::Thp, "ram=16G", trace);
                assert_eq!(thp_ram.digest, always.digest, "{at}");
                assert_eq!(thp_ram.walk_refs, always.walk_refs, "{at}");
            }
        }
    }
}

/// `--fragmentation 1`: no 2 MiB block is free, so `always` makes no huge page and counts
/// every eligible region's first fault as a fallback; every other counter is `--huge off`'s on
/// the same memory, and its TLB and fault counters are today's `--huge off`'s.
#[test]
fn always_on_fully_fragmented_memory_is_off() {
    let trace = generated(Pattern::Uniform, 20_000, 64 * MIB + 12_345, 5);
    for design in DESIGNS {
        for tlb in TLBS {
            let at = format!("{design} {tlb}");
            let os = "ram=1G,fragmentation=1";
            let (always, asim) = run(design, tlb, HugePolicy::Always, os, &trace);
            let (off, osim) = run(design, tlb, HugePolicy::Off, os, &trace);
            let (plain, psim) = run(design, tlb, HugePolicy::Off, "", &trace);
            assert_eq!(always.os.thp_faults, 0, "{at}");
            assert_eq!(always.os.free_huge_blocks_min, 0, "{at}");
            // Each eligible 2 MiB region's first fault fell back; later faults in it see base
            // pages already there and do not ask.
            // The OS reads the range in pages: a region is eligible when its pages lie
            // within the first and last page touched.
            let (lo, hi) = range(&trace);
            let (lo, hi) = (lo >> 12, hi >> 12);
            let whole = (lo.div_ceil(512)..=hi / 512)
                .filter(|r| r * 512 + 511 <= hi)
                .count() as u64;
            assert_eq!(always.os.thp_fallbacks, whole, "{at}");
            let mut a = always.clone();
            a.os.thp_fallbacks = 0;
            a.busy_nanos = 0;
            let mut o = off.clone();
            o.busy_nanos = 0;
            assert_eq!(a, o, "{at}");
            assert_eq!(asim.tlb_stats(), osim.tlb_stats(), "{at}");
            assert_eq!(asim.tlb_stats(), psim.tlb_stats(), "{at}");
            assert_eq!(
                (always.page_faults, always.translations, always.walks),
                (plain.page_faults, plain.translations, plain.walks),
                "{at}"
            );
        }
    }
}

/// `--huge defer`: a trace touching `k` of the 512 pages of each region promotes exactly the
/// regions with `k >= thp_min`, at their `thp_min`-th fault. So faults are `sum(min(k, m))`,
/// promotions `#{k >= m}`, and the promotion shoots down the `m` base pages it replaces.
#[test]
fn defer_promotes_exactly_the_regions_at_thp_min() {
    let ks: [u64; 8] = [1, 17, 63, 64, 65, 300, 511, 512];
    let base = 0x10_0000_0000u64;
    let mut trace = Vec::new();
    for (r, &k) in ks.iter().enumerate() {
        let region = base + (r as u64) * 2 * MIB;
        // Pages in a scattered order, each touched twice.
        for i in 0..k {
            let page = (i * 37) % 512;
            let page = if k < 512 { i } else { page };
            trace.push(write(region + page * 4096));
            trace.push(read(region + page * 4096 + 16));
        }
    }
    // The trace's last byte closes the last region (k = 512 touches it).
    trace.push(read(base + (ks.len() as u64) * 2 * MIB - 1));
    for m in [1u64, 64, 65, 300, 512] {
        for design in DESIGNS {
            let at = format!("{design} thp_min={m}");
            let (s, _) = run(
                design,
                "skylake",
                HugePolicy::Defer,
                &format!("thp_min={m}"),
                &trace,
            );
            let promoted = ks.iter().filter(|&&k| k >= m).count() as u64;
            assert_eq!(s.os.thp_promotions, promoted, "{at}");
            assert_eq!(s.os.thp_faults, 0, "{at}");
            assert_eq!(
                s.page_faults,
                ks.iter().map(|&k| k.min(m)).sum::<u64>(),
                "{at}"
            );
            assert_eq!(s.os.tlb_shootdowns, promoted * m, "{at}");
        }
    }
}

/// `--huge madvise` backs only the regions an mmap advised (`rw-h`), like `always` there.
#[test]
fn madvise_backs_only_advised_regions() {
    let a = 0x20_0000_0000u64;
    let b = a + 8 * MIB;
    let mut trace = vec![
        mmap(a, 1024, 3 | ptbench_core::HUGE_ADVISED),
        mmap(b, 1024, 3),
    ];
    for i in 0..1024u64 {
        trace.push(read(a + i * 4096));
        trace.push(read(b + i * 4096));
    }
    for design in DESIGNS {
        let (m, _) = run(design, "skylake", HugePolicy::Madvise, "", &trace);
        assert_eq!(m.os.thp_faults, 2, "{design}");
        assert_eq!(m.page_faults, 2 + 1024, "{design}");
        let (al, _) = run(design, "skylake", HugePolicy::Always, "", &trace);
        assert_eq!((al.os.thp_faults, al.page_faults), (4, 4), "{design}");
    }
}

/// Splits: a partial munmap or mprotect of a huge page, or a write to one shared with a fork,
/// splits it into base pages on the same frames (nothing faults again but what changed).
#[test]
fn partial_unmap_protect_and_cow_split_huge_pages() {
    let a = 0x30_0000_0000u64;
    let mut prot = Access::new(AccessKind::Mprotect, a + 2 * MIB + 4096, 2);
    prot.flags = 1;
    let mut trace = vec![mmap(a, 1536, 3)];
    // Three huge pages.
    trace.extend([read(a), read(a + 2 * MIB), read(a + 6 * MIB - 1)]);
    // munmap one page in the middle of the first: split; its other 511 pages stay mapped.
    trace.push(Access::new(AccessKind::Munmap, a + 5 * 4096, 1));
    for i in 0..512u64 {
        if i != 5 {
            trace.push(read(a + i * 4096));
        }
    }
    // mprotect two pages of the second read-only: split; a write there is a protection fault.
    trace.push(prot);
    trace.push(write(a + 2 * MIB + 4096));
    trace.push(write(a + 2 * MIB + 3 * 4096));
    // Fork, then the child writes one page of the third: split, one base page copied.
    trace.push(Access::new(AccessKind::Fork, 1, 0));
    trace.push(write(a + 4 * MIB + 8).in_asid(1));
    trace.push(read(a + 4 * MIB + 4096).in_asid(1));
    trace.push(read(a + 4 * MIB + 4096));
    let mut digests = HashSet::new();
    for design in DESIGNS {
        let (s, _) = run(design, "skylake", HugePolicy::Always, "", &trace);
        assert_eq!(s.os.thp_faults, 3, "{design}");
        assert_eq!(s.os.thp_splits, 3, "{design}");
        assert_eq!(s.os.cow_copies, 1, "{design}");
        assert_eq!(s.os.protection_faults, 1, "{design}");
        // Faults: three huge, one protection, one copy-on-write; the fork's other writes
        // are none (the second mprotected write hits a page left writable).
        assert_eq!(s.page_faults, 3 + 1 + 1, "{design}");
        digests.insert(s.digest);
        // thp keeps today's rule: a partial munmap drops the whole huge page.
        let (t, _) = run(design, "skylake", HugePolicy::Thp, "", &trace);
        assert_eq!(t.os.thp_splits, 0, "{design}");
    }
    assert_eq!(digests.len(), 1, "every design translates alike");
}

/// Compaction: with every 2 MiB block used, a huge fault moves the pages out of the block that
/// holds the fewest movable pages; without it, the fault falls back.
#[test]
fn compaction_moves_the_fewest_pages_to_make_a_block() {
    // 8 MiB of memory: four 2 MiB blocks.
    let small = 0x40_0000_1000u64; // not 2 MiB aligned: base pages only
    let big = 0x50_0000_0000u64;
    let mut trace = vec![mmap(small, 514, 3), mmap(big, 2048, 3)];
    // 514 base pages: block 0 full, two pages in block 1.
    for i in 0..514u64 {
        trace.push(write(small + i * 4096));
    }
    // Two huge pages: blocks 2 and 3.
    trace.extend([read(big), read(big + 2 * MIB)]);
    // A third region: no free block, and compaction has nowhere to move block 1's pages, so a
    // fallback (a base page in block 1).
    trace.push(read(big + 4 * MIB));
    // Free three base pages of block 0; the next huge fault moves block 1's three pages there.
    trace.push(Access::new(AccessKind::Munmap, small, 3));
    trace.push(read(big + 8 * MIB - 1));
    for design in DESIGNS {
        let (s, _) = run(
            design,
            "skylake",
            HugePolicy::Always,
            "ram=8M,compaction=on",
            &trace,
        );
        assert_eq!(s.os.compaction_migrations, 3, "{design}");
        assert_eq!((s.os.thp_faults, s.os.thp_fallbacks), (3, 1), "{design}");
        assert_eq!(s.os.free_huge_blocks_min, 0, "{design}");
        let (n, _) = run(design, "skylake", HugePolicy::Always, "ram=8M", &trace);
        assert_eq!(
            (n.os.compaction_migrations, n.os.thp_faults),
            (0, 2),
            "{design}"
        );
        assert_eq!(n.os.thp_fallbacks, 2, "{design}");
    }
}

/// Under a memory limit, where frames land does not change what LRU and FIFO evict: with
/// physical memory as a fragmented, churning buddy allocator (its size from the limit), every
/// fault, eviction and TLB counter equals the plain model's. OPT's fault count is the same too;
/// which of the pages never used again it evicts breaks ties by frame, so its TLB counters may
/// differ.
#[test]
fn replacement_counts_do_not_depend_on_where_frames_land() {
    let trace = generated(Pattern::Zipf, 30_000, 4 * MIB, 9);
    for policy in ["lru", "fifo", "opt"] {
        for design in ["x86-64", "hashed", "ecpt"] {
            let plain = format!("frames=48,policy={policy}");
            let buddy = format!("{plain},fragmentation=0.5,churn=0.5");
            let spec = DesignSpec::parse(design).unwrap();
            let tlb = TlbSpec::parse("skylake").unwrap();
            let mut got = Vec::new();
            for os in [&plain, &buddy] {
                let opts = SimOptions {
                    os: os.parse::<OsConfig>().unwrap(),
                    ..SimOptions::default()
                };
                let mut sim = Sim::build_with_tlb(&spec, &tlb, &opts).unwrap();
                if policy == "opt" {
                    let mut pass = ptbench_replay::NextUses::new(
                        sim.page_shift(),
                        ptbench_replay::PageCrossing::Split,
                    );
                    pass.push(&trace);
                    sim.set_next_uses(pass.finish());
                }
                sim.replay(&trace, 0).unwrap();
                let s = sim.stats();
                got.push((
                    s.page_faults,
                    s.os.evictions,
                    s.os.dirty_evictions,
                    s.os.major_faults,
                    sim.tlb_stats(),
                ));
            }
            if policy == "opt" {
                for g in &mut got {
                    g.4 = None;
                }
            }
            assert_eq!(got[0], got[1], "{design} {policy}");
            assert!(got[0].1 > 0, "{design} {policy}: the limit evicts");
        }
    }
}
