//! One module per command, each with its flags; the helpers here are the ones several share.

pub mod catalog;
pub mod convert;
pub mod explain;
pub mod gen;
pub mod inspect;
pub mod merge;
pub mod record;
pub mod report;
pub mod run;
pub mod size;
pub mod sweep;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use ptbench_trace::compress;
use ptbench_trace::write::WriteFormat;
use ptbench_trace::ReaderOptions;
use std::path::Path;

/// Threads per core that `--jobs` may ask for at most: more only adds switching.
const JOBS_PER_CORE: usize = 4;

/// Starts the worker pool with `jobs` threads (default: one per core), capped at
/// [`JOBS_PER_CORE`] per core with a note.
pub fn start_workers(jobs: Option<usize>) -> Result<()> {
    let Some(jobs) = jobs else {
        return Ok(());
    };
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cap = cores * JOBS_PER_CORE;
    let threads = if jobs > cap {
        eprintln!(
            "ptbench: note: --jobs {jobs} capped at {cap} ({JOBS_PER_CORE} per core on this {cores}-core machine)"
        );
        cap
    } else {
        jobs
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("cannot start the worker threads")
}

/// Reader options from the common flags.
pub fn reader_options(
    format: Option<&str>,
    skip_bad_lines: bool,
    prefetches: bool,
) -> Result<ReaderOptions> {
    Ok(ReaderOptions {
        skip_bad_lines,
        prefetches,
        format: format.map(str::parse).transpose().context("--format")?,
        ..ReaderOptions::default()
    })
}

/// The format to write `output` in: `to` when given, else from the name (`.txt`: the native text
/// form; anything else: ptbt).
pub fn output_format(to: Option<&str>, output: &Path) -> Result<WriteFormat> {
    match to {
        Some(t) => t
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--to {t}: {e}")),
        None => {
            let name = output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(if compress::uncompressed_name(&name).ends_with(".txt") {
                WriteFormat::NativeText
            } else {
                WriteFormat::Native
            })
        }
    }
}

/// A count with an optional decimal suffix (`10m` = 10,000,000) or a size with a binary one
/// (`1g`, `1GiB`, `1GB` = 2^30), as `binary` says; `2^N` is accepted too (see
/// [`ptbench_core::parse_count`]).
pub fn parse_count(s: &str, binary: bool) -> Result<u64> {
    Ok(ptbench_core::parse_count(s, binary)?)
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub fn progress_bar(total: u64, prefix: &str, bytes: bool) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = if bytes {
        "{prefix:>20} [{bar:30}] {bytes}/{total_bytes} {msg} ({eta})"
    } else {
        "{prefix:>20} [{bar:30}] {human_pos}/{human_len} {per_sec} ({eta})"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

/// `1 row`, `2 rows`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        ptbench_report::thousands(n),
        if n == 1 { one } else { many }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sizes() {
        assert_eq!(parse_count("10m", false).unwrap(), 10_000_000);
        assert_eq!(parse_count("1g", true).unwrap(), 1 << 30);
        assert_eq!(parse_count("2^60", true).unwrap(), 1 << 60);
        assert_eq!(parse_count("1_000", false).unwrap(), 1000);
        assert!(parse_count("2^64", true)
            .unwrap_err()
            .to_string()
            .contains("64 bits"));
        assert!(parse_count("99999999999999999999", false)
            .unwrap_err()
            .to_string()
            .contains("64 bits"));
        assert!(parse_count("ten", false)
            .unwrap_err()
            .to_string()
            .contains("not a whole number"));
    }

    #[test]
    fn output_format_follows_the_name_through_compression() {
        assert_eq!(
            output_format(None, Path::new("a.txt.gz")).unwrap(),
            WriteFormat::NativeText
        );
        assert_eq!(
            output_format(None, Path::new("a.ptbt.zst")).unwrap(),
            WriteFormat::Native
        );
    }
}
