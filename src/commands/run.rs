//! `ptbench run`: replay traces through designs (and TLBs) and report what each costs.

use super::{parse_count, plural, progress_bar, reader_options, start_workers};
use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use indicatif::MultiProgress;
use ptbench_core::PageSize;
use ptbench_pagetable::{DesignSpec, HostPolicy};
use ptbench_replay::{
    per_core_rows, prepare_next_uses, replay_trace, run_row, CacheSpec, HugePolicy, OsConfig,
    PageCrossing, Placement, Sim, SimOptions, TraceRun, WideAddresses,
};
use ptbench_report::{csv_rules, render_table, thousands, write_csv_with};
use ptbench_results::RunRow;
use ptbench_tlb::{presets, TlbSpec};
use ptbench_trace::ReaderOptions;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Designs `ptbench run` replays when no `--design` is given.
pub const DEFAULT_DESIGNS: &[&str] = &[
    "x86-64",
    "x86-64-5l",
    "radix:levels=3,pobits=14",
    "flat:va_bits=48",
    "hashed",
    "hashed:collision=chain",
    "inverted",
    "ecpt",
];

/// The end of `ptbench run --help`.
pub const AFTER_HELP: &str = "Examples:\n  \
    ptbench run traces/sort.lackey.gz\n  \
    ptbench run --page-crossing first --design x86-64 --design radix:levels=3,pobits=14 --csv out.csv trace.lackey.gz\n  \
    ptbench run --design x86-64 --tlb skylake --huge thp big.ptbt.zst\n  \
    ptbench run --design x86-64 --huge off,2m,thp trace.lackey.gz\n  \
    ptbench run -d x86-64 --tlb skylake --huge always,defer --ram 4g --fragmentation 0.5 trace.ptbt\n  \
    ptbench run --cores 1,2,4,8 --frames 128 --tlb skylake --per-core cores.csv app.tracedir\n  \
    ptbench run --csv - trace.din | column -s, -t\n\n\
    Traces: Valgrind lackey, `hexaddr R|W` course traces, Pin pinatrace, Dinero din and extended din,\n\
    ChampSim and CloudSuite, DynamoRIO drmemtrace (a file or a directory of threads or cores), and\n\
    ptbench's own ptbt and ptbt-text; the format is detected from the content (--format forces\n\
    one). gzip, xz, bzip2, zstd and LZ4 compression is recognised by its magic bytes. Every design replays the same decoded batches; traces run side by side.\n\n\
    --csv never writes over a trace the command reads, nor replaces a file that is not a ptbench\n\
    CSV (unless --force); `-` is standard output, and devices and FIFOs are written straight to.\n\
    With `--csv -` standard output holds the CSV alone: the table and notes go to standard error.\n\
    A design that fails (say, out of physical memory) does not stop the others: their rows are\n\
    written, the failures listed, and the exit status is 1.";

#[derive(clap::Args)]
pub struct RunArgs {
    /// A design SPEC, `NAME[:key=value,...]` (e.g. `x86-64`, `radix:levels=3,pobits=14`); repeat for
    /// more. Default: x86-64, x86-64-5l, radix:levels=3,pobits=14, flat:va_bits=48, hashed,
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
    /// A cache SPEC: `none` (default: no cycles counted), a preset (`skylake`, `emt`; see
    /// `ptbench caches`) or keys such as `l1d=512x8,llc=131072x16,mem_lat=200`. Every table read
    /// and every access of the trace goes through the caches, and walks are counted in cycles.
    /// Repeat to replay every design under each.
    #[arg(long = "cache", value_name = "SPEC")]
    caches: Vec<String>,
    /// Where the trace's accesses go in the caches: at the frames the OS model gives (`os`), or
    /// at their own addresses (`identity`: each data page at the frame equal to its page number,
    /// so a physically indexed cache can be checked against cachegrind).
    #[arg(long, value_enum, default_value_t = PlacementArg::Os)]
    placement: PlacementArg,
    /// Page size of faults: `off` (base pages; `never` is the same), `2m` or `1g` (every fault
    /// maps the aligned region with one huge page), `thp` (2 MiB where the aligned region lies
    /// inside the trace's address range, from its lowest to its highest byte, and inside one
    /// mmap region; base pages elsewhere). Linux's THP policies take 2 MiB blocks from physical
    /// memory (--ram): `always` (a huge page at a fault in such a region when an aligned free
    /// block exists, else a base page and a counted fallback), `madvise` (`always` only in
    /// regions an mmap event advised, `rw-h`), `defer` (base pages; khugepaged promotes a region
    /// once --thp-min of its pages are present). Several values (`--huge off,thp`, or repeated)
    /// replay every design under each, as --tlb does. Default designs that cannot store the
    /// size are skipped with a note.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "off")]
    huge: Vec<Huge>,
    /// The machine's physical memory (k, m, g, t suffixes): frames come from a buddy allocator
    /// of this size (4 KiB to 1 GiB blocks), so where pages land is real. Default: frames in
    /// order from the design's whole physical space, as before; 16g when --huge always,
    /// madvise or defer, --fragmentation, --free-huge, --churn or --compaction needs it.
    #[arg(long, value_name = "SIZE")]
    ram: Option<String>,
    /// Before the trace starts, other tenants' pinned pages break this fraction (0 to 1) of
    /// the 2 MiB blocks of --ram (one page each, placed by --seed).
    #[arg(long, value_name = "F", conflicts_with = "free_huge")]
    fragmentation: Option<String>,
    /// Before the trace starts, break all but N free 2 MiB blocks (as --fragmentation).
    #[arg(long, value_name = "N")]
    free_huge: Option<u64>,
    /// Other tenants come and go during the run: RATE page allocations or frees (even odds,
    /// each at a random frame) per fault, so fragmentation can grow.
    #[arg(long, value_name = "RATE")]
    churn: Option<String>,
    /// --huge defer: the present base pages of a 2 MiB region at which khugepaged promotes it
    /// (1 to 512; Linux's default, max_ptes_none 511, is 1).
    #[arg(long, value_name = "N", default_value_t = 1)]
    thp_min: u32,
    /// When no free 2 MiB block is left for a huge page, move movable pages out of the block
    /// that holds the fewest (each move a copy and a TLB shootdown): `on` or `off`.
    #[arg(long, value_name = "ON|OFF", default_value = "off")]
    compaction: String,
    /// Limit the data frames to N: when none is free, a fault evicts a page chosen by --policy
    /// (page-table pages come from kernel memory outside the limit unless --count-tables).
    #[arg(long, value_name = "N", conflicts_with = "memory")]
    frames: Option<String>,
    /// Limit data memory to SIZE (k, m, g suffixes: KiB, MiB, GiB): SIZE / page size frames.
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Replacement policy under --frames: fifo, lru, clock (second chance), random (seeded by
    /// --seed), opt (Belady; a pre-pass over the trace), nru, aging.
    #[arg(long, default_value = "lru")]
    policy: String,
    /// First touch of an anonymous page: `zero` (a minor fault, no disk read: Linux) or `disk`
    /// (every fault reads the page from disk: the course simulators' model).
    #[arg(long, value_name = "MODEL", default_value = "zero")]
    first_touch: String,
    /// What a protection fault or segmentation fault does: `continue` (count it and go on) or
    /// `stop` (an error naming the access).
    #[arg(long, value_name = "WHAT", default_value = "continue")]
    on_violation: String,
    /// Seed of --policy random.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Translations between reference-bit resets (nru) and counter shifts (aging).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    period: u64,
    /// Count page-table pages against --frames (they are never evicted; a run whose tables alone
    /// fill the limit stops with an error).
    #[arg(long)]
    count_tables: bool,
    /// Write-protect the pages holding LEN bytes at VA (VA or VA:LEN: a hex address, a decimal
    /// length, default 8) and count the write faults: watch_hits (the watched bytes written) and watch_false_faults.
    #[arg(long, value_name = "VA[:LEN]")]
    watch: Vec<String>,
    /// Cores, each with its own TLBs, page-walk caches and L1/L2 caches (one shared last
    /// level). Threads run where the trace recorded them (a cpu event's CPU c, or a
    /// core-sharded drmemtrace directory's core c, is core c modulo N) or, before any cpu
    /// event, by their order of first appearance modulo N. Several values (`--cores 1,2,4`)
    /// replay every design under each.
    #[arg(long, value_name = "N", value_delimiter = ',', default_value = "1")]
    cores: Vec<u16>,
    /// Round-robin scheduling: every Q trace records, all threads move one core on (the
    /// trace's cpu events are then ignored). Default: threads stay on their core.
    #[arg(long, value_name = "Q")]
    quantum: Option<u64>,
    /// Which other cores a change that removes or narrows a translation (munmap, mprotect,
    /// copy-on-write, eviction, huge-page split, migration) interrupts: `precise` (those that
    /// ran the address space since their TLBs last dropped it: Linux's mm_cpumask) or
    /// `broadcast` (all).
    #[arg(long, value_name = "HOW", default_value = "precise")]
    shootdown: String,
    /// With --cache: cycles of one shootdown interrupt (default 3000, about 1 µs at 3 GHz).
    #[arg(long, value_name = "N")]
    ipi_cycles: Option<u32>,
    /// With --cache: cycles of one page invalidated on another core (default 250).
    #[arg(long, value_name = "N")]
    invlpg_cycles: Option<u32>,
    /// Also write one CSV row per (trace, design, core) to FILE: each core's accesses, threads,
    /// TLB counters and the shootdowns it received (atomically; `-` is standard output).
    #[arg(long, value_name = "FILE")]
    per_core: Option<PathBuf>,
    /// Also write one CSV row per (trace, design) to FILE (atomically; `-` is standard output).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Replace a --csv file even if it does not look like ptbench results.
    #[arg(long)]
    force: bool,
    /// Replaying threads (default: one per core; at most 4 per core). With 2 or more the trace is
    /// decoded on a thread of its own beside them; with 1, one thread decodes and replays.
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Read every trace as this format instead of detecting it (lackey, hexrw, pinatrace,
    /// pinatrace-simple, din, xdin, champsim, cloudsuite, ptbt, ptbt-text).
    #[arg(long)]
    format: Option<String>,
    /// Count and skip malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// drmemtrace traces: replay software prefetches as one-byte reads at their addresses
    /// (they are counted either way; skipped by default).
    #[arg(long)]
    prefetches: bool,
    /// The most bytes one access may span (k, m, g suffixes: KiB, MiB, GiB); a larger one is an
    /// error naming its line, since it would be split into that many page translations.
    #[arg(long, value_name = "SIZE", default_value = "1g")]
    max_access: String,
    /// An address outside a design's virtual address space (non-canonical on x86-64, or wider
    /// than its va_bits): `error` stops that design's replay naming the line; `count` skips the
    /// access and counts it in the `noncanonical` column.
    #[arg(long, value_enum, default_value_t = Wide::Error)]
    wide_addresses: Wide,
    /// Replay every access through the general path, without the shortcut that only counts a
    /// repeated translation: the same figures, slower (to check, or to measure the shortcut).
    #[arg(long)]
    no_fast_path: bool,
    /// Give every design its own TLBs and OS model, instead of one shared front end for the
    /// designs that see the same TLB hits and misses (each design then replays only its walks):
    /// the same figures, slower (to check, or to measure the sharing).
    #[arg(long)]
    no_shared_front_end: bool,
    /// Nested designs: the host frames backing guest-physical memory; when all are in use the
    /// hypervisor evicts a page (and flushes the TLBs). The `host_frames=` parameter of each
    /// nested design given.
    #[arg(long, value_name = "N")]
    host_frames: Option<u64>,
    /// Nested designs: which page the hypervisor evicts, `fifo` or `clock` (second chance on the
    /// accessed bits host walks set). The `host_policy=` parameter of each nested design given.
    #[arg(long, value_name = "POLICY")]
    host_policy: Option<String>,
    /// Print no table (errors only); needs --csv.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Trace files.
    #[arg(required = true, value_name = "TRACE")]
    traces: Vec<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Huge {
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
    /// Linux's THP `always`: 2 MiB at a fault when an aligned free block exists, else a base
    /// page (a counted fallback).
    Always,
    /// Linux's THP `madvise`: `always` in regions an mmap advised (`rw-h`).
    Madvise,
    /// Linux's THP `defer`: base pages; khugepaged promotes a region at --thp-min pages.
    Defer,
    /// Linux's name for `off`.
    Never,
}

impl Huge {
    /// The OS model's page-size policy.
    pub(crate) fn policy(self) -> HugePolicy {
        match self {
            Huge::Off => HugePolicy::Off,
            Huge::M2 => HugePolicy::Fixed(PageSize::M2),
            Huge::G1 => HugePolicy::Fixed(PageSize::G1),
            Huge::Thp => HugePolicy::Thp,
            Huge::Always => HugePolicy::Always,
            Huge::Madvise => HugePolicy::Madvise,
            Huge::Defer => HugePolicy::Defer,
            Huge::Never => HugePolicy::Off,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Huge::Off => "off",
            Huge::M2 => "2m",
            Huge::G1 => "1g",
            Huge::Thp => "thp",
            Huge::Always => "always",
            Huge::Madvise => "madvise",
            Huge::Defer => "defer",
            Huge::Never => "never",
        }
    }
}

#[derive(Copy, Clone, ValueEnum)]
enum Wide {
    /// Stop the design's replay with an error.
    Error,
    /// Skip the access and count it.
    Count,
}

#[derive(Copy, Clone, ValueEnum)]
enum Crossing {
    /// Translate every page the access touches.
    Split,
    /// Translate only the page of the access's first byte.
    First,
}

/// Runs `ptbench run`.
pub fn exec(args: RunArgs) -> Result<()> {
    if args.quiet && args.csv.is_none() {
        bail!("--quiet without --csv would replay the traces and show nothing; add --csv FILE (or --csv - for standard output)");
    }
    let explicit = !args.designs.is_empty();
    let names: Vec<&str> = if explicit {
        args.designs.iter().map(String::as_str).collect()
    } else {
        DEFAULT_DESIGNS.to_vec()
    };
    let mut specs: Vec<DesignSpec> = names
        .iter()
        .map(|s| DesignSpec::parse(s))
        .collect::<Result<_, _>>()?;
    if args.host_frames.is_some() || args.host_policy.is_some() {
        let policy = match args.host_policy.as_deref() {
            None => None,
            Some("fifo") => Some(HostPolicy::Fifo),
            Some("clock") => Some(HostPolicy::Clock),
            Some(p) => bail!(
                "--host-policy {p}: must be one of {}",
                HostPolicy::NAMES.join(", ")
            ),
        };
        if args.host_frames == Some(0) {
            bail!("--host-frames 0: the hypervisor needs at least one frame");
        }
        let mut any = false;
        for spec in &mut specs {
            if let DesignSpec::Nested(c) = spec {
                any = true;
                c.host_frames = args.host_frames.or(c.host_frames);
                c.host_policy = policy.unwrap_or(c.host_policy);
            }
        }
        if !any {
            bail!("--host-frames and --host-policy apply to nested designs (`--design nested:guest=SPEC,host=SPEC`), and none was given");
        }
    }
    let tlbs: Vec<TlbSpec> = if args.tlbs.is_empty() {
        vec![TlbSpec::NONE]
    } else {
        args.tlbs
            .iter()
            .map(|s| TlbSpec::parse(s).with_context(|| format!("--tlb {s}")))
            .collect::<Result<_>>()?
    };
    let caches: Vec<CacheSpec> = if args.caches.is_empty() {
        vec![CacheSpec::NONE]
    } else {
        let mut v: Vec<CacheSpec> = Vec::new();
        for s in &args.caches {
            let c = CacheSpec::parse(s).with_context(|| format!("--cache {s}"))?;
            if !v.contains(&c) {
                v.push(c);
            }
        }
        v
    };
    let max_access = parse_count(&args.max_access, true).context("--max-access")?;
    if max_access == 0 {
        bail!("--max-access must be at least 1 byte");
    }
    // One set of options per --huge value, in the order given (a value given twice runs once).
    let mut huges: Vec<Huge> = Vec::new();
    for h in &args.huge {
        if !huges.iter().any(|x| x.policy() == h.policy()) {
            huges.push(*h);
        }
    }
    let base = SimOptions {
        page_crossing: match args.page_crossing {
            Crossing::Split => PageCrossing::Split,
            Crossing::First => PageCrossing::First,
        },
        huge: HugePolicy::Off,
        wide: match args.wide_addresses {
            Wide::Error => WideAddresses::Error,
            Wide::Count => WideAddresses::Count,
        },
        os: os_config(&args, &specs, &huges)?,
        no_fast_path: args.no_fast_path,
        no_shared_front_end: args.no_shared_front_end,
        placement: match args.placement {
            PlacementArg::Os => Placement::Os,
            PlacementArg::Identity => Placement::Identity,
        },
        ..SimOptions::default()
    };
    let mut cores: Vec<u16> = Vec::new();
    for &n in &args.cores {
        if !(1..=ptbench_replay::MAX_CORES).contains(&n) {
            bail!("--cores {n}: 1 to {}", ptbench_replay::MAX_CORES);
        }
        if !cores.contains(&n) {
            cores.push(n);
        }
    }
    if args.quantum == Some(0) {
        bail!("--quantum 0: give at least 1 trace record (or leave it out: threads stay put)");
    }
    // Designs that cannot replay these options: an error when asked for, skipped from the defaults.
    let mut configs = Vec::new();
    for spec in &specs {
        for tlb in &tlbs {
            for ((&huge, cache), &n) in huges
                .iter()
                .flat_map(|h| caches.iter().map(move |c| (h, c)))
                .flat_map(|hc| cores.iter().map(move |n| (hc, n)))
            {
                let opts = SimOptions {
                    huge: huge.policy(),
                    cache: *cache,
                    os: ptbench_replay::OsConfig {
                        cores: n,
                        ..base.os.clone()
                    },
                    ..base.clone()
                };
                match Sim::build_with_tlb(spec, tlb, &opts) {
                    Ok(_) => configs.push(Config {
                        spec: spec.clone(),
                        tlb: *tlb,
                        opts,
                    }),
                    Err(e) if !explicit && e.page_size_unsupported => {
                        if tlb == &tlbs[0] && cache == &caches[0] && n == cores[0] {
                            eprintln!(
                                "ptbench: note: skipping default design {spec} with --huge {}: {}",
                                huge.name(),
                                e.reason
                            );
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    start_workers(args.jobs)?;
    for t in &args.traces {
        check_trace_path(t)?;
        if huges.iter().any(|h| h.policy().needs_range()) {
            check_thp_path(t)?;
        }
    }
    let reader = reader_options(args.format.as_deref(), args.skip_bad_lines, args.prefetches)?;
    // Refuse a bad --csv before any work.
    if let Some(csv) = &args.csv {
        let rules = csv_rules("--csv", &args.traces, args.force);
        match ptbench_output::Output::check(csv, &rules) {
            Err(ptbench_output::OutputError::Foreign { .. })
                if ptbench_trace::write::looks_like_trace(csv) =>
            {
                bail!(
                    "--csv {}: that file is a trace, not a CSV file; was the CSV file's name \
                     forgotten before the traces? (--force replaces it anyway)",
                    csv.display()
                )
            }
            r => r?,
        }
    }
    if let Some(p) = &args.per_core {
        if args.csv.as_ref() == Some(p) {
            bail!(
                "--per-core {}: the same file as --csv; give each its own",
                p.display()
            );
        }
        ptbench_output::Output::check(p, &csv_rules("--per-core", &args.traces, args.force))?;
    }
    let bars = MultiProgress::new();
    let results: Vec<Result<(TraceRun, Vec<Sim>)>> = args
        .traces
        .par_iter()
        .map(|trace| replay_one(trace, &reader, &configs, max_access, &bars))
        .collect();
    let mut rows = Vec::new();
    let mut core_rows = Vec::new();
    let mut failures = Vec::new();
    for (trace, result) in args.traces.iter().zip(results) {
        let (run, sims) = match result {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{e:#}"));
                continue;
            }
        };
        if let Some(skipped) = &run.skipped {
            eprintln!("ptbench: {skipped}");
        }
        for (i, (sim, config)) in sims.iter().zip(&configs).enumerate() {
            match run.failures.iter().find(|(f, _)| *f == i) {
                Some((_, e)) => failures.push(format!("design {}: {e}", sim.label())),
                None => {
                    rows.push(run_row(trace, &run, sim, &config.opts));
                    if args.per_core.is_some() {
                        core_rows.extend(per_core_rows(trace, sim, &config.opts));
                    }
                }
            }
        }
    }
    // No rows (every trace failed): no results file.
    if let Some(path) = args.csv.as_ref().filter(|_| !rows.is_empty()) {
        write_csv_with(path, &rows, &csv_rules("--csv", &args.traces, args.force))?;
    }
    if let Some(path) = args.per_core.as_ref().filter(|_| !core_rows.is_empty()) {
        write_csv_with(
            path,
            &core_rows,
            &csv_rules("--per-core", &args.traces, args.force),
        )?;
    }
    let disagreements = disagreements(&rows);
    if !args.quiet {
        // With the CSV on standard output, everything else goes to standard error.
        let csv_on_stdout = args.csv.as_ref().is_some_and(|p| p.as_os_str() == "-");
        let mut text = String::new();
        if !rows.is_empty() {
            text.push_str(&table(&rows));
        }
        if disagreements.is_empty() && !rows.is_empty() {
            text.push_str(
                "\ntranslations agree: designs with the same page size have the same digest on every trace\n",
            );
        }
        if let Some(path) = args.csv.as_ref().filter(|_| !rows.is_empty()) {
            if !csv_on_stdout {
                text.push_str(&format!(
                    "wrote {} to {}\n",
                    plural(rows.len() as u64, "row", "rows"),
                    path.display()
                ));
            }
        }
        if csv_on_stdout {
            eprint!("{text}");
        } else {
            out!("{text}");
        }
    }
    if !disagreements.is_empty() {
        failures.push(format!(
            "designs translated a trace differently (a bug in a design; please report it):\n{}",
            disagreements.join("\n")
        ));
    }
    match failures.len() {
        0 => Ok(()),
        1 => bail!("{}", failures[0]),
        n => bail!("{n} failures:\n  {}", failures.join("\n  ")),
    }
}

/// The OS settings from the flags.
fn os_config(args: &RunArgs, specs: &[DesignSpec], huges: &[Huge]) -> Result<OsConfig> {
    let frames = match (&args.frames, &args.memory) {
        (Some(n), _) => Some(parse_count(n, false).context("--frames")?),
        (None, Some(m)) => {
            let bytes = parse_count(m, true).context("--memory")?;
            let shifts: std::collections::BTreeSet<u8> =
                specs.iter().map(|s| s.page_shift()).collect();
            if shifts.len() > 1 {
                bail!("--memory with designs of different page sizes: give --frames instead");
            }
            let shift = shifts.into_iter().next().unwrap_or(12);
            Some(bytes >> shift)
        }
        (None, None) => None,
    };
    let fraction = |flag: &str, v: &Option<String>| -> Result<Option<u64>> {
        let Some(v) = v else { return Ok(None) };
        let f: f64 = v
            .parse()
            .with_context(|| format!("{flag} {v}: not a number"))?;
        if !(0.0..=1e6).contains(&f) || (flag == "--fragmentation" && f > 1.0) {
            bail!("{flag} {v}: out of range (fragmentation is 0 to 1, churn at least 0)");
        }
        Ok(Some((f * 1e6).round() as u64))
    };
    let cfg = OsConfig {
        ram: args
            .ram
            .as_deref()
            .map(ptbench_replay::parse_size)
            .transpose()
            .context("--ram")?,
        fragmentation: fraction("--fragmentation", &args.fragmentation)?.map(|f| f as u32),
        free_huge: args.free_huge,
        churn: fraction("--churn", &args.churn)?,
        thp_min: args.thp_min,
        compaction: match args.compaction.as_str() {
            "on" => true,
            "off" => false,
            o => bail!("--compaction {o}: on or off"),
        },
        cores: 1,
        quantum: args.quantum.unwrap_or(0),
        shootdown: args.shootdown.parse().context("--shootdown")?,
        ipi_cycles: args
            .ipi_cycles
            .unwrap_or(ptbench_replay::DEFAULT_IPI_CYCLES),
        invlpg_cycles: args
            .invlpg_cycles
            .unwrap_or(ptbench_replay::DEFAULT_INVLPG_CYCLES),
        frames,
        policy: args.policy.parse().context("--policy")?,
        first_touch: args.first_touch.parse().context("--first-touch")?,
        on_violation: args.on_violation.parse().context("--on-violation")?,
        seed: args.seed,
        period: args.period,
        count_tables: args.count_tables,
        watch: args
            .watch
            .iter()
            .map(|w| w.parse().with_context(|| format!("--watch {w}")))
            .collect::<Result<_>>()?,
    };
    cfg.validate()
        .context("--frames/--memory/--period/--ram/--thp-min")?;
    if cfg.frames.is_some() && huges.iter().any(|h| *h != Huge::Off) {
        bail!("--frames/--memory replace base pages: they cannot be combined with --huge");
    }
    if cfg.count_tables && cfg.frames.is_none() {
        bail!("--count-tables needs --frames or --memory");
    }
    Ok(cfg)
}

/// Says what a trace path is when it is not something to read.
fn check_trace_path(t: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(t) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{}: no such trace file", t.display())
        }
        Err(e) => bail!("{}: cannot read it: {e}", t.display()),
        Ok(m) if m.is_dir() && ptbench_trace::drmemtrace::is_trace_dir(t) => Ok(()),
        Ok(m) if m.is_dir() => bail!(
            "{}: that is a directory, not a trace file (give the files inside it, e.g. {}/*)",
            t.display(),
            t.display()
        ),
        Ok(m) if m.file_type().is_block_device() => {
            bail!("{}: that is a block device, not a trace file", t.display())
        }
        Ok(_) => Ok(()),
    }
}

/// `--huge thp` reads a trace twice: a FIFO or pipe (`<(...)`) cannot be.
fn check_thp_path(t: &Path) -> Result<()> {
    if !ptbench_trace::is_seekable(t)? {
        bail!(
            "{}: --huge thp reads the trace twice (a first pass finds its address range), which needs a seekable file; this is a pipe or FIFO: save it to a file first",
            t.display()
        );
    }
    Ok(())
}

/// `--placement`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
enum PlacementArg {
    /// At the frames the OS model gives.
    Os,
    /// At the accesses' own addresses.
    Identity,
}

/// One replayed configuration: a design under a TLB with its options (its --huge value).
struct Config {
    spec: DesignSpec,
    tlb: TlbSpec,
    opts: SimOptions,
}

fn replay_one(
    trace: &Path,
    reader: &ReaderOptions,
    configs: &[Config],
    max_access: u64,
    bars: &MultiProgress,
) -> Result<(TraceRun, Vec<Sim>)> {
    let mut sims = configs
        .iter()
        .map(|c| Sim::build_with_tlb(&c.spec, &c.tlb, &c.opts))
        .collect::<Result<Vec<_>, _>>()?;
    if configs.iter().any(|c| c.opts.huge.needs_range()) {
        if let Some((lo, hi)) = ptbench_trace::address_range_with(trace, reader)? {
            for (s, c) in sims.iter_mut().zip(configs) {
                if c.opts.huge.needs_range() {
                    s.set_address_range(lo, hi);
                }
            }
        }
    }
    // Every configuration shares the page-crossing rule.
    let crossing = configs
        .first()
        .map_or(PageCrossing::Split, |c| c.opts.page_crossing);
    prepare_next_uses(&mut sims, trace, reader, crossing)?;
    let len = ptbench_trace::trace_bytes(trace);
    let name = trace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bar = bars.add(progress_bar(len, &name, true));
    let run = replay_trace(trace, reader, max_access, &mut sims, &|bytes, accesses| {
        bar.set_position(bytes);
        bar.set_message(format!("{} accesses", thousands(accesses)));
    });
    bar.finish_and_clear();
    Ok((run?, sims))
}

/// Traces on which designs of the same page size translated differently (among designs that
/// skipped no access as outside their address space: those translated different accesses).
fn disagreements(rows: &[RunRow]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in rows.iter().enumerate() {
        if a.noncanonical > 0 {
            continue;
        }
        if let Some(b) = rows[..i].iter().find(|b| {
            b.trace == a.trace
                && b.page_bytes == a.page_bytes
                && b.huge == a.huge
                && b.noncanonical == 0
                && b.os == a.os
                // Counting table pages against the limit lets designs' sizes steer eviction.
                && !a.os.contains("count_tables")
        }) {
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

/// The terminal table: one line per row. A setting (`tlb`, `huge`, `page_crossing`, `os`) gets
/// a column only when it differs between the rows; the TLB counters appear when any row has a
/// TLB.
fn table(rows: &[RunRow]) -> String {
    let differs = |f: fn(&RunRow) -> &str| rows.iter().any(|r| f(r) != f(&rows[0]));
    let tlb_name = |r: &RunRow| -> String {
        presets()
            .into_iter()
            .find(|p| p.canonical() == r.tlb)
            .map_or_else(|| r.tlb.clone(), |p| p.name.to_string())
    };
    let with_tlb = rows.iter().any(|r| r.tlb != "none");
    type Column = (&'static str, Box<dyn Fn(&RunRow) -> String>);
    let mut columns: Vec<Column> = vec![
        (
            "trace",
            Box::new(|r: &RunRow| {
                Path::new(&r.trace)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| r.trace.clone())
            }),
        ),
        ("design", Box::new(|r: &RunRow| r.design.clone())),
    ];
    if differs(|r| &r.tlb) {
        columns.push(("tlb", Box::new(tlb_name)));
    }
    if differs(|r| &r.huge) {
        columns.push(("huge", Box::new(|r: &RunRow| r.huge.clone())));
    }
    if differs(|r| &r.page_crossing) {
        columns.push((
            "page_crossing",
            Box::new(|r: &RunRow| r.page_crossing.clone()),
        ));
    }
    if differs(|r| &r.os) {
        columns.push(("os", Box::new(|r: &RunRow| r.os.clone())));
    }
    if differs(|r| &r.cache) {
        columns.push((
            "cache",
            Box::new(|r: &RunRow| {
                ptbench_tlb::cache_presets()
                    .into_iter()
                    .find(|p| p.spec.to_string() == r.cache)
                    .map_or_else(|| r.cache.clone(), |p| p.name.to_string())
            }),
        ));
    }
    if rows
        .iter()
        .any(|r| r.cache != "none" && !r.cache.is_empty())
    {
        columns.push((
            "cyc/xlat",
            Box::new(|r: &RunRow| significant(r.cycles_per_translation)),
        ));
        columns.push((
            "walk_cyc_p50",
            Box::new(|r: &RunRow| r.walk_cycles_p50.to_string()),
        ));
        columns.push((
            "walk_cyc_p99",
            Box::new(|r: &RunRow| r.walk_cycles_p99.to_string()),
        ));
    }
    if with_tlb {
        columns.push(("tlb_misses", Box::new(|r: &RunRow| thousands(r.tlb_misses))));
        columns.push(("walks", Box::new(|r: &RunRow| thousands(r.walks))));
    }
    columns.extend::<[Column; 12]>([
        (
            "translations",
            Box::new(|r: &RunRow| thousands(r.translations)),
        ),
        ("walk_refs", Box::new(|r: &RunRow| thousands(r.walk_refs))),
        (
            "refs/xlat",
            Box::new(|r: &RunRow| significant(r.refs_per_translation)),
        ),
        ("p50", Box::new(|r: &RunRow| r.walk_refs_p50.to_string())),
        ("p99", Box::new(|r: &RunRow| r.walk_refs_p99.to_string())),
        ("max", Box::new(|r: &RunRow| r.walk_refs_max.to_string())),
        ("faults", Box::new(|r: &RunRow| thousands(r.page_faults))),
        (
            "table_pages",
            Box::new(|r: &RunRow| thousands(r.table_pages)),
        ),
        (
            "table_KiB",
            Box::new(|r: &RunRow| thousands(r.table_bytes / 1024)),
        ),
        (
            "load",
            Box::new(|r: &RunRow| {
                if r.load_factor > 0.0 {
                    format!("{:.2}", r.load_factor)
                } else {
                    "-".to_string()
                }
            }),
        ),
        (
            "M acc/s",
            Box::new(|r: &RunRow| format!("{:.1}", r.accesses_per_second / 1e6)),
        ),
        (
            "digest",
            Box::new(|r: &RunRow| r.digest.chars().take(8).collect()),
        ),
    ]);
    let headers: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|(_, cell)| cell(r)).collect())
        .collect();
    render_table(&headers, &cells)
}

/// A ratio with at least three significant digits: `0` for zero, three decimals from 0.1 up
/// (`4.000`, `0.123`), scientific notation below (`3.22e-4`), never `0.000` for a nonzero value.
fn significant(x: f64) -> String {
    if x == 0.0 {
        "0".to_string()
    } else if x.abs() >= 0.1 || !x.is_finite() {
        format!("{x:.3}")
    } else {
        format!("{x:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use ptbench_results::RunRow;

    fn row(design: &str, tlb: &str, huge: &str, refs: u64, translations: u64) -> RunRow {
        RunRow {
            trace: "traces/t.lackey".into(),
            design: design.into(),
            tlb: tlb.into(),
            huge: huge.into(),
            page_crossing: "split".into(),
            os: "frames=unlimited,policy=lru,first_touch=zero".into(),
            translations,
            walks: refs / 4,
            tlb_misses: refs / 4,
            walk_refs: refs,
            refs_per_translation: refs as f64 / translations as f64,
            walk_refs_p50: 4,
            walk_refs_p99: 4,
            walk_refs_max: 4,
            page_faults: 3,
            table_pages: 4,
            table_bytes: 16384,
            accesses_per_second: 12.34e6,
            digest: "0123456789abcdef".into(),
            ..RunRow::default()
        }
    }

    #[test]
    fn the_table_shows_walk_refs_small_ratios_and_only_the_settings_that_differ() {
        use super::table;
        let none = "none";
        // One TLB, one huge setting: no setting columns, no TLB counters.
        let same = [
            row("x86-64", none, "off", 4_000, 1_000),
            row("hashed", none, "off", 1_000, 1_000),
        ];
        assert_eq!(
            table(&same),
            "\
trace     design  translations  walk_refs  refs/xlat  p50  p99  max  faults  table_pages  table_KiB  load  M acc/s    digest
--------  ------  ------------  ---------  ---------  ---  ---  ---  ------  -----------  ---------  ----  -------  --------
t.lackey  x86-64         1,000      4,000      4.000    4    4    4       3            4         16     -     12.3  01234567
t.lackey  hashed         1,000      1,000      1.000    4    4    4       3            4         16     -     12.3  01234567
"
        );
        // Two TLBs and two huge settings: a column for each, and the TLB counters; a ratio of
        // 4 references in 12,410 translations keeps its digits.
        let tiny = ptbench_tlb::presets()
            .into_iter()
            .find(|p| p.name == "tiny")
            .unwrap()
            .spec
            .to_string();
        let differ = [
            row("x86-64", none, "off", 4_000, 12_410),
            row("x86-64", &tiny, "2m", 4, 12_410),
        ];
        assert_eq!(
            table(&differ),
            "\
trace     design  tlb   huge  tlb_misses  walks  translations  walk_refs  refs/xlat  p50  p99  max  faults  table_pages  table_KiB  load  M acc/s    digest
--------  ------  ----  ----  ----------  -----  ------------  ---------  ---------  ---  ---  ---  ------  -----------  ---------  ----  -------  --------
t.lackey  x86-64  none  off        1,000  1,000        12,410      4,000      0.322    4    4    4       3            4         16     -     12.3  01234567
t.lackey  x86-64  tiny  2m             1      1        12,410          4    3.22e-4    4    4    4       3            4         16     -     12.3  01234567
"
        );
    }

    #[test]
    fn ratios_keep_three_significant_digits() {
        use super::significant;
        assert_eq!(significant(0.0), "0");
        assert_eq!(significant(0.000_322_4), "3.22e-4");
        assert_eq!(significant(0.0123), "1.23e-2");
        assert_eq!(significant(0.1234), "0.123");
        assert_eq!(significant(4.0), "4.000");
        assert_eq!(significant(1234.5678), "1234.568");
    }

    #[test]
    fn default_max_access_is_one_gib() {
        assert_eq!(
            super::parse_count("1g", true).unwrap(),
            ptbench_replay::DEFAULT_MAX_ACCESS_BYTES
        );
    }
}
