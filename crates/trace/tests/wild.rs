//! Traces as third parties publish them (issue 9): every shape reads with no option, the noise
//! around the records is counted and reported, a line that starts like a record but is
//! malformed stays an error, and no line of a trace reaches a message raw. Each shape is a
//! small file written by hand in that shape.

mod common;

use common::{compress, drain, write, Outcome};
use ptbench_core::{Access, AccessKind};
use ptbench_trace::{champsim, Format, ReaderOptions, TraceErrorKind, TraceReader};
use std::path::Path;

const F: AccessKind = AccessKind::Fetch;
const R: AccessKind = AccessKind::Read;
const W: AccessKind = AccessKind::Write;

fn a(kind: AccessKind, addr: u64, size: u32) -> Access {
    Access::new(kind, addr, size)
}

/// Reads `path` with the default options; also returns the format and the skip summary.
fn read(path: &Path) -> (Outcome, Option<Format>, Option<String>) {
    let mut r = ptbench_trace::open(path).unwrap();
    let mut buf = Vec::new();
    let mut accesses = Vec::new();
    let error = loop {
        match r.read_batch(&mut buf) {
            Ok(0) => break None,
            Ok(_) => accesses.extend_from_slice(&buf),
            Err(e) => break Some(e.to_string()),
        }
    };
    let out = Outcome {
        accesses,
        error,
        lines: r.lines(),
        skipped: r.skipped_lines(),
        first_skipped: Vec::new(),
        ignored: r.ignored_records(),
        noise: r.noise_lines(),
        first_noise: r.first_noise().map(|(n, t)| (n, t.to_string())),
    };
    (out, r.format(), r.skip_summary())
}

/// Every way of reading `text` (mapped in chunks of every small size, sequential, gzip, in
/// memory) gives the same accesses, noise, summary and error as the plain read.
fn same_every_way(name: &str, text: &[u8]) {
    let (_d, p) = write(name, text);
    let (want, _, want_summary) = read(&p);
    let summary_of = |r: &mut ptbench_trace::TraceFile| {
        let mut buf = Vec::new();
        while matches!(r.read_batch(&mut buf), Ok(n) if n > 0) {}
        // Summaries name the file; compare what follows its name.
        r.skip_summary()
            .map(|s| s.replace(&r.path().display().to_string(), "F"))
    };
    let want_summary = want_summary.map(|s| s.replace(&p.display().to_string(), "F"));
    for chunk in [1, 2, 3, 5, 8, 13, 64] {
        for sequential in [false, true] {
            let opts = ReaderOptions {
                sequential,
                chunk_bytes: chunk,
                ..ReaderOptions::default()
            };
            let got = drain(ptbench_trace::open_with(&p, &opts).unwrap());
            assert_eq!(got.accesses, want.accesses, "{name} chunk {chunk}");
            assert_eq!(got.error, want.error, "{name} chunk {chunk}");
            assert_eq!(got.lines, want.lines, "{name} chunk {chunk}");
            assert_eq!(got.noise, want.noise, "{name} chunk {chunk}");
            assert_eq!(got.first_noise, want.first_noise, "{name} chunk {chunk}");
            let mut r = ptbench_trace::open_with(&p, &opts).unwrap();
            assert_eq!(summary_of(&mut r), want_summary, "{name} chunk {chunk}");
        }
    }
    let gz = format!("{name}.gz");
    let (_d, pz) = write(&gz, &compress("gz", text));
    let got = drain(ptbench_trace::open(&pz).unwrap());
    assert_eq!(got.accesses, want.accesses, "{gz}");
    assert_eq!(
        got.error.map(|e| e.replace(&gz, name)),
        want.error.clone(),
        "{gz}"
    );
    let mut r = ptbench_trace::open(&pz).unwrap();
    assert_eq!(summary_of(&mut r), want_summary, "{gz}");
}

const LACKEY_VERBOSE: &[u8] = b"==12345== Lackey, an example Valgrind tool
==12345== Command: ls -l
--12345-- Valgrind options:
--12345--    -v
--12345--    --log-fd=1
I  04000800,3
 L 7ff000398,8
total 9624
-rw-r--r-- 1 root root 9 Jan  1 00:00 a
 S 7ff000390,8
 M 0421c7f0,4
drwxr-xr-x 2 root root 4096 Jan  1 00:00 b
I  04000803,3
==12345==
==12345== I   refs:      12
";

#[test]
fn lackey_log_with_valgrind_messages_and_program_output() {
    let (_d, p) = write("ls.lackey", LACKEY_VERBOSE);
    let (out, format, summary) = read(&p);
    assert_eq!(out.error, None);
    assert_eq!(format, Some(Format::Lackey));
    assert_eq!(
        out.accesses,
        vec![
            a(F, 0x04000800, 3),
            a(R, 0x7ff000398, 8),
            a(W, 0x7ff000390, 8),
            a(R, 0x0421c7f0, 4),
            a(W, 0x0421c7f0, 4),
            a(F, 0x04000803, 3),
        ]
    );
    assert_eq!(out.lines, 15);
    assert_eq!(out.skipped, 0);
    assert_eq!(
        summary.unwrap(),
        format!(
            "skipped 3 lines that are not trace records, first at {}:8: `total 9624`",
            p.display()
        )
    );
    same_every_way("ls.lackey", LACKEY_VERBOSE);
}

#[test]
fn lackey_program_output_before_the_first_record() {
    // Program output that parses as din (`1 2`) does not decide the format: lackey has more
    // records among the first lines.
    let text = b"1 2\nhello\nI  04000800,3\n L 7ff000398,8\n S 7ff000390,8\n";
    let (_d, p) = write("t", text);
    let (out, format, summary) = read(&p);
    assert_eq!(format, Some(Format::Lackey));
    assert_eq!(out.accesses.len(), 3);
    assert_eq!(
        summary.unwrap(),
        format!(
            "skipped 2 lines that are not trace records, first at {}:1: `1 2`",
            p.display()
        )
    );
    same_every_way("t", text);
}

#[test]
fn course_ref_traces_without_sizes() {
    let text = b"I 4001000\nL 7ff0001\nS 7ff0002\nM 8000000\n  I 4001004\n";
    let (_d, p) = write("gcc.ref", text);
    let (out, format, summary) = read(&p);
    assert_eq!(out.error, None);
    assert_eq!(format, Some(Format::Lackey));
    assert_eq!(
        out.accesses,
        vec![
            a(F, 0x4001000, 1),
            a(R, 0x7ff0001, 1),
            a(W, 0x7ff0002, 1),
            a(R, 0x8000000, 1),
            a(W, 0x8000000, 1),
            a(F, 0x4001004, 1),
        ]
    );
    assert_eq!(summary, None);
    same_every_way("gcc.ref", text);
}

#[test]
fn op_first_lines_of_hand_written_pin_tools() {
    let text = b"Pin tool: memtrace v0.1\nW 0xbff05e7c\n R 0x7ffe7dfbfcc8\nR 7ffe7dfbf000 8\n W 0x1000 4\n";
    let (_d, p) = write("mem.out", text);
    let (out, format, summary) = read(&p);
    assert_eq!(out.error, None);
    assert_eq!(format, Some(Format::OpFirst));
    assert_eq!(
        out.accesses,
        vec![
            a(W, 0xbff05e7c, 1),
            a(R, 0x7ffe7dfbfcc8, 1),
            a(R, 0x7ffe7dfbf000, 8),
            a(W, 0x1000, 4),
        ]
    );
    assert_eq!(
        summary.unwrap(),
        format!(
            "skipped 1 line that is not a trace record, at {}:1: `Pin tool: memtrace v0.1`",
            p.display()
        )
    );
    same_every_way("mem.out", text);
}

const PINATRACE: &[u8] = b"# pinatrace of a.out
RTN: _start

0x401000: W 0x7ffd1000
0x401004:   R   0x601040
RTN: main
    0x401008: R 0x601048
";

const PINATRACE_SIZED: &[u8] = b"#
# Memory Access Trace Generated By Pin
#
RTN: main
0x7f1234567890: R     0x7ffd12345678  8                0x0
0x7f1234567894: W           0x601040  4               0x2a

0x7f1234567898: R 0x601044 4 0x0
";

#[test]
fn pinatrace_with_routine_names_blank_lines_padding_and_no_eof() {
    let (_d, p) = write("pinatrace.out", PINATRACE);
    let (out, format, summary) = read(&p);
    assert_eq!(out.error, None);
    assert_eq!(format, Some(Format::Pinatrace));
    assert_eq!(
        out.accesses,
        vec![a(W, 0x7ffd1000, 1), a(R, 0x601040, 1), a(R, 0x601048, 1)]
    );
    assert_eq!(
        summary.unwrap(),
        format!(
            "skipped 2 lines that are not trace records, first at {}:2: `RTN: _start`",
            p.display()
        )
    );
    same_every_way("pinatrace.out", PINATRACE);

    let (_d, p) = write("pinatrace.out", PINATRACE_SIZED);
    let (out, format, _) = read(&p);
    assert_eq!(out.error, None);
    assert_eq!(format, Some(Format::PinatraceSized));
    assert_eq!(
        out.accesses,
        vec![
            a(R, 0x7ffd12345678, 8),
            a(W, 0x601040, 4),
            a(R, 0x601044, 4)
        ]
    );
    same_every_way("pinatrace.out", PINATRACE_SIZED);
}

#[test]
fn din_with_extra_columns_and_no_final_newline() {
    let text = b"2 130 4\ti1\n0 1000 4\tr\n1 2000 4";
    let (_d, p) = write("cc1.din", text);
    let (out, format, summary) = read(&p);
    assert_eq!(out.error, None);
    assert_eq!(format, Some(Format::Din));
    assert_eq!(
        out.accesses,
        vec![a(F, 0x130, 4), a(R, 0x1000, 4), a(W, 0x2000, 4)]
    );
    assert_eq!(out.lines, 3);
    assert_eq!(summary, None);
    same_every_way("cc1.din", text);
}

#[test]
fn every_format_takes_the_same_padding() {
    let cases: &[(&[u8], Format)] = &[
        (b"\t I  04000800,3 \r\n", Format::Lackey),
        (b"\t 0041f7a0 R \r\n", Format::HexRw),
        (b"\t W 0xbff05e7c \r\n", Format::OpFirst),
        (b"\t 0x40: R 0x10 \r\n", Format::Pinatrace),
        (b"\t 0x40: R 0x10 8 0x0 \r\n", Format::PinatraceSized),
        (b"\t 0 1000 \r\n", Format::Din),
        (b"\t r 1000 4 \r\n", Format::DinExtended),
    ];
    for (line, want) in cases {
        // A byte-order mark before the first line is padding too.
        let text = [&b"\xef\xbb\xbf"[..], line, line].concat();
        let (_d, p) = write("t", &text);
        let (out, format, summary) = read(&p);
        assert_eq!(format, Some(*want), "{}", String::from_utf8_lossy(line));
        assert_eq!(out.error, None, "{}", String::from_utf8_lossy(line));
        assert_eq!(out.accesses.len(), 2, "{}", String::from_utf8_lossy(line));
        assert_eq!(summary, None, "{}", String::from_utf8_lossy(line));
    }
}

fn champsim_records() -> Vec<u8> {
    let mut data = champsim::encode(
        Format::ChampSim,
        0x401000,
        &[0x7ffd_0000_1000],
        &[0x60_1040],
        [0; 2],
    );
    data.extend(champsim::encode(
        Format::ChampSim,
        0x401004,
        &[],
        &[],
        [0; 2],
    ));
    data
}

#[test]
fn champsim_under_other_names_by_name_or_content() {
    let want = vec![
        a(F, 0x401000, 1),
        a(R, 0x7ffd_0000_1000, 1),
        a(W, 0x60_1040, 1),
        a(F, 0x401004, 1),
    ];
    for (name, ext) in [
        ("champsim.trace.gz", "gz"),
        ("mcf.trace.xz", "xz"),
        ("x.bin", ""),
    ] {
        let data = if ext.is_empty() {
            champsim_records()
        } else {
            compress(ext, &champsim_records())
        };
        let (_d, p) = write(name, &data);
        let (out, format, _) = read(&p);
        assert_eq!(out.error, None, "{name}");
        assert_eq!(format, Some(Format::ChampSim), "{name}");
        assert_eq!(out.accesses, want, "{name}");
    }
}

#[test]
fn unrecognised_binary_is_an_error_naming_format_with_no_control_bytes() {
    let junk: Vec<u8> = (0..300u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (_d, p) = write("blob.dat", &junk);
    let e = ptbench_trace::open(&p).unwrap_err();
    assert!(matches!(e.kind, TraceErrorKind::Binary));
    let msg = e.to_string();
    assert!(!msg.chars().any(|c| c.is_control()), "{msg:?}");
    assert_eq!(
        msg,
        format!(
            "{}: this looks like a binary file, not a trace in a format recognised from its content: ChampSim traces are recognised by their 64-byte records or `champsim` in the name, CloudSuite ones by `cloudsuite` in the name, DynamoRIO drmemtrace ones by their header record; force a format with --format (lackey, hexrw, rwhex, pinatrace, pinatrace-simple, din, xdin, champsim, cloudsuite, ptbt, ptbt-text, drmemtrace)",
            p.display()
        )
    );
}

#[test]
fn bad_lines_are_shown_escaped() {
    let text = b" L 10,4\n L 1\x00\x1b[31m\x07,4\xef\xbb\xbf\n";
    let (_d, p) = write("t", text);
    let (out, _, _) = read(&p);
    let msg = out.error.unwrap();
    assert!(
        !msg.chars().any(|c| c.is_control() || c == '\u{feff}'),
        "{msg:?}"
    );
    assert_eq!(
        msg,
        format!(
            "{}:2: malformed lackey line ` L 1\\0\\u{{1b}}[31m\\u{{7}},4\\u{{feff}}`: expected `,size` or the end of the line after the address (--skip-bad-lines skips such lines)",
            p.display()
        )
    );
    // Noise is shown escaped too.
    let (_d, p) = write("t", b" L 10,4\n\x1b]0;title\x07\n");
    let (_, _, summary) = read(&p);
    assert_eq!(
        summary.unwrap(),
        format!(
            "skipped 1 line that is not a trace record, at {}:2: `\\u{{1b}}]0;title\\u{{7}}`",
            p.display()
        )
    );
}

#[test]
fn a_file_of_noise_is_unrecognised_unless_bad_lines_are_skipped() {
    let (_d, p) = write("t", b"# a log\ntotal 9624\nhello\n");
    let (out, format, _) = read(&p);
    assert_eq!(format, None);
    assert!(out.accesses.is_empty());
    assert!(out.error.unwrap().starts_with(&format!(
        "{}:2: unrecognised trace line `total 9624`",
        p.display()
    )));
    let opts = ReaderOptions {
        skip_bad_lines: true,
        ..ReaderOptions::default()
    };
    let out = drain(ptbench_trace::open_with(&p, &opts).unwrap());
    assert_eq!(out.error, None);
}

fn long_line_trace(record_like: bool) -> Vec<u8> {
    let mut text = b"I  04000800,3\n L 7ff000398,8\n".to_vec();
    if record_like {
        text.extend_from_slice(b" L 7ff000398,");
        text.extend(std::iter::repeat_n(b'8', 3 << 20));
    } else {
        text.extend(std::iter::repeat_n(b'x', 3 << 20));
    }
    text.extend_from_slice(b"\n S 7ff000390,8\n");
    text
}

#[test]
fn an_over_long_line_in_a_gzip_stream_is_bounded() {
    // Noise: skipped, counted, never buffered whole.
    let (_d, p) = write("long.lackey.gz", &compress("gz", &long_line_trace(false)));
    let mut r = ptbench_trace::Trace::open(&p).unwrap();
    let mut buf = Vec::new();
    let mut n = 0;
    while r.read_batch(&mut buf).unwrap() > 0 {
        n += buf.len();
    }
    assert_eq!(n, 3);
    assert_eq!(r.lines(), 4);
    assert_eq!(r.noise_lines(), 1);
    assert!(r.buffer_bytes() <= 1 << 20, "{}", r.buffer_bytes());
    // Starting like a record: an error naming the file and line, at a bounded buffer.
    let (_d, p) = write("long.lackey.gz", &compress("gz", &long_line_trace(true)));
    let mut r = ptbench_trace::Trace::open(&p).unwrap();
    let e = loop {
        match r.read_batch(&mut buf) {
            Ok(0) => panic!("the long line is an error"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(r.buffer_bytes() <= 1 << 20, "{}", r.buffer_bytes());
    assert_eq!(e.location, ptbench_trace::Location::Line(3));
    assert!(matches!(
        e.kind,
        TraceErrorKind::LineTooLong { limit: 4096, .. }
    ));
    assert!(
        e.to_string().starts_with(&format!(
            "{}:3: lackey line ` L 7ff000398,8888",
            p.display()
        )),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with("...` is longer than 4096 bytes: no record is that long (--skip-bad-lines skips such lines)"),
        "{e}"
    );
    // The mapped plain file says the same.
    let (_d, plain) = write("long.lackey", &long_line_trace(true));
    let e2 = common::read_all(&plain).unwrap_err();
    assert_eq!(e2.location, e.location);
    assert_eq!(e2.kind.to_string(), e.kind.to_string());
}

#[test]
fn a_truncated_compressed_stream_names_the_last_line_read() {
    let mut text = Vec::new();
    for i in 0..5000u64 {
        text.extend_from_slice(format!(" L {:x},8\n", 0x7ff000000 + i * 8).as_bytes());
    }
    let packed = compress("gz", &text);
    let (_d, p) = write("t.lackey.gz", &packed[..packed.len() / 2]);
    let out = drain(ptbench_trace::open(&p).unwrap());
    let msg = out.error.unwrap();
    let n = out.accesses.len();
    assert!(n > 0 && n < 5000);
    assert_eq!(
        msg,
        format!(
            "{}: after line {n}: the compressed stream ends early: the file is truncated",
            p.display()
        )
    );
}

#[test]
fn a_directory_is_not_a_trace_file() {
    let d = tempfile::tempdir().unwrap();
    let e = ptbench_trace::open(d.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: a directory, not a trace file", d.path().display())
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_is_read_as_a_stream() {
    let d = tempfile::tempdir().unwrap();
    // The same six accesses in ptbench's binary format.
    let mut native = ptbench_trace::native::header(Some(6), 0).to_vec();
    for x in [
        a(F, 0x04000800, 3),
        a(R, 0x7ff000398, 8),
        a(W, 0x7ff000390, 8),
        a(R, 0x0421c7f0, 4),
        a(W, 0x0421c7f0, 4),
        a(F, 0x04000803, 3),
    ] {
        native.extend_from_slice(&ptbench_trace::native::encode(&x));
    }
    for (name, data) in [
        ("t.fifo", LACKEY_VERBOSE.to_vec()),
        ("z.fifo", compress("zst", LACKEY_VERBOSE)),
        ("n.fifo", native.clone()),
        ("nz.fifo", compress("gz", &native)),
    ] {
        let fifo = d.path().join(name);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::write(&fifo, data).unwrap())
        };
        assert!(!ptbench_trace::is_seekable(&fifo).unwrap());
        let (out, format, summary) = read(&fifo);
        writer.join().unwrap();
        assert_eq!(out.error, None, "{name}");
        assert_eq!(out.accesses.len(), 6, "{name}");
        if name.starts_with('n') {
            assert_eq!(format, Some(Format::Native), "{name}");
            assert_eq!(summary, None, "{name}");
        } else {
            assert_eq!(format, Some(Format::Lackey), "{name}");
            assert!(summary.unwrap().starts_with("skipped 3 lines"), "{name}");
        }
    }
}

#[test]
fn records_after_a_long_prelude_of_noise() {
    // More noise than the lines the format is recognised from: the first record decides, and
    // every way of reading agrees on what was skipped.
    let mut text = Vec::new();
    for i in 0..8000 {
        text.extend_from_slice(format!("total {i}\n").as_bytes());
    }
    text.extend_from_slice(b"0041f7a0 R\n13f5e2c0 W\nnot a record\n");
    let (_d, p) = write("t", &text);
    let (out, format, summary) = read(&p);
    assert_eq!(out.error, None);
    assert_eq!(format, Some(Format::HexRw));
    assert_eq!(out.accesses, vec![a(R, 0x0041f7a0, 1), a(W, 0x13f5e2c0, 1)]);
    assert_eq!(
        summary.unwrap(),
        format!(
            "skipped 8001 lines that are not trace records, first at {}:1: `total 0`",
            p.display()
        )
    );
    same_every_way("t", &text);
}
