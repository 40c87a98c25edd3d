//! Shared by the differential tests: random map / unmap / walk sequences and the check that a
//! design answers every one exactly as the `BTreeMap` reference does.

#![allow(dead_code)]

use proptest::prelude::*;
use ptbench_core::{MapError, PageSize, PageTable, Perms, Pfn, PhysMem, Pte, Vpn, WalkCost};
use ptbench_pagetable::Reference;

/// One operation of a sequence. Page numbers are 4 KiB pages.
#[derive(Clone, Debug)]
pub enum Op {
    /// Map `vpn` to `pfn` with a page of `1 << size` bytes.
    Map {
        vpn: u64,
        pfn: u64,
        size: u8,
        write: bool,
    },
    /// Unmap whatever covers `vpn`.
    Unmap { vpn: u64 },
    /// Look `vpn` up.
    Walk { vpn: u64 },
}

/// Pages drawn from a few 1 GiB regions, including the top of the 48-bit space, clustered so that
/// page sizes overlap and hash buckets collide.
pub fn vpn() -> impl Strategy<Value = u64> {
    (
        prop::sample::select(vec![0u64, 1, 2, 0x1234, (1 << 18) - 1]),
        0u64..4,
        0u64..512,
        0u64..8,
    )
        .prop_map(|(gig, two_m, page, jitter)| {
            let in_gig = two_m * 512 + if jitter == 0 { 0 } else { page };
            (gig << 18) | in_gig
        })
}

/// A random operation; frames stay below `max_pfn`. Most huge mappings are aligned.
pub fn op(max_pfn: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (vpn(), 0..max_pfn, prop::sample::select(vec![12u8, 12, 12, 21, 30]), any::<bool>())
            .prop_map(|(vpn, pfn, size, write)| {
                let span = (1u64 << (size - 12)) - 1;
                let (vpn, pfn) = if pfn % 7 == 0 { (vpn, pfn) } else { (vpn & !span, pfn & !span) };
                Op::Map { vpn, pfn, size, write }
            }),
        2 => vpn().prop_map(|vpn| Op::Unmap { vpn }),
        4 => vpn().prop_map(|vpn| Op::Walk { vpn }),
        1 => Just(Op::Walk { vpn: 1 << 36 }),
        1 => Just(Op::Map { vpn: 1 << 36, pfn: 0, size: 12, write: false }),
    ]
}

/// The kind of a map result, for comparing designs whose errors carry different details.
pub fn kind(r: &Result<(), MapError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(MapError::AddressTooWide { .. }) => "too-wide".into(),
        Err(MapError::Misaligned { .. }) => "misaligned".into(),
        Err(MapError::Overlap { .. }) => "overlap".into(),
        Err(MapError::UnsupportedPageSize(_)) => "unsupported-size".into(),
        Err(e) => format!("other: {e}"),
    }
}

/// Runs `ops` on `pt` (a design over 4 KiB pages, with 2 MiB and 1 GiB pages) and on a reference
/// of the same virtual address width, failing at the first operation where they differ. Mappings that reuse a
/// frame already in use are skipped, since not every design can alias frames.
pub fn agrees_with_reference<P: PageTable>(
    mut pt: P,
    mut mem: PhysMem,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut fmem = PhysMem::new(12, 52).unwrap();
    let mut reference = Reference::new(12, pt.va_bits(), &[PageSize::M2, PageSize::G1]).unwrap();
    let mut frames_in_use: Vec<(u64, u64, u64)> = Vec::new(); // (vpn, first pfn, pfns)
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Map {
                vpn,
                pfn,
                size,
                write,
            } => {
                let span = 1u64 << (size - 12);
                let clash = frames_in_use
                    .iter()
                    .any(|&(v, f, n)| v != vpn && pfn < f + n && f < pfn + span);
                if clash {
                    continue;
                }
                let pte = Pte {
                    pfn: Pfn(pfn),
                    perms: if write { Perms::RW } else { Perms::R },
                    size: PageSize::from_shift(size).unwrap(),
                };
                let a = pt.map(&mut mem, Vpn(vpn), pte);
                let b = reference.map(&mut fmem, Vpn(vpn), pte);
                prop_assert_eq!(kind(&a), kind(&b), "op {} {:?}", i, op);
                if b.is_ok() {
                    frames_in_use.retain(|&(v, _, _)| v != vpn);
                    frames_in_use.push((vpn, pfn, span));
                }
            }
            Op::Unmap { vpn } => {
                let a = pt.unmap(&mut mem, Vpn(vpn));
                let b = reference.unmap(&mut fmem, Vpn(vpn));
                let a = a.map_err(|e| kind(&Err(e)));
                let b = b.map_err(|e| kind(&Err(e)));
                prop_assert_eq!(&a, &b, "op {} {:?}", i, op);
                if let Ok(Some(p)) = b {
                    frames_in_use.retain(|&(_, f, _)| f != p.pfn.0);
                }
            }
            Op::Walk { vpn } => {
                let a = pt.walk(&mem, Vpn(vpn), &mut WalkCost::default());
                let b = reference.walk(&fmem, Vpn(vpn), &mut WalkCost::default());
                prop_assert_eq!(a, b, "op {} {:?}", i, op);
            }
        }
        prop_assert_eq!(
            pt.footprint().entries,
            reference.footprint().entries,
            "entries after op {} {:?}",
            i,
            op
        );
    }
    Ok(())
}
