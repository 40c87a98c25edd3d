//! Helpers shared by the trace crate's integration tests.
#![allow(dead_code)]

use ptbench_core::Access;
use ptbench_trace::{ReaderOptions, TraceError, TraceFile, TraceReader};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `content` to `name` in a fresh temporary directory.
pub fn write(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

/// Everything a reader produced: its accesses, then how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub accesses: Vec<Access>,
    pub error: Option<String>,
    pub lines: u64,
    pub skipped: u64,
    pub first_skipped: Vec<String>,
    pub ignored: u64,
    pub noise: u64,
    pub first_noise: Option<(u64, String)>,
}

/// Reads a whole trace, checking every batch's bound.
pub fn drain(mut r: TraceFile) -> Outcome {
    let mut accesses = Vec::new();
    let mut buf = Vec::new();
    let error = loop {
        match r.read_batch(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                assert_eq!(n, buf.len());
                assert!(n <= ptbench_trace::BATCH);
                accesses.extend_from_slice(&buf);
            }
            Err(e) => break Some(e.to_string()),
        }
    };
    // After the end (or an error) the reader stays at its end.
    assert_eq!(r.read_batch(&mut buf).unwrap(), 0);
    Outcome {
        accesses,
        error,
        lines: r.lines(),
        skipped: r.skipped_lines(),
        first_skipped: r.first_skipped().iter().map(|e| e.to_string()).collect(),
        ignored: r.ignored_records(),
        noise: r.noise_lines(),
        first_noise: r.first_noise().map(|(n, t)| (n, t.to_string())),
    }
}

/// Reads `path` whole with the default options.
pub fn read_all(path: &Path) -> Result<Vec<Access>, TraceError> {
    read_all_with(path, &ReaderOptions::default())
}

/// Reads `path` whole with `opts`, stopping at the first error.
pub fn read_all_with(path: &Path, opts: &ReaderOptions) -> Result<Vec<Access>, TraceError> {
    let mut r = ptbench_trace::open_with(path, opts)?;
    let mut all = Vec::new();
    let mut buf = Vec::new();
    while r.read_batch(&mut buf)? > 0 {
        all.extend_from_slice(&buf);
    }
    Ok(all)
}

/// The codecs, with the extension each is usually given.
pub const CODECS: [&str; 4] = ["gz", "xz", "bz2", "zst"];

/// `data` compressed with the codec of extension `ext`.
pub fn compress(ext: &str, data: &[u8]) -> Vec<u8> {
    match ext {
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zst" => {
            // With a checksum, as the zstd command line writes by default.
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
            e.include_checksum(true).unwrap();
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        _ => panic!("no codec {ext}"),
    }
}
