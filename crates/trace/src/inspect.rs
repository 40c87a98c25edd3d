//! What a trace holds, in one streaming pass: [`inspect`] gives a [`TraceStats`].
//!
//! Counts: memory accesses by kind and OS events ([`AccessKind::is_event`]) apart; bytes
//! accessed; distinct pages at 4 KiB, 2 MiB and 1 GiB and the 4 KiB footprint; accesses that
//! cross a 4 KiB boundary; the address range; how many accesses fit each virtual address width
//! ([`AddressWidths`]); counts per address space; and, unless turned off, the LRU stack (reuse)
//! distance histogram of 4 KiB pages.
//!
//! **Pages.** An access is counted on the page of its *first byte* only (an access that
//! crosses into the next page is counted in [`TraceStats::crossing_4k`], not on both pages).
//! A page is an (address space, page number) pair: the same address in two `asid`s is two
//! pages. Events have no page, bytes or address: they are counted in [`TraceStats::events`]
//! and nowhere else except [`TraceStats::per_asid`].
//!
//! **Reuse distance.** For each access, the number of *distinct other* 4 KiB pages touched
//! since the last access to its page (0: the page was the last one touched; an access to a page
//! never touched before is *cold*). An LRU cache of `C` pages hits exactly the accesses of
//! distance `< C`, so the histogram gives the hit ratio of every fully associative LRU TLB
//! size at once. It is computed exactly by Bennett and Kruskal's method ([`StackDistance`]):
//! a Fenwick tree over access timestamps in which only each page's latest access is marked,
//! so the distance of an access is the number of marks after its page's previous timestamp.
//! When the tree is full its timestamps are renumbered (keeping their order), so the memory
//! used is proportional to the number of distinct pages, not to the length of the trace. The
//! 32 most recent pages are kept apart, in order, in a small list: an access to one of them
//! (most accesses) has its position there as its distance and touches no tree; only the
//! pages below them are marked in the tree.

use crate::{open, Trace, TraceError, TraceReader, BATCH};
use ptbench_core::{Access, AccessKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::path::Path;

/// Buckets of [`ReuseHistogram::buckets`]: `0`, `1`, `2-3`, `4-7`, ..., `2^39 .. 2^40-1`, and
/// `2^40` or more.
pub const REUSE_BUCKETS: usize = 42;

/// Keys [`StackDistance`] keeps in recency order outside its tree: the most recent ones, whose
/// distances (the most common ones) are their positions.
const TOP: usize = 32;

/// The slot of a key that is not marked in the tree (one of the [`TOP`] most recent).
const UNMARKED: u32 = u32::MAX;

/// Timestamps the reuse tree holds at least, unless [`InspectOptions::reuse_tree_min`] says
/// otherwise: 4 KiB of tree. (On the shipped `sort` trace, 227 pages, 1024 was measured
/// 15% faster than 4096 and 25% faster than 16384; 512 about the same as 1024.)
pub const DEFAULT_REUSE_TREE_MIN: usize = 1024;

/// What [`inspect`] computes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectOptions {
    /// Compute the reuse-distance histogram (the costly part). On by default.
    pub reuse: bool,
    /// The least number of timestamps the reuse tree holds (0: [`DEFAULT_REUSE_TREE_MIN`]).
    /// Tests make it tiny so that the tree is compacted often.
    #[doc(hidden)]
    pub reuse_tree_min: usize,
}

impl Default for InspectOptions {
    fn default() -> InspectOptions {
        InspectOptions {
            reuse: true,
            reuse_tree_min: 0,
        }
    }
}

impl InspectOptions {
    /// Everything, the reuse histogram included (the default).
    pub fn new() -> InspectOptions {
        InspectOptions::default()
    }

    /// Everything but the reuse histogram.
    pub fn without_reuse() -> InspectOptions {
        InspectOptions {
            reuse: false,
            ..InspectOptions::default()
        }
    }
}

/// Counts of one address space.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct AsidCounts {
    /// Memory accesses (reads, writes, fetches).
    pub accesses: u64,
    /// Events ([`AccessKind::is_event`]).
    pub events: u64,
}

/// LRU stack distances of 4 KiB pages, bucketed in powers of two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReuseHistogram {
    /// Accesses to a page never touched before.
    pub cold: u64,
    /// `buckets[0]`: distance 0; `buckets[i]` for `i >= 1`: distances `2^(i-1) ..= 2^i - 1`;
    /// the last bucket also holds every larger distance. See [`ReuseHistogram::bucket_of`].
    pub buckets: [u64; REUSE_BUCKETS],
}

impl Default for ReuseHistogram {
    fn default() -> ReuseHistogram {
        ReuseHistogram {
            cold: 0,
            buckets: [0; REUSE_BUCKETS],
        }
    }
}

impl ReuseHistogram {
    /// The bucket of distance `d`.
    #[inline(always)]
    pub fn bucket_of(d: u64) -> usize {
        ((64 - d.leading_zeros()) as usize).min(REUSE_BUCKETS - 1)
    }

    /// The distances bucket `i` holds: from, and to (inclusive; `None` for the last bucket,
    /// which has no upper end).
    pub fn bucket_range(i: usize) -> (u64, Option<u64>) {
        let lo = if i == 0 { 0 } else { 1u64 << (i - 1) };
        let hi = if i + 1 >= REUSE_BUCKETS {
            None
        } else {
            Some((1u64 << i) - 1)
        };
        (lo, hi)
    }

    /// Counts one access of distance `d` (`None`: cold).
    #[inline(always)]
    pub fn add(&mut self, d: Option<u64>) {
        match d {
            None => self.cold += 1,
            Some(d) => self.buckets[ReuseHistogram::bucket_of(d)] += 1,
        }
    }

    /// Accesses counted, cold ones included.
    pub fn total(&self) -> u64 {
        self.cold + self.buckets.iter().sum::<u64>()
    }

    /// Accesses whose distance is below `2^k` (those a fully associative LRU cache of `2^k`
    /// pages hits), for `k < REUSE_BUCKETS`.
    pub fn below_pow2(&self, k: usize) -> u64 {
        self.buckets[..(k + 1).min(REUSE_BUCKETS)].iter().sum()
    }
}

/// How many memory accesses (every byte, first to last) fit each virtual address width: below
/// `2^bits`, or canonical (sign-extended from bit `bits - 1`, as x86-64's 48- and 57-bit spaces
/// take them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressWidths {
    /// Below 2^32.
    pub bits32: u64,
    /// Below 2^39.
    pub bits39: u64,
    /// Below 2^48.
    pub bits48: u64,
    /// Below 2^57.
    pub bits57: u64,
    /// Canonical at 48 bits (lower or upper half).
    pub canonical48: u64,
    /// Canonical at 57 bits (lower or upper half).
    pub canonical57: u64,
}

impl AddressWidths {
    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &AddressWidths) {
        self.bits32 += other.bits32;
        self.bits39 += other.bits39;
        self.bits48 += other.bits48;
        self.bits57 += other.bits57;
        self.canonical48 += other.canonical48;
        self.canonical57 += other.canonical57;
    }

    /// Counts an access whose bytes are `first..=last` (`first <= last`).
    #[inline(always)]
    pub fn add(&mut self, first: u64, last: u64) {
        // What `AddrSpace::contains_range` says for each space, without a branch: below
        // `2^bits` is `last >> bits == 0`; canonical is the low half (`last >> (bits - 1) ==
        // 0`) or the upper one (`first` at or above `2^64 - 2^(bits - 1)`).
        let below = |bits: u32| u64::from(last >> bits == 0);
        let upper = |bits: u32| u64::from((first >= !((1u64 << (bits - 1)) - 1)) & (first <= last));
        self.bits32 += below(32);
        self.bits39 += below(39);
        self.bits48 += below(48);
        self.bits57 += below(57);
        self.canonical48 += below(47) | upper(48);
        self.canonical57 += below(56) | upper(57);
    }
}

/// What a trace holds; see the [module](self) documentation for what counts how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceStats {
    /// Memory accesses: `reads + writes + fetches`.
    pub accesses: u64,
    /// Loads.
    pub reads: u64,
    /// Stores.
    pub writes: u64,
    /// Instruction fetches.
    pub fetches: u64,
    /// Records that are events, not memory accesses ([`AccessKind::is_event`]).
    pub events: u64,
    /// Events by kind.
    pub events_by_kind: BTreeMap<AccessKind, u64>,
    /// Distinct threads the `thread` events name ((address space, thread id) pairs).
    pub threads: u64,
    /// Distinct CPUs the `cpu` events name.
    pub cpus: u64,
    /// Bytes accessed: the sum of the accesses' sizes.
    pub bytes: u64,
    /// Distinct 4 KiB pages (by the first byte of each access).
    pub pages_4k: u64,
    /// Distinct 2 MiB pages (by the first byte of each access).
    pub pages_2m: u64,
    /// Distinct 1 GiB pages (by the first byte of each access).
    pub pages_1g: u64,
    /// `pages_4k * 4096`.
    pub footprint_bytes: u64,
    /// Accesses whose last byte is on a later 4 KiB page than their first.
    pub crossing_4k: u64,
    /// The lowest first byte and the highest last byte accessed; `None` without accesses.
    pub address_range: Option<(u64, u64)>,
    /// Accesses that fit each virtual address width.
    pub widths: AddressWidths,
    /// Counts per address space, for every `asid` that occurs.
    pub per_asid: BTreeMap<u16, AsidCounts>,
    /// The reuse-distance histogram, when asked for ([`InspectOptions::reuse`]).
    pub reuse: Option<ReuseHistogram>,
}

/// Reads `reader` to its end and counts what it holds.
pub fn inspect<R: TraceReader + ?Sized>(
    reader: &mut R,
    opts: &InspectOptions,
) -> Result<TraceStats, TraceError> {
    let mut acc = Inspector::new(opts);
    let mut buf = Vec::with_capacity(BATCH);
    while reader.read_batch(&mut buf)? > 0 {
        acc.batch(&buf);
    }
    Ok(acc.finish())
}

/// [`inspect`] of a trace opened with [`Trace::open`]: the same statistics. Without the
/// reuse histogram, a plain file is counted where it is parsed: every core counts the chunks it
/// parsed and the counts are merged (every statistic but the histogram is free of order).
/// Otherwise (the histogram follows the order of accesses; a stream is parsed on one thread)
/// as [`inspect`].
pub fn inspect_trace(trace: &mut Trace, opts: &InspectOptions) -> Result<TraceStats, TraceError> {
    if opts.reuse || !trace.parses_in_parallel() {
        return inspect(trace, opts);
    }
    let parts = trace.fold_batches(|| Inspector::new(opts), |i, b| i.batch(b))?;
    let mut parts = parts.into_iter();
    let mut all = parts.next().unwrap_or_else(|| Inspector::new(opts));
    for p in parts {
        all.absorb(p);
    }
    Ok(all.finish())
}

/// [`inspect`] of the trace file at `path` (any format and compression, see [`open`]).
pub fn inspect_path(path: &Path, opts: &InspectOptions) -> Result<TraceStats, TraceError> {
    let mut r = open(path)?;
    inspect(&mut r, opts)
}

/// Page keys with the address space folded in: a dense id per `asid` (in order of first
/// appearance) in the top 12 bits above the 52-bit page number, while there are at most this
/// many address spaces; past that, keys are 128-bit `(asid, page)`.
const NARROW_ASIDS: u16 = 4095;

/// The (address space, page number) of narrow key `k`, given the address space of each dense
/// id ([`Inspector::asid_of_dense`]).
fn split_narrow(asid_of: &[u16], k: u64) -> (u16, u64) {
    (asid_of[(k >> 52) as usize], k & ((1 << 52) - 1))
}

/// The 4 KiB pages seen so far, keyed narrowly (u64) until too many address spaces appear.
enum Pages {
    Narrow(StackDistance<u64>),
    Wide(StackDistance<u128>),
}

/// The state of one pass.
struct Inspector {
    s: TraceStats,
    lo: u64,
    hi: u64,
    reuse: Option<ReuseHistogram>,
    pages: Pages,
    huge: HugePages,
    /// Per asid: memory accesses, events (indexed by asid).
    per_asid: Vec<[u64; 2]>,
    /// Events by kind (indexed by discriminant).
    events_by: Vec<u64>,
    threads: std::collections::BTreeSet<(u16, u64)>,
    cpus: std::collections::BTreeSet<u64>,
    /// Per asid: its dense id + 1, 0 if not seen yet.
    dense: Vec<u16>,
    next_dense: u16,
    /// Without reuse distances, while keys are narrow: a direct-mapped cache of narrow page
    /// keys already counted, so that a page seen recently needs no hash lookup (`u64::MAX`,
    /// never a narrow key, is empty).
    recent: Box<[u64; RECENT]>,
}

/// The 2 MiB and 1 GiB pages (per asid) that the distinct 4 KiB pages fall in.
#[derive(Default)]
struct HugePages {
    m2: HashSet<(u16, u64), Fold>,
    g1: HashSet<(u16, u64), Fold>,
}

impl HugePages {
    /// Counts the first touch of the 4 KiB page of `addr` in `asid`.
    #[inline]
    fn new_page(&mut self, s: &mut TraceStats, asid: u16, addr: u64) {
        s.pages_4k += 1;
        self.m2.insert((asid, addr >> 21));
        self.g1.insert((asid, addr >> 30));
    }
}

/// Slots of [`Inspector::recent`] (a power of two).
const RECENT: usize = 1 << 12;

impl Inspector {
    fn new(opts: &InspectOptions) -> Inspector {
        let min = if opts.reuse_tree_min == 0 {
            DEFAULT_REUSE_TREE_MIN
        } else {
            opts.reuse_tree_min
        };
        let mut pages = StackDistance::with_tree_min(min);
        pages.distances = opts.reuse;
        Inspector {
            s: TraceStats::default(),
            lo: u64::MAX,
            hi: 0,
            reuse: opts.reuse.then(ReuseHistogram::default),
            pages: Pages::Narrow(pages),
            huge: HugePages::default(),
            per_asid: vec![[0; 2]; 1 << 16],
            events_by: vec![0; 256],
            threads: Default::default(),
            cpus: Default::default(),
            dense: vec![0; 1 << 16],
            next_dense: 0,
            recent: Box::new([u64::MAX; RECENT]),
        }
    }

    /// The narrow key's asid part for `asid`, or `None` once keys are wide.
    #[inline(always)]
    fn narrow_id(&mut self, asid: u16) -> Option<u64> {
        if let Pages::Wide(_) = self.pages {
            return None;
        }
        let d = self.dense[usize::from(asid)];
        if d != 0 {
            return Some(u64::from(d - 1) << 52);
        }
        if self.next_dense < NARROW_ASIDS {
            self.next_dense += 1;
            self.dense[usize::from(asid)] = self.next_dense;
            return Some(u64::from(self.next_dense - 1) << 52);
        }
        // Too many address spaces for 12 bits: re-key every page as (asid, page).
        let asid_of = self.asid_of_dense();
        if let Pages::Narrow(p) = &mut self.pages {
            let narrow = std::mem::replace(p, StackDistance::with_tree_min(1));
            self.pages = Pages::Wide(narrow.map_keys(|k| {
                let (asid, page) = split_narrow(&asid_of, k);
                (u128::from(asid) << 64) | u128::from(page)
            }));
        }
        None
    }

    fn batch(&mut self, batch: &[Access]) {
        // Mostly a batch is memory accesses of one address space: one run.
        let Some(asid) = batch.first().map(|a| a.asid) else {
            return;
        };
        let mut mixed = false;
        for a in batch {
            mixed |= a.kind.is_event() | (a.asid != asid);
        }
        if !mixed {
            self.run(asid, batch);
            return;
        }
        let mut rest = batch;
        while let Some(first) = rest.first() {
            if first.kind.is_event() {
                self.s.events += 1;
                self.events_by[usize::from(first.kind as u8)] += 1;
                match first.kind {
                    AccessKind::Thread => {
                        self.threads.insert((first.asid, first.addr));
                    }
                    AccessKind::Cpu => {
                        self.cpus.insert(first.addr);
                    }
                    _ => {}
                }
                self.per_asid[usize::from(first.asid)][1] += 1;
                rest = &rest[1..];
                continue;
            }
            let asid = first.asid;
            let n = rest
                .iter()
                .position(|a| a.kind.is_event() | (a.asid != asid))
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(n);
            self.run(asid, run);
            rest = tail;
        }
    }

    /// Counts `run`, memory accesses (no events) of address space `asid`.
    #[inline]
    fn run(&mut self, asid: u16, run: &[Access]) {
        self.counts(run);
        self.per_asid[usize::from(asid)][0] += run.len() as u64;
        self.pages(asid, run);
    }

    /// Counts memory accesses (no events) by kind, bytes, range, widths and crossings: folds
    /// with no branch per access.
    #[inline]
    fn counts(&mut self, run: &[Access]) {
        let (mut reads, mut writes, mut bytes, mut crossing) = (0u64, 0u64, 0u64, 0u64);
        let (mut lo, mut hi, mut below32) = (u64::MAX, 0u64, 0u64);
        for a in run {
            reads += u64::from(a.kind == AccessKind::Read);
            writes += u64::from(a.kind == AccessKind::Write);
            bytes += u64::from(a.size);
            // Readers refuse accesses that wrap; saturate rather than trust it.
            let last = a.addr.saturating_add(u64::from(a.size.max(1)) - 1);
            lo = lo.min(a.addr);
            hi = hi.max(last);
            below32 += u64::from(last >> 32 == 0);
            crossing += u64::from(last >> 12 != a.addr >> 12);
        }
        let n = run.len() as u64;
        let s = &mut self.s;
        s.reads += reads;
        s.writes += writes;
        s.fetches += n - reads - writes;
        s.bytes += bytes;
        s.crossing_4k += crossing;
        let widths = if hi >> 39 == 0 {
            // Every access fits 39 bits, so every wider space and the low canonical halves.
            AddressWidths {
                bits32: below32,
                bits39: n,
                bits48: n,
                bits57: n,
                canonical48: n,
                canonical57: n,
            }
        } else {
            let mut widths = AddressWidths::default();
            for a in run {
                widths.add(a.addr, a.addr.saturating_add(u64::from(a.size.max(1)) - 1));
            }
            widths
        };
        s.widths.merge(&widths);
        self.lo = self.lo.min(lo);
        self.hi = self.hi.max(hi);
    }

    /// Touches the 4 KiB pages of `run`, memory accesses of one address space, in order.
    #[inline]
    fn pages(&mut self, asid: u16, run: &[Access]) {
        match self.narrow_id(asid) {
            Some(id) => {
                let Pages::Narrow(p) = &mut self.pages else {
                    unreachable!("narrow ids only while keys are narrow")
                };
                if self.reuse.is_none() {
                    // Only the set of pages counts: skip keys a small direct-mapped cache has
                    // seen (most), and look the others up.
                    for a in run {
                        let key = id | (a.addr >> 12);
                        let slot = (key ^ (key >> 12) ^ (key >> 52)) as usize & (RECENT - 1);
                        if self.recent[slot] == key {
                            continue;
                        }
                        self.recent[slot] = key;
                        if p.first_touch(key) {
                            self.huge.new_page(&mut self.s, asid, a.addr);
                        }
                    }
                } else {
                    for a in run {
                        if touch(p, id | (a.addr >> 12), &mut self.reuse) {
                            self.huge.new_page(&mut self.s, asid, a.addr);
                        }
                    }
                }
            }
            None => {
                let Pages::Wide(p) = &mut self.pages else {
                    unreachable!("keys are wide once ids run out")
                };
                for a in run {
                    let key = (u128::from(asid) << 64) | u128::from(a.addr >> 12);
                    if touch(p, key, &mut self.reuse) {
                        self.huge.new_page(&mut self.s, asid, a.addr);
                    }
                }
            }
        }
    }

    /// The address space of each dense id (the top 12 bits of a narrow key).
    fn asid_of_dense(&self) -> Vec<u16> {
        let mut asid_of = vec![0u16; usize::from(NARROW_ASIDS)];
        for (a, d) in self.dense.iter().enumerate() {
            if *d != 0 {
                asid_of[usize::from(*d - 1)] = a as u16;
            }
        }
        asid_of
    }

    /// The 4 KiB pages seen, as (address space, page number).
    fn pages_seen(&self) -> Vec<(u16, u64)> {
        match &self.pages {
            Pages::Narrow(p) => {
                let asid_of = self.asid_of_dense();
                p.keys().map(|k| split_narrow(&asid_of, k)).collect()
            }
            Pages::Wide(p) => p.keys().map(|k| ((k >> 64) as u16, k as u64)).collect(),
        }
    }

    /// Adds what `other` counted, both without reuse distances, as if this pass had also read
    /// what `other` read.
    fn absorb(&mut self, other: Inspector) {
        debug_assert!(self.reuse.is_none() && other.reuse.is_none());
        for (asid, page) in other.pages_seen() {
            let run = [Access::new(AccessKind::Read, page << 12, 1)];
            self.pages(asid, &run);
        }
        let (s, o) = (&mut self.s, &other.s);
        s.reads += o.reads;
        s.writes += o.writes;
        s.fetches += o.fetches;
        s.events += o.events;
        s.bytes += o.bytes;
        s.crossing_4k += o.crossing_4k;
        s.widths.merge(&o.widths);
        self.lo = self.lo.min(other.lo);
        self.hi = self.hi.max(other.hi);
        for (mine, theirs) in self.per_asid.iter_mut().zip(&other.per_asid) {
            mine[0] += theirs[0];
            mine[1] += theirs[1];
        }
        for (mine, theirs) in self.events_by.iter_mut().zip(&other.events_by) {
            *mine += theirs;
        }
        self.threads.extend(other.threads);
        self.cpus.extend(other.cpus);
    }

    fn finish(mut self) -> TraceStats {
        let s = &mut self.s;
        s.accesses = s.reads + s.writes + s.fetches;
        s.pages_2m = self.huge.m2.len() as u64;
        s.pages_1g = self.huge.g1.len() as u64;
        s.footprint_bytes = s.pages_4k * 4096;
        s.address_range = (s.accesses > 0).then_some((self.lo, self.hi));
        s.per_asid = self
            .per_asid
            .iter()
            .enumerate()
            .filter(|(_, c)| c[0] + c[1] > 0)
            .map(|(a, c)| {
                let counts = AsidCounts {
                    accesses: c[0],
                    events: c[1],
                };
                (a as u16, counts)
            })
            .collect();
        s.events_by_kind = self
            .events_by
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .filter_map(|(k, c)| Some((AccessKind::from_u8(k as u8)?, *c)))
            .collect();
        s.reuse = self.reuse;
        s.threads = self.threads.len() as u64;
        s.cpus = self.cpus.len() as u64;
        self.s
    }
}

/// Touches page `key`; returns whether it is its first touch.
#[inline(always)]
fn touch<K: Copy + Eq + Hash>(
    p: &mut StackDistance<K>,
    key: K,
    reuse: &mut Option<ReuseHistogram>,
) -> bool {
    match reuse {
        Some(h) => {
            let d = p.access(key);
            h.add(d);
            d.is_none()
        }
        None => p.first_touch(key),
    }
}

/// Exact LRU stack distances of a stream of keys (pages), in memory proportional to the
/// number of distinct keys (Bennett and Kruskal, 1975, with the timestamps compacted).
///
/// Each distinct key gets a dense id at its first access. The 32 most recent keys are kept
/// in a list in recency order: an access to one of them has its position there as its
/// distance. The other keys are marked in a Fenwick tree over timestamp slots, in the order in
/// which they left the list (which is their recency order): the distance of an access to one
/// of them is the length of the list plus the marked slots after its key's slot. When the
/// slots run out, the marked ones are moved to the front in order and the tree is rebuilt,
/// with room for at least as many slots again as there are keys, so a rebuild (linear in the
/// tree) comes at most once per that many accesses.
///
/// ```
/// use ptbench_trace::inspect::StackDistance;
/// let mut s = StackDistance::new();
/// let d: Vec<_> = [1u64, 2, 3, 1, 1, 3].iter().map(|p| s.access(*p)).collect();
/// assert_eq!(d, [None, None, None, Some(2), Some(0), Some(1)]);
/// ```
pub struct StackDistance<K = u64> {
    /// Key -> dense id.
    ids: HashMap<K, u32, Fold>,
    /// Dense id -> its latest slot; [`UNMARKED`] while the key is in `top`.
    slot_of: Vec<u32>,
    /// The [`TOP`] most recent keys (fewer at first), most recent first, with their ids: an
    /// access to one of them is its position in this list, with no lookup in the tree. Only
    /// the other keys are marked in the tree, in the order of their recency.
    top: Vec<(K, u32)>,
    /// Marked slots (keys not in `top`).
    marks: u32,
    /// Slot -> the dense id whose access it holds (meaningful only when marked).
    owner: Vec<u32>,
    /// The Fenwick tree over slots, 1-based: `tree[i]` counts the marks of slots
    /// `i - lowbit(i) .. i` (0-based).
    tree: Vec<u32>,
    /// The next free slot.
    next: u32,
    /// The key of the last access, while one has been made (for `first_touch`, which keeps
    /// no list).
    last: Option<K>,
    tree_min: usize,
    compactions: u64,
    /// Keep the tree (false: only tell first touches apart).
    distances: bool,
}

impl<K: Copy + Eq + Hash> Default for StackDistance<K> {
    fn default() -> Self {
        StackDistance::new()
    }
}

impl<K: Copy + Eq + Hash> StackDistance<K> {
    /// An empty stack, with the default least tree size ([`DEFAULT_REUSE_TREE_MIN`]).
    pub fn new() -> StackDistance<K> {
        StackDistance::with_tree_min(DEFAULT_REUSE_TREE_MIN)
    }

    /// An empty stack whose tree holds at least `min` slots (at least 1): a tiny tree is
    /// compacted often, which tests use.
    #[doc(hidden)]
    pub fn with_tree_min(min: usize) -> StackDistance<K> {
        let mut s = StackDistance {
            ids: HashMap::default(),
            slot_of: Vec::new(),
            top: Vec::with_capacity(TOP + 1),
            marks: 0,
            owner: Vec::new(),
            tree: Vec::new(),
            next: 0,
            last: None,
            tree_min: min.max(1),
            compactions: 0,
            distances: true,
        };
        s.resize(s.tree_min);
        s
    }

    /// Distinct keys seen.
    pub fn distinct(&self) -> u64 {
        self.slot_of.len() as u64
    }

    /// Times the tree has been compacted.
    pub fn compactions(&self) -> u64 {
        self.compactions
    }

    /// Timestamp slots the tree holds now.
    pub fn tree_slots(&self) -> usize {
        self.owner.len()
    }

    /// Records an access to `key`; returns its stack distance, `None` on its first access.
    #[inline]
    pub fn access(&mut self, key: K) -> Option<u64> {
        // Among the most recent keys: its position is its distance.
        if let Some(p) = self.top.iter().position(|(k, _)| *k == key) {
            self.top[..=p].rotate_right(1);
            return Some(p as u64);
        }
        // Below them: every one of them, and the marked keys more recent than it, are.
        let (id, d) = match self.ids.get(&key) {
            Some(&id) => {
                let old = self.slot_of[id as usize];
                let d = self.top.len() as u32 + self.marks - self.prefix(old);
                self.sub(old);
                self.marks -= 1;
                self.slot_of[id as usize] = UNMARKED;
                (id, Some(u64::from(d)))
            }
            None => {
                let id = self.slot_of.len() as u32;
                self.ids.insert(key, id);
                self.slot_of.push(UNMARKED);
                (id, None)
            }
        };
        self.top.insert(0, (key, id));
        if self.top.len() > TOP {
            // The least recent of the top leaves it: the most recent of the marked keys.
            if let Some((_, out)) = self.top.pop() {
                if self.next as usize == self.owner.len() {
                    self.compact();
                }
                let t = self.next;
                self.next += 1;
                self.owner[t as usize] = out;
                self.slot_of[out as usize] = t;
                self.add(t);
                self.marks += 1;
            }
        }
        d
    }

    /// Records an access to `key` without distances (a stack built with `distances` off);
    /// returns whether it is the key's first access.
    #[inline]
    fn first_touch(&mut self, key: K) -> bool {
        if self.last == Some(key) {
            return false;
        }
        self.last = Some(key);
        let id = self.slot_of.len() as u32;
        let mut first = false;
        self.ids.entry(key).or_insert_with(|| {
            first = true;
            id
        });
        if first {
            self.slot_of.push(0);
        }
        first
    }

    /// The distinct keys seen, in no set order.
    fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.ids.keys().copied()
    }

    /// The same stack with every key mapped by `f` (which must be one to one).
    fn map_keys<K2: Copy + Eq + Hash>(self, f: impl Fn(K) -> K2) -> StackDistance<K2> {
        StackDistance {
            ids: self.ids.into_iter().map(|(k, id)| (f(k), id)).collect(),
            slot_of: self.slot_of,
            top: self.top.into_iter().map(|(k, id)| (f(k), id)).collect(),
            marks: self.marks,
            owner: self.owner,
            tree: self.tree,
            next: self.next,
            last: self.last.map(f),
            tree_min: self.tree_min,
            compactions: self.compactions,
            distances: self.distances,
        }
    }

    /// Marks in slots `0..=slot`.
    #[inline(always)]
    fn prefix(&self, slot: u32) -> u32 {
        let mut i = slot as usize + 1;
        let mut s = 0;
        while i > 0 {
            s += self.tree[i];
            i &= i - 1;
        }
        s
    }

    #[inline(always)]
    fn add(&mut self, slot: u32) {
        let n = self.tree.len();
        let mut i = slot as usize + 1;
        while i < n {
            self.tree[i] += 1;
            i += i & i.wrapping_neg();
        }
    }

    #[inline(always)]
    fn sub(&mut self, slot: u32) {
        let n = self.tree.len();
        let mut i = slot as usize + 1;
        while i < n {
            self.tree[i] -= 1;
            i += i & i.wrapping_neg();
        }
    }

    /// Renumbers the marked slots `0 .. live` in order and rebuilds the tree, with room for
    /// at least as many new slots as there are keys.
    #[cold]
    fn compact(&mut self) {
        self.compactions += 1;
        let live = self.marks as usize;
        // Marked slots in order: the latest slot of each id, sorted. Walk the slots and keep
        // those an id still points at.
        let mut k = 0u32;
        for s in 0..self.next {
            let id = self.owner[s as usize];
            if self.slot_of.get(id as usize) == Some(&s) {
                self.owner[k as usize] = id;
                self.slot_of[id as usize] = k;
                k += 1;
            }
        }
        debug_assert_eq!(k as usize, live);
        self.next = k;
        self.resize(self.tree_min.max(2 * self.slot_of.len()));
        // Linear Fenwick build over `live` marks at slots 0..live.
        let n = self.tree.len();
        self.tree.fill(0);
        for i in 1..n {
            if i <= live {
                self.tree[i] += 1;
            }
            let j = i + (i & i.wrapping_neg());
            if j < n {
                self.tree[j] += self.tree[i];
            }
        }
    }

    fn resize(&mut self, slots: usize) {
        assert!(
            slots < u32::MAX as usize,
            "more than 2^31 distinct pages for the reuse histogram"
        );
        if slots > self.owner.len() {
            self.owner.resize(slots, 0);
            self.tree.resize(slots + 1, 0);
        }
    }
}

/// A fast hasher for integer keys: a folded 64x64->128 multiply per word (like FxHash, but
/// mixing the high bits into the low ones, which the hash table indexes by).
#[derive(Clone, Copy, Default)]
struct FoldHasher(u64);

type Fold = BuildHasherDefault<FoldHasher>;

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

impl FoldHasher {
    #[inline(always)]
    fn mix(&mut self, w: u64) {
        let p = u128::from(self.0 ^ w) * u128::from(SEED);
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
    }
    #[inline(always)]
    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }
    #[inline(always)]
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }
    #[inline(always)]
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
    #[inline(always)]
    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64);
        self.mix((n >> 64) as u64);
    }
    #[inline(always)]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
    #[inline(always)]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// `4 KiB`, `1.5 MiB`, ...
fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl fmt::Display for TraceStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.accesses;
        writeln!(
            f,
            "accesses          {} (reads {}, writes {}, fetches {})",
            thousands(n),
            thousands(self.reads),
            thousands(self.writes),
            thousands(self.fetches)
        )?;
        write!(f, "events            {}", thousands(self.events))?;
        if !self.events_by_kind.is_empty() {
            let kinds: Vec<String> = self
                .events_by_kind
                .iter()
                .map(|(k, c)| format!("{} {}", k.name(), thousands(*c)))
                .collect();
            write!(f, " ({})", kinds.join(", "))?;
        }
        writeln!(f)?;
        if self.threads > 0 || self.cpus > 0 {
            writeln!(
                f,
                "threads           {} (thread events), CPUs {} (cpu events: where the trace recorded them running)",
                thousands(self.threads),
                thousands(self.cpus)
            )?;
        }
        writeln!(
            f,
            "bytes accessed    {} ({})",
            thousands(self.bytes),
            size_text(self.bytes)
        )?;
        writeln!(
            f,
            "distinct pages    4 KiB: {}, 2 MiB: {}, 1 GiB: {} (page of each access's first byte)",
            thousands(self.pages_4k),
            thousands(self.pages_2m),
            thousands(self.pages_1g)
        )?;
        writeln!(
            f,
            "footprint         {} bytes ({}, distinct 4 KiB pages x 4096)",
            thousands(self.footprint_bytes),
            size_text(self.footprint_bytes)
        )?;
        writeln!(
            f,
            "cross 4 KiB       {} accesses ({:.3}%) end on a later 4 KiB page than they start",
            thousands(self.crossing_4k),
            percent(self.crossing_4k, n)
        )?;
        match self.address_range {
            Some((lo, hi)) => writeln!(
                f,
                "address range     {lo:#x} ..= {hi:#x} (lowest first byte, highest last byte)"
            )?,
            None => writeln!(f, "address range     none")?,
        }
        let w = &self.widths;
        writeln!(
            f,
            "address widths    accesses that fit: 32 bits {}, 39 bits {}, 48 bits {}, 57 bits {}; \
             canonical 48 bits {}, canonical 57 bits {} (of {})",
            thousands(w.bits32),
            thousands(w.bits39),
            thousands(w.bits48),
            thousands(w.bits57),
            thousands(w.canonical48),
            thousands(w.canonical57),
            thousands(n)
        )?;
        write!(f, "address spaces    {}", self.per_asid.len())?;
        const SHOWN: usize = 16;
        for (i, (asid, c)) in self.per_asid.iter().enumerate() {
            if i == SHOWN {
                write!(f, "\n  ... {} more", self.per_asid.len() - SHOWN)?;
                break;
            }
            write!(
                f,
                "\n  asid {asid:<5} {} accesses ({:.2}%)",
                thousands(c.accesses),
                percent(c.accesses, n)
            )?;
            if c.events > 0 {
                write!(f, ", {} events", thousands(c.events))?;
            }
        }
        let Some(h) = &self.reuse else {
            return writeln!(f, "\nreuse distance    not computed");
        };
        writeln!(
            f,
            "\nreuse distance    distinct other 4 KiB pages since the page's last access (LRU stack distance)"
        )?;
        let total = h.total();
        writeln!(
            f,
            "  {:<17} {:>15} {:>8} {:>12}",
            "distance", "accesses", "%", "cumul. %"
        )?;
        let mut cum = 0;
        for (i, c) in h.buckets.iter().enumerate() {
            cum += c;
            if *c == 0 {
                continue;
            }
            let label = match ReuseHistogram::bucket_range(i) {
                (lo, Some(hi)) if lo == hi => lo.to_string(),
                (lo, Some(hi)) => format!("{lo}-{hi}"),
                (lo, None) => format!("{lo}+"),
            };
            writeln!(
                f,
                "  {label:<17} {:>15} {:>8.3} {:>12.3}",
                thousands(*c),
                percent(*c, total),
                percent(cum, total)
            )?;
        }
        writeln!(
            f,
            "  {:<17} {:>15} {:>8.3}",
            "cold",
            thousands(h.cold),
            percent(h.cold, total)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two() {
        assert_eq!(ReuseHistogram::bucket_of(0), 0);
        assert_eq!(ReuseHistogram::bucket_of(1), 1);
        assert_eq!(ReuseHistogram::bucket_of(2), 2);
        assert_eq!(ReuseHistogram::bucket_of(3), 2);
        assert_eq!(ReuseHistogram::bucket_of(4), 3);
        assert_eq!(ReuseHistogram::bucket_of(7), 3);
        assert_eq!(ReuseHistogram::bucket_of((1 << 40) - 1), 40);
        assert_eq!(ReuseHistogram::bucket_of(1 << 40), 41);
        assert_eq!(ReuseHistogram::bucket_of(u64::MAX), 41);
        for i in 0..REUSE_BUCKETS {
            let (lo, hi) = ReuseHistogram::bucket_range(i);
            assert_eq!(ReuseHistogram::bucket_of(lo), i);
            if let Some(hi) = hi {
                assert_eq!(ReuseHistogram::bucket_of(hi), i);
                assert_eq!(ReuseHistogram::bucket_of(hi + 1), i + 1);
            }
        }
    }

    #[test]
    fn address_widths_are_what_the_address_spaces_contain() {
        use ptbench_core::AddrSpace;
        let mut edges = vec![0u64, 1, u64::MAX, u64::MAX - 1];
        for b in [32u32, 39, 47, 48, 56, 57, 63] {
            for v in [1u64 << b, (1u64 << b).wrapping_neg()] {
                edges.extend([v - 1, v, v + 1]);
            }
        }
        for &first in &edges {
            for &last in &edges {
                if first > last {
                    continue;
                }
                let mut w = AddressWidths::default();
                w.add(first, last);
                let fits = |bits, canonical| {
                    u64::from(AddrSpace::new(bits, canonical).contains_range(first, last))
                };
                let want = AddressWidths {
                    bits32: fits(32, false),
                    bits39: fits(39, false),
                    bits48: fits(48, false),
                    bits57: fits(57, false),
                    canonical48: fits(48, true),
                    canonical57: fits(57, true),
                };
                assert_eq!(w, want, "{first:#x}..={last:#x}");
            }
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn wide_keys_after_narrow_ones_keep_the_stack() {
        let mut s: StackDistance<u64> = StackDistance::with_tree_min(2);
        for k in [1u64, 2, 3, 1] {
            s.access(k);
        }
        let mut w = s.map_keys(|k| u128::from(k) << 70);
        assert_eq!(w.access(2 << 70), Some(2));
        assert_eq!(w.access(9), None);
        assert_eq!(w.access(1 << 70), Some(2));
    }
}
