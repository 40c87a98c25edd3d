//! `ptbench`: replay memory-address traces through page-table designs and compare what each costs.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ptbench_core::PageSize;
use ptbench_pagetable::{DesignSpec, CATALOG};
use ptbench_replay::{replay_trace, HugePolicy, PageCrossing, Sim, SimOptions, TraceRun};
use ptbench_report::{render_table, thousands, write_csv, RunRow};
use ptbench_tlb::{presets, TlbSpec};
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
        if !t.is_file() {
            bail!("{}: no such trace file", t.display());
        }
    }
    let bars = MultiProgress::new();
    let results: Vec<Result<(TraceRun, Vec<Sim>)>> = args
        .traces
        .par_iter()
        .map(|trace| replay_one(trace, &specs, &tlbs, &opts, &bars))
        .collect();
    let mut rows = Vec::new();
    for (trace, result) in args.traces.iter().zip(results) {
        let (run, sims) = result?;
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
        if let Some((lo, hi)) = ptbench_trace::address_range(trace)? {
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
    let run = replay_trace(trace, &mut sims, &|bytes, accesses| {
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
