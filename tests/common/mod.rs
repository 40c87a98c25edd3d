//! Helpers shared by the end-to-end tests (each test file includes this module; not every file
//! uses every helper).
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Command, Output};

/// Runs the `ptbench` binary under test with `args`.
pub fn ptbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ptbench"))
        .args(args)
        .output()
        .expect("ptbench runs")
}

/// The rows of a CSV text with a header line, each as column -> value.
pub fn csv_maps(text: impl std::io::Read) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(text);
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Runs `ptbench` with `args` in `dir` (the test's own directory when `None`), killing it
/// after `secs` seconds: a hang fails the test with the command and what it printed so far,
/// instead of hanging the test run.
pub fn ptbench_within(secs: u64, dir: Option<&std::path::Path>, args: &[&str]) -> Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ptbench"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().expect("ptbench runs");
    // Drain both pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err_t.join().unwrap_or_default();
            panic!(
                "`ptbench {}` did not finish within {secs} s (killed); stderr:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// Writes a generated zipf trace of `accesses` accesses over `footprint` (`64m`) to `out`.
pub fn gen_zipf(out: &std::path::Path, accesses: u64, footprint: &str, seed: u64) {
    let o = ptbench(&[
        "gen",
        "--pattern",
        "zipf",
        "--accesses",
        &accesses.to_string(),
        "--footprint",
        footprint,
        "--seed",
        &seed.to_string(),
        "-o",
        out.to_str().expect("a UTF-8 path"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The PNG files a report's markdown links, in order.
pub fn png_links(md: &str) -> Vec<&str> {
    md.split("](")
        .skip(1)
        .filter_map(|t| t.split(')').next())
        .filter(|l| l.ends_with(".png"))
        .collect()
}
