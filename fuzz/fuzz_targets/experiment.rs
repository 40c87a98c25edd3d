#![no_main]
//! Fuzzes experiment files (`ptbench_sweep::Experiment::parse`): never a panic; a parsed
//! experiment has unique cell keys, indices in order and traces in range.

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Path globs read the file system: keep them out (a `/**` would walk the whole disk).
    if text.contains(['*', '?', '[']) && text.contains("path") {
        return;
    }
    let Ok(e) = ptbench_sweep::Experiment::parse(Path::new("/nonexistent/fuzz/exp.toml"), text) else {
        return;
    };
    let mut keys = std::collections::HashSet::new();
    for (i, c) in e.cells.iter().enumerate() {
        assert_eq!(c.index, i);
        assert!(c.trace < e.traces.len());
        assert!(keys.insert(c.key.as_str()), "key `{}` twice", c.key);
    }
    let _ = e.hash();
    let _ = ptbench_sweep::shards(&e, 3);
});
