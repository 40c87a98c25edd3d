//! Every codec, for text and binary traces: round trips, concatenated streams, the extension
//! as a fallback, and truncated or corrupt streams as clear errors naming the file.

mod common;

use common::{compress, drain, read_all, write, CODECS};
use ptbench_trace::{champsim, Format, ReaderOptions, TraceErrorKind, TraceReader};
use std::io::Write;

fn lackey_text(lines: u64) -> Vec<u8> {
    let mut text = Vec::new();
    for i in 0..lines {
        match i % 3 {
            0 => writeln!(text, "I  {:08x},4", 0x400000 + i * 4),
            1 => writeln!(text, " L {:x},8", 0x7ff000000 + i * 64),
            _ => writeln!(text, " M {:x},4", 0x601000 + i * 8),
        }
        .unwrap();
    }
    text
}

#[test]
fn every_codec_round_trips_text() {
    let text = lackey_text(5000);
    let (_d, plain) = write("t.lackey", &text);
    let want = read_all(&plain).unwrap();
    assert_eq!(want.len(), 5000 / 3 * 4 + 2);
    for ext in CODECS {
        let (_d, p) = write(&format!("t.lackey.{ext}"), &compress(ext, &text));
        let got = drain(ptbench_trace::open(&p).unwrap());
        assert_eq!(got.error, None, "{ext}");
        assert_eq!(got.accesses, want, "{ext}");
        assert_eq!(got.lines, 5000, "{ext}");
        // Recognised by the magic bytes, whatever the name.
        let (_d, p) = write("no-extension", &compress(ext, &text));
        assert_eq!(read_all(&p).unwrap(), want, "{ext} without its extension");
        // In memory too.
        let r = ptbench_trace::from_bytes("mem", compress(ext, &text), &ReaderOptions::default());
        assert_eq!(drain(r.unwrap()).accesses, want, "{ext} in memory");
    }
}

#[test]
fn every_codec_round_trips_champsim_and_counts_compressed_bytes() {
    let mut data = Vec::new();
    for i in 0..3000u64 {
        data.extend(champsim::encode(
            Format::ChampSim,
            0x400000 + 4 * i,
            &[0x1000 + i],
            &[0x2000 + i],
            [0; 2],
        ));
    }
    for ext in CODECS {
        let packed = compress(ext, &data);
        let (_d, p) = write(&format!("t.champsimtrace.{ext}"), &packed);
        let mut r = ptbench_trace::open(&p).unwrap();
        assert_eq!(r.format(), Some(Format::ChampSim));
        let mut n = 0;
        let mut buf = Vec::new();
        while r.read_batch(&mut buf).unwrap() > 0 {
            n += buf.len();
        }
        assert_eq!(n, 9000, "{ext}");
        assert_eq!(
            r.bytes_read(),
            packed.len() as u64,
            "{ext}: compressed bytes"
        );
    }
}

#[test]
fn concatenated_streams_are_one_trace() {
    let a = b" L 10,4\n".to_vec();
    let b = b" S 20,4\n".to_vec();
    for ext in CODECS {
        let mut both = compress(ext, &a);
        both.extend(compress(ext, &b));
        let (_d, p) = write(&format!("t.{ext}"), &both);
        assert_eq!(read_all(&p).unwrap().len(), 2, "{ext}");
    }
}

#[test]
fn truncated_streams_are_truncated_errors_naming_the_file() {
    let text = lackey_text(20000);
    for ext in CODECS {
        let whole = compress(ext, &text);
        for cut in [whole.len() / 2, whole.len() - 1] {
            let name = format!("cut.lackey.{ext}");
            let (_d, p) = write(&name, &whole[..cut]);
            let out = drain(ptbench_trace::open(&p).unwrap());
            let msg = out
                .error
                .unwrap_or_else(|| panic!("{ext} cut at {cut} read whole"));
            assert!(msg.starts_with(&format!("{}: ", p.display())), "{msg}");
            assert!(msg.contains("truncated"), "{ext} cut at {cut}: {msg}");
        }
    }
}

#[test]
fn corrupt_streams_are_corrupt_errors() {
    let text = lackey_text(20000);
    for ext in CODECS {
        let mut bad = compress(ext, &text);
        // Damage the middle of the compressed data.
        let mid = bad.len() / 2;
        for b in &mut bad[mid..mid + 16] {
            *b ^= 0x5a;
        }
        let (_d, p) = write(&format!("bad.lackey.{ext}"), &bad);
        let out = drain(ptbench_trace::open(&p).unwrap());
        let msg = out
            .error
            .unwrap_or_else(|| panic!("{ext}: damage not noticed"));
        // The stream's own check fails, unless the damaged bytes decoded into a bad line first.
        assert!(msg.starts_with(&format!("{}:", p.display())), "{msg}");
        assert!(
            msg.contains("corrupt") || msg.contains("truncated") || msg.contains("malformed"),
            "{ext}: {msg}"
        );
    }
}

#[test]
fn text_under_a_compressed_name_is_read_as_text() {
    // The magic bytes decide, as the README says: plain text named `.gz` is text.
    for ext in CODECS {
        let (_d, p) = write(&format!("t.lackey.{ext}"), b" L 10,4\n L 20,4\n");
        let out = drain(ptbench_trace::open(&p).unwrap());
        assert_eq!(out.error, None, "{ext}");
        assert_eq!(out.accesses.len(), 2, "{ext}");
    }
}

#[test]
fn extension_is_the_fallback_for_binary_content_with_no_magic() {
    // Binary bytes under a compressed name are read with that codec, and fail as corrupt.
    let junk: Vec<u8> = (0..200u32).map(|i| (i * 97 % 251) as u8).collect();
    for ext in CODECS {
        let (_d, p) = write(&format!("t.lackey.{ext}"), &junk);
        let e = match ptbench_trace::open(&p) {
            Err(e) => e,
            Ok(r) => {
                let e = read_all(&p).unwrap_err();
                let out = drain(r);
                assert!(out.accesses.is_empty() && out.error.is_some(), "{ext}");
                e
            }
        };
        assert!(
            matches!(
                e.kind,
                TraceErrorKind::Corrupt(_) | TraceErrorKind::Truncated | TraceErrorKind::Io(_)
            ),
            "{ext}: {e}"
        );
    }
}

#[test]
fn zeros_after_a_gzip_stream_are_accepted_and_garbage_is_not() {
    let text = lackey_text(100);
    let mut padded = compress("gz", &text);
    padded.extend(std::iter::repeat_n(0u8, 1000));
    let (_d, p) = write("t.lackey.gz", &padded);
    let out = drain(ptbench_trace::open(&p).unwrap());
    assert_eq!(out.error, None);
    assert_eq!(out.lines, 100);
    let mut junk = compress("gz", &text);
    junk.extend_from_slice(b"\0\0garbage after the stream\n");
    let (_d, p) = write("t.lackey.gz", &junk);
    let out = drain(ptbench_trace::open(&p).unwrap());
    assert_eq!(out.lines, 100);
    let msg = out.error.unwrap();
    assert!(
        msg.contains("t.lackey.gz: after line 100: the compressed stream is corrupt"),
        "{msg}"
    );
}

#[test]
fn sequential_plain_read_matches_the_mapped_one() {
    let text = lackey_text(30000);
    let (_d, p) = write("t.lackey", &text);
    let par = drain(ptbench_trace::open(&p).unwrap());
    let opts = ReaderOptions {
        sequential: true,
        ..ReaderOptions::default()
    };
    let mut r = ptbench_trace::open_with(&p, &opts).unwrap();
    let mut buf = Vec::new();
    let mut seq = Vec::new();
    while r.read_batch(&mut buf).unwrap() > 0 {
        seq.extend_from_slice(&buf);
    }
    assert_eq!(seq, par.accesses);
    assert_eq!(r.bytes_read(), text.len() as u64);
    assert_eq!(r.lines(), 30000);
}
