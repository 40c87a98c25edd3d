//! Traces as third parties publish them replay with no flag (issue 9): each shape is a small
//! file written by hand; `ptbench run -d x86-64` must count the accesses, translations and
//! page faults worked out by hand below (4 KiB pages, one fault per distinct page), and report
//! the lines it skipped once, on stderr.

use std::path::Path;
use std::process::Command;

mod common;
use common::ptbench;

/// (accesses, translations, page_faults) of the one row `run -d x86-64` writes for `trace`,
/// and its stderr.
fn replay(trace: &Path) -> ((u64, u64, u64), String) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    let out = ptbench(&[
        "run",
        "-q",
        "-d",
        "x86-64",
        "--csv",
        csv.to_str().unwrap(),
        trace.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{}: {err}", trace.display());
    (counts(&csv), err)
}

fn counts(csv: &Path) -> (u64, u64, u64) {
    let mut r = csv::Reader::from_path(csv).unwrap();
    let headers = r.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (a, t, f) = (col("accesses"), col("translations"), col("page_faults"));
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let n = |i: usize| rows[0][i].parse::<u64>().unwrap();
    (n(a), n(t), n(f))
}

fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
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
fn lackey_log_with_program_output() {
    let d = tempfile::tempdir().unwrap();
    let t = write(d.path(), "ls.lackey", LACKEY_VERBOSE);
    // Fetch, load, store, modify (a load and a store), fetch: 6 accesses, none crossing a page;
    // pages 0x4000, 0x7ff000 and 0x421c.
    let (got, err) = replay(&t);
    assert_eq!(got, (6, 6, 3));
    assert_eq!(
        err,
        format!(
            "ptbench: skipped 3 lines that are not trace records, first at {}:8: `total 9624`\n",
            t.display()
        )
    );
}

#[test]
fn course_ref_trace_without_sizes() {
    let d = tempfile::tempdir().unwrap();
    let t = write(
        d.path(),
        "gcc.ref",
        b"I 4001000\nL 7ff0001\nS 7ff0002\nM 8000000\nI 4001004\n",
    );
    // One byte each, M twice: 6 accesses on pages 0x4001, 0x7ff0 and 0x8000.
    let (got, err) = replay(&t);
    assert_eq!(got, (6, 6, 3));
    assert_eq!(err, "");
}

#[test]
fn op_first_pin_tool_output() {
    let d = tempfile::tempdir().unwrap();
    let t = write(
        d.path(),
        "mem.out",
        b"Pin tool: memtrace\nW 0xbff05e7c\n R 0x7ffe7dfbfcc8\nR 7ffe7dfbf000 8\n W 0x1000 4\n",
    );
    // Pages 0xbff05, 0x7ffe7dfbf (twice) and 0x1.
    let (got, err) = replay(&t);
    assert_eq!(got, (4, 4, 3));
    assert_eq!(
        err,
        format!(
            "ptbench: skipped 1 line that is not a trace record, at {}:1: `Pin tool: memtrace`\n",
            t.display()
        )
    );
}

#[test]
fn pinatrace_with_routine_names_and_no_eof() {
    let d = tempfile::tempdir().unwrap();
    let t = write(
        d.path(),
        "pinatrace.out",
        b"# pinatrace\nRTN: _start\n\n0x401000: W 0x7ffd1000\n0x401004:   R   0x601040\nRTN: main\n    0x401008: R 0x601048",
    );
    // Pages 0x7ffd1 and 0x601 (twice); the instruction pointers are not accesses.
    let (got, err) = replay(&t);
    assert_eq!(got, (3, 3, 2));
    assert_eq!(
        err,
        format!(
            "ptbench: skipped 2 lines that are not trace records, first at {}:2: `RTN: _start`\n",
            t.display()
        )
    );
}

#[test]
fn din_with_extra_columns_and_no_final_newline() {
    let d = tempfile::tempdir().unwrap();
    let t = write(d.path(), "cc1.din", b"2 130 4\ti1\n0 1000 4\tr\n1 2000 4");
    // Words of 4 bytes at 0x130, 0x1000, 0x2000: pages 0, 1 and 2.
    let (got, err) = replay(&t);
    assert_eq!(got, (3, 3, 3));
    assert_eq!(err, "");
}

fn champsim_record(ip: u64, src: u64, dst: u64) -> Vec<u8> {
    let mut r = vec![0u8; 64];
    r[0..8].copy_from_slice(&ip.to_le_bytes());
    r[16..24].copy_from_slice(&dst.to_le_bytes());
    r[32..40].copy_from_slice(&src.to_le_bytes());
    r
}

#[test]
fn champsim_under_another_name() {
    let d = tempfile::tempdir().unwrap();
    let mut data = champsim_record(0x401000, 0x7ffd_0000_1000, 0x60_1040);
    data.extend(champsim_record(0x401004, 0, 0));
    // Fetch, read, write, fetch; pages 0x401 (twice), 0x7ffd00001 and 0x601.
    for name in ["champsim.trace.gz", "mcf.trace.gz"] {
        let t = write(d.path(), name, &gzip(&data));
        let (got, err) = replay(&t);
        assert_eq!(got, (4, 4, 3), "{name}");
        assert_eq!(err, "", "{name}");
    }
}

#[test]
fn unrecognised_binary_names_format_and_prints_no_raw_bytes() {
    let d = tempfile::tempdir().unwrap();
    let junk: Vec<u8> = (0..300u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let t = write(d.path(), "blob.dat", &junk);
    let out = ptbench(&[
        "run",
        "-q",
        "--csv",
        "/dev/null",
        "-d",
        "x86-64",
        t.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.trim_end().chars().any(|c| c.is_control()), "{err:?}");
    assert!(err.starts_with(&format!(
        "ptbench: error: {}: this looks like a binary file",
        t.display()
    )));
    assert!(err.contains("--format (lackey, hexrw, rwhex,"), "{err}");
}

#[test]
fn a_malformed_record_is_an_error_that_names_skip_bad_lines() {
    let d = tempfile::tempdir().unwrap();
    let t = write(d.path(), "bad.lackey", b" L 10,4\n S 1\x1b[2J,4\n");
    let out = ptbench(&[
        "run",
        "-q",
        "--csv",
        "/dev/null",
        "-d",
        "x86-64",
        t.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "ptbench: error: {}:2: malformed lackey line ` S 1\\u{{1b}}[2J,4`: expected `,size` or the end of the line after the address (--skip-bad-lines skips such lines)\n",
            t.display()
        )
    );
}

#[test]
fn a_directory_is_named_as_such() {
    let d = tempfile::tempdir().unwrap();
    let out = ptbench(&[
        "run",
        "-q",
        "--csv",
        "/dev/null",
        "-d",
        "x86-64",
        d.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "ptbench: error: {}: that is a directory, not a trace file (give the files inside it, e.g. {}/*)\n",
            d.path().display(),
            d.path().display()
        )
    );
}

#[cfg(unix)]
#[test]
fn process_substitution_is_read_as_a_stream() {
    if Command::new("bash").arg("-c").arg("true").status().is_err() {
        eprintln!("no bash: skipped");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let t = write(d.path(), "ls.lackey.gz", &gzip(LACKEY_VERBOSE));
    let csv = d.path().join("out.csv");
    let exe = env!("CARGO_BIN_EXE_ptbench");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{exe}' run -q -d x86-64 --csv '{}' <(cat '{}')",
            csv.display(),
            t.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(counts(&csv), (6, 6, 3));
    assert!(
        err.starts_with("ptbench: skipped 3 lines that are not trace records, first at /dev/fd/"),
        "{err}"
    );
    // A first pass over a pipe is impossible: said plainly.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{exe}' run -q --csv /dev/null -d x86-64 --huge thp <(cat '{}')",
            t.display()
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--huge thp reads the trace twice") && err.contains("pipe or FIFO"),
        "{err}"
    );
}

#[test]
fn inspect_and_convert_name_the_format_and_what_they_skipped() {
    let d = tempfile::tempdir().unwrap();
    let t = write(d.path(), "ls.lackey", LACKEY_VERBOSE);
    let out = ptbench(&["inspect", "--no-reuse", t.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), format!("{} (lackey)", t.display()));
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "skipped 3 lines that are not trace records, first at {}:8: `total 9624`",
            t.display()
        )
    );

    let o = d.path().join("ls.ptbt");
    let out = ptbench(&["convert", t.to_str().unwrap(), "-o", o.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "ptbench: skipped 3 lines that are not trace records, first at {}:8: `total 9624`\nptbench: wrote 6 records (lackey) to {}\n",
            t.display(),
            o.display()
        )
    );
}
