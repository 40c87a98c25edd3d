//! Cutting a trace into chunks and parsing them in parallel gives the same accesses, the same
//! counts and the same error lines as parsing it sequentially, whatever the chunk size.

mod common;

use common::{compress, drain, Outcome};
use proptest::prelude::*;
use ptbench_trace::{Format, ReaderOptions};

/// The formats `line_of` writes, by its `f`.
const FORMATS: [Format; 7] = [
    Format::Lackey,
    Format::HexRw,
    Format::Pinatrace,
    Format::PinatraceSized,
    Format::Din,
    Format::DinExtended,
    Format::OpFirst,
];

/// A line of text format `FORMATS[f]` made from the numbers given.
fn line_of(f: usize, a: u64, s: u32, k: u8) -> String {
    let a = a >> (a % 64);
    match f {
        0 => match k % 4 {
            0 => format!("I  {a:08x},{s}"),
            1 => format!(" L {a:x},{s}"),
            2 => format!(" S {a:x},{s}"),
            _ => format!(" M {a:x},{s}"),
        },
        1 => format!("{a:08x} {}", ['R', 'W', 'r', 'w'][k as usize % 4]),
        2 => format!("{:#x}: {} {a:#x}", a / 3, ['R', 'W'][k as usize % 2]),
        3 => format!(
            "{:#x}: {} {a:#18x} {s:2} {:#x}",
            a / 3,
            ['R', 'W'][k as usize % 2],
            a / 7
        ),
        4 => format!("{} {a:x} a comment", k % 6),
        5 => format!("{} {a:x} {:x}", b"rwimcv"[k as usize % 6] as char, s % 9),
        _ => match k % 3 {
            0 => format!("W {a:#x}"),
            1 => format!(" R {a:x} {s}"),
            _ => format!("I {a:x}"),
        },
    }
}

/// Lines that are not accesses, or are broken, or belong to another format.
const NOISE: &[&str] = &[
    "",
    "==12== valgrind says",
    "--12-- more",
    "# comment",
    "#eof",
    " L 10,4 \r",
    " L zz,4",
    "garbage",
    " L ffffffffffffffff,2",
    "0041f7a0 R",
    "r 10 0",
    "0x10: R 0x20",
    "   ",
    "total 9624",
    "RTN: main",
    "W 0xzz",
    "\u{feff}0041f7a0 R",
    "\x1b[31m",
];

/// A trace: mostly lines of one format (returned with it), some noise, some random lines.
fn trace() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let parts = (0u8..20, any::<u64>(), 1u32..64, any::<u8>(), "[ -~]{0,20}");
    (
        0usize..7,
        prop::collection::vec(parts, 0..80),
        any::<bool>(),
    )
        .prop_map(|(f, parts, final_newline)| {
            let lines: Vec<String> = parts
                .into_iter()
                .map(|(r, a, s, k, random)| match r {
                    0..=15 => line_of(f, a, s, k),
                    16..=18 => NOISE[k as usize % NOISE.len()].to_string(),
                    _ => random,
                })
                .collect();
            let mut text = lines.join("\n");
            if final_newline && !text.is_empty() {
                text.push('\n');
            }
            (f, text.into_bytes())
        })
}

fn read(bytes: &[u8], opts: &ReaderOptions) -> Outcome {
    drain(ptbench_trace::from_bytes("t", bytes.to_vec(), opts).unwrap())
}

fn same(a: &Outcome, b: &Outcome, what: &str) {
    assert_eq!(a.accesses, b.accesses, "{what}: accesses");
    assert_eq!(a.error, b.error, "{what}: error");
    assert_eq!(a.skipped, b.skipped, "{what}: skipped");
    assert_eq!(a.first_skipped, b.first_skipped, "{what}: first skipped");
    assert_eq!(a.ignored, b.ignored, "{what}: ignored records");
    assert_eq!(a.lines, b.lines, "{what}: lines");
    assert_eq!(a.noise, b.noise, "{what}: noise");
    assert_eq!(a.first_noise, b.first_noise, "{what}: first noise");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn chunked_parallel_parsing_equals_sequential(
        (f, text) in trace(),
        chunk in 1usize..200,
        skip_bad_lines in any::<bool>(),
        force in 0usize..8,
    ) {
        // Mostly recognised; sometimes forced to the lines' format, or to another one.
        let format = match force {
            0..=4 => None,
            5 | 6 => Some(FORMATS[f]),
            _ => Some(FORMATS[(f + 1) % 7]),
        };
        let seq = ReaderOptions { skip_bad_lines, format, sequential: true, chunk_bytes: 1 << 20, prefetches: false };
        let want = read(&text, &seq);
        let par = ReaderOptions { skip_bad_lines, format, sequential: false, chunk_bytes: chunk, prefetches: false };
        same(&read(&text, &par), &want, "parallel");
        // The sequential reader cut into small buffers, and a compressed stream.
        let small = ReaderOptions { chunk_bytes: chunk, ..seq.clone() };
        same(&read(&text, &small), &want, "small sequential buffers");
        let gz = compress("gz", &text);
        same(&drain(ptbench_trace::from_bytes("t", gz, &par).unwrap()), &want, "gzip");
        // locate_access finds the line of every access when no line stops the trace.
        if want.error.is_none() && !want.accesses.is_empty() {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("t");
            std::fs::write(&p, &text).unwrap();
            let last = want.accesses.len() as u64 - 1;
            let loc = ptbench_trace::locate_access_with(&p, &par, last).unwrap();
            prop_assert!(matches!(loc, Some(ptbench_trace::Location::Line(n)) if n <= want.lines));
            prop_assert_eq!(ptbench_trace::locate_access_with(&p, &par, last + 1).unwrap(), None);
        }
    }

    #[test]
    fn lackey_only_traces_parse_fully_in_any_chunking(
        lines in prop::collection::vec((any::<u32>(), 1u32..9, 0u8..4), 0..300),
        chunk in 1usize..400,
    ) {
        let mut text = String::new();
        let mut want = 0;
        for (a, s, k) in &lines {
            let kind = ["I ", " L", " S", " M"][*k as usize];
            text.push_str(&format!("{kind} {a:x},{s}\n"));
            want += if *k == 3 { 2 } else { 1 };
        }
        let opts = ReaderOptions { chunk_bytes: chunk, ..ReaderOptions::default() };
        let out = read(text.as_bytes(), &opts);
        prop_assert_eq!(out.error, None);
        prop_assert_eq!(out.accesses.len(), want);
        prop_assert_eq!(out.lines, lines.len() as u64);
    }
}

#[test]
fn error_line_numbers_are_exact_across_many_chunks() {
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!(" L {i:x},4\n"));
    }
    text.push_str(" L nothex,4\n");
    for chunk in [1, 7, 64, 4096, 1 << 20] {
        for sequential in [false, true] {
            let opts = ReaderOptions {
                chunk_bytes: chunk,
                sequential,
                ..ReaderOptions::default()
            };
            let out = read(text.as_bytes(), &opts);
            assert_eq!(out.accesses.len(), 10_000);
            assert!(out
                .error
                .unwrap()
                .starts_with("t:10001: malformed lackey line"));
        }
    }
}
