//! The shared scenario corpus: `testdata/*.toml` files of map / unmap / allocate / access /
//! translate steps with expected translations, faults and table sizes, run against every design.
//!
//! A scenario file:
//! ```toml
//! description = "what it checks"
//! pobits = 12            # base page size of the scenario (default 12)
//! va_bits = 48           # widest address it uses; narrower designs skip it, saying so (default 32)
//! designs = ["x86-64"]   # optional: only these designs (default: every design with this pobits)
//!
//! [[step]]
//! op = "allocate"        # allocate | map | unmap | access | translate
//! va = 0x456789abc000
//! expect_pages = 5       # table pages + data frames allocated so far
//! ```
//! Step fields: `va`; `frame` and `size` (`4k`, `2m`, `1g`, default the base page) for `map`;
//! expectations `expect_pa` (physical address of `va`), `expect_none` (no mapping),
//! `expect_fault` (for `access`), `expect_pages`, `expect_table_pages`, `expect_refs` (memory
//! references this step's walks made), `expect_error` (a substring of the error). An expectation
//! that depends on the design is a table keyed by design spec: `expect_table_pages = { "x86-64" = 4 }`.
//!
//! Frames come from the OS model in order (the first page allocated gets data frame 0), so expected
//! physical addresses are the same for every design.

use ptbench_core::{PageSize, PageTable, Perms, Pfn, PhysMem, Pte, VirtAddr, WalkCost};
use ptbench_os::Os;
use ptbench_pagetable::DesignSpec;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An expectation that is either the same for every design or given per design spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PerDesign<T> {
    /// The same for every design.
    All(T),
    /// Per canonical design spec; designs not named are not checked.
    By(BTreeMap<String, T>),
}

impl<T: Clone> PerDesign<T> {
    fn for_design(&self, label: &str) -> Option<T> {
        match self {
            PerDesign::All(v) => Some(v.clone()),
            PerDesign::By(map) => map.get(label).cloned(),
        }
    }
}

/// One operation with its expectations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `allocate`, `map`, `unmap`, `access` or `translate`.
    pub op: String,
    /// The virtual address.
    pub va: u64,
    /// For `map`: the physical frame number (in base pages).
    pub frame: Option<u64>,
    /// For `map`: `4k`, `2m` or `1g` (default: the base page).
    pub size: Option<String>,
    /// Expected physical address of `va` after the step.
    pub expect_pa: Option<u64>,
    /// Expect no mapping for `va` after the step.
    #[serde(default)]
    pub expect_none: bool,
    /// For `access`: whether it faults.
    pub expect_fault: Option<bool>,
    /// Table pages plus data frames allocated so far.
    pub expect_pages: Option<PerDesign<u64>>,
    /// Table pages allocated so far.
    pub expect_table_pages: Option<PerDesign<u64>>,
    /// Memory references the step's walks made.
    pub expect_refs: Option<PerDesign<u64>>,
    /// The step fails with an error containing this text (designs not named succeed).
    pub expect_error: Option<PerDesign<String>>,
    /// The design's collision count so far (hashed designs).
    pub expect_collisions: Option<PerDesign<u64>>,
    /// Entries the design has moved so far (hashed designs).
    pub expect_moved: Option<PerDesign<u64>>,
    /// Resizes so far (hashed designs).
    pub expect_resizes: Option<PerDesign<u64>>,
}

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What it checks.
    pub description: String,
    /// Base page size (log2).
    #[serde(default = "default_pobits")]
    pub pobits: u8,
    /// Widest virtual address the scenario uses.
    #[serde(default = "default_va_bits")]
    pub va_bits: u8,
    /// Only these designs, if given.
    pub designs: Option<Vec<String>>,
    /// Page sizes beyond the base page the scenario maps (`2m`, `1g`); designs that cannot store
    /// them skip it, saying so.
    #[serde(default)]
    pub needs_sizes: Vec<String>,
    /// The steps.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

fn default_pobits() -> u8 {
    12
}

fn default_va_bits() -> u8 {
    32
}

/// Every design spec the corpus runs a scenario of base page `2^pobits` under, unless it names its
/// own: the radix presets of that page size, radix tables of 1, 3 and 6 levels where they fit, flat
/// tables over 32, 40 and 57 bits, hashed, inverted and elastic cuckoo tables with their defaults and
/// with tiny tables that collide and resize at once, the reference, and a three-level radix guest
/// over an x86-64 host (nested).
pub fn designs_for(pobits: u8) -> Vec<DesignSpec> {
    let mut specs: Vec<String> = ["two-level", "x86-64", "x86-64-5l"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for levels in [1, 3, 6] {
        specs.push(format!("radix:levels={levels},pobits={pobits}"));
    }
    specs.push(format!("flat:pobits={pobits}"));
    specs.push(format!("flat:pobits={pobits},va_bits=40"));
    specs.push(format!("flat:pobits={pobits},va_bits=57"));
    specs.push(format!("hashed:pobits={pobits}"));
    specs.push(format!("hashed:pobits={pobits},collision=chain"));
    specs.push(format!("hashed:pobits={pobits},entries=4,bucket=2,load=1"));
    specs.push(format!("inverted:pobits={pobits}"));
    specs.push(format!("inverted:pobits={pobits},hat=1"));
    specs.push(format!("ecpt:pobits={pobits}"));
    specs.push(format!(
        "ecpt:pobits={pobits},entries=1,ways=2,cluster=1,load=1"
    ));
    specs.push(format!("reference:pobits={pobits}"));
    // Virtualized: a guest over a host translates as the guest alone.
    specs.push(format!(
        "nested:guest=[radix:levels=3,pobits={pobits}],host=x86-64"
    ));
    specs
        .iter()
        .filter_map(|s| DesignSpec::parse(s).ok())
        .filter(|d| d.page_shift() == pobits)
        .collect()
}

/// What running one scenario under one design found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// The design cannot express the scenario, and why.
    Skipped(String),
    /// Expectations that failed, each naming its step.
    Failed(Vec<String>),
}

/// Loads every `*.toml` in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Scenario)>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let s: Scenario = toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok((p, s))
        })
        .collect()
}

/// The designs a scenario runs under.
pub fn scenario_designs(s: &Scenario) -> Result<Vec<DesignSpec>, String> {
    match &s.designs {
        Some(names) => names
            .iter()
            .map(|n| DesignSpec::parse(n).map_err(|e| e.to_string()))
            .collect(),
        None => Ok(designs_for(s.pobits)),
    }
}

fn parse_size(s: &str) -> Result<PageSize, String> {
    match s.to_ascii_lowercase().as_str() {
        "4k" => Ok(PageSize::K4),
        "2m" => Ok(PageSize::M2),
        "1g" => Ok(PageSize::G1),
        other => Err(format!("unknown page size `{other}` (4k, 2m or 1g)")),
    }
}

/// Runs `scenario` under `spec`.
pub fn run(scenario: &Scenario, spec: &DesignSpec) -> Outcome {
    if spec.va_bits() < scenario.va_bits {
        return Outcome::Skipped(format!(
            "{}-bit design, scenario needs {} bits",
            spec.va_bits(),
            scenario.va_bits
        ));
    }
    if spec.page_shift() != scenario.pobits {
        return Outcome::Skipped(format!(
            "base page 2^{} bytes, scenario needs 2^{}",
            spec.page_shift(),
            scenario.pobits
        ));
    }
    let label = spec.to_string();
    let mut mem = match spec.new_mem() {
        Ok(m) => m,
        Err(e) => return Outcome::Failed(vec![format!("building memory: {e}")]),
    };
    let mut pt = match spec.build_boxed(&mut mem) {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(vec![format!("building the design: {e}")]),
    };
    for size in &scenario.needs_sizes {
        match parse_size(size) {
            Ok(sz) if !pt.page_sizes().contains(&sz) => {
                return Outcome::Skipped(format!("cannot store {sz} pages"));
            }
            Ok(_) => {}
            Err(e) => return Outcome::Failed(vec![e]),
        }
    }
    let mut os = Os::with_frames(&mem, pt.frame_limit().unwrap_or(u64::MAX));
    let mut failures = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let mut fail = |what: String| {
            failures.push(format!(
                "step {} ({} {:#x}): {what}",
                i + 1,
                step.op,
                step.va
            ))
        };
        match run_step(step, &label, &mut pt, &mut mem, &mut os) {
            Ok(problems) => problems.into_iter().for_each(&mut fail),
            Err(e) => fail(e),
        }
    }
    if failures.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(failures)
    }
}

fn run_step(
    step: &Step,
    label: &str,
    pt: &mut Box<dyn PageTable + Send>,
    mem: &mut PhysMem,
    os: &mut Os,
) -> Result<Vec<String>, String> {
    let shift = pt.page_shift();
    let vpn = VirtAddr(step.va).vpn(shift);
    let mut cost = WalkCost::default();
    let mut problems = Vec::new();
    let mut faulted = None;
    let result: Result<(), String> = match step.op.as_str() {
        "allocate" => {
            if pt.walk(mem, vpn, &mut cost).is_none() {
                os.handle_fault(pt, mem, vpn)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            } else {
                Ok(())
            }
        }
        "map" => {
            let size = match &step.size {
                Some(s) => parse_size(s)?,
                None => PageSize::from_shift(shift).ok_or("bad base page size")?,
            };
            let frame = step.frame.ok_or("`map` needs `frame`")?;
            let pte = Pte {
                pfn: Pfn(frame),
                perms: Perms::RW,
                size,
            };
            pt.map(mem, vpn, pte).map_err(|e| e.to_string())
        }
        "unmap" => pt.unmap(mem, vpn).map(|_| ()).map_err(|e| e.to_string()),
        "access" => {
            let hit = pt.walk(mem, vpn, &mut cost).is_some();
            faulted = Some(!hit);
            if hit {
                Ok(())
            } else {
                match os.handle_fault(pt, mem, vpn) {
                    Ok(_) if pt.walk(mem, vpn, &mut cost).is_some() => Ok(()),
                    Ok(_) => Err("the page is still unmapped after the fault".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
        "translate" => {
            pt.walk(mem, vpn, &mut cost);
            Ok(())
        }
        other => return Err(format!("unknown op `{other}`")),
    };
    let expect_error = step.expect_error.as_ref().and_then(|e| e.for_design(label));
    match (&result, &expect_error) {
        (Err(e), Some(want)) if e.contains(want.as_str()) => {}
        (Err(e), Some(want)) => problems.push(format!("error `{e}` does not contain `{want}`")),
        (Err(e), None) => problems.push(format!("unexpected error: {e}")),
        (Ok(()), Some(want)) => problems.push(format!("expected an error containing `{want}`")),
        (Ok(()), None) => {}
    }
    if let (Some(want), Some(got)) = (step.expect_fault, faulted) {
        if want != got {
            problems.push(format!("expected fault={want}, got fault={got}"));
        }
    }
    if let Some(want) = step.expect_refs.as_ref().and_then(|e| e.for_design(label)) {
        if u64::from(cost.refs) != want {
            problems.push(format!(
                "expected {want} memory references, got {}",
                cost.refs
            ));
        }
    }
    // Checking translations reads through an uncounted walk.
    let mut scratch = WalkCost::default();
    let found = pt.walk(mem, vpn, &mut scratch);
    let pa =
        found.map(|pte| (pte.frame_of(vpn, shift).0 << shift) | (step.va & ((1u64 << shift) - 1)));
    if let Some(want) = step.expect_pa {
        if pa != Some(want) {
            problems.push(format!("expected pa {want:#x}, got {}", show(pa)));
        }
    }
    if step.expect_none && pa.is_some() {
        problems.push(format!("expected no mapping, got pa {}", show(pa)));
    }
    let footprint = pt.footprint();
    let table_pages = footprint.table_pages;
    for (name, want, got) in [
        ("collisions", &step.expect_collisions, footprint.collisions),
        ("moved entries", &step.expect_moved, footprint.moved_entries),
        ("resizes", &step.expect_resizes, footprint.resizes),
    ] {
        if let Some(want) = want.as_ref().and_then(|e| e.for_design(label)) {
            if got != want {
                problems.push(format!("expected {want} {name}, got {got}"));
            }
        }
    }
    if let Some(want) = step
        .expect_table_pages
        .as_ref()
        .and_then(|e| e.for_design(label))
    {
        if table_pages != want {
            problems.push(format!("expected {want} table pages, got {table_pages}"));
        }
    }
    if let Some(want) = step.expect_pages.as_ref().and_then(|e| e.for_design(label)) {
        let pages = table_pages + os.pages_mapped();
        if pages != want {
            problems.push(format!("expected {want} pages allocated, got {pages}"));
        }
    }
    Ok(problems)
}

fn show(pa: Option<u64>) -> String {
    pa.map_or("none".to_string(), |p| format!("{p:#x}"))
}
