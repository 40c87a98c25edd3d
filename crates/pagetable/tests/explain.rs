//! `PageTable::explain` runs the real walk: for every design, on hits and misses, with base and
//! huge pages, through collisions and resizes, it finds what `walk` finds at the same cost, with
//! exactly one step per counted memory reference.

use ptbench_core::{PageSize, PageTable, Perms, Pfn, PhysAddr, Pte, Vpn, WalkCost};
use ptbench_pagetable::{DesignSpec, Radix, RadixConfig};

const SPECS: &[&str] = &[
    "two-level",
    "x86-64",
    "x86-64-5l",
    "radix:levels=2,pobits=12",
    "radix:levels=3,pobits=14",
    "flat:va_bits=40",
    "hashed",
    "hashed:collision=chain,entries=8,bucket=2",
    "hashed:entries=4,bucket=1,load=1",
    "inverted",
    "inverted:hat=1",
    "ecpt",
    "ecpt:entries=1,ways=2,cluster=1,load=1",
    "reference",
];

fn pte(pfn: u64, size: PageSize) -> Pte {
    Pte {
        pfn: Pfn(pfn),
        perms: if pfn & 1 == 0 { Perms::RW } else { Perms::RX },
        size,
    }
}

#[test]
fn every_design_explains_its_walk_with_one_step_per_reference() {
    for spec in SPECS {
        let spec = DesignSpec::parse(spec).unwrap();
        let mut mem = spec.new_mem().unwrap();
        let mut pt = spec.build_boxed(&mut mem).unwrap();
        let mut probe: Vec<u64> = vec![0, 1, 0x12345, 0x12346, 0xfffff, 1 << 19];
        // Base pages spread out (collisions, chains, resizes) and a 2 MiB page where it fits.
        let base = pt.page_sizes()[0];
        for (i, vpn) in (0..40u64).map(|i| (i * 0x1357) & 0xfffff).enumerate() {
            pt.map(&mut mem, Vpn(vpn), pte(i as u64 + 1, base)).unwrap();
            probe.push(vpn);
        }
        if pt.page_sizes().contains(&PageSize::M2) {
            pt.map(&mut mem, Vpn(0x3fe00), pte(0x200, PageSize::M2))
                .unwrap();
            probe.extend([0x3fe00, 0x3ffff, 0x3fdff]);
        }
        for vpn in probe {
            let mut cost = WalkCost::default();
            let want = pt.walk(&mem, Vpn(vpn), &mut cost);
            let t = pt.explain(&mem, Vpn(vpn)).expect("every design explains");
            assert_eq!(t.pte, want, "{spec} vpn {vpn:#x}");
            assert_eq!(t.cost, cost, "{spec} vpn {vpn:#x}");
            assert_eq!(t.steps.len(), cost.refs as usize, "{spec} vpn {vpn:#x}");
            assert!(!t.outcome.is_empty(), "{spec} vpn {vpn:#x}");
            assert!(!t.fields.is_empty(), "{spec}");
            if let (Some(p), Some(last)) = (want, t.steps.last()) {
                if !matches!(spec, DesignSpec::Ecpt(_)) {
                    assert!(last.valid, "{spec} vpn {vpn:#x}: the last step found it");
                    assert_eq!(last.perms, Some(p.perms), "{spec} vpn {vpn:#x}");
                }
            }
        }
    }
}

#[test]
fn a_two_level_walk_worked_out_by_hand() {
    // radix:levels=2,pobits=12: 8-byte entries, 9-bit indices, 30-bit addresses. Table frames
    // start at 2^51 (the upper half of 52-bit physical memory): the root, then the leaf table.
    let cfg = RadixConfig {
        levels: 2,
        pobits: 12,
        entry: ptbench_core::EntryWidth::U64,
    };
    let mut mem = ptbench_core::PhysMem::new(12, 52).unwrap();
    let mut pt = Radix::new(cfg, &mut mem).unwrap();
    pt.map(&mut mem, Vpn(0x12345), pte(0, PageSize::K4))
        .unwrap();
    let t = pt.explain(&mem, Vpn(0x12345)).unwrap();
    let names: Vec<(&str, u8, u8)> = t
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.hi, f.lo))
        .collect();
    assert_eq!(names, vec![("L0 index", 29, 21), ("L1 index", 20, 12)]);
    assert_eq!(t.fields[0].value(0x1234_5678), 0x91);
    assert_eq!(t.fields[1].value(0x1234_5678), 0x145);
    assert_eq!(t.steps.len(), 2);
    let root = &t.steps[0];
    assert_eq!(root.table, PhysAddr(0x8_0000_0000_0000));
    assert_eq!(root.index, 0x91);
    assert_eq!(root.addr, PhysAddr(0x8_0000_0000_0000 + 0x91 * 8));
    assert_eq!(root.words, vec![0x8_0000_0000_1001]);
    assert!(root.valid && root.perms.is_none());
    let leaf = &t.steps[1];
    assert_eq!(leaf.table, PhysAddr(0x8_0000_0000_1000));
    assert_eq!(leaf.addr, PhysAddr(0x8_0000_0000_1000 + 0x145 * 8));
    assert_eq!(leaf.words, vec![0x23], "frame 0, V=1, W=1, R=1 (bit 5)");
    assert_eq!(leaf.perms, Some(Perms::RW));
    // An unmapped page in the same leaf table stops at the leaf; one elsewhere at the root.
    let miss = pt.explain(&mem, Vpn(0x12346)).unwrap();
    assert_eq!(miss.steps.len(), 2);
    assert!(!miss.steps[1].valid);
    assert_eq!(pt.explain(&mem, Vpn(0)).unwrap().steps.len(), 1);
}
