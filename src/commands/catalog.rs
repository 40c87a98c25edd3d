//! `ptbench designs`, `ptbench tlbs` and `ptbench caches`: what can be replayed, with parameters
//! and defaults.

use anyhow::Result;
use ptbench_pagetable::{DesignSpec, CATALOG};
use ptbench_tlb::presets;

/// Lists every design with its parameters.
pub fn designs() -> Result<()> {
    for d in CATALOG {
        outln!("{}\n    {}", d.name, d.summary);
        if let Ok(spec) = DesignSpec::parse(d.name) {
            outln!(
                "    base page {} B, {}-bit virtual addresses",
                1u64 << spec.page_shift(),
                spec.va_bits()
            );
        }
        for p in d.params {
            outln!("    {:<10} default {:<8} {}", p.key, p.default, p.help);
        }
        outln!("    walk (cycles, with --cache): {}", d.walk);
    }
    outln!("\nA SPEC is NAME[:key=value,...], e.g. radix:levels=3,pobits=14");
    Ok(())
}

/// Lists the TLB presets and the keys of a TLB spec.
pub fn tlbs() -> Result<()> {
    for p in presets() {
        outln!("{}\n    {}\n    = {}", p.name, p.description, p.canonical());
    }
    outln!(
        "\nA TLB SPEC is a preset, optionally followed by overrides (skylake,repl=fifo), or keys:\n  \
         l1=ExW | l1i=ExW,l1d=ExW   L1 TLB(s): E entries, W ways (sets = E/W, a power of two)\n  \
         l2=ExW                     unified second-level TLB (STLB)\n  \
         pwc=ExW | psclN=ExW        page-walk caches (every upper level | level N counted from the leaf)\n  \
         upwc=ExW                   one unified page-walk cache tagged by level\n  \
         ntlb=ExW                   nested designs: a nested TLB (guest-physical page to host frame)\n  \
         hpwc=ExW                   nested designs: one page-walk cache for the host table\n  \
         repl=lru|fifo|random|plru|bitplru  replacement (seed=N for random)\n  \
         l2incl=incl|excl|non       L1/L2 inclusion\n  \
         huge=separate|shared       arrays per page size, or one array for all sizes\n  \
         asid=on|off                ASID-tagged entries, or flush on every context switch\n  \
         l1_lat l2_lat pwc_lat=CYCLES  with --cache: an L1 hit, an L2 hit (total), a page-walk-cache\n  \
                                    lookup (defaults 1, 9, 1: ChampSim's TLBs, EMT's walk cache)"
    );
    Ok(())
}

/// Runs `ptbench caches`.
pub fn caches() -> Result<()> {
    for p in ptbench_tlb::cache_presets() {
        outln!("{}\n    {}\n    = {}", p.name, p.description, p.spec);
    }
    outln!(
        "\nA cache SPEC is a preset, optionally followed by overrides (skylake,mem_lat=300), or keys:\n  \
         l1i=LxW l1d=LxW l2=LxW llc=LxW  levels: L lines of W ways (sets = L/W, a power of two); none removes one\n  \
         line=BYTES                 line size, a power of two (default 64)\n  \
         repl=lru|fifo|random|plru|bitplru  replacement of every level\n  \
         l1_lat l2_lat llc_lat mem_lat=CYCLES  load-to-use latency of a hit at each level, and of memory\n  \
         walker=l1d|l2              where page-table reads enter the hierarchy\n  \
         ptes=cached|bypass         page-table reads through the caches, or straight to memory\n  \
         fault_lat=CYCLES           a page fault's handling apart from its walks (default 5000)\n  \
         disk_lat=CYCLES            added per page a fault reads from or writes to disk (default 350000)\n\n\
         Counting follows cachegrind: an access spanning two lines is one access that misses if either\n\
         line misses; a level is looked up when the level above missed; write-allocate; no level\n\
         back-invalidates. `tests/cachegrind.rs` holds the model to cachegrind's I1, D1 and LL misses."
    );
    Ok(())
}
