//! The CSV row of a finished simulation: the stable columns of [`RunRow`], named at report time
//! from the simulator's plain counters.

use crate::{CycleStats, PageCrossing, Placement, Sim, SimOptions, TraceRun};
use ptbench_pagetable::DesignSpec;
use ptbench_results::{PerCoreRow, RunRow};
use std::path::Path;

/// The CSV row of `sim` after replaying `trace` (`run`) under `opts`: the columns `ptbench run`
/// and `ptbench sweep` write.
pub fn run_row(trace: &Path, run: &TraceRun, sim: &Sim, opts: &SimOptions) -> RunRow {
    let s = sim.stats();
    let f = sim.footprint();
    let secs = s.busy_nanos as f64 / 1e9;
    let spec = DesignSpec::parse(sim.label()).ok();
    RunRow {
        trace: trace.display().to_string(),
        design: sim.label().to_string(),
        accesses: s.accesses,
        translations: s.translations,
        walks: s.walks,
        walk_refs: s.walk_refs,
        refs_per_translation: ratio(s.walk_refs, s.translations),
        page_faults: s.page_faults,
        table_pages: f.table_pages,
        table_bytes: f.table_bytes,
        distinct_pages: s.distinct_pages,
        wall_seconds: secs,
        accesses_per_second: if secs > 0.0 {
            s.accesses as f64 / secs
        } else {
            0.0
        },
        page_crossing: match opts.page_crossing {
            PageCrossing::Split => "split",
            PageCrossing::First => "first",
        }
        .to_string(),
        page_bytes: spec.as_ref().map_or(0, |s| 1 << s.page_shift()),
        va_bits: spec.as_ref().map_or(0, |s| s.va_bits()),
        tables_per_level: f
            .per_level
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(";"),
        probes: s.probes,
        trace_format: run.format.map(|f| f.name()).unwrap_or("empty").to_string(),
        huge: opts.huge.name().to_string(),
        walk_refs_p50: s.refs_per_walk.quantile(0.5),
        walk_refs_p90: s.refs_per_walk.quantile(0.9),
        walk_refs_p99: s.refs_per_walk.quantile(0.99),
        walk_refs_max: s.refs_per_walk.max(),
        load_factor: f.load_factor(),
        collisions: f.collisions,
        moved_entries: f.moved_entries,
        resizes: f.resizes,
        digest: format!("{:016x}", s.digest),
        tlb: sim.tlb_label().to_string(),
        events: s.events,
        walk_refs_histogram: s.refs_per_walk.to_compact(),
        cell: cell_key(&trace.display().to_string(), sim, opts),
        noncanonical: s.noncanonical,
        minor_faults: s.os.minor_faults,
        major_faults: s.os.major_faults,
        cow_faults: s.os.cow_faults,
        protection_faults: s.os.protection_faults,
        segv: s.os.segv,
        evictions: s.os.evictions,
        dirty_evictions: s.os.dirty_evictions,
        disk_reads: s.os.disk_reads,
        disk_writes: s.os.disk_writes,
        swap_peak: s.os.swap_peak,
        resident_frames_peak: s.os.resident_frames_peak,
        tlb_shootdowns: s.os.tlb_shootdowns,
        watch_hits: s.os.watch_hits,
        watch_false_faults: s.os.watch_false_faults,
        cow_copies: s.os.cow_copies,
        frames: opts.os.frames_or_zero(),
        policy: opts.os.policy.name().to_string(),
        first_touch: opts.os.first_touch.name().to_string(),
        os: opts.os.to_string(),
        guest_refs: s.walk_refs - s.host_refs,
        host_refs: s.host_refs,
        host_walks: s.host_walks,
        guest_faults: s.page_faults,
        host_faults: s.host_faults,
        host_evictions: s.host_evictions,
        fragmentation: opts.os.fragmentation_fraction(),
        thp_faults: s.os.thp_faults,
        thp_fallbacks: s.os.thp_fallbacks,
        thp_promotions: s.os.thp_promotions,
        thp_splits: s.os.thp_splits,
        compaction_migrations: s.os.compaction_migrations,
        free_huge_blocks_min: s.os.free_huge_blocks_min,
        fragmentation_index: s
            .os
            .fragmentation_index(spec.as_ref().map_or(12, |s| s.page_shift())),
        cores: u64::from(opts.os.cores),
        threads: s.cores.threads,
        shootdown: opts.os.shootdown.name().to_string(),
        quantum: opts.os.quantum,
        shootdown_events: s.cores.shootdown_events,
        shootdown_ipis: s.cores.shootdown_ipis,
        remote_invalidations: s.cores.remote_invalidations,
        shootdown_cycles: s.cores.shootdown_cycles,
        ..cycle_columns(
            &s.cycles,
            s.translations,
            opts,
            tlb_columns(sim, s.translations),
        )
    }
}

/// The per-core rows of `sim` after replaying `trace` under `opts` (`run --per-core`): one per
/// core, whose TLB counters sum to the cell's.
pub fn per_core_rows(trace: &Path, sim: &Sim, opts: &SimOptions) -> Vec<PerCoreRow> {
    let s = sim.stats();
    s.cores
        .per_core
        .iter()
        .enumerate()
        .map(|(core, c)| PerCoreRow {
            trace: trace.display().to_string(),
            design: sim.label().to_string(),
            tlb: sim.tlb_label().to_string(),
            cache: opts.cache.to_string(),
            huge: opts.huge.name().to_string(),
            os: opts.os.to_string(),
            cores: u64::from(opts.os.cores),
            core: core as u64,
            threads: c.threads,
            accesses: c.accesses,
            l1i_hits: c.tlb.l1i_hits,
            l1i_misses: c.tlb.l1i_misses,
            l1d_hits: c.tlb.l1d_hits,
            l1d_misses: c.tlb.l1d_misses,
            l2_hits: c.tlb.l2_hits,
            l2_misses: c.tlb.l2_misses,
            tlb_misses: c.tlb.tlb_misses,
            flushes: c.tlb.flushes,
            shootdown_ipis: c.ipis,
            remote_invalidations: c.invalidations,
        })
        .collect()
}

/// The cache and cycle columns of a row (`none` and zeros without a cache model).
fn cycle_columns(c: &CycleStats, translations: u64, opts: &SimOptions, rest: RunRow) -> RunRow {
    let translation_cycles = c.translation_cycles;
    let [l1d, l2, llc, mem] = c.cache.pte_served;
    RunRow {
        cache: opts.cache.to_string(),
        placement: match opts.placement {
            Placement::Os => "os",
            Placement::Identity => "identity",
        }
        .to_string(),
        cycles_per_translation: ratio(translation_cycles, translations),
        walk_cycles: c.walk_cycles,
        walk_cycles_p50: c.walk_cycles_p50,
        walk_cycles_p90: c.walk_cycles_p90,
        walk_cycles_p99: c.walk_cycles_p99,
        walk_cycles_max: c.walk_cycles_max,
        translation_cycles,
        pte_l1d_hits: l1d,
        pte_l2_hits: l2,
        pte_llc_hits: llc,
        pte_mem_reads: mem,
        cache_l1i_accesses: c.cache.l1i.accesses,
        cache_l1i_misses: c.cache.l1i.misses,
        cache_l1d_accesses: c.cache.l1d.accesses,
        cache_l1d_misses: c.cache.l1d.misses,
        cache_l2_accesses: c.cache.l2.accesses,
        cache_l2_misses: c.cache.l2.misses,
        cache_llc_accesses: c.cache.llc.accesses,
        cache_llc_misses: c.cache.llc.misses,
        fault_cycles: c.fault_cycles,
        walk_cycles_histogram: c.walk_cycles_histogram.clone(),
        ..rest
    }
}

/// The TLB columns of a row; without TLBs every translation is a last-level miss.
fn tlb_columns(sim: &Sim, translations: u64) -> RunRow {
    let Some(t) = sim.tlb_stats() else {
        return RunRow {
            tlb_misses: translations,
            ..RunRow::default()
        };
    };
    let deepest = t.pwc_hits.iter().rposition(|h| *h > 0).map_or(0, |i| i + 1);
    RunRow {
        l1i_hits: t.l1i_hits,
        l1i_misses: t.l1i_misses,
        l1d_hits: t.l1d_hits,
        l1d_misses: t.l1d_misses,
        l2_hits: t.l2_hits,
        l2_misses: t.l2_misses,
        tlb_misses: t.tlb_misses,
        pwc_hits: t.pwc_hits.iter().sum(),
        pwc_hits_per_level: t.pwc_hits[..deepest]
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(";"),
        pwc_misses: t.pwc_misses,
        l1i_evictions: t.l1i_evictions,
        l1d_evictions: t.l1d_evictions,
        l2_evictions: t.l2_evictions,
        ntlb_hits: t.ntlb_hits,
        ntlb_misses: t.ntlb_misses,
        hpwc_hits: t.hpwc_hits,
        hpwc_misses: t.hpwc_misses,
        ..RunRow::default()
    }
}

/// The key of the cell `sim` replays on trace `trace_id` under `opts`: every setting that makes a
/// row, `key=value` joined by `|` (stable: results are resumed, sharded and merged by it). OS
/// settings other than the defaults follow as their own `|key=value` pairs.
pub fn cell_key(trace_id: &str, sim: &Sim, opts: &SimOptions) -> String {
    let mut key = format!(
        "trace={trace_id}|design={}|tlb={}|huge={}|crossing={}",
        sim.label(),
        sim.tlb_label(),
        opts.huge.name(),
        match opts.page_crossing {
            PageCrossing::Split => "split",
            PageCrossing::First => "first",
        }
    );
    if opts.os != ptbench_os::OsConfig::default() {
        for pair in opts.os.to_string().split(',') {
            key.push('|');
            key.push_str(pair);
        }
    }
    // Named only when there is a cache model, so keys without one stay as they were.
    if opts.cache.enabled() {
        key.push_str(&format!("|cache={}", opts.cache));
        if opts.placement == Placement::Identity {
            key.push_str("|placement=identity");
        }
    }
    key
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_under_other_os_settings_have_other_keys() {
        let spec = DesignSpec::parse("x86-64").unwrap();
        let plain = SimOptions::default();
        let sim = Sim::build(&spec, &plain).unwrap();
        assert_eq!(
            cell_key("t", &sim, &plain),
            "trace=t|design=x86-64|tlb=none|huge=off|crossing=split"
        );
        let limited = SimOptions {
            os: ptbench_os::OsConfig {
                frames: Some(64),
                policy: ptbench_os::Policy::Opt,
                ..ptbench_os::OsConfig::default()
            },
            ..SimOptions::default()
        };
        let sim = Sim::build(&spec, &limited).unwrap();
        assert_eq!(
            cell_key("t", &sim, &limited),
            "trace=t|design=x86-64|tlb=none|huge=off|crossing=split|frames=64|policy=opt|first_touch=zero"
        );
    }
}
