//! What every fuzz target does with its input: read it as a trace every way the reader can
//! (in parallel chunks of a size the input picks, sequentially, skipping bad lines or not) and
//! check that the ways agree and that every access is well-formed. A panic, or a
//! disagreement, is a crash.

use ptbench_core::Access;
use ptbench_trace::{Format, ReaderOptions, TraceReader, BATCH};

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    accesses: Vec<Access>,
    error: Option<String>,
    lines: u64,
    skipped: u64,
    ignored: u64,
    noise: u64,
    first_noise: Option<(u64, String)>,
}

fn read(name: &str, data: &[u8], opts: &ReaderOptions) -> Option<Outcome> {
    let mut r = ptbench_trace::from_bytes(name, data.to_vec(), opts).ok()?;
    let mut accesses = Vec::new();
    let mut buf = Vec::new();
    let error = loop {
        match r.read_batch(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                assert!(n == buf.len() && n <= BATCH);
                accesses.extend_from_slice(&buf);
            }
            Err(e) => break Some(e.to_string()),
        }
    };
    for a in &accesses {
        assert!(a.size >= 1 && a.last_byte().is_some(), "bad access {a:?}");
    }
    Some(Outcome {
        accesses,
        error,
        lines: r.lines(),
        skipped: r.skipped_lines(),
        ignored: r.ignored_records(),
        noise: r.noise_lines(),
        first_noise: r.first_noise().map(|(n, t)| (n, t.to_string())),
    })
}

fn compressed(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
        || data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || data.starts_with(b"BZh")
        || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Reads `data` as `format` (`None`: recognise it), under `name`.
pub fn run(format: Option<Format>, name: &str, data: &[u8]) {
    // The first byte picks the chunk size, so chunk boundaries fall everywhere.
    let chunk = 1 + usize::from(data.first().copied().unwrap_or(0));
    for skip_bad_lines in [false, true] {
        let seq = ReaderOptions {
            skip_bad_lines,
            format,
            sequential: true,
            chunk_bytes: 1 << 20,
        };
        let par = ReaderOptions {
            sequential: false,
            chunk_bytes: chunk,
            ..seq.clone()
        };
        let a = read(name, data, &seq);
        let b = read(name, data, &par);
        if compressed(data) {
            // How much of a damaged stream decodes before the damage is noticed depends on
            // the buffer sizes: only a clean stream must read the same both ways.
            let clean = |o: &Option<Outcome>| o.as_ref().is_some_and(|o| o.error.is_none());
            if clean(&a) && clean(&b) {
                assert_eq!(a, b, "sequential and parallel reads of a stream differ");
            }
        } else {
            assert_eq!(a, b, "sequential and parallel reads differ");
        }
    }
}
