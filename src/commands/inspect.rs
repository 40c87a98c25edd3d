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
}

/// Runs `ptbench inspect`.
pub fn exec(args: InspectArgs) -> Result<()> {
    let opts = reader_options(args.format.as_deref(), args.skip_bad_lines)?;
    let reader = ptbench_trace::open_with(&args.trace, &opts)?;
    let format = reader.format();
    let iopts = if args.no_reuse {
        ptbench_trace::inspect::InspectOptions::without_reuse()
    } else {
        ptbench_trace::inspect::InspectOptions::default()
    };
    // Decode on another thread while this one counts.
    let mut ahead = ptbench_trace::Prefetched::new(reader, 4);
    let stats = ptbench_trace::inspect::inspect(&mut ahead, &iopts)?;
    outln!(
        "{} ({})",
        args.trace.display(),
        format.map_or("detected from the content", |f| f.name())
    );
    out!("{stats}");
    Ok(())
}
