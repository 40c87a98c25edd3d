//! `ptbench record`: a program's memory accesses through valgrind lackey, straight into a trace.

use super::{output_format, plural};
use anyhow::Result;
use ptbench_report::thousands;
use ptbench_trace::write::{self as trace_write, looks_like_trace};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RecordArgs {
    /// The file to write (ptbt; compressed when it ends in .gz, .zst, .xz, .bz2 or .lz4; ptbt-text when
    /// it ends in .txt).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// The valgrind to run (default: `valgrind` on PATH).
    #[arg(long)]
    valgrind: Option<PathBuf>,
    /// Replace OUT even if it does not look like a trace.
    #[arg(long)]
    force: bool,
    /// Trace only the program itself, not the programs it `exec`s or the processes it starts
    /// (by default they are followed, Valgrind's `--trace-children=yes`, each process image an
    /// address space of its own in the trace).
    #[arg(long)]
    no_follow: bool,
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
    // A spinner with the accesses so far, drawn only when stderr is a terminal.
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} recording: {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut so_far = 0u64;
    let mut sink = |batch: &[ptbench_core::Access]| -> std::io::Result<()> {
        so_far += batch.iter().filter(|a| !a.kind.is_event()).count() as u64;
        spinner.set_message(format!("{} accesses", thousands(so_far)));
        w.write(batch).map_err(|e| {
            let msg = e.to_string();
            failed = Some(e);
            std::io::Error::other(msg)
        })
    };
    let opts = ptbench_trace::record::RecordOptions {
        valgrind: args.valgrind.clone(),
        follow: !args.no_follow,
        ..Default::default()
    };
    let summary = ptbench_trace::record::record(&args.command, &mut sink, &opts);
    spinner.finish_and_clear();
    if let Some(e) = failed {
        return Err(e.into());
    }
    let summary = summary?;
    w.finish()?;
    let t = &summary.trace;
    eprintln!(
        "ptbench: recorded {} ({} fetches, {} reads, {} writes) from {}{} to {}; the program exited with {}",
        plural(t.accesses(), "access", "accesses"),
        thousands(t.fetches),
        thousands(t.reads),
        thousands(t.writes),
        plural(summary.processes, "process", "processes"),
        if args.no_follow { " (children not followed)" } else { "" },
        args.output.display(),
        summary.exit_status
    );
    Ok(())
}
