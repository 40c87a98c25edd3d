//! Charts of results rows (plotters), each drawn twice from the same code: SVG (text left to the
//! viewer's fonts) and PNG (text drawn with the DejaVu Sans font built into the binary, so a fresh
//! machine with no fonts renders it). A chart whose data the rows lack is skipped with the reason,
//! never drawn empty. Charts are a view of the CSV: they never rerun anything.

use crate::{RunRow, WriteError};
use image::codecs::png::PngEncoder;
use image::{ColorType, ImageEncoder};
use plotters::coord::Shift;
use plotters::prelude::*;
use ptbench_output::Rules;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Once;
use thiserror::Error;

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

/// Distinct values in first-seen order (linear time).
fn distinct<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: HashSet<&str> = HashSet::new();
    it.filter(|s| seen.insert(s)).collect()
}

/// Why charts could not be written.
#[derive(Debug, Error)]
pub enum ChartError {
    /// A chart file could not be written (see [`ptbench_output`]).
    #[error("chart {file}: {source}")]
    Write {
        /// The chart's file name (`table_bytes.png`).
        file: String,
        /// What failed.
        source: WriteError,
    },
    /// A PNG could not be encoded.
    #[error("chart {file}: cannot encode the PNG: {message}")]
    Encode {
        /// The chart's file name.
        file: String,
        /// What failed.
        message: String,
    },
}

/// The charts of a results file and the notes on what they leave out.
#[derive(Clone, Debug, Default)]
pub struct Charts {
    /// Every chart, drawn or skipped.
    pub charts: Vec<Chart>,
    /// What the charts leave out and why (rows with values that cannot be drawn, traces, designs
    /// and points beyond the caps), a sentence each.
    pub notes: Vec<String>,
}

/// Per-trace charts are drawn for at most this many traces (the first in the results' order),
/// and the bars and table-size charts show at most these traces.
pub const MAX_TRACES: usize = 24;
/// A chart draws at most this many series (designs, replacement policies).
pub const MAX_SERIES: usize = 12;
/// A series draws at most this many points (evenly thinned beyond).
pub const MAX_POINTS: usize = 400;
/// Rows named one by one in the notes on values left out; the rest are counted.
const MAX_NAMED_ROWS: usize = 10;

/// An existing chart file may be replaced: a PNG or an SVG (a file the user put there under a
/// chart's name is kept, with an error).
fn recognise_chart(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::Read::take(f, 256), &mut head);
    head.starts_with(b"\x89PNG") || head.starts_with(b"<svg") || head.starts_with(b"<?xml")
}

/// Writes one chart file atomically (a temporary file renamed into place).
fn write_file(dir: &Path, file: &str, bytes: &[u8]) -> Result<(), ChartError> {
    let rules = Rules::new("--out", "a chart", &recognise_chart);
    crate::write_with(&dir.join(file), &rules, |w| w.write_all(bytes)).map_err(|source| {
        ChartError::Write {
            file: file.to_string(),
            source,
        }
    })
}

/// Draws a chart into memory: the PNG's bytes and the SVG's text.
fn render(
    name: &str,
    draw: &Draw<'_>,
    draw_svg: &DrawSvg<'_>,
) -> Result<Result<(Vec<u8>, String), String>, ChartError> {
    register_font();
    let mut rgb = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        if let Err(e) = root.fill(&WHITE).map_err(err).and_then(|()| draw(&root)) {
            return Ok(Err(e));
        }
        if let Err(e) = root.present() {
            return Ok(Err(e.to_string()));
        }
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&rgb, SIZE.0, SIZE.1, ColorType::Rgb8)
        .map_err(|e| ChartError::Encode {
            file: format!("{name}.png"),
            message: e.to_string(),
        })?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        if let Err(e) = root
            .fill(&WHITE)
            .map_err(err)
            .and_then(|()| draw_svg(&root))
        {
            return Ok(Err(e));
        }
        if let Err(e) = root.present() {
            return Ok(Err(e.to_string()));
        }
    }
    Ok(Ok((png, svg)))
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

/// Draws a chart (or records why not) and writes `NAME.png` and `NAME.svg` into `dir`.
fn emit(
    out: &mut Vec<Chart>,
    dir: &Path,
    name: String,
    title: String,
    caption: String,
    result: Result<(&Draw<'_>, &DrawSvg<'_>), String>,
) -> Result<(), ChartError> {
    let (svg, skipped) = match result {
        Ok((d, s)) => match render(&name, d, s)? {
            Ok((png, svg)) => {
                write_file(dir, &format!("{name}.png"), &png)?;
                write_file(dir, &format!("{name}.svg"), svg.as_bytes())?;
                (Some(svg), None)
            }
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
    Ok(())
}

/// FNV-1a (64-bit) of `s`, folded to 32 bits: a fixed hash, the same on every run and machine.
fn fnv1a32(s: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

/// The file-name part of each trace's charts: its file name with every character but ASCII
/// letters and digits made `_`, and where two traces would share that, `_` and 8 hex digits of a
/// fixed hash of the whole trace key; any name still shared gets `_2`, `_3`, ... in order.
pub fn trace_keys<'a>(traces: &[&'a str]) -> HashMap<&'a str, String> {
    let mut per_slug: HashMap<String, usize> = HashMap::new();
    for t in traces {
        *per_slug.entry(slug(t)).or_default() += 1;
    }
    let mut used: HashSet<String> = HashSet::new();
    let mut keys = HashMap::new();
    for t in traces {
        let s = slug(t);
        let mut key = if per_slug.get(&s).copied().unwrap_or(0) > 1 {
            format!("{s}_{:08x}", fnv1a32(t))
        } else {
            s
        };
        let base = key.clone();
        let mut n = 1;
        while used.contains(&key) {
            n += 1;
            key = format!("{base}_{n}");
        }
        used.insert(key.clone());
        keys.insert(*t, key);
    }
    keys
}

/// The bytes of distinct pages a row touched, if they fit in 64 bits.
fn footprint(r: &RunRow) -> Option<u64> {
    r.distinct_pages.checked_mul(r.page_bytes)
}

/// Notes naming the rows (1-based, as in the results file after its header) for which `bad`
/// says why a value cannot be drawn.
fn row_notes(
    rows: &[RunRow],
    notes: &mut Vec<String>,
    what: &str,
    bad: impl Fn(&RunRow) -> Option<String>,
) {
    let mut count = 0usize;
    for (i, r) in rows.iter().enumerate() {
        if let Some(why) = bad(r) {
            count += 1;
            if count <= MAX_NAMED_ROWS {
                notes.push(format!(
                    "row {} (trace {}, design {}): {why}; left out of {what}",
                    i + 1,
                    r.trace,
                    r.design
                ));
            }
        }
    }
    if count > MAX_NAMED_ROWS {
        notes.push(format!(
            "{} more rows with such values left out of {what}",
            count - MAX_NAMED_ROWS
        ));
    }
}

/// Draws every chart the rows support into `dir` (`NAME.svg` and `NAME.png`, each written
/// atomically); returns them all, the skipped ones with their reasons, and notes on what was
/// left out. Values that cannot be drawn (`inf`, `NaN`, a footprint beyond 64 bits) leave their
/// row out of the charts that use them, with a note naming the row; the charts draw at most
/// [`MAX_TRACES`] traces, [`MAX_SERIES`] series and [`MAX_POINTS`] points a series, so the time
/// is linear in the rows and the files are bounded. Fails only when a file cannot be written.
pub fn render_all(rows: &[RunRow], dir: &Path) -> Result<Charts, ChartError> {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    row_notes(
        rows,
        &mut notes,
        "the references-per-translation charts",
        |r| {
            (!r.refs_per_translation.is_finite())
                .then(|| format!("refs_per_translation is {}", r.refs_per_translation))
        },
    );
    row_notes(rows, &mut notes, "the page-table size chart", |r| {
        (base_row(r) && footprint(r).is_none()).then(|| {
            format!(
                "distinct_pages {} x page_bytes {} is beyond 64 bits",
                r.distinct_pages, r.page_bytes
            )
        })
    });
    let all_traces = distinct(rows.iter().map(|r| r.trace.as_str()));
    if all_traces.len() > MAX_TRACES {
        notes.push(format!(
            "the charts show the first {MAX_TRACES} of {} traces",
            crate::thousands(all_traces.len() as u64)
        ));
    }
    let traces: Vec<&str> = all_traces.iter().take(MAX_TRACES).copied().collect();
    let charted: HashSet<&str> = traces.iter().copied().collect();
    let rows: Vec<&RunRow> = rows
        .iter()
        .filter(|r| charted.contains(r.trace.as_str()))
        .collect();
    let keys = trace_keys(&all_traces);
    let mut by_trace: HashMap<&str, Vec<&RunRow>> = HashMap::new();
    for r in &rows {
        by_trace.entry(r.trace.as_str()).or_default().push(r);
    }
    let trace_rows = |t: &str| by_trace.get(t).map_or(&[][..], Vec::as_slice);

    // 1. References per translation by design, a group of bars per trace: without TLBs, and
    //    behind each TLB hierarchy of the results (huge pages off).
    let mut behind: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in rows.iter().filter(|r| r.huge == "off") {
        behind
            .entry(r.tlb.as_str())
            .or_default()
            .insert(r.design.as_str());
    }
    let mut tlbs = distinct(
        rows.iter()
            .filter(|r| r.huge == "off")
            .map(|r| r.tlb.as_str()),
    );
    // The TLBs most designs ran behind (a sweep of STLB sizes over a few designs has its own chart).
    let designs_behind = |t: &str| behind.get(t).map_or(0, HashSet::len);
    tlbs.sort_by_key(|t| (*t != "none", std::cmp::Reverse(designs_behind(t))));
    let most = tlbs.iter().map(|t| designs_behind(t)).max().unwrap_or(0);
    tlbs.retain(|t| designs_behind(t) == most);
    for (i, tlb) in tlbs.iter().take(3).enumerate() {
        let sel: Vec<&RunRow> = rows
            .iter()
            .copied()
            .filter(|r| r.huge == "off" && r.tlb == *tlb && !pressured(r))
            .filter(|r| r.refs_per_translation.is_finite())
            .collect();
        let sel = cap_series(&sel, |r| r.design.as_str(), &mut notes, "the bar charts");
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
        )?;
    }
    if tlbs.is_empty() {
        emit(
            &mut out,
            dir,
            "refs_per_translation".into(),
            "Memory references per translation".into(),
            String::new(),
            Err("no rows with huge pages off".into()),
        )?;
    }

    // 2. TLB miss rate against TLB entries, a line per design, per trace.
    let mut drew_tlb = false;
    for trace in &traces {
        let sel: Vec<&RunRow> = trace_rows(trace)
            .iter()
            .copied()
            .filter(|r| r.huge == "off" && !pressured(r))
            .filter(|r| tlb_entries(&r.tlb).is_some())
            .collect();
        let xs = distinct(sel.iter().map(|r| r.tlb.as_str()));
        let sizes: std::collections::BTreeSet<u64> =
            sel.iter().filter_map(|r| tlb_entries(&r.tlb)).collect();
        if xs.len() < 2 || sizes.len() < 2 {
            continue;
        }
        drew_tlb = true;
        let sel = cap_series(&sel, |r| r.design.as_str(), &mut notes, "the TLB charts");
        let name = format!("tlb_miss_rate_{}", keys[trace]);
        let title = format!("TLB miss rate against TLB entries: {}", file_name(trace));

        emit(
            &mut out,
            dir,
            name,
            title.clone(),
            "Translations that missed every TLB level (tlb_misses / translations) against the entries of the TLB level that bounds its reach (the L2 where there is one), a line per design. Every design translates alike, so the lines coincide unless huge pages or a page size set them apart; what a miss costs is in the references-per-translation charts.".into(),
            Ok(both!(miss_rate(&title, &sel))),
        )?;
    }
    if !drew_tlb {
        emit(
            &mut out,
            dir,
            "tlb_miss_rate".into(),
            "TLB miss rate against TLB entries".into(),
            String::new(),
            Err("the results have no trace replayed under two or more TLB sizes".into()),
        )?;
    }

    // 3. Page-table bytes against footprint, log-log, a line per design.
    let sel: Vec<&RunRow> = rows
        .iter()
        .copied()
        .filter(|r| base_row(r) && footprint(r).is_some())
        .collect();
    let sel = cap_series(
        &sel,
        |r| r.design.as_str(),
        &mut notes,
        "the page-table size chart",
    );
    let footprints: std::collections::BTreeSet<u64> =
        sel.iter().filter_map(|r| footprint(r)).collect();
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
        )?;
    } else {
        let result = Ok(both!(table_bytes(&title, &sel)));
        emit(
            &mut out,
            dir,
            "table_bytes".into(),
            title.clone(),
            caption,
            result,
        )?;
    }

    // 4. The distribution of references per walk, per trace.
    let mut drew_cdf = false;
    for trace in &traces {
        let sel: Vec<&RunRow> = trace_rows(trace)
            .iter()
            .copied()
            .filter(|r| base_row(r) && !r.walk_refs_histogram.is_empty())
            .collect();
        if sel.is_empty() {
            continue;
        }
        drew_cdf = true;
        let sel = cap_series(
            &sel,
            |r| r.cell.as_str(),
            &mut notes,
            "the references-per-walk charts",
        );
        let name = format!("walk_refs_cdf_{}", keys[trace]);
        let title = format!("References per walk: {}", file_name(trace));

        emit(
            &mut out,
            dir,
            name,
            title.clone(),
            "The fraction of walks that read at most N page-table entries (a CDF from each design's histogram), without TLB and huge pages.".into(),
            Ok(both!(cdf(&title, &sel))),
        )?;
    }
    if !drew_cdf {
        emit(
            &mut out,
            dir,
            "walk_refs_cdf".into(),
            "References per walk".into(),
            String::new(),
            Err("no rows without TLB and huge pages carry a walk_refs_histogram".into()),
        )?;
    }

    // 5. Page faults against frames, a line per replacement policy.
    let mut drew_faults = false;
    for trace in &traces {
        let sel: Vec<&RunRow> = trace_rows(trace)
            .iter()
            .copied()
            .filter(|r| r.tlb == "none" && r.huge == "off")
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
        let sel = cap_series(
            &sel,
            |r| r.policy.as_str(),
            &mut notes,
            "the page-fault charts",
        );
        let name = format!("faults_vs_frames_{}", keys[trace]);
        let title = format!("Page faults against frames: {}", file_name(trace));

        emit(
            &mut out,
            dir,
            name,
            title.clone(),
            "Page faults against the frames of physical memory for data pages, a line per replacement policy (every design faults alike).".into(),
            Ok(both!(faults(&title, &sel))),
        )?;
    }
    if !drew_faults {
        emit(
            &mut out,
            dir,
            "faults_vs_frames".into(),
            "Page faults against frames".into(),
            String::new(),
            Err("the results have no trace replayed at two or more frame counts".into()),
        )?;
    }
    notes.dedup();
    Ok(Charts { charts: out, notes })
}

/// The rows of the first [`MAX_SERIES`] values of `series` (designs, policies), noting once per
/// kind of chart (`what`) when some were left out.
fn cap_series<'a>(
    rows: &[&'a RunRow],
    series: impl Fn(&RunRow) -> &str,
    notes: &mut Vec<String>,
    what: &str,
) -> Vec<&'a RunRow> {
    let all = distinct(rows.iter().map(|r| series(r)));
    if all.len() <= MAX_SERIES {
        return rows.to_vec();
    }
    let note = format!("{what} show at most {MAX_SERIES} lines or bars each");
    if !notes.contains(&note) {
        notes.push(note);
    }
    let kept: HashSet<&str> = all.into_iter().take(MAX_SERIES).collect();
    rows.iter()
        .copied()
        .filter(|r| kept.contains(series(r)))
        .collect()
}

/// At most [`MAX_POINTS`] points of `p`, evenly spaced, the first and last kept.
fn thin(p: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if p.len() <= MAX_POINTS {
        return p;
    }
    let n = p.len();
    (0..MAX_POINTS)
        .map(|i| p[i * (n - 1) / (MAX_POINTS - 1)])
        .collect()
}

/// The axis range `lo..hi` if plotters can draw it: finite, not empty, and positive on a log
/// axis (its key-point search never ends on an infinite range, and `inf` or `NaN` panics it).
fn axis(lo: f64, hi: f64, log: bool) -> Result<(f64, f64), String> {
    if !(lo.is_finite() && hi.is_finite() && (hi - lo).is_finite() && lo < hi) {
        return Err(format!(
            "its values span {lo}..{hi}, which no axis can show"
        ));
    }
    if log && lo <= 0.0 {
        return Err(format!(
            "its values span {lo}..{hi}, which a log axis cannot show"
        ));
    }
    Ok((lo, hi))
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
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.45;
    let (_, ymax) = axis(0.0, ymax, false)?;
    let n = traces.len().max(1) as f64;
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
            .filter(|r| r.refs_per_translation.is_finite())
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
    // Points an axis cannot show (not finite, or not positive on a log axis) are left out.
    let shows = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
    let series: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, p)| {
            let p = p
                .iter()
                .copied()
                .filter(|(x, y)| shows(*x, log.0) && shows(*y, log.1))
                .collect();
            (label.clone(), thin(p))
        })
        .collect();
    let series = &series[..];
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
        } else if hi - lo <= 1e-9 * lo.abs().max(hi.abs()).max(1.0) {
            // All equal (to within rounding): a range around them.
            let d = (lo.abs() * 0.1).max(1.0);
            (lo - d, hi + d)
        } else {
            (lo - (hi - lo) * 0.04, hi + (hi - lo) * 0.06)
        }
    };
    let (x0, x1) = pad(x0, x1, log.0);
    let (y0, y1) = pad(if log.1 { y0 } else { y0.min(0.0) }, y1, log.1);
    let (x0, x1) = axis(x0, x1, log.0)?;
    let (y0, y1) = axis(y0, y1, log.1)?;
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
                .filter_map(|r| Some((footprint(r)? as f64, r.table_bytes.max(1) as f64)))
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
        let charts = render_all(&rows, d.path()).unwrap().charts;
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

    #[test]
    fn trace_keys_are_unique_and_plain_where_they_can_be() {
        let k = trace_keys(&["a/t.lackey", "b/t.lackey", "x y", "x_y", "solo.ptbt"]);
        assert_eq!(k["solo.ptbt"], "solo_ptbt");
        assert_eq!(
            k["a/t.lackey"],
            format!("t_lackey_{:08x}", fnv1a32("a/t.lackey"))
        );
        assert_ne!(k["a/t.lackey"], k["b/t.lackey"]);
        assert_ne!(k["x y"], k["x_y"]);
        assert!(k["x y"].starts_with("x_y_") && k["x y"].len() == 12);
        // FNV-1a is fixed: the same names on every run.
        assert_eq!(fnv1a32(""), (0xcbf2_9ce4_8422_2325u64 ^ 0xcbf2_9ce4) as u32);
    }

    #[test]
    fn axes_refuse_what_plotters_cannot_draw() {
        assert_eq!(axis(0.0, 1.0, false), Ok((0.0, 1.0)));
        assert!(axis(0.0, f64::INFINITY, false).is_err());
        assert!(axis(f64::NAN, 1.0, false).is_err());
        assert!(axis(1.0, 1.0, false).is_err());
        assert!(axis(-f64::MAX, f64::MAX, false).is_err());
        assert!(axis(0.0, 8.0, true).is_err());
        assert_eq!(axis(0.5, 8.0, true), Ok((0.5, 8.0)));
        let p: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, 0.0)).collect();
        let t = thin(p);
        assert_eq!(t.len(), MAX_POINTS);
        assert_eq!((t[0].0, t[MAX_POINTS - 1].0), (0.0, 999.0));
    }
}
