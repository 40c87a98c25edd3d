//! Errors name the file and the line (or byte offset) and show the line; `skip_bad_lines`
//! counts what it skips; `locate_access` finds lines again.

mod common;

use common::{drain, read_all, write};
use ptbench_core::{Access, AccessKind};
use ptbench_trace::{
    champsim, Format, Location, ReaderOptions, TraceErrorKind, TraceReader, BATCH,
};
use std::io::Write;

fn skipping() -> ReaderOptions {
    ReaderOptions {
        skip_bad_lines: true,
        ..ReaderOptions::default()
    }
}

#[test]
fn malformed_line_names_file_and_line_and_shows_it() {
    let (_d, p) = write("bad.trace", b" L 10,4\n S zzzz,4\n");
    let err = read_all(&p).unwrap_err();
    assert_eq!(err.location, Location::Line(2));
    let msg = err.to_string();
    assert!(
        msg.contains("bad.trace:2: malformed lackey line ` S zzzz,4`"),
        "{msg}"
    );
    assert!(msg.contains("expected a hex address"), "{msg}");
}

#[test]
fn accesses_before_a_bad_line_come_first() {
    let (_d, p) = write("t", b" L 10,4\n L 20,4\n L 3g,4\n L 40,4\n");
    let out = drain(ptbench_trace::open(&p).unwrap());
    assert_eq!(out.accesses.len(), 2);
    assert!(out
        .error
        .unwrap()
        .contains("t:3: malformed lackey line ` L 3g,4`"));
}

#[test]
fn malformed_lines_of_every_format() {
    let cases: &[(&[u8], &str)] = &[
        (
            b" L 10,4\n L 10 8\n",
            ":2: malformed lackey line ` L 10 8`: expected `,size` or the end of the line after the address (--skip-bad-lines skips such lines)",
        ),
        (b" L 10,4\n L 10,x\n", "decimal size"),
        (b" L 10,4\n L 10,0\n", "size must be"),
        (b" L 10,4\n L 10,99999999999\n", "size must be"),
        (b" L 10,4\n L 11112222333344445,4\n", "wider than 64 bits"),
        (b" L 10,4\n L ffffffffffffffff,4\n", "past the top"),
        (b" L 10,4\n X 10,4\n", "expected `I`, `L`, `S` or `M`"),
        (
            b"0041f7a0 R\n0041f7a0 R extra\n",
            ":2: malformed hexaddr R|W line `0041f7a0 R extra`: expected R or W",
        ),
        (b"0041f7a0 R\n0041f7a0 X\n", "expected R or W"),
        (
            b"0041f7a0R\n",
            ":1: unrecognised trace line `0041f7a0R`, and no line is a record of a known format",
        ),
        (b"W 10\nW 0xzz\n", ":2: malformed R|W hexaddr line `W 0xzz`"),
        (
            b"0x40: R 0x10\n0x44 R 0x10\n",
            ":2: malformed pinatrace line `0x44 R 0x10`",
        ),
        (
            b"0x40: R 0x10 4 0x0\n0x44: R 0x10\n",
            ":2: malformed pinatrace (SimpleExamples) line",
        ),
        (b"0 10\n0 zz\n", ":2: malformed din line `0 zz`"),
        (
            b"r 10 4\nr 10 0\n",
            ":2: malformed extended din line `r 10 0`",
        ),
        (b"r 10 4\nq 10 4\n", "expected an access type"),
    ];
    for (content, want) in cases {
        let (_d, p) = write("t", content);
        let msg = read_all(&p).unwrap_err().to_string();
        assert!(msg.contains(want), "{msg} should contain {want}");
    }
}

#[test]
fn skip_bad_lines_counts_and_keeps_the_first_few() {
    let mut text = String::from("# a lackey trace\n L 10,4\n");
    for i in 0..8 {
        text.push_str(&format!(" L zz{i},4\n S 20,4\n"));
    }
    let (_d, p) = write("t.lackey", text.as_bytes());
    assert!(read_all(&p).is_err());
    let r = ptbench_trace::open_with(&p, &skipping()).unwrap();
    let out = drain(r);
    assert_eq!(out.error, None);
    assert_eq!(out.accesses.len(), 9);
    assert_eq!(out.skipped, 8);
    assert_eq!(out.first_skipped.len(), 5);
    assert!(out.first_skipped[0].contains("t.lackey:3: malformed lackey line ` L zz0,4`"));
    assert!(out.first_skipped[4].contains("t.lackey:11: malformed lackey line ` L zz4,4`"));

    let mut r = ptbench_trace::open_with(&p, &skipping()).unwrap();
    let mut buf = Vec::new();
    while r.read_batch(&mut buf).unwrap() > 0 {}
    let summary = r.skip_summary().unwrap();
    assert!(
        summary.starts_with("skipped 8 bad lines (first: ")
            && summary.contains("t.lackey:3: malformed lackey line ` L zz0,4`"),
        "{summary}"
    );
    let (_d, clean) = write("ok", b" L 10,4\n");
    let mut r = ptbench_trace::open_with(&clean, &skipping()).unwrap();
    while r.read_batch(&mut buf).unwrap() > 0 {}
    assert_eq!(r.skip_summary(), None);
}

#[test]
fn lines_of_no_format_before_the_first_record_are_noise() {
    let (_d, p) = write("t", b"garbage\nmore garbage\n0041f7a0 R\nxx\n13f5e2c0 W\n");
    for skip_bad_lines in [false, true] {
        for sequential in [false, true] {
            let opts = ReaderOptions {
                sequential,
                skip_bad_lines,
                ..ReaderOptions::default()
            };
            let r = ptbench_trace::open_with(&p, &opts).unwrap();
            let out = drain(r);
            assert_eq!(out.error, None);
            assert_eq!(out.accesses.len(), 2);
            assert_eq!(out.skipped, 0);
            let r = ptbench_trace::open_with(&p, &opts).unwrap();
            let mut r = r;
            let mut buf = Vec::new();
            while r.read_batch(&mut buf).unwrap() > 0 {}
            assert_eq!(r.noise_lines(), 3);
            assert_eq!(r.first_noise(), Some((1, "garbage")));
            assert_eq!(
                r.skip_summary().unwrap(),
                format!(
                    "skipped 3 lines that are not trace records, first at {}:1: `garbage`",
                    p.display()
                )
            );
        }
    }
}

#[test]
fn noise_and_bad_lines_are_reported_together() {
    let (_d, p) = write("t", b" L 10,4\ntotal 9624\n L zz,4\n S 20,4\n");
    let opts = skipping();
    let mut r = ptbench_trace::open_with(&p, &opts).unwrap();
    let mut buf = Vec::new();
    while r.read_batch(&mut buf).unwrap() > 0 {}
    let d = p.display();
    assert_eq!(
        r.skip_summary().unwrap(),
        format!("skipped 1 line that is not a trace record, at {d}:2: `total 9624`; skipped 1 bad line (first: {d}:3: malformed lackey line ` L zz,4`: expected a hex address)")
    );
}

#[test]
fn champsim_truncated_record_names_its_offset() {
    let mut data = champsim::encode(Format::ChampSim, 0x1000, &[0x2000], &[], [0; 2]);
    data.extend(champsim::encode(Format::ChampSim, 0x1004, &[], &[], [0; 2]));
    data.extend_from_slice(&[1, 2, 3, 4, 5]);
    let (_d, p) = write("t.champsimtrace", &data);
    for sequential in [false, true] {
        let opts = ReaderOptions {
            sequential,
            ..ReaderOptions::default()
        };
        let out = drain(ptbench_trace::open_with(&p, &opts).unwrap());
        assert_eq!(out.accesses.len(), 3, "the whole records come first");
        let msg = out.error.unwrap();
        assert!(
            msg.contains("t.champsimtrace: byte 128: the file ends inside a 64-byte champsim record (5 bytes of it are present)"),
            "{msg}"
        );
    }
    // Compressed, the same offset (of the decompressed data).
    let (_d, p) = write("t.champsimtrace.xz", &common::compress("xz", &data));
    let out = drain(ptbench_trace::open(&p).unwrap());
    assert_eq!(out.accesses.len(), 3);
    assert!(out.error.unwrap().contains("byte 128:"));
    // Cloudsuite: 96-byte records.
    let (_d, p) = write("x.cloudsuite.champsim", &[0u8; 100]);
    let e = common::read_all(&p).unwrap_err();
    assert_eq!(e.location, Location::Offset(96));
    assert!(matches!(
        e.kind,
        TraceErrorKind::TruncatedRecord {
            record_bytes: 96,
            partial_bytes: 4,
            ..
        }
    ));
}

#[test]
fn batches_are_bounded_and_locate_finds_lines() {
    let mut text = Vec::new();
    writeln!(text, "==1== header").unwrap();
    for i in 0..(BATCH as u64 + 10) {
        writeln!(text, " M {:x},4", i * 4096).unwrap();
    }
    let (_d, p) = write("t", &text);
    let out = drain(ptbench_trace::open(&p).unwrap());
    assert_eq!(out.accesses.len(), 2 * (BATCH + 10));
    // access 5 is the store half of the third M line, which is line 4.
    assert_eq!(ptbench_trace::locate_access(&p, 5).unwrap(), Some(4));
    assert_eq!(ptbench_trace::locate_access(&p, 1 << 40).unwrap(), None);
    let last = 2 * (BATCH as u64 + 10) - 1;
    assert_eq!(
        ptbench_trace::locate_access(&p, last).unwrap(),
        Some(BATCH as u64 + 11)
    );
}

#[test]
fn locate_follows_skipped_lines_and_binary_offsets() {
    let (_d, p) = write("t", b" L 10,4\n L zz,4\n L 20,4\n");
    assert!(ptbench_trace::locate_access(&p, 1).is_err());
    assert_eq!(
        ptbench_trace::locate_access_with(&p, &skipping(), 1).unwrap(),
        Some(Location::Line(3))
    );
    let mut data = champsim::encode(Format::ChampSim, 0x1000, &[0x2000, 0x3000], &[], [0; 2]);
    data.extend(champsim::encode(Format::ChampSim, 0x1004, &[], &[], [0; 2]));
    let (_d, p) = write("t.champsim", &data);
    let opts = ReaderOptions::default();
    assert_eq!(
        ptbench_trace::locate_access_with(&p, &opts, 2).unwrap(),
        Some(Location::Offset(0))
    );
    assert_eq!(
        ptbench_trace::locate_access_with(&p, &opts, 3).unwrap(),
        Some(Location::Offset(64))
    );
    assert_eq!(ptbench_trace::locate_access(&p, 3).unwrap(), None);
    let (_d, gz) = write(
        "t.lackey.gz",
        &common::compress("gz", b" L 10,4\n\n M 20,4\n"),
    );
    assert_eq!(ptbench_trace::locate_access(&gz, 2).unwrap(), Some(3));
}

#[test]
fn address_range_spans_every_access() {
    let (_d, p) = write("t", b" L 10,4\n S fffffffffffffff0,16\n");
    assert_eq!(
        ptbench_trace::address_range(&p).unwrap(),
        Some((0x10, u64::MAX))
    );
    let (_d, p) = write("t", b"# nothing\n");
    assert_eq!(ptbench_trace::address_range(&p).unwrap(), None);
    let _ = Access::new(AccessKind::Read, 0, 1);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = ptbench_trace::open(std::path::Path::new("/no/such/trace")).unwrap_err();
    assert!(matches!(e.kind, TraceErrorKind::Io(_)));
    assert!(e.to_string().starts_with("/no/such/trace: "));
}
