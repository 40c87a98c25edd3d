//! `ptbench report`: charts and a report page from any results file.

use anyhow::{Context, Result};
use ptbench_report::charts::{render_all, CacheNames, Charts, Options, TlbNames};
use ptbench_report::page::{html, is_report_html, is_report_md, machine, markdown, PageInfo};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// A results file (`ptbench run --csv`, `ptbench sweep`, `ptbench merge`).
    results: PathBuf,
    /// The directory of the charts and the page (default: the results file's directory).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Refuse results files with more rows than this (the rows are held in memory: about 1.6
    /// KiB each).
    #[arg(long, value_name = "N", default_value_t = MAX_ROWS)]
    max_rows: u64,
    /// Replace files under the charts' and pages' names in the output directory that ptbench did
    /// not write.
    #[arg(long)]
    force: bool,
}

/// The most rows `report` reads by default: a million rows took 6 s and 1.6 GB of memory.
pub const MAX_ROWS: u64 = 1_000_000;

/// Runs `ptbench report`.
pub fn exec(args: ReportArgs) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        args.results
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let _lock = ptbench_output::DirLock::acquire(&out, "--out")?;
    make_with(&args.results, &out, args.max_rows, args.force)
}

/// Draws the charts of `results` and writes `report.md` and `report.html` into `out`, refusing
/// results of more than [`MAX_ROWS`] rows.
pub fn make(results: &Path, out: &Path) -> Result<()> {
    make_with(results, out, MAX_ROWS, false)
}

/// The TLB presets' canonical specs and names, for labels.
pub fn tlb_names() -> TlbNames {
    TlbNames(
        ptbench_tlb::presets()
            .into_iter()
            .filter(|p| p.name != "none")
            .map(|p| (p.canonical(), p.name.to_string()))
            .collect(),
    )
}

/// The cache presets' canonical specs and names, for labels.
pub fn cache_names() -> CacheNames {
    CacheNames(
        ptbench_tlb::cache_presets()
            .into_iter()
            .filter(|p| p.name != "none")
            .map(|p| (p.spec.to_string(), p.name.to_string()))
            .collect(),
    )
}

/// The `name` and `description` of an experiment file's text (`None` where it has none, or is
/// not TOML).
pub fn title_of(experiment: &str) -> (Option<String>, Option<String>) {
    let Ok(t) = experiment.parse::<toml::Table>() else {
        return (None, None);
    };
    let get = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
    (get("name"), get("description"))
}

/// [`make`], refusing results of more than `max_rows` rows (counted before they are read), and
/// replacing files ptbench did not write when `force`.
pub fn make_with(results: &Path, out: &Path, max_rows: u64, force: bool) -> Result<()> {
    let limit = usize::try_from(max_rows).unwrap_or(usize::MAX);
    let rows = match ptbench_sweep::read_rows_at_most(results, limit) {
        Err(ptbench_sweep::SweepError::TooManyRows { limit, .. }) => anyhow::bail!(
            "{}: more than {} rows; report reads at most {} (--max-rows, at most {}; each row takes about 1.6 KiB of memory): raise it, or report a part of the results",
            results.display(),
            ptbench_report::thousands(limit as u64),
            ptbench_report::thousands(limit as u64),
            ptbench_report::thousands(ptbench_sweep::results::MAX_ROWS as u64)
        ),
        r => r?,
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let tlbs = tlb_names();
    let caches = cache_names();
    let Charts { charts, notes } = render_all(
        &rows,
        out,
        &Options {
            force,
            tlbs: tlbs.clone(),
            caches: caches.clone(),
        },
    )?;
    let experiment = ["experiment.toml"]
        .iter()
        .map(|n| results.parent().unwrap_or(Path::new(".")).join(n))
        .find_map(|p| std::fs::read_to_string(p).ok());
    let (name, description) = experiment.as_deref().map_or((None, None), title_of);
    let info = PageInfo {
        title: name.unwrap_or_else(|| "ptbench results".to_string()),
        description,
        tlbs,
        caches,
        experiment,
        results: results.display().to_string(),
        machine: machine(),
        version: format!("ptbench {}", env!("CARGO_PKG_VERSION")),
        date: utc_now(),
        notes,
    };
    let recognise = |p: &Path| {
        std::fs::read(p).is_ok_and(|b| {
            let head = String::from_utf8_lossy(&b[..b.len().min(4096)]).to_string();
            is_report_html(&head) || is_report_md(&head)
        })
    };
    for (name, text) in [
        ("report.md", markdown(&info, &charts, &rows)),
        ("report.html", html(&info, &charts, &rows)),
    ] {
        let path = out.join(name);
        let rules = ptbench_output::Rules {
            force,
            ..ptbench_output::Rules::new("--out", "a report page", &recognise)
        };
        let mut o = ptbench_output::Output::create(&path, &rules)?;
        o.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        o.commit()?;
    }
    let drawn = charts.iter().filter(|c| c.svg.is_some()).count();
    for c in charts.iter().filter(|c| c.svg.is_none()) {
        eprintln!(
            "ptbench: note: chart `{}` not drawn: {}",
            c.title,
            c.skipped.as_deref().unwrap_or("no data")
        );
    }
    for n in &info.notes {
        eprintln!("ptbench: note: {n}");
    }
    eprintln!(
        "ptbench: {drawn} charts (SVG and PNG), report.md and report.html in {}",
        out.display()
    );
    Ok(())
}

/// The date and time now, UTC, as `2026-12-02 04:21 UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}
