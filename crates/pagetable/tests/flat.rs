//! The flat design against the reference.

mod common;

use proptest::prelude::*;
use ptbench_core::PhysMem;
use ptbench_pagetable::{Flat, FlatConfig};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn flat_agrees_with_the_reference(
        ops in prop::collection::vec(common::op(1 << 20), 1..100),
        va_bits in prop::sample::select(vec![32u8, 34, 40]),
    ) {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let flat = Flat::new(FlatConfig { pobits: 12, va_bits }, &mut mem).unwrap();
        common::agrees_with_reference(flat, mem, &ops)?;
    }
}
