//! Data caches: the hierarchy that page-table reads and the trace's own accesses go through, so
//! that a walk costs cycles and not only references.
//!
//! Layout: up to four levels, `l1i` (instruction fetches), `l1d` (loads and stores), `l2` and
//! `llc` (both unified), each a set-associative array of cache lines, set = `line & (sets - 1)`. A
//! level left out is skipped. Under LRU (every preset's policy) a level is an `LruSets`: one flat
//! `Box<[u64]>` of `sets * ways` words, each a line number with bit 63 set (0: an empty way),
//! each set kept most recently used first, as cachegrind keeps its own (no stamps, contexts or
//! payloads: an 8-way set is one 64-byte host line). Under the other policies it is the TLB's
//! `SetArray` keyed by line number, with the TLB's replacement policies. Both keep the same
//! lines under LRU.
//!
//! Speed: an access of one line that an L1 can tell is a hit changing no replacement state - the
//! line that L1 looked up last (most fetches, many loads and stores), or under LRU the most recent
//! line of its set (one load) - is decided inline in [`fetch`](CacheHierarchy::fetch) and
//! [`data`](CacheHierarchy::data), with no search and no call. Every other access looks its lines
//! up out of line, and the levels below the L1 on a cold path.
//!
//! Counting follows cachegrind, so that the two agree exactly on the same accesses: an access that
//! spans several lines is one access, which misses a level if any of its lines misses there (every
//! line is looked up, and filled on a miss: write-allocate, for loads and stores alike); the next
//! level is looked up only when the level above missed, for all of the access's lines. A level
//! never back-invalidates (non-inclusive, like cachegrind's I1/D1/LL).
//!
//! Cost model: latencies are load-to-use totals (an L2 hit costs `l2_lat`, not `l1_lat + l2_lat`),
//! as measured on hardware and as the EMT artifact's walk model takes them; a read that misses
//! every level costs `mem_lat`. Page-table reads enter at the level `walker=` names (`l1d` or
//! `l2`), or go straight to memory with `ptes=bypass` (then they neither hit nor disturb a cache).
//!
//! Specs read like TLB specs: `none`, a preset (`skylake`, `emt`), or `key=value` items after an
//! optional preset: `l1i=LINESxWAYS`, `l1d=`, `l2=`, `llc=` (`none` removes a level), `line=BYTES`
//! (a power of two, default 64), `repl=lru|fifo|random|plru|bitplru`, `l1_lat=`, `l2_lat=`,
//! `llc_lat=`, `mem_lat=` (cycles), `walker=l1d|l2`, `ptes=cached|bypass`, and the cost of a
//! page fault apart from its walks: `fault_lat=` cycles for every fault (the kernel's entry,
//! handler and return), plus `disk_lat=` for every page the fault reads from or writes to disk.
//! The [`Display`](fmt::Display) form is canonical: `parse(spec.to_string()) == spec`.
//!
//! Fault defaults, measured on the machine ptbench is developed on (a 2.45 GHz AMD EPYC VM; the
//! programs are in `tools/fault-cost/`): `fault_lat=5000`, the fastest of ten runs of touching
//! 262,144 fresh anonymous pages once each took 5,158 TSC cycles per fault; `disk_lat=350000`, a
//! random 4 KiB `O_DIRECT` read of a 2 GiB file took 344,531 TSC cycles (141 us).

use crate::array::SetArray;
use crate::policy::{AnyRepl, ReplPolicy};
use crate::Geometry;
use std::fmt;
use thiserror::Error;

/// Why a cache spec was rejected; every variant names the item.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CacheSpecError {
    /// The spec is empty.
    #[error("empty cache spec (use `none` for no caches)")]
    Empty,
    /// The first item is neither a preset nor `key=value`.
    #[error("unknown cache preset `{name}`; presets: none, skylake, emt (see `ptbench caches`)")]
    UnknownPreset {
        /// The name given.
        name: String,
    },
    /// An item that is not `key=value` after the first.
    #[error("`{item}` is not key=value (a preset name may only come first)")]
    NotKeyValue {
        /// The item.
        item: String,
    },
    /// A key the spec language does not have.
    #[error("unknown cache spec key `{key}`; keys: l1i, l1d, l2, llc, line, repl, l1_lat, l2_lat, llc_lat, mem_lat, walker, ptes, fault_lat, disk_lat")]
    UnknownKey {
        /// The key given.
        key: String,
    },
    /// A key given twice.
    #[error("cache spec key `{key}` given twice")]
    Duplicate {
        /// The key.
        key: String,
    },
    /// A value that does not parse or is out of range.
    #[error("bad cache spec value `{key}={value}`: {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// Where page-table reads enter the hierarchy.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Walker {
    /// At the L1 data cache (as on x86 cores).
    #[default]
    L1d,
    /// At the L2 (walkers that bypass the L1).
    L2,
}

/// Whether page-table reads go through the caches.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum PteRoute {
    /// Through the caches, from the level [`Walker`] names.
    #[default]
    Cached,
    /// Straight to memory: `mem_lat` each, no cache touched.
    Bypass,
}

/// A cache hierarchy's settings; [`CacheSpec::NONE`] (no level, no latency) is today's model,
/// which counts no cycles.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheSpec {
    /// The instruction L1.
    pub l1i: Option<Geometry>,
    /// The data L1.
    pub l1d: Option<Geometry>,
    /// The unified L2.
    pub l2: Option<Geometry>,
    /// The last-level cache.
    pub llc: Option<Geometry>,
    /// Line size in bytes (a power of two).
    pub line: u32,
    /// Replacement policy of every level.
    pub repl: ReplPolicy,
    /// Load-to-use latency of an L1 hit, in cycles.
    pub l1_lat: u32,
    /// Of an L2 hit.
    pub l2_lat: u32,
    /// Of an LLC hit.
    pub llc_lat: u32,
    /// Of a read that misses every level.
    pub mem_lat: u32,
    /// Where page-table reads enter.
    pub walker: Walker,
    /// Whether page-table reads are cached.
    pub ptes: PteRoute,
    /// Cycles of a page fault's handling, apart from its walks.
    pub fault_lat: u32,
    /// Cycles a fault adds for each page it reads from or writes to disk.
    pub disk_lat: u32,
}

/// The default [`CacheSpec::fault_lat`] (see the module docs for where it comes from).
pub const DEFAULT_FAULT_LAT: u32 = 5_000;
/// The default [`CacheSpec::disk_lat`].
pub const DEFAULT_DISK_LAT: u32 = 350_000;

/// A named [`CacheSpec`].
#[derive(Clone, Debug)]
pub struct CachePreset {
    /// The name, usable as a spec or its first item.
    pub name: &'static str,
    /// What it models and where its numbers come from.
    pub description: &'static str,
    /// The settings.
    pub spec: CacheSpec,
}

impl CacheSpec {
    /// No caches and no latencies: no cycles are counted (the default).
    pub const NONE: CacheSpec = CacheSpec {
        l1i: None,
        l1d: None,
        l2: None,
        llc: None,
        line: 64,
        repl: ReplPolicy::Lru,
        l1_lat: 0,
        l2_lat: 0,
        llc_lat: 0,
        mem_lat: 0,
        walker: Walker::L1d,
        ptes: PteRoute::Cached,
        fault_lat: DEFAULT_FAULT_LAT,
        disk_lat: DEFAULT_DISK_LAT,
    };

    /// An Intel Skylake client core (i7-6700): 32 KiB 8-way L1I and L1D, 256 KiB 4-way L2, 8 MiB
    /// 16-way LLC, 64-byte lines, LRU; 4, 12 and 42 cycles to use and 250 to memory (7-cpu.com's
    /// measurements: 42 cycles + 51 ns at 4 GHz).
    pub const SKYLAKE: CacheSpec = CacheSpec {
        l1i: Some(Geometry::known(512, 8)),
        l1d: Some(Geometry::known(512, 8)),
        l2: Some(Geometry::known(4096, 4)),
        llc: Some(Geometry::known(131_072, 16)),
        line: 64,
        repl: ReplPolicy::Lru,
        l1_lat: 4,
        l2_lat: 12,
        llc_lat: 42,
        mem_lat: 250,
        walker: Walker::L1d,
        ptes: PteRoute::Cached,
        fault_lat: DEFAULT_FAULT_LAT,
        disk_lat: DEFAULT_DISK_LAT,
    };

    /// Skylake's geometry with the EMT artifact's walk-latency model: L1 2, L2 16, LLC 56 and
    /// memory 200 cycles.
    pub const EMT: CacheSpec = CacheSpec {
        l1_lat: 2,
        l2_lat: 16,
        llc_lat: 56,
        mem_lat: 200,
        ..CacheSpec::SKYLAKE
    };

    /// Whether this spec counts cycles at all (any level or any latency).
    pub fn enabled(&self) -> bool {
        *self != CacheSpec::NONE
    }

    /// Parses a spec (see the module docs).
    pub fn parse(text: &str) -> Result<CacheSpec, CacheSpecError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CacheSpecError::Empty);
        }
        let mut items = text.split(',').map(str::trim).peekable();
        let mut spec = CacheSpec::NONE;
        if let Some(first) = items.peek().copied() {
            if !first.contains('=') {
                spec = cache_presets()
                    .into_iter()
                    .find(|p| p.name == first)
                    .map(|p| p.spec)
                    .ok_or_else(|| CacheSpecError::UnknownPreset { name: first.into() })?;
                items.next();
            }
        }
        let mut given: Vec<&str> = Vec::new();
        for item in items {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| CacheSpecError::NotKeyValue { item: item.into() })?;
            let (key, value) = (key.trim(), value.trim());
            if given.contains(&key) {
                return Err(CacheSpecError::Duplicate { key: key.into() });
            }
            spec.set(key, value)?;
            given.push(key);
        }
        Ok(spec)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), CacheSpecError> {
        let bad = |reason: &str| CacheSpecError::BadValue {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        };
        let level = || -> Result<Option<Geometry>, CacheSpecError> {
            if value == "none" {
                return Ok(None);
            }
            value.parse::<Geometry>().map(Some).map_err(|r| bad(&r))
        };
        let cycles = || -> Result<u32, CacheSpecError> {
            value
                .parse::<u32>()
                .ok()
                .filter(|&c| c <= 1_000_000)
                .ok_or_else(|| bad("expected a number of cycles, 0 to 1000000"))
        };
        match key {
            "l1i" => self.l1i = level()?,
            "l1d" => self.l1d = level()?,
            "l2" => self.l2 = level()?,
            "llc" => self.llc = level()?,
            "line" => {
                self.line = value
                    .parse::<u32>()
                    .ok()
                    .filter(|l| l.is_power_of_two() && (4..=1 << 20).contains(l))
                    .ok_or_else(|| bad("expected a power of two from 4 to 1048576"))?
            }
            "repl" => {
                self.repl = match value {
                    "lru" => ReplPolicy::Lru,
                    "fifo" => ReplPolicy::Fifo,
                    "random" => ReplPolicy::Random {
                        seed: crate::DEFAULT_SEED,
                    },
                    "plru" => ReplPolicy::TreePlru,
                    "bitplru" => ReplPolicy::BitPlru,
                    _ => return Err(bad("expected lru, fifo, random, plru or bitplru")),
                }
            }
            "l1_lat" => self.l1_lat = cycles()?,
            "l2_lat" => self.l2_lat = cycles()?,
            "llc_lat" => self.llc_lat = cycles()?,
            "mem_lat" => self.mem_lat = cycles()?,
            "fault_lat" => self.fault_lat = cycles()?,
            "disk_lat" => {
                self.disk_lat = value
                    .parse::<u32>()
                    .ok()
                    .filter(|&c| c <= 1_000_000_000)
                    .ok_or_else(|| bad("expected a number of cycles, 0 to 1000000000"))?
            }
            "walker" => {
                self.walker = match value {
                    "l1d" => Walker::L1d,
                    "l2" => Walker::L2,
                    _ => return Err(bad("expected l1d or l2")),
                }
            }
            "ptes" => {
                self.ptes = match value {
                    "cached" => PteRoute::Cached,
                    "bypass" => PteRoute::Bypass,
                    _ => return Err(bad("expected cached or bypass")),
                }
            }
            _ => return Err(CacheSpecError::UnknownKey { key: key.into() }),
        }
        for g in [self.l1i, self.l1d, self.l2, self.llc]
            .into_iter()
            .flatten()
        {
            self.repl
                .check_ways(g.ways())
                .map_err(|e| bad(&e.to_string()))?;
        }
        Ok(())
    }
}

impl fmt::Display for CacheSpec {
    /// `none`, or every setting in a fixed order (`l1i=512x8,l1d=512x8,l2=4096x4,...`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == CacheSpec::NONE {
            return f.write_str("none");
        }
        let level = |g: Option<Geometry>| g.map_or_else(|| "none".to_string(), |g| g.to_string());
        write!(
            f,
            "l1i={},l1d={},l2={},llc={},line={},repl={},l1_lat={},l2_lat={},llc_lat={},mem_lat={},walker={},ptes={},fault_lat={},disk_lat={}",
            level(self.l1i),
            level(self.l1d),
            level(self.l2),
            level(self.llc),
            self.line,
            self.repl.name(),
            self.l1_lat,
            self.l2_lat,
            self.llc_lat,
            self.mem_lat,
            match self.walker {
                Walker::L1d => "l1d",
                Walker::L2 => "l2",
            },
            match self.ptes {
                PteRoute::Cached => "cached",
                PteRoute::Bypass => "bypass",
            },
            self.fault_lat,
            self.disk_lat,
        )
    }
}

impl Default for CacheSpec {
    /// [`CacheSpec::NONE`].
    fn default() -> CacheSpec {
        CacheSpec::NONE
    }
}

impl std::str::FromStr for CacheSpec {
    type Err = CacheSpecError;
    fn from_str(s: &str) -> Result<CacheSpec, CacheSpecError> {
        CacheSpec::parse(s)
    }
}

/// The cache presets, for `ptbench caches` and as spec names.
pub fn cache_presets() -> Vec<CachePreset> {
    vec![
        CachePreset {
            name: "none",
            description: "no caches and no latencies: no cycles are counted (the default)",
            spec: CacheSpec::NONE,
        },
        CachePreset {
            name: "skylake",
            description: "Intel Skylake client: L1I/L1D 32 KiB 8-way, L2 256 KiB 4-way, LLC 8 MiB 16-way, 64 B lines, LRU; 4/12/42/250 cycles (7-cpu.com)",
            spec: CacheSpec::SKYLAKE,
        },
        CachePreset {
            name: "emt",
            description: "Skylake's caches with the EMT artifact's walk latencies: L1 2, L2 16, LLC 56, memory 200 cycles",
            spec: CacheSpec::EMT,
        },
    ]
}

/// Which level served an access.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Served {
    /// The L1 (instruction or data).
    L1,
    /// The L2.
    L2,
    /// The last-level cache.
    Llc,
    /// Memory: every level present missed.
    Mem,
}

/// Accesses and misses of one level, as cachegrind counts them (an access that spans lines is
/// one access).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Accesses that looked this level up.
    pub accesses: u64,
    /// Of those, accesses that missed it.
    pub misses: u64,
}

/// What a [`CacheHierarchy`] counted, by source.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Instruction fetches at the L1I.
    pub l1i: LevelStats,
    /// Loads and stores at the L1D.
    pub l1d: LevelStats,
    /// The trace's accesses at the L2.
    pub l2: LevelStats,
    /// The trace's accesses at the LLC.
    pub llc: LevelStats,
    /// Page-table reads served by each level: L1D, L2, LLC, memory.
    pub pte_served: [u64; 4],
}

/// How [`LruSets`] stores a line: its number with bit 63 set, so that a word without it is an
/// empty way. A line number is an address shifted right by at least 2 (lines are 4 bytes or
/// more), so bit 63 is never part of one.
const PRESENT: u64 = 1 << 63;

/// An empty way of an array [`LruSets`] writes up front ([`EAGER_BYTES`]).
const EMPTY: u64 = !PRESENT;

/// Arrays of up to this many bytes are written when built, so that their pages are mapped by
/// a first write. A zeroed array's pages are mapped lazily instead, but a set is read before it
/// is written: its page is first mapped to the shared zero page, then copied on the write,
/// which interrupts the other cores to flush their TLBs. Larger arrays (a huge LLC of which a
/// trace may use a few sets) stay zeroed and lazy.
const EAGER_BYTES: usize = 16 << 20;

/// A true-LRU set-associative array of lines, laid out as cachegrind lays out its caches: set
/// `s` is the `ways` words `tags[s * ways..][..ways]`, each a stored line ([`PRESENT`]), most
/// recently used first and empty ways (no [`PRESENT`] bit) last. A hit moves its line to the
/// front; a miss shifts the set down one way, dropping the last (the least recent line, or an
/// empty way), and puts the new line in front. No stamps, contexts or payloads: an 8-way set is
/// one 64-byte host line.
///
/// It holds exactly the lines the TLB's [`SetArray`] under [`Lru`](crate::policy::Lru) holds:
/// which lines a set keeps depends only on the order of its accesses (caches never invalidate),
/// and only the ways they sit in differ, which nothing observes.
struct LruSets {
    ways: usize,
    set_mask: u64,
    tags: Box<[u64]>,
}

impl LruSets {
    /// `sets` (a power of two) x `ways` empty ways: written now up to [`EAGER_BYTES`], zeroed
    /// memory beyond (the pages of a large LLC are only touched, and faulted in, when a set is
    /// first used).
    fn new(sets: usize, ways: usize) -> LruSets {
        let empty = if sets * ways * 8 <= EAGER_BYTES {
            EMPTY
        } else {
            0
        };
        LruSets::filled(sets, ways, empty)
    }

    /// `sets` x `ways` ways holding `empty`, a word without [`PRESENT`].
    fn filled(sets: usize, ways: usize, empty: u64) -> LruSets {
        debug_assert!(sets.is_power_of_two() && ways >= 1 && empty & PRESENT == 0);
        LruSets {
            ways,
            set_mask: sets as u64 - 1,
            tags: vec![empty; sets * ways].into_boxed_slice(),
        }
    }

    /// Whether `line` is the most recent line of its set (a hit that would change nothing).
    #[inline(always)]
    fn is_most_recent(&self, line: u64) -> bool {
        let base = (line & self.set_mask) as usize * self.ways;
        self.tags[base] == line | PRESENT
    }

    /// Looks `line` up and makes it its set's most recent; true if it missed (and was filled).
    #[inline]
    fn miss(&mut self, line: u64) -> bool {
        let key = line | PRESENT;
        let base = (line & self.set_mask) as usize * self.ways;
        let set = &mut self.tags[base..base + self.ways];
        // One pass finds the line and moves every way in front of it down by one, so that a hit
        // on the most recent way (the common case) is one load and one store.
        let mut carry = key;
        for way in set {
            let old = std::mem::replace(way, carry);
            if old == key {
                return false;
            }
            carry = old;
        }
        true
    }
}

/// The lines of one level, under its replacement policy.
enum Lines {
    /// LRU (every preset's policy): the dedicated [`LruSets`].
    Lru(LruSets),
    /// Every other policy: the TLB's [`SetArray`], keyed by line number, with its policies.
    Other(SetArray<(), AnyRepl>),
}

struct Level {
    lines: Lines,
    /// The line the last lookup hit or filled, while no fill has happened since: looking it up
    /// again hits and changes no replacement state (it is the most recently used way under
    /// every policy), so the lookup is skipped.
    last: u64,
}

impl Level {
    fn new(g: Geometry, repl: ReplPolicy) -> Level {
        let sets = g.sets() as usize;
        let ways = g.ways() as usize;
        let lines = if repl == ReplPolicy::Lru {
            Lines::Lru(LruSets::new(sets, ways))
        } else {
            // `check_ways` ran when the spec was parsed; a policy that cannot drive these ways
            // falls back to LRU rather than fail here.
            let r = repl.build(sets, ways).unwrap_or_else(|_| {
                ReplPolicy::Lru
                    .build(sets, ways)
                    .unwrap_or_else(|_| unreachable!())
            });
            Lines::Other(SetArray::new(sets, ways, (), r))
        };
        Level {
            lines,
            last: u64::MAX,
        }
    }

    /// Whether an access of lines `first..=last` hits and changes no replacement state, known
    /// without a search: a single line that is the line looked up last, or (under LRU) the most
    /// recent line of its set, which then becomes the line looked up last.
    #[inline(always)]
    fn quick_hit(&mut self, first: u64, last: u64) -> bool {
        if first != last {
            return false;
        }
        if first == self.last {
            return true;
        }
        match &self.lines {
            Lines::Lru(sets) if sets.is_most_recent(first) => {
                self.last = first;
                true
            }
            _ => false,
        }
    }

    /// Looks up the lines of every part (filling those that miss); true if any missed.
    #[inline]
    fn parts_miss(&mut self, parts: &[(u64, u64)]) -> bool {
        let mut missed = false;
        for &(first, last) in parts {
            missed |= self.misses(first, last);
        }
        missed
    }

    /// Looks up lines `first..=last` (filling those that miss); true if any missed.
    #[inline]
    fn misses(&mut self, first: u64, last: u64) -> bool {
        if first == self.last && last == first {
            return false;
        }
        let missed = match &mut self.lines {
            Lines::Lru(sets) if first == last => sets.miss(first),
            _ => self.range_misses(first, last),
        };
        self.last = last;
        missed
    }

    /// [`misses`](Self::misses) for several lines, or under a policy other than LRU.
    #[inline(never)]
    fn range_misses(&mut self, first: u64, last: u64) -> bool {
        let mut missed = false;
        let mut line = first;
        loop {
            missed |= match &mut self.lines {
                Lines::Lru(sets) => sets.miss(line),
                Lines::Other(array) => {
                    let miss = array.lookup(line, 0).is_none();
                    if miss {
                        array.fill(line, 0, ());
                    }
                    miss
                }
            };
            if line == last {
                return missed;
            }
            line += 1;
        }
    }
}

/// The private levels of one core's caches (see [`CacheHierarchy::swap_private`]).
pub struct PrivateCaches {
    l1i: Option<Level>,
    l1d: Option<Level>,
    l2: Option<Level>,
}

/// A running cache hierarchy (see the module docs for what it counts and how).
pub struct CacheHierarchy {
    spec: CacheSpec,
    line_shift: u32,
    l1i: Option<Level>,
    l1d: Option<Level>,
    l2: Option<Level>,
    llc: Option<Level>,
    stats: CacheStats,
    /// The L1I is simulated elsewhere ([`CacheHierarchy::l1i_elsewhere`]): every fetch given
    /// here missed it.
    l1i_elsewhere: bool,
}

impl fmt::Debug for CacheHierarchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHierarchy")
            .field("spec", &self.spec.to_string())
            .field("stats", &self.stats)
            .finish()
    }
}

impl CacheHierarchy {
    /// Empty caches of `spec`.
    pub fn new(spec: &CacheSpec) -> CacheHierarchy {
        let level = |g: Option<Geometry>| g.map(|g| Level::new(g, spec.repl));
        CacheHierarchy {
            spec: *spec,
            line_shift: spec.line.trailing_zeros(),
            l1i: level(spec.l1i),
            l1d: level(spec.l1d),
            l2: level(spec.l2),
            llc: level(spec.llc),
            stats: CacheStats::default(),
            l1i_elsewhere: false,
        }
    }

    /// The L1I of `spec` alone, no other level: a fetch is served by [`Served::L1`] or, having
    /// missed it, [`Served::Mem`]. A shared front end keeps one as the copy of its followers'
    /// L1I (see [`l1i_elsewhere`](Self::l1i_elsewhere)).
    pub fn l1i_only(spec: &CacheSpec) -> CacheHierarchy {
        CacheHierarchy::new(&CacheSpec {
            l1d: None,
            l2: None,
            llc: None,
            ..*spec
        })
    }

    /// From now on the L1I is simulated elsewhere, by an [`l1i_only`](Self::l1i_only) copy that
    /// sees every fetch this hierarchy would see, in the same order, and nothing else (no table
    /// read ever enters the L1I). Fetches that hit it there are only counted here
    /// ([`count_l1_hits`](Self::count_l1_hits)); every fetch given here missed it, and is
    /// counted as an L1I miss and looked up from the L2 down. The hierarchy's own L1I is dropped.
    /// For one core only (the copy is not swapped with [`swap_private`](Self::swap_private)).
    pub fn l1i_elsewhere(&mut self) {
        if self.l1i.take().is_some() {
            self.l1i_elsewhere = true;
        }
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &CacheSpec {
        &self.spec
    }

    /// Empty private levels (L1I, L1D, L2) of this spec, for another core.
    pub fn new_private(&self) -> PrivateCaches {
        let level = |g: Option<Geometry>| g.map(|g| Level::new(g, self.spec.repl));
        PrivateCaches {
            l1i: level(self.spec.l1i),
            l1d: level(self.spec.l1d),
            l2: level(self.spec.l2),
        }
    }

    /// Exchanges the private levels (L1I, L1D, L2) with `other`'s: the caches of another core
    /// take their place in front of the shared last level. Counters stay (they are the sums
    /// over cores).
    pub fn swap_private(&mut self, other: &mut PrivateCaches) {
        std::mem::swap(&mut self.l1i, &mut other.l1i);
        std::mem::swap(&mut self.l1d, &mut other.l1d);
        std::mem::swap(&mut self.l2, &mut other.l2);
    }

    /// What it counted so far.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Counts `fetches` and `data` one-line accesses that hit the most recent line of their L1
    /// set, as [`fetch`](Self::fetch) and [`data`](Self::data) would have (such a hit changes
    /// nothing under LRU): a shared front end saw them repeat a line no other access of its
    /// set, and no table read, came between.
    pub fn count_l1_hits(&mut self, fetches: u64, data: u64) {
        self.stats.l1i.accesses += fetches;
        self.stats.l1d.accesses += data;
    }

    /// The cycles of an access served by `s`.
    pub fn latency(&self, s: Served) -> u32 {
        match s {
            Served::L1 => self.spec.l1_lat,
            Served::L2 => self.spec.l2_lat,
            Served::Llc => self.spec.llc_lat,
            Served::Mem => self.spec.mem_lat,
        }
    }

    #[inline(always)]
    fn lines(&self, addr: u64, size: u32) -> (u64, u64) {
        let last = addr.saturating_add(u64::from(size.max(1)) - 1);
        (addr >> self.line_shift, last >> self.line_shift)
    }

    /// Looks `first..=last` up from the L2 down, counting into the trace's statistics when
    /// `count` is set; which level served.
    fn below_l1(&mut self, first: u64, last: u64, count: bool) -> Served {
        self.below_l1_parts(&[(first, last)], count)
    }

    /// [`below_l1`](Self::below_l1) for an access made of several line ranges.
    #[cold]
    #[inline(never)]
    fn below_l1_parts(&mut self, parts: &[(u64, u64)], count: bool) -> Served {
        if let Some(l2) = &mut self.l2 {
            let miss = l2.parts_miss(parts);
            if count {
                self.stats.l2.accesses += 1;
                self.stats.l2.misses += u64::from(miss);
            }
            if !miss {
                return Served::L2;
            }
        }
        if let Some(llc) = &mut self.llc {
            let miss = llc.parts_miss(parts);
            if count {
                self.stats.llc.accesses += 1;
                self.stats.llc.misses += u64::from(miss);
            }
            if !miss {
                return Served::Llc;
            }
        }
        Served::Mem
    }

    /// The L1 that fetches (`fetch`) or loads and stores go to, and its statistics.
    #[inline(always)]
    fn l1(&mut self, fetch: bool) -> (&mut Option<Level>, &mut LevelStats) {
        if fetch {
            (&mut self.l1i, &mut self.stats.l1i)
        } else {
            (&mut self.l1d, &mut self.stats.l1d)
        }
    }

    /// A fetch (`fetch`) or a load or store of lines `first..=last`. The common case, an L1 hit
    /// that changes nothing ([`Level::quick_hit`]), is decided inline; every other access is
    /// looked up out of line.
    #[inline(always)]
    fn access(&mut self, fetch: bool, first: u64, last: u64) -> Served {
        let (l1, stats) = self.l1(fetch);
        if let Some(l1) = l1 {
            if l1.quick_hit(first, last) {
                stats.accesses += 1;
                return Served::L1;
            }
        }
        self.look_up(fetch, first, last)
    }

    /// [`access`](Self::access) when it has to look lines up.
    #[inline(never)]
    fn look_up(&mut self, fetch: bool, first: u64, last: u64) -> Served {
        if self.l1_hit(fetch, |l1| l1.misses(first, last)) {
            return Served::L1;
        }
        self.below_l1(first, last, true)
    }

    /// Looks a fetch (`fetch`) or a load or store up in its L1, `misses` saying whether it
    /// misses there (and filling it), and counts it: true on a hit. An L1I simulated elsewhere
    /// ([`l1i_elsewhere`](Self::l1i_elsewhere)) counts a miss: every fetch given here missed it.
    /// Without that L1, false and nothing counted.
    #[inline(always)]
    fn l1_hit(&mut self, fetch: bool, misses: impl FnOnce(&mut Level) -> bool) -> bool {
        let elsewhere = fetch && self.l1i_elsewhere;
        let (l1, stats) = self.l1(fetch);
        let miss = match l1 {
            Some(l1) => misses(l1),
            None if elsewhere => true,
            None => return false,
        };
        stats.accesses += 1;
        stats.misses += u64::from(miss);
        !miss
    }

    /// An instruction fetch of `size` bytes at `addr` (a physical address).
    #[inline]
    pub fn fetch(&mut self, addr: u64, size: u32) -> Served {
        let (first, last) = self.lines(addr, size);
        self.access(true, first, last)
    }

    /// A load or store of `size` bytes at `addr` (write-allocate: both fill on a miss).
    #[inline]
    pub fn data(&mut self, addr: u64, size: u32) -> Served {
        let (first, last) = self.lines(addr, size);
        self.access(false, first, last)
    }

    /// An instruction fetch made of `(address, bytes)` parts (an access split across pages whose
    /// frames are apart): one access, which misses a level if any line of any part does.
    #[inline]
    pub fn fetch_parts(&mut self, parts: &[(u64, u32)]) -> Served {
        match parts {
            [(addr, size)] => self.fetch(*addr, *size),
            _ => self.parts_access(true, parts),
        }
    }

    /// A load or store made of parts, as [`fetch_parts`](Self::fetch_parts).
    #[inline]
    pub fn data_parts(&mut self, parts: &[(u64, u32)]) -> Served {
        match parts {
            [(addr, size)] => self.data(*addr, *size),
            _ => self.parts_access(false, parts),
        }
    }

    /// An access of several parts (or none).
    #[inline(never)]
    fn parts_access(&mut self, fetch: bool, parts: &[(u64, u32)]) -> Served {
        let mut lines = [(0u64, 0u64); 4];
        let mut owned = Vec::new();
        let ranges: &[(u64, u64)] = if parts.len() <= lines.len() {
            for (l, &(a, n)) in lines.iter_mut().zip(parts) {
                *l = self.lines(a, n);
            }
            &lines[..parts.len()]
        } else {
            owned.extend(parts.iter().map(|&(a, n)| self.lines(a, n)));
            &owned
        };
        if self.l1_hit(fetch, |l1| l1.parts_miss(ranges)) {
            return Served::L1;
        }
        self.below_l1_parts(ranges, true)
    }

    /// A page-table read of `bytes` bytes at physical address `addr`: where it was served and
    /// its cycles. With `ptes=bypass` it goes to memory and touches no cache.
    pub fn pte(&mut self, addr: u64, bytes: u32) -> (Served, u32) {
        let served = if self.spec.ptes == PteRoute::Bypass {
            Served::Mem
        } else {
            let (first, last) = self.lines(addr, bytes);
            let l1 = match (self.spec.walker, &mut self.l1d) {
                (Walker::L1d, Some(l1)) => !l1.misses(first, last),
                _ => false,
            };
            if l1 {
                Served::L1
            } else {
                self.below_l1(first, last, false)
            }
        };
        self.stats.pte_served[served as usize] += 1;
        (served, self.latency(served))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> CacheSpec {
        CacheSpec::parse(text).unwrap()
    }

    #[test]
    fn specs_round_trip_and_mistakes_are_named() {
        for p in cache_presets() {
            assert_eq!(spec(&p.spec.to_string()), p.spec, "{}", p.name);
            assert_eq!(spec(p.name), p.spec);
        }
        let s = spec("skylake,l2=none,mem_lat=300,ptes=bypass");
        assert_eq!(s.l2, None);
        assert_eq!(s.mem_lat, 300);
        assert_eq!(
            s.to_string(),
            "l1i=512x8,l1d=512x8,l2=none,llc=131072x16,line=64,repl=lru,l1_lat=4,l2_lat=12,llc_lat=42,mem_lat=300,walker=l1d,ptes=bypass,fault_lat=5000,disk_lat=350000"
        );
        assert!(spec("mem_lat=100").enabled());
        assert!(!spec("none").enabled());
        for (text, want) in [
            ("", "empty cache spec"),
            ("haswell", "unknown cache preset `haswell`"),
            ("skylake,emt", "`emt` is not key=value"),
            ("l3=512x8", "unknown cache spec key `l3`"),
            ("l1d=512x8,l1d=64x4", "`l1d` given twice"),
            ("l1d=500x8", "bad cache spec value `l1d=500x8`"),
            (
                "line=48",
                "bad cache spec value `line=48`: expected a power of two",
            ),
            ("l1d=24x3,repl=plru", "bad cache spec value `repl=plru`"),
            ("walker=l3", "expected l1d or l2"),
        ] {
            let e = CacheSpec::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn a_line_crossing_access_is_one_access_that_misses_if_either_line_misses() {
        // Direct-mapped 4 lines of 64 bytes, then memory.
        let mut c = CacheHierarchy::new(&spec("l1d=4x1,l1_lat=1,mem_lat=100"));
        assert_eq!(c.data(0, 8), Served::Mem); // line 0 missed
        assert_eq!(c.data(60, 8), Served::Mem); // lines 0 (hit) and 1 (miss): a miss
        assert_eq!(c.data(60, 8), Served::L1); // both hit
        assert_eq!(c.data(256, 4), Served::Mem); // line 4 evicts line 0 (set 0)
        assert_eq!(c.data(0, 1), Served::Mem);
        let s = c.stats();
        assert_eq!(
            s.l1d,
            LevelStats {
                accesses: 5,
                misses: 4
            }
        );
        assert_eq!(c.latency(Served::Mem), 100);
    }

    #[test]
    fn lower_levels_see_only_the_misses_of_the_level_above() {
        let mut c = CacheHierarchy::new(&spec("l1i=2x1,l1d=2x1,l2=none,llc=8x2"));
        // Fetch and data share the LLC: a line fetched is an LLC hit for a later load.
        assert_eq!(c.fetch(0x1000, 4), Served::Mem);
        assert_eq!(c.data(0x1000, 4), Served::Llc);
        assert_eq!(c.data(0x1000, 4), Served::L1);
        let s = c.stats();
        assert_eq!(
            s.l1i,
            LevelStats {
                accesses: 1,
                misses: 1
            }
        );
        assert_eq!(
            s.l1d,
            LevelStats {
                accesses: 2,
                misses: 1
            }
        );
        assert_eq!(s.l2, LevelStats::default());
        assert_eq!(
            s.llc,
            LevelStats {
                accesses: 2,
                misses: 1
            }
        );
    }

    #[test]
    fn table_reads_enter_where_the_walker_does_or_bypass() {
        let mut c = CacheHierarchy::new(&spec("skylake"));
        assert_eq!(c.pte(0x5000, 8), (Served::Mem, 250));
        assert_eq!(c.pte(0x5008, 8), (Served::L1, 4)); // same line
        let mut c = CacheHierarchy::new(&spec("skylake,walker=l2"));
        c.pte(0x5000, 8);
        assert_eq!(c.pte(0x5000, 8), (Served::L2, 12));
        assert_eq!(
            c.data(0x5000, 8),
            Served::L2,
            "the walker never filled the L1D"
        );
        let mut c = CacheHierarchy::new(&spec("skylake,ptes=bypass"));
        c.pte(0x5000, 8);
        assert_eq!(c.pte(0x5000, 8), (Served::Mem, 250));
        assert_eq!(
            c.data(0x5000, 8),
            Served::Mem,
            "bypassed reads fill nothing"
        );
        assert_eq!(c.stats().pte_served, [0, 0, 0, 2]);
        // No level at all: every read costs mem_lat.
        let mut c = CacheHierarchy::new(&spec("mem_lat=100"));
        for i in 0..4 {
            assert_eq!(c.pte(i * 8, 8), (Served::Mem, 100));
        }
    }

    #[test]
    fn an_access_split_across_frames_is_one_access() {
        let mut c = CacheHierarchy::new(&spec("l1d=8x2,llc=64x4"));
        // Two parts far apart: both lines missed, one access, one miss at each level.
        assert_eq!(c.data_parts(&[(0x1ffc, 4), (0x9000, 4)]), Served::Mem);
        assert_eq!(c.data_parts(&[(0x1ffc, 4), (0x9000, 4)]), Served::L1);
        assert_eq!(c.data(0x9000, 1), Served::L1);
        let s = c.stats();
        assert_eq!(
            s.l1d,
            LevelStats {
                accesses: 3,
                misses: 1
            }
        );
        assert_eq!(
            s.llc,
            LevelStats {
                accesses: 1,
                misses: 1
            }
        );
    }

    /// A plain reference: per set, a list of lines, most recent first (cachegrind's own layout).
    struct Reference {
        sets: Vec<Vec<u64>>,
        ways: usize,
    }

    impl Reference {
        fn miss(&mut self, line: u64) -> bool {
            let n = self.sets.len() as u64;
            let set = &mut self.sets[(line % n) as usize];
            let hit = set.iter().position(|&l| l == line);
            if let Some(i) = hit {
                set.remove(i);
            } else if set.len() == self.ways {
                set.pop();
            }
            set.insert(0, line);
            hit.is_none()
        }
    }

    /// The next number of a xorshift64 sequence in `x`.
    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn written_and_zeroed_sets_hold_the_same_lines() {
        // Line 0 included: its stored word (bit 63 alone) is neither empty word.
        let mut eager = LruSets::filled(4, 2, EMPTY);
        let mut lazy = LruSets::filled(4, 2, 0);
        let mut reference = Reference {
            sets: vec![Vec::new(); 4],
            ways: 2,
        };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5_000 {
            let line = (xorshift(&mut x) >> 20) % 24;
            let want = reference.miss(line);
            assert_eq!(eager.miss(line), want, "line {line}");
            assert_eq!(lazy.miss(line), want, "line {line}");
            assert_eq!(eager.is_most_recent(line), lazy.is_most_recent(line));
        }
        assert!(LruSets::new(1 << 10, 8).tags.iter().all(|&t| t == EMPTY));
        assert!(LruSets::new(1 << 19, 8).tags.iter().all(|&t| t == 0));
    }

    #[test]
    fn lru_levels_match_a_plain_reference_model_on_random_accesses() {
        let mut c = CacheHierarchy::new(&spec("l1d=16x2,l2=64x4,llc=none"));
        let mut l1 = Reference {
            sets: vec![Vec::new(); 8],
            ways: 2,
        };
        let mut l2 = Reference {
            sets: vec![Vec::new(); 16],
            ways: 4,
        };
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let x = xorshift(&mut state);
            // Runs of the same line (the shortcut) among scattered lines.
            let addr = if x.is_multiple_of(3) {
                (x >> 8) % 4096
            } else {
                (x >> 8) % 256
            };
            let size = 1 + (x >> 40) as u32 % 16;
            let (first, last) = (addr >> 6, (addr + u64::from(size) - 1) >> 6);
            let mut m1 = false;
            for l in first..=last {
                m1 |= l1.miss(l);
            }
            let want = if !m1 {
                Served::L1
            } else {
                let mut m2 = false;
                for l in first..=last {
                    m2 |= l2.miss(l);
                }
                if m2 {
                    Served::Mem
                } else {
                    Served::L2
                }
            };
            assert_eq!(c.data(addr, size), want, "{addr:#x}+{size}");
        }
    }

    #[test]
    fn true_lru_keeps_the_most_recent_ways() {
        // One set of 4 ways: lines 0..4 fill it, a use of line 0 makes line 1 the victim of
        // line 4, so line 0 hits and line 1 misses afterwards.
        let mut c = CacheHierarchy::new(&spec("l1d=4x4"));
        for l in 0..4 {
            c.data(l * 64, 1);
        }
        c.data(0, 1);
        c.data(4 * 64, 1);
        assert_eq!(c.data(0, 1), Served::L1);
        assert_eq!(c.data(64, 1), Served::Mem);
    }

    #[test]
    fn an_l1i_simulated_elsewhere_counts_as_the_hierarchy_s_own() {
        // A copy of the L1I alone takes every fetch; the hierarchy that hands its L1I over is
        // given only the fetches that missed the copy (and counts the hits), besides every load,
        // store and table read: its counters, and where each access was served, are a whole
        // hierarchy's, under LRU and FIFO, with fetches of one line, of two, and in parts.
        for text in [
            "l1i=4x2,l1d=4x2,l2=16x4,llc=64x4",
            "l1i=4x2,l1d=4x2,l2=none,llc=32x4,repl=fifo",
            "l1i=8x1,l1d=4x1,l2=16x2,llc=none,line=32",
        ] {
            let spec = spec(text);
            let mut whole = CacheHierarchy::new(&spec);
            let mut copy = CacheHierarchy::l1i_only(&spec);
            let mut rest = CacheHierarchy::new(&spec);
            rest.l1i_elsewhere();
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for _ in 0..20_000 {
                let r = xorshift(&mut x);
                let addr = r % 4096;
                let size = 1 + (r >> 20) as u32 % 12;
                match (r >> 40) % 6 {
                    0 | 1 => {
                        let want = whole.fetch(addr, size);
                        let got = match copy.fetch(addr, size) {
                            Served::L1 => {
                                rest.count_l1_hits(1, 0);
                                Served::L1
                            }
                            _ => rest.fetch(addr, size),
                        };
                        assert_eq!(got, want, "{text}: fetch {addr:#x},{size}");
                    }
                    2 => {
                        let parts = [(addr, size), ((addr + 1024) % 4096, 3)];
                        let want = whole.fetch_parts(&parts);
                        let got = match copy.fetch_parts(&parts) {
                            Served::L1 => {
                                rest.count_l1_hits(1, 0);
                                Served::L1
                            }
                            _ => rest.fetch_parts(&parts),
                        };
                        assert_eq!(got, want, "{text}: fetch in parts {parts:?}");
                    }
                    3 => assert_eq!(rest.pte(addr & !7, 8), whole.pte(addr & !7, 8)),
                    _ => assert_eq!(rest.data(addr, size), whole.data(addr, size)),
                }
            }
            assert_eq!(rest.stats(), whole.stats(), "{text}");
            assert!(whole.stats().l1i.misses > 1000, "{text}: the L1I misses");
        }
    }
}
