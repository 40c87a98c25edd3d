//! `ptbench inspect`: what a trace holds, before replaying it.

use super::reader_options;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The trace (any format ptbench reads).
    trace: PathBuf,
    /// Read the trace as this format instead of detecting it.
    #[arg(long)]
    format: Option<String>,
    /// Skip the reuse-distance histogram (faster on huge traces).
    #[arg(long)]
    no_reuse: bool,
    /// Count and skip malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// drmemtrace traces: replay software prefetches as one-byte reads at their addresses
    /// (they are counted either way; skipped by default).
    #[arg(long)]
    prefetches: bool,
}

/// Runs `ptbench inspect`.
pub fn exec(args: InspectArgs) -> Result<()> {
    let opts = reader_options(args.format.as_deref(), args.skip_bad_lines, args.prefetches)?;
    let reader = ptbench_trace::open_with(&args.trace, &opts)?;
    let iopts = if args.no_reuse {
        ptbench_trace::inspect::InspectOptions::without_reuse()
    } else {
        ptbench_trace::inspect::InspectOptions::default()
    };
    let (stats, reader) = match reader {
        // Without the histogram, a plain file is counted on every core, where it is parsed.
        ptbench_trace::TraceFile::Parsed(mut t) if !iopts.reuse && t.parses_in_parallel() => {
            let stats = ptbench_trace::inspect::inspect_trace(&mut t, &iopts)?;
            (stats, Some(ptbench_trace::TraceFile::Parsed(t)))
        }
        reader => {
            // Decode on another thread while this one counts.
            let mut ahead = ptbench_trace::Prefetched::new(reader, 16);
            let stats = ptbench_trace::inspect::inspect(&mut ahead, &iopts)?;
            (stats, ahead.into_inner())
        }
    };
    let format = reader.as_ref().and_then(|r| r.format());
    outln!(
        "{} ({})",
        args.trace.display(),
        format.map_or("no records", |f| f.name())
    );
    if let Some(skipped) = reader.as_ref().and_then(|r| r.skip_summary()) {
        outln!("{skipped}");
    }
    out!("{stats}");
    if let Some(c) = reader.as_ref().and_then(|r| r.drmemtrace_counts()) {
        out!("{c}");
    }
    Ok(())
}
