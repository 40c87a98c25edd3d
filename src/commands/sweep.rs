//! `ptbench sweep`: run an experiment's cross product of traces and configurations.

use super::{parse_count, plural, reader_options, start_workers};
use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ptbench_slurm::{write_scripts, SlurmOptions};
use ptbench_sweep::{Experiment, Progress, Shard, SweepOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The end of `ptbench sweep --help`.
pub const AFTER_HELP: &str = "Examples:\n  \
    ptbench sweep experiments/default.toml\n  \
    ptbench sweep my.toml --out results/my --jobs 2\n  \
    ptbench sweep my.toml --out results/my --resume\n  \
    ptbench sweep my.toml --out results/part0 --shard 0/4   (then: ptbench merge results/part*)\n  \
    ptbench sweep my.toml --emit-slurm /scratch/me/run1 --shards 8 --partition short --time 1:00:00\n\n\
    An experiment file names traces (paths, globs, or `ptbench gen` parameters) and axes (designs\n\
    with parameter lists, TLB specs, huge-page policies); every combination is a cell. Each trace\n\
    is decoded once and fanned out to its cells in parallel; results are the same for any --jobs.\n\
    Cells run in waves of a few groups each (designs that see the same TLB hits and misses share\n\
    one front end), so the simulator state held at once stays near --memory-limit whatever the\n\
    number of cells; a trace is read once per wave.\n\
    OUT/results.csv gains each wave's rows as soon as they finish, so an interrupted sweep keeps\n\
    them and --resume runs only the missing cells. Charts and a report page go under OUT unless\n\
    --no-report (`ptbench report` makes them from any results file).\n\n\
    --emit-slurm DIR runs nothing: it writes DIR/array.sbatch (a Slurm job array, task I running\n\
    --shard I/N into DIR/shard-I), DIR/merge.sbatch (ptbench merge into DIR/merged, and the report)\n\
    and DIR/submit.sh, which submits both, the merge as a job that starts when every shard\n\
    succeeded (--dependency=afterok). `DIR/submit.sh --wait` waits for the merge;\n\
    `DIR/submit.sh --wait --shards 2` reruns shard 2 alone, then merges again.";

#[derive(clap::Args)]
pub struct SweepArgs {
    /// The experiment file (TOML).
    experiment: PathBuf,
    /// The directory of results (default: reports/NAME, NAME the experiment's name).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replaying threads (default: one per core; at most 4 per core). With 2 or more the trace is
    /// decoded on a thread of its own beside them; with 1, one thread decodes and replays.
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Run only the cells missing from OUT/results.csv.
    #[arg(long)]
    resume: bool,
    /// Start over, replacing earlier results in OUT.
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Run only the I-th (from 0) of N disjoint slices of the cells, balanced by estimated work.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Read every trace as this format instead of detecting it.
    #[arg(long)]
    format: Option<String>,
    /// Count and skip malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// drmemtrace traces: replay software prefetches as one-byte reads at their addresses
    /// (they are counted either way; skipped by default).
    #[arg(long)]
    prefetches: bool,
    /// The most bytes one access may span (see `ptbench run --help`).
    #[arg(long, value_name = "SIZE", default_value = "1g")]
    max_access: String,
    /// Give every design its own TLBs and OS model (see `ptbench run --help`): the same results,
    /// slower.
    #[arg(long)]
    no_shared_front_end: bool,
    /// About the most simulator state the sweep holds at once (k, m, g: KiB, MiB, GiB; default
    /// 384m per job): a trace's cells run in waves that fit it, estimated from the trace's
    /// distinct pages (192 bytes per page per front end, 128 per design that shares one); a
    /// larger limit runs more cells per reading of a trace.
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
    /// Write results only: no charts and report page.
    #[arg(long)]
    no_report: bool,
    /// List the cells (key per line) and exit.
    #[arg(long)]
    list: bool,
    /// Run nothing: write Slurm scripts (a job array of --shards tasks, a dependent merge, and
    /// submit.sh) into DIR, which also receives the results (DIR/shard-I, DIR/merged).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["shard", "resume", "force", "list", "out"])]
    emit_slurm: Option<PathBuf>,
    /// With --emit-slurm: the number of shards, array tasks (default: 4, at most one per cell).
    #[arg(long, value_name = "N", requires = "emit_slurm")]
    shards: Option<u32>,
    /// With --emit-slurm: the Slurm partition (#SBATCH --partition).
    #[arg(long, value_name = "P", requires = "emit_slurm")]
    partition: Option<String>,
    /// With --emit-slurm: the time limit of each task (#SBATCH --time), such as 30, 1:00:00, 1-12.
    #[arg(long, value_name = "T", requires = "emit_slurm")]
    time: Option<String>,
    /// With --emit-slurm: the memory of each task (#SBATCH --mem), such as 4G.
    #[arg(long, value_name = "M", requires = "emit_slurm")]
    mem: Option<String>,
    /// With --emit-slurm: the job name (the merge job adds -merge; default: ptbench-NAME).
    #[arg(long, value_name = "NAME", requires = "emit_slurm")]
    job_name: Option<String>,
}

/// The default number of shards of `--emit-slurm`.
const DEFAULT_SHARDS: u32 = 4;

/// Runs `ptbench sweep`.
pub fn exec(args: SweepArgs) -> Result<()> {
    let exp = Experiment::load(&args.experiment)?;
    if args.list {
        for c in &exp.cells {
            outln!("{}", c.key);
        }
        return Ok(());
    }
    if let Some(dir) = &args.emit_slurm {
        return emit_slurm(&args, &exp, dir);
    }
    start_workers(args.jobs)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(&exp.name));
    let shard = args.shard.unwrap_or(Shard { index: 0, count: 1 });
    // One command at a time writes into OUT: held until the report is written.
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let _lock = ptbench_output::DirLock::acquire(&out, "--out")?;
    let mut stale = 0;
    for dir in [out.clone(), out.join("cache")] {
        stale += ptbench_output::remove_stale_temporaries(&dir)
            .with_context(|| {
                format!(
                    "cleaning temporary files of killed runs in {}",
                    dir.display()
                )
            })?
            .len();
    }
    if stale > 0 {
        eprintln!(
            "ptbench: note: removed {} left in {} by a killed run",
            plural(stale as u64, "temporary file", "temporary files"),
            out.display()
        );
    }
    if args.force || args.resume {
        // The results change: the old page and charts would describe results that are gone.
        let removed = ptbench_report::stale::remove_report(&out)
            .with_context(|| format!("removing the old report in {}", out.display()))?;
        if !removed.is_empty() {
            eprintln!(
                "ptbench: note: removed the report of the earlier results ({}) from {}{}",
                plural(removed.len() as u64, "file", "files"),
                out.display(),
                if args.no_report {
                    "; `ptbench report` makes a new one"
                } else {
                    "; a new one is written when the sweep finishes"
                }
            );
        }
    }
    let opts = SweepOptions {
        out: out.clone(),
        resume: args.resume,
        force: args.force,
        shard,
        reader: reader_options(args.format.as_deref(), args.skip_bad_lines, args.prefetches)?,
        max_access_bytes: parse_count(&args.max_access, true).context("--max-access")?,
        no_shared_front_end: args.no_shared_front_end,
        memory_limit: match &args.memory_limit {
            Some(s) => parse_count(s, true).context("--memory-limit")?,
            None => (rayon::current_num_threads() as u64).saturating_mul(384 << 20),
        },
    };
    let progress = Bars::new(exp.traces.len());
    ptbench_output::on_interrupt(progress.interrupt_note());
    let start = Instant::now();
    let summary = ptbench_sweep::run(&exp, &opts, &progress)?;
    progress.finish();
    eprintln!(
        "ptbench: sweep {}{}: {} of {} run in {:.1} s{}; results in {}",
        exp.name,
        if shard.count > 1 {
            format!(" shard {shard}")
        } else {
            String::new()
        },
        plural(summary.ran as u64, "cell", "cells"),
        summary.cells,
        start.elapsed().as_secs_f64(),
        if summary.resumed > 0 {
            format!(" ({} done before)", summary.resumed)
        } else {
            String::new()
        },
        summary.results.display()
    );
    if !args.no_report && shard.count == 1 {
        super::report::make(&summary.results, &out)?;
    }
    match summary.failures.len() {
        0 => Ok(()),
        n => bail!(
            "{} failed (the other cells' rows are written):\n  {}",
            plural(n as u64, "cell", "cells"),
            summary.failures.join("\n  ")
        ),
    }
}

/// `--emit-slurm DIR`: writes the Slurm scripts and tells what they will run.
fn emit_slurm(args: &SweepArgs, exp: &Experiment, dir: &Path) -> Result<()> {
    if args.format.is_some() || args.skip_bad_lines || args.max_access != "1g" || args.no_report {
        bail!("--emit-slurm writes scripts that run the sweep with the default reading options and a report: drop --format, --skip-bad-lines, --max-access and --no-report");
    }
    let cells = exp.cells.len();
    if cells == 0 {
        bail!("the experiment has no cells: nothing to run on Slurm");
    }
    let max = u32::try_from(cells).unwrap_or(u32::MAX);
    let shards = match args.shards {
        Some(0) => bail!("--shards must be at least 1"),
        Some(n) if n > max => bail!(
            "--shards {n} is more than the experiment's {}: a shard would have nothing to run",
            plural(cells as u64, "cell", "cells")
        ),
        Some(n) => n,
        None => DEFAULT_SHARDS.min(max),
    };
    let job_name = args.job_name.clone().unwrap_or_else(|| {
        let name: String = format!("ptbench-{}", exp.name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+') {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect();
        name
    });
    let mut opts = SlurmOptions::new(shards, &job_name)?;
    if let Some(p) = &args.partition {
        opts = opts.with_partition(p)?;
    }
    if let Some(t) = &args.time {
        opts = opts.with_time(t)?;
    }
    if let Some(m) = &args.mem {
        opts = opts.with_mem(m)?;
    }
    // Absolute paths: the jobs run from wherever sbatch is called, maybe on another node.
    let bin = std::env::current_exe().context("finding the path of this ptbench")?;
    let bin = bin.canonicalize().unwrap_or(bin);
    let experiment = args
        .experiment
        .canonicalize()
        .with_context(|| format!("{}", args.experiment.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    let bin_text = bin
        .to_str()
        .with_context(|| format!("the path of ptbench {bin:?} is not UTF-8"))?;
    let written = write_scripts(&dir, &opts, bin_text, &experiment, &dir)?;

    let slices = ptbench_sweep::shards(exp, shards);
    let work = ptbench_sweep::cell_work(exp);
    let total: u128 = work.iter().map(|&w| u128::from(w)).sum::<u128>().max(1);
    outln!(
        "Slurm scripts for sweep {} ({}, {} shards balanced by estimated work):",
        exp.name,
        plural(cells as u64, "cell", "cells"),
        shards
    );
    for p in &written {
        outln!("  {}", p.display());
    }
    outln!("Estimated work per shard (trace bytes or generated accesses x 16, per cell):");
    for (i, slice) in slices.iter().enumerate() {
        let w: u128 = slice.iter().map(|&c| u128::from(work[c])).sum();
        outln!(
            "  shard {i}/{shards}: {:>4} cells, work {:>16} ({:5.1}%)",
            slice.len(),
            w,
            100.0 * w as f64 / total as f64
        );
    }
    let submit = shell_word(&dir.join("submit.sh").to_string_lossy());
    outln!("Submit (the merge waits for every shard; --wait waits for the merge):");
    outln!("  {submit} --wait");
    outln!(
        "Results: {}/shard-I per shard, merged with the report into {}/merged",
        dir.display(),
        dir.display()
    );
    outln!("Rerun failed shards alone, then merge again: {submit} --wait --shards 1,3");
    Ok(())
}

/// `s` as one shell word: unchanged when plain, single-quoted otherwise.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | ',' | ':' | '=')
        })
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Progress on a terminal (a bar per trace and one overall), or a line every few seconds on
/// stderr otherwise.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    bars: Mutex<Vec<Option<ProgressBar>>>,
    bytes: Vec<AtomicU64>,
    totals: Vec<AtomicU64>,
    /// Cells per trace: a trace's bytes count once per cell that replays them.
    weights: Vec<AtomicU64>,
    accesses: Vec<AtomicU64>,
    terminal: bool,
    last_line: Mutex<Instant>,
    start: Instant,
    traces_done: AtomicU64,
    cells_done: Arc<AtomicU64>,
    plan: Arc<Mutex<Option<ptbench_sweep::Plan>>>,
}

impl Bars {
    fn new(traces: usize) -> Bars {
        let terminal = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template(
                "{prefix:>24} [{bar:30}] {percent:>3}% of the work, {msg} ({eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        overall.set_prefix("all traces");
        Bars {
            multi,
            overall,
            bars: Mutex::new(vec![None; traces]),
            bytes: (0..traces).map(|_| AtomicU64::new(0)).collect(),
            totals: (0..traces).map(|_| AtomicU64::new(0)).collect(),
            weights: (0..traces).map(|_| AtomicU64::new(1)).collect(),
            accesses: (0..traces).map(|_| AtomicU64::new(0)).collect(),
            terminal,
            last_line: Mutex::new(Instant::now()),
            start: Instant::now(),
            traces_done: AtomicU64::new(0),
            cells_done: Arc::new(AtomicU64::new(0)),
            plan: Arc::new(Mutex::new(None)),
        }
    }

    /// What an interrupted sweep keeps, for the signal handler: `12 of 18 cells kept in
    /// OUT/results.csv; rerun with --resume to run the other 6`.
    fn interrupt_note(&self) -> impl Fn() -> String + Send + 'static {
        let (done, plan) = (Arc::clone(&self.cells_done), Arc::clone(&self.plan));
        move || {
            let plan = plan.lock().ok().and_then(|p| p.clone());
            let Some(p) = plan else {
                return "interrupted before any cell ran; nothing was lost".to_string();
            };
            let kept = p.done_before + done.load(Ordering::Relaxed) as usize;
            format!(
                "interrupted: {kept} of {} cells kept in {}; rerun with --resume to run the other {}",
                p.cells,
                p.results.display(),
                p.cells.saturating_sub(kept)
            )
        }
    }

    /// Bytes read and to read, each trace's counted once per cell it replays through.
    fn work(&self) -> (u64, u64) {
        let (mut done, mut total) = (0u64, 0u64);
        for ((b, t), w) in self.bytes.iter().zip(&self.totals).zip(&self.weights) {
            let w = w.load(Ordering::Relaxed);
            done = done.saturating_add(b.load(Ordering::Relaxed).saturating_mul(w));
            total = total.saturating_add(t.load(Ordering::Relaxed).saturating_mul(w));
        }
        (done, total.max(done))
    }

    fn sum(v: &[AtomicU64]) -> u64 {
        v.iter().map(|a| a.load(Ordering::Relaxed)).sum()
    }

    fn update_overall(&self) {
        let (done, total) = self.work();
        let acc = Self::sum(&self.accesses);
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        self.overall.set_length(total);
        self.overall.set_position(done);
        self.overall
            .set_message(format!("{:.1} M accesses/s", acc as f64 / secs / 1e6));
        if !self.terminal {
            let Ok(mut last) = self.last_line.lock() else {
                return;
            };
            if last.elapsed() >= Duration::from_secs(5) {
                *last = Instant::now();
                let started = self
                    .bytes
                    .iter()
                    .filter(|t| t.load(Ordering::Relaxed) > 0)
                    .count();
                let pending = self
                    .plan
                    .lock()
                    .ok()
                    .and_then(|p| p.as_ref().map(|p| p.traces.len()));
                eprintln!(
                    "ptbench: sweep: {} of {} traces done, {} replaying, {:.0}% of the work done, {} cells done; {} trace accesses read, {:.1} M/s; {:.0} s",
                    self.traces_done.load(Ordering::Relaxed),
                    pending.unwrap_or(self.bytes.len()),
                    started.saturating_sub(self.traces_done.load(Ordering::Relaxed) as usize),
                    100.0 * done as f64 / total.max(1) as f64,
                    self.cells_done.load(Ordering::Relaxed),
                    ptbench_report::thousands(acc),
                    acc as f64 / secs / 1e6,
                    secs
                );
            }
        }
    }

    fn finish(&self) {
        self.overall.finish_and_clear();
    }
}

impl Progress for Bars {
    fn planned(&self, plan: &ptbench_sweep::Plan) {
        for &(t, bytes, cells) in &plan.traces {
            if let (Some(total), Some(w)) = (self.totals.get(t), self.weights.get(t)) {
                total.store(bytes, Ordering::Relaxed);
                w.store(cells as u64, Ordering::Relaxed);
            }
        }
        if let Ok(mut p) = self.plan.lock() {
            *p = Some(plan.clone());
        }
        self.update_overall();
    }

    fn trace_started(&self, trace: usize, id: &str, bytes: u64, cells: usize) {
        self.totals[trace].store(bytes, Ordering::Relaxed);
        let bar = self.multi.add(super::progress_bar(bytes, id, true));
        let name = std::path::Path::new(id)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| id.to_string());
        bar.set_prefix(format!("{name} x{cells}"));
        if let Ok(mut b) = self.bars.lock() {
            b[trace] = Some(bar);
        }
        self.update_overall();
    }

    fn trace_progress(&self, trace: usize, bytes: u64, accesses: u64) {
        self.bytes[trace].store(bytes, Ordering::Relaxed);
        self.accesses[trace].store(accesses, Ordering::Relaxed);
        if let Ok(b) = self.bars.lock() {
            if let Some(bar) = &b[trace] {
                bar.set_position(bytes);
                bar.set_message(format!("{} accesses", ptbench_report::thousands(accesses)));
            }
        }
        self.update_overall();
    }

    fn wave_done(&self, _trace: usize, cells: usize) {
        self.cells_done.fetch_add(cells as u64, Ordering::Relaxed);
        self.update_overall();
    }

    fn trace_done(&self, trace: usize, cells: usize) {
        self.traces_done.fetch_add(1, Ordering::Relaxed);
        self.cells_done.fetch_add(cells as u64, Ordering::Relaxed);
        let total = self.totals[trace].load(Ordering::Relaxed);
        self.bytes[trace].store(total, Ordering::Relaxed);
        if let Ok(mut b) = self.bars.lock() {
            if let Some(bar) = b[trace].take() {
                bar.finish_and_clear();
            }
        }
        self.update_overall();
    }

    fn note(&self, text: &str) {
        let _ = self.multi.println(format!("ptbench: {text}"));
        if !self.terminal {
            eprintln!("ptbench: {text}");
        }
    }
}
