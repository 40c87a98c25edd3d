//! The default inverted table covers the physical memory the run uses: a trace whose footprint
//! needs more frames than its initial 2^20 makes it grow, with the same translations as every other
//! design; an explicit `frames=N` keeps its size and runs out of memory instead.

use ptbench_core::{Access, AccessKind, PageSize};
use ptbench_pagetable::DesignSpec;
use ptbench_replay::{HugePolicy, ReplayError, Sim, SimOptions};

/// One read in each GiB of a 64 GiB footprint, mapped with 1 GiB pages: 2^24 frames.
fn trace() -> Vec<Access> {
    (0..64u64)
        .map(|g| Access::new(AccessKind::Read, (64 << 30) + (g << 30) + 0x123, 8))
        .collect()
}

fn opts() -> SimOptions {
    SimOptions {
        huge: HugePolicy::Fixed(PageSize::G1),
        ..SimOptions::default()
    }
}

#[test]
fn the_default_inverted_table_grows_with_a_64_gib_footprint() {
    let trace = trace();
    let mut want = Sim::build(&DesignSpec::parse("reference").unwrap(), &opts()).unwrap();
    want.replay(&trace, 0).unwrap();
    let mut sim = Sim::build(&DesignSpec::parse("inverted").unwrap(), &opts()).unwrap();
    sim.replay(&trace, 0).unwrap();
    assert_eq!(sim.stats().digest, want.stats().digest);
    assert_eq!(sim.stats().page_faults, 64);
    let fp = sim.footprint();
    // 2^20 -> 2^21 at the 5th page (frame 2^20), then doubling at the 9th, 17th and 33rd:
    // 4 growths re-linking 4 + 8 + 16 + 32 entries.
    assert_eq!(
        (fp.capacity, fp.resizes, fp.moved_entries),
        (1 << 24, 4, 60)
    );
    assert_eq!(fp.table_bytes, (1u64 << 24) * 24);
}

#[test]
fn an_explicit_frame_count_keeps_its_size_and_its_error() {
    let mut sim = Sim::build(
        &DesignSpec::parse("inverted:frames=1048576").unwrap(),
        &opts(),
    )
    .unwrap();
    let err = sim.replay(&trace(), 0).unwrap_err();
    assert!(matches!(err, ReplayError::Os { index: 4, .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("out of physical memory: all 1048576 data frames are in use"),
        "{err}"
    );
}
