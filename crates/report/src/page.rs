//! The report page of a results file: `report.md` (charts as PNG links) and `report.html`, one
//! self-contained file (SVGs inline, no scripts or styles fetched from anywhere) with the
//! experiment, the charts, the results table, the machine and the ptbench version.

use crate::charts::Chart;
use crate::{thousands, RunRow};
use std::fmt::Write as _;

/// What the page says besides the results.
#[derive(Clone, Debug, Default)]
pub struct PageInfo {
    /// The title (the experiment's name).
    pub title: String,
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

/// The columns of the results table on the page.
const COLUMNS: [&str; 10] = [
    "trace",
    "design",
    "tlb",
    "huge",
    "translations",
    "refs/xlat",
    "tlb misses",
    "faults",
    "table KiB",
    "M acc/s",
];

fn cells(r: &RunRow) -> [String; 10] {
    let name = std::path::Path::new(&r.trace)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| r.trace.clone());
    [
        name,
        r.design.clone(),
        r.tlb.clone(),
        r.huge.clone(),
        thousands(r.translations),
        format!("{:.4}", r.refs_per_translation),
        thousands(r.tlb_misses),
        thousands(r.page_faults),
        thousands(r.table_bytes / 1024),
        format!("{:.1}", r.accesses_per_second / 1e6),
    ]
}

/// The Markdown page (charts linked as `NAME.png` beside it). Every name is escaped (see
/// [`md`]) and the experiment sits in a fence no line of it can close.
pub fn markdown(info: &PageInfo, charts: &[Chart], rows: &[RunRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", md(&info.title));
    let _ = writeln!(
        s,
        "Made by {} on {} from {} ({} rows).\n\nMachine: {}.\n",
        md(&info.version),
        md(&info.date),
        md(&info.results),
        rows.len(),
        md(&info.machine)
    );
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
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(s, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(s, "|{}|", COLUMNS.map(|_| "---").join("|"));
    for r in rows.iter().take(MAX_TABLE_ROWS) {
        let _ = writeln!(s, "| {} |", cells(r).map(|c| md(&c)).join(" | "));
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
body {{ font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 1000px; padding: 0 1em; color: #222; }}
h1 {{ margin-bottom: 0.2em; }} .meta {{ color: #555; }}
figure {{ margin: 2em 0; }} figure svg {{ width: 100%; height: auto; border: 1px solid #ddd; }}
figcaption {{ color: #444; margin-top: 0.4em; }}
table {{ border-collapse: collapse; font-size: 0.85em; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.25em 0.5em; text-align: right; }}
th:nth-child(-n+4), td:nth-child(-n+4) {{ text-align: left; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
.skipped {{ color: #777; }}
</style></head><body>
<h1>{title}</h1>
<p class="meta">Made by {version} on {date} from <code>{results}</code> ({n} rows).<br>Machine: {machine}.</p>
<h2>Charts</h2>
"#,
        title = esc(&info.title),
        version = esc(&info.version),
        date = esc(&info.date),
        results = esc(&info.results),
        n = rows.len(),
        machine = esc(&info.machine)
    );
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
    let _ = write!(s, "<h2>Results</h2>\n<table>\n<tr>");
    for c in COLUMNS {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    let _ = writeln!(s, "</tr>");
    for r in rows.iter().take(MAX_TABLE_ROWS) {
        let _ = write!(s, "<tr>");
        for c in cells(r) {
            let _ = write!(s, "<td>{}</td>", esc(&c));
        }
        let _ = writeln!(s, "</tr>");
    }
    let _ = writeln!(s, "</table>");
    if let Some(cut) = table_cut(info, rows.len()) {
        let _ = writeln!(s, "<p>{}</p>", esc(&cut));
    }
    if let Some(e) = &info.experiment {
        let _ = writeln!(s, "<h2>Experiment</h2>\n<pre>{}</pre>", esc(e.trim_end()));
    }
    let _ = writeln!(s, "</body></html>");
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
        assert!(h.contains("<td>x.ptbt</td><td>x86-64</td>"));
        assert!(h.contains("name = &quot;T&quot;"));
        let m = markdown(&info, &charts, &rows);
        assert!(m.contains("![A &lt;chart&gt;](a.png)"));
        assert!(m.contains("| x.ptbt | x86-64 |"));
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
