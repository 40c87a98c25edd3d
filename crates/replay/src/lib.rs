//! The replay loop: accesses are translated page by page through a design under the OS model, and
//! every cost is counted in a [`Stats`].
//!
//! Counting rules:
//! - An access that crosses a page boundary translates every page it touches
//!   ([`PageCrossing::Split`]); [`PageCrossing::First`] translates only its first byte's page, as
//!   course simulators do. Each page translated is one `translation`.
//! - A translation walks the design once (`walks += 1`, `walk_refs +=` the entries it read). If the
//!   walk finds no mapping, that is a page fault: the walk read entries up to and including the
//!   first invalid one; the OS maps the page; the translation then walks again in full, and both
//!   walks count. Each walk's references go to a histogram.
//! - With TLBs (`ptbench-tlb`), a translation first looks up the hierarchy once (L1, then L2 on an
//!   L1 miss); a hit needs no walk. A miss walks (through the page-walk caches, for radix designs:
//!   the walk starts at the deepest cached table) and fills the TLBs with the mapping found. The
//!   retry after a page fault belongs to the same translation: it walks again but is not a second
//!   TLB lookup or miss.
//! - A fault whose mapping frees table frames (a radix table emptied under a new huge page, the old
//!   ways or table of a finished resize) drops exactly the page-walk-cache entries that point into
//!   the freed frames (`pwc_invalidations`); TLB entries stay, so designs that translate a trace
//!   the same way have the same TLB counters (`l1*`, `l2*`, `tlb_misses`) and walks.
//! - Every translation folds (page, frame, faulted) into a digest, so designs that translate a trace
//!   the same way have the same digest, whatever their costs. The page is the address's own page
//!   number (all 64 bits), so designs of different widths agree on the addresses they all take.
//! - Address widths: an access must lie in the design's [`AddrSpace`](ptbench_core::AddrSpace):
//!   below `2^va_bits`, or, for canonical designs (x86-64's 48 and 57 bits), sign-extended from
//!   bit `va_bits - 1`, upper half included; the walk indexes with the low `va_bits` bits. An
//!   access outside stops the replay ([`WideAddresses::Error`], the default) or is counted in
//!   `noncanonical` and skipped ([`WideAddresses::Count`]).
//!
//! - Cycles (with a cache hierarchy, [`SimOptions::cache`]): every table read of every walk goes
//!   through the caches at its simulated physical address, and every access of the trace at the
//!   physical address its translation gave (or its own address, with [`Placement::Identity`]),
//!   in trace order, so data evicts table lines as on hardware. A walk costs the sum over its
//!   dependency steps of each step's slowest read (designs say which reads are parallel; see
//!   `ptbench_core::PhysMem::begin_parallel`), plus the page-walk-cache lookup (`pwc_lat` of
//!   the TLB spec) when the walk goes through page-walk caches. A translation costs its TLB
//!   lookup (an L1 hit `l1_lat`; an L1 miss `l2_lat` with an L2, `l1_lat` without) plus its
//!   walks, the retry after a fault included (`translation_cycles`); without TLBs it costs its
//!   walks. A fault's handling is counted apart (`fault_cycles`: `fault_lat` per fault plus
//!   `disk_lat` per page read from or written to disk, keys of the cache spec). The fast path
//!   still counts repeated TLB hits (each access still goes through the caches); without TLBs
//!   every translation walks.
//!
//! Dispatch happens once per batch: [`Sim`] is an enum over the designs and its `replay` matches
//! into the generic, monomorphized [`Simulator::replay`], so the per-access loop has no dynamic
//! dispatch, allocation or hashing.

pub mod cores;
mod driver;
mod hist;
mod next_use;

mod row;
pub use cores::{CoreCounters, CoreStats};
pub use driver::{replay_trace, RunError, TraceRun, DEFAULT_MAX_ACCESS_BYTES};
pub use hist::RefHistogram;
pub use next_use::{next_uses, NextUses};
pub use ptbench_os::{
    format_size, parse_size, FirstTouch, HugePolicy, OnViolation, OsConfig, OsCounters, Policy,
    Shootdown, Watch, DEFAULT_INVLPG_CYCLES, DEFAULT_IPI_CYCLES, MAX_CORES,
};
pub use ptbench_tlb;
pub use ptbench_tlb::CacheSpec;
pub use row::{cell_key, per_core_rows, run_row};
pub use shared::{replay_all, share_groups, Fanout};

use ptbench_core::{
    Access, AccessKind, Footprint, MapError, PageSize, PageTable, Perms, PhysAddr, PhysMem, Pte,
    RunStart, TableRead, Vpn, WalkCache, WalkCost,
};
use ptbench_os::{Action, OsError, OsModel, Outcome};
use ptbench_pagetable::{
    DesignConfig, DesignSpec, Ecpt, Flat, Hashed, Inverted, Nested, Radix, Reference,
};
use ptbench_tlb::{
    CacheHierarchy, CacheStats, PwcLayout, TlbError, TlbHierarchy, TlbSpec, TlbStats,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use thiserror::Error;

/// How an access that crosses a page boundary is translated.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum PageCrossing {
    /// Every page the access touches is translated.
    #[default]
    Split,
    /// Only the page of its first byte.
    First,
}

/// Counters of one (trace, design) replay. Plain `u64`s; names are attached at report time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Accesses replayed (events not included).
    pub accesses: u64,
    /// OS events seen (context switches, forks, mmap, munmap, mprotect, exits).
    pub events: u64,
    /// Pages translated (one per access, more for accesses that cross pages under `Split`).
    pub translations: u64,
    /// Walks of the design, the retry after a fault included.
    pub walks: u64,
    /// Memory references all walks made.
    pub walk_refs: u64,
    /// Hash probes all walks made (hashed designs).
    pub probes: u64,
    /// Of `walk_refs`, those made by a nested design's host (0 for native designs).
    pub host_refs: u64,
    /// Host walks a nested design made, one per guest-physical address translated.
    pub host_walks: u64,
    /// Guest-physical pages a nested design's host mapped on first touch (host faults).
    pub host_faults: u64,
    /// Guest-physical pages a nested design's hypervisor evicted (a frame limit).
    pub host_evictions: u64,
    /// Faults of every kind (the sum of the OS model's fault counters).
    pub page_faults: u64,
    /// Distinct pages touched.
    pub distinct_pages: u64,
    /// Nanoseconds spent in this design's replay loop.
    pub busy_nanos: u64,
    /// Digest of the (page, frame, faulted) streams of translations, in order: fetches and data
    /// accesses each as a stream of runs of equal translations (see [`fold_run`]).
    pub digest: u64,
    /// Memory references per walk.
    pub refs_per_walk: RefHistogram,
    /// Accesses skipped because they lie outside the design's address space (non-canonical, or
    /// wider than its `va_bits`), under [`WideAddresses::Count`].
    pub noncanonical: u64,
    /// The OS model's counters.
    pub os: OsCounters,
    /// Cycles and cache counters, with a cache hierarchy (all zero without).
    pub cycles: CycleStats,
    /// Threads, cores and shootdowns ([`cores`]).
    pub cores: CoreCounters,
}

impl Stats {
    /// Adds one walk's (or its retry's) references, probes and host counters.
    #[inline(always)]
    fn add_walk(&mut self, cost: &WalkCost) {
        self.walk_refs += u64::from(cost.refs);
        self.probes += u64::from(cost.probes);
        self.host_refs += u64::from(cost.host_refs);
        self.host_walks += u64::from(cost.host_walks);
    }
}

/// What the cache hierarchy counted (see the crate docs' rule on cycles).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CycleStats {
    /// Cycles of every walk (retries after faults included).
    pub walk_cycles: u64,
    /// Median, 90th and 99th percentile and largest cycles of one walk.
    pub walk_cycles_p50: u64,
    /// See [`CycleStats::walk_cycles_p50`].
    pub walk_cycles_p90: u64,
    /// See [`CycleStats::walk_cycles_p50`].
    pub walk_cycles_p99: u64,
    /// See [`CycleStats::walk_cycles_p50`].
    pub walk_cycles_max: u64,
    /// Cycles of every walk, as `value:count` pairs in increasing value (`;`-separated; exact
    /// below 2048 cycles, within 0.1% above).
    pub walk_cycles_histogram: String,
    /// TLB lookups plus walks (see the crate docs' rule on cycles).
    pub translation_cycles: u64,
    /// Faults' handling apart from their walks.
    pub fault_cycles: u64,
    /// The caches' counters: the trace's accesses per level, and where table reads were served.
    pub cache: CacheStats,
}

/// Where the trace's own accesses go in the caches.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// At the physical address the OS model's frame gives.
    #[default]
    Os,
    /// At their own (virtual) address: a data page sits at the frame equal to its page number,
    /// as virtually indexed simulators (cachegrind) see it.
    Identity,
}

/// The cache hierarchy of a simulator and what it needs per access.
struct Caches {
    h: CacheHierarchy,
    identity: bool,
    /// Reads of the walk just made.
    reads: Vec<TableRead>,
    /// The slowest read of each step of the walk just made.
    slowest: Vec<u32>,
    /// The (page, frame) of each page the current access was translated to.
    pages: Vec<(u64, u64)>,
    /// Line ranges of the current access, one per page.
    parts: Vec<(u64, u32)>,
    walk_cycles: u64,
    hist: hdrhistogram::Histogram<u64>,
}

/// The digest of no translations.
pub const DIGEST_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// Folds one translation into a digest (order-dependent).
#[inline(always)]
pub fn fold_digest(digest: u64, vpn: u64, frame: u64, faulted: bool) -> u64 {
    let h = vpn.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ frame.wrapping_mul(0xc2b2_ae3d_27d4_eb4f).rotate_left(31)
        ^ u64::from(faulted);
    (digest ^ h)
        .wrapping_mul(0x0000_0100_0000_01b3)
        .rotate_left(17)
}

/// Folds a run of `n` equal translations (`page`, `frame`, `faulted`) of digest slot `slot` (0:
/// loads and stores, 1: fetches) into a digest. A replay's digest folds each slot's runs in the
/// order they end, then the two unfinished runs (slot 0 first): it depends only on the
/// translations, not on which design or TLB produced them, nor on how the trace was batched.
#[inline]
pub fn fold_run(digest: u64, slot: usize, page: u64, frame: u64, faulted: bool, n: u64) -> u64 {
    fold_digest(
        fold_digest(digest, page, frame, faulted),
        n,
        slot as u64,
        false,
    )
}

/// Why a replay stopped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplayError {
    /// An access lies outside the design's virtual address space.
    #[error("access #{index} at {addr:#x} ({size} bytes) lies outside the {va_bits}-bit virtual address space of design `{design}` (a wider design replays it, e.g. `flat:va_bits=57`, `radix` with more levels or `x86-64-5l`; --wide-addresses count skips and counts such accesses)")]
    AddressTooWide {
        /// 0-based index of the access in the trace.
        index: u64,
        /// Its address.
        addr: u64,
        /// Its size.
        size: u32,
        /// The design.
        design: String,
        /// The design's virtual address width.
        va_bits: u8,
    },
    /// An access is not canonical in a design whose addresses are sign-extended (x86-64).
    #[error("access #{index} at {addr:#x} ({size} bytes) is not canonical in the {va_bits}-bit virtual address space of design `{design}`: bits 63 to {} must all equal bit {} (--wide-addresses count skips and counts such accesses)", va_bits - 1, va_bits - 1)]
    NonCanonical {
        /// 0-based index of the access in the trace.
        index: u64,
        /// Its address.
        addr: u64,
        /// Its size.
        size: u32,
        /// The design.
        design: String,
        /// The design's virtual address width.
        va_bits: u8,
    },
    /// The OS model could not resolve a fault.
    #[error("access #{index} at {addr:#x}, design `{design}`: {error}")]
    Os {
        /// 0-based index of the access.
        index: u64,
        /// Its address.
        addr: u64,
        /// The design.
        design: String,
        /// What failed.
        error: OsError,
    },
    /// A design lost a mapping it had just stored: a bug in the design.
    #[error("design `{design}` did not find {vpn:?} right after mapping it (a bug in the design)")]
    Lost {
        /// The design.
        design: String,
        /// The page.
        vpn: Vpn,
    },
    /// A design's walk found another mapping than the shared front end's: a bug in the design.
    #[error("design `{design}` found {found:?} for {vpn:?} where the shared front end (every design's mappings) has {expected:?} (a bug in the design; --no-shared-front-end replays each design alone)")]
    Diverged {
        /// The design.
        design: String,
        /// The page.
        vpn: Vpn,
        /// What the design's walk found.
        found: Option<Pte>,
        /// What the mappings hold.
        expected: Option<Pte>,
    },
}

impl ReplayError {
    /// The same error, naming `design` (a shared front end's error, as each design reports it).
    pub fn for_design(mut self, name: &str) -> ReplayError {
        match &mut self {
            ReplayError::AddressTooWide { design, .. }
            | ReplayError::NonCanonical { design, .. }
            | ReplayError::Os { design, .. }
            | ReplayError::Lost { design, .. }
            | ReplayError::Diverged { design, .. } => *design = name.to_string(),
        }
        self
    }
}

/// What an access outside a design's address space does.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum WideAddresses {
    /// Stops the replay with [`ReplayError::AddressTooWide`] or [`ReplayError::NonCanonical`].
    #[default]
    Error,
    /// Is counted in [`Stats::noncanonical`] and skipped.
    Count,
}

/// Options shared by every simulation of a run.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// How page-crossing accesses are translated.
    pub page_crossing: PageCrossing,
    /// Which page size faults map.
    pub huge: HugePolicy,
    /// What an address outside a design's address space does.
    pub wide: WideAddresses,
    /// The OS model's settings (memory limit, replacement, first touch, violations, watches).
    pub os: OsConfig,
    /// Every access takes the general path: no repeated-translation shortcut (see
    /// [`Simulator`]). Every count is the same either way; tests and benchmarks compare them.
    pub no_fast_path: bool,
    /// The cache hierarchy walks and accesses go through ([`CacheSpec::NONE`]: none, no cycles).
    pub cache: CacheSpec,
    /// Where the trace's accesses go in the caches.
    pub placement: Placement,
    /// Every simulation keeps its own TLBs and OS model, even where a [`Fanout`] could share one
    /// front end among designs that see the same TLB hits and misses. Every count is the same
    /// either way; tests compare them.
    pub no_shared_front_end: bool,
}

/// Why a simulation could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot build design `{design}`: {reason}")]
pub struct BuildError {
    /// The design.
    pub design: String,
    /// Why.
    pub reason: String,
    /// The design cannot store the huge page size the options ask for (a default design set may
    /// skip it).
    pub page_size_unsupported: bool,
}

/// The `(physical address, bytes)` parts of access `a` in the caches: at its own address
/// (`identity`), or on the frames of the `(page, frame)` `pages` it was translated to, in order
/// (with `--page-crossing first`, which translates the first page only, the rest follows it).
pub(crate) fn access_parts(
    a: &Access,
    pages: &[(u64, u64)],
    shift: u8,
    identity: bool,
    parts: &mut Vec<(u64, u32)>,
) {
    parts.clear();
    let size = u64::from(a.size.max(1));
    if identity {
        parts.push((a.addr, size as u32));
        return;
    }
    let page_bytes = 1u64 << shift;
    let mut off = a.addr & (page_bytes - 1);
    let mut left = size;
    let mut next = 0;
    for &(_, frame) in pages {
        let n = (page_bytes - off).min(left);
        parts.push(((frame << shift) | off, n as u32));
        next = (frame << shift) + off + n;
        left -= n;
        off = 0;
        if left == 0 {
            break;
        }
    }
    if left > 0 && !parts.is_empty() {
        parts.push((next, left as u32));
    }
}

impl Caches {
    /// Sends the reads of the walk just made through the caches: the walk costs the sum over
    /// its steps of each step's slowest read.
    /// `extra` is the cycles the walk costs before its first read (a page-walk-cache lookup).
    fn walked(&mut self, mem: &PhysMem, extra: u32) {
        mem.take_reads(&mut self.reads);
        // Reads go through the caches in the order they were made; each step (not always in
        // read order: `PhysMem::parallel_lane`) costs its slowest.
        self.slowest.clear();
        for r in &self.reads {
            let (_, lat) = self.h.pte(r.pa.0, r.bytes);
            let step = usize::from(r.step);
            if step >= self.slowest.len() {
                self.slowest.resize(step + 1, 0);
            }
            self.slowest[step] = self.slowest[step].max(lat);
        }
        let cycles = u64::from(extra) + self.slowest.iter().map(|&c| u64::from(c)).sum::<u64>();
        self.walk_cycles += cycles;
        let _ = self.hist.record(cycles);
    }

    /// Sends access `a` through the caches, at the frames its pages were translated to (or at
    /// its own address), as one access however many lines and pages it spans. An access whose
    /// translation failed sent nothing.
    fn access(&mut self, a: &Access, shift: u8) {
        // The common case, a single range (one page, or at its own address), goes straight in.
        let page_bytes = 1u64 << shift;
        let off = a.addr & (page_bytes - 1);
        let single = match self.pages[..] {
            _ if self.identity => Some(a.addr),
            [(_, frame)] if off + u64::from(a.size.max(1)) <= page_bytes => {
                Some((frame << shift) | off)
            }
            _ => None,
        };
        if let Some(pa) = single {
            self.pages.clear();
            if a.kind == AccessKind::Fetch {
                self.h.fetch(pa, a.size.max(1));
            } else {
                self.h.data(pa, a.size.max(1));
            }
            return;
        }
        access_parts(a, &self.pages, shift, self.identity, &mut self.parts);
        self.pages.clear();
        match a.kind {
            AccessKind::Fetch => self.h.fetch_parts(&self.parts),
            _ => self.h.data_parts(&self.parts),
        };
    }

    /// Sends access `a`, which repeats the translation of its page to `frame`, through the
    /// caches (a single-page access: the fast path takes no other).
    #[inline(always)]
    fn repeated(&mut self, a: &Access, frame: u64, shift: u8) {
        let pa = if self.identity {
            a.addr
        } else {
            (frame << shift) | (a.addr & ((1u64 << shift) - 1))
        };
        let size = a.size.max(1);
        if a.kind == AccessKind::Fetch {
            self.h.fetch(pa, size);
        } else {
            self.h.data(pa, size);
        }
    }

    fn stats(&self, tlb: Option<(&TlbStats, &TlbSpec)>, os: &OsCounters) -> CycleStats {
        let lookups = tlb.map_or(0, |(t, spec)| {
            let l1_misses = t.l1i_misses + t.l1d_misses;
            let l1_hits = t.l1i_hits + t.l1d_hits;
            let misses = if spec.l2.is_some() {
                u64::from(spec.lat.l2) * l1_misses
            } else {
                u64::from(spec.lat.l1) * l1_misses
            };
            u64::from(spec.lat.l1) * l1_hits + misses
        });
        let spec = self.h.spec();
        let fault_cycles = u64::from(spec.fault_lat) * os.faults()
            + u64::from(spec.disk_lat) * (os.disk_reads + os.disk_writes);
        let walk_cycles_histogram = self
            .hist
            .iter_recorded()
            .map(|v| format!("{}:{}", v.value_iterated_to(), v.count_at_value()))
            .collect::<Vec<_>>()
            .join(";");
        let q = |p: f64| {
            if self.hist.is_empty() {
                0
            } else {
                self.hist.value_at_quantile(p)
            }
        };
        CycleStats {
            walk_cycles: self.walk_cycles,
            walk_cycles_p50: q(0.5),
            walk_cycles_p90: q(0.9),
            walk_cycles_p99: q(0.99),
            walk_cycles_max: self.hist.max(),
            walk_cycles_histogram,
            translation_cycles: lookups + self.walk_cycles,
            fault_cycles,
            cache: *self.h.stats(),
        }
    }
}

/// Builds another empty table of a design (for a new address space).
pub type TableFactory<P> = Box<dyn Fn(&mut PhysMem) -> Result<P, MapError> + Send + Sync>;

/// Whether a mapping with `perms` allows an access of `kind` (reads are always allowed: radix
/// entries, like x86's, have no read bit; the OS checks reads against regions when it maps).
#[inline(always)]
fn allows(perms: Perms, kind: AccessKind) -> bool {
    match kind {
        AccessKind::Write => perms.contains(Perms::W),
        AccessKind::Fetch => perms.contains(Perms::X),
        _ => true,
    }
}

/// A run of equal translations in one digest slot (`n == 0`: none yet).
#[derive(Copy, Clone, Debug, Default)]
struct Run {
    page: u64,
    frame: u64,
    faulted: bool,
    n: u64,
}

/// A page whose next single-page accesses in one digest slot repeat the last translation exactly:
/// same entry, same cost, no state change but counters (see [`Simulator`]).
#[derive(Copy, Clone, Debug)]
struct Fast {
    /// `addr >> shift` of the page; `u64::MAX` (no address's page): none.
    page: u64,
    asid: u16,
    /// Bit `k` set: an access of kind `k` (its discriminant) may repeat it.
    kinds: u32,
    /// Base frame, for the OS model's recency.
    frame: u64,
    /// Where its data is in the caches: `frame`, or a nested design's host frame.
    place: u64,
    /// With a TLB: the L1 probes the repeated hit counts. Without: the walk's references.
    refs: u32,
    /// Without a TLB: the walk's hash probes.
    probes: u32,
    /// Without a TLB: the walk's host references and host walks (nested designs).
    host: (u32, u32),
    /// Without a TLB: [`Simulator`]'s `epoch` when the walk was made.
    epoch: u64,
}

/// Entries of [`Simulator`]'s `armed` (a power of two).
const ARMED: usize = 128;

/// Where page `page` (`addr >> shift`) of slot `slot` goes in `armed`: by its low bits, which
/// are the low bits of its TLB set, so that the pages armed at once (at most one per L1 set, its
/// most recent entry) rarely share an entry, and those of one L1 set are found together
/// ([`Simulator::disarm_set`]).
#[inline(always)]
fn armed_index(page: u64, slot: usize) -> usize {
    ((page as usize) << 1 | slot) & (ARMED - 1)
}

impl Fast {
    const NONE: Fast = Fast {
        page: u64::MAX,
        asid: 0,
        kinds: 0,
        frame: 0,
        place: 0,
        refs: 0,
        probes: 0,
        host: (0, 0),
        epoch: 0,
    };
}

/// A walk remembered while no table changes (no TLB): what the next walk of the same page in the
/// same address space would find and cost.
#[derive(Copy, Clone, Debug)]
struct Memo {
    /// Base page number; `u64::MAX`: none.
    vpn: u64,
    /// [`Simulator`]'s `epoch` when the walk was made.
    epoch: u64,
    pte: Pte,
    cost: WalkCost,
    asid: u16,
}

/// Remembered walks, direct-mapped by page number.
const MEMO: usize = 1024;

/// Kinds a mapping with `perms` lets repeat in digest slot `slot` (see [`allows`]).
fn fast_kinds(slot: usize, perms: Perms) -> u32 {
    let bit = |k: AccessKind| 1u32 << (k as u32);
    if slot == 1 {
        if allows(perms, AccessKind::Fetch) {
            bit(AccessKind::Fetch)
        } else {
            0
        }
    } else if allows(perms, AccessKind::Write) {
        bit(AccessKind::Read) | bit(AccessKind::Write)
    } else {
        bit(AccessKind::Read)
    }
}

/// The digest slot of an access: 1 for fetches, 0 for loads and stores (and events).
#[inline(always)]
fn slot_of(kind: AccessKind) -> usize {
    usize::from(kind == AccessKind::Fetch)
}

/// One design replaying one trace under the OS model.
///
/// The fast path: most accesses of a real trace touch the page the previous access of the same
/// kind class (fetch, or load and store) touched. When that translation was an L1 TLB hit on the
/// entry its set last touched (which for every replacement policy changes no state when hit
/// again), or, without TLBs, a walk of tables that have not changed since, the next single-page
/// access of the same class, address space and page repeats it exactly: the replay loop only
/// counts it, and adds the counts in bulk before anything else happens. Every counter and the digest are the same as
/// with [`SimOptions::no_fast_path`].
pub struct Simulator<P: PageTable> {
    label: String,
    tlb_label: String,
    /// The table of address space `cur`.
    pt: P,
    cur: u16,
    /// The tables of the other address spaces.
    others: HashMap<u16, P>,
    factory: Option<TableFactory<P>>,
    actions: Vec<Action>,
    /// The TLB hierarchy and page-walk caches, when the run has any.
    tlb: Option<TlbHierarchy>,
    mem: PhysMem,
    os: OsModel,
    /// Why the OS model could not be built (reported at the first fault).
    os_error: Option<OsError>,
    stats: Stats,
    crossing: PageCrossing,
    shift: u8,
    /// The highest address of the design's low range.
    low_last: u64,
    /// The lowest address of the sign-extended upper half (canonical designs), else 0.
    high_start: u64,
    canonical: bool,
    /// The low `va_bits` bits: what a walk indexes with.
    va_mask: u64,
    /// Whether accesses outside the space are counted and skipped.
    count_wide: bool,
    /// Per digest slot: the run of equal translations being folded.
    runs: [Run; 2],
    /// Per digest slot: the page whose next accesses repeat the last translation.
    fast: [Fast; 2],
    /// Bumped by every run of the general path (the only place TLB, table or address-space
    /// state changes, but for an L1 hit's recency, which [`Simulator::disarm_set`] follows).
    gen: u64,
    /// Fast pages of either slot, by page, each with the `gen` it was armed in. One armed in
    /// this `gen` (and not disarmed since) still repeats exactly, so a run start that returns to
    /// it takes it back without asking the TLB (see [`Simulator::replay_runs`]).
    armed: Box<[(u64, Fast); ARMED]>,
    /// Bumped by every change to tables, memory or the current address space.
    epoch: u64,
    /// Without TLBs: the last walk of each page slot, valid while `epoch` is unchanged.
    memo: Box<[Memo]>,
    fast_off: bool,
    /// The cache hierarchy, with cycles.
    caches: Option<Box<Caches>>,
    /// What a shared front end must agree on (`None`: this simulation keeps its own).
    share: Option<String>,
    /// The data frames the machine and the design can map.
    machine: u64,
    /// A shared front end's log of what its followers must replay ([`shared`]).
    log: Option<Vec<shared::Miss>>,
    /// Following a shared front end: no TLB lookups or OS model of its own; after the replay,
    /// the front end's counters.
    following: Option<Box<shared::Adopted>>,
    /// What it was built from, to build it again (see [`Fanout::finish`]).
    origin: Option<Box<(DesignSpec, TlbSpec, SimOptions)>>,
    /// A shared front end whose followers have caches: what of the trace's accesses it logs.
    data: Option<Box<shared::DataLog>>,
    /// The trace index of the batch being replayed.
    batch_start: u64,
    /// A nested design with caches: data goes to the caches at host frames (see [`Self::place`]).
    nested: bool,
    /// Threads and the cores not running ([`cores`]).
    sched: Box<cores::Sched>,
    /// `cur` while the running thread is settled; [`UNSETTLED`] when the next access must
    /// first settle it (a thread event, the first access): the fast path and `translate`
    /// compare an access's address space with it.
    run_asid: u32,
}

/// See [`Simulator::run_asid`]: no access's address space.
const UNSETTLED: u32 = u32::MAX;

impl<P: PageTable> Simulator<P> {
    /// A simulator over an already built design and its memory, without TLBs.
    pub fn new(label: String, pt: P, mut mem: PhysMem, opts: &SimOptions) -> Simulator<P> {
        // Frees are logged so that page-walk-cache entries pointing at freed tables can go.
        mem.track_freed(true);
        let shift = pt.page_shift();
        let space = pt.address_space();
        let base = PageSize::from_shift(mem.frame_shift()).unwrap_or(PageSize::K4);
        let machine = mem.data_frames().min(pt.frame_limit().unwrap_or(u64::MAX));
        let (os, os_error) = match OsModel::new(base, machine, &opts.os, opts.huge) {
            Ok(os) => (os, None),
            Err(e) => (
                OsModel::new(base, machine, &OsConfig::default(), opts.huge)
                    .expect("the default OS settings always build"),
                Some(e.into()),
            ),
        };
        Simulator {
            label,
            tlb_label: TlbSpec::NONE.to_string(),
            os,
            os_error,
            pt,
            cur: 0,
            others: HashMap::new(),
            factory: None,
            actions: Vec::new(),
            tlb: None,
            mem,
            stats: Stats {
                digest: DIGEST_SEED,
                ..Stats::default()
            },
            crossing: opts.page_crossing,
            shift,
            low_last: space.low_last(),
            high_start: space.high_start().unwrap_or(0),
            canonical: space.canonical,
            va_mask: space.mask(),
            count_wide: opts.wide == WideAddresses::Count,
            runs: [Run::default(); 2],
            fast: [Fast::NONE; 2],
            gen: 1,
            armed: Box::new([(0, Fast::NONE); ARMED]),
            epoch: 0,
            memo: vec![
                Memo {
                    vpn: u64::MAX,
                    epoch: 0,
                    pte: Pte::EMPTY,
                    cost: WalkCost::default(),
                    asid: 0,
                };
                MEMO
            ]
            .into_boxed_slice(),
            fast_off: opts.no_fast_path,
            caches: opts.cache.enabled().then(|| {
                Box::new(Caches {
                    h: CacheHierarchy::new(&opts.cache),
                    identity: opts.placement == Placement::Identity,
                    reads: Vec::new(),
                    slowest: Vec::new(),
                    pages: Vec::new(),
                    parts: Vec::new(),
                    walk_cycles: 0,
                    hist: hdrhistogram::Histogram::new(3)
                        .unwrap_or_else(|_| unreachable!("3 significant figures is valid")),
                })
            }),
            // Without a memory limit the frames the machine has matter only when a trace uses
            // them all (a front end then splits, see `shared`).
            // With several cores each keeps its own TLBs: no shared front end.
            share: (!opts.no_shared_front_end && opts.os.cores <= 1).then(|| {
                match opts.os.frames {
                    Some(_) => format!("{opts:?}|{machine}"),
                    None => format!("{opts:?}|unlimited"),
                }
            }),
            machine,
            log: None,
            following: None,
            origin: None,
            data: None,
            batch_start: 0,
            nested: false,
            sched: Box::new(cores::Sched::new(&opts.os)),
            run_asid: UNSETTLED,
        }
        .recording()
    }

    /// Turns on the log of table reads when there are caches to send them to; a nested design's
    /// data goes to them at host frames.
    fn recording(mut self) -> Simulator<P> {
        if let Some(c) = &self.caches {
            if self.sched.many() {
                self.sched.set_caches(&c.h);
            }
        }
        self.nested = self.caches.is_some() && self.pt.host_faults().is_some();
        self.mem.record_reads(self.caches.is_some());
        self
    }

    /// Gives the simulator a way to build the tables of further address spaces (without one, a
    /// trace with a second address space stops with an error).
    pub fn with_factory(mut self, factory: TableFactory<P>) -> Simulator<P> {
        self.factory = Some(factory);
        self
    }

    /// Adds the TLB hierarchy (and page-walk caches, for radix designs) that `spec` describes.
    pub fn with_tlb(mut self, spec: &TlbSpec) -> Result<Simulator<P>, TlbError> {
        self.tlb_label = spec.to_string();
        self.fast = [Fast::NONE; 2];
        if *spec == TlbSpec::NONE {
            self.tlb = None;
            self.sched.set_tlbs(None);
            return Ok(self);
        }
        let layout = match self.pt.walk_cache_levels() {
            Some((levels, upper)) if levels >= 2 => PwcLayout::new(levels, &upper).ok(),
            _ => None,
        };
        let mut tlb = TlbHierarchy::new(spec, self.pt.page_sizes(), layout.as_ref())?;
        let host = match self.pt.host_walk_cache_levels() {
            Some((levels, upper)) if levels >= 2 => PwcLayout::new(levels, &upper).ok(),
            _ => None,
        };
        tlb.set_host_layout(host.as_ref());
        self.tlb = Some(tlb);
        if self.sched.many() {
            self.sched.set_tlbs(self.tlb.as_ref());
        }
        Ok(self)
    }

    /// Replays `batch`, whose first access is access number `first_index` of the trace.
    #[inline(never)]
    pub fn replay(&mut self, batch: &[Access], first_index: u64) -> Result<(), ReplayError> {
        let start = Instant::now();
        let result = match self.sched.quantum() {
            None => self.replay_inner(batch, first_index),
            Some(q) => self.replay_quanta(batch, first_index, q),
        };
        self.stats.busy_nanos += start.elapsed().as_nanos() as u64;
        result
    }

    /// Replays `batch` as [`replay`](Self::replay) does, given its page runs
    /// ([`ptbench_core::page_runs`] of the same batch): the accesses inside a run that the fast
    /// path would only count are counted together, with no look at each. Every counter and the
    /// digest are as [`replay`](Self::replay) gives them.
    #[inline(never)]
    pub fn replay_runs(
        &mut self,
        batch: &[Access],
        runs: &[RunStart],
        first_index: u64,
    ) -> Result<(), ReplayError> {
        let bulk = self.uses_runs();
        // Runs of another batch (a caller's mistake) are not trusted: replayed access by access.
        let matching = runs.first().map_or(batch.is_empty(), |r| r.at == 0)
            && runs.last().is_none_or(|r| (r.at as usize) < batch.len());
        if !bulk || !matching {
            return self.replay(batch, first_index);
        }
        let start = Instant::now();
        let result = self.replay_runs_inner(batch, runs, first_index);
        self.stats.busy_nanos += start.elapsed().as_nanos() as u64;
        result
    }

    /// Whether [`replay_runs`](Self::replay_runs) counts inside runs in bulk. Bulk counting
    /// needs pages of 4 KiB or more and nothing that looks at each access (caches, a replacement
    /// policy that tracks use, time quanta); otherwise it replays access by access and the runs
    /// go unused.
    pub fn uses_runs(&self) -> bool {
        !self.fast_off
            && self.shift >= 12
            && self.sched.quantum().is_none()
            && !self.os.tracks_use()
            && self.caches.is_none()
            && self.data.is_none()
    }

    fn replay_runs_inner(
        &mut self,
        batch: &[Access],
        runs: &[RunStart],
        first_index: u64,
    ) -> Result<(), ReplayError> {
        const NONE: (u64, u16) = (u64::MAX, 0);
        let shift = self.shift;
        let offset_mask = (1u64 << shift) - 1;
        let span = match self.crossing {
            PageCrossing::Split => 1u64 << shift,
            PageCrossing::First => u64::MAX,
        };
        self.batch_start = first_index;
        // Each slot's page (4 KiB page number, address space) that the accesses inside a run
        // repeat: that of the slot's last run start.
        let mut last = [NONE; 2];
        for (k, r) in runs.iter().enumerate() {
            let i = r.at as usize;
            let end = runs.get(k + 1).map_or(batch.len(), |n| n.at as usize);
            let a = &r.access;
            let slot = slot_of(a.kind);
            let f = &self.fast[slot];
            // Whether the start repeats its slot's fast page (then it is counted with its run).
            let repeats = (a.addr >> shift == f.page
                && a.asid == f.asid
                && (f.kinds >> (a.kind as u32)) & 1 == 1
                && (a.addr & offset_mask) + u64::from(a.size) <= span)
                || (!a.kind.is_event() && self.rearmed(a, slot, span));
            if !repeats
                && !self.repeat(a, span, i)
                && !self.l1_hit(a, span, first_index + i as u64)?
            {
                self.general(a, first_index + i as u64)?;
                self.rearm(a, span);
            }
            let (own, own_fetches) = if repeats { (1, slot as u64) } else { (0, 0) };
            match ptbench_core::run_page(a) {
                None => last = [NONE; 2],
                Some(p) => last[slot] = p,
            }
            if end <= i + 1 {
                self.count_repeats(own, own_fetches);
                continue;
            }
            let holds = |s: usize, kinds: u32| {
                let f = &self.fast[s];
                let (page, asid) = last[s];
                kinds == 0
                    || (page != u64::MAX
                        && f.page == page >> (shift - 12)
                        && f.asid == asid
                        && kinds & !f.kinds == 0)
            };
            let data = r.kinds & !(1 << (AccessKind::Fetch as u32));
            let fetch = r.kinds & (1 << (AccessKind::Fetch as u32));
            if holds(0, data) && holds(1, fetch) {
                let n = (end - i - 1) as u64;
                self.count_repeats(own + n, own_fetches + u64::from(r.fetches));
            } else {
                self.count_repeats(own, own_fetches);
                let rest = batch.get(i + 1..end).unwrap_or_default();
                self.replay_inner(rest, first_index + i as u64 + 1)?;
            }
        }
        Ok(())
    }

    /// Replays `batch` a quantum at a time: at every multiple of `q` trace records, threads
    /// move one core on.
    fn replay_quanta(
        &mut self,
        batch: &[Access],
        first_index: u64,
        q: u64,
    ) -> Result<(), ReplayError> {
        let mut start = 0usize;
        while start < batch.len() {
            let index = first_index + start as u64;
            let tick = (index / q + 1) * q;
            let end = batch.len().min((tick - first_index) as usize);
            self.replay_inner(&batch[start..end], index)?;
            if first_index + end as u64 == tick {
                if let Some(core) = self.sched.rotate() {
                    let asid = self.sched.thread.map_or(self.cur, |t| t.0);
                    self.move_to(core, asid, self.stats.accesses);
                }
            }
            start = end;
        }
        Ok(())
    }

    /// Makes `key` the running thread, on its core; `accesses` are those replayed before it.
    #[cold]
    #[inline(never)]
    fn run_thread(&mut self, key: (u16, u64), accesses: u64) {
        let core = self.sched.run_thread(key);
        if self.sched.many() {
            self.move_to(core, key.0, accesses);
        }
    }

    /// The running thread, of address space `asid`, runs on `core` from now on (see
    /// [`cores`]); `accesses` were replayed before.
    #[cold]
    #[inline(never)]
    fn move_to(&mut self, core: u16, asid: u16, accesses: u64) {
        self.gen += 1;
        if core != self.sched.running {
            let caches = self.caches.as_mut().map(|c| &mut c.h);
            self.sched
                .switch_core(core, &mut self.tlb, caches, accesses);
        }
        self.sched.enter(asid, self.tlb.as_mut());
        // Another core's TLBs, or a flushed one: the fast pages no longer hold.
        self.fast = [Fast::NONE; 2];
    }

    #[inline(always)]
    fn replay_inner(&mut self, batch: &[Access], first_index: u64) -> Result<(), ReplayError> {
        let shift = self.shift;
        let offset_mask = (1u64 << shift) - 1;
        // An access repeats only if it stays on its first page (or only that page counts).
        let span = match self.crossing {
            PageCrossing::Split => 1u64 << shift,
            PageCrossing::First => u64::MAX,
        };
        let touch = self.os.tracks_use();
        self.batch_start = first_index;
        let mut i = 0;
        while i < batch.len() {
            let fast = self.fast;
            let (mut n, mut fetches) = (0u64, 0u64);
            while let Some(a) = batch.get(i) {
                let slot = slot_of(a.kind);
                let f = &fast[slot];
                if a.addr >> shift != f.page
                    || a.asid != f.asid
                    || (f.kinds >> (a.kind as u32)) & 1 == 0
                    || (a.addr & offset_mask) + u64::from(a.size) > span
                {
                    break;
                }
                if touch {
                    self.os.touch(f.frame, a.kind == AccessKind::Write);
                }
                if let Some(c) = &mut self.caches {
                    c.repeated(a, f.place, shift);
                }
                if let Some(d) = &mut self.data {
                    d.repeated(self.log.as_mut(), a, i, f.frame, shift);
                }
                n += 1;
                fetches += slot as u64;
                i += 1;
            }
            self.count_repeats(n, fetches);
            let Some(a) = batch.get(i) else { break };
            if !self.repeat(a, span, i) {
                self.general(a, first_index + i as u64)?;
                self.rearm(a, span);
            }
            i += 1;
        }
        Ok(())
    }

    /// Adds `n` repeated translations, `fetches` of them in the fetch slot: what the general
    /// path would have counted for them.
    #[inline(always)]
    fn count_repeats(&mut self, n: u64, fetches: u64) {
        if n == 0 {
            return;
        }
        let data = n - fetches;
        let [fd, ff] = self.fast;
        self.stats.accesses += n;
        self.stats.translations += n;
        self.runs[0].n += data;
        self.runs[1].n += fetches;
        match &mut self.tlb {
            Some(tlb) => tlb.count_repeat_hits(fetches, ff.refs as u8, data, fd.refs as u8),
            None => {
                self.stats.walks += n;
                self.stats.walk_refs += data * u64::from(fd.refs) + fetches * u64::from(ff.refs);
                self.stats.probes += data * u64::from(fd.probes) + fetches * u64::from(ff.probes);
                self.stats.host_refs +=
                    data * u64::from(fd.host.0) + fetches * u64::from(ff.host.0);
                self.stats.host_walks +=
                    data * u64::from(fd.host.1) + fetches * u64::from(ff.host.1);
                self.stats.refs_per_walk.record_n(fd.refs, data);
                self.stats.refs_per_walk.record_n(ff.refs, fetches);
            }
        }
    }

    /// Whether `a` may take the fast path at all: a single-page access (under the page-crossing
    /// rule) of the current address space, inside the design's space.
    #[inline(always)]
    fn fast_eligible(&self, a: &Access, span: u64) -> bool {
        !self.fast_off
            && !a.kind.is_event()
            && u32::from(a.asid) == self.run_asid
            && (a.addr & ((1u64 << self.shift) - 1)) + u64::from(a.size) <= span
            && (a.addr <= self.low_last || (self.canonical && a.addr >= self.high_start))
    }

    /// What translating `vpn` for an access of `kind` in `asid` would find and cost, if it
    /// changes no state: an L1 TLB hit on the entry its set last touched (the cost's `refs` are
    /// the L1 probes it counts), or, without TLBs, a walk remembered since no table changed.
    #[inline(always)]
    fn state_free(&self, vpn: Vpn, asid: u16, kind: AccessKind) -> Option<(Pte, WalkCost)> {
        match &self.tlb {
            Some(tlb) => tlb.repeat_hit(vpn, asid, kind).map(|(pte, probes)| {
                let cost = WalkCost {
                    refs: u32::from(probes),
                    ..WalkCost::default()
                };
                (pte, cost)
            }),
            // Without TLBs every translation walks, and with caches every walk's reads go
            // through them: no walk is only counted.
            None if self.caches.is_some() => None,
            None => {
                let m = &self.memo[vpn.0 as usize % MEMO];
                (m.vpn == vpn.0 && m.asid == asid && m.epoch == self.epoch)
                    .then_some((m.pte, m.cost))
            }
        }
    }

    /// Makes `page` (of `vpn`) slot `slot`'s fast page, repeating `pte` at `cost`.
    #[inline(always)]
    fn arm(&mut self, slot: usize, page: u64, asid: u16, vpn: Vpn, pte: Pte, cost: WalkCost) {
        let frame = pte.frame_of(vpn, self.shift).0;
        let f = Fast {
            page,
            asid,
            kinds: fast_kinds(slot, pte.perms),
            frame,
            place: self.place(frame),
            refs: cost.refs,
            probes: cost.probes,
            host: (cost.host_refs, cost.host_walks),
            epoch: self.epoch,
        };
        self.fast[slot] = f;
        self.armed[armed_index(page, slot)] = (self.gen, f);
    }

    /// Takes back, for run start `a` of `slot`, a fast page armed since the general path last
    /// ran (nothing has changed its translation or cost since): makes it the slot's fast page
    /// and starts its run in the digest, so that `a` is then counted as a repeat of it
    /// ([`count_repeats`](Self::count_repeats)). False (having done nothing) when there is none.
    #[inline(always)]
    fn rearmed(&mut self, a: &Access, slot: usize, span: u64) -> bool {
        let page = a.addr >> self.shift;
        let (gen, f) = self.armed[armed_index(page, slot)];
        if gen != self.gen
            || f.page != page
            || f.asid != a.asid
            || (f.kinds >> (a.kind as u32)) & 1 == 0
            || (a.addr & ((1u64 << self.shift) - 1)) + u64::from(a.size) > span
        {
            return false;
        }
        self.fast[slot] = f;
        self.enter_run(slot, f.page, f.frame, false);
        true
    }

    /// Replays `a` if it repeats a translation that changes no state ([`state_free`]); then
    /// `a`'s page becomes its slot's fast page. Returns false (having done nothing) otherwise.
    ///
    /// [`state_free`]: Self::state_free
    #[inline(always)]
    fn repeat(&mut self, a: &Access, span: u64, i: usize) -> bool {
        if !self.fast_eligible(a, span) {
            return false;
        }
        let vpn = Vpn((a.addr & self.va_mask) >> self.shift);
        let Some((pte, cost)) = self.state_free(vpn, a.asid, a.kind) else {
            return false;
        };
        if !allows(pte.perms, a.kind) {
            return false;
        }
        let slot = slot_of(a.kind);
        self.stats.accesses += 1;
        self.stats.translations += 1;
        match &mut self.tlb {
            Some(tlb) => {
                let p = cost.refs as u8;
                tlb.count_repeat_hits(slot as u64, p, 1 - slot as u64, p);
            }
            None => {
                self.stats.walks += 1;
                self.stats.add_walk(&cost);
                self.stats.refs_per_walk.record(cost.refs);
            }
        }
        self.used(vpn, pte, a, false);
        if let Some(c) = &mut self.caches {
            c.access(a, self.shift);
        }
        if let Some(d) = &mut self.data {
            let frame = pte.frame_of(vpn, self.shift).0;
            d.pages.clear();
            d.repeated(self.log.as_mut(), a, i, frame, self.shift);
        }
        self.arm(slot, a.addr >> self.shift, a.asid, vpn, pte, cost);
        true
    }

    /// Replays `a` if it is one translation that hits a base-size entry of the L1 TLB
    /// ([`TlbHierarchy::base_l1_hit`]), as the general path would (with the recency of that one
    /// set changed, the pages armed in it are disarmed, not all); false, having done nothing,
    /// otherwise.
    #[inline(always)]
    fn l1_hit(&mut self, a: &Access, span: u64, index: u64) -> Result<bool, ReplayError> {
        if !self.fast_eligible(a, span) {
            return Ok(false);
        }
        let vpn = Vpn((a.addr & self.va_mask) >> self.shift);
        let Some(hit) = self
            .tlb
            .as_mut()
            .and_then(|t| t.base_l1_hit(vpn, a.asid, a.kind))
        else {
            return Ok(false);
        };
        self.stats.accesses += 1;
        self.stats.translations += 1;
        if allows(hit.pte.perms, a.kind) {
            self.used(vpn, hit.pte, a, false);
            let slot = slot_of(a.kind);
            if !hit.unified {
                // The other slot's L1 is unchanged, so is its fast page; this one's is the page
                // just hit, now its set's most recent entry (one probe).
                self.disarm_set(hit.set, hit.set_mask, [slot == 0, slot == 1]);
                let cost = WalkCost {
                    refs: 1,
                    ..WalkCost::default()
                };
                self.arm(slot, a.addr >> self.shift, a.asid, vpn, hit.pte, cost);
                return Ok(true);
            }
            // One L1 for both slots: either slot's pages in the set, and the other slot's fast
            // page, may have lost their place.
            self.disarm_set(hit.set, hit.set_mask, [true, true]);
        } else {
            // A fault: as the general path takes it, after the same lookup.
            self.gen += 1;
            let mut cost = WalkCost::default();
            self.fault(vpn, a, index, Some(hit.pte), &mut cost, true)?;
        }
        self.rearm(a, span);
        Ok(true)
    }

    /// Forgets the pages armed for the slots `slots` whose L1 TLB set is `set` (of `set_mask +
    /// 1` sets): that set's most recent entry changed.
    #[inline(always)]
    fn disarm_set(&mut self, set: u64, set_mask: u64, slots: [bool; 2]) {
        let per = ARMED / 2;
        let (first, step) = if set_mask as usize >= per - 1 {
            (set as usize & (per - 1), per)
        } else {
            (set as usize, set_mask as usize + 1)
        };
        let mut j = first;
        while j < per {
            for (slot, &on) in slots.iter().enumerate() {
                if on {
                    self.armed[j << 1 | slot].1.page = u64::MAX;
                }
            }
            j += step;
        }
    }

    /// After the general path replayed `a`: which pages the next accesses may repeat. The
    /// slot of `a` repeats `a`'s page if `a` was one clean translation that the next one would
    /// repeat without a change of state ([`state_free`](Self::state_free)); the other slot keeps
    /// its page while that still holds (its TLB entry still its set's last touched, or no table
    /// changed).
    #[inline(never)]
    fn rearm(&mut self, a: &Access, span: u64) {
        if self.fast_off {
            return;
        }
        let slot = slot_of(a.kind);
        let kind_of = |s: usize| {
            if s == 1 {
                AccessKind::Fetch
            } else {
                AccessKind::Read
            }
        };
        for s in 0..2 {
            let f = self.fast[s];
            let keep = if s == slot || f.page == u64::MAX || f.asid != self.cur {
                false
            } else if self.tlb.is_some() {
                let vpn = Vpn(((f.page << self.shift) & self.va_mask) >> self.shift);
                matches!(self.state_free(vpn, f.asid, kind_of(s)),
                    Some((pte, cost)) if pte.frame_of(vpn, self.shift).0 == f.frame
                        && cost.refs == f.refs
                        && fast_kinds(s, pte.perms) == f.kinds)
            } else {
                f.epoch == self.epoch
            };
            if !keep {
                self.fast[s] = Fast::NONE;
            }
        }
        if !self.fast_eligible(a, span) {
            return;
        }
        let page = a.addr >> self.shift;
        let vpn = Vpn((a.addr & self.va_mask) >> self.shift);
        let run = self.runs[slot];
        if run.n == 0 || run.page != page || run.faulted {
            return;
        }
        match self.state_free(vpn, a.asid, a.kind) {
            Some((pte, cost)) if pte.frame_of(vpn, self.shift).0 == run.frame => {
                self.arm(slot, page, a.asid, vpn, pte, cost)
            }
            _ => {}
        }
    }

    /// One access (or event) through the general path.
    #[inline(never)]
    fn general(&mut self, a: &Access, index: u64) -> Result<(), ReplayError> {
        self.gen += 1;
        if a.kind.is_event() {
            return self.event(a, index);
        }
        let last_byte = match self.crossing {
            PageCrossing::Split => a.last_byte(),
            PageCrossing::First => Some(a.addr),
        };
        let last_byte = match last_byte {
            Some(b) if b <= self.low_last || (self.canonical && a.addr >= self.high_start) => b,
            _ if self.count_wide => {
                self.stats.noncanonical += 1;
                return Ok(());
            }
            _ => return Err(self.too_wide(a, index)),
        };
        self.stats.accesses += 1;
        if let Some(c) = &mut self.caches {
            c.pages.clear();
        }
        if let Some(d) = &mut self.data {
            d.pages.clear();
        }
        // Walks index with the low va_bits bits; the digest folds the whole page number.
        let first = (a.addr & self.va_mask) >> self.shift;
        let last = (last_byte & self.va_mask) >> self.shift;
        for vpn in first..=last {
            self.translate(Vpn(vpn), a, index)?;
        }
        if let Some(c) = &mut self.caches {
            c.access(a, self.shift);
        }
        if let Some(d) = &mut self.data {
            let i = (index - self.batch_start) as usize;
            d.access(self.log.as_mut(), a, i, self.shift);
        }
        Ok(())
    }

    #[inline(always)]
    fn translate(&mut self, vpn: Vpn, a: &Access, index: u64) -> Result<(), ReplayError> {
        if u32::from(a.asid) != self.run_asid {
            self.settle(a.asid, index, a.addr)?;
        }
        self.stats.translations += 1;
        if let Some(tlb) = &mut self.tlb {
            if let Some(pte) = tlb.lookup(vpn, a.asid, a.kind).pte() {
                if allows(pte.perms, a.kind) {
                    self.used(vpn, pte, a, false);
                    return Ok(());
                }
                let mut cost = WalkCost::default();
                return self.fault(vpn, a, index, Some(pte), &mut cost, true);
            }
        }
        self.stats.walks += 1;
        let mut cost = WalkCost::default();
        // A nested design's walk that mapped guest-physical pages (host faults) walked the host
        // again: it is not what the next walk would cost, so it is not remembered.
        // Nor is any walk of a host with a frame limit: its walks set the accessed bits its
        // replacement reads.
        let host_faults = self.tlb.is_none().then(|| self.pt.host_faults()).flatten();
        let remember = self.pt.host_evictions().is_none();
        let found = self.walk(vpn, a.asid, &mut cost);
        self.stats.refs_per_walk.record(cost.refs);
        match found {
            Some(pte) if allows(pte.perms, a.kind) => {
                match &mut self.tlb {
                    Some(tlb) => tlb.fill(vpn, a.asid, a.kind, pte),
                    None if !remember
                        || (host_faults.is_some() && host_faults != self.pt.host_faults()) => {}
                    None => {
                        self.memo[vpn.0 as usize % MEMO] = Memo {
                            vpn: vpn.0,
                            epoch: self.epoch,
                            pte,
                            cost,
                            asid: a.asid,
                        };
                    }
                }
                self.used(vpn, pte, a, false);
                self.stats.add_walk(&cost);
                Ok(())
            }
            _ => self.fault(vpn, a, index, found, &mut cost, false),
        }
    }

    /// A translation of `vpn` by `pte`: folded into the digest, and reported to the OS model's
    /// replacement state.
    #[inline(always)]
    fn used(&mut self, vpn: Vpn, pte: Pte, a: &Access, faulted: bool) {
        let frame = pte.frame_of(vpn, self.shift).0;
        if self.caches.is_some() {
            let place = self.place(frame);
            if let Some(c) = &mut self.caches {
                c.pages.push((vpn.0, place));
            }
        }
        if let Some(d) = &mut self.data {
            d.pages.push((vpn.0, frame));
        }
        // Walks index with the low va_bits bits; the digest folds the whole page number, so
        // designs of different widths agree on the same trace.
        let page = vpn.0 | ((a.addr & !self.va_mask) >> self.shift);
        self.push_run(slot_of(a.kind), page, frame, faulted);
        self.os.touch(frame, a.kind == AccessKind::Write);
    }

    /// Where the data of `frame` is in the caches: the frame itself, or a nested design's host
    /// frame ([`PageTable::host_frame`]).
    #[inline(always)]
    fn place(&self, frame: u64) -> u64 {
        if self.nested {
            self.pt.host_frame(frame).unwrap_or(frame)
        } else {
            frame
        }
    }

    /// One translation into digest slot `slot`'s runs (see [`fold_run`]).
    #[inline(always)]
    fn push_run(&mut self, slot: usize, page: u64, frame: u64, faulted: bool) {
        self.enter_run(slot, page, frame, faulted);
        self.runs[slot].n += 1;
    }

    /// Makes the run of translations (`page`, `frame`, `faulted`) slot `slot`'s current run,
    /// folding the one before into the digest if it was another; counts nothing.
    #[inline(always)]
    fn enter_run(&mut self, slot: usize, page: u64, frame: u64, faulted: bool) {
        let r = &mut self.runs[slot];
        if r.n != 0 && r.page == page && r.frame == frame && r.faulted == faulted {
            return;
        }
        if r.n != 0 {
            self.stats.digest = fold_run(self.stats.digest, slot, r.page, r.frame, r.faulted, r.n);
        }
        *r = Run {
            page,
            frame,
            faulted,
            n: 0,
        };
    }

    /// Before an access of `asid` (the `index`th record, at `addr`): the thread a thread event
    /// named runs (on its core), or, if the access is of another address space, that address
    /// space's last thread; `asid`'s table becomes the current one.
    #[cold]
    #[inline(never)]
    fn settle(&mut self, asid: u16, index: u64, addr: u64) -> Result<(), ReplayError> {
        // The access itself is already counted: it runs where the thread goes.
        let before = self.stats.accesses.saturating_sub(1);
        match self.sched.pending.take() {
            Some(key) if key.0 == asid => self.run_thread(key, before),
            _ if self.sched.thread.is_none_or(|t| t.0 != asid) => {
                self.run_thread(self.sched.thread_of(asid), before)
            }
            _ => {}
        }
        if asid != self.cur {
            self.switch_table(asid, index, addr)?;
        }
        self.run_asid = u32::from(self.cur);
        Ok(())
    }

    /// Runs the thread a thread event named, if it has not run yet (before an event that acts
    /// on its core).
    fn settle_pending(&mut self) {
        if let Some(key) = self.sched.pending.take() {
            self.run_thread(key, self.stats.accesses);
        }
    }

    /// Makes `asid`'s table the current one, building it on its first use.
    #[cold]
    #[inline(never)]
    fn switch_table(&mut self, asid: u16, index: u64, addr: u64) -> Result<(), ReplayError> {
        if let Some(log) = &mut self.log {
            log.push(shared::Miss::Switch { asid, index, addr });
        }
        self.epoch += 1;
        // Settled again by the next access (a follower switches tables without one).
        self.run_asid = UNSETTLED;
        if self.pt.shares_asids() {
            // One global table tagged by asid: switching is setting its asid register.
            self.pt.set_asid(asid);
            self.cur = asid;
            return Ok(());
        }
        let next = match self.others.remove(&asid) {
            Some(t) => t,
            None => self
                .new_table()
                .map_err(|error| self.os_err_at(index, addr, error))?,
        };
        let prev = std::mem::replace(&mut self.pt, next);
        self.others.insert(self.cur, prev);
        self.cur = asid;
        Ok(())
    }

    fn new_table(&mut self) -> Result<P, OsError> {
        if let Some(table) = self.pt.new_address_space(&mut self.mem) {
            return Ok(table?);
        }
        let f = self.factory.as_ref().ok_or_else(|| {
            OsError::Map(MapError::Unsupported(
                "this simulator has one address space (no table factory)".into(),
            ))
        })?;
        Ok(f(&mut self.mem)?)
    }

    fn os_err(&self, a: &Access, index: u64, error: OsError) -> ReplayError {
        self.os_err_at(index, a.addr, error)
    }

    fn os_err_at(&self, index: u64, addr: u64, error: OsError) -> ReplayError {
        ReplayError::Os {
            index,
            addr,
            design: self.label.clone(),
            error,
        }
    }

    /// Maps (`Some(pte)`) or unmaps (`None`) `vpn` in the table of `asid`, built on its first use.
    fn change(&mut self, asid: u16, vpn: Vpn, pte: Option<Pte>) -> Result<(), OsError> {
        if self.pt.shares_asids() {
            self.pt.set_asid(asid);
            let r = match pte {
                Some(pte) => self.pt.map(&mut self.mem, vpn, pte),
                None => self.pt.unmap(&mut self.mem, vpn).map(|_| ()),
            };
            self.pt.set_asid(self.cur);
            return Ok(r?);
        }
        if asid != self.cur && !self.others.contains_key(&asid) {
            let t = self.new_table()?;
            self.others.insert(asid, t);
        }
        let t = if asid == self.cur {
            &mut self.pt
        } else {
            self.others.get_mut(&asid).ok_or_else(|| {
                OsError::Map(MapError::Unsupported("address space table vanished".into()))
            })?
        };
        match pte {
            Some(pte) => t.map(&mut self.mem, vpn, pte)?,
            None => {
                t.unmap(&mut self.mem, vpn)?;
            }
        }
        Ok(())
    }

    /// Applies the OS model's pending actions (for the access `index` at `addr`) to the tables
    /// and TLBs.
    fn apply(&mut self, index: u64, addr: u64) -> Result<(), OsError> {
        if let Some(log) = &mut self.log {
            log.push(shared::Miss::Apply { index, addr });
        }
        let mut actions = std::mem::take(&mut self.actions);
        let mut result = Ok(());
        for act in actions.drain(..) {
            if let Some(log) = &mut self.log {
                log.push(shared::Miss::Act(act));
            }
            result = self.act(act);
            if result.is_err() {
                break;
            }
        }
        self.actions = actions;
        self.applied();
        if self.sched.many() {
            self.sched.shot();
        }
        result
    }

    /// One action of the OS model on the tables and TLBs.
    fn act(&mut self, act: Action) -> Result<(), OsError> {
        self.epoch += 1;
        match act {
            Action::Map {
                asid,
                vpn,
                pte,
                shoot,
            } => {
                if shoot {
                    if let Some(tlb) = &mut self.tlb {
                        tlb.invalidate(vpn, asid);
                    }
                    if self.sched.many() {
                        self.sched.shoot(vpn, asid);
                    }
                }
                self.change(asid, vpn, Some(pte))
            }
            Action::Unmap { asid, vpn } => {
                if let Some(tlb) = &mut self.tlb {
                    tlb.invalidate(vpn, asid);
                }
                if self.sched.many() {
                    self.sched.shoot(vpn, asid);
                }
                self.change(asid, vpn, None)
            }
            Action::Drop { asid } => {
                if let Some(tlb) = &mut self.tlb {
                    tlb.flush_asid(asid);
                }
                if self.sched.many() {
                    self.sched.drop_asid(asid);
                }
                self.others.remove(&asid);
                Ok(())
            }
        }
    }

    /// After a set of actions: mappings may have freed tables (a radix table emptied by an
    /// unmap or under a huge page, the old ways of a finished resize): cached pointers to them
    /// are stale and go; nothing else does (TLB entries translate pages, and every design keeps
    /// the same ones).
    fn applied(&mut self) {
        self.epoch += 1;
        if let Some(log) = &mut self.log {
            log.push(shared::Miss::Applied);
        }
        for (start, end) in self.mem.drain_freed() {
            if let Some(tlb) = &mut self.tlb {
                tlb.pwc_invalidate_tables(start, end);
            }
            if self.sched.many() {
                self.sched.tables_freed(start, end);
            }
        }
    }

    /// One walk of the design, through the page-walk caches when there are any.
    #[inline(always)]
    fn walk(&mut self, vpn: Vpn, asid: u16, cost: &mut WalkCost) -> Option<Pte> {
        let found = match &mut self.tlb {
            Some(tlb) if tlb.pwc().is_some() || tlb.has_nested_caches() => {
                let mut pwc = PwcAdapter { tlb, asid };
                self.pt.walk_cached(&self.mem, vpn, cost, &mut pwc)
            }
            _ => self.pt.walk(&self.mem, vpn, cost),
        };
        if let Some(log) = &mut self.log {
            log.push(shared::Miss::Walk { vpn, asid, found });
        }
        // A nested design's hypervisor that evicted a guest-physical page invalidated every
        // translation through it: the TLBs and page-walk caches are flushed (INVEPT).
        if let Some(n) = self.pt.host_evictions() {
            if n != self.stats.host_evictions {
                self.stats.host_evictions = n;
                self.epoch += 1;
                if let Some(tlb) = &mut self.tlb {
                    tlb.flush();
                }
                if self.sched.many() {
                    self.sched.flush_all();
                }
            }
        }
        if let Some(d) = &mut self.data {
            d.walked();
        }
        if let Some(c) = &mut self.caches {
            let pwc = match &self.tlb {
                Some(tlb) if tlb.pwc().is_some() => tlb.spec().lat.pwc,
                _ => 0,
            };
            c.walked(&self.mem, pwc);
        }
        found
    }

    /// Resolves a fault (no mapping, or one that forbids the access: `found`) with the OS
    /// model, applies its changes, walks again when mappings changed (`cost` gains that walk's
    /// references) and finishes the translation.
    #[cold]
    #[inline(never)]
    fn fault(
        &mut self,
        vpn: Vpn,
        a: &Access,
        index: u64,
        found: Option<Pte>,
        cost: &mut WalkCost,
        in_tlb: bool,
    ) -> Result<(), ReplayError> {
        if let Some(e) = self.os_error.clone() {
            return Err(self.os_err(a, index, e));
        }
        let tables = if self.os.config().count_tables {
            self.footprint().table_pages
        } else {
            0
        };
        let outcome = self
            .os
            .fault(vpn, a, tables, &mut self.actions)
            .map_err(|e| self.os_err(a, index, e.into()));
        let applied = self
            .apply(index, a.addr)
            .map_err(|e| self.os_err(a, index, e));
        let outcome = outcome?;
        applied?;
        let pte = match outcome {
            Outcome::Skip => {
                self.os.skip();
                self.push_run(slot_of(a.kind), vpn.0, u64::MAX, true);
                self.stats.add_walk(cost);
                return Ok(());
            }
            Outcome::Continue if found.is_some() => found,
            // Mappings changed, or the design had lost the page's entry (an inverted table's
            // alias): walk again.
            Outcome::Continue | Outcome::Mapped | Outcome::Alias => {
                self.stats.walks += 1;
                let mut retry = WalkCost::default();
                let found = self.walk(vpn, a.asid, &mut retry);
                self.stats.refs_per_walk.record(retry.refs);
                *cost += retry;
                found
            }
        };
        let pte = pte.ok_or_else(|| ReplayError::Lost {
            design: self.label.clone(),
            vpn,
        })?;
        if !(in_tlb && outcome == Outcome::Continue) {
            if let Some(tlb) = &mut self.tlb {
                tlb.fill(vpn, a.asid, a.kind, pte);
            }
        }
        // An alias remap (a frame's inverted-table entry taken back from another sharer) is
        // not a fault of the trace's translation: other designs found the same mapping.
        self.used(vpn, pte, a, outcome != Outcome::Alias);
        self.stats.add_walk(cost);
        Ok(())
    }

    /// Tells the OS model the trace's address range (first and last byte), for THP.
    pub fn set_address_range(&mut self, lo: u64, hi: u64) {
        self.os.set_address_range(lo, hi);
    }

    /// Gives OPT each translation's next use (see [`NextUses`]).
    pub fn set_next_uses(&mut self, next: Arc<[u64]>) {
        self.os.set_next_uses(next);
    }

    /// Whether the OS model replaces pages by OPT, and so needs [`Simulator::set_next_uses`].
    pub fn needs_next_uses(&self) -> bool {
        let c = self.os.config();
        c.frames.is_some() && c.policy == Policy::Opt
    }

    /// An OS event: counted; a context switch flushes the TLBs when they have no ASIDs; forks,
    /// exits and region events go to the OS model, whose changes are applied.
    #[cold]
    fn event(&mut self, a: &Access, index: u64) -> Result<(), ReplayError> {
        self.stats.events += 1;
        match a.kind {
            AccessKind::Thread => {
                // It runs at its first access, or where a cpu event before that puts it: that
                // access must take the general path, not repeat the last thread's page.
                self.sched.pending = Some((a.asid, a.addr));
                self.run_asid = UNSETTLED;
                self.fast = [Fast::NONE; 2];
                return Ok(());
            }
            AccessKind::Cpu => {
                let key = self
                    .sched
                    .pending
                    .take()
                    .or(self.sched.thread)
                    .unwrap_or_else(|| self.sched.thread_of(a.asid));
                let core = self.sched.run_thread(key);
                let core = self.sched.run_on_cpu(a.addr).unwrap_or(core);
                if self.sched.many() {
                    self.move_to(core, key.0, self.stats.accesses);
                }
                self.run_asid = UNSETTLED;
                return Ok(());
            }
            _ => self.settle_pending(),
        }
        // Each core switches context when it starts running another address space.
        if a.kind == AccessKind::ContextSwitch && self.sched.many() {
            return Ok(());
        }
        if a.kind == AccessKind::ContextSwitch {
            if let Some(log) = &mut self.log {
                log.push(shared::Miss::ContextSwitch);
            }
            if let Some(tlb) = &mut self.tlb {
                tlb.context_switch();
            }
            return Ok(());
        }
        self.os.event(a, &mut self.actions);
        self.apply(index, a.addr)
            .map_err(|e| self.os_err(a, index, e))
    }

    #[cold]
    fn too_wide(&self, a: &Access, index: u64) -> ReplayError {
        if self.canonical {
            return ReplayError::NonCanonical {
                index,
                addr: a.addr,
                size: a.size,
                design: self.label.clone(),
                va_bits: self.pt.va_bits(),
            };
        }
        ReplayError::AddressTooWide {
            index,
            addr: a.addr,
            size: a.size,
            design: self.label.clone(),
            va_bits: self.pt.va_bits(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        if let Some(front) = &self.following {
            return self.followed_stats(front);
        }
        let os = self.os.counters().clone();
        let mut digest = self.stats.digest;
        for (slot, r) in self.runs.iter().enumerate() {
            if r.n != 0 {
                digest = fold_run(digest, slot, r.page, r.frame, r.faulted, r.n);
            }
        }
        let tlb_sum = self.tlb_stats();
        let cycles = self
            .caches
            .as_ref()
            .map(|c| {
                let tlb = self
                    .tlb
                    .as_ref()
                    .zip(tlb_sum.as_ref())
                    .map(|(t, sum)| (sum, t.spec()));
                c.stats(tlb, &os)
            })
            .unwrap_or_default();
        let os_cfg = self.os.config();
        let cores = self.sched.counters(
            self.tlb.as_ref(),
            self.stats.accesses,
            self.caches
                .is_some()
                .then_some((os_cfg.ipi_cycles, os_cfg.invlpg_cycles)),
        );
        Stats {
            cores,
            distinct_pages: os.pages_mapped,
            page_faults: os.faults(),
            host_faults: self.pt.host_faults().unwrap_or(0),
            digest,
            os,
            cycles,
            ..self.stats.clone()
        }
    }

    /// The design's table footprint now, summed over every address space's table.
    pub fn footprint(&self) -> Footprint {
        let mut f = self.pt.footprint();
        for t in self.others.values() {
            let o = t.footprint();
            f.table_bytes += o.table_bytes;
            f.table_pages += o.table_pages;
            f.entries += o.entries;
            f.capacity += o.capacity;
            f.collisions += o.collisions;
            f.moved_entries += o.moved_entries;
            f.resizes += o.resizes;
            if f.per_level.len() < o.per_level.len() {
                f.per_level.resize(o.per_level.len(), 0);
            }
            for (a, b) in f.per_level.iter_mut().zip(&o.per_level) {
                *a += b;
            }
        }
        f
    }

    /// The TLB counters, when the simulator has TLBs or page-walk caches.
    pub fn tlb_stats(&self) -> Option<TlbStats> {
        if let Some(front) = &self.following {
            return self.followed_tlb_stats(front);
        }
        self.tlb.as_ref().map(|t| self.sched.tlb_sum(t))
    }

    /// The design.
    pub fn table(&self) -> &P {
        &self.pt
    }

    /// Simulated physical memory.
    pub fn mem(&self) -> &PhysMem {
        &self.mem
    }
}

/// The hierarchy's page-walk caches seen through the design-side [`WalkCache`] interface.
struct PwcAdapter<'a> {
    tlb: &'a mut TlbHierarchy,
    asid: u16,
}

impl WalkCache for PwcAdapter<'_> {
    #[inline(always)]
    fn lookup(&mut self, vpn: Vpn) -> Option<(usize, PhysAddr)> {
        self.tlb
            .pwc_lookup(vpn, self.asid)
            .map(|hit| (usize::from(hit.resume_level()), hit.next_table))
    }

    #[inline(always)]
    fn fill(&mut self, level: usize, vpn: Vpn, table: PhysAddr) {
        if let Some(upper) = level.checked_sub(1) {
            self.tlb.pwc_fill(upper as u8, vpn, self.asid, table);
        }
    }

    fn ntlb_lookup(&mut self, gfn: u64) -> Option<u64> {
        self.tlb.ntlb_lookup(gfn)
    }

    fn ntlb_fill(&mut self, gfn: u64, hfn: u64) {
        self.tlb.ntlb_fill(gfn, hfn)
    }

    fn ntlb_invalidate(&mut self, gfn: u64) {
        self.tlb.ntlb_invalidate(gfn)
    }

    fn host_lookup(&mut self, vpn: Vpn) -> Option<(usize, PhysAddr)> {
        self.tlb
            .host_pwc_lookup(vpn)
            .map(|hit| (usize::from(hit.resume_level()), hit.next_table))
    }

    fn host_fill(&mut self, level: usize, vpn: Vpn, table: PhysAddr) {
        if let Some(upper) = level.checked_sub(1) {
            self.tlb.host_pwc_fill(upper as u8, vpn, table);
        }
    }
}

/// A simulator of any design: the one place where a design spec becomes a concrete type.
// Built once per (trace, design) and never moved on the hot path, so variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Sim {
    /// A radix table.
    Radix(Simulator<Radix>),
    /// A flat array.
    Flat(Simulator<Flat>),
    /// The hashed design.
    Hashed(Simulator<Hashed>),
    /// The inverted design.
    Inverted(Simulator<Inverted>),
    /// The ecpt design.
    Ecpt(Simulator<Ecpt>),
    /// The BTreeMap oracle.
    Reference(Simulator<Reference>),
    /// A guest design over a host design.
    Nested(Simulator<Nested>),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Sim::Radix($s) => $e,
            Sim::Flat($s) => $e,
            Sim::Hashed($s) => $e,
            Sim::Inverted($s) => $e,
            Sim::Ecpt($s) => $e,
            Sim::Reference($s) => $e,
            Sim::Nested($s) => $e,
        }
    };
}

// After `each!`, which it uses.
mod shared;

/// OPT's pre-pass: gives every simulator of `sims` that replaces pages by OPT each translation's
/// next use in the trace at `path`, one pass over the trace per base page size.
pub fn prepare_next_uses(
    sims: &mut [Sim],
    path: &std::path::Path,
    reader: &ptbench_trace::ReaderOptions,
    crossing: PageCrossing,
) -> Result<(), ptbench_trace::TraceError> {
    let shifts: std::collections::BTreeSet<u8> = sims
        .iter()
        .filter(|s| s.needs_next_uses())
        .map(Sim::page_shift)
        .collect();
    for shift in shifts {
        let next = next_uses(path, reader, shift, crossing)?;
        sims.iter_mut()
            .filter(|s| s.needs_next_uses() && s.page_shift() == shift)
            .for_each(|s| s.set_next_uses(next.clone()));
    }
    Ok(())
}

impl Sim {
    /// Builds a simulator for `spec`, without TLBs.
    pub fn build(spec: &DesignSpec, opts: &SimOptions) -> Result<Sim, BuildError> {
        Sim::build_with_tlb(spec, &TlbSpec::NONE, opts)
    }

    /// Builds a simulator for `spec` behind the TLB hierarchy `tlb`.
    pub fn build_with_tlb(
        spec: &DesignSpec,
        tlb: &TlbSpec,
        opts: &SimOptions,
    ) -> Result<Sim, BuildError> {
        fn make<C: DesignConfig + Send + Sync + 'static>(
            spec: &DesignSpec,
            c: &C,
            tlb: &TlbSpec,
            opts: &SimOptions,
        ) -> Result<Simulator<C::Table>, BuildError> {
            let fail = |reason: String| BuildError {
                design: spec.to_string(),
                reason,
                page_size_unsupported: false,
            };
            let mut mem = spec.new_mem().map_err(|e| fail(e.to_string()))?;
            let pt = c.build(&mut mem).map_err(|e| fail(e.to_string()))?;
            if let Some(size) = opts.huge.huge_size() {
                if size.shift() > pt.page_shift() && !pt.page_sizes().contains(&size) {
                    let sizes: Vec<String> =
                        pt.page_sizes().iter().map(|s| s.to_string()).collect();
                    return Err(BuildError {
                        page_size_unsupported: true,
                        ..fail(format!(
                            "it cannot store {size} pages (its page sizes: {})",
                            sizes.join(", ")
                        ))
                    });
                }
            }
            let cfg = c.clone();
            let factory: TableFactory<C::Table> = Box::new(move |mem| cfg.build(mem));
            let mut sim = Simulator::new(spec.to_string(), pt, mem, opts)
                .with_factory(factory)
                .with_tlb(tlb)
                .map_err(|e| fail(format!("TLB `{tlb}`: {e}")))?;
            sim.origin = Some(Box::new((spec.clone(), *tlb, opts.clone())));
            Ok(sim)
        }
        Ok(match spec {
            DesignSpec::Radix { cfg, .. } => Sim::Radix(make(spec, cfg, tlb, opts)?),
            DesignSpec::Flat(c) => Sim::Flat(make(spec, c, tlb, opts)?),
            DesignSpec::Hashed(c) => Sim::Hashed(make(spec, c, tlb, opts)?),
            DesignSpec::Inverted(c) => Sim::Inverted(make(spec, c, tlb, opts)?),
            DesignSpec::Ecpt(c) => Sim::Ecpt(make(spec, c, tlb, opts)?),
            DesignSpec::Reference(c) => Sim::Reference(make(spec, c, tlb, opts)?),
            DesignSpec::Nested(c) => Sim::Nested(make(spec, c, tlb, opts)?),
        })
    }

    /// Replays a batch (see [`Simulator::replay`]).
    pub fn replay(&mut self, batch: &[Access], first_index: u64) -> Result<(), ReplayError> {
        each!(self, s => s.replay(batch, first_index))
    }

    /// Replays a batch given its page runs (see [`Simulator::replay_runs`]).
    pub fn replay_runs(
        &mut self,
        batch: &[Access],
        runs: &[RunStart],
        first_index: u64,
    ) -> Result<(), ReplayError> {
        each!(self, s => s.replay_runs(batch, runs, first_index))
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        each!(self, s => s.stats())
    }

    /// Whether its replay counts inside page runs in bulk (see [`Simulator::uses_runs`]).
    pub fn uses_runs(&self) -> bool {
        each!(self, s => s.uses_runs())
    }

    /// The design's table footprint now.
    pub fn footprint(&self) -> Footprint {
        each!(self, s => s.footprint())
    }

    /// Tells the OS model the trace's address range (first and last byte), for THP.
    pub fn set_address_range(&mut self, lo: u64, hi: u64) {
        each!(self, s => s.set_address_range(lo, hi))
    }

    /// Gives OPT each translation's next use (see [`NextUses`]).
    pub fn set_next_uses(&mut self, next: Arc<[u64]>) {
        each!(self, s => s.set_next_uses(next))
    }

    /// Whether the OS model replaces pages by OPT (see [`prepare_next_uses`]).
    pub fn needs_next_uses(&self) -> bool {
        each!(self, s => s.needs_next_uses())
    }

    /// The design's base page shift.
    pub fn page_shift(&self) -> u8 {
        each!(self, s => s.shift)
    }

    /// The design's canonical spec.
    pub fn label(&self) -> &str {
        each!(self, s => &s.label)
    }

    /// The TLB's canonical spec (`none` without TLBs).
    pub fn tlb_label(&self) -> &str {
        each!(self, s => &s.tlb_label)
    }

    /// The TLB counters, when the simulator has TLBs or page-walk caches.
    pub fn tlb_stats(&self) -> Option<TlbStats> {
        each!(self, s => s.tlb_stats())
    }
}
