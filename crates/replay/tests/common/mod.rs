//! What the replay's property tests share: designs, TLB specs, OS settings and a generator of
//! random traces with locality, processes, region events, permission faults and wide, upper-half
//! and non-canonical addresses.
#![allow(dead_code)]

use proptest::prelude::*;
use ptbench_core::{Access, AccessKind};
use ptbench_replay::{OsConfig, PageCrossing, Policy, SimOptions, WideAddresses};
use ptbench_trace::TraceReader;
use std::path::{Path, PathBuf};

pub const DESIGNS: &[&str] = &[
    "x86-64",
    "radix:levels=3,pobits=12",
    "flat:va_bits=40",
    "hashed:collision=chain,entries=8,bucket=2",
    "inverted",
    "ecpt:entries=2,ways=4,cluster=4,max_kicks=0",
    "reference",
    "nested:guest=x86-64,host=[radix:levels=3,pobits=12]",
];

pub const TLBS: &[&str] = &[
    "none",
    "l1=1x1",
    "tiny",
    "l1=16x4,repl=plru",
    "l1=8x8,repl=bitplru",
    "l1=4x4,repl=fifo,asid=on",
    "l1i=8x2,l1d=8x2,l2=32x4,l2incl=incl",
    "l1i=8x2,l1d=8x2,l2=32x4,l2incl=excl",
    "l1=4x4,pwc=8x2",
    "pwc=8x2",
    "skylake",
];

/// Accesses in bursts on a few pages (so translations repeat), of every kind and size, some
/// crossing pages or too wide for 40 bits; context switches among three address spaces, forks,
/// mmap, mprotect (read-only: later writes fault) and munmap.
pub fn op() -> impl Strategy<Value = Vec<Access>> {
    prop_oneof![
        8 => (0u64..4, 0u64..4096, prop::sample::select(vec![1u32, 4, 8, 64, 4096]), 0u8..3, 1usize..40)
            .prop_map(|(page, off, size, kind, n)| {
                let kind = [AccessKind::Read, AccessKind::Write, AccessKind::Fetch][kind as usize];
                let addr = 0x7f_0000_0000 + page * 4096 + off;
                (0..n).map(|i| Access::new(kind, addr + (i as u64 * 8) % 4096, size)).collect()
            }),
        1 => (0u16..3).prop_map(|asid| vec![Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(asid)]),
        1 => (0u64..4, 1u32..4, 0u8..8).prop_map(|(page, pages, flags)| {
            let mut e = Access::new(AccessKind::Mprotect, 0x7f_0000_0000 + page * 4096, pages);
            e.flags = flags & 7;
            vec![e]
        }),
        1 => (0u64..4, 1u32..4, any::<bool>()).prop_map(|(page, pages, advised)| {
            let mut e = Access::new(AccessKind::Mmap, 0x7f_0000_0000 + page * 4096, pages);
            e.flags = if advised { 3 | ptbench_core::HUGE_ADVISED } else { 3 };
            vec![e]
        }),
        1 => (0u64..4).prop_map(|page| {
            vec![Access::new(AccessKind::Munmap, 0x7f_0000_0000 + page * 4096, 1)]
        }),
        1 => (1u16..3).prop_map(|child| vec![Access::new(AccessKind::Fork, u64::from(child), 0)]),
        1 => Just(vec![Access::new(AccessKind::Read, 1 << 45, 8)]),
        // Above x86-64's lower half: non-canonical at 48 bits, valid at 57 and 64.
        1 => Just(vec![Access::new(AccessKind::Write, (1 << 47) + 0x1000, 8)]),
        // x86-64's upper half: canonical at 48 and 57 bits, too wide for a flat 48-bit space.
        1 => Just(vec![Access::new(AccessKind::Read, 0xffff_8000_0000_2000, 8)]),
    ]
}

pub fn os_configs() -> Vec<OsConfig> {
    let limited = |frames, policy| OsConfig {
        frames: Some(frames),
        policy,
        ..OsConfig::default()
    };
    vec![
        OsConfig::default(),
        limited(6, Policy::Lru),
        limited(5, Policy::Clock),
        limited(6, Policy::Opt),
        // Physical memory as a buddy allocator: 16 MiB, half its 2 MiB blocks broken, other
        // tenants coming and going, compaction, khugepaged at two pages.
        "ram=16M,fragmentation=0.5,churn=0.5,compaction=on,thp_min=2"
            .parse()
            .unwrap(),
    ]
}

/// The options of a proptest case: its page-crossing rule and OS settings, wide addresses
/// counted.
pub fn options(first: bool, os: OsConfig) -> SimOptions {
    SimOptions {
        page_crossing: if first {
            PageCrossing::First
        } else {
            PageCrossing::Split
        },
        wide: WideAddresses::Count,
        os,
        ..SimOptions::default()
    }
}

/// Every access of the trace at `path`.
pub fn read(path: &Path) -> Vec<Access> {
    let mut r = ptbench_trace::open(path).unwrap();
    let (mut all, mut buf) = (Vec::new(), Vec::new());
    while r.read_batch(&mut buf).unwrap() > 0 {
        all.extend_from_slice(&buf);
    }
    all
}

/// The project's own real traces (`traces/*.lackey.gz` and `*.ptbt.zst`), in name order.
pub fn shipped_traces() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../traces");
    let mut traces: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".lackey.gz") || n.ends_with(".ptbt.zst")
        })
        .collect();
    traces.sort();
    assert!(traces.len() >= 4);
    traces
}
