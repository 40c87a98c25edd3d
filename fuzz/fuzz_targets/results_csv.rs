#![no_main]
//! Fuzzes the results-file reader of `ptbench report` and `merge`: it must never panic, agree
//! with itself (refusing a cut-off last line or dropping it), and what it reads must write back
//! to a file that reads to the same rows (the formula guard's round trip).

use libfuzzer_sys::fuzz_target;
use ptbench_sweep::{header_line, read_results_from, row_lines, CutLine};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let name = Path::new("f.csv");
    let strict = read_results_from(data, name, CutLine::Refuse);
    let lenient = read_results_from(data, name, CutLine::Drop);
    if let Ok(s) = &strict {
        let l = lenient.as_ref().expect("what is read strictly is read leniently");
        assert_eq!(s.rows, l.rows);
        assert_eq!(l.dropped, None);
    }
    let Ok(r) = lenient else {
        return;
    };
    assert_eq!(r.rows.len(), r.lines.len());
    assert!(r.lines.windows(2).all(|w| w[0] < w[1]));
    let mut text = header_line().into_bytes();
    text.extend(row_lines(&r.rows).expect("rows serialize"));
    let again = read_results_from(&text[..], name, CutLine::Refuse).expect("written rows read back");
    let mut text2 = header_line().into_bytes();
    text2.extend(row_lines(&again.rows).expect("rows serialize"));
    assert_eq!(text, text2, "a round trip changes nothing");
});
