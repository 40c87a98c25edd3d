#![no_main]
//! Fuzzes the pinatrace reader: see `src/lib.rs` for what is checked.

use libfuzzer_sys::fuzz_target;
use ptbench_trace::Format;

fuzz_target!(|data: &[u8]| {
    ptbench_trace_fuzz::run(Some(Format::Pinatrace), "t", data);
});
