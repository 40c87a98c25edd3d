//! Canonical addresses: x86-64's widths take sign-extended upper-half addresses and walk with their
//! low bits; an address outside a design's space stops the replay or, when asked, is counted and
//! skipped; designs of different widths agree on the addresses they all take.

use ptbench_core::{Access, AccessKind};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::{ReplayError, Sim, SimOptions, WideAddresses};

fn read(addr: u64) -> Access {
    Access::new(AccessKind::Read, addr, 8)
}

fn replay(design: &str, wide: WideAddresses, trace: &[Access]) -> (Sim, Result<(), ReplayError>) {
    let opts = SimOptions {
        wide,
        ..SimOptions::default()
    };
    let mut sim = Sim::build(&DesignSpec::parse(design).unwrap(), &opts).unwrap();
    let r = sim.replay(trace, 0);
    (sim, r)
}

#[test]
fn upper_half_addresses_translate_on_x86_64_and_agree_across_widths() {
    // A kernel-like upper-half page, a user page, the top page of the upper half, and the first
    // again (a hit).
    let trace = [
        read(0xffff_8000_0000_1000),
        read(0x40_1000),
        read(0xffff_ffff_ffff_f000),
        read(0xffff_8000_0000_1008),
    ];
    let (a, r) = replay("x86-64", WideAddresses::Error, &trace);
    r.unwrap();
    let (b, r) = replay("x86-64-5l", WideAddresses::Error, &trace);
    r.unwrap();
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.page_faults, 3);
    assert_eq!(sa.accesses, 4);
    assert_eq!(sa.noncanonical, 0);
    assert_eq!(sa.digest, sb.digest, "the same pages get the same frames");
    // Each fault stops at an invalid root entry (1 ref: root indices 0x100, 0, 0x1ff) and walks
    // again in full (4); the hit reads 4.
    assert_eq!(sa.walk_refs, 3 * (1 + 4) + 4);
    // A 48-bit design whose addresses are not sign-extended refuses the upper half.
    let (_, r) = replay("flat:va_bits=48", WideAddresses::Error, &trace);
    assert!(matches!(
        r,
        Err(ReplayError::AddressTooWide {
            index: 0,
            va_bits: 48,
            ..
        })
    ));
    let (c, r) = replay("flat:va_bits=48", WideAddresses::Count, &trace);
    r.unwrap();
    let sc = c.stats();
    assert_eq!((sc.accesses, sc.noncanonical, sc.page_faults), (1, 3, 1));
}

#[test]
fn non_canonical_addresses_are_an_error_or_counted() {
    // Bit 47 set without the bits above it: not canonical at 48 bits, fine at 57.
    let trace = [read(0x1000), read(0x8000_0000_0000), read(0x7fff_ffff_fffc)];
    let (_, r) = replay("x86-64", WideAddresses::Error, &trace);
    let err = r.unwrap_err();
    assert!(matches!(
        err,
        ReplayError::NonCanonical {
            index: 1,
            addr: 0x8000_0000_0000,
            va_bits: 48,
            ..
        }
    ));
    assert!(err
        .to_string()
        .contains("bits 63 to 47 must all equal bit 47"));
    let (s, r) = replay("x86-64", WideAddresses::Count, &trace);
    r.unwrap();
    let s = s.stats();
    // The last access crosses from the low half's top page into bit 47: not canonical either.
    assert_eq!((s.accesses, s.noncanonical, s.page_faults), (1, 2, 1));
    let (s, r) = replay("x86-64-5l", WideAddresses::Error, &trace);
    r.unwrap();
    // The crossing access's second page is the one the second access mapped.
    assert_eq!(s.stats().page_faults, 3);
}
