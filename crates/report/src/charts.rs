//! Charts of results rows (plotters), each drawn twice from the same code: SVG (text left to the
//! viewer's fonts) and PNG (text drawn with the DejaVu Sans font built into the binary, so a fresh
//! machine with no fonts renders it). A chart whose data the rows lack is skipped with the reason,
//! never drawn empty. Charts are a view of the CSV: they never rerun anything.

use crate::RunRow;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Once;

/// Width and height of every chart, in pixels.
pub const SIZE: (u32, u32) = (960, 540);

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Colours that stay distinct on white and for common colour-vision deficiencies (Okabe-Ito,
/// then a few more).
const COLOURS: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
    RGBColor(120, 120, 120),
    RGBColor(150, 80, 40),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// One chart: drawn, or skipped with the reason.
#[derive(Clone, Debug)]
pub struct Chart {
    /// File stem (`refs_per_translation`, ...).
    pub name: String,
    /// Title.
    pub title: String,
    /// What it shows, in a sentence, for the report page.
    pub caption: String,
    /// The SVG text, when drawn.
    pub svg: Option<String>,
    /// Why it was not drawn.
    pub skipped: Option<String>,
}

type Draw<'a> = dyn Fn(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String> + 'a;
type DrawSvg<'a> = dyn Fn(&DrawingArea<SVGBackend, Shift>) -> Result<(), String> + 'a;

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn file_name(trace: &str) -> String {
    Path::new(trace)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| trace.to_string())
}

/// The settings part of a row's cell key beyond trace, design and TLB (OS settings, huge pages).
fn base_row(r: &RunRow) -> bool {
    r.tlb == "none" && r.huge == "off" && !pressured(r)
}

/// Entries of the TLB level that bounds its reach: the L2 if there is one, else the (data) L1.
pub fn tlb_entries(spec: &str) -> Option<u64> {
    let find = |key: &str| {
        spec.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.split('x').next()?.parse::<u64>().ok())?
        })
    };
    find("l2").or_else(|| find("l1d")).or_else(|| find("l1"))
}

/// Parses `refs:walks;...` into (refs, walks) pairs.
pub fn histogram(text: &str) -> Vec<(u64, u64)> {
    text.split(';')
        .filter_map(|p| {
            let (a, b) = p.split_once(':')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

/// Distinct values in first-seen order.
fn distinct<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = Vec::new();
    for s in it {
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

fn render(
    name: &str,
    png: &Path,
    draw: &Draw<'_>,
    draw_svg: &DrawSvg<'_>,
) -> Result<String, String> {
    register_font();
    {
        let root = BitMapBackend::new(png, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root)?;
        root.present().map_err(|e| format!("{name}.png: {e}"))?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw_svg(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// The same drawing function for both backends.
macro_rules! both {
    ($f:ident($($arg:expr),*)) => {
        (
            &(|a: &DrawingArea<BitMapBackend, Shift>| $f(a, $($arg),*)) as &Draw<'_>,
            &(|a: &DrawingArea<SVGBackend, Shift>| $f(a, $($arg),*)) as &DrawSvg<'_>,
        )
    };
}

fn emit(
    out: &mut Vec<Chart>,
    dir: &Path,
    name: String,
    title: String,
    caption: String,
    result: Result<(&Draw<'_>, &DrawSvg<'_>), String>,
) {
    let (svg, skipped) = match result {
        Ok((d, s)) => match render(&name, &dir.join(format!("{name}.png")), d, s) {
            Ok(svg) => match std::fs::write(dir.join(format!("{name}.svg")), &svg) {
                Ok(()) => (Some(svg), None),
                Err(e) => (None, Some(format!("cannot write {name}.svg: {e}"))),
            },
            Err(e) => (None, Some(format!("drawing failed: {e}"))),
        },
        Err(why) => (None, Some(why)),
    };
    out.push(Chart {
        name,
        title,
        caption,
        svg,
        skipped,
    });
}

/// Draws every chart the rows support into `dir` (`NAME.svg` and `NAME.png`); returns them all,
/// the skipped ones with their reasons.
pub fn render_all(rows: &[RunRow], dir: &Path) -> Vec<Chart> {
    let mut out = Vec::new();
    // 1. References per translation by design, a group of bars per trace: without TLBs, and
    //    behind each TLB hierarchy of the results (huge pages off).
    let mut tlbs = distinct(
        rows.iter()
            .filter(|r| r.huge == "off")
            .map(|r| r.tlb.as_str()),
    );
    // The TLBs most designs ran behind (a sweep of STLB sizes over a few designs has its own chart).
    let designs_behind = |t: &str| {
        distinct(
            rows.iter()
                .filter(|r| r.tlb == t && r.huge == "off")
                .map(|r| r.design.as_str()),
        )
        .len()
    };
    tlbs.sort_by_key(|t| (*t != "none", std::cmp::Reverse(designs_behind(t))));
    let most = tlbs.iter().map(|t| designs_behind(t)).max().unwrap_or(0);
    tlbs.retain(|t| designs_behind(t) == most);
    for (i, tlb) in tlbs.iter().take(3).enumerate() {
        let sel: Vec<&RunRow> = rows
            .iter()
            .filter(|r| r.huge == "off" && r.tlb == *tlb && !pressured(r))
            .collect();
        let name = if i == 0 && *tlb == "none" {
            "refs_per_translation".to_string()
        } else {
            format!("refs_per_translation_tlb{i}")
        };
        let title = if *tlb == "none" {
            "Memory references per translation, no TLB".to_string()
        } else {
            format!(
                "Memory references per translation behind the TLB {}",
                short_tlb(tlb)
            )
        };
        let caption = format!(
            "Page-table entries read per translated page (walk_refs / translations), by design, for each trace{}.",
            if *tlb == "none" { ": every translation walks" } else { "" }
        );

        emit(
            &mut out,
            dir,
            name,
            title.clone(),
            caption,
            Ok(both!(bars(&title, &sel))),
        );
    }
    if tlbs.is_empty() {
        emit(
            &mut out,
            dir,
            "refs_per_translation".into(),
            "Memory references per translation".into(),
            String::new(),
            Err("no rows with huge pages off".into()),
        );
    }

    // 2. TLB miss rate against TLB entries, a line per design, per trace.
    let traces = distinct(rows.iter().map(|r| r.trace.as_str()));
    let mut drew_tlb = false;
    for trace in &traces {
        let sel: Vec<&RunRow> = rows
            .iter()
            .filter(|r| r.trace == *trace && r.huge == "off" && !pressured(r))
            .filter(|r| tlb_entries(&r.tlb).is_some())
            .collect();
        let xs = distinct(sel.iter().map(|r| r.tlb.as_str()));
        let sizes: std::collections::BTreeSet<u64> =
            sel.iter().filter_map(|r| tlb_entries(&r.tlb)).collect();
        if xs.len() < 2 || sizes.len() < 2 {
            continue;
        }
        drew_tlb = true;
        let name = format!("tlb_miss_rate_{}", slug(trace));
        let title = format!("TLB miss rate against TLB entries: {}", file_name(trace));

        emit(
            &mut out,
            dir,
            name,
            title.clone(),
            "Translations that missed every TLB level (tlb_misses / translations) against the entries of the TLB level that bounds its reach (the L2 where there is one), a line per design. Every design translates alike, so the lines coincide unless huge pages or a page size set them apart; what a miss costs is in the references-per-translation charts.".into(),
            Ok(both!(miss_rate(&title, &sel))),
        );
    }
    if !drew_tlb {
        emit(
            &mut out,
            dir,
            "tlb_miss_rate".into(),
            "TLB miss rate against TLB entries".into(),
            String::new(),
            Err("the results have no trace replayed under two or more TLB sizes".into()),
        );
    }

    // 3. Page-table bytes against footprint, log-log, a line per design.
    let sel: Vec<&RunRow> = rows.iter().filter(|r| base_row(r)).collect();
    let footprints: std::collections::BTreeSet<u64> = sel
        .iter()
        .map(|r| r.distinct_pages * r.page_bytes)
        .collect();
    let title = "Page-table size against footprint".to_string();

    let caption = "Bytes of page table at the end of each trace against the bytes of distinct pages it touched (log-log), a line per design, without huge pages.".to_string();
    if footprints.len() < 2 {
        let why = "fewer than two footprints (traces) without TLB and huge pages";
        emit(
            &mut out,
            dir,
            "table_bytes".into(),
            title,
            caption,
            Err(why.into()),
        );
    } else {
        let result = Ok(both!(table_bytes(&title, &sel)));
        emit(
            &mut out,
            dir,
            "table_bytes".into(),
            title.clone(),
            caption,
            result,
        );
    }

    // 4. The distribution of references per walk, per trace.
    let mut drew_cdf = false;
    for trace in &traces {
        let sel: Vec<&RunRow> = rows
            .iter()
            .filter(|r| r.trace == *trace && base_row(r) && !r.walk_refs_histogram.is_empty())
            .collect();
        if sel.is_empty() {
            continue;
        }
        drew_cdf = true;
        let name = format!("walk_refs_cdf_{}", slug(trace));
        let title = format!("References per walk: {}", file_name(trace));

        emit(
            &mut out,
            dir,
            name,
            title.clone(),
            "The fraction of walks that read at most N page-table entries (a CDF from each design's histogram), without TLB and huge pages.".into(),
            Ok(both!(cdf(&title, &sel))),
        );
    }
    if !drew_cdf {
        emit(
            &mut out,
            dir,
            "walk_refs_cdf".into(),
            "References per walk".into(),
            String::new(),
            Err("no rows without TLB and huge pages carry a walk_refs_histogram".into()),
        );
    }

    // 5. Page faults against frames, a line per replacement policy.
    let mut drew_faults = false;
    for trace in &traces {
        let sel: Vec<&RunRow> = rows
            .iter()
            .filter(|r| r.trace == *trace && r.tlb == "none" && r.huge == "off")
            .filter(|r| pressured(r))
            .collect();
        // One design is enough: every design has the same faults.
        let Some(first) = sel.first().map(|r| r.design.clone()) else {
            continue;
        };
        let sel: Vec<&RunRow> = sel.into_iter().filter(|r| r.design == first).collect();
        let frames: std::collections::BTreeSet<u64> =
            sel.iter().filter_map(|r| frames(r)).collect();
        if frames.len() < 2 {
            continue;
        }
        drew_faults = true;
        let name = format!("faults_vs_frames_{}", slug(trace));
        let title = format!("Page faults against frames: {}", file_name(trace));

        emit(
            &mut out,
            dir,
            name,
            title.clone(),
            "Page faults against the frames of physical memory for data pages, a line per replacement policy (every design faults alike).".into(),
            Ok(both!(faults(&title, &sel))),
        );
    }
    if !drew_faults {
        emit(
            &mut out,
            dir,
            "faults_vs_frames".into(),
            "Page faults against frames".into(),
            String::new(),
            Err("the results have no trace replayed at two or more frame counts".into()),
        );
    }
    out
}

/// The row's data-frame limit (the `frames` column), if it ran under one.
fn frames(r: &RunRow) -> Option<u64> {
    (r.frames > 0).then_some(r.frames)
}

/// Whether the row ran under a memory limit.
fn pressured(r: &RunRow) -> bool {
    frames(r).is_some()
}

fn slug(s: &str) -> String {
    file_name(s)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `L1I 128x8, L1D 64x4, L2 1536x12` from a TLB spec's level keys.
fn short_tlb(spec: &str) -> String {
    let parts: Vec<String> = spec
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let name = match k {
                "l1" => "L1",
                "l1i" => "L1I",
                "l1d" => "L1D",
                "l2" => "L2",
                "pwc" => "PWC",
                _ => return None,
            };
            Some(format!("{name} {v}"))
        })
        .collect();
    if parts.is_empty() {
        spec.to_string()
    } else {
        parts.join(", ")
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[&RunRow],
) -> Result<(), String> {
    let traces = distinct(rows.iter().map(|r| r.trace.as_str()));
    let designs = distinct(rows.iter().map(|r| r.design.as_str()));
    let ymax = rows
        .iter()
        .map(|r| r.refs_per_translation)
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.45;
    let n = traces.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..n, 0f64..ymax)
        .map_err(err)?;
    let labels = traces.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(traces.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < labels.len() {
                file_name(labels[i])
            } else {
                String::new()
            }
        })
        .y_desc("memory references per translation")
        .y_label_formatter(&|v| Unit::Fraction.show(*v))
        .x_desc("trace")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    let w = 0.8 / designs.len().max(1) as f64;
    for (j, d) in designs.iter().enumerate() {
        let c = colour(j);
        let rects: Vec<Rectangle<(f64, f64)>> = rows
            .iter()
            .filter(|r| r.design == *d)
            .filter_map(|r| {
                let i = traces.iter().position(|t| *t == r.trace)? as f64;
                let x0 = i + 0.1 + j as f64 * w;
                Some(Rectangle::new(
                    [(x0, 0.0), (x0 + w * 0.92, r.refs_per_translation)],
                    c.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(rects)
            .map_err(err)?
            .label(d.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// How an axis prints its values.
#[derive(Copy, Clone)]
enum Unit {
    /// `4 KiB`, `1 GiB`.
    Bytes,
    /// `1,536`, a log axis by powers of 10.
    Count,
    /// `1,536`, a log axis by powers of 2 (TLB sizes are).
    Entries,
    /// `0.25`.
    Fraction,
}

impl Unit {
    /// Bytes step by powers of 2 on a log axis (1 KiB, 4 KiB, ...), counts by powers of 2 too
    /// (TLB sizes are), fractions by 10.
    fn log_base(self) -> f64 {
        match self {
            Unit::Bytes | Unit::Entries => 2.0,
            Unit::Count | Unit::Fraction => 10.0,
        }
    }

    fn show(self, v: f64) -> String {
        match self {
            Unit::Bytes => {
                let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
                let mut v = v;
                let mut u = 0;
                while v >= 1024.0 && u + 1 < units.len() {
                    v /= 1024.0;
                    u += 1;
                }
                if (v - v.round()).abs() < 0.05 {
                    format!("{:.0} {}", v, units[u])
                } else {
                    format!("{:.1} {}", v, units[u])
                }
            }
            Unit::Count | Unit::Entries => crate::thousands(v.round().max(0.0) as u64),
            Unit::Fraction if v != 0.0 && v.abs() < 0.01 => format!("{v:.1e}"),
            Unit::Fraction => {
                let t = format!("{v:.3}");
                t.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        }
    }
}

fn lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
    axes: (&str, &str),
    log: (bool, bool),
    units: (Unit, Unit),
    legend: SeriesLabelPosition,
) -> Result<(), String> {
    let pts = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in pts {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if x0 > x1 {
        return Err("no points".into());
    }
    let pad = |lo: f64, hi: f64, log: bool| {
        if log {
            let lo = lo.max(1e-12);
            (lo / 1.5, hi.max(lo) * 1.5)
        } else if hi - lo < 1e-12 {
            (lo - 1.0, hi + 1.0)
        } else {
            (lo - (hi - lo) * 0.04, hi + (hi - lo) * 0.06)
        }
    };
    let (x0, x1) = pad(x0, x1, log.0);
    let (y0, y1) = pad(if log.1 { y0 } else { y0.min(0.0) }, y1, log.1);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(80);
    macro_rules! finish {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(axes.0)
                .y_desc(axes.1)
                .x_label_formatter(&|v| units.0.show(*v))
                .y_label_formatter(&|v| units.1.show(*v))
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 15))
                .draw()
                .map_err(err)?;
            for (i, (label, p)) in series.iter().enumerate() {
                let c = colour(i);
                chart
                    .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))
                    .map_err(err)?
                    .label(label.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                    });
                chart
                    .draw_series(p.iter().map(|pt| Circle::new(*pt, 3, c.filled())))
                    .map_err(err)?;
            }
            chart
                .configure_series_labels()
                .position(legend.clone())
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(err)?;
        }};
    }
    match log {
        (true, true) => finish!(builder
            .build_cartesian_2d(
                (x0..x1).log_scale().base(units.0.log_base()),
                (y0..y1).log_scale().base(units.1.log_base())
            )
            .map_err(err)?),
        (true, false) => finish!(builder
            .build_cartesian_2d((x0..x1).log_scale().base(units.0.log_base()), y0..y1)
            .map_err(err)?),
        (false, true) => finish!(builder
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale().base(units.1.log_base()))
            .map_err(err)?),
        (false, false) => finish!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?),
    }
    Ok(())
}

fn by<'a, K: Ord + Clone>(
    rows: &[&'a RunRow],
    key: impl Fn(&RunRow) -> K,
) -> BTreeMap<K, Vec<&'a RunRow>> {
    let mut m: BTreeMap<K, Vec<&RunRow>> = BTreeMap::new();
    for r in rows {
        m.entry(key(r)).or_default().push(r);
    }
    m
}

fn miss_rate<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[&RunRow],
) -> Result<(), String> {
    let designs = distinct(rows.iter().map(|r| r.design.as_str()));
    let series: Vec<(String, Vec<(f64, f64)>)> = designs
        .iter()
        .map(|d| {
            let mut p: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.design == *d)
                .filter_map(|r| {
                    Some((
                        tlb_entries(&r.tlb)? as f64,
                        r.tlb_misses as f64 / r.translations.max(1) as f64,
                    ))
                })
                .collect();
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
            (d.to_string(), p)
        })
        .collect();
    lines(
        area,
        title,
        &series,
        (
            "TLB entries (L2, or L1 without an L2), log scale",
            "TLB miss rate (misses per translation)",
        ),
        (true, false),
        (Unit::Entries, Unit::Fraction),
        SeriesLabelPosition::UpperRight,
    )
}

fn table_bytes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[&RunRow],
) -> Result<(), String> {
    let groups = by(rows, |r| r.design.clone());
    let order = distinct(rows.iter().map(|r| r.design.as_str()));
    let series: Vec<(String, Vec<(f64, f64)>)> = order
        .iter()
        .filter_map(|d| {
            let rs = groups.get(*d)?;
            let mut p: Vec<(f64, f64)> = rs
                .iter()
                .map(|r| {
                    (
                        (r.distinct_pages * r.page_bytes) as f64,
                        r.table_bytes.max(1) as f64,
                    )
                })
                .collect();
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
            Some((d.to_string(), p))
        })
        .collect();
    lines(
        area,
        title,
        &series,
        (
            "footprint: distinct pages touched, in bytes (log scale)",
            "page-table size (log scale)",
        ),
        (true, true),
        (Unit::Bytes, Unit::Bytes),
        SeriesLabelPosition::UpperLeft,
    )
}

fn cdf<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[&RunRow],
) -> Result<(), String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = rows
        .iter()
        .map(|r| {
            let h = histogram(&r.walk_refs_histogram);
            let total: u64 = h.iter().map(|(_, c)| c).sum();
            let mut acc = 0u64;
            let mut p = Vec::new();
            let mut prev = 0.0;
            for (v, c) in h {
                // A step: flat up to v, then up.
                p.push((v as f64, prev));
                acc += c;
                prev = acc as f64 / total.max(1) as f64;
                p.push((v as f64, prev));
            }
            (r.design.clone(), p)
        })
        .collect();
    lines(
        area,
        title,
        &series,
        (
            "memory references in one walk",
            "fraction of walks at or below",
        ),
        (false, false),
        (Unit::Count, Unit::Fraction),
        SeriesLabelPosition::LowerRight,
    )
}

fn faults<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[&RunRow],
) -> Result<(), String> {
    let policies = distinct(rows.iter().map(|r| r.policy.as_str()));
    let series: Vec<(String, Vec<(f64, f64)>)> = policies
        .iter()
        .map(|pol| {
            let mut p: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.policy == *pol)
                .filter_map(|r| Some((frames(r)? as f64, r.page_faults as f64)))
                .collect();
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
            (pol.to_string(), p)
        })
        .collect();
    lines(
        area,
        title,
        &series,
        (
            "frames of physical memory for data pages",
            "page faults (log scale)",
        ),
        (false, true),
        (Unit::Count, Unit::Count),
        SeriesLabelPosition::UpperRight,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlb_reach_and_histograms_parse() {
        assert_eq!(
            tlb_entries("l1i=64x4,l1d=64x4,l2=1536x12,repl=lru"),
            Some(1536)
        );
        assert_eq!(tlb_entries("l1=16x4,repl=lru"), Some(16));
        assert_eq!(tlb_entries("none"), None);
        assert_eq!(histogram("1:2;4:10"), vec![(1, 2), (4, 10)]);
        assert_eq!(histogram(""), vec![]);
    }

    fn row(trace: &str, design: &str, tlb: &str, pages: u64, misses: u64) -> RunRow {
        RunRow {
            trace: trace.into(),
            design: design.into(),
            tlb: tlb.into(),
            huge: "off".into(),
            translations: 1000,
            tlb_misses: misses,
            walk_refs: 4 * misses,
            refs_per_translation: 4.0 * misses as f64 / 1000.0,
            distinct_pages: pages,
            page_bytes: 4096,
            table_bytes: pages * 8 + 4096,
            walk_refs_histogram: format!("1:1;4:{}", misses.max(1)),
            cell: format!("trace={trace}|design={design}|tlb={tlb}|huge=off"),
            ..RunRow::default()
        }
    }

    #[test]
    fn charts_are_drawn_or_skipped_with_a_reason() {
        let d = tempfile::tempdir().unwrap();
        let mut rows = Vec::new();
        for (t, pages) in [("a.ptbt", 100), ("b.ptbt", 1000)] {
            for design in ["x86-64", "hashed"] {
                rows.push(row(t, design, "none", pages, 1000));
                for e in [16, 64] {
                    rows.push(row(
                        t,
                        design,
                        &format!("l1={e}x4,repl=lru"),
                        pages,
                        1000 / e,
                    ));
                }
            }
        }
        let charts = render_all(&rows, d.path());
        let drawn: Vec<&str> = charts
            .iter()
            .filter(|c| c.svg.is_some())
            .map(|c| c.name.as_str())
            .collect();
        assert!(drawn.contains(&"refs_per_translation"), "{drawn:?}");
        assert!(drawn.contains(&"tlb_miss_rate_a_ptbt"), "{drawn:?}");
        assert!(drawn.contains(&"table_bytes"), "{drawn:?}");
        assert!(drawn.contains(&"walk_refs_cdf_b_ptbt"), "{drawn:?}");
        let skipped: Vec<&Chart> = charts.iter().filter(|c| c.svg.is_none()).collect();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].name, "faults_vs_frames");
        assert!(skipped[0]
            .skipped
            .as_ref()
            .unwrap()
            .contains("frame counts"));
        for name in &drawn {
            let png = std::fs::read(d.path().join(format!("{name}.png"))).unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{name}");
            let svg = std::fs::read_to_string(d.path().join(format!("{name}.svg"))).unwrap();
            assert!(svg.contains("<svg") && svg.contains("x86-64"), "{name}");
        }
    }
}
