pub mod baseline;
pub mod cycles;
pub mod nested;
pub mod parse;
pub mod replay;
pub mod tlb;
pub mod walk;

pub use ptbench_core::SplitMix;
