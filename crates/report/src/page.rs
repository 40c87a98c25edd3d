//! The report page of a results file: `report.md` (charts as PNG links) and `report.html`, one
//! self-contained file (SVGs inline, no scripts or styles fetched from anywhere; one small inline
//! script sorts the results table, and the page reads fully without it). Top to bottom: the
//! experiment's name and description, the verdict (per trace and condition the cheapest and the
//! costliest design and by how much, and sentences from those numbers, see [`crate::findings`]),
//! the charts, the results table (only the columns that vary; the others said once above it),
//! the experiment file, the machine and the ptbench version.

use crate::charts::{has_cache, trace_labels, CacheNames, Chart, TlbNames};
use crate::findings::{self, Finding, Metric};
use crate::{thousands, RunRow};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// What the page says besides the results.
#[derive(Clone, Debug, Default)]
pub struct PageInfo {
    /// The title (the experiment's name).
    pub title: String,
    /// The experiment's description, shown under the title.
    pub description: Option<String>,
    /// Names of TLB specs (the presets), for labels.
    pub tlbs: TlbNames,
    /// Names of cache specs (the presets), for labels.
    pub caches: CacheNames,
    /// The experiment file's text, when known.
    pub experiment: Option<String>,
    /// The results file the page was made from.
    pub results: String,
    /// The machine: CPU, cores, memory, OS.
    pub machine: String,
    /// `ptbench X.Y.Z`.
    pub version: String,
    /// When it was made (UTC).
    pub date: String,
    /// What the charts leave out and why, a sentence each (see [`crate::charts::Charts`]).
    pub notes: Vec<String>,
}

/// Whether `text` is a `report.html` ptbench wrote (its `<title>`).
pub fn is_report_html(text: &str) -> bool {
    text.starts_with("<!DOCTYPE html>")
        && text
            .lines()
            .take(8)
            .any(|l| l.starts_with("<title>") && l.ends_with(" - ptbench report</title>"))
}

/// Whether `text` is a `report.md` ptbench wrote (its line `Made by ptbench ...`).
pub fn is_report_md(text: &str) -> bool {
    text.lines()
        .take(12)
        .any(|l| l.starts_with("Made by ptbench"))
}

/// The results table on the page shows at most this many rows (the results file holds all).
pub const MAX_TABLE_ROWS: usize = 1000;

/// The machine as `/proc` describes it (Linux), or what `std` knows elsewhere.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let kb: u64 = l
                    .strip_prefix("MemTotal:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB", kb as f64 / (1u64 << 20) as f64))
            })
        })
        .unwrap_or_else(|| "unknown memory".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_string());
    format!("{cpu}, {cores} cores, {mem}, {kernel}")
}

/// `s` as Markdown text that shows as written: line breaks and other control characters become
/// spaces (a newline would end a heading or a table row), `&`, `<` and `>` become entities (no
/// raw HTML), and Markdown's punctuation is escaped with a backslash.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if c.is_control() => out.push(' '),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '!' | '|'
            | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A code fence for `text`: backticks, one more than the longest run of them in it (at least 3),
/// so no line of the text can close it.
pub fn fence(text: &str) -> String {
    let (mut run, mut longest) = (0usize, 0usize);
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

/// The line under the results table when it shows only some of the rows.
fn table_cut(info: &PageInfo, n: usize) -> Option<String> {
    (n > MAX_TABLE_ROWS).then(|| {
        format!(
            "The table shows the first {} of {} rows; {} holds all.",
            thousands(MAX_TABLE_ROWS as u64),
            thousands(n as u64),
            info.results
        )
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Whether `s` can sit in a Markdown code span as it is: letters, digits and `:=,._-` and spaces
/// (anything else is escaped as text instead).
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, ':' | '=' | ',' | '.' | '_' | '-' | ' ')
        })
}

/// A sentence whose `code` spans (between backticks) stay code: Markdown.
fn md_sentence(s: &str) -> String {
    if s.matches('`').count() % 2 == 1 {
        return md(s);
    }
    s.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 && plain(part) {
                format!("`{part}`")
            } else {
                md(part)
            }
        })
        .collect()
}

/// A sentence whose `code` spans become `<code>`: HTML.
fn html_sentence(s: &str) -> String {
    if s.matches('`').count() % 2 == 1 {
        return esc(s);
    }
    s.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", esc(part))
            } else {
                esc(part)
            }
        })
        .collect()
}

/// One cell of a table: the text shown, the value it sorts by (numbers), and a title shown on
/// hover (the full TLB spec or trace).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// What the cell shows.
    pub text: String,
    /// The number it sorts by, for numeric columns.
    pub sort: Option<f64>,
    /// The full value, where the text is a short label.
    pub title: Option<String>,
    /// Shown as code (design names).
    pub code: bool,
    /// Text after it, never code (a value after design names).
    pub suffix: String,
}

impl Cell {
    fn text(s: impl Into<String>) -> Cell {
        Cell {
            text: s.into(),
            ..Cell::default()
        }
    }
}

/// The verdict table: one row per (trace, condition), with the fewest and the most references
/// per translation, and, on the first row of each (trace, huge pages, OS settings), the
/// smallest and the largest page table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows: the trace (empty on a trace's later rows), the condition, then the numbers.
    pub rows: Vec<Vec<Cell>>,
    /// Sentences from the numbers (design names between backticks).
    pub sentences: Vec<String>,
    /// The line under the table when it covers only some of the traces.
    pub cut: Option<String>,
}

/// The verdict table covers at most this many traces (the first in the results).
pub const MAX_VERDICT_TRACES: usize = 24;

/// The verdict of `rows` (see [`Verdict`]); empty when no two designs ran under one condition.
pub fn verdict(rows: &[RunRow], tlbs: &TlbNames, caches: &CacheNames) -> Verdict {
    // Designs are compared native; nested designs against their guests, in sentences of their own.
    let all_rows = rows;
    let native: Vec<RunRow> = rows
        .iter()
        .filter(|r| crate::charts::is_native_comparison(r))
        .cloned()
        .collect();
    let rows = native.as_slice();
    let found = findings::findings(rows);
    let mut sentences = findings::sentences(rows, &found, caches);
    sentences.extend(findings::nested_sentences(all_rows, tlbs));
    sentences.extend(findings::thp_sentences(all_rows));
    sentences.extend(findings::core_sentences(all_rows));
    let cycles: Vec<&Finding> = found
        .iter()
        .filter(|f| f.metric == Metric::CyclesPerTranslation)
        .collect();
    let has_cycles = !cycles.is_empty();
    let placements = findings::first_seen(cycles.iter().map(|f| f.placement.as_str()));
    let cache_part = |f: &Finding| {
        let mut s = format!("cache {}", caches.label(&f.cache));
        if placements.len() > 1 || f.placement != "os" {
            s.push_str(&format!(" ({} placement)", f.placement));
        }
        s
    };
    let all_traces: Vec<&str> = {
        let mut seen = std::collections::HashSet::new();
        rows.iter()
            .map(|r| r.trace.as_str())
            .filter(|t| seen.insert(*t))
            .collect()
    };
    let traces: Vec<&str> = all_traces
        .iter()
        .take(MAX_VERDICT_TRACES)
        .copied()
        .collect();
    let mut by_trace: HashMap<&str, Vec<&Finding>> = HashMap::new();
    for f in &found {
        by_trace.entry(f.trace.as_str()).or_default().push(f);
    }
    let trace_label = trace_labels(&traces);
    let specs: Vec<&str> = found
        .iter()
        .filter(|f| {
            f.metric == Metric::RefsPerTranslation || f.metric == Metric::CyclesPerTranslation
        })
        .map(|f| f.tlb.as_str())
        .collect();
    let tlb_label = tlbs.labels(&specs);
    let varies = |key: fn(&RunRow) -> &str| {
        rows.first()
            .is_some_and(|a| rows.iter().any(|r| key(r) != key(a)))
    };
    let huge_varies = varies(|r| r.huge.as_str());
    let default_os = findings::most_common(rows.iter().map(|r| r.os.as_str()));
    let usual: HashSet<&str> = default_os.split(',').collect();
    let condition = |tlb: Option<&str>, f: &Finding| {
        let mut parts = Vec::new();
        if let Some(t) = tlb {
            parts.push(tlb_label.get(t).cloned().unwrap_or_else(|| tlbs.label(t)));
        }
        if huge_varies {
            parts.push(format!("huge {}", f.huge));
        }
        if f.os != default_os {
            // Only the settings that differ from the usual ones (`frames=128`), breakable.
            let differ: Vec<&str> = f.os.split(',').filter(|kv| !usual.contains(kv)).collect();
            parts.push(if differ.is_empty() {
                f.os.replace(',', ", ")
            } else {
                differ.join(", ")
            });
        }
        parts.join(", ")
    };
    let pair = |f: &Finding| -> [Cell; 3] {
        let (lo, hi) = findings::show_pair(f.metric, f.cheapest.1, f.costliest.1);
        if f.cheapest.1 == f.costliest.1 {
            return [
                Cell {
                    text: format!("all {} designs: {lo}", f.designs),
                    sort: Some(f.cheapest.1),
                    ..Cell::default()
                },
                Cell::text("-"),
                Cell::text("-"),
            ];
        }
        let apart = match f.factor() {
            Some(x) => Cell {
                text: findings::times(x),
                sort: Some(x),
                ..Cell::default()
            },
            None => Cell::text("-"),
        };
        let names = |all: &[String], first: &str| match all.len() {
            0 | 1 => first.to_string(),
            2 | 3 => all.join(", "),
            n => format!("{n} designs"),
        };
        [
            Cell {
                text: names(&f.cheapest_all, &f.cheapest.0),
                suffix: format!(" {lo}"),
                sort: Some(f.cheapest.1),
                code: true,
                ..Cell::default()
            },
            Cell {
                text: names(&f.costliest_all, &f.costliest.0),
                suffix: format!(" {hi}"),
                sort: Some(f.costliest.1),
                code: true,
                ..Cell::default()
            },
            apart,
        ]
    };
    let blank = || [Cell::text(""), Cell::text(""), Cell::text("")];
    let mut out = Vec::new();
    for t in &traces {
        let of: Vec<&Finding> = by_trace.get(t).cloned().unwrap_or_default();
        let refs: Vec<&Finding> = of
            .iter()
            .copied()
            .filter(|f| f.metric == Metric::RefsPerTranslation)
            .collect();
        let tables: Vec<&Finding> = of
            .iter()
            .copied()
            .filter(|f| f.metric == Metric::TableBytes)
            .collect();
        // Rows in order: huge pages and OS settings as they come, TLBs within them.
        let mut groups: Vec<(&str, &str)> = Vec::new();
        for f in &of {
            if !groups.contains(&(f.huge.as_str(), f.os.as_str())) {
                groups.push((f.huge.as_str(), f.os.as_str()));
            }
        }
        let mut first = true;
        for (huge, os) in groups {
            let table = tables.iter().find(|f| f.huge == huge && f.os == os);
            let mut table_cells = table.map(|f| pair(f));
            let in_group: Vec<&&Finding> = refs
                .iter()
                .filter(|f| f.huge == huge && f.os == os)
                .collect();
            let mut emit = |cond: String, cells: Vec<Cell>, table: [Cell; 3]| {
                let mut row = vec![
                    Cell {
                        text: if first {
                            trace_label.get(t).cloned().unwrap_or_default()
                        } else {
                            String::new()
                        },
                        title: first.then(|| t.to_string()),
                        ..Cell::default()
                    },
                    Cell::text(cond),
                ];
                row.extend(cells);
                row.extend(table);
                out.push(row);
                first = false;
            };
            if has_cycles {
                // Per TLB: a row per cache configuration (cycles), the TLB's references on the
                // first of them; a TLB without cycles gets a row of references alone.
                let cycles_in: Vec<&&Finding> = of
                    .iter()
                    .filter(|f| f.metric == Metric::CyclesPerTranslation)
                    .filter(|f| f.huge == huge && f.os == os)
                    .collect();
                let mut tlbs: Vec<&str> = Vec::new();
                for f in cycles_in.iter().chain(&in_group) {
                    if !tlbs.contains(&f.tlb.as_str()) {
                        tlbs.push(f.tlb.as_str());
                    }
                }
                for tlb in tlbs {
                    let mut refs_cells = in_group.iter().find(|f| f.tlb == tlb).map(|f| pair(f));
                    let of_tlb: Vec<&&&Finding> =
                        cycles_in.iter().filter(|f| f.tlb == tlb).collect();
                    for f in &of_tlb {
                        let mut cells = pair(f).to_vec();
                        cells.extend(refs_cells.take().unwrap_or_else(blank));
                        let cond = format!("{}, {}", condition(Some(&f.tlb), f), cache_part(f));
                        emit(cond, cells, table_cells.take().unwrap_or_else(blank));
                    }
                    if let Some(r) = refs_cells.take() {
                        let f = in_group.iter().find(|f| f.tlb == tlb);
                        let cond = f.map(|f| condition(Some(&f.tlb), f)).unwrap_or_default();
                        let mut cells = blank().to_vec();
                        cells.extend(r);
                        emit(cond, cells, table_cells.take().unwrap_or_else(blank));
                    }
                }
                if let (Some(cells), Some(f)) = (table_cells.take(), table) {
                    let mut c = blank().to_vec();
                    c.extend(blank());
                    emit(condition(None, f), c, cells);
                }
                continue;
            }
            for f in &in_group {
                let cells = table_cells.take().unwrap_or_else(blank);
                emit(condition(Some(&f.tlb), f), pair(f).to_vec(), cells);
            }
            if let (Some(cells), Some(f)) = (table_cells.take(), table) {
                emit(condition(None, f), blank().to_vec(), cells);
            }
        }
    }
    let cut = (all_traces.len() > MAX_VERDICT_TRACES).then(|| {
        format!(
            "The table covers the first {MAX_VERDICT_TRACES} of {} traces.",
            thousands(all_traces.len() as u64)
        )
    });
    let mut headers: Vec<String> = ["Trace", "Condition"].map(String::from).to_vec();
    if has_cycles {
        headers.extend(["Fewest cycles/translation", "Most", "Apart"].map(String::from));
    }
    headers.extend(
        [
            "Fewest refs/translation",
            "Most",
            "Apart",
            "Smallest table",
            "Largest",
            "Apart",
        ]
        .map(String::from),
    );
    Verdict {
        cut,
        headers,
        rows: out,
        sentences,
    }
}

/// A column of the results table.
struct Column {
    header: &'static str,
    /// Text columns sort as text; the others by number.
    numeric: bool,
    cell: Box<dyn Fn(&RunRow) -> Cell>,
}

/// The results table: only the columns that vary across `rows` (the first [`MAX_TABLE_ROWS`]),
/// numbers with as many significant digits as it takes to print different values differently;
/// and the columns that are the same on every row, as `name value` pairs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultsTable {
    /// Headers of the columns shown.
    pub headers: Vec<String>,
    /// Whether each column shown is numeric (right-aligned, sorted by number).
    pub numeric: Vec<bool>,
    /// The rows.
    pub rows: Vec<Vec<Cell>>,
    /// The columns left out because every row has the same value, with the value.
    pub same: Vec<(String, String)>,
}

/// The fewest significant digits (3 at least) with which `show` prints the distinct values of
/// `vals` distinctly.
fn digits_for(vals: &[f64], show: impl Fn(f64, usize) -> String) -> usize {
    let mut distinct: Vec<f64> = vals.iter().copied().filter(|v| v.is_finite()).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    (3..=17)
        .find(|&d| {
            let mut shown: Vec<String> = distinct.iter().map(|v| show(*v, d)).collect();
            shown.sort();
            shown.dedup();
            shown.len() == distinct.len()
        })
        .unwrap_or(17)
}

/// The results table of `rows` (see [`ResultsTable`]); with a cache model on some row, also the
/// cache (its preset's name, the full spec on hover), the placement where it varies, and cycles
/// per translation.
pub fn results_table(rows: &[RunRow], tlbs: &TlbNames, caches: &CacheNames) -> ResultsTable {
    let shown = &rows[..rows.len().min(MAX_TABLE_ROWS)];
    let cached = shown.iter().any(has_cache);
    let cache_names = caches.clone();
    let cycles_digits = digits_for(
        &shown
            .iter()
            .map(|r| r.cycles_per_translation)
            .collect::<Vec<_>>(),
        findings::significant,
    );
    let traces: Vec<&str> = {
        let mut seen = std::collections::HashSet::new();
        shown
            .iter()
            .map(|r| r.trace.as_str())
            .filter(|t| seen.insert(*t))
            .collect()
    };
    let trace_label: HashMap<String, String> = trace_labels(&traces)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let specs: Vec<&str> = shown.iter().map(|r| r.tlb.as_str()).collect();
    let tlb_label: HashMap<String, String> = tlbs
        .labels(&specs)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let floats = |f: fn(&RunRow) -> f64| -> Vec<f64> { shown.iter().map(f).collect() };
    let refs_digits = digits_for(&floats(|r| r.refs_per_translation), findings::significant);
    let rate_digits = digits_for(
        &floats(|r| r.accesses_per_second / 1e6),
        findings::significant,
    );
    let bytes_digits = digits_for(&floats(|r| r.table_bytes as f64), findings::bytes_digits);
    let text = |f: fn(&RunRow) -> String| -> Box<dyn Fn(&RunRow) -> Cell> {
        Box::new(move |r| Cell::text(f(r)))
    };
    let count = |f: fn(&RunRow) -> u64| -> Box<dyn Fn(&RunRow) -> Cell> {
        Box::new(move |r| Cell {
            text: thousands(f(r)),
            sort: Some(f(r) as f64),
            ..Cell::default()
        })
    };
    // The OS settings beyond frames, policy and first touch (swap, ...): shown when they vary
    // more than those three.
    let os_keys: std::collections::HashSet<&str> = shown.iter().map(|r| r.os.as_str()).collect();
    let parts: std::collections::HashSet<(u64, &str, &str)> = shown
        .iter()
        .map(|r| (r.frames, r.policy.as_str(), r.first_touch.as_str()))
        .collect();
    let os_extra = os_keys.len() > parts.len();
    let mut columns: Vec<Column> = vec![
        Column {
            header: "trace",
            numeric: false,
            cell: Box::new(move |r| Cell {
                text: trace_label.get(&r.trace).cloned().unwrap_or_default(),
                title: Some(r.trace.clone()),
                ..Cell::default()
            }),
        },
        Column {
            header: "design",
            numeric: false,
            cell: Box::new(|r| Cell {
                text: r.design.clone(),
                code: true,
                ..Cell::default()
            }),
        },
        Column {
            header: "tlb",
            numeric: false,
            cell: Box::new(move |r| Cell {
                text: tlb_label.get(&r.tlb).cloned().unwrap_or_default(),
                title: (r.tlb != "none").then(|| r.tlb.clone()),
                ..Cell::default()
            }),
        },
    ];
    if cached {
        columns.push(Column {
            header: "cache",
            numeric: false,
            cell: Box::new(move |r| Cell {
                text: cache_names.label(&r.cache),
                title: has_cache(r).then(|| r.cache.clone()),
                ..Cell::default()
            }),
        });
        if shown.iter().any(|r| r.placement != shown[0].placement) {
            columns.push(Column {
                header: "placement",
                numeric: false,
                cell: text(|r| r.placement.clone()),
            });
        }
    }
    columns.extend([
        Column {
            header: "huge",
            numeric: false,
            cell: text(|r| r.huge.clone()),
        },
        Column {
            header: "page",
            numeric: true,
            cell: Box::new(|r| Cell {
                text: findings::bytes(r.page_bytes as f64),
                sort: Some(r.page_bytes as f64),
                ..Cell::default()
            }),
        },
        Column {
            header: "va bits",
            numeric: true,
            cell: count(|r| u64::from(r.va_bits)),
        },
        Column {
            header: "crossing",
            numeric: false,
            cell: text(|r| r.page_crossing.clone()),
        },
        Column {
            header: "frames",
            numeric: true,
            cell: Box::new(|r| Cell {
                text: if r.frames == 0 {
                    "unlimited".into()
                } else {
                    thousands(r.frames)
                },
                sort: Some(if r.frames == 0 {
                    f64::MAX
                } else {
                    r.frames as f64
                }),
                ..Cell::default()
            }),
        },
        Column {
            header: "policy",
            numeric: false,
            cell: text(|r| r.policy.clone()),
        },
        Column {
            header: "first touch",
            numeric: false,
            cell: text(|r| r.first_touch.clone()),
        },
    ]);
    if os_extra {
        columns.push(Column {
            header: "os",
            numeric: false,
            cell: text(|r| r.os.clone()),
        });
    }
    columns.push(Column {
        header: "translations",
        numeric: true,
        cell: count(|r| r.translations),
    });
    if cached {
        columns.push(Column {
            header: "cycles/xlat",
            numeric: true,
            cell: Box::new(move |r| Cell {
                text: findings::significant(r.cycles_per_translation, cycles_digits),
                sort: Some(r.cycles_per_translation),
                ..Cell::default()
            }),
        });
    }
    columns.extend([
        Column {
            header: "refs/xlat",
            numeric: true,
            cell: Box::new(move |r| Cell {
                text: findings::significant(r.refs_per_translation, refs_digits),
                sort: Some(r.refs_per_translation),
                ..Cell::default()
            }),
        },
        Column {
            header: "TLB misses",
            numeric: true,
            cell: count(|r| r.tlb_misses),
        },
        Column {
            header: "faults",
            numeric: true,
            cell: count(|r| r.page_faults),
        },
        Column {
            header: "table",
            numeric: true,
            cell: Box::new(move |r| Cell {
                text: findings::bytes_digits(r.table_bytes as f64, bytes_digits),
                sort: Some(r.table_bytes as f64),
                ..Cell::default()
            }),
        },
        Column {
            header: "M acc/s",
            numeric: true,
            cell: Box::new(move |r| Cell {
                text: findings::significant(r.accesses_per_second / 1e6, rate_digits),
                sort: Some(r.accesses_per_second),
                ..Cell::default()
            }),
        },
    ]);
    let mut table = ResultsTable::default();
    let all: Vec<Vec<Cell>> = columns
        .iter()
        .map(|c| shown.iter().map(|r| (c.cell)(r)).collect())
        .collect();
    let mut keep = Vec::new();
    for (c, cells) in columns.iter().zip(&all) {
        let same = cells
            .first()
            .is_some_and(|a| cells.iter().all(|b| b.text == a.text));
        if same && shown.len() > 1 {
            table
                .same
                .push((c.header.to_string(), cells[0].text.clone()));
        } else {
            keep.push(true);
            table.headers.push(c.header.to_string());
            table.numeric.push(c.numeric);
            continue;
        }
        keep.push(false);
    }
    table.rows = (0..shown.len())
        .map(|i| {
            all.iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(cells, _)| cells[i].clone())
                .collect()
        })
        .collect();
    table
}

/// A cell as Markdown: escaped, code spans for design names (escaped as text otherwise).
fn md_cell(c: &Cell) -> String {
    let text = if c.code && plain(&c.text) {
        format!("`{}`", c.text)
    } else {
        md(&c.text)
    };
    format!("{text}{}", md(&c.suffix))
}

/// A cell as HTML (`<td>`): escaped, with its sort value and title.
fn html_cell(c: &Cell, numeric: bool) -> String {
    let mut attrs = String::new();
    if let Some(v) = c.sort {
        let _ = write!(attrs, " data-v=\"{v}\"");
    }
    if let Some(t) = &c.title {
        let _ = write!(attrs, " title=\"{}\"", esc(t));
    }
    if numeric {
        attrs.push_str(" class=\"n\"");
    }
    let text = if c.code && !c.text.is_empty() {
        format!("<code>{}</code>", esc(&c.text))
    } else {
        esc(&c.text)
    };
    format!("<td{attrs}>{text}{}</td>", esc(&c.suffix))
}

/// `name value, name value` of the columns that are the same on every row.
fn same_line(same: &[(String, String)]) -> String {
    same.iter()
        .map(|(h, v)| format!("{h} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Markdown page (charts linked as `NAME.png` beside it). Every name is escaped (see
/// [`md`]) and the experiment sits in a fence no line of it can close.
pub fn markdown(info: &PageInfo, charts: &[Chart], rows: &[RunRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", md(&info.title));
    if let Some(d) = info.description.as_deref().filter(|d| !d.trim().is_empty()) {
        let _ = writeln!(s, "{}\n", md(d.trim()));
    }
    let _ = writeln!(
        s,
        "Made by {} on {} from {} ({} rows).\n\nMachine: {}.\n",
        md(&info.version),
        md(&info.date),
        md(&info.results),
        rows.len(),
        md(&info.machine)
    );
    let v = verdict(rows, &info.tlbs, &info.caches);
    if !v.sentences.is_empty() && v.rows.is_empty() {
        // Sentences of their own (nested designs, fragmentation) without a native comparison.
        let _ = writeln!(s, "## Verdict\n");
        for sentence in &v.sentences {
            let _ = writeln!(s, "{}\n", md_sentence(sentence));
        }
    }
    if !v.rows.is_empty() {
        let _ = writeln!(s, "## Verdict\n");
        for sentence in &v.sentences {
            let _ = writeln!(s, "{}\n", md_sentence(sentence));
        }
        let _ = writeln!(s, "| {} |", v.headers.join(" | "));
        let _ = writeln!(
            s,
            "|{}|",
            v.headers
                .iter()
                .enumerate()
                .map(|(i, _)| if i < 2 { "---" } else { "--:" })
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in &v.rows {
            let _ = writeln!(
                s,
                "| {} |",
                r.iter().map(md_cell).collect::<Vec<_>>().join(" | ")
            );
        }
        if let Some(cut) = &v.cut {
            let _ = writeln!(s, "\n{}", md(cut));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Charts\n");
    for c in charts {
        match (&c.svg, &c.skipped) {
            (Some(_), _) => {
                let _ = writeln!(
                    s,
                    "### {}\n\n{}\n\n![{}]({}.png)\n\n([SVG]({}.svg))\n",
                    md(&c.title),
                    md(&c.caption),
                    md(&c.title),
                    c.name,
                    c.name
                );
            }
            (None, why) => {
                let _ = writeln!(
                    s,
                    "- *{}*: not drawn: {}.\n",
                    md(&c.title),
                    md(why.as_deref().unwrap_or("no data"))
                );
            }
        }
    }
    if !info.notes.is_empty() {
        let _ = writeln!(s, "Left out of the charts:\n");
        for n in &info.notes {
            let _ = writeln!(s, "- {}.", md(n));
        }
        let _ = writeln!(s);
    }
    let t = results_table(rows, &info.tlbs, &info.caches);
    let _ = writeln!(s, "## Results\n");
    if !t.same.is_empty() {
        let _ = writeln!(s, "Same on every row: {}.\n", md(&same_line(&t.same)));
    }
    let _ = writeln!(s, "| {} |", t.headers.join(" | "));
    let _ = writeln!(
        s,
        "|{}|",
        t.numeric
            .iter()
            .map(|n| if *n { "--:" } else { "---" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in &t.rows {
        let _ = writeln!(
            s,
            "| {} |",
            r.iter().map(md_cell).collect::<Vec<_>>().join(" | ")
        );
    }
    if let Some(cut) = table_cut(info, rows.len()) {
        let _ = writeln!(s, "\n{}", md(&cut));
    }
    if let Some(e) = &info.experiment {
        let f = fence(e);
        let _ = writeln!(s, "\n## Experiment\n\n{f}toml\n{}\n{f}", e.trim_end());
    }
    s
}

/// Sorts a `table.sortable` by the column whose header is clicked (numbers by `data-v`), again
/// to reverse. The page reads fully without it.
const SORT_SCRIPT: &str = r#"<script>
document.querySelectorAll('table.sortable').forEach(function (t) {
  Array.prototype.forEach.call(t.tHead.rows[0].cells, function (h, i) {
    h.title = 'sort by ' + h.textContent;
    h.addEventListener('click', function () {
      var dir = h.dataset.dir === '1' ? -1 : 1;
      h.dataset.dir = String(dir);
      var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var key = function (r) { var c = r.cells[i]; return c.dataset.v !== undefined ? parseFloat(c.dataset.v) : c.textContent; };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        return dir * (typeof x === 'number' ? x - y : String(x).localeCompare(String(y), undefined, {numeric: true}));
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
</script>"#;

/// The self-contained HTML page.
pub fn html(info: &PageInfo, charts: &[Chart], rows: &[RunRow]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ptbench report</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 1120px; padding: 0 1em; color: #222; }}
h1 {{ margin-bottom: 0.2em; }} .meta {{ color: #555; }} .description {{ font-size: 1.05em; max-width: 60em; }}
figure {{ margin: 2em 0; }} figure svg {{ width: 100%; height: auto; border: 1px solid #ddd; }}
figcaption {{ color: #444; margin-top: 0.4em; overflow-wrap: anywhere; }}
p, li {{ overflow-wrap: anywhere; }}
.scroll {{ overflow: auto; max-height: 80vh; border: 1px solid #ddd; }}
table {{ border-collapse: collapse; font-size: 0.82em; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.2em 0.45em; text-align: left; white-space: nowrap; }}
th {{ background: #f3f3f3; position: sticky; top: 0; }}
table.verdict td, table.verdict th {{ white-space: normal; }}
table.results th, table.results td:not(.n) {{ white-space: normal; overflow-wrap: anywhere; min-width: 3em; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
table.sortable th {{ cursor: pointer; }}
td[title] {{ text-decoration: underline dotted #999; }}
code {{ font-size: 0.95em; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
.skipped {{ color: #777; }}
</style></head><body>
<h1>{title}</h1>
"#,
        title = esc(&info.title),
    );
    if let Some(d) = info.description.as_deref().filter(|d| !d.trim().is_empty()) {
        let _ = writeln!(s, "<p class=\"description\">{}</p>", esc(d.trim()));
    }
    let _ = writeln!(
        s,
        "<p class=\"meta\">Made by {version} on {date} from <code>{results}</code> ({n} rows).<br>Machine: {machine}.</p>",
        version = esc(&info.version),
        date = esc(&info.date),
        results = esc(&info.results),
        n = rows.len(),
        machine = esc(&info.machine)
    );
    let v = verdict(rows, &info.tlbs, &info.caches);
    if !v.sentences.is_empty() && v.rows.is_empty() {
        let _ = writeln!(s, "<h2>Verdict</h2>");
        for sentence in &v.sentences {
            let _ = writeln!(s, "<p>{}</p>", html_sentence(sentence));
        }
    }
    if !v.rows.is_empty() {
        let _ = writeln!(s, "<h2>Verdict</h2>");
        for sentence in &v.sentences {
            let _ = writeln!(s, "<p>{}</p>", html_sentence(sentence));
        }
        let _ = write!(
            s,
            "<div class=\"scroll\"><table class=\"verdict\">\n<thead><tr>"
        );
        for h in &v.headers {
            let _ = write!(s, "<th>{}</th>", esc(h));
        }
        let _ = writeln!(s, "</tr></thead>\n<tbody>");
        for r in &v.rows {
            let _ = write!(s, "<tr>");
            for (i, c) in r.iter().enumerate() {
                s.push_str(&html_cell(c, i >= 2));
            }
            let _ = writeln!(s, "</tr>");
        }
        let _ = writeln!(s, "</tbody></table></div>");
        if let Some(cut) = &v.cut {
            let _ = writeln!(s, "<p>{}</p>", esc(cut));
        }
    }
    let _ = writeln!(s, "<h2>Charts</h2>");
    for c in charts {
        match &c.svg {
            Some(svg) => {
                let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
                let _ = write!(
                    s,
                    "<figure class=\"chart\" id=\"{}\">\n{}\n<figcaption><b>{}</b>. {}</figcaption></figure>\n",
                    esc(&c.name),
                    body,
                    esc(&c.title),
                    esc(&c.caption)
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "<p class=\"skipped\"><i>{}</i>: not drawn: {}.</p>",
                    esc(&c.title),
                    esc(c.skipped.as_deref().unwrap_or("no data"))
                );
            }
        }
    }
    if !info.notes.is_empty() {
        let _ = writeln!(s, "<p>Left out of the charts:</p>\n<ul>");
        for n in &info.notes {
            let _ = writeln!(s, "<li>{}.</li>", esc(n));
        }
        let _ = writeln!(s, "</ul>");
    }
    let t = results_table(rows, &info.tlbs, &info.caches);
    let _ = writeln!(s, "<h2>Results</h2>");
    if !t.same.is_empty() {
        let _ = writeln!(s, "<p>Same on every row: {}.</p>", esc(&same_line(&t.same)));
    }
    let _ = write!(
        s,
        "<div class=\"scroll\"><table class=\"results sortable\">\n<thead><tr>"
    );
    for h in &t.headers {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    let _ = writeln!(s, "</tr></thead>\n<tbody>");
    for r in &t.rows {
        let _ = write!(s, "<tr>");
        for (c, n) in r.iter().zip(&t.numeric) {
            s.push_str(&html_cell(c, *n));
        }
        let _ = writeln!(s, "</tr>");
    }
    let _ = writeln!(s, "</tbody></table></div>");
    if let Some(cut) = table_cut(info, rows.len()) {
        let _ = writeln!(s, "<p>{}</p>", esc(&cut));
    }
    if let Some(e) = &info.experiment {
        let _ = writeln!(s, "<h2>Experiment</h2>\n<pre>{}</pre>", esc(e.trim_end()));
    }
    let _ = writeln!(s, "{SORT_SCRIPT}\n</body></html>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_charts_skips_and_rows() {
        let charts = vec![
            Chart {
                name: "a".into(),
                title: "A <chart>".into(),
                caption: "c".into(),
                svg: Some("<?xml version=\"1.0\"?><svg width=\"10\"></svg>".into()),
                skipped: None,
            },
            Chart {
                name: "b".into(),
                title: "B".into(),
                caption: String::new(),
                svg: None,
                skipped: Some("no data here".into()),
            },
        ];
        let rows = vec![RunRow {
            trace: "t/x.ptbt".into(),
            design: "x86-64".into(),
            translations: 1234,
            ..RunRow::default()
        }];
        let info = PageInfo {
            title: "T".into(),
            experiment: Some("name = \"T\"".into()),
            ..PageInfo::default()
        };
        let h = html(&info, &charts, &rows);
        assert_eq!(h.matches("<figure class=\"chart\"").count(), 1);
        assert!(h.contains("A &lt;chart&gt;"));
        assert!(
            !h.contains("<?xml"),
            "SVG inline without its XML declaration"
        );
        assert!(h.contains("not drawn: no data here"));
        assert!(h.contains("<td title=\"t/x.ptbt\">x.ptbt</td><td><code>x86-64</code></td>"));
        assert!(h.contains("name = &quot;T&quot;"));
        let m = markdown(&info, &charts, &rows);
        assert!(m.contains("![A &lt;chart&gt;](a.png)"));
        assert!(m.contains("| x.ptbt | `x86-64` |"));
    }

    #[test]
    fn the_results_table_shows_what_varies_with_enough_digits() {
        let row = |design: &str, refs: f64| RunRow {
            trace: "t/x.ptbt".into(),
            design: design.into(),
            tlb: "none".into(),
            huge: "off".into(),
            refs_per_translation: refs,
            page_bytes: 4096,
            ..RunRow::default()
        };
        let rows = vec![
            row("x86-64", 4.0),
            row("hashed", 1.00012),
            row("ecpt", 1.00013),
        ];
        let t = results_table(&rows, &TlbNames::default(), &CacheNames::default());
        assert_eq!(t.headers, ["design", "refs/xlat"]);
        assert_eq!(t.numeric, [false, true]);
        let refs: Vec<&str> = t.rows.iter().map(|r| r[1].text.as_str()).collect();
        assert_eq!(refs, ["4", "1.00012", "1.00013"]);
        assert_eq!(t.rows[1][1].sort, Some(1.00012));
        assert!(t
            .same
            .contains(&("trace".to_string(), "x.ptbt".to_string())));
        assert!(t.same.contains(&("tlb".to_string(), "no TLB".to_string())));
        assert!(t.same.contains(&("page".to_string(), "4 KiB".to_string())));
    }

    #[test]
    fn names_are_escaped_and_fences_outlast_backticks() {
        assert_eq!(
            md("a<b>&c\n# *x_y* [l](u) `c` | ~!+\\"),
            "a&lt;b&gt;&amp;c \\# \\*x\\_y\\* \\[l\\]\\(u\\) \\`c\\` \\| \\~\\!\\+\\\\"
        );
        assert_eq!(md("x86-64 l1=64x4.ptbt"), "x86-64 l1=64x4.ptbt");
        assert_eq!(fence("no ticks"), "```");
        assert_eq!(fence("a\n```\nb"), "````");
        assert_eq!(fence("`````"), "``````");
    }
}
