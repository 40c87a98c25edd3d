//! Experiment files: which traces, and the axes whose cross product makes the cells.
//!
//! ```toml
//! name = "tlb-reach"
//! description = "What a bigger STLB buys each design"
//! huge = ["off", "thp"]                   # top-level keys come before the first [[table]]
//! page_crossing = "split"
//!
//! [[trace]]
//! path = "../traces/*.ptbt.zst"          # paths and globs, relative to this file
//! [[trace]]
//! name = "zipf-4g"                        # generated once, cached under OUT/cache/
//! gen = { pattern = "zipf", accesses = "20m", footprint = "4g", seed = 1 }
//!
//! [[design]]
//! spec = "x86-64"
//! [[design]]
//! spec = "hashed"
//! bucket = [1, 2, 4, 8]                   # a list is an axis: one cell per value
//!
//! [[tlb]]
//! spec = "none"
//! [[tlb]]
//! spec = "repl=lru"
//! l1 = ["16x4", "64x4", "256x4"]
//!
//!
//! [[group]]                               # another cross product, beside the one above
//! traces = ["zipf-4g"]                    # only these traces (default: all)
//! design = [{ spec = "x86-64" }]          # (axes it leaves out are the top-level ones)
//! tlb = [{ spec = "none" }]
//! os = { frames = [256, 1024], policy = ["lru", "clock", "opt"] }
//! ```
//!
//! Without `[[group]]`, the top-level axes make the one cross product; with groups, each group
//! makes one and the cells are their union (a cell in two groups runs once). `[os]` takes the
//! settings of `ptbench run`'s OS model (`frames`, `policy`, `first_touch`, ...), lists or values.
//!
//! Cells are the cross product trace x design x TLB x huge-page policy x OS settings, in file order
//! (globs sorted); every cell has a stable key ([`Cell::key`]) written in its result row.

use ptbench_pagetable::DesignSpec;
use ptbench_replay::{HugePolicy, PageCrossing};
use ptbench_tlb::{CacheSpec, TlbSpec};
use ptbench_trace::gen::{GenSpec, Pattern};
use serde::Deserialize;
use std::path::{Component, Path, PathBuf};
use thiserror::Error;

/// The most cells an experiment may have (about 60 MB of cells; the README's main job has 162),
/// well below the most rows a results file holds ([`crate::results::MAX_ROWS`]).
pub const MAX_CELLS: usize = 100_000;

/// The most specs one `[[design]]` or `[[tlb]]` table, or settings one `[os]` table, may expand
/// to.
pub const MAX_VARIANTS: usize = 10_000;

/// Why an experiment file cannot be used.
#[derive(Debug, Error)]
pub enum ExperimentError {
    /// The file could not be read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The experiment file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The experiment file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A value is not usable.
    #[error("{}: {what}: {message}", path.display())]
    Invalid {
        /// The experiment file.
        path: PathBuf,
        /// Which entry.
        what: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, rename = "trace")]
    traces: Vec<TraceToml>,
    #[serde(default, rename = "design")]
    designs: Vec<toml::Table>,
    #[serde(default, rename = "tlb")]
    tlbs: Vec<toml::Table>,
    #[serde(default, rename = "cache")]
    caches: Vec<toml::Table>,
    #[serde(default)]
    huge: Vec<String>,
    page_crossing: Option<String>,
    #[serde(default)]
    os: toml::Table,
    #[serde(default, rename = "group")]
    groups: Vec<GroupToml>,
}

/// A cross product of its own: any axis it leaves out is the file's top-level one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupToml {
    /// Only these traces (ids, file names or generated names); all when absent.
    traces: Option<Vec<String>>,
    #[serde(rename = "design")]
    designs: Option<Vec<toml::Table>>,
    #[serde(rename = "tlb")]
    tlbs: Option<Vec<toml::Table>>,
    #[serde(rename = "cache")]
    caches: Option<Vec<toml::Table>>,
    huge: Option<Vec<String>>,
    os: Option<toml::Table>,
}

/// The axes of one cross product.
struct Axes {
    traces: Option<Vec<String>>,
    designs: Vec<DesignSpec>,
    tlbs: Vec<TlbSpec>,
    caches: Vec<CacheSpec>,
    huge: Vec<HugePolicy>,
    os: Vec<(Vec<(String, String)>, ptbench_os::OsConfig)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceToml {
    path: Option<String>,
    name: Option<String>,
    gen: Option<GenToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenToml {
    pattern: String,
    accesses: toml::Value,
    footprint: toml::Value,
    seed: Option<u64>,
    stride: Option<u64>,
    theta: Option<f64>,
    write_ratio: Option<f64>,
}

/// Where a trace comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceSource {
    /// A file.
    File(PathBuf),
    /// A generated trace, written once to a cache file.
    Gen {
        /// Its name in the experiment.
        name: String,
        /// What to generate.
        spec: GenSpec,
    },
}

/// One trace of an experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceRef {
    /// The trace's id in keys and result rows: the file's path, or `gen:NAME`.
    pub id: String,
    /// Where it comes from.
    pub source: TraceSource,
}

impl TraceRef {
    /// The file the trace is read from: the file itself, or the generated trace's cache file
    /// under `cache_dir` (named after its parameters; zstd, about a quarter of the raw 16 bytes
    /// per access).
    pub fn file(&self, cache_dir: &Path) -> PathBuf {
        match &self.source {
            TraceSource::File(p) => p.clone(),
            TraceSource::Gen { name, spec } => {
                cache_dir.join(format!("{name}-{:016x}.ptbt.zst", gen_hash(spec)))
            }
        }
    }

    /// Estimated work of replaying it once: accesses for a generated trace, bytes for a file.
    pub fn work(&self) -> u64 {
        match &self.source {
            TraceSource::File(p) => ptbench_trace::trace_bytes(p).max(1),
            TraceSource::Gen { spec, .. } => spec.accesses.saturating_mul(16).max(1),
        }
    }
}

fn gen_hash(spec: &GenSpec) -> u64 {
    fnv(format!("{spec:?}").as_bytes())
}

/// FNV-1a, for stable names and hashes that do not depend on the Rust version.
pub fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One configuration on one trace.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Position in the experiment's cross product.
    pub index: usize,
    /// Index into [`Experiment::traces`].
    pub trace: usize,
    /// The design.
    pub design: DesignSpec,
    /// The TLB hierarchy.
    pub tlb: TlbSpec,
    /// The cache hierarchy ([`CacheSpec::NONE`]: no cycles).
    pub cache: CacheSpec,
    /// The huge-page policy.
    pub huge: HugePolicy,
    /// OS settings (`key`, `value`), in the experiment's order.
    pub os: Vec<(String, String)>,
    /// The same settings as the OS model takes them.
    pub os_config: ptbench_os::OsConfig,
    /// The stable key.
    pub key: String,
}

/// A parsed experiment.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its text (copied into reports).
    pub text: String,
    /// Its name (default: the file's stem).
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The traces.
    pub traces: Vec<TraceRef>,
    /// How page-crossing accesses are translated.
    pub page_crossing: PageCrossing,
    /// Every cell, in order.
    pub cells: Vec<Cell>,
}

impl Experiment {
    /// Reads and expands the experiment at `path`.
    pub fn load(path: &Path) -> Result<Experiment, ExperimentError> {
        let text = std::fs::read_to_string(path).map_err(|error| ExperimentError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Experiment::parse(path, &text)
    }

    /// Expands `text` as the experiment file `path` (relative trace paths are relative to the
    /// file's directory).
    pub fn parse(path: &Path, text: &str) -> Result<Experiment, ExperimentError> {
        if let Some(message) = text
            .parse::<toml::Table>()
            .ok()
            .and_then(|t| misplaced_key(&t))
        {
            return Err(ExperimentError::Syntax {
                path: path.to_path_buf(),
                message,
            });
        }
        let file: FileToml = toml::from_str(text).map_err(|e| ExperimentError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let invalid = |what: &str, message: String| ExperimentError::Invalid {
            path: path.to_path_buf(),
            what: what.to_string(),
            message,
        };
        if let Some(name) = &file.name {
            check_name(name).map_err(|m| invalid("name", m))?;
        }
        let dir = path.parent().unwrap_or(Path::new(""));
        let mut traces = Vec::new();
        for (i, t) in file.traces.iter().enumerate() {
            let what = format!("[[trace]] #{}", i + 1);
            match (&t.path, &t.gen) {
                (Some(p), None) => {
                    let pattern = normalize(&dir.join(p));
                    let pattern_text = pattern.to_string_lossy().into_owned();
                    let mut found: Vec<PathBuf> = glob::glob(&pattern_text)
                        .map_err(|e| invalid(&what, format!("bad pattern `{p}`: {e}")))?
                        .filter_map(Result::ok)
                        .collect();
                    found.sort();
                    if found.is_empty() {
                        return Err(invalid(
                            &what,
                            format!("`{p}` ({pattern_text}) matches no file"),
                        ));
                    }
                    for f in found {
                        traces.push(TraceRef {
                            id: f.display().to_string(),
                            source: TraceSource::File(f),
                        });
                    }
                }
                (None, Some(g)) => {
                    let name = t
                        .name
                        .clone()
                        .ok_or_else(|| invalid(&what, "a generated trace needs a `name`".into()))?;
                    if name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    {
                        return Err(invalid(
                            &what,
                            format!("name `{name}`: use letters, digits, `-`, `_` and `.`"),
                        ));
                    }
                    let spec = gen_spec(g).map_err(|m| invalid(&what, m))?;
                    traces.push(TraceRef {
                        id: format!("gen:{name}"),
                        source: TraceSource::Gen { name, spec },
                    });
                }
                _ => {
                    return Err(invalid(
                        &what,
                        "give either `path` (a file or glob) or `gen` (ptbench gen parameters)"
                            .into(),
                    ))
                }
            }
        }
        if traces.is_empty() {
            return Err(invalid("[[trace]]", "the experiment names no trace".into()));
        }
        for (i, a) in traces.iter().enumerate() {
            if traces[..i].iter().any(|b| b.id == a.id) {
                return Err(invalid(
                    "[[trace]]",
                    format!("trace `{}` is listed twice", a.id),
                ));
            }
        }

        // Count the cells before expanding anything: a few lists can describe more cells
        // than memory holds.
        let described = described_cells(&file, &traces);
        if described > MAX_CELLS as u128 {
            return Err(invalid(
                "the experiment",
                format!(
                    "it describes {described} cells (its axes multiplied out, per trace); one sweep runs at most {MAX_CELLS}: split it into several experiments or shorten its lists"
                ),
            ));
        }
        let axes = |designs_t: &[toml::Table],
                    tlbs_t: &[toml::Table],
                    caches_t: &[toml::Table],
                    huge_t: &[String],
                    os_t: &toml::Table,
                    at: &str|
         -> Result<Axes, ExperimentError> {
            let mut designs = Vec::new();
            for (i, t) in designs_t.iter().enumerate() {
                let what = format!("{at}[[design]] #{}", i + 1);
                for spec in expand(t, "spec", ':').map_err(|m| invalid(&what, m))? {
                    let d = DesignSpec::parse(&spec).map_err(|e| invalid(&what, e.to_string()))?;
                    if !designs.contains(&d) {
                        designs.push(d);
                    }
                }
            }
            if designs.is_empty() {
                return Err(invalid(
                    &format!("{at}[[design]]"),
                    "the experiment names no design".into(),
                ));
            }
            let mut tlbs = Vec::new();
            for (i, t) in tlbs_t.iter().enumerate() {
                let what = format!("{at}[[tlb]] #{}", i + 1);
                for spec in expand(t, "spec", ',').map_err(|m| invalid(&what, m))? {
                    let s = TlbSpec::parse(&spec).map_err(|e| invalid(&what, format!("{e}")))?;
                    if !tlbs.contains(&s) {
                        tlbs.push(s);
                    }
                }
            }
            if tlbs.is_empty() {
                tlbs.push(TlbSpec::NONE);
            }
            let mut caches = Vec::new();
            for (i, t) in caches_t.iter().enumerate() {
                let what = format!("{at}[[cache]] #{}", i + 1);
                for spec in expand(t, "spec", ',').map_err(|m| invalid(&what, m))? {
                    let c = CacheSpec::parse(&spec).map_err(|e| invalid(&what, format!("{e}")))?;
                    if !caches.contains(&c) {
                        caches.push(c);
                    }
                }
            }
            if caches.is_empty() {
                caches.push(CacheSpec::NONE);
            }
            let mut huge = Vec::new();
            for h in if huge_t.is_empty() {
                vec!["off".to_string()]
            } else {
                huge_t.to_vec()
            } {
                let p = parse_huge(&h).map_err(|m| invalid(&format!("{at}huge"), m))?;
                if !huge.contains(&p) {
                    huge.push(p);
                }
            }
            let mut os = Vec::new();
            for o in os_axes(os_t).map_err(|m| invalid(&format!("{at}[os]"), m))? {
                let text: Vec<String> = o.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let c: ptbench_os::OsConfig =
                    text.join(",")
                        .parse()
                        .map_err(|e: ptbench_os::ConfigError| {
                            invalid(&format!("{at}[os]"), e.to_string())
                        })?;
                os.push((o, c));
            }
            Ok(Axes {
                traces: None,
                designs,
                tlbs,
                caches,
                huge,
                os,
            })
        };
        let mut groups = Vec::new();
        if file.groups.is_empty() {
            groups.push(axes(
                &file.designs,
                &file.tlbs,
                &file.caches,
                &file.huge,
                &file.os,
                "",
            )?);
        }
        for (i, g) in file.groups.iter().enumerate() {
            let at = format!("[[group]] #{}: ", i + 1);
            let mut a = axes(
                g.designs.as_deref().unwrap_or(&file.designs),
                g.tlbs.as_deref().unwrap_or(&file.tlbs),
                g.caches.as_deref().unwrap_or(&file.caches),
                g.huge.as_deref().unwrap_or(&file.huge),
                g.os.as_ref().unwrap_or(&file.os),
                &at,
            )?;
            if let Some(names) = &g.traces {
                for n in names {
                    if !traces.iter().any(|t| trace_named(t, n)) {
                        return Err(invalid(
                            &format!("{at}traces"),
                            format!("`{n}` names no trace of the experiment"),
                        ));
                    }
                }
                a.traces = Some(names.clone());
            }
            groups.push(a);
        }
        let page_crossing = match file.page_crossing.as_deref() {
            None | Some("split") => PageCrossing::Split,
            Some("first") => PageCrossing::First,
            Some(o) => {
                return Err(invalid(
                    "page_crossing",
                    format!("`{o}`: use `split` or `first`"),
                ))
            }
        };
        // Refused before the cross product is built: a short file of long lists would otherwise
        // expand until memory runs out.
        let planned = groups.iter().fold(0usize, |sum, g| {
            let n = traces
                .iter()
                .filter(|t| {
                    g.traces
                        .as_ref()
                        .is_none_or(|names| names.iter().any(|n| trace_named(t, n)))
                })
                .count();
            let per = [
                n,
                g.designs.len(),
                g.tlbs.len(),
                g.caches.len(),
                g.huge.len(),
                g.os.len(),
            ]
            .iter()
            .fold(1usize, |p, &x| p.saturating_mul(x));
            sum.saturating_add(per)
        });
        if planned > MAX_CELLS {
            return Err(invalid(
                "the cells",
                format!("{planned} cells, more than {MAX_CELLS}, the most an experiment may have: split it"),
            ));
        }
        let mut cells: Vec<Cell> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (ti, t) in traces.iter().enumerate() {
            for g in &groups {
                if let Some(names) = &g.traces {
                    if !names.iter().any(|n| trace_named(t, n)) {
                        continue;
                    }
                }
                for d in &g.designs {
                    for tlb in &g.tlbs {
                        for cache in &g.caches {
                            for h in &g.huge {
                                for (o, os_config) in &g.os {
                                    let key = key(&t.id, d, tlb, *h, page_crossing, o, cache);
                                    if !seen.insert(key.clone()) {
                                        continue;
                                    }
                                    cells.push(Cell {
                                        index: cells.len(),
                                        trace: ti,
                                        design: d.clone(),
                                        tlb: *tlb,
                                        cache: *cache,
                                        huge: *h,
                                        os: o.clone(),
                                        os_config: os_config.clone(),
                                        key,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(Experiment {
            path: path.to_path_buf(),
            text: text.to_string(),
            name: file.name.unwrap_or_else(|| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "experiment".into())
            }),
            description: file.description.unwrap_or_default(),
            traces,
            page_crossing,
            cells,
        })
    }

    /// A hash of every cell key, with each trace file named by its path relative to the
    /// experiment file's directory (symbolic links resolved): two runs with equal hashes ran
    /// the same cells, from whichever directory each was started.
    pub fn hash(&self) -> u64 {
        let stable: Vec<String> = self.traces.iter().map(|t| self.stable_id(t)).collect();
        let mut all = String::new();
        for c in &self.cells {
            let id = &self.traces[c.trace].id;
            all.push_str("trace=");
            all.push_str(&stable[c.trace]);
            all.push_str(&c.key[("trace=".len() + id.len()).min(c.key.len())..]);
            all.push('\n');
        }
        fnv(all.as_bytes())
    }

    /// The hash of earlier versions: of every cell key as it is (trace paths relative to the
    /// directory the sweep was started in).
    pub fn hash_by_keys(&self) -> u64 {
        let mut all = String::new();
        for c in &self.cells {
            all.push_str(&c.key);
            all.push('\n');
        }
        fnv(all.as_bytes())
    }

    /// A trace's name independent of the working directory: a file's path relative to the
    /// experiment file's directory (both canonical); a generated trace's id.
    fn stable_id(&self, t: &TraceRef) -> String {
        let TraceSource::File(f) = &t.source else {
            return t.id.clone();
        };
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match (f.canonicalize(), dir.canonicalize()) {
            (Ok(f), Ok(d)) => relative(&f, &d).display().to_string(),
            _ => t.id.clone(),
        }
    }

    /// This experiment with its trace ids and cell keys as `keys` (the keys of a sweep of the
    /// same cells, [`Experiment::hash`] equal, started from another directory) name them, so
    /// that a resumed sweep's rows name traces as the rows it resumes do. `None` when the keys
    /// differ in more than the trace ids.
    pub fn with_keys(&self, keys: &[String]) -> Option<Experiment> {
        if keys.len() != self.cells.len() {
            return None;
        }
        let mut exp = self.clone();
        for (ti, t) in exp.traces.iter_mut().enumerate() {
            let mut old_id: Option<String> = None;
            for c in self.cells.iter().filter(|c| c.trace == ti) {
                let rest = c.key.get("trace=".len() + self.traces[ti].id.len()..)?;
                let id = keys[c.index].strip_prefix("trace=")?.strip_suffix(rest)?;
                match &old_id {
                    Some(o) if o != id => return None,
                    Some(_) => {}
                    None => old_id = Some(id.to_string()),
                }
            }
            if let Some(id) = old_id {
                t.id = id;
            }
        }
        for c in &mut exp.cells {
            c.key.clone_from(&keys[c.index]);
        }
        Some(exp)
    }
}

/// Whether `name` names trace `t`: its id, its file name, or its generated name.
fn trace_named(t: &TraceRef, name: &str) -> bool {
    t.id == name
        || match &t.source {
            TraceSource::File(p) => p.file_name().is_some_and(|f| f == name),
            TraceSource::Gen { name: g, .. } => g == name,
        }
}

/// The stable key of a cell; its cache is named only when it has one, so keys of cells
/// without a cache model are what they were before the cache axis.
pub fn key(
    trace: &str,
    design: &DesignSpec,
    tlb: &TlbSpec,
    huge: HugePolicy,
    crossing: PageCrossing,
    os: &[(String, String)],
    cache: &CacheSpec,
) -> String {
    let mut k = format!(
        "trace={trace}|design={design}|tlb={tlb}|huge={}|crossing={}",
        huge.name(),
        match crossing {
            PageCrossing::Split => "split",
            PageCrossing::First => "first",
        }
    );
    for (name, v) in os {
        k.push_str(&format!("|{name}={v}"));
    }
    if cache.enabled() {
        k.push_str(&format!("|cache={cache}"));
    }
    k
}

/// `off` (`never`), `2m`, `1g`, `thp`, `always`, `madvise`, `defer`.
pub fn parse_huge(h: &str) -> Result<HugePolicy, String> {
    h.parse()
}

fn scalar(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!("`{other}` is not a string or a number")),
    }
}

/// The values of one key: a scalar, or every element of a list.
fn values(key: &str, v: &toml::Value) -> Result<Vec<String>, String> {
    match v {
        toml::Value::Array(a) if a.is_empty() => Err(format!("`{key}` is an empty list")),
        toml::Value::Array(a) => a
            .iter()
            .map(|x| scalar(x).map_err(|e| format!("`{key}`: {e}")))
            .collect(),
        other => Ok(vec![scalar(other).map_err(|e| format!("`{key}`: {e}"))?]),
    }
}

/// The keys that belong above the first table.
const TOP_LEVEL: &[&str] = &["name", "description", "huge", "page_crossing"];

/// A top-level key written below a `[[...]]` table (where TOML makes it that table's key), when
/// that table cannot have it: `name` in a `[[trace]]` that has a `path`, `huge` in a `[[tlb]]`
/// with a page-size value, or any top-level key in another table that does not take it.
fn misplaced_key(t: &toml::Table) -> Option<String> {
    let huge_policy = |v: &toml::Value| {
        let policy = |v: &toml::Value| v.as_str().is_some_and(|s| parse_huge(s).is_ok());
        match v {
            toml::Value::Array(a) => a.iter().any(policy),
            v => policy(v),
        }
    };
    for (table, elements) in t {
        let elements: Vec<&toml::Table> = match elements {
            toml::Value::Array(a) => a.iter().filter_map(toml::Value::as_table).collect(),
            toml::Value::Table(t) => vec![t],
            _ => continue,
        };
        for e in elements {
            for &key in TOP_LEVEL {
                let Some(v) = e.get(key) else { continue };
                let misplaced = match (table.as_str(), key) {
                    ("trace", "name") => e.contains_key("path") && !e.contains_key("gen"),
                    ("tlb", "huge") => huge_policy(v),
                    ("group", "huge") => false,
                    // A design parameter of that name would be the design's (none exists).
                    ("design", k) => !ptbench_pagetable::CATALOG
                        .iter()
                        .any(|d| d.params.iter().any(|p| p.key == k)),
                    _ => true,
                };
                if misplaced {
                    let brackets = if t.get(table).is_some_and(toml::Value::is_array) {
                        format!("[[{table}]]")
                    } else {
                        format!("[{table}]")
                    };
                    return Some(format!(
                        "`{key}` is a top-level key: move it above the first `[[...]]` table \
                         (written below `{brackets}`, TOML reads it as a key of that table)"
                    ));
                }
            }
        }
    }
    None
}

/// Every spec string of a table: `base` (key `head`, may be absent) followed by `key=value` for
/// the other keys, one string per combination of their values, joined to the base by `sep`
/// (then by `,`).
fn expand(t: &toml::Table, head: &str, sep: char) -> Result<Vec<String>, String> {
    let base = match t.get(head) {
        Some(v) => values(head, v)?,
        None if sep == ',' => vec![String::new()],
        None => return Err(format!("needs `{head}` (a design name or spec)")),
    };
    let mut out: Vec<String> = base;
    for (k, v) in t.iter().filter(|(k, _)| k.as_str() != head) {
        let vals = values(k, v)?;
        if out.len().saturating_mul(vals.len()) > MAX_VARIANTS {
            return Err(format!(
                "its lists make more than {MAX_VARIANTS} specs, the most one table may make"
            ));
        }
        let mut next = Vec::new();
        for prefix in &out {
            for v in &vals {
                let joiner = if prefix.is_empty() {
                    ""
                } else if sep == ':' && !prefix.contains(':') {
                    ":"
                } else {
                    ","
                };
                next.push(format!("{prefix}{joiner}{k}={v}"));
            }
        }
        out = next;
    }
    Ok(out
        .into_iter()
        .map(|s| if s.is_empty() { "none".into() } else { s })
        .collect())
}

/// The OS settings' cross product: `[[]]` without an `[os]` table.
fn os_axes(t: &toml::Table) -> Result<Vec<Vec<(String, String)>>, String> {
    let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (k, v) in t {
        let vals = values(k, v)?;
        if out.len().saturating_mul(vals.len()) > MAX_VARIANTS {
            return Err(format!(
                "its lists make more than {MAX_VARIANTS} settings, the most one table may make"
            ));
        }
        let mut next = Vec::new();
        for prefix in &out {
            for v in &vals {
                let mut p = prefix.clone();
                p.push((k.clone(), v.clone()));
                next.push(p);
            }
        }
        out = next;
    }
    Ok(out)
}

fn count(v: &toml::Value, binary: bool, what: &str) -> Result<u64, String> {
    match v {
        toml::Value::Integer(i) if *i > 0 => Ok(*i as u64),
        toml::Value::String(s) => {
            ptbench_core::parse_count(s, binary).map_err(|e| format!("{what}: {e}"))
        }
        other => Err(format!("{what} `{other}` is not a positive count")),
    }
}

fn gen_spec(g: &GenToml) -> Result<GenSpec, String> {
    let pattern: Pattern = g.pattern.parse()?;
    let mut spec = GenSpec::new(
        pattern,
        count(&g.accesses, false, "accesses")?,
        count(&g.footprint, true, "footprint")?,
    );
    if let Some(s) = g.seed {
        spec.seed = s;
    }
    if let Some(s) = g.stride {
        spec.stride = s;
    }
    if let Some(t) = g.theta {
        spec.theta = t;
    }
    if let Some(w) = g.write_ratio {
        spec.write_ratio = w;
    }
    spec.validate()?;
    Ok(spec)
}

/// How many cells `file` describes over `traces`: the sum over its groups of traces x designs x
/// TLBs x huge-page policies x OS settings, each axis the product of its lists' lengths,
/// counted without expanding them (duplicates counted too: an upper bound).
fn described_cells(file: &FileToml, traces: &[TraceRef]) -> u128 {
    let combos = |t: &toml::Table| -> u128 {
        t.values()
            .map(|v| match v {
                toml::Value::Array(a) => a.len().max(1) as u128,
                _ => 1,
            })
            .fold(1u128, u128::saturating_mul)
    };
    let tables =
        |ts: &[toml::Table]| -> u128 { ts.iter().map(combos).fold(0u128, u128::saturating_add) };
    let one = |traces_n: u128,
               d: &[toml::Table],
               l: &[toml::Table],
               c: &[toml::Table],
               h: &[String],
               o: &toml::Table| {
        [
            traces_n,
            tables(d),
            tables(l).max(1),
            tables(c).max(1),
            (h.len() as u128).max(1),
            combos(o),
        ]
        .into_iter()
        .fold(1u128, u128::saturating_mul)
    };
    if file.groups.is_empty() {
        return one(
            traces.len() as u128,
            &file.designs,
            &file.tlbs,
            &file.caches,
            &file.huge,
            &file.os,
        );
    }
    file.groups
        .iter()
        .map(|g| {
            let n = match &g.traces {
                Some(names) => traces
                    .iter()
                    .filter(|t| names.iter().any(|n| trace_named(t, n)))
                    .count(),
                None => traces.len(),
            };
            one(
                n as u128,
                g.designs.as_deref().unwrap_or(&file.designs),
                g.tlbs.as_deref().unwrap_or(&file.tlbs),
                g.caches.as_deref().unwrap_or(&file.caches),
                g.huge.as_deref().unwrap_or(&file.huge),
                g.os.as_ref().unwrap_or(&file.os),
            )
        })
        .fold(0u128, u128::saturating_add)
}

/// An experiment's `name` names the directory `reports/NAME`: one path component, never a
/// path that leads elsewhere.
fn check_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.starts_with('-')
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err(format!(
            "{name:?} is not a name: it must be one path component (no `/`, `\\`, control characters, not `.` or `..`, not starting with `-`), since it names the directory reports/NAME; give a directory with --out instead"
        ));
    }
    Ok(())
}

/// `path` relative to `base`, both absolute and canonical (`/a/b/c` from `/a/d`: `../b/c`).
fn relative(path: &Path, base: &Path) -> PathBuf {
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// `a/b/../c` -> `a/c`, lexically (so trace ids read well).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(text: &str) -> Result<Experiment, ExperimentError> {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("traces")).unwrap();
        for n in ["b.lackey", "a.lackey"] {
            std::fs::write(d.path().join("traces").join(n), " L 1000,4\n").unwrap();
        }
        std::fs::create_dir(d.path().join("exp")).unwrap();
        let p = d.path().join("exp/e.toml");
        std::fs::write(&p, text).unwrap();
        let e = Experiment::load(&p);
        drop(d);
        e
    }

    #[test]
    fn axes_multiply_in_file_order() {
        let e = exp(r#"
            huge = ["off", "2m"]
            [[trace]]
            path = "../traces/*.lackey"
            [[trace]]
            name = "z"
            gen = { pattern = "zipf", accesses = "1k", footprint = "1m" }
            [[design]]
            spec = "x86-64"
            [[design]]
            spec = "hashed"
            bucket = [1, 2]
            [[tlb]]
            spec = "none"
            [[tlb]]
            spec = "repl=lru"
            l1 = ["16x4", "64x4"]
        "#)
        .unwrap();
        assert_eq!(e.traces.len(), 3);
        assert!(
            e.traces[0].id.ends_with("traces/a.lackey"),
            "{}",
            e.traces[0].id
        );
        assert!(!e.traces[0].id.contains(".."));
        assert_eq!(e.traces[2].id, "gen:z");
        // 3 traces x 3 designs x 3 TLBs x 2 huge.
        assert_eq!(e.cells.len(), 3 * 3 * 3 * 2);
        let designs: Vec<String> = e.cells[..18]
            .iter()
            .step_by(6)
            .map(|c| c.design.to_string())
            .collect();
        assert_eq!(designs.len(), 3);
        assert_eq!(designs[0], "x86-64");
        assert!(designs[1].contains("bucket=1"), "{designs:?}");
        assert!(designs[2].contains("bucket=2"), "{designs:?}");
        let k = &e.cells[1].key;
        assert!(k.contains("|tlb=none|huge=2m|"), "{k}");
        let k = &e.cells[2].key;
        assert!(k.contains("l1=16x4"), "{k}");
        let keys: std::collections::HashSet<&str> =
            e.cells.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys.len(), e.cells.len(), "keys are unique");
    }

    #[test]
    fn groups_add_their_own_cross_products() {
        let e = exp(r#"
            [[trace]]
            path = "../traces/a.lackey"
            [[design]]
            spec = "x86-64"
            [[design]]
            spec = "hashed"
            [[tlb]]
            spec = "none"
            [[group]]
            [[group]]
            traces = ["a.lackey"]
            design = [{ spec = "x86-64" }]
            os = { frames = [16, 32], policy = ["lru", "opt"] }
        "#)
        .unwrap();
        // 2 designs (the first group: the top-level axes), then 1 x 2 frames x 2 policies.
        assert_eq!(e.cells.len(), 2 + 4);
        assert!(
            e.cells[2].key.ends_with("|frames=16|policy=lru"),
            "{}",
            e.cells[2].key
        );
        assert_eq!(e.cells[5].os_config.frames, Some(32));
        assert_eq!(e.cells[5].os_config.policy, ptbench_os::Policy::Opt);
        let bad = exp(r#"
            [[trace]]
            path = "../traces/a.lackey"
            [[design]]
            spec = "x86-64"
            [[group]]
            os = { policy = ["belady"] }
        "#)
        .unwrap_err()
        .to_string();
        assert!(bad.contains("[[group]] #1: [os]"), "{bad}");
    }

    #[test]
    fn a_top_level_key_below_a_table_says_to_move_it() {
        let msg = |text: &str| match exp(text).unwrap_err() {
            ExperimentError::Syntax { message, .. } => message,
            e => panic!("{e}"),
        };
        let tail = "is a top-level key: move it above the first `[[...]]` table (written below";
        assert_eq!(
            msg("[[trace]]\npath = \"../traces/a.lackey\"\nname = \"tlb-reach\"\n[[design]]\nspec = \"x86-64\""),
            format!("`name` {tail} `[[trace]]`, TOML reads it as a key of that table)")
        );
        assert_eq!(
            msg("[[trace]]\npath = \"../traces/a.lackey\"\n[[design]]\nspec = \"x86-64\"\n[[tlb]]\nspec = \"none\"\nhuge = [\"off\", \"thp\"]"),
            format!("`huge` {tail} `[[tlb]]`, TOML reads it as a key of that table)")
        );
        assert_eq!(
            msg("[[trace]]\npath = \"../traces/a.lackey\"\n[[design]]\nspec = \"x86-64\"\ndescription = \"d\""),
            format!("`description` {tail} `[[design]]`, TOML reads it as a key of that table)")
        );
        assert_eq!(
            msg("[[trace]]\npath = \"../traces/a.lackey\"\npage_crossing = \"first\"\n[[design]]\nspec = \"x86-64\""),
            format!("`page_crossing` {tail} `[[trace]]`, TOML reads it as a key of that table)")
        );
        // Where the key is the table's own, it stays there.
        let e = exp(r#"
            name = "ok"
            [[trace]]
            name = "z"
            gen = { pattern = "zipf", accesses = "1k", footprint = "1m" }
            [[design]]
            spec = "x86-64"
            [[tlb]]
            spec = "tiny"
            huge = "shared"
            [[group]]
            huge = ["2m"]
        "#)
        .unwrap();
        assert_eq!(e.cells.len(), 1);
        assert!(e.cells[0].key.contains("huge=shared"), "{}", e.cells[0].key);
        assert!(e.cells[0].key.contains("|huge=2m|"), "{}", e.cells[0].key);
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("[[trace]]\npath = \"nope/*\"\n[[design]]\nspec=\"x86-64\"", "matches no file"),
            ("[[trace]]\npath = \"../traces/a.lackey\"", "names no design"),
            (
                "[[trace]]\npath = \"../traces/a.lackey\"\n[[design]]\nspec=\"hashed\"\nbucket=[]",
                "empty list",
            ),
            (
                "[[trace]]\npath = \"../traces/a.lackey\"\n[[design]]\nspec=\"nosuch\"",
                "[[design]] #1",
            ),
            ("[[trace]]\npath = \"../traces/a.lackey\"\ncolour = 1", "unknown field"),
            (
                "[[trace]]\npath = \"../traces/a.lackey\"\nname = \"x\"\n[[design]]\nspec=\"x86-64\"",
                "`name` is a top-level key",
            ),
            (
                "[[trace]]\ngen = { pattern = \"zipf\", accesses = 1, footprint = 4096 }\n[[design]]\nspec=\"x86-64\"",
                "needs a `name`",
            ),
        ];
        for (text, want) in cases {
            let e = exp(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn a_name_is_one_path_component() {
        for name in [
            "../../../x",
            "/tmp/x",
            "a/b",
            "..",
            ".",
            "",
            "a\\b",
            "-rf",
            "a\nb",
        ] {
            let text = format!(
                "name = {name:?}\n[[trace]]\nname = \"g\"\ngen = {{ pattern = \"zipf\", accesses = 1, footprint = 4096 }}\n[[design]]\nspec=\"x86-64\""
            );
            let e = exp(&text).unwrap_err().to_string();
            assert!(
                e.contains(&format!(
                    "name: {name:?} is not a name: it must be one path component"
                )),
                "{name}: {e}"
            );
        }
        let ok = "name = \"my sweep (v2)\"\n[[trace]]\nname = \"g\"\ngen = { pattern = \"zipf\", accesses = 1, footprint = 4096 }\n[[design]]\nspec=\"x86-64\"";
        assert_eq!(exp(ok).unwrap().name, "my sweep (v2)");
    }

    #[test]
    fn too_many_cells_are_refused_before_they_are_expanded() {
        // 10 x 10 x 10 x 10 design parameters x 100 x 100 STLB sizes x 10 traces = 10^9 cells:
        // refused at once, with the count, without building them.
        let mut text = String::new();
        for i in 0..10 {
            text.push_str(&format!(
                "[[trace]]\nname = \"g{i}\"\ngen = {{ pattern = \"zipf\", accesses = 1, footprint = 4096 }}\n"
            ));
        }
        let list = |n: usize| {
            format!(
                "[{}]",
                (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
            )
        };
        text.push_str(&format!(
            "[[design]]\nspec = \"hashed\"\na = {0}\nb = {0}\nc = {0}\nd = {0}\n[[tlb]]\nspec = \"skylake\"\nx = {1}\ny = {1}\n",
            list(10),
            list(100)
        ));
        let start = std::time::Instant::now();
        let e = exp(&text).unwrap_err().to_string();
        assert!(
            e.contains("the experiment: it describes 1000000000 cells (its axes multiplied out, per trace); one sweep runs at most 100000"),
            "{e}"
        );
        assert!(start.elapsed().as_secs() < 5);
        // At the limit's other side a group-less experiment is counted exactly.
        let mut small = String::from("huge = [\"off\", \"thp\"]\n");
        small.push_str("[[trace]]\nname = \"g\"\ngen = { pattern = \"zipf\", accesses = 1, footprint = 4096 }\n");
        small.push_str("[[design]]\nspec = \"x86-64\"\n[[design]]\nspec = \"hashed\"\n");
        assert_eq!(exp(&small).unwrap().cells.len(), 4);
    }
}
