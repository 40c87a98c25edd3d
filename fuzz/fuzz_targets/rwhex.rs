#![no_main]
//! Fuzzes the op-first `R|W hexaddr` reader: see `src/lib.rs` for what is checked.

use libfuzzer_sys::fuzz_target;
use ptbench_trace::Format;

fuzz_target!(|data: &[u8]| {
    ptbench_trace_fuzz::run(Some(Format::OpFirst), "t", data);
});
