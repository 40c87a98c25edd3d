//! `ptbench`: replay memory-address traces through page-table designs and compare what each costs.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ptbench_core::PageSize;
use ptbench_pagetable::{DesignSpec, CATALOG};
use ptbench_replay::{replay_trace, HugePolicy, PageCrossing, Sim, SimOptions, TraceRun};
use ptbench_report::{render_table, thousands, write_csv, RunRow};
use ptbench_tlb::{presets, TlbSpec};
use ptbench_trace::gen::{GenSpec, Generator, Pattern};
use ptbench_trace::write::{self as trace_write, WriteFormat};
use ptbench_trace::{ReaderOptions, TraceReader};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Designs `ptbench run` replays when no `--design` is given.
const DEFAULT_DESIGNS: &[&str] = &[
    "x86-64",
    "x86-64-5l",
    "radix:levels=3,pobits=14",
    "flat:va_bits=40",
    "hashed",
    "hashed:collision=chain",
    "inverted",
    "ecpt",
];

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
    #[command(after_help = "Examples:\n  \
        ptbench run traces/sort.lackey.gz\n  \
        ptbench run --page-crossing first --design x86-64 --design radix:levels=3,pobits=14 --csv out.csv trace.lackey.gz\n  \
        ptbench run --design two-level course.trace.gz\n\n\
        Traces: Valgrind lackey (`valgrind --tool=lackey --trace-mem=yes`) or `hexaddr R|W` lines,\n\
        detected from the content; gzip-compressed files are read transparently.\n\
        Every design replays the same decoded batches; traces run side by side.")]
    Run(RunArgs),
    /// List every design with its parameters and defaults.
    Designs,
    /// List the TLB presets and the keys of a TLB SPEC.
    Tlbs,
    /// Convert a trace to ptbench's binary format (or another format).
    #[command(after_help = "Examples:\n  \
        ptbench convert trace.lackey.gz -o trace.ptbt\n  \
        ptbench convert trace.ptbt -o trace.lackey --to lackey\n  \
        ptbench convert big.champsimtrace.xz -o big.ptbt.zst\n\n\
        Output formats: ptbt (binary; compressed when OUT ends in .gz, .zst, .xz or .bz2), ptbt-text,\n\
        lackey, hexrw, din, xdin, pinatrace. A format that cannot hold a record (a fetch in hexrw,\n\
        an event in lackey) is an error unless --drop-unrepresentable.")]
    Convert(ConvertArgs),
    /// Summarise a trace: accesses by kind, distinct pages at 4 KiB, 2 MiB and 1 GiB, footprint,
    /// address range, reuse distances in pages, counts per address space.
    #[command(after_help = "Examples:\n  \
        ptbench inspect traces/sort.lackey.gz\n  \
        ptbench inspect --no-reuse big.ptbt.zst")]
    Inspect(InspectArgs),
    /// Record a program's memory accesses with valgrind lackey, straight into ptbench's format.
    #[command(after_help = "Examples:\n  \
        ptbench record -o ls.ptbt -- ls /usr\n  \
        ptbench record -o sort.ptbt.zst -- sort -n numbers.txt\n\n\
        valgrind's lackey output is parsed from a pipe as the program runs: no temporary text file.\n\
        The program's own stdin, stdout and stderr pass through untouched.")]
    Record(RecordArgs),
    /// Generate a synthetic trace, reproducible from its seed.
    #[command(after_help = "Examples:\n  \
        ptbench gen --pattern zipf --accesses 10000000 --footprint 1g --seed 7 -o zipf.ptbt\n  \
        ptbench gen --pattern pointer-chase --accesses 1m --footprint 64m -o chase.ptbt.zst")]
    Gen(GenArgs),
}

#[derive(clap::Args)]
struct ConvertArgs {
    /// The trace to read (any format ptbench reads).
    input: PathBuf,
    /// The file to write.
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
    /// Count and skip malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
}

#[derive(clap::Args)]
struct InspectArgs {
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

#[derive(clap::Args)]
struct RecordArgs {
    /// The file to write (ptbt; compressed when it ends in .gz, .zst, .xz or .bz2; ptbt-text when
    /// it ends in .txt).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// The valgrind to run (default: `valgrind` on PATH).
    #[arg(long)]
    valgrind: Option<PathBuf>,
    /// The command to trace and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<std::ffi::OsString>,
}

#[derive(clap::Args)]
struct GenArgs {
    /// sequential, stride, uniform, zipf, pointer-chase or matrix.
    #[arg(long)]
    pattern: String,
    /// Accesses to generate (k, m and g suffixes are powers of 1000 here: 10m = 10,000,000).
    #[arg(long)]
    accesses: String,
    /// Bytes the accesses spread over (k, m, g: KiB, MiB, GiB).
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
    /// The file to write (ptbt; compressed when it ends in .gz, .zst, .xz or .bz2; ptbt-text when
    /// it ends in .txt).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
}

#[derive(clap::Args)]
struct RunArgs {
    /// A design SPEC, `NAME[:key=value,...]` (e.g. `x86-64`, `radix:levels=3,pobits=14`); repeat for
    /// more. Default: x86-64, x86-64-5l, radix:levels=3,pobits=14, flat:va_bits=40, hashed,
    /// hashed:collision=chain, inverted, ecpt (`ptbench designs` lists them all).
    #[arg(long = "design", short = 'd', value_name = "SPEC")]
    designs: Vec<String>,
    /// How an access that crosses a page boundary is translated: every page it touches, or only
    /// its first byte's page (as course simulators do).
    #[arg(long, value_enum, default_value_t = Crossing::Split)]
    page_crossing: Crossing,
    /// A TLB SPEC: `none` (default), a preset (`skylake`, `champsim`, `tiny`; see `ptbench tlbs`)
    /// or keys such as `l1i=128x8,l1d=64x4,l2=1536x12,pwc=32x4,repl=lru,l2incl=non`. Repeat to
    /// replay every design under each.
    #[arg(long = "tlb", value_name = "SPEC")]
    tlbs: Vec<String>,
    /// Page size of faults: `off` (base pages), `2m` or `1g` (every fault maps the aligned region
    /// with one huge page), `thp` (2 MiB where the aligned region lies inside the trace's address
    /// range, from its lowest to its highest byte; base pages elsewhere).
    #[arg(long, value_enum, default_value_t = Huge::Off)]
    huge: Huge,
    /// Also write one CSV row per (trace, design) to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Read every trace as this format instead of detecting it (lackey, hexrw, pinatrace,
    /// pinatrace-simple, din, xdin, champsim, cloudsuite, ptbt, ptbt-text).
    #[arg(long)]
    format: Option<String>,
    /// Count and skip malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Print no table (errors only).
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Trace files.
    #[arg(required = true, value_name = "TRACE")]
    traces: Vec<PathBuf>,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Huge {
    /// Base pages only.
    Off,
    /// 2 MiB pages everywhere.
    #[value(name = "2m")]
    M2,
    /// 1 GiB pages everywhere.
    #[value(name = "1g")]
    G1,
    /// Transparent huge pages: 2 MiB inside the trace's address range.
    Thp,
}

impl Huge {
    fn name(self) -> &'static str {
        match self {
            Huge::Off => "off",
            Huge::M2 => "2m",
            Huge::G1 => "1g",
            Huge::Thp => "thp",
        }
    }
}

#[derive(Copy, Clone, ValueEnum)]
enum Crossing {
    /// Translate every page the access touches.
    Split,
    /// Translate only the page of the access's first byte.
    First,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Designs => {
            designs();
            Ok(())
        }
        Command::Tlbs => {
            tlbs();
            Ok(())
        }
        Command::Convert(args) => convert(args),
        Command::Gen(args) => gen(args),
        Command::Inspect(args) => inspect(args),
        Command::Record(args) => record(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ptbench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn designs() {
    for d in CATALOG {
        println!("{}\n    {}", d.name, d.summary);
        if let Ok(spec) = DesignSpec::parse(d.name) {
            println!(
                "    base page {} B, {}-bit virtual addresses",
                1u64 << spec.page_shift(),
                spec.va_bits()
            );
        }
        for p in d.params {
            println!("    {:<10} default {:<8} {}", p.key, p.default, p.help);
        }
    }
    println!("\nA SPEC is NAME[:key=value,...], e.g. radix:levels=3,pobits=14");
}

fn tlbs() {
    for p in presets() {
        println!("{}\n    {}\n    = {}", p.name, p.description, p.canonical());
    }
    println!(
        "\nA TLB SPEC is a preset, optionally followed by overrides (skylake,repl=fifo), or keys:\n  \
         l1=ExW | l1i=ExW,l1d=ExW   L1 TLB(s): E entries, W ways (sets = E/W, a power of two)\n  \
         l2=ExW                     unified second-level TLB (STLB)\n  \
         pwc=ExW | psclN=ExW        page-walk caches (every upper level | level N counted from the leaf)\n  \
         upwc=ExW                   one unified page-walk cache tagged by level\n  \
         repl=lru|fifo|random|plru|bitplru  replacement (seed=N for random)\n  \
         l2incl=incl|excl|non       L1/L2 inclusion\n  \
         huge=separate|shared       arrays per page size, or one array for all sizes\n  \
         asid=on|off                ASID-tagged entries, or flush on every context switch"
    );
}

fn run(args: RunArgs) -> Result<()> {
    let specs: Vec<DesignSpec> = if args.designs.is_empty() {
        DEFAULT_DESIGNS
            .iter()
            .map(|s| DesignSpec::parse(s))
            .collect::<Result<_, _>>()?
    } else {
        args.designs
            .iter()
            .map(|s| DesignSpec::parse(s))
            .collect::<Result<_, _>>()?
    };
    let tlbs: Vec<TlbSpec> = if args.tlbs.is_empty() {
        vec![TlbSpec::NONE]
    } else {
        args.tlbs
            .iter()
            .map(|s| TlbSpec::parse(s).with_context(|| format!("--tlb {s}")))
            .collect::<Result<_>>()?
    };
    let opts = SimOptions {
        page_crossing: match args.page_crossing {
            Crossing::Split => PageCrossing::Split,
            Crossing::First => PageCrossing::First,
        },
        huge: match args.huge {
            Huge::Off => HugePolicy::Off,
            Huge::M2 => HugePolicy::Fixed(PageSize::M2),
            Huge::G1 => HugePolicy::Fixed(PageSize::G1),
            Huge::Thp => HugePolicy::Thp,
        },
    };
    if let Some(jobs) = args.jobs {
        if jobs == 0 {
            bail!("--jobs must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build_global()
            .context("cannot start the worker threads")?;
    }
    if let Some(csv) = &args.csv {
        let dir = csv.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_some_and(|d| !d.is_dir()) {
            bail!(
                "--csv {}: the directory {} does not exist",
                csv.display(),
                dir.map(|d| d.display().to_string()).unwrap_or_default()
            );
        }
    }
    for t in &args.traces {
        if !t.exists() {
            bail!("{}: no such trace file", t.display());
        }
        // A FIFO or a pipe (`<(...)`) is read as a stream; a directory is an error.
        if !ptbench_trace::is_seekable(t)? && args.huge == Huge::Thp {
            bail!(
                "{}: --huge thp reads the trace twice (a first pass finds its address range), which needs a seekable file; this is a pipe or FIFO: save it to a file first",
                t.display()
            );
        }
    }
    let reader = ReaderOptions {
        skip_bad_lines: args.skip_bad_lines,
        format: args.format.as_deref().map(str::parse).transpose()?,
        ..ReaderOptions::default()
    };
    let bars = MultiProgress::new();
    let results: Vec<Result<(TraceRun, Vec<Sim>)>> = args
        .traces
        .par_iter()
        .map(|trace| replay_one(trace, &reader, &specs, &tlbs, &opts, &bars))
        .collect();
    let mut rows = Vec::new();
    for (trace, result) in args.traces.iter().zip(results) {
        let (run, sims) = result?;
        if let Some(skipped) = &run.skipped {
            eprintln!("ptbench: {skipped}");
        }
        for sim in &sims {
            rows.push(row(trace, &run, sim, &opts, args.huge));
        }
    }
    if let Some(path) = &args.csv {
        write_csv(path, &rows)?;
    }
    let disagreements = disagreements(&rows);
    if !args.quiet {
        print!("{}", table(&rows));
        if disagreements.is_empty() {
            println!(
                "\ntranslations agree: designs with the same page size have the same digest on every trace"
            );
        }
        if let Some(path) = &args.csv {
            println!("wrote {} rows to {}", rows.len(), path.display());
        }
    }
    if !disagreements.is_empty() {
        bail!(
            "designs translated a trace differently (a bug in a design; please report it):\n{}",
            disagreements.join("\n")
        );
    }
    Ok(())
}

fn replay_one(
    trace: &Path,
    reader: &ReaderOptions,
    specs: &[DesignSpec],
    tlbs: &[TlbSpec],
    opts: &SimOptions,
    bars: &MultiProgress,
) -> Result<(TraceRun, Vec<Sim>)> {
    let mut sims = Vec::with_capacity(specs.len() * tlbs.len());
    for s in specs {
        for t in tlbs {
            sims.push(Sim::build_with_tlb(s, t, opts)?);
        }
    }
    if opts.huge == HugePolicy::Thp {
        if let Some((lo, hi)) = ptbench_trace::address_range_with(trace, reader)? {
            sims.iter_mut().for_each(|s| s.set_address_range(lo, hi));
        }
    }
    let len = std::fs::metadata(trace).map(|m| m.len()).unwrap_or(0);
    let bar = bars.add(ProgressBar::new(len));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>20} [{bar:30}] {bytes}/{total_bytes} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(
        trace
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let run = replay_trace(trace, reader, &mut sims, &|bytes, accesses| {
        bar.set_position(bytes);
        bar.set_message(format!("{} accesses", thousands(accesses)));
    });
    bar.finish_and_clear();
    Ok((run?, sims))
}

fn row(trace: &Path, run: &TraceRun, sim: &Sim, opts: &SimOptions, huge: Huge) -> RunRow {
    let s = sim.stats();
    let f = sim.footprint();
    let secs = s.busy_nanos as f64 / 1e9;
    let spec = DesignSpec::parse(sim.label()).ok();
    RunRow {
        trace: trace.display().to_string(),
        design: sim.label().to_string(),
        accesses: s.accesses,
        translations: s.translations,
        walks: s.walks,
        walk_refs: s.walk_refs,
        refs_per_translation: ratio(s.walk_refs, s.translations),
        page_faults: s.page_faults,
        table_pages: f.table_pages,
        table_bytes: f.table_bytes,
        distinct_pages: s.distinct_pages,
        wall_seconds: secs,
        accesses_per_second: if secs > 0.0 {
            s.accesses as f64 / secs
        } else {
            0.0
        },
        page_crossing: match opts.page_crossing {
            PageCrossing::Split => "split",
            PageCrossing::First => "first",
        }
        .to_string(),
        page_bytes: spec.as_ref().map_or(0, |s| 1 << s.page_shift()),
        va_bits: spec.as_ref().map_or(0, |s| s.va_bits()),
        tables_per_level: f
            .per_level
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(";"),
        probes: s.probes,
        trace_format: run.format.map(|f| f.name()).unwrap_or("empty").to_string(),
        huge: huge.name().to_string(),
        walk_refs_p50: s.refs_per_walk.quantile(0.5),
        walk_refs_p90: s.refs_per_walk.quantile(0.9),
        walk_refs_p99: s.refs_per_walk.quantile(0.99),
        walk_refs_max: s.refs_per_walk.max(),
        load_factor: f.load_factor(),
        collisions: f.collisions,
        moved_entries: f.moved_entries,
        resizes: f.resizes,
        digest: format!("{:016x}", s.digest),
        tlb: sim.tlb_label().to_string(),
        events: s.events,
        ..tlb_columns(sim, s.translations)
    }
}

/// The TLB columns of a row; without TLBs every translation is a last-level miss.
fn tlb_columns(sim: &Sim, translations: u64) -> RunRow {
    let Some(t) = sim.tlb_stats() else {
        return RunRow {
            tlb_misses: translations,
            ..RunRow::default()
        };
    };
    let deepest = t.pwc_hits.iter().rposition(|h| *h > 0).map_or(0, |i| i + 1);
    RunRow {
        l1i_hits: t.l1i_hits,
        l1i_misses: t.l1i_misses,
        l1d_hits: t.l1d_hits,
        l1d_misses: t.l1d_misses,
        l2_hits: t.l2_hits,
        l2_misses: t.l2_misses,
        tlb_misses: t.tlb_misses,
        pwc_hits: t.pwc_hits.iter().sum(),
        pwc_hits_per_level: t.pwc_hits[..deepest]
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(";"),
        pwc_misses: t.pwc_misses,
        l1i_evictions: t.l1i_evictions,
        l1d_evictions: t.l1d_evictions,
        l2_evictions: t.l2_evictions,
        ..RunRow::default()
    }
}

/// Traces on which designs of the same page size translated differently.
fn disagreements(rows: &[RunRow]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in rows.iter().enumerate() {
        if let Some(b) = rows[..i]
            .iter()
            .find(|b| b.trace == a.trace && b.page_bytes == a.page_bytes && b.huge == a.huge)
        {
            if a.digest != b.digest {
                out.push(format!(
                    "  {}: {} digest {} but {} digest {}",
                    a.trace, b.design, b.digest, a.design, a.digest
                ));
            }
        }
    }
    out
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn table(rows: &[RunRow]) -> String {
    let with_tlb = rows.iter().any(|r| r.tlb != "none");
    let mut headers = vec![
        "trace",
        "design",
        "translations",
        "refs/xlat",
        "p50",
        "p99",
        "max",
        "faults",
        "table_pages",
        "table_KiB",
        "load",
        "M acc/s",
        "digest",
    ];
    if with_tlb {
        headers.splice(2..2, ["tlb", "tlb_misses", "walks"]);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                Path::new(&r.trace)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| r.trace.clone()),
                r.design.clone(),
                thousands(r.translations),
                format!("{:.3}", r.refs_per_translation),
                r.walk_refs_p50.to_string(),
                r.walk_refs_p99.to_string(),
                r.walk_refs_max.to_string(),
                thousands(r.page_faults),
                thousands(r.table_pages),
                thousands(r.table_bytes / 1024),
                if r.load_factor > 0.0 {
                    format!("{:.2}", r.load_factor)
                } else {
                    "-".to_string()
                },
                format!("{:.1}", r.accesses_per_second / 1e6),
                r.digest[..8].to_string(),
            ]
        })
        .zip(rows)
        .map(|(mut cells, r)| {
            if with_tlb {
                let tlb = presets()
                    .into_iter()
                    .find(|p| p.canonical() == r.tlb)
                    .map_or_else(|| r.tlb.clone(), |p| p.name.to_string());
                cells.splice(2..2, [tlb, thousands(r.tlb_misses), thousands(r.walks)]);
            }
            cells
        })
        .collect();
    render_table(&headers, &cells)
}

/// Copies every record of `reader` into a writer of `format` at `output`.
fn copy_trace(
    reader: &mut dyn TraceReader,
    output: &Path,
    format: WriteFormat,
    drop_unrepresentable: bool,
) -> Result<u64> {
    let mut w = trace_write::create(output, format, drop_unrepresentable)?;
    let mut buf = Vec::with_capacity(ptbench_trace::BATCH);
    while reader.read_batch(&mut buf)? > 0 {
        w.write(&buf)?;
    }
    Ok(w.finish()?)
}

fn output_format(to: Option<&str>, output: &Path) -> Result<WriteFormat> {
    match to {
        Some(t) => t
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--to {t}: {e}")),
        None if output.extension().is_some_and(|e| e == "txt") => Ok(WriteFormat::NativeText),
        None => Ok(WriteFormat::Native),
    }
}

fn convert(args: ConvertArgs) -> Result<()> {
    let format = output_format(args.to.as_deref(), &args.output)?;
    let opts = ReaderOptions {
        skip_bad_lines: args.skip_bad_lines,
        format: args.format.as_deref().map(str::parse).transpose()?,
        ..ReaderOptions::default()
    };
    let mut reader = ptbench_trace::open_with(&args.input, &opts)?;
    let n = copy_trace(&mut reader, &args.output, format, args.drop_unrepresentable)?;
    if let Some(skipped) = reader.skip_summary() {
        eprintln!("ptbench: {skipped}");
    }
    eprintln!(
        "ptbench: wrote {} records ({}) to {}",
        thousands(n),
        reader.format().map_or("empty", |f| f.name()),
        args.output.display()
    );
    Ok(())
}

/// A count with an optional decimal suffix (`10m` = 10,000,000) or a size with a binary one
/// (`1g` = 2^30), as `binary` says.
fn parse_count(s: &str, binary: bool) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (digits, unit) = match t.as_bytes().last() {
        Some(b'k') => (&t[..t.len() - 1], if binary { 1 << 10 } else { 1_000 }),
        Some(b'm') => (&t[..t.len() - 1], if binary { 1 << 20 } else { 1_000_000 }),
        Some(b'g') => (
            &t[..t.len() - 1],
            if binary { 1 << 30 } else { 1_000_000_000 },
        ),
        _ => (t.as_str(), 1),
    };
    let v: u64 = digits
        .replace('_', "")
        .parse()
        .with_context(|| format!("`{s}` is not a whole number"))?;
    v.checked_mul(unit)
        .with_context(|| format!("`{s}` does not fit in 64 bits"))
}

fn gen(args: GenArgs) -> Result<()> {
    let pattern: Pattern = args.pattern.parse().map_err(anyhow::Error::msg)?;
    let spec = GenSpec {
        seed: args.seed,
        stride: args.stride,
        theta: args.theta,
        write_ratio: args.write_ratio,
        ..GenSpec::new(
            pattern,
            parse_count(&args.accesses, false)?,
            parse_count(&args.footprint, true)?,
        )
    };
    let mut g = Generator::new(spec).map_err(anyhow::Error::msg)?;
    let format = output_format(None, &args.output)?;
    let n = copy_trace(&mut g, &args.output, format, false)?;
    eprintln!(
        "ptbench: wrote {} accesses to {}",
        thousands(n),
        args.output.display()
    );
    Ok(())
}

fn inspect(args: InspectArgs) -> Result<()> {
    let opts = ReaderOptions {
        skip_bad_lines: args.skip_bad_lines,
        format: args.format.as_deref().map(str::parse).transpose()?,
        ..ReaderOptions::default()
    };
    let reader = ptbench_trace::open_with(&args.trace, &opts)?;
    let iopts = if args.no_reuse {
        ptbench_trace::inspect::InspectOptions::without_reuse()
    } else {
        ptbench_trace::inspect::InspectOptions::default()
    };
    // Decode on another thread while this one counts.
    let mut ahead = ptbench_trace::Prefetched::new(reader, 4);
    let stats = ptbench_trace::inspect::inspect(&mut ahead, &iopts)?;
    let reader = ahead.into_inner();
    let format = reader.as_ref().and_then(|r| r.format());
    println!(
        "{} ({})",
        args.trace.display(),
        format.map_or("no records", |f| f.name())
    );
    if let Some(skipped) = reader.as_ref().and_then(|r| r.skip_summary()) {
        println!("{skipped}");
    }
    print!("{stats}");
    Ok(())
}

fn record(args: RecordArgs) -> Result<()> {
    let format = output_format(None, &args.output)?;
    let mut w = trace_write::create(&args.output, format, false)?;
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
        "ptbench: recorded {} accesses ({} fetches, {} reads, {} writes) to {}; the program exited with {}",
        thousands(n),
        thousands(t.fetches),
        thousands(t.reads),
        thousands(t.writes),
        args.output.display(),
        summary.exit_status
    );
    Ok(())
}
