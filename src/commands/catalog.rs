//! `ptbench designs` and `ptbench tlbs`: what can be replayed, with parameters and defaults.

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
         repl=lru|fifo|random|plru|bitplru  replacement (seed=N for random)\n  \
         l2incl=incl|excl|non       L1/L2 inclusion\n  \
         huge=separate|shared       arrays per page size, or one array for all sizes\n  \
         asid=on|off                ASID-tagged entries, or flush on every context switch"
    );
    Ok(())
}
