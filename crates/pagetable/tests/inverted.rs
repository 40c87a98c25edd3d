//! The inverted design against the reference, and its one-entry-per-frame rules against a model.

mod common;

use proptest::prelude::*;
use ptbench_core::{MapError, PageSize, PageTable, Perms, Pfn, PhysMem, Pte, Vpn, WalkCost};
use ptbench_pagetable::{Inverted, InvertedConfig, Reference};

fn build(frames: u64, hat: u64) -> (Inverted, PhysMem) {
    let mut mem = PhysMem::new(12, 52).unwrap();
    let cfg = InvertedConfig {
        frames,
        hat,
        grow: false,
        ..InvertedConfig::DEFAULT
    };
    (Inverted::new(cfg, &mut mem).unwrap(), mem)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The default geometry: 2^20 frames and as many anchors (short chains).
    #[test]
    fn inverted_agrees_with_the_reference(ops in prop::collection::vec(common::op(1 << 20), 1..120)) {
        let (pt, mem) = build(1 << 20, 1 << 20);
        common::agrees_with_reference(pt, mem, &ops)?;
    }

    /// Sixteen anchors: long chains, unlinking from their middle.
    #[test]
    fn inverted_with_a_tiny_hat_agrees_with_the_reference(
        ops in prop::collection::vec(common::op(1 << 20), 1..120),
    ) {
        let (pt, mem) = build(1 << 20, 16);
        common::agrees_with_reference(pt, mem, &ops)?;
    }

    /// One anchor (every page in one chain), and more frames than the harness uses.
    #[test]
    fn inverted_with_one_chain_agrees_with_the_reference(
        ops in prop::collection::vec(common::op(1 << 20), 1..120),
        frames_log in 20u32..=22,
    ) {
        let (pt, mem) = build(1 << frames_log, 1);
        common::agrees_with_reference(pt, mem, &ops)?;
    }
}

/// A map, unmap or walk with frames drawn near a few region boundaries, so that pages often
/// want a frame another page already holds, or one beyond the table.
#[derive(Clone, Debug)]
enum Op {
    Map {
        vpn: u64,
        pfn: u64,
        size: u8,
        perms: u8,
    },
    Unmap {
        vpn: u64,
    },
    Walk {
        vpn: u64,
    },
}

fn frame() -> impl Strategy<Value = u64> {
    (
        prop::sample::select(vec![
            0u64,
            0x200,
            0x400,
            0x40000,
            (1 << 20) - 0x200,
            1 << 20,
        ]),
        0u64..4,
    )
        .prop_map(|(base, jitter)| base + jitter)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (common::vpn(), frame(), prop::sample::select(vec![12u8, 12, 21, 30]),
              prop::sample::select(vec![1u8, 3, 5, 7]))
            .prop_map(|(vpn, pfn, size, perms)| {
                let span = (1u64 << (size - 12)) - 1;
                Op::Map { vpn: vpn & !span, pfn: pfn & !span, size, perms }
            }),
        1 => common::vpn().prop_map(|vpn| Op::Unmap { vpn }),
        3 => common::vpn().prop_map(|vpn| Op::Walk { vpn }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A mapping of a frame that a page of the same size holds displaces that page (an alias);
    /// other mappings that would share a frame are refused with `Unsupported` and change nothing;
    /// frames
    /// at or above `frames` with `FrameTooWide`; everything else behaves as the reference. Every
    /// walk costs one anchor read per size in use that it tried, plus one reference per probe.
    #[test]
    fn frames_back_at_most_one_page(
        ops in prop::collection::vec(op(), 1..150),
        hat in prop::sample::select(vec![1u64, 16, 1 << 20]),
    ) {
        let frames = 1u64 << 20;
        let (mut pt, mut mem) = build(frames, hat);
        let mut fmem = PhysMem::new(12, 52).unwrap();
        let mut reference = Reference::new(12, 48, &[PageSize::M2, PageSize::G1]).unwrap();
        let mut owners: Vec<(u64, u64, u64, u8)> = Vec::new(); // (vpn, pfn, frames, size)
        for (i, op) in ops.iter().enumerate() {
            match *op {
                Op::Map { vpn, pfn, size, perms } => {
                    let span = 1u64 << (size - 12);
                    let pte = Pte {
                        pfn: Pfn(pfn),
                        perms: Perms::from_bits(perms),
                        size: PageSize::from_shift(size).unwrap(),
                    };
                    let got = pt.map(&mut mem, Vpn(vpn), pte);
                    let mut next = reference.clone();
                    let want = next.map(&mut fmem, Vpn(vpn), pte);
                    let early = matches!(
                        want,
                        Err(MapError::AddressTooWide { .. } | MapError::Misaligned { .. })
                    );
                    // A page of the same size on the same frame is displaced; any other
                    // overlap of frames is refused.
                    let same = |&(v, f, _, s): &(u64, u64, u64, u8)| {
                        v != vpn && s == size && f == pfn
                    };
                    let alias = owners.iter().any(|o| {
                        let &(v, f, n, s) = o;
                        let own = v == vpn && s == size;
                        !(own || same(o)) && pfn < f + n && f < pfn + span
                    });
                    if early {
                        prop_assert_eq!(common::kind(&got), common::kind(&want), "op {} {:?}", i, op);
                    } else if pfn + span > frames {
                        prop_assert_eq!(got, Err(MapError::FrameTooWide(Pfn(pfn))), "op {} {:?}", i, op);
                    } else if want.is_err() {
                        prop_assert_eq!(common::kind(&got), common::kind(&want), "op {} {:?}", i, op);
                    } else if alias {
                        prop_assert!(
                            matches!(&got, Err(MapError::Unsupported(m)) if m.contains("already backs")),
                            "op {} {:?}: {:?}", i, op, got
                        );
                    } else {
                        prop_assert_eq!(&got, &Ok(()), "op {} {:?}", i, op);
                        reference = next;
                        for o in owners.iter().filter(|o| same(o)) {
                            reference.unmap(&mut fmem, Vpn(o.0)).unwrap();
                        }
                        owners.retain(|o| !same(o));
                        owners.retain(|&(v, _, _, _)| v != vpn);
                        owners.push((vpn, pfn, span, size));
                    }
                }
                Op::Unmap { vpn } => {
                    let a = pt.unmap(&mut mem, Vpn(vpn)).unwrap();
                    let b = reference.unmap(&mut fmem, Vpn(vpn)).unwrap();
                    prop_assert_eq!(a, b, "op {} {:?}", i, op);
                    if let Some(p) = b {
                        owners.retain(|&(_, f, _, _)| f != p.pfn.0);
                    }
                }
                Op::Walk { vpn } => {
                    let mut cost = WalkCost::default();
                    let a = pt.walk(&mem, Vpn(vpn), &mut cost);
                    let b = reference.walk(&fmem, Vpn(vpn), &mut WalkCost::default());
                    prop_assert_eq!(a, b, "op {} {:?}", i, op);
                    let in_use: Vec<u8> = [12u8, 21, 30]
                        .into_iter()
                        .filter(|s| owners.iter().any(|o| o.3 == *s))
                        .collect();
                    let tried = match a {
                        Some(p) => in_use.iter().filter(|s| **s <= p.size.shift()).count(),
                        None => in_use.len(),
                    };
                    prop_assert_eq!(cost.refs, tried as u32 + cost.probes, "op {} {:?}", i, op);
                    if a.is_some() {
                        prop_assert!(cost.probes >= 1);
                    }
                    if hat == 1 {
                        prop_assert!(cost.probes as usize <= tried * owners.len());
                    }
                }
            }
            let fp = pt.footprint();
            prop_assert_eq!(fp.entries, owners.len() as u64, "after op {} {:?}", i, op);
            prop_assert_eq!(fp.capacity, frames);
            prop_assert_eq!((fp.moved_entries, fp.resizes), (0, 0));
        }
        if hat == 1 {
            // Every insertion but the one into the empty chain collided.
            prop_assert!(pt.footprint().collisions + 1 >= owners.len() as u64);
        }
    }
}
