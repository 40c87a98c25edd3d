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
}

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

/// The Markdown page (charts linked as `NAME.png` beside it).
pub fn markdown(info: &PageInfo, charts: &[Chart], rows: &[RunRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", info.title);
    let _ = writeln!(
        s,
        "Made by {} on {} from `{}` ({} rows).\n\nMachine: {}.\n",
        info.version,
        info.date,
        info.results,
        rows.len(),
        info.machine
    );
    let _ = writeln!(s, "## Charts\n");
    for c in charts {
        match (&c.svg, &c.skipped) {
            (Some(_), _) => {
                let _ = writeln!(
                    s,
                    "### {}\n\n{}\n\n![{}]({}.png)\n\n([SVG]({}.svg))\n",
                    c.title, c.caption, c.title, c.name, c.name
                );
            }
            (None, why) => {
                let _ = writeln!(
                    s,
                    "- *{}*: not drawn: {}.\n",
                    c.title,
                    why.as_deref().unwrap_or("no data")
                );
            }
        }
    }
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(s, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(s, "|{}|", COLUMNS.map(|_| "---").join("|"));
    for r in rows {
        let _ = writeln!(
            s,
            "| {} |",
            cells(r).map(|c| c.replace('|', "\\|")).join(" | ")
        );
    }
    if let Some(e) = &info.experiment {
        let _ = writeln!(s, "\n## Experiment\n\n```toml\n{}\n```", e.trim_end());
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
    let _ = write!(s, "<h2>Results</h2>\n<table>\n<tr>");
    for c in COLUMNS {
        let _ = write!(s, "<th>{}</th>", esc(c));
    }
    let _ = writeln!(s, "</tr>");
    for r in rows {
        let _ = write!(s, "<tr>");
        for c in cells(r) {
            let _ = write!(s, "<td>{}</td>", esc(&c));
        }
        let _ = writeln!(s, "</tr>");
    }
    let _ = writeln!(s, "</table>");
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
        assert!(m.contains("![A <chart>](a.png)"));
        assert!(m.contains("| x.ptbt | x86-64 |"));
    }
}
