//! The results schema of ptbench: one [`RunRow`] per simulated cell (trace, design, TLB, OS and
//! cache settings), its columns in their CSV order, their CSV form, and how files of earlier
//! versions read ([`LATER_COLUMNS`]).
//!
//! Text columns are guarded against CSV formula injection (OWASP): a text field that a
//! spreadsheet would run as a formula is written with a leading `'`, which reading removes again
//! (see [`escape_text`] and [`unescape_text`]); numeric columns are never changed.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;
use std::sync::OnceLock;

/// One (trace, design) result. Field order is the CSV column order; columns are only ever added,
/// at the end, never renamed. Deserializing needs every column up to `os`; the columns after it
/// ([`LATER_COLUMNS`]) read as their defaults when a file of an earlier ptbench lacks them;
/// text columns go through [`escape_text`] when serialized and [`unescape_text`] when
/// deserialized, so that a round trip gives the original text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    /// The trace file as given on the command line.
    #[serde(with = "formula")]
    pub trace: String,
    /// The design's canonical spec.
    #[serde(with = "formula")]
    pub design: String,
    /// Accesses replayed.
    pub accesses: u64,
    /// Pages translated.
    pub translations: u64,
    /// Walks, retries after faults included.
    pub walks: u64,
    /// Entries read by all walks.
    pub walk_refs: u64,
    /// `walk_refs / translations`.
    pub refs_per_translation: f64,
    /// Page faults.
    pub page_faults: u64,
    /// Table pages at the end.
    pub table_pages: u64,
    /// Table bytes at the end.
    pub table_bytes: u64,
    /// Distinct pages touched.
    pub distinct_pages: u64,
    /// Seconds this design spent in its replay loop (trace decoding excluded).
    pub wall_seconds: f64,
    /// `accesses / wall_seconds`.
    pub accesses_per_second: f64,
    /// `split` or `first`.
    #[serde(with = "formula")]
    pub page_crossing: String,
    /// Base page size in bytes.
    pub page_bytes: u64,
    /// Virtual address width of the design.
    pub va_bits: u8,
    /// Table pages per level, root first, separated by `;` (radix designs).
    #[serde(with = "formula")]
    pub tables_per_level: String,
    /// Hash probes (hashed designs).
    pub probes: u64,
    /// The detected trace format.
    #[serde(with = "formula")]
    pub trace_format: String,
    /// The huge-page policy (`off`, `2m`, `1g`, `thp`).
    #[serde(with = "formula")]
    pub huge: String,
    /// Median memory references per walk.
    pub walk_refs_p50: u64,
    /// 90th percentile of references per walk.
    pub walk_refs_p90: u64,
    /// 99th percentile of references per walk.
    pub walk_refs_p99: u64,
    /// Most references any walk made.
    pub walk_refs_max: u64,
    /// Entries stored over entry slots (hashed designs); 0 where it does not apply.
    pub load_factor: f64,
    /// Insertions that missed their first-choice slot (hashed designs).
    pub collisions: u64,
    /// Entries moved by resizing (hashed designs).
    pub moved_entries: u64,
    /// Resizes (hashed designs).
    pub resizes: u64,
    /// Digest of the (page, frame, faulted) translation stream: equal digests, equal translations.
    #[serde(with = "formula")]
    pub digest: String,
    /// The TLB hierarchy's canonical spec (`none` without TLBs).
    #[serde(with = "formula")]
    pub tlb: String,
    /// Instruction fetches that hit the L1 (ITLB, or unified L1).
    pub l1i_hits: u64,
    /// Instruction fetches that missed the L1.
    pub l1i_misses: u64,
    /// Loads and stores that hit the L1 (DTLB, or unified L1).
    pub l1d_hits: u64,
    /// Loads and stores that missed the L1.
    pub l1d_misses: u64,
    /// L1 misses that hit the L2 (STLB).
    pub l2_hits: u64,
    /// L1 misses that missed the L2.
    pub l2_misses: u64,
    /// Translations that missed the last TLB level and walked (all of them without TLBs).
    pub tlb_misses: u64,
    /// Page-walk-cache lookups that hit some level.
    pub pwc_hits: u64,
    /// Page-walk-cache hits by the deepest level hit, root first, separated by `;`.
    #[serde(with = "formula")]
    pub pwc_hits_per_level: String,
    /// Page-walk-cache lookups that hit no level.
    pub pwc_misses: u64,
    /// Valid entries evicted from the ITLB.
    pub l1i_evictions: u64,
    /// Valid entries evicted from the DTLB.
    pub l1d_evictions: u64,
    /// Valid entries evicted from the L2.
    pub l2_evictions: u64,
    /// OS events in the trace (context switches, forks, mmap, munmap, mprotect, exits).
    pub events: u64,
    /// References per walk, as `refs:walks` pairs separated by `;` (every walk, retries included).
    #[serde(with = "formula")]
    pub walk_refs_histogram: String,
    /// The cell's key: trace, design, TLB, huge-page policy and the other settings of the row, so
    /// that results files can be resumed, sharded and merged by key.
    #[serde(with = "formula")]
    pub cell: String,
    /// Accesses skipped because they lie outside the design's address space (non-canonical, or
    /// wider than its `va_bits`), with `--wide-addresses count`; 0 otherwise.
    pub noncanonical: u64,
    /// Faults that mapped a page without reading the disk (zero-filled first touches).
    pub minor_faults: u64,
    /// Faults that read the page from disk (swap; every fault under `first_touch=disk`).
    pub major_faults: u64,
    /// Writes to copy-on-write pages (with or without a copy).
    pub cow_faults: u64,
    /// Accesses the region's permissions forbid.
    pub protection_faults: u64,
    /// Accesses outside every region (segmentation faults).
    pub segv: u64,
    /// Pages evicted.
    pub evictions: u64,
    /// Evicted pages that were dirty (written to swap).
    pub dirty_evictions: u64,
    /// Pages read from disk.
    pub disk_reads: u64,
    /// Pages written to disk.
    pub disk_writes: u64,
    /// Most swap slots in use at once.
    pub swap_peak: u64,
    /// Most data frames in use at once.
    pub resident_frames_peak: u64,
    /// (asid, page) translations shot down in every TLB and page-walk cache.
    pub tlb_shootdowns: u64,
    /// Write faults on watched pages that wrote the watched bytes.
    pub watch_hits: u64,
    /// Write faults on watched pages that wrote only other bytes.
    pub watch_false_faults: u64,
    /// Copy-on-write faults that copied the page.
    pub cow_copies: u64,
    /// The data-frame limit (`--frames`); 0 = unlimited.
    pub frames: u64,
    /// The replacement policy (`fifo`, `lru`, `clock`, `random`, `opt`, `nru`, `aging`).
    #[serde(with = "formula")]
    pub policy: String,
    /// `zero` or `disk`.
    #[serde(with = "formula")]
    pub first_touch: String,
    /// The OS settings' canonical form (`frames=64,policy=lru,first_touch=disk,...`).
    #[serde(with = "formula")]
    pub os: String,
    // Columns from here on were added after results files were read strictly: a file written
    // before them lacks them, and reads them as 0 or empty ([`LATER_COLUMNS`]).
    /// The cache hierarchy's canonical spec (`none`: no cache model, every cycle column 0).
    #[serde(default = "none", with = "formula")]
    pub cache: String,
    /// Where the trace's accesses went in the caches: `os` (their frames) or `identity`.
    #[serde(default = "os_placement", with = "formula")]
    pub placement: String,
    /// `translation_cycles / translations`.
    #[serde(default)]
    pub cycles_per_translation: f64,
    /// Cycles of every walk: each dependency step costs its slowest table read.
    #[serde(default)]
    pub walk_cycles: u64,
    /// Median cycles of one walk.
    #[serde(default)]
    pub walk_cycles_p50: u64,
    /// 90th percentile.
    #[serde(default)]
    pub walk_cycles_p90: u64,
    /// 99th percentile.
    #[serde(default)]
    pub walk_cycles_p99: u64,
    /// Most cycles of one walk.
    #[serde(default)]
    pub walk_cycles_max: u64,
    /// Cycles of translations: TLB lookups (at the TLB spec's `l1_lat`, `l2_lat`) plus walks,
    /// the retries after faults included.
    #[serde(default)]
    pub translation_cycles: u64,
    /// Table reads served by the L1D.
    #[serde(default)]
    pub pte_l1d_hits: u64,
    /// Table reads served by the L2.
    #[serde(default)]
    pub pte_l2_hits: u64,
    /// Table reads served by the LLC.
    #[serde(default)]
    pub pte_llc_hits: u64,
    /// Table reads served by memory.
    #[serde(default)]
    pub pte_mem_reads: u64,
    /// The trace's fetches at the L1I.
    #[serde(default)]
    pub cache_l1i_accesses: u64,
    /// Of those, misses.
    #[serde(default)]
    pub cache_l1i_misses: u64,
    /// The trace's loads and stores at the L1D.
    #[serde(default)]
    pub cache_l1d_accesses: u64,
    /// Of those, misses.
    #[serde(default)]
    pub cache_l1d_misses: u64,
    /// The trace's accesses at the L2 (the L1 misses).
    #[serde(default)]
    pub cache_l2_accesses: u64,
    /// Of those, misses.
    #[serde(default)]
    pub cache_l2_misses: u64,
    /// The trace's accesses at the LLC.
    #[serde(default)]
    pub cache_llc_accesses: u64,
    /// Of those, misses.
    #[serde(default)]
    pub cache_llc_misses: u64,
    /// Cycles of faults' handling apart from their walks: the cache spec's `fault_lat` per fault
    /// plus `disk_lat` per page read from or written to disk.
    #[serde(default)]
    pub fault_cycles: u64,
    /// Cycles of every walk as `value:count` pairs (`;`-separated, increasing; exact below 2048
    /// cycles, within 0.1% above); empty without a cache model.
    #[serde(default)]
    pub walk_cycles_histogram: String,
    /// Of `walk_refs`, the guest dimension's: every reference of a native design.
    #[serde(default)]
    pub guest_refs: u64,
    /// Of `walk_refs`, the host dimension's (nested designs): `guest_refs + host_refs =
    /// walk_refs`.
    #[serde(default)]
    pub host_refs: u64,
    /// Host walks (nested designs): one per guest-physical address the nested TLB did not
    /// hold.
    #[serde(default)]
    pub host_walks: u64,
    /// Guest-physical pages the nested TLB held (`ntlb=` of the TLB spec; nested designs).
    #[serde(default)]
    pub ntlb_hits: u64,
    /// Guest-physical pages the nested TLB missed: each a host walk.
    #[serde(default)]
    pub ntlb_misses: u64,
    /// Faults the guest OS served (every fault of a native design): `page_faults`.
    #[serde(default)]
    pub guest_faults: u64,
    /// Guest-physical pages the hypervisor mapped on first touch (nested designs).
    #[serde(default)]
    pub host_faults: u64,
    /// Host walks the host page-walk cache (`hpwc=`) started below the host root.
    #[serde(default)]
    pub hpwc_hits: u64,
    /// Host walks it could not shorten.
    #[serde(default)]
    pub hpwc_misses: u64,
    /// Guest-physical pages the hypervisor evicted (`host_frames=` of a nested design), each
    /// flushing the TLBs.
    #[serde(default)]
    pub host_evictions: u64,
    /// The `fragmentation` OS setting: the fraction of 2 MiB blocks other tenants broke before
    /// the trace started (0 without one).
    #[serde(default)]
    pub fragmentation: f64,
    /// Huge pages mapped at a fault.
    #[serde(default)]
    pub thp_faults: u64,
    /// Faults a THP policy would have given a huge page that got a base page: no aligned free
    /// 2 MiB block was left.
    #[serde(default)]
    pub thp_fallbacks: u64,
    /// 2 MiB regions khugepaged promoted (`--huge defer`).
    #[serde(default)]
    pub thp_promotions: u64,
    /// Huge pages split into base pages (partial munmap or mprotect, copy-on-write).
    #[serde(default)]
    pub thp_splits: u64,
    /// Pages compaction moved to make free 2 MiB blocks (`--compaction on`).
    #[serde(default)]
    pub compaction_migrations: u64,
    /// The fewest free 2 MiB blocks during the run (physical memory as a buddy allocator; 0
    /// otherwise).
    #[serde(default)]
    pub free_huge_blocks_min: u64,
    /// The unusable free space index for 2 MiB at the end: the fraction of free memory no 2 MiB
    /// allocation can use (0 without a buddy allocator).
    #[serde(default)]
    pub fragmentation_index: f64,
    /// Cores simulated, each with its own TLBs, page-walk caches and private caches.
    #[serde(default = "one")]
    pub cores: u64,
    /// Threads the trace ran (an address space without thread events is one).
    #[serde(default)]
    pub threads: u64,
    /// Which cores a shootdown interrupts: `precise` (those that ran the address space) or
    /// `broadcast`.
    #[serde(default = "precise")]
    pub shootdown: String,
    /// Trace records between round-robin rotations of threads over cores (0: none).
    #[serde(default)]
    pub quantum: u64,
    /// OS operations that interrupted at least one other core.
    #[serde(default)]
    pub shootdown_events: u64,
    /// Shootdown interrupts sent, one per operation and other core.
    #[serde(default)]
    pub shootdown_ipis: u64,
    /// Pages invalidated on other cores, one per page and interrupted core.
    #[serde(default)]
    pub remote_invalidations: u64,
    /// With a cache model: cycles of the shootdowns (`ipi_cycles` per interrupt, `invlpg_cycles`
    /// per remote invalidation); 0 without.
    #[serde(default)]
    pub shootdown_cycles: u64,
}

fn one() -> u64 {
    1
}

fn precise() -> String {
    "precise".into()
}

fn none() -> String {
    "none".into()
}

fn os_placement() -> String {
    "os".into()
}

/// Columns a results file written before them lacks; reading gives them their defaults (`none`,
/// `os`, 0).
pub const LATER_COLUMNS: &[&str] = &[
    "cache",
    "placement",
    "cycles_per_translation",
    "walk_cycles",
    "walk_cycles_p50",
    "walk_cycles_p90",
    "walk_cycles_p99",
    "walk_cycles_max",
    "translation_cycles",
    "pte_l1d_hits",
    "pte_l2_hits",
    "pte_llc_hits",
    "pte_mem_reads",
    "cache_l1i_accesses",
    "cache_l1i_misses",
    "cache_l1d_accesses",
    "cache_l1d_misses",
    "cache_l2_accesses",
    "cache_l2_misses",
    "cache_llc_accesses",
    "cache_llc_misses",
    "fault_cycles",
    "walk_cycles_histogram",
    "guest_refs",
    "host_refs",
    "host_walks",
    "ntlb_hits",
    "ntlb_misses",
    "guest_faults",
    "host_faults",
    "hpwc_hits",
    "hpwc_misses",
    "host_evictions",
    "fragmentation",
    "thp_faults",
    "thp_fallbacks",
    "thp_promotions",
    "thp_splits",
    "compaction_migrations",
    "free_huge_blocks_min",
    "fragmentation_index",
    "cores",
    "threads",
    "shootdown",
    "quantum",
    "shootdown_events",
    "shootdown_ipis",
    "remote_invalidations",
    "shootdown_cycles",
];

/// The first characters that make a spreadsheet read a cell as a formula (OWASP's list).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `text`, after any leading `'`s, starts like a formula.
fn formula_like(text: &str) -> bool {
    text.trim_start_matches('\'')
        .starts_with(FORMULA_STARTS.as_slice())
}

/// A text field as written to CSV: with one more leading `'` if, after any leading `'`s, it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return (so that a spreadsheet shows
/// `'+SUM(1+1).lackey` as text instead of running it); otherwise unchanged. The extra `'` on
/// names that already start with `'`s before such a character keeps the rule reversible:
/// [`unescape_text`] of the result is always `text`.
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    if formula_like(text) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// A text field as read from CSV: [`escape_text`] undone (one leading `'` removed from a field
/// that, after its leading `'`s, starts like a formula); any other field unchanged.
pub fn unescape_text(field: &str) -> &str {
    match field.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => field,
    }
}

/// Serde glue for the text columns of [`RunRow`]: [`escape_text`] out, [`unescape_text`] in.
mod formula {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::escape_text(text))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let field = String::deserialize(d)?;
        Ok(match super::unescape_text(&field) {
            same if same.len() == field.len() => field,
            unescaped => unescaped.to_string(),
        })
    }
}

/// How every results file ptbench writes begins.
pub const CSV_HEADER_START: &str = "trace,design,";

/// Whether the file at `path` starts like a results file ptbench writes (its header line), so
/// that it may be replaced without `--force`.
pub fn looks_like_results(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::new();
    let _ = io::Read::read_to_end(
        &mut io::Read::take(f, CSV_HEADER_START.len() as u64),
        &mut head,
    );
    head == CSV_HEADER_START.as_bytes()
}

/// The CSV header line of results files, with its newline.
pub fn header_line() -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.serialize(RunRow::default());
    let bytes = w.into_inner().unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    text.lines().next().unwrap_or_default().to_string() + "\n"
}

/// Every column of a results file, in the order ptbench writes them.
pub fn columns() -> &'static [String] {
    static COLUMNS: OnceLock<Vec<String>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        header_line()
            .trim_end()
            .split(',')
            .map(str::to_string)
            .collect()
    })
}

/// Rows as CSV lines, without the header.
pub fn row_lines(rows: &[RunRow]) -> io::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(io::Error::other)?;
    }
    w.into_inner().map_err(|e| io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_the_run_header() {
        let h = header_line();
        assert!(h.starts_with("trace,design,accesses,"), "{h}");
        assert!(h.contains(",cell,"), "{h}");
    }

    #[test]
    fn formula_like_text_is_quoted_and_round_trips() {
        for (text, written) in [
            ("+SUM(1+1).lackey", "'+SUM(1+1).lackey"),
            ("-2+3", "'-2+3"),
            ("@x", "'@x"),
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'+x", "''+x"),
            ("''=x", "'''=x"),
            ("'plain", "'plain"),
            ("''", "''"),
            ("x86-64", "x86-64"),
            ("", ""),
        ] {
            assert_eq!(escape_text(text), written, "{text:?}");
            assert_eq!(unescape_text(written), text, "{written:?}");
        }
    }

    #[test]
    fn rows_quote_text_columns_only_and_read_back_exactly() {
        let row = RunRow {
            trace: "+SUM(1+1).lackey".into(),
            design: "'-x".into(),
            cell: "=1|design=x".into(),
            accesses: 3,
            ..RunRow::default()
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let line = text.lines().nth(1).unwrap();
        assert!(line.starts_with("'+SUM(1+1).lackey,''-x,3,"), "{line}");
        assert!(line.contains(",'=1|design=x,"), "{line}");
        let back: RunRow = csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(back, row);
    }

    #[test]
    fn a_missing_column_is_not_defaulted() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(RunRow::default()).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let mut lines = text.lines();
        let (header, row) = (lines.next().unwrap(), lines.next().unwrap());
        // Drop the `os` column (a column of the first version: never defaulted).
        let at = header.split(',').position(|c| c == "os").unwrap();
        let cut = |s: &str| {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(s.as_bytes());
            let rec = r.records().next().unwrap().unwrap();
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(
                rec.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != at)
                    .map(|(_, f)| f),
            )
            .unwrap();
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        };
        let short = format!("{}{}", cut(header), cut(row));
        let e = csv::Reader::from_reader(short.as_bytes())
            .deserialize::<RunRow>()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains("missing field `os`"), "{e}");
    }
}

/// One core's counters in one cell (`ptbench run --per-core FILE`): the companion of a
/// [`RunRow`], whose TLB counters are these summed over its cores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerCoreRow {
    /// The trace, as in [`RunRow::trace`].
    #[serde(with = "formula")]
    pub trace: String,
    /// The design.
    #[serde(with = "formula")]
    pub design: String,
    /// The TLB spec.
    pub tlb: String,
    /// The cache spec (`none` without).
    pub cache: String,
    /// The page size policy.
    pub huge: String,
    /// The OS settings, as in [`RunRow::os`].
    pub os: String,
    /// Cores simulated.
    pub cores: u64,
    /// This core (0 to cores - 1).
    pub core: u64,
    /// Threads that ran on it.
    pub threads: u64,
    /// Accesses replayed on it.
    pub accesses: u64,
    /// Its ITLB (or unified L1) hits and misses by fetches.
    pub l1i_hits: u64,
    /// See `l1i_hits`.
    pub l1i_misses: u64,
    /// Its DTLB (or unified L1) hits and misses by loads and stores.
    pub l1d_hits: u64,
    /// See `l1d_hits`.
    pub l1d_misses: u64,
    /// Its L2 TLB hits.
    pub l2_hits: u64,
    /// Its L2 TLB misses.
    pub l2_misses: u64,
    /// Its page walks (translations that missed every TLB level).
    pub tlb_misses: u64,
    /// Its TLB flushes (context switches without ASIDs, a hypervisor's flushes).
    pub flushes: u64,
    /// Shootdown interrupts it received.
    pub shootdown_ipis: u64,
    /// Pages it invalidated for shootdowns.
    pub remote_invalidations: u64,
}
