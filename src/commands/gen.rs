//! `ptbench gen`: synthetic traces, reproducible from a seed.

use super::{output_format, parse_count, plural, progress_bar};
use anyhow::Result;
use ptbench_trace::gen::{GenSpec, Generator, Pattern, Processes};
use ptbench_trace::write::{self as trace_write, looks_like_trace, WriteFormat};
use ptbench_trace::TraceReader;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct GenArgs {
    /// sequential, stride, uniform, zipf, pointer-chase or matrix.
    #[arg(long)]
    pattern: String,
    /// Accesses to generate (k, m and g suffixes are powers of 1000 here: 10m = 10,000,000).
    #[arg(long)]
    accesses: String,
    /// Bytes the accesses spread over (k, m, g, t: KiB, MiB, GiB, TiB; or a power like 2^40).
    #[arg(long)]
    footprint: String,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// stride: bytes between accesses.
    #[arg(long, default_value_t = 4096)]
    stride: u64,
    /// zipf: the exponent.
    #[arg(long, default_value_t = 0.99)]
    theta: f64,
    /// uniform and zipf: the fraction of stores.
    #[arg(long, default_value_t = 0.3)]
    write_ratio: f64,
    /// Interleave N processes (address spaces 0..N, seeds SEED..SEED+N) with `switch` events;
    /// --accesses counts all of them.
    #[arg(long, value_name = "N", default_value_t = 1)]
    processes: u16,
    /// N threads in each process (sharing its address space, seeds continuing SEED+1, ...),
    /// interleaved with `thread` events; --accesses counts all of them.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: u16,
    /// With --processes or --threads: accesses between switches.
    #[arg(long, value_name = "Q", default_value_t = 10_000)]
    quantum: u64,
    /// The file to write (ptbt; compressed when it ends in .gz, .zst, .xz, .bz2 or .lz4; ptbt-text when
    /// it ends in .txt; `-`: standard output).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Replace OUT even if it does not look like a trace.
    #[arg(long)]
    force: bool,
}

/// Runs `ptbench gen`.
pub fn exec(args: GenArgs) -> Result<()> {
    let pattern: Pattern = args.pattern.parse().map_err(anyhow::Error::msg)?;
    let accesses = parse_count(&args.accesses, false)?;
    let spec = GenSpec {
        seed: args.seed,
        stride: args.stride,
        theta: args.theta,
        write_ratio: args.write_ratio,
        ..GenSpec::new(pattern, accesses, parse_count(&args.footprint, true)?)
    };
    let mut g: Box<dyn TraceReader> = if args.processes > 1 || args.threads > 1 {
        Box::new(
            Processes::with_threads(spec, args.processes, args.threads, args.quantum)
                .map_err(anyhow::Error::msg)?,
        )
    } else {
        Box::new(Generator::new(spec).map_err(anyhow::Error::msg)?)
    };
    let format = output_format(None, &args.output)?;
    let compressed = ptbench_trace::compress::is_compressed_name(&args.output.to_string_lossy());
    let rules = ptbench_output::Rules {
        force: args.force,
        // A plain binary trace is 16 bytes a record after a 32-byte header.
        expected_bytes: (format == WriteFormat::Native
            && !compressed
            && args.processes <= 1
            && args.threads <= 1)
            .then(|| accesses.saturating_mul(16).saturating_add(32)),
        ..ptbench_output::Rules::new("-o", "a trace", &looks_like_trace)
    };
    let mut w = trace_write::create_with(&args.output, format, false, &rules)?;
    let bar = progress_bar(accesses, pattern.name(), false);
    let mut buf = Vec::with_capacity(ptbench_trace::BATCH);
    while g.read_batch(&mut buf)? > 0 {
        w.write(&buf)?;
        bar.inc(buf.len() as u64);
    }
    bar.finish_and_clear();
    let n = w.finish()?;
    eprintln!(
        "ptbench: wrote {} to {}",
        plural(n, "access", "accesses"),
        args.output.display()
    );
    Ok(())
}
