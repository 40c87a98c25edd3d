//! The verdict at the top of a report: per trace, the cheapest and the costliest design by
//! cycles per translation under each condition with a cache model (the cache spec is part of the
//! condition; none without one), by memory references per translation under each condition the
//! experiment ran (no TLB, behind each TLB, with and without huge pages, under each OS setting),
//! the smallest and the largest page table, by how much; and a few sentences generated from
//! those numbers, cycles first.
//!
//! Only conditions under which at least two designs ran are compared; a design that failed has
//! no row and is not in the comparison. Ties go to the design listed first in the results.

use crate::charts::{has_cache, CacheNames};
use crate::{thousands, RunRow};
use std::collections::{HashMap, HashSet};

/// What a finding compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// `cycles_per_translation` (rows with a cache model only).
    CyclesPerTranslation,
    /// `refs_per_translation`.
    RefsPerTranslation,
    /// `table_bytes`.
    TableBytes,
}

impl Metric {
    /// The words for it in a table.
    pub fn label(self) -> &'static str {
        match self {
            Metric::CyclesPerTranslation => "cycles per translation",
            Metric::RefsPerTranslation => "references per translation",
            Metric::TableBytes => "page-table size",
        }
    }

    fn value(self, r: &RunRow) -> f64 {
        match self {
            Metric::CyclesPerTranslation => r.cycles_per_translation,
            Metric::RefsPerTranslation => r.refs_per_translation,
            Metric::TableBytes => r.table_bytes as f64,
        }
    }

    /// A value of this metric, for people: 3 significant digits, or bytes in KiB/MiB/GiB.
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::CyclesPerTranslation | Metric::RefsPerTranslation => significant(v, 3),
            Metric::TableBytes => bytes(v),
        }
    }
}

/// `a` and `b` for people with as many significant digits (3 at least) as it takes to print
/// different values differently.
pub fn show_pair(metric: Metric, a: f64, b: f64) -> (String, String) {
    for digits in 3..=17 {
        let show = |v: f64| match metric {
            Metric::CyclesPerTranslation | Metric::RefsPerTranslation => significant(v, digits),
            Metric::TableBytes => bytes_digits(v, digits),
        };
        let (x, y) = (show(a), show(b));
        if x != y || a == b || digits == 17 {
            return (x, y);
        }
    }
    (metric.show(a), metric.show(b))
}

/// What findings are compared under: TLB, huge pages, OS settings, cache spec and placement.
type Condition = (String, String, String, String, String);

/// The cheapest and the costliest design of one trace under one condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The trace.
    pub trace: String,
    /// What is compared.
    pub metric: Metric,
    /// The TLB spec (`none` without TLBs); empty for [`Metric::TableBytes`], which no TLB changes.
    pub tlb: String,
    /// The huge-page policy.
    pub huge: String,
    /// The OS settings (the `os` column).
    pub os: String,
    /// The cache spec for [`Metric::CyclesPerTranslation`]; empty for the others.
    pub cache: String,
    /// Where the trace's accesses went in the caches (`os`, `identity`) for
    /// [`Metric::CyclesPerTranslation`]; empty for the others.
    pub placement: String,
    /// Designs compared.
    pub designs: usize,
    /// The design with the smallest value, and the value.
    pub cheapest: (String, f64),
    /// The design with the largest value, and the value.
    pub costliest: (String, f64),
    /// Every design with the smallest value (the cheapest first).
    pub cheapest_all: Vec<String>,
    /// Every design with the largest value (the costliest first).
    pub costliest_all: Vec<String>,
}

impl Finding {
    /// Costliest over cheapest; `None` when the cheapest is 0.
    pub fn factor(&self) -> Option<f64> {
        (self.cheapest.1 > 0.0).then(|| self.costliest.1 / self.cheapest.1)
    }
}

/// Every finding of `rows`, traces in their first-seen order, then conditions in first-seen
/// order, cycles (rows with a cache model) before references before table sizes.
pub fn findings(rows: &[RunRow]) -> Vec<Finding> {
    // Rows grouped by trace, then by condition, in first-seen order: linear in the rows.
    let mut traces: Vec<&str> = Vec::new();
    let mut of_trace: HashMap<&str, Vec<&RunRow>> = HashMap::new();
    for r in rows {
        of_trace
            .entry(r.trace.as_str())
            .or_insert_with(|| {
                traces.push(r.trace.as_str());
                Vec::new()
            })
            .push(r);
    }
    let mut out = Vec::new();
    for trace in traces {
        let of_trace = &of_trace[trace];
        for metric in [
            Metric::CyclesPerTranslation,
            Metric::RefsPerTranslation,
            Metric::TableBytes,
        ] {
            let condition = |r: &'_ RunRow| -> Condition {
                let (tlb, cache, placement) = match metric {
                    Metric::CyclesPerTranslation => {
                        (r.tlb.clone(), r.cache.clone(), r.placement.clone())
                    }
                    Metric::RefsPerTranslation => (r.tlb.clone(), String::new(), String::new()),
                    Metric::TableBytes => (String::new(), String::new(), String::new()),
                };
                (tlb, r.huge.clone(), r.os.clone(), cache, placement)
            };
            let mut conditions: Vec<Condition> = Vec::new();
            let mut by_condition: HashMap<Condition, Vec<&RunRow>> = HashMap::new();
            for r in of_trace {
                if metric == Metric::CyclesPerTranslation && !has_cache(r) {
                    continue;
                }
                let c = condition(r);
                by_condition
                    .entry(c.clone())
                    .or_insert_with(|| {
                        conditions.push(c);
                        Vec::new()
                    })
                    .push(r);
            }
            for c in conditions {
                // One value per design: the first row of that design under the condition (a
                // table's size is the same behind every TLB).
                let mut per_design: Vec<(&str, f64)> = Vec::new();
                let mut seen: HashSet<&str> = HashSet::new();
                for r in &by_condition[&c] {
                    let v = metric.value(r);
                    if v.is_finite() && seen.insert(r.design.as_str()) {
                        per_design.push((r.design.as_str(), v));
                    }
                }
                if per_design.len() < 2 {
                    continue;
                }
                let mut lo = per_design[0];
                let mut hi = per_design[0];
                for &p in &per_design[1..] {
                    if p.1 < lo.1 {
                        lo = p;
                    }
                    if p.1 > hi.1 {
                        hi = p;
                    }
                }
                let all = |v: f64| -> Vec<String> {
                    per_design
                        .iter()
                        .filter(|(_, x)| *x == v)
                        .map(|(d, _)| d.to_string())
                        .collect()
                };
                out.push(Finding {
                    cheapest_all: all(lo.1),
                    costliest_all: all(hi.1),
                    trace: trace.to_string(),
                    metric,
                    tlb: c.0,
                    huge: c.1,
                    os: c.2,
                    cache: c.3,
                    placement: c.4,
                    designs: per_design.len(),
                    cheapest: (lo.0.to_string(), lo.1),
                    costliest: (hi.0.to_string(), hi.1),
                });
            }
        }
    }
    out
}

/// Two to four sentences from the numbers, and one more before them per cache configuration
/// when rows have a cache model (who needs the fewest and the most cycles per translation behind
/// its caches, named by `caches`): who is cheapest without a TLB, how wide the gap is behind
/// TLBs, what huge pages change most, and who keeps the smallest and the largest table.
pub fn sentences(rows: &[RunRow], found: &[Finding], caches: &CacheNames) -> Vec<String> {
    let mut out = Vec::new();
    let default_os = most_common(rows.iter().map(|r| r.os.as_str()));
    // Cycles, per cache configuration: without a TLB where there are such rows (else behind the
    // first TLB), huge pages off, the usual OS settings.
    let cycles: Vec<&Finding> = found
        .iter()
        .filter(|f| f.metric == Metric::CyclesPerTranslation && f.os == default_os)
        .filter(|f| f.huge == "off")
        .collect();
    let mut configs: Vec<(&str, &str)> = Vec::new();
    for f in &cycles {
        if !configs.contains(&(f.cache.as_str(), f.placement.as_str())) {
            configs.push((f.cache.as_str(), f.placement.as_str()));
        }
    }
    for (cache, placement) in configs.into_iter().take(crate::charts::MAX_CACHES) {
        let of: Vec<&Finding> = cycles
            .iter()
            .copied()
            .filter(|f| f.cache == cache && f.placement == placement)
            .collect();
        let tlbs = first_seen(of.iter().map(|f| f.tlb.as_str()));
        let tlb = if tlbs.contains(&"none") {
            "none"
        } else {
            tlbs.first().copied().unwrap_or("none")
        };
        let of: Vec<&Finding> = of.into_iter().filter(|f| f.tlb == tlb).collect();
        let lead = format!(
            "Behind {}{}{}, ",
            caches.whose(cache),
            if placement == "os" {
                String::new()
            } else {
                format!(" (placement `{placement}`)")
            },
            match (tlb, tlbs.len()) {
                ("none", 1) => "",
                ("none", _) => " without a TLB",
                _ => " and a TLB",
            }
        );
        if let Some(s) = winners(&lead, &of, Metric::CyclesPerTranslation) {
            out.push(s);
        }
    }
    let refs = |f: &&Finding| f.metric == Metric::RefsPerTranslation && f.os == default_os;
    // Without a TLB, huge pages off.
    let base: Vec<&Finding> = found
        .iter()
        .filter(refs)
        .filter(|f| f.tlb == "none" && f.huge == "off")
        .collect();
    if let Some(s) = winners("Without a TLB, ", &base, Metric::RefsPerTranslation) {
        out.push(s);
    }
    // Behind TLBs: the gap.
    let behind: Vec<&Finding> = found
        .iter()
        .filter(refs)
        .filter(|f| f.tlb != "none" && f.huge == "off")
        .filter(|f| f.cheapest.1 != f.costliest.1)
        .collect();
    let gaps: Vec<(&Finding, f64)> = behind
        .iter()
        .filter_map(|f| f.factor().map(|x| (*f, x)))
        .collect();
    if let (Some(lo), Some(hi)) = (
        gaps.iter().min_by(|a, b| a.1.total_cmp(&b.1)),
        gaps.iter().max_by(|a, b| a.1.total_cmp(&b.1)),
    ) {
        let cheapest = first_seen(behind.iter().map(|f| f.cheapest.0.as_str()));
        let most = cheapest
            .iter()
            .map(|d| (*d, behind.iter().filter(|f| f.cheapest.0 == *d).count()))
            .max_by_key(|(_, n)| *n)
            .unwrap_or(("", 0));
        out.push(format!(
            "Behind a TLB the costliest design needs {} the references of the cheapest on {} (`{}`, {} against {}), and {} on {}; `{}` is the cheapest in {} of {} comparisons.",
            times(hi.1),
            short(&hi.0.trace),
            hi.0.costliest.0,
            significant(hi.0.costliest.1, 3),
            significant(hi.0.cheapest.1, 3),
            times(lo.1),
            short(&lo.0.trace),
            most.0,
            most.1,
            behind.len()
        ));
    }
    // Huge pages: the largest cut of one design's references per translation.
    let mut best: Option<(f64, &RunRow, &RunRow)> = None;
    let key = |r: &RunRow| {
        (
            r.trace.clone(),
            r.design.clone(),
            r.tlb.clone(),
            r.os.clone(),
        )
    };
    let mut off_rows: HashMap<(String, String, String, String), &RunRow> = HashMap::new();
    for r in rows.iter().filter(|r| r.huge == "off") {
        off_rows.entry(key(r)).or_insert(r);
    }
    for on in rows
        .iter()
        .filter(|r| r.huge != "off" && r.os == default_os)
    {
        let Some(off) = off_rows.get(&key(on)).copied() else {
            continue;
        };
        let cut = off.refs_per_translation - on.refs_per_translation;
        if cut.is_finite() && best.is_none_or(|b| cut > b.0) {
            best = Some((cut, off, on));
        }
    }
    if let Some((cut, off, on)) = best.filter(|b| b.0 > 0.0) {
        let _ = cut;
        out.push(format!(
            "Huge pages (`{}`) cut references per translation most for `{}` on {} {}: from {} to {}.",
            on.huge,
            on.design,
            short(&on.trace),
            if on.tlb == "none" {
                "without a TLB".to_string()
            } else {
                "behind a TLB".to_string()
            },
            significant(off.refs_per_translation, 3),
            significant(on.refs_per_translation, 3)
        ));
    }
    // Table size.
    let tables: Vec<&Finding> = found
        .iter()
        .filter(|f| f.metric == Metric::TableBytes && f.huge == "off" && f.os == default_os)
        .collect();
    if let Some(s) = winners("", &tables, Metric::TableBytes) {
        out.push(s);
    }
    out
}

/// One sentence on who wins under `found` (one condition across traces): `Without a TLB,
/// `hashed` needs the fewest references per translation on every trace (1) and `x86-64` the
/// most (4 to 4.43), 4x to 4.43x apart.`
fn winners(lead: &str, found: &[&Finding], metric: Metric) -> Option<String> {
    // Where every design has the same value there is no winner to name.
    let all = found.len();
    let found: Vec<&Finding> = found
        .iter()
        .copied()
        .filter(|f| f.cheapest.1 != f.costliest.1)
        .collect();
    let found = &found[..];
    if found.is_empty() {
        return None;
    }
    let range = |vals: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = vals.collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if metric.show(lo) == metric.show(hi) {
            metric.show(lo)
        } else {
            format!("{} to {}", metric.show(lo), metric.show(hi))
        }
    };
    let every = if found.len() == all && all > 1 {
        " on every trace".to_string()
    } else if found.len() == all {
        String::new()
    } else if found.len() <= 4 {
        let on: Vec<String> = found.iter().map(|f| short(&f.trace)).collect();
        format!(" on {}", on.join(", "))
    } else {
        format!(" on {} traces", thousands(found.len() as u64))
    };
    // (the one design with its range) or (each design with the traces it wins).
    let side = |pick: fn(&Finding) -> &(String, f64)| -> Result<(String, String), String> {
        let designs = first_seen(found.iter().map(|f| pick(f).0.as_str()));
        if designs.len() == 1 {
            Ok((
                designs[0].to_string(),
                range(&mut found.iter().map(|f| pick(f).1)),
            ))
        } else {
            Err(designs
                .iter()
                .map(|d| {
                    let on: Vec<String> = found
                        .iter()
                        .filter(|f| pick(f).0 == *d)
                        .map(|f| short(&f.trace))
                        .collect();
                    if on.len() > 4 {
                        format!("`{d}` on {} traces", thousands(on.len() as u64))
                    } else {
                        format!("`{d}` on {}", on.join(", "))
                    }
                })
                .collect::<Vec<_>>()
                .join("; "))
        }
    };
    let factors: Vec<f64> = found.iter().filter_map(|f| f.factor()).collect();
    let by = if factors.is_empty() {
        String::new()
    } else {
        let lo = factors.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = factors.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if times(lo) == times(hi) {
            format!(", {} apart", times(lo))
        } else {
            format!(", {} to {} apart", times(lo), times(hi))
        }
    };
    let (few, many) = match metric {
        Metric::CyclesPerTranslation => (
            "needs the fewest cycles per translation",
            "the fewest cycles per translation",
        ),
        Metric::RefsPerTranslation => (
            "needs the fewest references per translation",
            "the fewest references per translation",
        ),
        Metric::TableBytes => ("keeps the smallest page table", "the smallest page table"),
    };
    let text = match (side(|f| &f.cheapest), side(|f| &f.costliest)) {
        (Ok((a, ra)), Ok((b, rb))) => {
            format!(
                "{lead}`{a}` {few}{every} ({ra}) and `{b}` the {} ({rb}){by}.",
                most_word(metric)
            )
        }
        (a, b) => {
            let part = |s: Result<(String, String), String>| match s {
                Ok((d, r)) => format!("`{d}`{every} ({r})"),
                Err(list) => list,
            };
            format!(
                "{lead}{} {}: {}. The {}: {}{by}.",
                if lead.is_empty() { "The" } else { "the" },
                &many[4..],
                part(a),
                most_word(metric),
                part(b)
            )
        }
    };
    Some(text)
}

fn most_word(metric: Metric) -> &'static str {
    match metric {
        Metric::CyclesPerTranslation | Metric::RefsPerTranslation => "most",
        Metric::TableBytes => "largest",
    }
}

/// One sentence per nested design: against its guest design native, under the same TLB, huge
/// pages and caches (no memory limit), the references and (with a cache model) cycles per
/// translation it costs, as the range of factors over the traces both ran.
pub fn nested_sentences(rows: &[RunRow], tlbs: &crate::charts::TlbNames) -> Vec<String> {
    let plain = |r: &RunRow| r.frames == 0 && r.translations > 0;
    let nested = first_seen(
        rows.iter()
            .filter(|r| plain(r) && crate::charts::is_nested(&r.design))
            .map(|r| r.design.as_str()),
    );
    let mut out = Vec::new();
    for design in nested {
        let Some((guest, host)) = crate::charts::nested_parts(design) else {
            continue;
        };
        let (mut refs, mut cycles) = (Vec::new(), Vec::new());
        let mut behind = Vec::new();
        for n in rows.iter().filter(|r| plain(r) && r.design == design) {
            let Some(g) = rows.iter().find(|r| {
                plain(r)
                    && r.design == guest
                    && r.trace == n.trace
                    && r.tlb == n.tlb
                    && r.huge == n.huge
                    && r.cache == n.cache
                    && r.placement == n.placement
            }) else {
                continue;
            };
            behind.push(n.tlb.as_str());
            if g.refs_per_translation > 0.0 {
                refs.push(n.refs_per_translation / g.refs_per_translation);
            }
            if n.cache != "none" && g.cycles_per_translation > 0.0 {
                cycles.push(n.cycles_per_translation / g.cycles_per_translation);
            }
        }
        let range = |v: &[f64]| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(0.0f64, f64::max);
            if times(lo) == times(hi) {
                times(lo)
            } else {
                format!("{} to {}", times(lo), times(hi))
            }
        };
        if refs.is_empty() {
            continue;
        }
        let specs = first_seen(behind.into_iter());
        let names = tlbs.labels(&specs);
        let tlb = if specs == ["none"] {
            "without a TLB".to_string()
        } else {
            format!(
                "behind the TLB {}",
                specs
                    .iter()
                    .map(|t| if *t == "none" {
                        "none"
                    } else {
                        names[t].as_str()
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut s = format!(
            "Virtualized, `{guest}` over the host `{host}` (`{design}`) reads {} the references per translation of `{guest}` native {tlb}",
            range(&refs)
        );
        if !cycles.is_empty() {
            s.push_str(&format!(" and takes {} its cycles", range(&cycles)));
        }
        s.push('.');
        out.push(s);
    }
    out
}

/// One sentence per THP policy of the fragmentation rows (those with a `fragmentation=` OS
/// setting; the first trace, TLB and caches, as the charts): by how much huge pages cut cycles
/// (or references) per translation against base pages at the same fragmentation, as the range
/// over the designs, at each fragmentation run.
pub fn thp_sentences(rows: &[RunRow]) -> Vec<String> {
    let (sel, _) = crate::charts::fragmentation_rows(rows);
    let Some(first) = sel.first().copied() else {
        return Vec::new();
    };
    let cycles = crate::charts::has_cache(first);
    let y = |r: &RunRow| {
        if cycles {
            r.cycles_per_translation
        } else {
            r.refs_per_translation
        }
    };
    let at = |d: &str, h: &str, f: f64| {
        sel.iter()
            .find(|r| r.design == d && r.huge == h && r.fragmentation == f)
            .map(|r| y(r))
    };
    let mut levels: Vec<f64> = sel.iter().map(|r| r.fragmentation).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let designs = first_seen(sel.iter().map(|r| r.design.as_str()));
    let mut out = Vec::new();
    for h in first_seen(sel.iter().map(|r| r.huge.as_str())) {
        if h == "off" {
            continue;
        }
        let mut parts = Vec::new();
        for &f in &levels {
            let factors: Vec<(f64, &str)> = designs
                .iter()
                .filter_map(|d| {
                    let (o, v) = (at(d, "off", f)?, at(d, h, f)?);
                    (v > 0.0).then_some((o / v, *d))
                })
                .collect();
            let Some(&(hi, top)) = factors.iter().max_by(|a, b| a.0.total_cmp(&b.0)) else {
                continue;
            };
            let lo = factors.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
            let range = if times(lo) == times(hi) {
                times(lo)
            } else {
                format!("{} to {} (most for `{top}`)", times(lo), times(hi))
            };
            parts.push(format!("{range} at fragmentation {}", significant(f, 3)));
        }
        if parts.is_empty() {
            continue;
        }
        out.push(format!(
            "On a machine whose 2 MiB blocks other tenants broke before the run ({}), huge pages under `{h}` cut {} per translation against base pages by {}.",
            short(&first.trace),
            if cycles { "cycles" } else { "references" },
            parts.join(", ")
        ));
    }
    out
}

/// One sentence on the rows replayed on several cores (the first trace, TLB and caches, as the
/// cores charts): how TLB misses grow from the fewest cores to the most (every design misses
/// alike: the first design's), and the shootdown interrupts at the most cores under each policy.
pub fn core_sentences(rows: &[RunRow]) -> Vec<String> {
    let (sel, _) = crate::charts::core_rows(rows);
    let Some(first) = sel.first().copied() else {
        return Vec::new();
    };
    let of_first: Vec<&RunRow> = sel
        .iter()
        .copied()
        .filter(|r| r.design == first.design)
        .collect();
    let (Some(lo), Some(hi)) = (
        of_first.iter().min_by_key(|r| r.cores),
        of_first.iter().max_by_key(|r| r.cores),
    ) else {
        return Vec::new();
    };
    if lo.cores == hi.cores {
        return Vec::new();
    }
    let mut ipis: Vec<String> = of_first
        .iter()
        .filter(|r| r.cores == hi.cores)
        .enumerate()
        .map(|(i, r)| {
            format!(
                "{}{} under `{}`",
                crate::thousands(r.shootdown_ipis),
                if i == 0 { " shootdown interrupts" } else { "" },
                r.shootdown
            )
        })
        .collect();
    ipis.dedup();
    let factor = if lo.tlb_misses > 0 {
        format!(
            " ({}x)",
            significant(hi.tlb_misses as f64 / lo.tlb_misses as f64, 3)
        )
    } else {
        String::new()
    };
    vec![format!(
        "With its threads on {} cores instead of {} ({}, each core with its own TLBs), the TLBs miss {} times instead of {}{factor}, and {} changes that removed translations sent {}.",
        hi.cores,
        lo.cores,
        short(&first.trace),
        crate::thousands(hi.tlb_misses),
        crate::thousands(lo.tlb_misses),
        crate::thousands(hi.shootdown_events),
        ipis.join(" and "),
    )]
}

/// A factor for people: `4x`, `3.94x`, `65,345x`.
pub fn times(f: f64) -> String {
    if f >= 1000.0 {
        format!("{}x", crate::thousands(f.round() as u64))
    } else {
        format!("{}x", significant(f, 3))
    }
}

/// A trace's file name (its last path component).
pub fn short(trace: &str) -> String {
    trace.rsplit('/').next().unwrap_or(trace).to_string()
}

/// Distinct values in first-seen order.
pub fn first_seen<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: HashSet<&str> = HashSet::new();
    it.filter(|s| seen.insert(s)).collect()
}

/// The value seen most often (the first of those on a tie); empty for none.
pub fn most_common<'a>(it: impl Iterator<Item = &'a str>) -> &'a str {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for s in it {
        match counts.iter_mut().find(|(k, _)| *k == s) {
            Some((_, n)) => *n += 1,
            None => counts.push((s, 1)),
        }
    }
    let mut best = ("", 0);
    for c in counts {
        if c.1 > best.1 {
            best = c;
        }
    }
    best.0
}

/// `v` with `digits` significant digits: `4`, `0.68`, `2.74`, `1.23e-4`, `3.45e6`; integers
/// below a million as they are.
pub fn significant(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-3..6).contains(&mag) {
        let s = format!("{:.*e}", digits.saturating_sub(1), v);
        // `1.23e-4`: trim zeros of the mantissa.
        return match s.split_once('e') {
            Some((m, e)) if m.contains('.') => {
                format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
            }
            _ => s,
        };
    }
    let decimals = (digits as i32 - 1 - mag).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `64 KiB`, `8 MiB`, `512 GiB`, `12 B` (3 significant digits).
pub fn bytes(v: f64) -> String {
    bytes_digits(v, 3)
}

/// [`bytes`] with `digits` significant digits.
pub fn bytes_digits(v: f64, digits: usize) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = v;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{} {}", significant(v, digits), UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(trace: &str, design: &str, tlb: &str, huge: &str, refs: f64, table: u64) -> RunRow {
        RunRow {
            trace: trace.into(),
            design: design.into(),
            tlb: tlb.into(),
            huge: huge.into(),
            refs_per_translation: refs,
            table_bytes: table,
            os: "frames=unlimited".into(),
            ..RunRow::default()
        }
    }

    #[test]
    fn significant_digits_never_print_zero_for_a_small_value() {
        assert_eq!(significant(0.000322, 3), "3.22e-4");
        assert_eq!(significant(4.0, 3), "4");
        assert_eq!(significant(2.7449, 3), "2.74");
        assert_eq!(significant(0.68, 3), "0.68");
        assert_eq!(significant(1234.6, 3), "1235");
        assert_eq!(significant(25_412_705.0, 3), "2.54e7");
        assert_eq!(significant(0.0, 3), "0");
        assert_eq!(bytes(65536.0), "64 KiB");
        assert_eq!(bytes(512.0 * (1u64 << 30) as f64), "512 GiB");
        assert_eq!(bytes(25_165_824.0), "24 MiB");
    }

    #[test]
    fn the_cheapest_named_has_the_smallest_value() {
        let rows = vec![
            row("t/a", "x86-64", "none", "off", 4.0, 65536),
            row("t/a", "hashed", "none", "off", 1.0, 16384),
            row("t/a", "ecpt", "none", "off", 3.0, 1 << 20),
            row("t/a", "x86-64", "skylake", "off", 0.5, 65536),
            row("t/a", "hashed", "skylake", "off", 0.125, 16384),
            row("t/a", "ecpt", "skylake", "off", 0.25, 1 << 20),
            row("t/a", "x86-64", "none", "thp", 3.0, 8192),
            // Alone under its condition: not compared.
            row("t/b", "x86-64", "none", "off", 4.0, 4096),
        ];
        let f = findings(&rows);
        let refs: Vec<&Finding> = f
            .iter()
            .filter(|f| f.metric == Metric::RefsPerTranslation)
            .collect();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].tlb, "none");
        assert_eq!(refs[0].cheapest, ("hashed".to_string(), 1.0));
        assert_eq!(refs[0].costliest, ("x86-64".to_string(), 4.0));
        assert_eq!(refs[0].factor(), Some(4.0));
        assert_eq!(refs[1].tlb, "skylake");
        assert_eq!(refs[1].cheapest, ("hashed".to_string(), 0.125));
        let tables: Vec<&Finding> = f
            .iter()
            .filter(|f| f.metric == Metric::TableBytes)
            .collect();
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].cheapest, ("hashed".to_string(), 16384.0));
        assert_eq!(
            tables[0].costliest,
            ("ecpt".to_string(), (1u64 << 20) as f64)
        );
        let s = sentences(&rows, &f, &CacheNames::default());
        assert_eq!(
            s[0],
            "Without a TLB, `hashed` needs the fewest references per translation (1) and `x86-64` the most (4), 4x apart."
        );
        assert_eq!(
            s[1],
            "Behind a TLB the costliest design needs 4x the references of the cheapest on a (`x86-64`, 0.5 against 0.125), and 4x on a; `hashed` is the cheapest in 1 of 1 comparisons."
        );
        assert_eq!(
            s[2],
            "Huge pages (`thp`) cut references per translation most for `x86-64` on a without a TLB: from 4 to 3."
        );
        assert_eq!(
            s[3],
            "`hashed` keeps the smallest page table (16 KiB) and `ecpt` the largest (1 MiB), 64x apart."
        );
    }

    #[test]
    fn cycles_rank_first_under_each_cache_and_are_named_by_preset() {
        let cyc = |design: &str, cache: &str, cycles: f64| RunRow {
            cache: cache.into(),
            placement: "os".into(),
            cycles_per_translation: cycles,
            ..row("t/a", design, "none", "off", 2.0, 4096)
        };
        let rows = vec![
            cyc("x86-64", "SPEC-S", 45.0),
            cyc("hashed", "SPEC-S", 30.0),
            cyc("x86-64", "l1d=64x8", 20.0),
            cyc("hashed", "l1d=64x8", 40.0),
            // No cache model: no cycles finding.
            cyc("ecpt", "none", 0.0),
        ];
        let f = findings(&rows);
        let cycles: Vec<&Finding> = f
            .iter()
            .filter(|f| f.metric == Metric::CyclesPerTranslation)
            .collect();
        assert_eq!(f[0].metric, Metric::CyclesPerTranslation);
        assert_eq!(cycles.len(), 2);
        assert_eq!(cycles[0].cache, "SPEC-S");
        assert_eq!(cycles[0].cheapest, ("hashed".to_string(), 30.0));
        assert_eq!(cycles[0].costliest, ("x86-64".to_string(), 45.0));
        assert_eq!(cycles[1].cheapest, ("x86-64".to_string(), 20.0));
        let names = CacheNames(vec![("SPEC-S".into(), "skylake".into())]);
        let s = sentences(&rows, &f, &names);
        assert_eq!(
            s[0],
            "Behind skylake's caches, `hashed` needs the fewest cycles per translation (30) and `x86-64` the most (45), 1.5x apart."
        );
        assert_eq!(
            s[1],
            "Behind the caches `l1d=64x8`, `x86-64` needs the fewest cycles per translation (20) and `hashed` the most (40), 2x apart."
        );
    }

    #[test]
    fn the_cores_sentence_carries_the_rows_numbers() {
        // Two designs on 1, 2 and 4 cores under precise shootdowns, 4 under broadcast too; and
        // a row of another trace on 2 cores, left to results.csv.
        let core = |trace: &str, design: &str, cores: u64, policy: &str, misses: u64, ipis: u64| {
            let mut os = "frames=128,policy=lru,first_touch=zero".to_string();
            if cores > 1 {
                os.push_str(&format!(",cores={cores}"));
            }
            if policy != "precise" {
                os.push_str(&format!(",shootdown={policy}"));
            }
            RunRow {
                trace: trace.into(),
                design: design.into(),
                tlb: "skylake".into(),
                cache: "none".into(),
                huge: "off".into(),
                os,
                frames: 128,
                cores,
                shootdown: policy.into(),
                translations: 1000,
                tlb_misses: misses,
                shootdown_events: if cores > 1 { 10 } else { 0 },
                shootdown_ipis: ipis,
                ..RunRow::default()
            }
        };
        let rows = vec![
            core("t/mt", "x86-64", 1, "precise", 100, 0),
            core("t/mt", "hashed", 1, "precise", 100, 0),
            core("t/mt", "x86-64", 2, "precise", 150, 10),
            core("t/mt", "hashed", 2, "precise", 150, 10),
            core("t/mt", "x86-64", 4, "precise", 250, 25),
            core("t/mt", "hashed", 4, "precise", 250, 25),
            core("t/mt", "x86-64", 4, "broadcast", 250, 30),
            core("t/other", "x86-64", 2, "precise", 7, 1),
        ];
        let (sel, others) = crate::charts::core_rows(&rows);
        assert_eq!((sel.len(), others), (7, 1));
        assert!(rows[2..].iter().all(crate::charts::is_core_study));
        assert!(!crate::charts::is_core_study(&rows[0]));
        assert_eq!(
            core_sentences(&rows),
            vec![
                "With its threads on 4 cores instead of 1 (mt, each core with its own TLBs), the TLBs miss 250 times instead of 100 (2.5x), and 10 changes that removed translations sent 25 shootdown interrupts under `precise` and 30 under `broadcast`."
            ]
        );
        // One core only: no sentence.
        assert!(core_sentences(&rows[..2]).is_empty());
    }
}
