//! Charts of results rows (plotters), each drawn twice from the same code: SVG (text left to the
//! viewer's fonts) and PNG (text drawn with the DejaVu Sans font built into the binary, so a fresh
//! machine with no fonts renders it). A chart whose data the rows lack is skipped with the reason,
//! never drawn empty. Charts are a view of the CSV: they never rerun anything.
//!
//! Every axis of an experiment is drawn once: references per translation as bars per trace and
//! design, huge pages off and on side by side (solid and pale), one chart per TLB that is not part
//! of a sweep; a sweep of TLB sizes (TLBs that differ only in the entries of the level that bounds
//! their reach) as lines against those entries, a panel per trace; the TLB miss rate of the sweep
//! once (one line per trace when every design misses alike); page-table size against footprint;
//! the distribution of references per walk and page faults against frames, a panel per trace.
//! Each design has one colour in every chart and report ([`design_colour`]), legends sit beside
//! the plot (they cover no point), and values spanning orders of magnitude get a log axis.
//!
//! Every chart file carries a mark (`<!-- ptbench chart -->` after the opening `<svg>` tag; a PNG
//! `tEXt` chunk `Software` = `ptbench`): a file under a chart's name is replaced only when it
//! carries the mark or the ptbench `report.md` beside it links it (reports of older versions),
//! unless forced.

use crate::findings::first_seen as distinct;
use crate::{RunRow, WriteError};
use plotters::coord::Shift;
use plotters::prelude::*;
use ptbench_output::Rules;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Once;
use thiserror::Error;

/// Width and (least) height of every chart, in pixels; charts with panels grow taller.
pub const SIZE: (u32, u32) = (960, 540);

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The mark after the opening `<svg ...>` tag of every SVG chart ptbench writes.
pub const SVG_MARK: &str = "<!-- ptbench chart -->";
/// The `tEXt` chunk of every PNG chart ptbench writes: keyword, then text.
pub const PNG_MARK: (&str, &str) = ("Software", "ptbench");

/// Colours for things that are not designs (traces, replacement policies), distinct on white and
/// for common colour-vision deficiencies (Okabe-Ito, then a few more).
const COLOURS: [RGBColor; 9] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(120, 120, 120),
    RGBColor(150, 80, 40),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// The known design families and their colours (see [`design_colour`]).
pub const DESIGN_COLOURS: [(&str, RGBColor); 9] = [
    ("x86-64", RGBColor(0, 114, 178)),
    ("x86-64-5l", RGBColor(86, 180, 233)),
    ("two-level", RGBColor(60, 60, 60)),
    ("radix", RGBColor(150, 80, 40)),
    ("flat", RGBColor(213, 94, 0)),
    ("hashed", RGBColor(0, 158, 115)),
    ("inverted", RGBColor(204, 121, 167)),
    ("ecpt", RGBColor(230, 159, 0)),
    ("mlpt", RGBColor(117, 112, 179)),
];

/// Colours for design families not in [`DESIGN_COLOURS`], picked by a fixed hash of the family.
const OTHER_DESIGN_COLOURS: [RGBColor; 6] = [
    RGBColor(117, 112, 179),
    RGBColor(102, 166, 30),
    RGBColor(166, 118, 29),
    RGBColor(231, 41, 138),
    RGBColor(27, 120, 160),
    RGBColor(140, 140, 140),
];

/// A design's colour, the same in every chart and every report: its family (the name before
/// `:`; `x86-64-5` is `x86-64-5l`) picks the colour from [`DESIGN_COLOURS`], or an unknown
/// family from a second palette by a fixed hash of the family name; a design with
/// parameters (`hashed:bucket=4`) gets its family's colour or one of two darker shades of it, by
/// a fixed hash of the whole name (pale shades mean huge pages). Two variants of one family can
/// share a shade.
pub fn design_colour(design: &str) -> RGBColor {
    if let Some((guest, host)) = nested_parts(design) {
        // A nested design: its guest's colour, darker (darker still over a host of another
        // family than the guest's).
        let same = guest.split(':').next() == host.split(':').next();
        return shade(design_colour(guest), if same { 0.6 } else { 0.4 });
    }
    let family = design.split(':').next().unwrap_or(design);
    let family = if family == "x86-64-5" {
        "x86-64-5l"
    } else {
        family
    };
    let base = DESIGN_COLOURS
        .iter()
        .find(|(f, _)| *f == family)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| {
            OTHER_DESIGN_COLOURS[fnv1a32(family) as usize % OTHER_DESIGN_COLOURS.len()]
        });
    if !design.contains(':') {
        return base;
    }
    match fnv1a32(design) % 3 {
        0 => base,
        1 => shade(base, 0.75),
        _ => shade(base, 0.55),
    }
}

/// A nested design's guest and host specs (`nested:guest=G,host=H`, either in brackets when it
/// holds a comma); `None` for native designs.
pub fn nested_parts(design: &str) -> Option<(&str, &str)> {
    let rest = design.strip_prefix("nested:")?;
    let (mut guest, mut host) = ("x86-64", "x86-64");
    let (mut depth, mut start) = (0i32, 0);
    let mut parts = Vec::new();
    for (i, c) in rest.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&rest[start..]);
    for part in parts {
        let (k, v) = part.split_once('=')?;
        let v = v
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(v);
        match (k, v) {
            ("guest", v) => guest = v,
            ("host", v) => host = v,
            _ => return None,
        }
    }
    Some((guest, host))
}

/// Whether a row belongs to a study of huge pages on a fragmented machine: a Linux THP policy
/// (`always`, `madvise`, `defer`) or an OS setting that fragments physical memory. Such rows get
/// the fragmentation charts and sentences of their own, not the native comparisons.
pub fn is_thp_study(r: &RunRow) -> bool {
    matches!(r.huge.as_str(), "always" | "madvise" | "defer")
        || r.os.contains("fragmentation=")
        || r.os.contains("free_huge=")
        || r.os.contains("churn=")
}

/// Whether a row belongs in the native comparisons (the charts of designs side by side, and the
/// verdict's table): not a nested design (compared against its guest), nor a row of the
/// fragmentation or cores studies (drawn apart).
pub fn is_native_comparison(r: &RunRow) -> bool {
    !is_nested(&r.design) && !is_thp_study(r) && !is_core_study(r)
}

/// Whether a row ran on more than one core, or under a non-default shootdown or scheduling
/// setting: such rows get the cores charts, not the native comparisons (each design would be
/// there once per core count).
pub fn is_core_study(r: &RunRow) -> bool {
    r.cores > 1 || r.os.contains("shootdown=") || r.os.contains("quantum=")
}

/// `os` without the settings a cores study varies (`cores=`, `shootdown=`).
fn os_without_cores(os: &str) -> String {
    os.split(',')
        .filter(|kv| !kv.starts_with("cores=") && !kv.starts_with("shootdown="))
        .collect::<Vec<_>>()
        .join(",")
}

/// The rows the cores charts and sentences describe: native rows with some translations of
/// the first trace replayed on more than one core, under that row's TLB, caches, page sizes and
/// OS settings apart from cores and shootdowns (its one-core rows too); and how many other rows
/// ran on more than one core.
pub fn core_rows<'a>(rows: impl IntoIterator<Item = &'a RunRow>) -> (Vec<&'a RunRow>, usize) {
    let all: Vec<&RunRow> = rows
        .into_iter()
        .filter(|r| !is_nested(&r.design) && r.translations > 0)
        .collect();
    let Some(first) = all.iter().copied().find(|r| r.cores > 1) else {
        return (Vec::new(), 0);
    };
    let key = |r: &RunRow| {
        (
            r.trace.clone(),
            r.tlb.clone(),
            r.cache.clone(),
            r.huge.clone(),
            os_without_cores(&r.os),
        )
    };
    let want = key(first);
    let sel: Vec<&RunRow> = all.iter().copied().filter(|r| key(r) == want).collect();
    let many = |rs: &[&RunRow]| rs.iter().filter(|r| r.cores > 1).count();
    let others = many(&all) - many(&sel);
    (sel, others)
}

/// Whether `design` is a nested (guest over host) design.
pub fn is_nested(design: &str) -> bool {
    design == "nested" || design.starts_with("nested:")
}

/// `c` darker (`f` < 1).
fn shade(c: RGBColor, f: f64) -> RGBColor {
    let s = |v: u8| (f64::from(v) * f).round() as u8;
    RGBColor(s(c.0), s(c.1), s(c.2))
}

/// `c` mixed with white (`f` of the way to white): huge-page variants are drawn pale.
fn pale(c: RGBColor, f: f64) -> RGBColor {
    let s = |v: u8| (f64::from(v) + (255.0 - f64::from(v)) * f).round() as u8;
    RGBColor(s(c.0), s(c.1), s(c.2))
}

/// How far to white a huge-page variant's colour is.
const PALE: f64 = 0.55;

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

/// Each trace's label in charts: its file name, or the whole trace where two share a file name.
pub fn trace_labels<'a>(traces: &[&'a str]) -> HashMap<&'a str, String> {
    let mut per_name: HashMap<String, usize> = HashMap::new();
    for t in traces {
        *per_name.entry(file_name(t)).or_default() += 1;
    }
    traces
        .iter()
        .map(|t| {
            let n = file_name(t);
            let label = if per_name.get(&n).copied().unwrap_or(0) > 1 {
                t.to_string()
            } else {
                n
            };
            (*t, label)
        })
        .collect()
}

/// Rows without TLB, huge pages and memory limit.
fn base_row(r: &RunRow) -> bool {
    r.tlb == "none" && r.huge == "off" && !pressured(r)
}

/// The item of a TLB spec that bounds its reach (`l2=`, else `l1d=`, else `l1=`) and its entries.
fn reach(spec: &str) -> Option<(&str, u64)> {
    let find = |key: &str| {
        spec.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| Some((kv, v.split('x').next()?.parse::<u64>().ok()?)))?
        })
    };
    find("l2").or_else(|| find("l1d")).or_else(|| find("l1"))
}

/// Entries of the TLB level that bounds its reach: the L2 if there is one, else the (data) L1.
pub fn tlb_entries(spec: &str) -> Option<u64> {
    reach(spec).map(|(_, n)| n)
}

/// The TLB spec without its reach item: TLBs that differ only in that level's size are a sweep.
fn tlb_family(spec: &str) -> Option<String> {
    let (item, _) = reach(spec)?;
    Some(
        spec.split(',')
            .filter(|kv| *kv != item)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Names for TLB specs: the canonical specs of the known presets and their names, given by the
/// caller (the report crate does not know the presets).
#[derive(Clone, Debug, Default)]
pub struct TlbNames(pub Vec<(String, String)>);

impl TlbNames {
    /// A TLB spec for people: `no TLB` for `none`, a preset's name for its canonical spec, else
    /// its levels (`L1I 64x4, L1D 64x4, L2 256x4`).
    pub fn label(&self, spec: &str) -> String {
        if spec == "none" {
            return "no TLB".into();
        }
        self.0
            .iter()
            .find(|(s, _)| s == spec)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| short_tlb(spec))
    }

    /// Short labels for `specs`, different for different specs: `no TLB`, a preset's name, else
    /// the level that bounds the TLB's reach (`STLB 256x4`, `L1 16x4`), or all its levels
    /// (see [`TlbNames::label`]) where two specs would share that.
    pub fn labels<'a>(&self, specs: &[&'a str]) -> HashMap<&'a str, String> {
        let brief = |spec: &str| -> String {
            if spec == "none" || self.0.iter().any(|(s, _)| s == spec) {
                return self.label(spec);
            }
            match reach(spec) {
                Some((item, _)) => {
                    let (k, v) = item.split_once('=').unwrap_or((item, ""));
                    let level = match k {
                        "l2" => "STLB",
                        "l1d" => "L1D",
                        _ => "L1",
                    };
                    format!("{level} {v}")
                }
                None => self.label(spec),
            }
        };
        let mut count: HashMap<String, usize> = HashMap::new();
        for s in distinct(specs.iter().copied()) {
            *count.entry(brief(s)).or_default() += 1;
        }
        specs
            .iter()
            .map(|s| {
                let b = brief(s);
                let label = if count.get(&b).copied().unwrap_or(0) > 1 {
                    self.label(s)
                } else {
                    b
                };
                (*s, label)
            })
            .collect()
    }
}

/// Names for cache specs (the `cache` column): the canonical specs of the known presets and their
/// names, given by the caller (the report crate does not know the presets).
#[derive(Clone, Debug, Default)]
pub struct CacheNames(pub Vec<(String, String)>);

impl CacheNames {
    /// A cache spec for people: `no cache model` for `none`, a preset's name for its canonical
    /// spec, else the spec itself.
    pub fn label(&self, spec: &str) -> String {
        if spec == "none" {
            return "no cache model".into();
        }
        self.name(spec).unwrap_or(spec).to_string()
    }

    /// The preset's name of a canonical spec, if it is one.
    pub fn name(&self, spec: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(s, _)| s == spec)
            .map(|(_, n)| n.as_str())
    }

    /// Whose caches these are, in a sentence: `skylake's caches`, or `` the caches `SPEC` ``.
    pub fn whose(&self, spec: &str) -> String {
        match self.name(spec) {
            Some(n) => format!("{n}'s caches"),
            None => format!("the caches `{spec}`"),
        }
    }
}

/// Whether a row ran with a cache model (its cycle columns are counted).
pub fn has_cache(r: &RunRow) -> bool {
    r.cache != "none" && !r.cache.is_empty()
}

/// What [`render_all`] needs besides the rows.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Replace files under a chart's name that ptbench did not write.
    pub force: bool,
    /// Names of TLB specs.
    pub tlbs: TlbNames,
    /// Names of cache specs.
    pub caches: CacheNames,
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

/// The bar and table-size charts show at most this many traces (the first in the results'
/// order).
pub const MAX_TRACES: usize = 24;
/// A chart with a panel per trace draws at most this many panels.
pub const MAX_PANELS: usize = 12;
/// A chart draws at most this many series (designs, replacement policies).
pub const MAX_SERIES: usize = 12;
/// A series draws at most this many points (evenly thinned beyond).
pub const MAX_POINTS: usize = 400;
/// Bar charts are drawn for at most this many TLBs.
pub const MAX_BAR_TLBS: usize = 4;
/// Rows named one by one in the notes on values left out; the rest are counted.
const MAX_NAMED_ROWS: usize = 10;

/// Whether the file at `path` carries ptbench's chart mark (see the module doc).
pub fn has_mark(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::new();
    // The mark sits in the PNG's header chunks or right after the SVG's opening tag.
    let _ = std::io::Read::read_to_end(&mut std::io::Read::take(f, 4096), &mut head);
    let png = format!("tEXt{}\0{}", PNG_MARK.0, PNG_MARK.1);
    let contains = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
    (head.starts_with(b"\x89PNG") && contains(png.as_bytes()))
        || (!head.starts_with(b"\x89PNG") && contains(SVG_MARK.as_bytes()))
}

/// The chart files a ptbench `report.md` in `dir` links (none when there is no such page).
pub fn linked_charts(dir: &Path) -> HashSet<String> {
    let Ok(text) = std::fs::read_to_string(dir.join("report.md")) else {
        return HashSet::new();
    };
    if !crate::page::is_report_md(&text) {
        return HashSet::new();
    }
    text.split("](")
        .skip(1)
        .filter_map(|t| t.split(')').next())
        .filter(|l| !l.contains('/') && (l.ends_with(".png") || l.ends_with(".svg")))
        .map(str::to_string)
        .collect()
}

/// Writes one chart file atomically (a temporary file renamed into place).
fn write_file(dir: &Path, file: &str, bytes: &[u8], rules: &Rules) -> Result<(), ChartError> {
    crate::write_with(&dir.join(file), rules, |w| w.write_all(bytes)).map_err(|source| {
        ChartError::Write {
            file: file.to_string(),
            source,
        }
    })
}

/// `svg` with [`SVG_MARK`] right after its opening `<svg ...>` tag.
fn mark_svg(svg: &str) -> String {
    let at = svg
        .find("<svg")
        .and_then(|i| svg[i..].find('>').map(|j| i + j + 1));
    match at {
        Some(i) => format!("{}\n{SVG_MARK}{}", &svg[..i], &svg[i..]),
        None => svg.to_string(),
    }
}

/// Encodes RGB pixels as a PNG carrying [`PNG_MARK`].
fn encode_png(rgb: &[u8], size: (u32, u32)) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size.0, size.1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.add_text_chunk(PNG_MARK.0.into(), PNG_MARK.1.into())?;
        let mut w = enc.write_header()?;
        w.write_image_data(rgb)?;
        w.finish()?;
    }
    Ok(out)
}

/// Draws a chart into memory: the PNG's bytes and the SVG's text (both marked).
fn render(
    name: &str,
    size: (u32, u32),
    draw: &Draw<'_>,
    draw_svg: &DrawSvg<'_>,
) -> Result<Result<(Vec<u8>, String), String>, ChartError> {
    register_font();
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        if let Err(e) = root.fill(&WHITE).map_err(err).and_then(|()| draw(&root)) {
            return Ok(Err(e));
        }
        if let Err(e) = root.present() {
            return Ok(Err(e.to_string()));
        }
    }
    let png = encode_png(&rgb, size).map_err(|e| ChartError::Encode {
        file: format!("{name}.png"),
        message: e.to_string(),
    })?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
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
    Ok(Ok((png, mark_svg(&svg))))
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

/// Where charts go and how files there are treated.
struct Sink<'a> {
    dir: &'a Path,
    rules: Rules<'a>,
    out: Vec<Chart>,
}

impl Sink<'_> {
    /// Draws a chart (or records why not) and writes `NAME.png` and `NAME.svg`.
    fn emit(
        &mut self,
        name: String,
        title: String,
        caption: String,
        size: (u32, u32),
        result: Result<(&Draw<'_>, &DrawSvg<'_>), String>,
    ) -> Result<(), ChartError> {
        let (svg, skipped) = match result {
            Ok((d, s)) => match render(&name, size, d, s)? {
                Ok((png, svg)) => {
                    write_file(self.dir, &format!("{name}.png"), &png, &self.rules)?;
                    write_file(
                        self.dir,
                        &format!("{name}.svg"),
                        svg.as_bytes(),
                        &self.rules,
                    )?;
                    (Some(svg), None)
                }
                Err(e) => (None, Some(format!("drawing failed: {e}"))),
            },
            Err(why) => (None, Some(why)),
        };
        self.out.push(Chart {
            name,
            title,
            caption,
            svg,
            skipped,
        });
        Ok(())
    }
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

/// The file-name part of each trace's files: its file name with every character but ASCII
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

/// One line of a line chart.
#[derive(Clone, Debug)]
struct Series {
    label: String,
    colour: RGBColor,
    points: Vec<(f64, f64)>,
}

/// One panel of a line chart (a trace), with its title.
#[derive(Clone, Debug)]
struct Panel {
    title: String,
    series: Vec<Series>,
}

/// An entry of a legend.
#[derive(Clone, Debug)]
enum Key {
    Line(String, RGBColor),
    Box(String, RGBColor),
    /// A dark box: bars with huge pages off.
    SolidBox(String),
    /// A pale box with a dark outline: bars of a huge-page policy other than `off`.
    PaleBox(String),
    /// A percentile's marker (see [`marker`]), in dark grey.
    Marker(String, usize),
}

/// The axes of a line chart.
#[derive(Clone, Copy)]
struct Axes<'a> {
    desc: (&'a str, &'a str),
    log: (bool, bool),
    units: (Unit, Unit),
}

/// Whether values (all drawn) span enough orders of magnitude for a log axis: all positive and
/// the largest more than 30 times the smallest.
fn wants_log(values: impl Iterator<Item = f64>) -> bool {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values.filter(|v| v.is_finite()) {
        if v <= 0.0 {
            return false;
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    lo.is_finite() && hi > 30.0 * lo
}

/// A chart's size for `panels` panels: a grid of at most 3 columns, 260 pixels a row.
fn panel_size(panels: usize) -> (u32, u32) {
    let (_, rows) = grid(panels);
    (SIZE.0, SIZE.1.max(60 + 260 * rows as u32))
}

/// Columns and rows of a grid of `n` panels.
fn grid(n: usize) -> (usize, usize) {
    let cols = match n {
        0 | 1 => 1,
        2 | 4 => 2,
        _ => 3,
    };
    (cols, n.max(1).div_ceil(cols))
}

/// Groups the rows of `sel` into panels, one per trace in `traces`' order, capping the panels at
/// [`MAX_PANELS`] with a note.
fn panel_traces<'a>(
    traces: &[&'a str],
    sel: &[&RunRow],
    notes: &mut Vec<String>,
    what: &str,
) -> Vec<&'a str> {
    let present: HashSet<&str> = sel.iter().map(|r| r.trace.as_str()).collect();
    let with: Vec<&str> = traces
        .iter()
        .copied()
        .filter(|t| present.contains(t))
        .collect();
    if with.len() > MAX_PANELS {
        let note = format!(
            "{what}: a panel for each of the first {MAX_PANELS} of {} traces",
            with.len()
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
    with.into_iter().take(MAX_PANELS).collect()
}

/// Draws every chart the rows support into `dir` (`NAME.svg` and `NAME.png`, each written
/// atomically and marked, replacing only ptbench's own files unless `opts.force`); returns them
/// all, the skipped ones with their reasons, and notes on what was left out. Values that cannot
/// be drawn (`inf`, `NaN`, a footprint beyond 64 bits) leave their row out of the charts that use
/// them, with a note naming the row; the charts draw at most [`MAX_TRACES`] traces,
/// [`MAX_PANELS`] panels, [`MAX_SERIES`] series and [`MAX_POINTS`] points a series, so the time
/// is linear in the rows and the files are bounded. Fails only when a file cannot be written.
pub fn render_all(rows: &[RunRow], dir: &Path, opts: &Options) -> Result<Charts, ChartError> {
    let linked = linked_charts(dir);
    let recognise = |p: &Path| {
        has_mark(p)
            || p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| linked.contains(n))
    };
    let mut sink = Sink {
        dir,
        rules: Rules {
            force: opts.force,
            ..Rules::new("--out", "a chart", &recognise)
        },
        out: Vec::new(),
    };
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
    row_notes(rows, &mut notes, "the cycles-per-translation charts", |r| {
        (has_cache(r) && !r.cycles_per_translation.is_finite())
            .then(|| format!("cycles_per_translation is {}", r.cycles_per_translation))
    });
    row_notes(rows, &mut notes, "the page-table size chart", |r| {
        (!pressured(r) && footprint(r).is_none()).then(|| {
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
    let all_rows: Vec<&RunRow> = rows
        .iter()
        .filter(|r| charted.contains(r.trace.as_str()))
        .collect();
    // Nested designs have a chart of their own, against their guests; the others compare
    // native designs.
    let rows: Vec<&RunRow> = all_rows
        .iter()
        .copied()
        .filter(|r| is_native_comparison(r))
        .collect();
    let labels = trace_labels(&traces);
    let tlb_labels = opts
        .tlbs
        .labels(&distinct(rows.iter().map(|r| r.tlb.as_str())));
    let hugevals = distinct(rows.iter().map(|r| r.huge.as_str()));

    // TLBs that differ only in the size of the level that bounds their reach are a sweep, drawn
    // as lines against that size; every other TLB (and no TLB) gets bars.
    let unpressured: Vec<&RunRow> = rows.iter().copied().filter(|r| !pressured(r)).collect();
    let tlbs = distinct(unpressured.iter().map(|r| r.tlb.as_str()));
    let mut families: Vec<(String, BTreeSet<u64>)> = Vec::new();
    for t in &tlbs {
        let (Some(f), Some(n)) = (tlb_family(t), tlb_entries(t)) else {
            continue;
        };
        match families.iter_mut().find(|(g, _)| *g == f) {
            Some((_, sizes)) => {
                sizes.insert(n);
            }
            None => families.push((f, BTreeSet::from([n]))),
        }
    }
    families.retain(|(_, sizes)| sizes.len() >= 2);
    let in_sweep = |t: &str| tlb_family(t).is_some_and(|f| families.iter().any(|(g, _)| *g == f));

    // 0. With a cache model: cycles per translation first, then the walks' latency and where
    //    table reads were served (nothing at all without one).
    cycle_charts(&mut sink, &rows, &traces, &labels, opts, &mut notes)?;
    nested_charts(&mut sink, &all_rows, &traces, &labels, opts, &mut notes)?;
    fragmentation_charts(&mut sink, &all_rows, &labels, opts, &mut notes)?;
    core_charts(&mut sink, &all_rows, &labels, opts, &mut notes)?;

    // 1. References per translation: bars per trace and design, huge pages side by side.
    let mut bar_tlbs: Vec<&str> = tlbs.iter().copied().filter(|t| !in_sweep(t)).collect();
    bar_tlbs.sort_by_key(|t| *t != "none");
    if bar_tlbs.len() > MAX_BAR_TLBS {
        notes.push(format!(
            "the bar charts show the first {MAX_BAR_TLBS} of {} TLBs",
            bar_tlbs.len()
        ));
    }
    for (i, tlb) in bar_tlbs.iter().take(MAX_BAR_TLBS).enumerate() {
        let sel: Vec<&RunRow> = unpressured
            .iter()
            .copied()
            .filter(|r| r.tlb == *tlb && r.refs_per_translation.is_finite())
            .collect();
        let sel = cap_series(&sel, |r| r.design.as_str(), &mut notes, "the bar charts");
        let name = if i == 0 && *tlb == "none" {
            "refs_per_translation".to_string()
        } else {
            format!("refs_per_translation_tlb{i}")
        };
        let label = &tlb_labels[tlb];
        let title = if *tlb == "none" {
            "Memory references per translation, no TLB".to_string()
        } else {
            format!("Memory references per translation behind {label}")
        };
        let bars_data = Bars::refs(sel, &traces, &labels);
        let caption = format!(
            "Page-table entries read per translated page (walk_refs / translations), by design, for each trace{}{}.",
            if *tlb == "none" {
                ": every translation walks".to_string()
            } else {
                format!(" (TLB: {tlb})")
            },
            bars_data.caption_tail()
        );
        sink.emit(
            name,
            title.clone(),
            caption,
            SIZE,
            Ok(both!(bars(&title, &bars_data))),
        )?;
    }
    if bar_tlbs.is_empty() {
        sink.emit(
            "refs_per_translation".into(),
            "Memory references per translation".into(),
            String::new(),
            SIZE,
            Err("no rows without a memory limit".into()),
        )?;
    }

    // 2. Each TLB sweep: references per translation against its size, a panel per trace and a
    //    line per design; its miss rate, once.
    for (k, (family, sizes)) in families.iter().take(3).enumerate() {
        let suffix = if k == 0 {
            String::new()
        } else {
            format!("_{}", k + 1)
        };
        let sel: Vec<&RunRow> = unpressured
            .iter()
            .copied()
            .filter(|r| tlb_family(&r.tlb).as_deref() == Some(family.as_str()))
            .collect();
        let level = sel
            .first()
            .and_then(|r| reach(&r.tlb))
            .map_or("TLB", |(item, _)| {
                if item.starts_with("l2=") {
                    "STLB"
                } else {
                    "L1 TLB"
                }
            });
        let sel = cap_series(&sel, |r| r.design.as_str(), &mut notes, "the TLB charts");
        let panel_of = panel_traces(&traces, &sel, &mut notes, "the TLB charts");
        let series_of = |rs: &[&RunRow], y: &dyn Fn(&RunRow) -> f64| -> Vec<Series> {
            let mut out: Vec<Series> = Vec::new();
            for d in distinct(rs.iter().map(|r| r.design.as_str())) {
                for h in distinct(rs.iter().map(|r| r.huge.as_str())) {
                    let mut p: Vec<(f64, f64)> = rs
                        .iter()
                        .filter(|r| r.design == d && r.huge == h)
                        .filter_map(|r| Some((tlb_entries(&r.tlb)? as f64, y(r))))
                        .filter(|(_, v)| v.is_finite())
                        .collect();
                    p.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let c = design_colour(d);
                    out.push(Series {
                        label: if h == "off" {
                            d.to_string()
                        } else {
                            format!("{d}, {h}")
                        },
                        colour: if h == "off" { c } else { pale(c, PALE) },
                        points: p,
                    });
                }
            }
            out
        };
        let refs = |r: &RunRow| r.refs_per_translation;
        let panels: Vec<Panel> = panel_of
            .iter()
            .map(|t| {
                let rs: Vec<&RunRow> = sel.iter().copied().filter(|r| r.trace == *t).collect();
                Panel {
                    title: labels[t].clone(),
                    series: series_of(&rs, &refs),
                }
            })
            .collect();
        let log_y = wants_log(
            panels
                .iter()
                .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|q| q.1))),
        );
        let keys = design_keys(&sel);
        let title = format!("Memory references per translation against {level} entries");
        let size_list = sizes
            .iter()
            .map(|n| crate::thousands(*n))
            .collect::<Vec<_>>()
            .join(", ");
        let xdesc = format!("{level} entries (log scale)");
        let axes = Axes {
            desc: (
                &xdesc,
                if log_y {
                    "references per translation (log scale)"
                } else {
                    "references per translation"
                },
            ),
            log: (true, log_y),
            units: (Unit::Entries, Unit::Fraction),
        };
        sink.emit(
            format!("refs_vs_stlb{suffix}"),
            title.clone(),
            format!(
                "Page-table entries read per translated page behind a TLB of {size_list} {level} entries ({}), a panel per trace and a line per design{}.",
                family_label(family, level),
                if hugevals.len() > 1 { "; pale lines with huge pages on" } else { "" }
            ),
            panel_size(panels.len()),
            Ok(both!(line_chart(&title, &panels, axes, &keys))),
        )?;

        // The miss rate: the same for every design on a trace unless huge pages set them apart.
        let rate = |r: &RunRow| r.tlb_misses as f64 / r.translations.max(1) as f64;
        let per_trace: Vec<(&str, Vec<Series>)> = panel_of
            .iter()
            .map(|t| {
                let rs: Vec<&RunRow> = sel.iter().copied().filter(|r| r.trace == *t).collect();
                (*t, series_of(&rs, &rate))
            })
            .collect();
        let alike = per_trace.iter().all(|(_, ss)| {
            distinct(
                ss.iter()
                    .map(|s| s.label.split(", ").nth(1).unwrap_or("off")),
            )
            .iter()
            .all(|h| {
                let of: Vec<&Series> = ss
                    .iter()
                    .filter(|s| s.label.split(", ").nth(1).unwrap_or("off") == *h)
                    .collect();
                of.windows(2).all(|w| w[0].points == w[1].points)
            })
        });
        let title = format!("TLB miss rate against {level} entries");
        let (panels, keys, caption) = if alike {
            let mut lines = Vec::new();
            for (i, (t, ss)) in per_trace.iter().enumerate() {
                let mut seen: Vec<&str> = Vec::new();
                for s in ss {
                    let h = s.label.split(", ").nth(1).unwrap_or("off");
                    if seen.contains(&h) {
                        continue;
                    }
                    seen.push(h);
                    let c = colour(i);
                    lines.push(Series {
                        label: if h == "off" {
                            labels[t].clone()
                        } else {
                            format!("{}, {h}", labels[t])
                        },
                        colour: if h == "off" { c } else { pale(c, PALE) },
                        points: s.points.clone(),
                    });
                }
            }
            let keys: Vec<Key> = lines
                .iter()
                .map(|s| Key::Line(s.label.clone(), s.colour))
                .collect();
            (
                vec![Panel {
                    title: String::new(),
                    series: lines,
                }],
                keys,
                format!(
                    "Translations that missed every TLB level (tlb_misses / translations) against the {level}'s entries, a line per trace: every design missed alike on every trace (a miss depends on the pages touched, not on the table), so each trace is drawn once. What a miss costs is in the chart above."
                ),
            )
        } else {
            (
                per_trace
                    .into_iter()
                    .map(|(t, series)| Panel {
                        title: labels[t].clone(),
                        series,
                    })
                    .collect::<Vec<_>>(),
                design_keys(&sel),
                format!(
                    "Translations that missed every TLB level (tlb_misses / translations) against the {level}'s entries, a panel per trace and a line per design (the designs' misses differ, e.g. with huge pages)."
                ),
            )
        };
        let log_y = wants_log(
            panels
                .iter()
                .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|q| q.1))),
        );
        let axes = Axes {
            desc: (
                &xdesc,
                if log_y {
                    "misses per translation (log scale)"
                } else {
                    "misses per translation"
                },
            ),
            log: (true, log_y),
            units: (Unit::Entries, Unit::Fraction),
        };
        sink.emit(
            format!("tlb_miss_rate{suffix}"),
            title.clone(),
            caption,
            panel_size(panels.len()),
            Ok(both!(line_chart(&title, &panels, axes, &keys))),
        )?;
    }
    if families.is_empty() {
        sink.emit(
            "tlb_miss_rate".into(),
            "TLB miss rate against TLB entries".into(),
            String::new(),
            SIZE,
            Err("the results have no trace replayed under two or more TLB sizes".into()),
        )?;
    }

    // 3. Page-table bytes against footprint, log-log, a line per design (and huge-page policy).
    //    A table's size is the same behind every TLB: the first row of each cell counts.
    let mut seen: HashSet<(&str, &str, &str)> = HashSet::new();
    let sel: Vec<&RunRow> = unpressured
        .iter()
        .copied()
        .filter(|r| footprint(r).is_some())
        .filter(|r| seen.insert((r.trace.as_str(), r.design.as_str(), r.huge.as_str())))
        .collect();
    let sel = cap_series(
        &sel,
        |r| r.design.as_str(),
        &mut notes,
        "the page-table size chart",
    );
    let footprints: BTreeSet<u64> = sel.iter().filter_map(|r| footprint(r)).collect();
    let title = "Page-table size against footprint".to_string();
    let caption = format!(
        "Bytes of page table at the end of each trace against the bytes of distinct pages it touched (log-log), a line per design{}.",
        if hugevals.len() > 1 {
            ", solid with huge pages off, pale with huge pages on"
        } else {
            ""
        }
    );
    if footprints.len() < 2 {
        sink.emit(
            "table_bytes".into(),
            title,
            caption,
            SIZE,
            Err("fewer than two footprints (traces)".into()),
        )?;
    } else {
        let mut series = Vec::new();
        for d in distinct(sel.iter().map(|r| r.design.as_str())) {
            for h in &hugevals {
                let mut p: Vec<(f64, f64)> = sel
                    .iter()
                    .filter(|r| r.design == d && r.huge == *h)
                    .filter_map(|r| Some((footprint(r)? as f64, r.table_bytes.max(1) as f64)))
                    .collect();
                if p.is_empty() {
                    continue;
                }
                p.sort_by(|a, b| a.0.total_cmp(&b.0));
                let c = design_colour(d);
                series.push(Series {
                    label: if *h == "off" {
                        d.to_string()
                    } else {
                        format!("{d}, {h}")
                    },
                    colour: if *h == "off" { c } else { pale(c, PALE) },
                    points: p,
                });
            }
        }
        let panels = vec![Panel {
            title: String::new(),
            series,
        }];
        let keys = design_keys(&sel);
        let axes = Axes {
            desc: (
                "footprint: distinct pages touched, in bytes (log scale)",
                "page-table size (log scale)",
            ),
            log: (true, true),
            units: (Unit::Bytes, Unit::Bytes),
        };
        sink.emit(
            "table_bytes".into(),
            title.clone(),
            caption,
            SIZE,
            Ok(both!(line_chart(&title, &panels, axes, &keys))),
        )?;
    }

    // 4. The distribution of references per walk, a panel per trace.
    let sel: Vec<&RunRow> = rows
        .iter()
        .copied()
        .filter(|r| base_row(r) && !r.walk_refs_histogram.is_empty())
        .collect();
    let sel = cap_series(
        &sel,
        |r| r.design.as_str(),
        &mut notes,
        "the references-per-walk chart",
    );
    let panel_of = panel_traces(&traces, &sel, &mut notes, "the references-per-walk chart");
    let title = "References per walk".to_string();
    if panel_of.is_empty() {
        sink.emit(
            "walk_refs_cdf".into(),
            title,
            String::new(),
            SIZE,
            Err("no rows without TLB and huge pages carry a walk_refs_histogram".into()),
        )?;
    } else {
        let panels = cdf_panels(&panel_of, &labels, &sel, |r| &r.walk_refs_histogram);
        let keys = design_keys(&sel);
        let axes = Axes {
            desc: (
                "memory references in one walk",
                "fraction of walks at or below",
            ),
            log: (false, false),
            units: (Unit::Count, Unit::Fraction),
        };
        sink.emit(
            "walk_refs_cdf".into(),
            title.clone(),
            "The fraction of walks that read at most N page-table entries (a CDF from each design's histogram), without TLB and huge pages, a panel per trace.".into(),
            panel_size(panels.len()),
            Ok(both!(line_chart(&title, &panels, axes, &keys))),
        )?;
    }

    // 5. Page faults against frames, a panel per trace, a line per replacement policy (every
    //    design faults alike: the first design's rows are drawn).
    let mut fault_rows: Vec<&RunRow> = Vec::new();
    for t in &traces {
        let of: Vec<&RunRow> = rows
            .iter()
            .copied()
            .filter(|r| r.trace == *t && r.tlb == "none" && r.huge == "off" && pressured(r))
            .collect();
        let Some(first) = of.first().map(|r| r.design.clone()) else {
            continue;
        };
        let of: Vec<&RunRow> = of.into_iter().filter(|r| r.design == first).collect();
        let frame_counts: BTreeSet<u64> = of.iter().filter_map(|r| frames(r)).collect();
        if frame_counts.len() >= 2 {
            fault_rows.extend(of);
        }
    }
    let fault_rows = cap_series(
        &fault_rows,
        |r| r.policy.as_str(),
        &mut notes,
        "the page-fault chart",
    );
    let panel_of = panel_traces(&traces, &fault_rows, &mut notes, "the page-fault chart");
    let title = "Page faults against frames".to_string();
    if panel_of.is_empty() {
        sink.emit(
            "faults_vs_frames".into(),
            title,
            String::new(),
            SIZE,
            Err("the results have no trace replayed at two or more frame counts".into()),
        )?;
    } else {
        let policies = distinct(fault_rows.iter().map(|r| r.policy.as_str()));
        let pcolour = |p: &str| colour(policies.iter().position(|q| *q == p).unwrap_or_default());
        let panels: Vec<Panel> = panel_of
            .iter()
            .map(|t| Panel {
                title: labels[t].clone(),
                series: policies
                    .iter()
                    .map(|pol| {
                        let mut p: Vec<(f64, f64)> = fault_rows
                            .iter()
                            .filter(|r| r.trace == *t && r.policy == *pol)
                            .filter_map(|r| Some((frames(r)? as f64, r.page_faults as f64)))
                            .collect();
                        p.sort_by(|a, b| a.0.total_cmp(&b.0));
                        Series {
                            label: pol.to_string(),
                            colour: pcolour(pol),
                            points: p,
                        }
                    })
                    .collect(),
            })
            .collect();
        let keys: Vec<Key> = policies
            .iter()
            .map(|p| Key::Line(p.to_string(), pcolour(p)))
            .collect();
        let axes = Axes {
            desc: (
                "frames of physical memory for data pages",
                "page faults (log scale)",
            ),
            log: (false, true),
            units: (Unit::Count, Unit::Count),
        };
        let designs = distinct(fault_rows.iter().map(|r| r.design.as_str()));
        sink.emit(
            "faults_vs_frames".into(),
            title.clone(),
            format!(
                "Page faults against the frames of physical memory for data pages, a line per replacement policy{} (every design faults alike: drawn for {}).",
                if panels.len() > 1 { ", a panel per trace" } else { "" },
                designs.join(", ")
            ),
            panel_size(panels.len()),
            Ok(both!(line_chart(&title, &panels, axes, &keys))),
        )?;
    }
    notes.dedup();
    Ok(Charts {
        charts: sink.out,
        notes,
    })
}

/// The cache configurations the cycle charts draw at most (the first in the results).
pub const MAX_CACHES: usize = 4;

/// The shades of where table reads were served, L1D first (bottom of the stack): greys, darker
/// the further away (no design has a grey of these).
const SERVED: [(&str, RGBColor); 4] = [
    ("L1D", RGBColor(225, 225, 225)),
    ("L2", RGBColor(170, 170, 170)),
    ("LLC", RGBColor(110, 110, 110)),
    ("memory", RGBColor(35, 35, 35)),
];

/// The charts of rows with a cache model, drawn before every other chart (none at all when no
/// row has one): per cache configuration (spec and placement), cycles per translation as bars
/// per trace and design (a chart per TLB, huge pages side by side, like references); then each
/// configuration's walk latency (p50, p90, p99 and max per design, a panel per trace); then where
/// its table reads were served (shares per design, a panel per trace). The last two use the rows
/// without a TLB where there are some (else the first TLB's).
/// Native against nested: for the nested designs' first TLB, huge-page policy and cache
/// configuration, each guest design native and over each host, references (and, with a cache
/// model, cycles) per translation, a group of bars per trace.
fn nested_charts(
    sink: &mut Sink<'_>,
    rows: &[&RunRow],
    traces: &[&str],
    labels: &HashMap<&str, String>,
    opts: &Options,
    notes: &mut Vec<String>,
) -> Result<(), ChartError> {
    let nested: Vec<&RunRow> = rows
        .iter()
        .copied()
        .filter(|r| is_nested(&r.design) && !pressured(r) && r.translations > 0)
        .collect();
    let Some(first) = nested.first() else {
        return Ok(());
    };
    let (tlb, huge, cache) = (&first.tlb, &first.huge, &first.cache);
    let same = |r: &&RunRow| {
        r.tlb == *tlb && r.huge == *huge && r.cache == *cache && !pressured(r) && r.translations > 0
    };
    let nested: Vec<&RunRow> = nested.into_iter().filter(same).collect();
    let guests = distinct(
        nested
            .iter()
            .filter_map(|r| nested_parts(&r.design).map(|p| p.0)),
    );
    // Each guest native, then over its hosts, in first-seen order.
    let mut sel: Vec<&RunRow> = Vec::new();
    for g in &guests {
        sel.extend(rows.iter().copied().filter(|r| same(r) && r.design == *g));
        sel.extend(
            nested
                .iter()
                .copied()
                .filter(|r| nested_parts(&r.design).is_some_and(|p| p.0 == *g)),
        );
    }
    let sel = cap_series(&sel, |r| r.design.as_str(), notes, "the nested charts");
    let behind = if tlb == "none" {
        "no TLB".to_string()
    } else {
        format!("TLB {}", opts.tlbs.labels(&[tlb.as_str()])[tlb.as_str()])
    };
    let setting = format!(
        "{}{}",
        if tlb == "none" {
            ", without a TLB (every translation walks)".to_string()
        } else {
            format!(", behind the TLB {tlb}")
        },
        if huge == "off" {
            String::new()
        } else {
            format!(", huge pages {huge}")
        }
    );
    let title = format!("Native against nested: references per translation, {behind}");
    let data = Bars::refs(sel.clone(), traces, labels);
    let caption = format!(
        "Table entries read per translated page (walk_refs / translations), each guest design native and over each host (`nested:guest=G,host=H`, darker): under nested paging every guest-physical address a guest walk reads, and the page it finds, is first translated by a host walk, so a radix guest of g levels over a radix host of h reads (g+1)(h+1)-1 entries per walk (24 for x86-64 over x86-64), a flat guest over a flat host 3; host_refs says how many were the host's{setting}{}.",
        data.caption_tail()
    );
    sink.emit(
        "nested_refs_per_translation".into(),
        title.clone(),
        caption,
        SIZE,
        Ok(both!(bars(&title, &data))),
    )?;
    if cache == "none" {
        return Ok(());
    }
    let cycled: Vec<&RunRow> = sel
        .into_iter()
        .filter(|r| r.cycles_per_translation.is_finite())
        .collect();
    let name = opts
        .caches
        .name(cache)
        .map_or("the caches".to_string(), |n| format!("{n}'s caches"));
    let title = format!("Native against nested: cycles per translation behind {name}, {behind}");
    let data = Bars::cycles(cycled, traces, labels);
    let caption = format!(
        "Cycles per translated page (translation_cycles / translations), each guest design native and over each host (darker), every table read of both dimensions through the caches {cache} at its host-physical address: a guest step waits for the host walks of its guest-physical addresses, an elastic cuckoo design's probes go in parallel in either dimension{setting}{}.",
        data.caption_tail()
    );
    sink.emit(
        "nested_cycles_per_translation".into(),
        title.clone(),
        caption,
        SIZE,
        Ok(both!(bars(&title, &data))),
    )
}

/// The THP policies' colours in the fragmentation charts: base pages grey, then Linux's
/// policies, then today's `thp`.
fn policy_colour(huge: &str) -> RGBColor {
    match huge {
        "off" => RGBColor(110, 110, 110),
        "always" => colour(0),
        "defer" => colour(1),
        "madvise" => colour(2),
        "thp" => colour(3),
        _ => colour(4),
    }
}

/// The rows the fragmentation charts and sentences describe: native rows with a
/// `fragmentation=` OS setting, no memory limit and some translations, of the first such row's
/// trace, TLB and caches; and how many other such rows there are.
pub fn fragmentation_rows<'a>(
    rows: impl IntoIterator<Item = &'a RunRow>,
) -> (Vec<&'a RunRow>, usize) {
    let study: Vec<&RunRow> = rows
        .into_iter()
        .filter(|r| {
            r.os.contains("fragmentation=")
                && !is_nested(&r.design)
                && !pressured(r)
                && r.translations > 0
        })
        .collect();
    let Some(first) = study.first().copied() else {
        return (Vec::new(), 0);
    };
    let sel: Vec<&RunRow> = study
        .iter()
        .copied()
        .filter(|r| r.trace == first.trace && r.tlb == first.tlb && r.cache == first.cache)
        .collect();
    let others = study.len() - sel.len();
    (sel, others)
}

/// The fragmentation charts: for the first trace with fragmentation rows, TLB misses per
/// translation (one panel: a miss depends on the pages, not the design) and cycles (or
/// references, without a cache model) per translation (a panel per design), each against the
/// fraction of 2 MiB blocks other tenants broke, a line per THP policy.
fn fragmentation_charts(
    sink: &mut Sink<'_>,
    rows: &[&RunRow],
    labels: &HashMap<&str, String>,
    opts: &Options,
    notes: &mut Vec<String>,
) -> Result<(), ChartError> {
    let (sel, others) = fragmentation_rows(rows.iter().copied());
    let Some(first) = sel.first().copied() else {
        return Ok(());
    };
    let (trace, tlb, cache) = (&first.trace, &first.tlb, &first.cache);
    let (label, where_) = study_place(trace, tlb, labels, opts);
    if others > 0 {
        notes.push(format!(
            "the fragmentation charts show {label} behind the TLB {tlb} with the caches {cache}; {others} other fragmentation rows are in results.csv"
        ));
    }
    let sel = cap_series(
        &sel,
        |r| r.design.as_str(),
        notes,
        "the fragmentation charts",
    );
    let policies = distinct(sel.iter().map(|r| r.huge.as_str()));
    let line = |rs: &[&RunRow], h: &str, y: &dyn Fn(&RunRow) -> f64| -> Series {
        let mut points: Vec<(f64, f64)> = rs
            .iter()
            .filter(|r| r.huge == h)
            .map(|r| (r.fragmentation, y(r)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points.dedup_by(|a, b| a.0 == b.0);
        Series {
            label: h.to_string(),
            colour: policy_colour(h),
            points,
        }
    };
    let keys: Vec<Key> = policies
        .iter()
        .map(|h| {
            let name = match *h {
                "off" => "off: base pages".to_string(),
                "always" => "always: 2 MiB at a fault while a block is free".to_string(),
                "defer" => match sel
                    .iter()
                    .find_map(|r| r.os.split(',').find_map(|kv| kv.strip_prefix("thp_min=")))
                {
                    Some(n) => format!("defer: khugepaged promotes at {n} pages"),
                    None => "defer: khugepaged promotes".to_string(),
                },
                "madvise" => "madvise: advised regions only".to_string(),
                o => o.to_string(),
            };
            Key::Line(name, policy_colour(h))
        })
        .collect();
    let xdesc = "fragmentation: fraction of 2 MiB blocks holding another tenant's page";
    let xshort = "fragmentation";
    // TLB misses: the first design's (every design misses alike).
    let first_design = sel.first().map_or("", |r| r.design.as_str());
    let of_first: Vec<&RunRow> = sel
        .iter()
        .copied()
        .filter(|r| r.design == first_design)
        .collect();
    let rate = |r: &RunRow| r.tlb_misses as f64 / r.translations.max(1) as f64;
    let panels = vec![Panel {
        title: String::new(),
        series: policies.iter().map(|h| line(&of_first, h, &rate)).collect(),
    }];
    let title = format!("TLB misses against fragmentation ({where_})");
    let axes = Axes {
        desc: (xdesc, "TLB misses per translation"),
        log: (false, false),
        units: (Unit::Fraction, Unit::Fraction),
    };
    sink.emit(
        "thp_tlb_misses_vs_fragmentation".into(),
        title.clone(),
        format!("Translations that missed every TLB level (tlb_misses / translations) against the fragmentation of physical memory before the run (--fragmentation: the fraction of 2 MiB blocks in which other tenants hold a page), a line per THP policy, behind the TLB {tlb}. A huge page needs a whole free 2 MiB block: as fewer are left, `always` falls back to base pages, and at fragmentation 1 it misses as often as base pages (off). Every design misses alike; the first is drawn."),
        SIZE,
        Ok(both!(line_chart(&title, &panels, axes, &keys))),
    )?;
    // Cycles (or references) per translation: a panel per design.
    let cycles = has_cache(first);
    let designs = distinct(sel.iter().map(|r| r.design.as_str()));
    let y = |r: &RunRow| {
        if cycles {
            r.cycles_per_translation
        } else {
            r.refs_per_translation
        }
    };
    let per_design: Vec<Panel> = designs
        .iter()
        .map(|d| {
            let rs: Vec<&RunRow> = sel.iter().copied().filter(|r| r.design == *d).collect();
            Panel {
                title: d.to_string(),
                series: policies.iter().map(|h| line(&rs, h, &y)).collect(),
            }
        })
        .collect();
    let what = if cycles {
        "cycles per translation"
    } else {
        "references per translation"
    };
    let title = format!("Huge pages' benefit against fragmentation: {what} ({where_})");
    let axes = Axes {
        desc: (xshort, what),
        log: (false, false),
        units: (Unit::Fraction, Unit::Fraction),
    };
    sink.emit(
        "thp_benefit_vs_fragmentation".into(),
        title.clone(),
        format!(
            "{} per translated page against the fragmentation of physical memory, a panel per design and a line per THP policy: the gap between a policy and base pages (off) is what huge pages save, and it closes as fragmentation leaves no free 2 MiB block.",
            if cycles {
                format!("Cycles (translation_cycles / translations, caches {cache})")
            } else {
                "Page-table entries read (walk_refs / translations; no cache model)".to_string()
            }
        ),
        panel_size(per_design.len()),
        Ok(both!(line_chart(&title, &per_design, axes, &keys))),
    )
}

/// How a study's charts name the trace and TLB they show: the trace's label, and that label
/// with the TLB (`hashprobe.ptbt.zst, skylake`, or `..., no TLB`) for titles.
fn study_place(
    trace: &str,
    tlb: &str,
    labels: &HashMap<&str, String>,
    opts: &Options,
) -> (String, String) {
    let label = labels
        .get(trace)
        .cloned()
        .unwrap_or_else(|| file_name(trace));
    let place = if tlb == "none" {
        format!("{label}, no TLB")
    } else {
        format!("{label}, {}", opts.tlbs.labels(&[tlb])[tlb])
    };
    (label, place)
}

/// The shootdown policies' colours in the cores charts.
fn shootdown_colour(policy: &str) -> RGBColor {
    match policy {
        "precise" => colour(0),
        "broadcast" => colour(1),
        _ => colour(2),
    }
}

/// The cores charts: for the first trace replayed on more than one core, shootdown interrupts
/// against cores (a line per shootdown policy, of the first design: every design's OS model
/// makes the same changes) and TLB misses per translation against cores (a line per design).
fn core_charts(
    sink: &mut Sink<'_>,
    rows: &[&RunRow],
    labels: &HashMap<&str, String>,
    opts: &Options,
    notes: &mut Vec<String>,
) -> Result<(), ChartError> {
    let (sel, others) = core_rows(rows.iter().copied());
    let Some(first) = sel.first().copied() else {
        return Ok(());
    };
    let (trace, tlb) = (&first.trace, &first.tlb);
    let (label, where_) = study_place(trace, tlb, labels, opts);
    if others > 0 {
        notes.push(format!(
            "the cores charts show {label} behind the TLB {tlb}; {others} other rows on more than one core are in results.csv"
        ));
    }
    let sel = cap_series(&sel, |r| r.design.as_str(), notes, "the cores charts");
    let points = |rs: &mut dyn Iterator<Item = &&RunRow>, y: &dyn Fn(&RunRow) -> f64| {
        let mut p: Vec<(f64, f64)> = rs.map(|r| (r.cores as f64, y(r))).collect();
        p.sort_by(|a, b| a.0.total_cmp(&b.0));
        p.dedup_by(|a, b| a.0 == b.0);
        p
    };
    let first_design = first.design.as_str();
    let policies = distinct(sel.iter().map(|r| r.shootdown.as_str()));
    let series: Vec<Series> = policies
        .iter()
        .map(|p| Series {
            label: p.to_string(),
            colour: shootdown_colour(p),
            points: points(
                &mut sel
                    .iter()
                    .filter(|r| r.design == first_design && (r.shootdown == *p || r.cores == 1)),
                &|r| r.shootdown_ipis as f64,
            ),
        })
        .collect();
    let keys: Vec<Key> = policies
        .iter()
        .map(|p| {
            let name = match *p {
                "precise" => "precise: the cores that ran the process".to_string(),
                "broadcast" => "broadcast: every other core".to_string(),
                o => o.to_string(),
            };
            Key::Line(name, shootdown_colour(p))
        })
        .collect();
    let title = format!("Shootdown interrupts against cores ({where_})");
    let axes = Axes {
        desc: ("cores", "shootdown interrupts"),
        log: (true, false),
        units: (Unit::Entries, Unit::Count),
    };
    let panels = vec![Panel {
        title: String::new(),
        series,
    }];
    sink.emit(
        "shootdowns_vs_cores".into(),
        title.clone(),
        "Interrupts sent to other cores to invalidate translations (shootdown_ipis) against the number of cores, a line per shootdown policy: `precise` interrupts the cores that ran the address space since their TLBs last dropped it (Linux's mm_cpumask), `broadcast` every other core. Every change that removes or narrows a translation (an eviction, munmap, mprotect, copy-on-write, a huge page's split or migration) is one operation. Every design's OS model makes the same changes; the first design is drawn.".into(),
        SIZE,
        Ok(both!(line_chart(&title, &panels, axes, &keys))),
    )?;
    let designs = distinct(sel.iter().map(|r| r.design.as_str()));
    let policy = policies.first().copied().unwrap_or("precise");
    let per_k = |r: &RunRow| 1000.0 * r.tlb_misses as f64 / r.translations.max(1) as f64;
    let series: Vec<Series> = designs
        .iter()
        .map(|d| Series {
            label: d.to_string(),
            colour: design_colour(d),
            points: points(
                &mut sel
                    .iter()
                    .filter(|r| r.design == *d && (r.shootdown == policy || r.cores == 1)),
                &per_k,
            ),
        })
        .collect();
    let keys: Vec<Key> = designs
        .iter()
        .map(|d| Key::Line(d.to_string(), design_colour(d)))
        .collect();
    let title = format!("TLB misses against cores ({where_})");
    let axes = Axes {
        desc: ("cores", "TLB misses per 1,000 translations"),
        log: (true, false),
        units: (Unit::Entries, Unit::Fraction),
    };
    let panels = vec![Panel {
        title: String::new(),
        series,
    }];
    sink.emit(
        "tlb_misses_vs_cores".into(),
        title.clone(),
        format!("Translations that missed every TLB level, per 1,000 translations (1000 x tlb_misses / translations, summed over cores), against the number of cores, a line per design ({policy} shootdowns). Each core has its own TLBs: a thread that runs on another core, and every core that runs a process's threads, fills them again, and shootdowns take entries from every core that holds them. The TLBs see the same accesses whatever the design, so the lines agree; what a miss costs differs (the walk columns)."),
        SIZE,
        Ok(both!(line_chart(&title, &panels, axes, &keys))),
    )
}

fn cycle_charts(
    sink: &mut Sink<'_>,
    rows: &[&RunRow],
    traces: &[&str],
    labels: &HashMap<&str, String>,
    opts: &Options,
    notes: &mut Vec<String>,
) -> Result<(), ChartError> {
    if !rows.iter().any(|r| has_cache(r)) {
        return Ok(());
    }
    let cached: Vec<&RunRow> = rows
        .iter()
        .copied()
        .filter(|r| has_cache(r) && !pressured(r) && r.cycles_per_translation.is_finite())
        .collect();
    if cached.is_empty() {
        return sink.emit(
            "cycles_per_translation".into(),
            "Cycles per translation".into(),
            String::new(),
            SIZE,
            Err("no rows with a cache model ran without a memory limit".into()),
        );
    }
    // Configurations: (cache spec, placement), in first-seen order.
    let mut configs: Vec<(&str, &str)> = Vec::new();
    for r in &cached {
        let c = (r.cache.as_str(), r.placement.as_str());
        if !configs.contains(&c) {
            configs.push(c);
        }
    }
    if configs.len() > MAX_CACHES {
        notes.push(format!(
            "the cycle charts show the first {MAX_CACHES} of {} cache configurations",
            configs.len()
        ));
        configs.truncate(MAX_CACHES);
    }
    let placements = distinct(configs.iter().map(|c| c.1));
    // Each configuration's name in titles, and its spec in captions.
    let named: Vec<(String, String)> = configs
        .iter()
        .enumerate()
        .map(|(i, (spec, placement))| {
            let mut title = match opts.caches.name(spec) {
                Some(n) => format!("{n}'s caches"),
                None if configs.len() == 1 => "the caches".to_string(),
                None => format!("caches {}", i + 1),
            };
            let mut caption = match opts.caches.name(spec) {
                Some(n) => format!("{n}'s caches ({spec})"),
                None => format!("the caches {spec}"),
            };
            if placements.len() > 1 || *placement != "os" {
                title.push_str(&format!(", {placement} placement"));
                caption.push_str(&format!(", the trace's accesses placed by `{placement}`"));
            }
            (title, caption)
        })
        .collect();
    let tlb_labels = opts
        .tlbs
        .labels(&distinct(cached.iter().map(|r| r.tlb.as_str())));
    let of_config = |c: &(&str, &str)| -> Vec<&RunRow> {
        cached
            .iter()
            .copied()
            .filter(|r| r.cache == c.0 && r.placement == c.1)
            .collect()
    };

    // Cycles per translation, a chart per configuration and TLB.
    let mut k = 0usize;
    for (c, (title_name, caption_name)) in configs.iter().zip(&named) {
        let sel = of_config(c);
        let mut tlbs = distinct(sel.iter().map(|r| r.tlb.as_str()));
        tlbs.sort_by_key(|t| *t != "none");
        if tlbs.len() > MAX_BAR_TLBS {
            notes.push(format!(
                "the cycles-per-translation charts show the first {MAX_BAR_TLBS} of {} TLBs behind {title_name}",
                tlbs.len()
            ));
        }
        for tlb in tlbs.iter().take(MAX_BAR_TLBS) {
            let sel: Vec<&RunRow> = sel.iter().copied().filter(|r| r.tlb == *tlb).collect();
            let sel = cap_series(&sel, |r| r.design.as_str(), notes, "the cycle charts");
            let name = if k == 0 {
                "cycles_per_translation".to_string()
            } else {
                format!("cycles_per_translation_{}", k + 1)
            };
            k += 1;
            let title = if *tlb == "none" {
                format!("Cycles per translation behind {title_name}, no TLB")
            } else {
                format!(
                    "Cycles per translation behind {title_name} and TLB {}",
                    tlb_labels[tlb]
                )
            };
            let data = Bars::cycles(sel, traces, labels);
            let caption = format!(
                "Cycles per translated page (translation_cycles / translations: the TLB lookup, at the TLB spec's l1_lat and l2_lat, plus the page walks; fault handling apart), by design, for each trace, behind {caption_name}{}{}.",
                if *tlb == "none" {
                    ": every translation walks".to_string()
                } else {
                    format!(" and the TLB {tlb}")
                },
                data.caption_tail()
            );
            sink.emit(
                name,
                title.clone(),
                caption,
                SIZE,
                Ok(both!(bars(&title, &data))),
            )?;
        }
    }

    // The rows of the walk-latency and served charts: per configuration, its TLB-less rows
    // (else the first TLB's), and the TLB said when there is one.
    let base = |c: &(&str, &str), notes: &mut Vec<String>| -> (Vec<&RunRow>, String) {
        let sel = of_config(c);
        let tlbs = distinct(sel.iter().map(|r| r.tlb.as_str()));
        let tlb = if tlbs.contains(&"none") {
            "none"
        } else {
            tlbs.first().copied().unwrap_or("none")
        };
        let sel: Vec<&RunRow> = sel.into_iter().filter(|r| r.tlb == tlb).collect();
        let sel = cap_series(&sel, |r| r.design.as_str(), notes, "the cycle charts");
        let said = if tlb == "none" {
            if tlbs.len() > 1 {
                " (the rows without a TLB)".to_string()
            } else {
                String::new()
            }
        } else {
            format!(" behind the TLB {}", tlb_labels[tlb])
        };
        (sel, said)
    };
    // A column per design, its huge-page policies side by side (the first solid, the others
    // pale), each with its values.
    let columns_of = |rs: &[&RunRow], values: &dyn Fn(&RunRow) -> Option<Vec<f64>>| -> Vec<Cat> {
        let huge = distinct(rs.iter().map(|r| r.huge.as_str()));
        distinct(rs.iter().map(|r| r.design.as_str()))
            .into_iter()
            .map(|d| {
                let c = design_colour(d);
                Cat {
                    label: d.to_string(),
                    slots: huge
                        .iter()
                        .enumerate()
                        .map(|(k, h)| {
                            let v = rs
                                .iter()
                                .find(|r| r.design == d && r.huge == *h)
                                .and_then(|r| values(r))
                                .unwrap_or_default();
                            (if k == 0 { c } else { pale(c, PALE) }, v)
                        })
                        .collect(),
                }
            })
            .collect()
    };

    // Walk latency: p50, p90, p99 and max per design, a panel per trace.
    for (i, (c, (title_name, caption_name))) in configs.iter().zip(&named).enumerate() {
        let suffix = if i == 0 {
            String::new()
        } else {
            format!("_{}", i + 1)
        };
        let (sel, said) = base(c, notes);
        let walked: Vec<&RunRow> = sel.into_iter().filter(|r| r.walk_cycles_max > 0).collect();
        let panel_of = panel_traces(traces, &walked, notes, "the walk-latency charts");
        let title = format!("Cycles per walk behind {title_name}");
        if panel_of.is_empty() {
            sink.emit(
                format!("walk_cycles{suffix}"),
                title,
                String::new(),
                SIZE,
                Err(format!(
                    "no walks were counted in cycles behind {title_name}"
                )),
            )?;
            continue;
        }
        let values = |r: &RunRow| {
            Some(
                [
                    r.walk_cycles_p50,
                    r.walk_cycles_p90,
                    r.walk_cycles_p99,
                    r.walk_cycles_max,
                ]
                .iter()
                .map(|v| *v as f64)
                .collect(),
            )
        };
        let panels: Vec<CatPanel> = panel_of
            .iter()
            .map(|t| {
                let rs: Vec<&RunRow> = walked.iter().copied().filter(|r| r.trace == *t).collect();
                CatPanel {
                    title: labels[t].clone(),
                    cats: columns_of(&rs, &values),
                }
            })
            .collect();
        let log = wants_log(
            panels
                .iter()
                .flat_map(|p| p.cats.iter().flat_map(|c| c.slots.iter()))
                .flat_map(|(_, v)| v.iter().copied()),
        );
        let mut keys = design_keys(&walked);
        keys.extend(
            PERCENTILES
                .iter()
                .enumerate()
                .map(|(i, p)| Key::Marker(p.to_string(), i)),
        );
        let caption = format!(
            "The cycles of one walk behind {caption_name}{said}: its median, 90th and 99th percentile and its maximum (walk_cycles_p50, _p90, _p99, _max), left to right for each design, a panel per trace{}.",
            if log {
                "; the axis is logarithmic (the values span orders of magnitude)"
            } else {
                ""
            }
        );
        sink.emit(
            format!("walk_cycles{suffix}"),
            title.clone(),
            caption,
            panel_size(panels.len()),
            Ok(both!(cat_chart(
                &title,
                &panels,
                CatStyle::Percentiles { log },
                &keys
            ))),
        )?;

        // The whole distribution, from each row's walk_cycles_histogram: one huge-page policy
        // (`off` when there), a line per design.
        let with_hist: Vec<&RunRow> = walked
            .iter()
            .copied()
            .filter(|r| !r.walk_cycles_histogram.is_empty())
            .collect();
        let huge = distinct(with_hist.iter().map(|r| r.huge.as_str()));
        let one_huge = if huge.contains(&"off") {
            "off"
        } else {
            huge.first().copied().unwrap_or("off")
        };
        let with_hist: Vec<&RunRow> = with_hist
            .into_iter()
            .filter(|r| r.huge == one_huge)
            .collect();
        let title = format!("Walk latency behind {title_name}");
        let cdf_panels = cdf_panels(&panel_of, labels, &with_hist, |r| &r.walk_cycles_histogram);
        if cdf_panels.is_empty() {
            sink.emit(
                format!("walk_cycles_cdf{suffix}"),
                title,
                String::new(),
                SIZE,
                Err(format!(
                    "no rows behind {title_name} carry a walk_cycles_histogram"
                )),
            )?;
            continue;
        }
        let log = wants_log(
            cdf_panels
                .iter()
                .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter()))
                .map(|(x, _)| *x)
                .filter(|x| *x > 0.0),
        );
        let axes = Axes {
            desc: ("cycles of one walk", "fraction of walks at or below"),
            log: (log, false),
            units: (Unit::Count, Unit::Fraction),
        };
        let caption = format!(
            "The fraction of walks that took at most N cycles (a CDF from each design's walk_cycles_histogram) behind {caption_name}{said}{}, a line per design and a panel per trace{}.",
            if one_huge == "off" {
                String::new()
            } else {
                format!(", huge pages {one_huge}")
            },
            if log {
                "; the cycle axis is logarithmic (walks that read nothing, at 0 cycles, are off it)"
            } else {
                ""
            }
        );
        let keys = design_keys(&with_hist);
        sink.emit(
            format!("walk_cycles_cdf{suffix}"),
            title.clone(),
            caption,
            panel_size(cdf_panels.len()),
            Ok(both!(line_chart(&title, &cdf_panels, axes, &keys))),
        )?;
    }

    // Where table reads were served: shares per design, a panel per trace.
    for (i, (c, (title_name, caption_name))) in configs.iter().zip(&named).enumerate() {
        let suffix = if i == 0 {
            String::new()
        } else {
            format!("_{}", i + 1)
        };
        let (sel, said) = base(c, notes);
        let reads = |r: &RunRow| {
            [
                r.pte_l1d_hits,
                r.pte_l2_hits,
                r.pte_llc_hits,
                r.pte_mem_reads,
            ]
            .iter()
            .try_fold(0u64, |a, v| a.checked_add(*v))
            .filter(|n| *n > 0)
        };
        let read: Vec<&RunRow> = sel.into_iter().filter(|r| reads(r).is_some()).collect();
        let panel_of = panel_traces(traces, &read, notes, "the table-read charts");
        let title = format!("Where table reads were served behind {title_name}");
        if panel_of.is_empty() {
            sink.emit(
                format!("pte_served{suffix}"),
                title,
                String::new(),
                SIZE,
                Err(format!("no table reads were counted behind {title_name}")),
            )?;
            continue;
        }
        let values = |r: &RunRow| {
            let n = reads(r)? as f64;
            Some(
                [
                    r.pte_l1d_hits,
                    r.pte_l2_hits,
                    r.pte_llc_hits,
                    r.pte_mem_reads,
                ]
                .iter()
                .map(|v| *v as f64 / n)
                .collect(),
            )
        };
        let panels: Vec<CatPanel> = panel_of
            .iter()
            .map(|t| {
                let rs: Vec<&RunRow> = read.iter().copied().filter(|r| r.trace == *t).collect();
                CatPanel {
                    title: labels[t].clone(),
                    cats: columns_of(&rs, &values),
                }
            })
            .collect();
        let mut keys: Vec<Key> = SERVED
            .iter()
            .rev()
            .map(|(l, c)| Key::Box(l.to_string(), *c))
            .collect();
        keys.extend(
            design_keys(&read)
                .into_iter()
                .filter(|k| matches!(k, Key::PaleBox(_))),
        );
        let caption = format!(
            "The share of each design's page-table reads served by the L1D, the L2, the LLC and memory (pte_l1d_hits, pte_l2_hits, pte_llc_hits, pte_mem_reads over their sum) behind {caption_name}{said}, a bar per design and a panel per trace."
        );
        sink.emit(
            format!("pte_served{suffix}"),
            title.clone(),
            caption,
            panel_size(panels.len()),
            Ok(both!(cat_chart(&title, &panels, CatStyle::Stacked, &keys))),
        )?;
    }
    Ok(())
}

/// The percentiles of the walk-latency chart, in order.
const PERCENTILES: [&str; 4] = ["p50", "p90", "p99", "max"];

/// One column of a category chart: a design, and per huge-page policy a colour and its values
/// (none where it did not run).
#[derive(Clone, Debug)]
struct Cat {
    label: String,
    slots: Vec<(RGBColor, Vec<f64>)>,
}

/// One panel of a category chart (a trace).
#[derive(Clone, Debug)]
struct CatPanel {
    title: String,
    cats: Vec<Cat>,
}

/// How a category chart draws a column's values.
#[derive(Clone, Copy, Debug)]
enum CatStyle {
    /// [`PERCENTILES`] as markers left to right, joined by a line in the design's colour.
    Percentiles { log: bool },
    /// Shares stacked from 0 to 1 in the colours of [`SERVED`].
    Stacked,
}

/// A category chart: `panels` in a grid sharing their value axis, a column per design, the
/// legend beside them.
fn cat_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[CatPanel],
    style: CatStyle,
    keys: &[Key],
) -> Result<(), String> {
    let root = area.titled(title, ("sans-serif", 22)).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let (plots, legend) = root.split_horizontally(w.saturating_sub(legend_width(keys)));
    draw_legend(&legend, keys)?;
    let values = || {
        panels
            .iter()
            .flat_map(|p| p.cats.iter().flat_map(|c| c.slots.iter()))
            .flat_map(|(_, v)| v.iter().copied())
            .filter(|v| v.is_finite())
    };
    let (log, (y0, y1), desc) = match style {
        CatStyle::Percentiles { log } => {
            let hi = values().fold(0.0f64, f64::max);
            if log {
                let lo = values().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
                let (lo, hi) = axis(lo, hi, true)?;
                (
                    true,
                    (lo.log10() - 0.15, hi.log10() + 0.15),
                    "cycles of one walk (log scale)",
                )
            } else {
                (
                    false,
                    axis(0.0, hi.max(1.0) * 1.1, false)?,
                    "cycles of one walk",
                )
            }
        }
        CatStyle::Stacked => (false, (0.0, 1.0), "share of table reads"),
    };
    let span = y1 - y0;
    let (cols, rows) = grid(panels.len());
    let cells = plots.split_evenly((rows, cols));
    let small = panels.len() > 1;
    for (p, cell) in panels.iter().zip(cells.iter()) {
        let n = p.cats.len().max(1);
        let mut builder = ChartBuilder::on(cell);
        builder
            .margin(if small { 6 } else { 10 })
            .x_label_area_size(if small { 30 } else { 40 })
            .y_label_area_size(if small { 56 } else { 72 });
        if !p.title.is_empty() {
            builder.caption(&p.title, ("sans-serif", 15));
        }
        let mut chart = builder
            .build_cartesian_2d(0f64..n as f64, y0..y1)
            .map_err(err)?;
        // A design's parameters make labels that overlap in a small panel: its name alone
        // (`flat` for `flat:va_bits=48`) when that still tells the bars apart.
        let full: Vec<&str> = p.cats.iter().map(|c| c.label.as_str()).collect();
        let short: Vec<&str> = full
            .iter()
            .map(|l| l.split(':').next().unwrap_or(l))
            .collect();
        let distinct = short
            .iter()
            .enumerate()
            .all(|(i, a)| short[..i].iter().all(|b| b != a));
        let names = if small && distinct { short } else { full };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - x.floor() - 0.5).abs() < 0.01 && i < names.len() {
                    names[i].to_string()
                } else {
                    String::new()
                }
            })
            .y_labels(if small { 6 } else { 10 })
            .y_desc(desc)
            .y_label_formatter(&|v| match style {
                CatStyle::Stacked => format!("{}%", (v * 100.0).round()),
                CatStyle::Percentiles { .. } => tick(*v, log, span, Unit::Count),
            })
            .label_style(("sans-serif", if small { 11 } else { 14 }))
            .axis_desc_style(("sans-serif", if small { 11 } else { 15 }))
            .draw()
            .map_err(err)?;
        for (i, c) in p.cats.iter().enumerate() {
            let w = 0.84 / c.slots.len().max(1) as f64;
            for (k, (colour, values)) in c.slots.iter().enumerate() {
                let x = i as f64 + 0.08 + w * k as f64;
                match style {
                    CatStyle::Percentiles { log } => {
                        let step = w * 0.8 / PERCENTILES.len().saturating_sub(1).max(1) as f64;
                        let pts: Vec<(f64, f64)> = values
                            .iter()
                            .enumerate()
                            .filter(|(_, v)| v.is_finite() && (!log || **v > 0.0))
                            .map(|(j, v)| {
                                let y = if log { v.log10() } else { *v };
                                (x + w * 0.1 + step * j as f64, y)
                            })
                            .collect();
                        chart
                            .draw_series(LineSeries::new(
                                pts.iter().copied(),
                                colour.stroke_width(2),
                            ))
                            .map_err(err)?;
                        for (j, pt) in pts.iter().enumerate() {
                            for e in marker::<DB, _>(*pt, j, *colour) {
                                chart.plotting_area().draw(&e).map_err(err)?;
                            }
                        }
                    }
                    CatStyle::Stacked => {
                        if values.is_empty() {
                            continue;
                        }
                        let (x0, x1) = (x + w * 0.05, x + w * 0.95);
                        let mut at = 0.0;
                        let mut rects = Vec::new();
                        for (v, (_, shade)) in values.iter().zip(SERVED.iter()) {
                            if *v > 0.0 {
                                rects.push(Rectangle::new(
                                    [(x0, at), (x1, (at + v).min(1.0))],
                                    shade.filled(),
                                ));
                            }
                            at += v;
                        }
                        // The design's colour around its bar.
                        rects.push(Rectangle::new(
                            [(x0, 0.0), (x1, 1.0)],
                            colour.stroke_width(3),
                        ));
                        chart.draw_series(rects).map_err(err)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The marker of percentile `j` ([`PERCENTILES`]) at `pt`: circle, triangle, square, cross.
fn marker<'a, DB: DrawingBackend + 'a, C: Clone + 'static>(
    pt: C,
    j: usize,
    c: RGBColor,
) -> Vec<DynElement<'a, DB, C>> {
    match j {
        0 => vec![Circle::new(pt, 4, c.filled()).into_dyn()],
        1 => vec![TriangleMarker::new(pt, 5, c.filled()).into_dyn()],
        2 => {
            vec![(EmptyElement::at(pt) + Rectangle::new([(-4, -4), (4, 4)], c.filled())).into_dyn()]
        }
        _ => vec![Cross::new(pt, 5, c.stroke_width(2)).into_dyn()],
    }
}

/// A legend of the designs of `rows` (their colours), and of the huge-page policies when some
/// rows ran with huge pages (pale).
fn design_keys(rows: &[&RunRow]) -> Vec<Key> {
    let mut keys: Vec<Key> = distinct(rows.iter().map(|r| r.design.as_str()))
        .into_iter()
        .map(|d| Key::Line(d.to_string(), design_colour(d)))
        .collect();
    for h in distinct(rows.iter().map(|r| r.huge.as_str())) {
        if h != "off" {
            keys.push(Key::PaleBox(format!("pale: huge {h}")));
        }
    }
    keys
}

/// A TLB family (a spec without its reach item) for a caption: its levels.
fn family_label(family: &str, level: &str) -> String {
    let s = short_tlb(family);
    if s == family || s.is_empty() {
        format!("the rest as {family}")
    } else {
        format!("{s} besides the {level}")
    }
}

/// A panel per trace of `panel_of` (titled by `labels`), a CDF line per row of `rows` on it,
/// from the histogram column `hist`; panels without a row are left out.
fn cdf_panels(
    panel_of: &[&str],
    labels: &HashMap<&str, String>,
    rows: &[&RunRow],
    hist: impl Fn(&RunRow) -> &String,
) -> Vec<Panel> {
    panel_of
        .iter()
        .map(|t| Panel {
            title: labels[t].clone(),
            series: rows
                .iter()
                .filter(|r| r.trace == *t)
                .map(|r| Series {
                    label: r.design.clone(),
                    colour: design_colour(&r.design),
                    points: cdf_points(&histogram(hist(r))),
                })
                .collect(),
        })
        .filter(|p| !p.series.is_empty())
        .collect()
}

/// A step CDF of a (value, count) histogram.
fn cdf_points(h: &[(u64, u64)]) -> Vec<(f64, f64)> {
    let total: u64 = h.iter().map(|(_, c)| c).sum();
    let mut acc = 0u64;
    let mut p = Vec::new();
    let mut prev = 0.0;
    for &(v, c) in h {
        // A step: flat up to v, then up.
        p.push((v as f64, prev));
        acc += c;
        prev = acc as f64 / total.max(1) as f64;
        p.push((v as f64, prev));
    }
    p
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
pub fn short_tlb(spec: &str) -> String {
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
                "upwc" => "UPWC",
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

/// The data of a bar chart.
struct Bars<'a> {
    /// Each trace and its label, in order.
    traces: Vec<(&'a str, &'a str)>,
    designs: Vec<&'a str>,
    /// Huge-page policies, side by side (the first solid, the others pale).
    huge: Vec<&'a str>,
    rows: Vec<&'a RunRow>,
    /// A log axis (bars from the axis floor; a 0 is written).
    log: bool,
    /// The value of a bar.
    value: fn(&RunRow) -> f64,
    /// The value axis's description: on a linear axis, on a log axis.
    y_desc: [&'a str; 2],
}

impl<'a> Bars<'a> {
    /// Bars of `value` for `rows`: the traces among `traces` that have rows (with their
    /// `labels`), the designs and huge-page policies in first-seen order, and a log axis when
    /// the values span orders of magnitude.
    fn new(
        rows: Vec<&'a RunRow>,
        traces: &[&'a str],
        labels: &'a HashMap<&str, String>,
        value: fn(&RunRow) -> f64,
        y_desc: [&'a str; 2],
    ) -> Bars<'a> {
        Bars {
            traces: traces
                .iter()
                .filter(|t| rows.iter().any(|r| r.trace == **t))
                .map(|t| (*t, labels[t].as_str()))
                .collect(),
            designs: distinct(rows.iter().map(|r| r.design.as_str())),
            huge: distinct(rows.iter().map(|r| r.huge.as_str())),
            log: wants_log(rows.iter().map(|r| value(r)).filter(|v| *v > 0.0)),
            rows,
            value,
            y_desc,
        }
    }

    /// Bars of references per translation.
    fn refs(
        rows: Vec<&'a RunRow>,
        traces: &[&'a str],
        labels: &'a HashMap<&str, String>,
    ) -> Bars<'a> {
        Bars::new(
            rows,
            traces,
            labels,
            |r| r.refs_per_translation,
            [
                "memory references per translation",
                "memory references per translation (log scale)",
            ],
        )
    }

    /// Bars of cycles per translation.
    fn cycles(
        rows: Vec<&'a RunRow>,
        traces: &[&'a str],
        labels: &'a HashMap<&str, String>,
    ) -> Bars<'a> {
        Bars::new(
            rows,
            traces,
            labels,
            |r| r.cycles_per_translation,
            [
                "cycles per translation",
                "cycles per translation (log scale)",
            ],
        )
    }

    /// The end of the chart's caption: what pale bars are, and why the axis is logarithmic.
    fn caption_tail(&self) -> String {
        let mut tail = String::new();
        if self.huge.len() > 1 {
            let others: Vec<&str> = self.huge.iter().copied().filter(|h| *h != "off").collect();
            tail.push_str(&format!(
                "; solid bars with huge pages off, pale bars with huge pages {}",
                others.join(", ")
            ));
        }
        if self.log {
            tail.push_str("; the axis is logarithmic (the values span orders of magnitude)");
            if self.rows.iter().any(|r| (self.value)(r) <= 0.0) {
                tail.push_str(", and a 0 is written on its bar");
            }
        }
        tail
    }
}

/// The legend's width for `keys`: room for the longest label.
fn legend_width(keys: &[Key]) -> u32 {
    let longest = keys
        .iter()
        .map(|k| match k {
            Key::Line(l, _)
            | Key::Box(l, _)
            | Key::SolidBox(l)
            | Key::PaleBox(l)
            | Key::Marker(l, _) => l.chars().count(),
        })
        .max()
        .unwrap_or(0);
    (40 + 8 * longest as u32).clamp(110, 320)
}

/// The drawing of a legend entry.
type Swatch<'a, DB> = Vec<DynElement<'a, DB, (i32, i32)>>;

/// A panel's title and its lines (colour, points in axis coordinates).
type PanelLines = (String, Vec<(RGBColor, Vec<(f64, f64)>)>);

/// Draws `keys` down `area` (beside the plot, so it covers no point).
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    keys: &[Key],
) -> Result<(), String> {
    let font = ("sans-serif", 13).into_font();
    for (i, k) in keys.iter().enumerate() {
        let y = 40 + 20 * i as i32;
        let (label, el): (&str, Swatch<DB>) = match k {
            Key::Line(l, c) => (
                l,
                vec![
                    PathElement::new(vec![(6, y), (26, y)], c.stroke_width(2)).into_dyn(),
                    Circle::new((16, y), 3, c.filled()).into_dyn(),
                ],
            ),
            Key::Box(l, c) => (
                l,
                vec![Rectangle::new([(8, y - 6), (24, y + 6)], c.filled()).into_dyn()],
            ),
            Key::SolidBox(l) => (
                l,
                vec![
                    Rectangle::new([(8, y - 6), (24, y + 6)], RGBColor(90, 90, 90).filled())
                        .into_dyn(),
                ],
            ),
            Key::PaleBox(l) => (
                l,
                vec![
                    Rectangle::new([(8, y - 6), (24, y + 6)], pale(BLACK, PALE).filled())
                        .into_dyn(),
                    Rectangle::new([(8, y - 6), (24, y + 6)], BLACK.stroke_width(1)).into_dyn(),
                ],
            ),
            Key::Marker(l, j) => (l, marker::<DB, _>((16, y), *j, RGBColor(70, 70, 70))),
        };
        for e in el {
            area.draw(&e).map_err(err)?;
        }
        area.draw(&Text::new(label.to_string(), (32, y - 7), font.clone()))
            .map_err(err)?;
    }
    Ok(())
}

/// Labels of a (possibly log) axis: on a log axis that spans 1.5 powers or more, only whole
/// powers are labelled.
fn tick(v: f64, log: bool, span: f64, unit: Unit) -> String {
    if !log {
        return unit.show(v);
    }
    if span >= 1.5 && (v - v.round()).abs() > 1e-6 {
        return String::new();
    }
    let e = if span >= 1.5 { v.round() } else { v };
    unit.show(unit.log_base().powf(e))
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    b: &Bars<'_>,
) -> Result<(), String> {
    let mut keys: Vec<Key> = b
        .designs
        .iter()
        .map(|d| Key::Box(d.to_string(), design_colour(d)))
        .collect();
    if b.huge.len() > 1 {
        keys.push(Key::SolidBox(format!("solid: huge {}", b.huge[0])));
        for h in &b.huge[1..] {
            keys.push(Key::PaleBox(format!("pale: huge {h}")));
        }
    }
    let root = area.titled(title, ("sans-serif", 22)).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let (plot, legend) = root.split_horizontally(w.saturating_sub(legend_width(&keys)));
    draw_legend(&legend, &keys)?;
    let values: Vec<f64> = b.rows.iter().map(|r| (b.value)(r)).collect();
    let ymax = values.iter().copied().fold(0.0f64, f64::max);
    let (y0, y1) = if b.log {
        let lo = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let (lo, hi) = axis(lo, ymax, true)?;
        (lo.log10().floor() - 0.3, hi.log10() + 0.15)
    } else {
        axis(0.0, ymax.max(1e-3) * 1.1, false)?
    };
    let ty = |v: f64| if b.log { v.log10() } else { v };
    let n = b.traces.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&plot)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..n, y0..y1)
        .map_err(err)?;
    let labels: Vec<&str> = b.traces.iter().map(|(_, l)| *l).collect();
    let span = y1 - y0;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < labels.len() {
                labels[i].to_string()
            } else {
                String::new()
            }
        })
        .y_desc(if b.log { b.y_desc[1] } else { b.y_desc[0] })
        .y_label_formatter(&|v| tick(*v, b.log, span, Unit::Fraction))
        .x_desc("trace")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    let slots = (b.designs.len() * b.huge.len()).max(1) as f64;
    let w = 0.84 / slots;
    for (j, d) in b.designs.iter().enumerate() {
        let c = design_colour(d);
        for (k, h) in b.huge.iter().enumerate() {
            let fill = if k == 0 { c } else { pale(c, PALE) };
            let mut rects: Vec<Rectangle<(f64, f64)>> = Vec::new();
            let mut zeros: Vec<Text<(f64, f64), String>> = Vec::new();
            for r in b.rows.iter().filter(|r| r.design == *d && r.huge == *h) {
                let Some(i) = b.traces.iter().position(|(t, _)| *t == r.trace) else {
                    continue;
                };
                let x0 = i as f64 + 0.08 + (j * b.huge.len() + k) as f64 * w;
                let v = (b.value)(r);
                if b.log && v <= 0.0 {
                    zeros.push(Text::new(
                        "0".to_string(),
                        (x0, y0 + span * 0.04),
                        ("sans-serif", 11).into_font(),
                    ));
                    continue;
                }
                rects.push(Rectangle::new(
                    [(x0, y0), (x0 + w * 0.9, ty(v))],
                    fill.filled(),
                ));
                if k > 0 {
                    rects.push(Rectangle::new(
                        [(x0, y0), (x0 + w * 0.9, ty(v))],
                        c.stroke_width(1),
                    ));
                }
            }
            chart.draw_series(rects).map_err(err)?;
            chart.draw_series(zeros).map_err(err)?;
        }
    }
    Ok(())
}

/// How an axis prints its values.
#[derive(Copy, Clone)]
enum Unit {
    /// `4 KiB`, `1 GiB`, a log axis by powers of 2.
    Bytes,
    /// `1,536`, a log axis by powers of 10.
    Count,
    /// `1,536`, a log axis by powers of 2 (TLB sizes are).
    Entries,
    /// `0.25`, a log axis by powers of 10.
    Fraction,
}

impl Unit {
    fn log_base(self) -> f64 {
        match self {
            Unit::Bytes | Unit::Entries => 2.0,
            Unit::Count | Unit::Fraction => 10.0,
        }
    }

    fn show(self, v: f64) -> String {
        match self {
            Unit::Bytes => crate::findings::bytes(v),
            Unit::Count | Unit::Entries => crate::thousands(v.round().max(0.0) as u64),
            Unit::Fraction => crate::findings::significant(v, 3),
        }
    }
}

/// A line chart: `panels` in a grid sharing their axes' ranges, the legend beside them. Points
/// an axis cannot show (not finite, or not positive on a log axis) are left out.
fn line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
    axes: Axes<'_>,
    keys: &[Key],
) -> Result<(), String> {
    let shows = |v: f64, log: bool| v.is_finite() && (!log || v > 0.0);
    let to = |v: f64, log: bool, unit: Unit| if log { v.log(unit.log_base()) } else { v };
    let panels: Vec<PanelLines> = panels
        .iter()
        .map(|p| {
            let series = p
                .series
                .iter()
                .map(|s| {
                    let pts: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .copied()
                        .filter(|(x, y)| shows(*x, axes.log.0) && shows(*y, axes.log.1))
                        .map(|(x, y)| {
                            (
                                to(x, axes.log.0, axes.units.0),
                                to(y, axes.log.1, axes.units.1),
                            )
                        })
                        .collect();
                    (s.colour, thin(pts))
                })
                .collect();
            (p.title.clone(), series)
        })
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in panels
        .iter()
        .flat_map(|(_, s)| s.iter().flat_map(|(_, p)| p.iter()))
    {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if x0 > x1 {
        return Err("no points".into());
    }
    let pad = |lo: f64, hi: f64, log: bool| {
        if hi - lo <= 1e-9 * lo.abs().max(hi.abs()).max(1.0) {
            // All equal (to within rounding): a range around them.
            let d = if log { 0.5 } else { (lo.abs() * 0.1).max(1.0) };
            (lo - d, hi + d)
        } else {
            (lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.08)
        }
    };
    let (x0, x1) = pad(x0, x1, axes.log.0);
    let (y0, y1) = pad(if axes.log.1 { y0 } else { y0.min(0.0) }, y1, axes.log.1);
    let (x0, x1) = axis(x0, x1, false)?;
    let (y0, y1) = axis(y0, y1, false)?;
    let root = area.titled(title, ("sans-serif", 22)).map_err(err)?;
    let (w, _) = root.dim_in_pixel();
    let (plots, legend) = root.split_horizontally(w.saturating_sub(legend_width(keys)));
    draw_legend(&legend, keys)?;
    let (cols, rows) = grid(panels.len());
    let cells = plots.split_evenly((rows, cols));
    let small = panels.len() > 1;
    for ((ptitle, series), cell) in panels.iter().zip(cells.iter()) {
        let mut builder = ChartBuilder::on(cell);
        builder
            .margin(if small { 6 } else { 10 })
            .x_label_area_size(if small { 34 } else { 44 })
            .y_label_area_size(if small { 56 } else { 80 });
        if !ptitle.is_empty() {
            builder.caption(ptitle, ("sans-serif", 15));
        }
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?;
        let (sx, sy) = (x1 - x0, y1 - y0);
        chart
            .configure_mesh()
            .x_desc(axes.desc.0)
            .y_desc(axes.desc.1)
            .x_labels(if small { 6 } else { 10 })
            .y_labels(if small { 6 } else { 10 })
            .x_label_formatter(&|v| tick(*v, axes.log.0, sx, axes.units.0))
            .y_label_formatter(&|v| tick(*v, axes.log.1, sy, axes.units.1))
            .label_style(("sans-serif", if small { 11 } else { 14 }))
            .axis_desc_style(("sans-serif", if small { 11 } else { 15 }))
            .draw()
            .map_err(err)?;
        for (i, (c, p)) in series.iter().enumerate() {
            // A line on top of an earlier one of the panel is dashed, so both show.
            if series[..i].iter().any(|(_, q)| q == p) {
                chart
                    .draw_series(DashedLineSeries::new(
                        p.iter().copied(),
                        7,
                        7,
                        c.stroke_width(2),
                    ))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))
                    .map_err(err)?;
            }
            chart
                .draw_series(p.iter().map(|pt| Circle::new(*pt, 3, c.filled())))
                .map_err(err)?;
        }
    }
    Ok(())
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
        let charts = render_all(&rows, d.path(), &Options::default())
            .unwrap()
            .charts;
        let drawn: Vec<&str> = charts
            .iter()
            .filter(|c| c.svg.is_some())
            .map(|c| c.name.as_str())
            .collect();
        // The two TLB sizes are one sweep: lines, not a bar chart per size.
        assert_eq!(
            drawn,
            [
                "refs_per_translation",
                "refs_vs_stlb",
                "tlb_miss_rate",
                "table_bytes",
                "walk_refs_cdf"
            ]
        );
        let miss = charts.iter().find(|c| c.name == "tlb_miss_rate").unwrap();
        assert_eq!(miss.title, "TLB miss rate against L1 TLB entries");
        assert!(
            miss.caption
                .contains("every design missed alike on every trace"),
            "{}",
            miss.caption
        );
        let skipped: Vec<&Chart> = charts.iter().filter(|c| c.svg.is_none()).collect();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].name, "faults_vs_frames");
        assert_eq!(
            skipped[0].skipped.as_deref(),
            Some("the results have no trace replayed at two or more frame counts")
        );
        for name in &drawn {
            let png = std::fs::read(d.path().join(format!("{name}.png"))).unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{name}");
            assert!(has_mark(&d.path().join(format!("{name}.png"))), "{name}");
            let svg = std::fs::read_to_string(d.path().join(format!("{name}.svg"))).unwrap();
            assert!(svg.contains("<svg"), "{name}");
            assert!(has_mark(&d.path().join(format!("{name}.svg"))), "{name}");
        }
        // Each design's colour, in the legend of every chart that draws it.
        let x86 = design_colour("x86-64");
        let hex = format!("#{:02X}{:02X}{:02X}", x86.0, x86.1, x86.2);
        for name in ["refs_per_translation", "refs_vs_stlb", "table_bytes"] {
            let svg = std::fs::read_to_string(d.path().join(format!("{name}.svg"))).unwrap();
            assert!(svg.contains(&hex), "{name} lacks {hex}");
        }
    }

    #[test]
    fn designs_keep_their_colours() {
        assert_eq!(design_colour("x86-64"), RGBColor(0, 114, 178));
        assert_eq!(design_colour("hashed"), RGBColor(0, 158, 115));
        assert_eq!(design_colour("ecpt"), RGBColor(230, 159, 0));
        assert_eq!(design_colour("x86-64-5"), design_colour("x86-64-5l"));
        // A variant is its family's colour or a darker shade of it, the same every time.
        let v = design_colour("flat:va_bits=48");
        assert!(
            [1.0, 0.75, 0.55]
                .iter()
                .any(|f| v == shade(RGBColor(213, 94, 0), *f)),
            "{v:?}"
        );
        assert_eq!(design_colour("mystery:x=1"), design_colour("mystery:x=1"));
    }

    #[test]
    fn tlb_labels_are_short_and_distinct() {
        let names = TlbNames(vec![("l1=4x4,repl=lru".into(), "tiny".into())]);
        let l = names.labels(&[
            "none",
            "l1=4x4,repl=lru",
            "l1i=64x4,l1d=64x4,l2=256x4,repl=lru",
            "l1i=64x4,l1d=64x4,l2=1024x8,repl=lru",
            "l1i=32x4,l1d=32x4,l2=1024x8,repl=lru",
        ]);
        assert_eq!(l["none"], "no TLB");
        assert_eq!(l["l1=4x4,repl=lru"], "tiny");
        assert_eq!(l["l1i=64x4,l1d=64x4,l2=256x4,repl=lru"], "STLB 256x4");
        // Two specs with the same STLB: all their levels.
        assert_eq!(
            l["l1i=32x4,l1d=32x4,l2=1024x8,repl=lru"],
            "L1I 32x4, L1D 32x4, L2 1024x8"
        );
    }

    #[test]
    fn marks_are_recognised_and_only_marks() {
        let d = tempfile::tempdir().unwrap();
        let svg = mark_svg("<?xml version=\"1.0\"?>\n<svg width=\"1\">\n</svg>");
        assert_eq!(
            svg,
            "<?xml version=\"1.0\"?>\n<svg width=\"1\">\n<!-- ptbench chart -->\n</svg>"
        );
        let p = d.path().join("a.svg");
        std::fs::write(&p, &svg).unwrap();
        assert!(has_mark(&p));
        std::fs::write(&p, "<svg width=\"1\"></svg>").unwrap();
        assert!(!has_mark(&p));
        let png = encode_png(&[255; 12], (2, 2)).unwrap();
        let p = d.path().join("a.png");
        std::fs::write(&p, &png).unwrap();
        assert!(has_mark(&p));
        std::fs::write(&p, b"\x89PNG\r\n\x1a\nplain").unwrap();
        assert!(!has_mark(&p));
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
