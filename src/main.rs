//! `ptbench`: replay memory-address traces through page-table designs and compare what each costs.
//!
//! This file holds the command list and the exit-status rules; each command lives in its own
//! module under `commands/`, with its flags beside it.

/// `println!` that returns an error (a closed pipe) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `print!` that returns an error (a closed pipe) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ptbench",
    version,
    about = "Replay memory-address traces through page-table designs and compare what each costs",
    after_help = "Examples:\n  \
        ptbench run traces/*.lackey.gz\n  \
        ptbench run --design x86-64 --design radix:levels=3,pobits=14 --csv out.csv trace.lackey.gz\n  \
        ptbench designs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay traces through designs and report what each costs.
    #[command(after_help = commands::run::AFTER_HELP)]
    Run(Box<commands::run::RunArgs>),
    /// List every design with its parameters and defaults.
    Designs,
    /// List the TLB presets and the keys of a TLB SPEC.
    Tlbs,
    /// List the cache presets and the keys of a cache SPEC.
    Caches,
    /// Convert a trace to ptbench's binary format (or another format).
    #[command(after_help = commands::convert::AFTER_HELP)]
    Convert(commands::convert::ConvertArgs),
    /// Summarise a trace: accesses by kind, distinct pages at 4 KiB, 2 MiB and 1 GiB, footprint,
    /// address range, reuse distances in pages, counts per address space.
    #[command(after_help = "Examples:\n  \
        ptbench inspect traces/sort.lackey.gz\n  \
        ptbench inspect --no-reuse big.ptbt.zst")]
    Inspect(commands::inspect::InspectArgs),
    /// Record a program's memory accesses with valgrind lackey, straight into ptbench's format.
    #[command(after_help = "Examples:\n  \
        ptbench record -o ls.ptbt -- ls /usr\n  \
        ptbench record -o sort.ptbt.zst -- sort -n numbers.txt\n  \
        ptbench record -o job.ptbt -- sh -c 'python3 prepare.py | gzip > out.gz'\n\n\
        valgrind's lackey output is parsed as the program runs: no temporary text file. Programs it\n\
        execs and processes it starts are traced too, each an address space of its own (one log\n\
        connection per process image); --no-follow traces the first program only, through a pipe.\n\
        The program's own stdin, stdout and stderr pass through untouched.")]
    Record(commands::record::RecordArgs),
    /// Run an experiment: the cross product of its traces and configurations, with charts and a
    /// report page.
    #[command(after_help = commands::sweep::AFTER_HELP)]
    Sweep(commands::sweep::SweepArgs),
    /// Join the results of a sharded sweep (every shard, once) into one results file and report.
    #[command(after_help = "Examples:\n  \
        ptbench merge results/part0 results/part1 results/part2 results/part3 --out results/all")]
    Merge(commands::merge::MergeArgs),
    /// Charts and a report page (Markdown and self-contained HTML) from a results file.
    #[command(after_help = "Examples:\n  \
        ptbench report reports/default/results.csv\n  \
        ptbench run --csv out.csv traces/*.lackey.gz && ptbench report out.csv --out out-report")]
    Report(commands::report::ReportArgs),
    /// Generate a synthetic trace, reproducible from its seed.
    #[command(after_help = "Examples:\n  \
        ptbench gen --pattern zipf --accesses 10000000 --footprint 1g --seed 7 -o zipf.ptbt\n  \
        ptbench gen --pattern pointer-chase --accesses 1m --footprint 64m -o chase.ptbt.zst")]
    Gen(commands::gen::GenArgs),
    /// Explain a walk step by step: the address split into fields, every entry read (address,
    /// value, meaning) and the physical address, for any design.
    #[command(after_help = commands::explain::AFTER_HELP)]
    Explain(commands::explain::ExplainArgs),
    /// The page-table size exercise: flat table size, entries per table, bits per level, levels
    /// needed, and radix table size for N touched pages (best and worst case), with formulas.
    #[command(after_help = commands::size::AFTER_HELP)]
    Size(commands::size::SizeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // An interrupted command leaves no temporary output behind.
    let _ = ptbench_output::clean_up_on_signals();
    let result = match cli.command {
        Command::Run(args) => commands::run::exec(*args),
        Command::Designs => commands::catalog::designs(),
        Command::Tlbs => commands::catalog::tlbs(),
        Command::Caches => commands::catalog::caches(),
        Command::Convert(args) => commands::convert::exec(args),
        Command::Gen(args) => commands::gen::exec(args),
        Command::Inspect(args) => commands::inspect::exec(args),
        Command::Record(args) => commands::record::exec(args),
        Command::Sweep(args) => commands::sweep::exec(args),
        Command::Merge(args) => commands::merge::exec(args),
        Command::Report(args) => commands::report::exec(args),
        Command::Explain(args) => commands::explain::exec(args),
        Command::Size(args) => commands::size::exec(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`ptbench run ... | head -1`): end quietly, as Unix tools do.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ptbench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
