//! `ptbench merge`: join the results of a sharded sweep.

use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct MergeArgs {
    /// The shard directories (or their results.csv files), one per shard.
    #[arg(required = true, value_name = "SHARD")]
    shards: Vec<PathBuf>,
    /// The directory of the merged results.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace a results file in DIR even if it does not look like ptbench results.
    #[arg(long)]
    force: bool,
    /// Write results only: no charts and report page.
    #[arg(long)]
    no_report: bool,
}

/// Runs `ptbench merge`.
pub fn exec(args: MergeArgs) -> Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let _lock = ptbench_output::DirLock::acquire(&args.out, "--out")?;
    let m = ptbench_sweep::merge(&args.shards, &args.out, args.force)?;
    eprintln!(
        "ptbench: merged {} shards into {} ({} rows)",
        m.shards,
        m.results.display(),
        m.rows
    );
    if !args.no_report {
        super::report::make(&m.results, &args.out)?;
    }
    Ok(())
}
