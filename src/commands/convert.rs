//! `ptbench convert`: rewrite a trace in ptbench's binary format or another format ptbench writes.

use super::{output_format, plural, progress_bar, reader_options};
use anyhow::Result;
use ptbench_trace::write::{self as trace_write, looks_like_trace, WriteFormat};
use ptbench_trace::{TraceFile, TraceReader};
use std::path::PathBuf;

/// The end of `ptbench convert --help`.
pub const AFTER_HELP: &str = "Examples:\n  \
    ptbench convert trace.lackey.gz -o trace.ptbt\n  \
    ptbench convert trace.ptbt -o trace.lackey.gz --to lackey\n  \
    ptbench convert big.champsimtrace.xz -o big.ptbt.zst\n\n\
    Output formats: ptbt (binary), ptbt-text, lackey, hexrw, din, xdin, pinatrace; every one is\n\
    compressed when OUT ends in .gz, .zst, .xz, .bz2 or .lz4. A format that cannot hold a record (a\n\
    fetch in hexrw, an event in lackey) is an error unless --drop-unrepresentable.\n\
    OUT is never the input, and an existing OUT that is not a trace is kept unless --force;\n\
    `-` is standard output. An interrupted convert leaves no temporary file behind.";

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// The trace to read (any format ptbench reads).
    input: PathBuf,
    /// The file to write (`-`: standard output).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Output format (default: ptbt, or ptbt-text when OUT ends in .txt).
    #[arg(long = "to", value_name = "FORMAT")]
    to: Option<String>,
    /// Read the input as this format (lackey, hexrw, pinatrace, pinatrace-simple, din, xdin,
    /// champsim, cloudsuite, ptbt, ptbt-text) instead of detecting it.
    #[arg(long)]
    format: Option<String>,
    /// Skip records the output format cannot hold instead of failing.
    #[arg(long)]
    drop_unrepresentable: bool,
    /// Count and skip malformed input lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// drmemtrace traces: replay software prefetches as one-byte reads at their addresses
    /// (they are counted either way; skipped by default).
    #[arg(long)]
    prefetches: bool,
    /// Replace OUT even if it does not look like a trace.
    #[arg(long)]
    force: bool,
}

/// Runs `ptbench convert`.
pub fn exec(args: ConvertArgs) -> Result<()> {
    let format = output_format(args.to.as_deref(), &args.output)?;
    let opts = reader_options(args.format.as_deref(), args.skip_bad_lines, args.prefetches)?;
    let inputs = [args.input.clone()];
    let mut reader = ptbench_trace::open_with(&args.input, &opts)?;
    let compressed = ptbench_trace::compress::is_compressed_name(&args.output.to_string_lossy());
    // A plain binary copy of a binary trace has a size known up front.
    let expected_bytes = match (&reader, format, compressed) {
        (TraceFile::Native(t), WriteFormat::Native, false) => t
            .declared_records()
            .map(|n| n.saturating_mul(16).saturating_add(32)),
        _ => None,
    };
    let rules = ptbench_output::Rules {
        inputs: &inputs,
        force: args.force,
        expected_bytes,
        ..ptbench_output::Rules::new("-o", "a trace", &looks_like_trace)
    };
    let mut w = trace_write::create_with(&args.output, format, args.drop_unrepresentable, &rules)?;
    let len = ptbench_trace::trace_bytes(&args.input);
    let name = args
        .input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bar = progress_bar(len, &name, true);
    let mut buf = Vec::with_capacity(ptbench_trace::BATCH);
    while reader.read_batch(&mut buf)? > 0 {
        w.write(&buf)?;
        bar.set_position(reader.bytes_read());
    }
    bar.finish_and_clear();
    let n = w.finish()?;
    if let Some(skipped) = reader.skip_summary() {
        eprintln!("ptbench: {skipped}");
    }
    eprintln!(
        "ptbench: wrote {} ({}) to {}",
        plural(n, "record", "records"),
        reader.format().map_or("empty", |f| f.name()),
        args.output.display()
    );
    Ok(())
}
