//! `ptbench record`: a program's memory accesses through valgrind lackey, straight into a trace.

use super::{output_format, plural};
use anyhow::Result;
use ptbench_report::thousands;
use ptbench_trace::write::{self as trace_write, looks_like_trace};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RecordArgs {
    /// The file to write (ptbt; compressed when it ends in .gz, .zst, .xz or .bz2; ptbt-text when
    /// it ends in .txt).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// The valgrind to run (default: `valgrind` on PATH).
    #[arg(long)]
    valgrind: Option<PathBuf>,
    /// Replace OUT even if it does not look like a trace.
    #[arg(long)]
    force: bool,
    /// The command to trace and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<std::ffi::OsString>,
}

/// Runs `ptbench record`.
pub fn exec(args: RecordArgs) -> Result<()> {
    let format = output_format(None, &args.output)?;
    let rules = ptbench_output::Rules {
        force: args.force,
        ..ptbench_output::Rules::new("-o", "a trace", &looks_like_trace)
    };
    let mut w = trace_write::create_with(&args.output, format, false, &rules)?;
    let mut failed: Option<trace_write::WriteError> = None;
    let mut sink = |batch: &[ptbench_core::Access]| -> std::io::Result<()> {
        w.write(batch).map_err(|e| {
            let msg = e.to_string();
            failed = Some(e);
            std::io::Error::other(msg)
        })
    };
    let opts = ptbench_trace::record::RecordOptions {
        valgrind: args.valgrind.clone(),
        ..Default::default()
    };
    let summary = ptbench_trace::record::record(&args.command, &mut sink, &opts);
    if let Some(e) = failed {
        return Err(e.into());
    }
    let summary = summary?;
    let n = w.finish()?;
    let t = &summary.trace;
    eprintln!(
        "ptbench: recorded {} ({} fetches, {} reads, {} writes) to {}; the program exited with {}",
        plural(n, "access", "accesses"),
        thousands(t.fetches),
        thousands(t.reads),
        thousands(t.writes),
        args.output.display(),
        summary.exit_status
    );
    Ok(())
}
