#![no_main]
//! Fuzzes the cloudsuite reader: see `src/lib.rs` for what is checked.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ptbench_trace_fuzz::run(None, "cloudsuite.trace", data);
});
