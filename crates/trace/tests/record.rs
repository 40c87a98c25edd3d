//! `record`: real Valgrind runs (skipped, with a note, where Valgrind is not installed), and
//! `read_lackey` on streams written here.

use ptbench_core::{Access, AccessKind};
use ptbench_trace::record::{read_lackey, record, RecordError, RecordOptions, RecordSummary};
use ptbench_trace::{TraceReader, BATCH};
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::Command;

fn have_valgrind() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("valgrind").is_file()));
    if !found {
        eprintln!("valgrind is not on PATH: skipping (install it with `apt-get install valgrind`)");
    }
    found
}

fn cmd(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// A program of the base system, by its full path.
fn bin(name: &str) -> String {
    ["/bin", "/usr/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
        .unwrap_or_else(|| panic!("no {name} in /bin or /usr/bin"))
}

/// Per-kind counts of what the sink received, and its batch sizes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Received {
    reads: u64,
    writes: u64,
    fetches: u64,
    batches: u64,
    largest: usize,
    first: Option<Access>,
}

impl Received {
    fn take(&mut self, b: &[Access]) -> io::Result<()> {
        assert!(!b.is_empty() && b.len() <= BATCH, "batch of {}", b.len());
        self.batches += 1;
        self.largest = self.largest.max(b.len());
        self.first = self.first.or(b.first().copied());
        for a in b {
            match a.kind {
                AccessKind::Read => self.reads += 1,
                AccessKind::Write => self.writes += 1,
                AccessKind::Fetch => self.fetches += 1,
                k => panic!("lackey gives no {k:?}"),
            }
        }
        Ok(())
    }
}

fn record_counting(args: &[&str], opts: &RecordOptions) -> (Received, RecordSummary) {
    let mut got = Received::default();
    let s = record(&cmd(args), &mut |b| got.take(b), opts)
        .unwrap_or_else(|e| panic!("recording {args:?}: {e}"));
    (got, s)
}

/// The `guest instrs:` count from Valgrind's footer.
fn guest_instructions(s: &RecordSummary) -> u64 {
    let line = s
        .trace
        .valgrind_messages
        .iter()
        .find(|m| m.contains("guest instrs:"))
        .unwrap_or_else(|| panic!("no guest instrs line in {:#?}", s.trace.valgrind_messages));
    line.rsplit(':')
        .next()
        .unwrap()
        .trim()
        .replace(',', "")
        .parse()
        .unwrap()
}

#[test]
fn true_is_recorded_exactly_and_the_same_twice() {
    if !have_valgrind() {
        return;
    }
    let t = bin("true");
    let (got, s) = record_counting(&[&t], &RecordOptions::default());
    assert!(s.exit_status.success());
    assert!(s.trace.started);
    assert_eq!(s.trace.skipped_lines, 0, "{:?}", s.trace.first_skipped);
    // What the sink saw is what the summary says.
    assert_eq!(
        (got.reads, got.writes, got.fetches),
        (s.trace.reads, s.trace.writes, s.trace.fetches)
    );
    // Lackey traces every instruction Valgrind ran, once.
    assert_eq!(s.trace.fetches, guest_instructions(&s));
    // Plausible for a dynamically linked `true`: ld.so alone runs some 100k instructions.
    assert!(s.trace.fetches > 20_000, "{s:?}");
    assert!(s.trace.reads > 5_000 && s.trace.writes > 2_000, "{s:?}");
    // Several full batches.
    assert!(got.batches >= 2 && got.largest > BATCH - 2, "{got:?}");
    // Valgrind's header and footer, kept.
    assert!(s.trace.valgrind_lines >= 10);
    assert!(s.trace.valgrind_messages[0].contains("Lackey"));
    assert!(s.trace.log_bytes > 1_000_000);

    // Valgrind runs a program the same way each time: the same counts.
    let (again, s2) = record_counting(&[&t], &RecordOptions::default());
    assert_eq!(
        (s2.trace.reads, s2.trace.writes, s2.trace.fetches),
        (s.trace.reads, s.trace.writes, s.trace.fetches)
    );
    assert_eq!(again.first, got.first);
}

#[test]
fn record_gives_what_the_reader_gives_for_a_log_file() {
    if !have_valgrind() {
        return;
    }
    let t = bin("true");
    let log =
        std::env::temp_dir().join(format!("ptbench-record-test-{}.lackey", std::process::id()));
    let status = Command::new("valgrind")
        .arg("--tool=lackey")
        .arg("--trace-mem=yes")
        .arg(format!("--log-file={}", log.display()))
        .arg(&t)
        .status()
        .unwrap();
    assert!(status.success());
    let mut r = ptbench_trace::open(&log).unwrap();
    let mut file = Received::default();
    let mut buf = Vec::new();
    while r.read_batch(&mut buf).unwrap() > 0 {
        file.take(&buf).unwrap();
    }
    std::fs::remove_file(&log).unwrap();
    let (got, _) = record_counting(&[&t], &RecordOptions::default());
    assert_eq!(
        (got.reads, got.writes, got.fetches, got.first),
        (file.reads, file.writes, file.fetches, file.first)
    );
}

/// Run as a child of [`the_program_output_passes_through_untouched`]: records `echo`, whose
/// stdout is this process's.
#[test]
fn echo_child() {
    if std::env::var_os("PTBENCH_RECORD_ECHO_CHILD").is_none() || !have_valgrind() {
        return;
    }
    let (_, s) = record_counting(
        &[&bin("echo"), "hello from", "echo"],
        &RecordOptions::default(),
    );
    assert!(s.exit_status.success());
    assert!(s.trace.fetches > 10_000);
}

#[test]
fn the_program_output_passes_through_untouched() {
    if !have_valgrind() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "echo_child", "--test-threads=1", "--quiet"])
        .env("PTBENCH_RECORD_ECHO_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    // echo's line, whole, on stdout (between the test harness's own lines).
    assert!(stdout.contains("hello from echo\n"), "{stdout}");
    // And none of Valgrind's log on either stream.
    for text in [&stdout, &stderr] {
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("==") || l.starts_with("I  ") || l.starts_with(" L ")),
            "{text}"
        );
    }
}

#[test]
fn a_failing_program_is_reported_not_an_error() {
    if !have_valgrind() {
        return;
    }
    let (_, s) = record_counting(&[&bin("false")], &RecordOptions::default());
    assert_eq!(s.exit_status.code(), Some(1));
    assert!(s.trace.fetches > 10_000);
}

#[test]
fn a_missing_command_is_a_clear_error() {
    if !have_valgrind() {
        return;
    }
    let mut sink = |_: &[Access]| Ok(());
    let e = record(
        &cmd(&["/nonexistent/ptbench-no-such-program"]),
        &mut sink,
        &RecordOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, RecordError::Command { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "cannot record `/nonexistent/ptbench-no-such-program`: no such file"
    );
    let e = record(
        &cmd(&["ptbench-no-such-program"]),
        &mut sink,
        &RecordOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot record `ptbench-no-such-program`: command not found on PATH"
    );
    let e = record(&cmd(&["/"]), &mut sink, &RecordOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "cannot record `/`: is a directory");
    let e = record(&[], &mut sink, &RecordOptions::default()).unwrap_err();
    assert!(matches!(e, RecordError::NoCommand));
}

#[test]
fn valgrind_refusing_to_start_is_an_error() {
    if !have_valgrind() {
        return;
    }
    // Valgrind says why on its stderr, which is the test's: the message shows in the output.
    let opts = RecordOptions {
        valgrind_args: vec!["--ptbench-no-such-option".into()],
        ..RecordOptions::default()
    };
    let mut calls = 0;
    let e = record(
        &cmd(&[&bin("true")]),
        &mut |_| {
            calls += 1;
            Ok(())
        },
        &opts,
    )
    .unwrap_err();
    match &e {
        RecordError::Valgrind { status, .. } => assert_eq!(status.code(), Some(1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(calls, 0);
    assert!(e.to_string().contains("valgrind did not start"), "{e}");
}

#[test]
fn a_missing_valgrind_says_how_to_install_it() {
    // No valgrind needed.
    let opts = RecordOptions {
        valgrind: Some(PathBuf::from("/nonexistent/bin/valgrind")),
        ..RecordOptions::default()
    };
    let e = record(&cmd(&["/bin/true"]), &mut |_| Ok(()), &opts).unwrap_err();
    assert!(matches!(e, RecordError::ValgrindMissing { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("/nonexistent/bin/valgrind"), "{text}");
    assert!(text.contains("apt-get install valgrind"), "{text}");
}

/// Run as a child of [`no_valgrind_on_path_says_how_to_install_it`], with an empty `PATH`.
#[test]
fn empty_path_child() {
    if std::env::var_os("PTBENCH_RECORD_EMPTY_PATH_CHILD").is_none() {
        return;
    }
    let e = record(
        &cmd(&["/bin/true"]),
        &mut |_| Ok(()),
        &RecordOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, RecordError::ValgrindMissing { path: None }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("valgrind was not found on PATH: "),
        "{text}"
    );
    assert!(text.contains("apt-get install valgrind"), "{text}");
}

#[test]
fn no_valgrind_on_path_says_how_to_install_it() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "empty_path_child", "--test-threads=1", "--quiet"])
        .env("PTBENCH_RECORD_EMPTY_PATH_CHILD", "1")
        .env("PATH", "")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}"
    );
}

#[test]
fn a_failing_sink_stops_the_recording() {
    if !have_valgrind() {
        return;
    }
    let mut calls = 0;
    let e = record(
        &cmd(&[&bin("true")]),
        &mut |_| {
            calls += 1;
            Err(io::Error::other("disk full"))
        },
        &RecordOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, RecordError::Sink(_)), "{e:?}");
    assert_eq!(e.to_string(), "the trace sink failed: disk full");
    assert_eq!(calls, 1);
}

#[test]
fn read_lackey_skips_what_is_not_lackey() {
    let mut text = String::from(
        "==7== Lackey, an example Valgrind tool\n==7== Command: ./x\n==7== \n\
         I  0400d7d4,8\n L 7ff0005b8,8\nhello, I am the program\n S 7ff0005c8,4\r\n\
         \n# comment\n M 0421c7f0,4\n L zz,4\n--7-- note\n",
    );
    // Enough lines for several batches, the last one without its newline.
    for i in 0..(BATCH as u64 + 10) {
        text.push_str(&format!("I  {:08x},4\n", 0x1000 + 4 * i));
    }
    text.push_str(" L 10,2");
    let mut got: Vec<Access> = Vec::new();
    let mut batches = 0;
    let c = read_lackey(io::Cursor::new(text.into_bytes()), &mut |b| {
        assert!(b.len() <= BATCH);
        batches += 1;
        got.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    assert!(batches >= 2);
    assert_eq!(
        got[..5],
        [
            Access::new(AccessKind::Fetch, 0x400d7d4, 8),
            Access::new(AccessKind::Read, 0x7ff0005b8, 8),
            Access::new(AccessKind::Write, 0x7ff0005c8, 4),
            Access::new(AccessKind::Read, 0x421c7f0, 4),
            Access::new(AccessKind::Write, 0x421c7f0, 4),
        ]
    );
    assert_eq!(got[5], Access::new(AccessKind::Fetch, 0x1000, 4));
    assert_eq!(*got.last().unwrap(), Access::new(AccessKind::Read, 0x10, 2));
    assert_eq!(c.reads, 3);
    assert_eq!(c.writes, 2);
    assert_eq!(c.fetches, 1 + BATCH as u64 + 10);
    assert_eq!(c.accesses(), got.len() as u64);
    assert_eq!(c.skipped_lines, 2);
    assert_eq!(c.first_skipped, ["hello, I am the program", " L zz,4"]);
    assert_eq!(c.valgrind_lines, 4);
    assert_eq!(c.valgrind_messages[1], "==7== Command: ./x");
    assert!(c.started);
    assert_eq!(c.lines, 12 + BATCH as u64 + 10 + 1);
}

#[test]
fn read_lackey_keeps_the_first_and_last_valgrind_lines() {
    let text: String = (0..500).map(|i| format!("==1== line {i}\n")).collect();
    let c = read_lackey(io::Cursor::new(text.into_bytes()), &mut |_| Ok(())).unwrap();
    assert!(!c.started);
    assert_eq!(c.valgrind_lines, 500);
    assert_eq!(c.valgrind_messages.len(), 64 + 1 + 64);
    assert_eq!(c.valgrind_messages[63], "==1== line 63");
    assert_eq!(c.valgrind_messages[64], "... (372 lines left out)");
    assert_eq!(c.valgrind_messages[128], "==1== line 499");
}

/// Records the command in `PTBENCH_RECORD_CMD` (split at spaces) and prints what it got: a
/// driver for timing, `PTBENCH_RECORD_CMD='/bin/ls /usr' cargo test --release -p
/// ptbench-trace --test record -- --ignored --exact record_the_command_in_the_environment`.
#[test]
#[ignore]
fn record_the_command_in_the_environment() {
    let Some(c) = std::env::var_os("PTBENCH_RECORD_CMD") else {
        eprintln!("set PTBENCH_RECORD_CMD");
        return;
    };
    let c = c.to_string_lossy().into_owned();
    let args: Vec<&str> = c.split(' ').collect();
    let t = std::time::Instant::now();
    let (got, s) = record_counting(&args, &RecordOptions::default());
    eprintln!(
        "{c}: {} accesses (reads {}, writes {}, fetches {}) in {:.3} s, {} batches, {} log bytes, {}",
        s.accesses(),
        got.reads,
        got.writes,
        got.fetches,
        t.elapsed().as_secs_f64(),
        got.batches,
        s.trace.log_bytes,
        s.exit_status
    );
}

#[test]
fn read_lackey_takes_lines_off_the_fast_path_and_over_long_lines() {
    // Lines the fast path does not take (a three-digit size, more padding) parse the general
    // way; an over-long line is skipped without being buffered.
    let mut text = b" M 0421c7f0,128\n  L 10,4\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', 3 * ptbench_trace::MAX_LINE_BYTES));
    text.extend_from_slice(b"\n S 20,8\n");
    let mut got: Vec<Access> = Vec::new();
    let c = read_lackey(io::Cursor::new(text), &mut |b| {
        got.extend_from_slice(b);
        Ok(())
    })
    .unwrap();
    assert_eq!(
        got,
        [
            Access::new(AccessKind::Read, 0x421c7f0, 128),
            Access::new(AccessKind::Write, 0x421c7f0, 128),
            Access::new(AccessKind::Read, 0x10, 4),
            Access::new(AccessKind::Write, 0x20, 8),
        ]
    );
    assert_eq!(c.lines, 4);
    assert_eq!(c.skipped_lines, 1);
    assert_eq!(c.first_skipped[0].len(), 123);
}

/// Everything a followed recording hands its sink, in order.
fn record_all(args: &[&str], opts: &RecordOptions) -> (Vec<Access>, RecordSummary) {
    let mut all = Vec::new();
    let s = record(
        &cmd(args),
        &mut |b| {
            all.extend_from_slice(b);
            Ok(())
        },
        opts,
    )
    .unwrap_or_else(|e| panic!("recording {args:?}: {e}"));
    (all, s)
}

fn following() -> RecordOptions {
    RecordOptions {
        follow: true,
        ..RecordOptions::default()
    }
}

#[test]
fn a_program_that_is_one_process_is_recorded_the_same_followed_or_not() {
    if !have_valgrind() {
        return;
    }
    let t = bin("true");
    let (followed, s) = record_all(&[&t], &following());
    let (alone, s1) = record_all(&[&t], &RecordOptions::default());
    assert_eq!((s.processes, s1.processes), (1, 1));
    // One address space and no event either way. The streams themselves need not be equal:
    // valgrind's own command line differs (a log socket or a pipe), which moves the client's
    // initial stack and can change what the loader reads (seen on a CI clone), so the counts
    // are compared within 1%.
    for t in [&followed, &alone] {
        assert!(t.iter().all(|a| a.asid == 0 && !a.kind.is_event()));
    }
    let (a, b) = (followed.len() as f64, alone.len() as f64);
    assert!(
        a > 1000.0 && (a - b).abs() <= 0.01 * b,
        "{a} against {b} accesses"
    );
    assert_eq!(s.trace.accesses(), followed.len() as u64);
    assert_eq!(s1.trace.accesses(), alone.len() as u64);
}

#[test]
fn a_shell_and_the_program_it_runs_are_two_address_spaces() {
    if !have_valgrind() {
        return;
    }
    let t = bin("true");
    let script = format!("{t}; exit 0");
    let (all, s) = record_all(&[&bin("sh"), "-c", &script], &following());
    assert!(s.exit_status.success());
    assert_eq!(s.processes, 2, "{:?}", s.trace.valgrind_messages);
    let accesses: Vec<&Access> = all.iter().filter(|a| !a.kind.is_event()).collect();
    assert_eq!(accesses.len() as u64, s.trace.accesses());
    let in_asid = |n: u16| accesses.iter().filter(|a| a.asid == n).count() as u64;
    // `true` alone, recorded without the shell: about the same count (its environment and
    // stack differ a little) in its own address space.
    let (_, alone) = record_all(&[&t], &RecordOptions::default());
    let ratio = in_asid(1) as f64 / alone.trace.accesses() as f64;
    assert!(
        (0.98..1.02).contains(&ratio),
        "{} vs {}",
        in_asid(1),
        alone.trace.accesses()
    );
    assert_eq!(in_asid(0) + in_asid(1), s.trace.accesses());
    assert!(in_asid(0) > 20_000, "the shell's own work: {}", in_asid(0));
    // Every change of address space is announced by a context switch to it; the first
    // process's accesses come first, without one; an ended process exits before the next runs.
    assert!(all[0].asid == 0 && !all[0].kind.is_event());
    let mut current = 0;
    let mut exited = Vec::new();
    for a in &all {
        match a.kind {
            AccessKind::ContextSwitch => current = a.asid,
            AccessKind::Exit => exited.push(a.asid),
            k => {
                assert!(!k.is_event(), "{a:?}");
                assert_eq!(a.asid, current, "an access outside the current process");
                assert!(
                    !exited.contains(&a.asid),
                    "an access after its process exited"
                );
            }
        }
    }
    // Without following, only the shell.
    let (only, s0) = record_all(&[&bin("sh"), "-c", &script], &RecordOptions::default());
    assert_eq!(s0.processes, 1);
    assert!(only.iter().all(|a| a.asid == 0 && !a.kind.is_event()));
    assert!(s0.trace.accesses() < s.trace.accesses());
}

#[test]
fn a_failing_sink_stops_a_followed_recording() {
    if !have_valgrind() {
        return;
    }
    let mut calls = 0;
    let e = record(
        &cmd(&[&bin("sh"), "-c", &format!("{}; exit 0", bin("true"))]),
        &mut |_| {
            calls += 1;
            Err(io::Error::other("disk full"))
        },
        &following(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "the trace sink failed: disk full");
    assert_eq!(calls, 1);
}

#[test]
fn valgrind_refusing_to_start_a_followed_program_is_an_error() {
    if !have_valgrind() {
        return;
    }
    let opts = RecordOptions {
        valgrind_args: vec!["--ptbench-no-such-option".into()],
        ..following()
    };
    let e = record(&cmd(&[&bin("true")]), &mut |_| Ok(()), &opts).unwrap_err();
    match &e {
        RecordError::Valgrind { status, .. } => assert_eq!(status.code(), Some(1)),
        other => panic!("{other:?}"),
    }
}
