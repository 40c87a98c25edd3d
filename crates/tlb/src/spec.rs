//! TLB specs as users write them: `none`, a preset name, or `key=value` items separated by commas,
//! optionally after a preset whose settings they override (`skylake,repl=fifo`).
//!
//! Keys (geometries are `ENTRIESxWAYS` with a power-of-two set count; `none` removes a level):
//! - `l1=G` unified L1; `l1i=G,l1d=G` split instruction/data L1 (both or neither); `l2=G` the
//!   unified L2 (STLB), which needs an L1.
//! - `pwc=G` one page-walk cache of geometry `G` per upper page-table level; `psclN=G` (N = 2..=8)
//!   the cache of the level at height N above the leaf, ChampSim's PSCLN (`pscl2` caches the
//!   entries that point at leaf tables); `upwc=G` one unified cache tagged by level.
//! - `repl=lru|fifo|random|plru|bitplru` (default lru), `seed=N` (random only; default 1, nonzero);
//!   `l2incl=incl|excl|non` (default non; needs `l2`); `huge=separate|shared` (default separate);
//!   `asid=on|off` (default on).
//! - Latencies, in cycles, for the cycle model (`ptbench-replay` with a cache hierarchy):
//!   `l1_lat=N` an L1 TLB hit (default 1), `l2_lat=N` an L2 hit, as the total from the start of
//!   the lookup (default 9), `pwc_lat=N` a page-walk-cache lookup, hit or miss (default 1). A TLB
//!   miss costs the latency of the last level looked up plus the walk. The defaults are
//!   ChampSim's (`champsim_config.json`: ITLB and DTLB `latency` 1, STLB 8 after them) and the
//!   EMT artifact's page-walk cache (1 cycle); they print only when changed, so the canonical
//!   form of a spec that leaves them alone is what it was before they existed.
//!
//! Layout and cost: a [`TlbSpec`] is a small `Copy` value; parsing happens once per run, and the
//! [`Display`](std::fmt::Display) form is canonical (every setting that matters, fixed order), so
//! `parse(spec.to_string()) == spec`.

use crate::hierarchy::{HugeMode, Inclusion};
use crate::policy::{PolicyError, ReplPolicy};
use crate::pwc::{PwcSpec, MAX_LEVELS};
use crate::Geometry;
use ptbench_core::{closest, did_you_mean};
use std::fmt;
use thiserror::Error;

/// Why a TLB spec was rejected. Every variant names the offending key and value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlbSpecError {
    /// The spec is empty.
    #[error("empty TLB spec (use `none` for no TLB)")]
    Empty,
    /// The first item is neither a preset nor `key=value`.
    #[error("unknown TLB preset `{name}`; {}presets: {known} (see `ptbench tlbs`)", did_you_mean(suggestion.as_deref()))]
    UnknownPreset {
        /// The name given.
        name: String,
        /// The presets that exist.
        known: String,
        /// The preset closest to it, when one is close (by edit distance).
        suggestion: Option<&'static str>,
    },
    /// An item after the first that is not `key=value`.
    #[error("`{item}` is not key=value (a preset name may only come first)")]
    NotKeyValue {
        /// The item.
        item: String,
    },
    /// A key the spec language does not have.
    #[error("unknown TLB spec key `{key}`; {}keys: {known}", did_you_mean(suggestion.as_deref()))]
    UnknownKey {
        /// The key closest to it, when one is close (by edit distance).
        suggestion: Option<&'static str>,
        /// The key given.
        key: String,
        /// The keys that exist.
        known: &'static str,
    },
    /// A key given twice.
    #[error("TLB spec key `{key}` given twice")]
    Duplicate {
        /// The key.
        key: String,
    },
    /// A value that does not parse or is out of range.
    #[error("bad TLB spec value `{key}={value}`: {reason}")]
    BadValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// Two keys that exclude each other.
    #[error("TLB spec keys `{a}` and `{b}` cannot both be given: {reason}")]
    Conflict {
        /// One key.
        a: String,
        /// The other.
        b: String,
        /// Why.
        reason: &'static str,
    },
    /// A key that needs another one.
    #[error("TLB spec key `{key}` needs {needs}")]
    Missing {
        /// The key given.
        key: String,
        /// What it needs.
        needs: &'static str,
    },
    /// A replacement policy that cannot drive one of the arrays.
    #[error("`{key}={geometry}` has {} ways, and `repl={policy}` {}", geometry.ways(), source.requirement())]
    Policy {
        /// The policy's name.
        policy: &'static str,
        /// The array's key.
        key: &'static str,
        /// Its geometry.
        geometry: Geometry,
        /// Why.
        #[source]
        source: PolicyError,
    },
}

/// Every key, for suggestions (`pscl2` standing for `pscl2..pscl8`).
const KEYS: &[&str] = &[
    "l1", "l1i", "l1d", "l2", "pwc", "pscl2", "upwc", "ntlb", "hpwc", "repl", "seed", "l2incl",
    "huge", "asid", "l1_lat", "l2_lat", "pwc_lat",
];
/// The replacement policies `repl=` takes.
const POLICIES: &[&str] = &["lru", "fifo", "random", "plru", "bitplru"];

/// The L1 of a spec.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum L1Spec {
    /// No TLB at all.
    #[default]
    None,
    /// One L1 for fetches, loads and stores (`l1=`).
    Unified(Geometry),
    /// An instruction and a data L1 (`l1i=`, `l1d=`).
    Split {
        /// The instruction TLB.
        i: Geometry,
        /// The data TLB.
        d: Geometry,
    },
}

/// A parsed TLB spec: what [`TlbHierarchy::new`](crate::TlbHierarchy::new) builds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TlbSpec {
    /// The L1.
    pub l1: L1Spec,
    /// The unified L2 (STLB), if any.
    pub l2: Option<Geometry>,
    /// The page-walk caches.
    pub pwc: PwcSpec,
    /// Replacement in every TLB array (page-walk caches are always LRU).
    pub repl: ReplPolicy,
    /// Inclusion between L1 and L2.
    pub l2incl: Inclusion,
    /// Page sizes in separate or shared arrays.
    pub huge: HugeMode,
    /// Whether entries are tagged with ASIDs.
    pub asid: bool,
    /// Lookup latencies, for the cycle model.
    pub lat: TlbLatency,
    /// Nested designs: the nested TLB, guest-physical pages to host frames (`ntlb=`).
    pub ntlb: Option<Geometry>,
    /// Nested designs: one page-walk cache for the host table's upper levels (`hpwc=`).
    pub hpwc: Option<Geometry>,
}

/// Lookup latencies in cycles (see the module docs): totals from the start of a lookup.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlbLatency {
    /// An L1 TLB hit (and the L1 lookup of a miss when there is no L2).
    pub l1: u32,
    /// An L2 hit, or an L2 miss before its walk.
    pub l2: u32,
    /// A page-walk-cache lookup at the start of a walk, hit or miss.
    pub pwc: u32,
}

impl TlbLatency {
    /// ChampSim's TLB latencies (1, then 8 more for the STLB) and a 1-cycle page-walk cache.
    pub const DEFAULT: TlbLatency = TlbLatency {
        l1: 1,
        l2: 9,
        pwc: 1,
    };
}

impl Default for TlbLatency {
    fn default() -> TlbLatency {
        TlbLatency::DEFAULT
    }
}

/// The seed `repl=random` uses when none is given.
pub const DEFAULT_SEED: u64 = 1;

impl Default for TlbSpec {
    fn default() -> TlbSpec {
        TlbSpec::NONE
    }
}

/// A named spec, for `ptbench tlbs`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Preset {
    /// The name, usable as a spec (or as the first item of one).
    pub name: &'static str,
    /// One line on what it models.
    pub description: &'static str,
    /// The settings.
    pub spec: TlbSpec,
}

impl Preset {
    /// The canonical spec it stands for.
    pub fn canonical(&self) -> String {
        self.spec.to_string()
    }
}

const KNOWN_KEYS: &str =
    "l1, l1i, l1d, l2, pwc, pscl2..pscl8, upwc, repl, seed, l2incl, huge, asid, l1_lat, l2_lat, pwc_lat";

/// ChampSim's paging-structure caches as `per_height`: PSCL5 1 set x 2 ways, PSCL4 1 x 4, PSCL3
/// 2 x 4, PSCL2 4 x 8 (sets x ways, as ChampSim writes them).
const CHAMPSIM_PSCL: [Option<Geometry>; MAX_LEVELS + 1] = {
    let mut h = [None; MAX_LEVELS + 1];
    h[5] = Some(Geometry::known(2, 2));
    h[4] = Some(Geometry::known(4, 4));
    h[3] = Some(Geometry::known(8, 4));
    h[2] = Some(Geometry::known(32, 8));
    h
};

impl TlbSpec {
    /// No TLB and no page-walk cache.
    pub const NONE: TlbSpec = TlbSpec {
        l1: L1Spec::None,
        l2: None,
        pwc: PwcSpec::None,
        repl: ReplPolicy::Lru,
        l2incl: Inclusion::NonInclusive,
        huge: HugeMode::Separate,
        asid: true,
        lat: TlbLatency::DEFAULT,
        ntlb: None,
        hpwc: None,
    };

    /// `tiny`: one 4-entry fully associative L1, LRU, no L2 - small enough to follow by hand.
    pub const TINY: TlbSpec = TlbSpec {
        l1: L1Spec::Unified(Geometry::known(4, 4)),
        ..TlbSpec::NONE
    };

    /// `skylake`: L1 ITLB 128 entries 8-way, L1 DTLB 64 entries 4-way, STLB 1536 entries 12-way,
    /// LRU (Intel's optimization manual, 4 KiB entries; the separate huge-page arrays here take
    /// each level's geometry).
    pub const SKYLAKE: TlbSpec = TlbSpec {
        l1: L1Spec::Split {
            i: Geometry::known(128, 8),
            d: Geometry::known(64, 4),
        },
        l2: Some(Geometry::known(1536, 12)),
        ..TlbSpec::NONE
    };

    /// `champsim`: ChampSim's default configuration. ITLB 16 sets x 4 ways (64 entries), DTLB
    /// 16 x 4 (64), STLB 128 x 12 (1536), all LRU; page-structure caches PSCL5 1 x 2 (2 entries),
    /// PSCL4 1 x 4 (4), PSCL3 2 x 4 (8), PSCL2 4 x 8 (32). ChampSim fills every level a miss passed
    /// through and never back-invalidates, i.e. non-inclusive.
    ///
    /// Source: `champsim_config.json` of github.com/ChampSim/ChampSim (commit 92668af4b0bf, keys
    /// `ITLB`, `DTLB`, `STLB`, `PTW.pscl{5,4,3,2}_{set,way}`) and `inc/defaults.hpp`
    /// (`default_itlb`, `default_dtlb`, `default_stlb`, and `default_ptw` with
    /// `add_pscl(5,1,2)`, `add_pscl(4,1,4)`, `add_pscl(3,2,4)`, `add_pscl(2,4,8)`, as
    /// `(level, sets, ways)`); `src/ptw.cc` shows PSCL`k` keyed by the address bits above level
    /// `k`'s index, yielding the next-lower table (`PSCL5`: "Translation from L5->L4").
    pub const CHAMPSIM: TlbSpec = TlbSpec {
        l1: L1Spec::Split {
            i: Geometry::known(64, 4),
            d: Geometry::known(64, 4),
        },
        l2: Some(Geometry::known(1536, 12)),
        pwc: PwcSpec::Split {
            per_height: CHAMPSIM_PSCL,
        },
        ..TlbSpec::NONE
    };

    /// Parses a spec (see the module docs).
    pub fn parse(s: &str) -> Result<TlbSpec, TlbSpecError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TlbSpecError::Empty);
        }
        let mut items = s.split(',').map(str::trim).peekable();
        let mut b = Builder::default();
        if let Some(first) = items.next_if(|i| !i.contains('=')) {
            let known = presets();
            let preset = known.iter().find(|p| p.name == first).ok_or_else(|| {
                TlbSpecError::UnknownPreset {
                    suggestion: closest(first, known.iter().map(|p| p.name)),
                    name: first.to_string(),
                    known: known.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
                }
            })?;
            b.start(&preset.spec);
        }
        for item in items {
            let Some((key, value)) = item.split_once('=') else {
                return Err(TlbSpecError::NotKeyValue {
                    item: item.to_string(),
                });
            };
            b.set(key.trim(), value.trim())?;
        }
        b.finish()
    }

    /// Whether the spec has any TLB level.
    pub fn has_tlb(&self) -> bool {
        self.l1 != L1Spec::None
    }

    /// Checks what the types alone cannot: an L2 needs an L1, and the replacement policy must be
    /// able to drive every TLB array's ways.
    pub fn validate(&self) -> Result<(), TlbSpecError> {
        if self.l2.is_some() && !self.has_tlb() {
            return Err(TlbSpecError::Missing {
                key: "l2".into(),
                needs: "an L1 (`l1=` or `l1i=`/`l1d=`)",
            });
        }
        let arrays: [(&'static str, Option<Geometry>); 4] = match self.l1 {
            L1Spec::None => [("l1", None), ("l1i", None), ("l1d", None), ("l2", self.l2)],
            L1Spec::Unified(g) => [
                ("l1", Some(g)),
                ("l1i", None),
                ("l1d", None),
                ("l2", self.l2),
            ],
            L1Spec::Split { i, d } => [
                ("l1", None),
                ("l1i", Some(i)),
                ("l1d", Some(d)),
                ("l2", self.l2),
            ],
        };
        for (key, g) in arrays {
            if let Some(geometry) = g {
                self.repl
                    .check_ways(geometry.ways())
                    .map_err(|source| TlbSpecError::Policy {
                        policy: self.repl.name(),
                        key,
                        geometry,
                        source,
                    })?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for TlbSpec {
    type Err = TlbSpecError;
    fn from_str(s: &str) -> Result<TlbSpec, TlbSpecError> {
        TlbSpec::parse(s)
    }
}

/// The named presets, for `ptbench tlbs`.
pub fn presets() -> Vec<Preset> {
    vec![
        Preset {
            name: "none",
            description: "no TLB: every access walks the page table",
            spec: TlbSpec::NONE,
        },
        Preset {
            name: "tiny",
            description: "for teaching: one 4-entry fully associative LRU L1, no L2",
            spec: TlbSpec::TINY,
        },
        Preset {
            name: "skylake",
            description: "Intel Skylake-like: ITLB 128x8, DTLB 64x4, STLB 1536x12, LRU",
            spec: TlbSpec::SKYLAKE,
        },
        Preset {
            name: "champsim",
            description:
                "ChampSim defaults: ITLB/DTLB 64x4, STLB 1536x12, PSCL5..2 2x2/4x4/8x4/32x8, LRU",
            spec: TlbSpec::CHAMPSIM,
        },
    ]
}

/// Parse state: the preset's settings with the user's items applied in order.
#[derive(Default)]
struct Builder {
    spec: TlbSpec,
    l1: Option<Geometry>,
    l1i: Option<Geometry>,
    l1d: Option<Geometry>,
    per_height: [Option<Geometry>; MAX_LEVELS + 1],
    upwc: Option<Geometry>,
    seed: Option<u64>,
    random: bool,
    given: Vec<String>,
}

fn bad(key: &str, value: &str, reason: impl Into<String>) -> TlbSpecError {
    TlbSpecError::BadValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// `G` or `none`.
fn geometry_or_none(key: &str, value: &str) -> Result<Option<Geometry>, TlbSpecError> {
    if value == "none" {
        return Ok(None);
    }
    value
        .parse::<Geometry>()
        .map(Some)
        .map_err(|reason| bad(key, value, reason))
}

fn geometry(key: &str, value: &str) -> Result<Geometry, TlbSpecError> {
    value
        .parse::<Geometry>()
        .map_err(|reason| bad(key, value, reason))
}

impl Builder {
    fn start(&mut self, preset: &TlbSpec) {
        self.spec = *preset;
        match preset.l1 {
            L1Spec::None => {}
            L1Spec::Unified(g) => self.l1 = Some(g),
            L1Spec::Split { i, d } => {
                self.l1i = Some(i);
                self.l1d = Some(d);
            }
        }
        match preset.pwc {
            PwcSpec::None => {}
            PwcSpec::Split { per_height } => self.per_height = per_height,
            PwcSpec::Unified(g) => self.upwc = Some(g),
        }
        if let ReplPolicy::Random { seed } = preset.repl {
            self.random = true;
            self.seed = Some(seed);
        }
    }

    fn gave(&self, key: &str) -> bool {
        self.given.iter().any(|k| k == key)
    }

    fn conflict(
        &self,
        key: &str,
        others: &[&str],
        reason: &'static str,
    ) -> Result<(), TlbSpecError> {
        match others.iter().find(|o| self.gave(o)) {
            Some(o) => Err(TlbSpecError::Conflict {
                a: o.to_string(),
                b: key.to_string(),
                reason,
            }),
            None => Ok(()),
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), TlbSpecError> {
        if self.gave(key) {
            return Err(TlbSpecError::Duplicate { key: key.into() });
        }
        const L1_VS_SPLIT: &str = "`l1` is a unified L1, `l1i`/`l1d` a split one";
        const SPLIT_VS_UNIFIED_PWC: &str =
            "`pwc`/`psclN` are per-level caches, `upwc` one unified cache";
        match key {
            "l1" => {
                self.conflict(key, &["l1i", "l1d"], L1_VS_SPLIT)?;
                self.l1 = geometry_or_none(key, value)?;
                self.l1i = None;
                self.l1d = None;
            }
            "l1i" | "l1d" => {
                self.conflict(key, &["l1"], L1_VS_SPLIT)?;
                let g = Some(geometry(key, value)?);
                self.l1 = None;
                if key == "l1i" {
                    self.l1i = g;
                } else {
                    self.l1d = g;
                }
            }
            "l2" => self.spec.l2 = geometry_or_none(key, value)?,
            "ntlb" => self.spec.ntlb = geometry_or_none(key, value)?,
            "hpwc" => self.spec.hpwc = geometry_or_none(key, value)?,
            "pwc" => {
                self.conflict(key, &["upwc"], SPLIT_VS_UNIFIED_PWC)?;
                let g = geometry_or_none(key, value)?;
                self.upwc = None;
                for h in 2..=MAX_LEVELS {
                    // A psclN given earlier keeps its own geometry.
                    if !self.gave(&format!("pscl{h}")) {
                        self.per_height[h] = g;
                    }
                }
            }
            "upwc" => {
                self.conflict(key, &["pwc"], SPLIT_VS_UNIFIED_PWC)?;
                if self.given.iter().any(|k| k.starts_with("pscl")) {
                    return Err(TlbSpecError::Conflict {
                        a: "psclN".into(),
                        b: key.into(),
                        reason: SPLIT_VS_UNIFIED_PWC,
                    });
                }
                self.upwc = geometry_or_none(key, value)?;
                self.per_height = [None; MAX_LEVELS + 1];
            }
            _ if key.starts_with("pscl") => {
                let h: usize = key[4..]
                    .parse()
                    .ok()
                    .filter(|h| (2..=MAX_LEVELS).contains(h))
                    .ok_or_else(|| TlbSpecError::UnknownKey {
                        suggestion: closest(key, KEYS.iter().copied()),
                        key: key.into(),
                        known: KNOWN_KEYS,
                    })?;
                self.conflict(key, &["upwc"], SPLIT_VS_UNIFIED_PWC)?;
                self.per_height[h] = geometry_or_none(key, value)?;
                self.upwc = None;
            }
            "repl" => {
                self.random = false;
                self.spec.repl = match value {
                    "lru" => ReplPolicy::Lru,
                    "fifo" => ReplPolicy::Fifo,
                    "random" => {
                        self.random = true;
                        ReplPolicy::Random { seed: 0 }
                    }
                    "plru" => ReplPolicy::TreePlru,
                    "bitplru" => ReplPolicy::BitPlru,
                    _ => {
                        let hint = closest(value, POLICIES.iter().copied())
                            .map_or_else(String::new, |p| format!(" (did you mean `{p}`?)"));
                        return Err(bad(
                            key,
                            value,
                            format!("expected lru, fifo, random, plru or bitplru{hint}"),
                        ));
                    }
                };
            }
            "seed" => {
                let seed: u64 = value
                    .parse()
                    .map_err(|_| bad(key, value, "expected a whole number"))?;
                if seed == 0 {
                    return Err(bad(key, value, "xorshift needs a nonzero seed"));
                }
                self.seed = Some(seed);
            }
            "l2incl" => {
                self.spec.l2incl = match value {
                    "incl" | "inclusive" => Inclusion::Inclusive,
                    "excl" | "exclusive" => Inclusion::Exclusive,
                    "non" | "non-inclusive" | "nine" => Inclusion::NonInclusive,
                    _ => return Err(bad(key, value, "expected incl, excl or non")),
                }
            }
            "huge" => {
                self.spec.huge = match value {
                    "separate" => HugeMode::Separate,
                    "shared" => HugeMode::Shared,
                    _ => return Err(bad(key, value, "expected separate or shared")),
                }
            }
            "l1_lat" | "l2_lat" | "pwc_lat" => {
                let cycles = value
                    .parse::<u32>()
                    .ok()
                    .filter(|&c| c <= 1_000_000)
                    .ok_or_else(|| bad(key, value, "expected a number of cycles, 0 to 1000000"))?;
                match key {
                    "l1_lat" => self.spec.lat.l1 = cycles,
                    "l2_lat" => self.spec.lat.l2 = cycles,
                    _ => self.spec.lat.pwc = cycles,
                }
            }
            "asid" => {
                self.spec.asid = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(bad(key, value, "expected on or off")),
                }
            }
            _ => {
                return Err(TlbSpecError::UnknownKey {
                    suggestion: closest(key, KEYS.iter().copied()),
                    key: key.into(),
                    known: KNOWN_KEYS,
                })
            }
        }
        self.given.push(key.to_string());
        Ok(())
    }

    fn finish(mut self) -> Result<TlbSpec, TlbSpecError> {
        self.spec.l1 = match (self.l1, self.l1i, self.l1d) {
            (Some(g), _, _) => L1Spec::Unified(g),
            (None, Some(i), Some(d)) => L1Spec::Split { i, d },
            (None, Some(_), None) => {
                return Err(TlbSpecError::Missing {
                    key: "l1i".into(),
                    needs: "`l1d` too (or `l1=` for a unified L1)",
                })
            }
            (None, None, Some(_)) => {
                return Err(TlbSpecError::Missing {
                    key: "l1d".into(),
                    needs: "`l1i` too (or `l1=` for a unified L1)",
                })
            }
            (None, None, None) => L1Spec::None,
        };
        self.spec.pwc = match self.upwc {
            Some(g) => PwcSpec::Unified(g),
            None if self.per_height.iter().any(Option::is_some) => PwcSpec::Split {
                per_height: self.per_height,
            },
            None => PwcSpec::None,
        };
        if self.random {
            self.spec.repl = ReplPolicy::Random {
                seed: self.seed.unwrap_or(DEFAULT_SEED),
            };
        } else if self.gave("seed") {
            return Err(TlbSpecError::Missing {
                key: "seed".into(),
                needs: "`repl=random`",
            });
        }
        let has_tlb = self.spec.has_tlb();
        if self.gave("l2incl") && self.spec.l2.is_none() {
            return Err(TlbSpecError::Missing {
                key: "l2incl".into(),
                needs: "an L2 (`l2=`)",
            });
        }
        for key in ["repl", "huge"] {
            if self.gave(key) && !has_tlb {
                return Err(TlbSpecError::Missing {
                    key: key.into(),
                    needs: "a TLB (`l1=` or `l1i=`/`l1d=`)",
                });
            }
        }
        for (key, needs, has) in [
            ("l1_lat", "a TLB (`l1=` or `l1i=`/`l1d=`)", has_tlb),
            ("l2_lat", "an L2 (`l2=`)", self.spec.l2.is_some()),
            (
                "pwc_lat",
                "a page-walk cache (`pwc=`, `psclN=` or `upwc=`)",
                !self.spec.pwc.is_none(),
            ),
        ] {
            if self.gave(key) && !has {
                return Err(TlbSpecError::Missing {
                    key: key.into(),
                    needs,
                });
            }
        }
        if !has_tlb {
            self.spec.lat.l1 = TlbLatency::DEFAULT.l1;
        }
        if self.spec.l2.is_none() {
            self.spec.lat.l2 = TlbLatency::DEFAULT.l2;
        }
        if self.spec.pwc.is_none() {
            self.spec.lat.pwc = TlbLatency::DEFAULT.pwc;
        }
        if self.gave("asid") && !has_tlb && self.spec.pwc.is_none() {
            return Err(TlbSpecError::Missing {
                key: "asid".into(),
                needs: "a TLB or a page-walk cache",
            });
        }
        if !has_tlb {
            // Settings without arrays to apply to; kept at their defaults so the spec prints
            // and compares canonically.
            self.spec.repl = ReplPolicy::Lru;
            self.spec.huge = HugeMode::Separate;
        }
        if self.spec.l2.is_none() {
            self.spec.l2incl = Inclusion::NonInclusive;
        }
        if !has_tlb && self.spec.pwc.is_none() {
            self.spec.asid = true;
        }
        self.spec.validate()?;
        Ok(self.spec)
    }
}

impl fmt::Display for TlbSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        match self.l1 {
            L1Spec::None => {}
            L1Spec::Unified(g) => items.push(format!("l1={g}")),
            L1Spec::Split { i, d } => {
                items.push(format!("l1i={i}"));
                items.push(format!("l1d={d}"));
            }
        }
        if let Some(g) = self.l2 {
            items.push(format!("l2={g}"));
        }
        match &self.pwc {
            PwcSpec::None => {}
            PwcSpec::Unified(g) => items.push(format!("upwc={g}")),
            PwcSpec::Split { per_height } => {
                let heights = &per_height[2..];
                let top = heights[heights.len() - 1];
                let uniform = heights.iter().all(Option::is_some);
                if uniform {
                    if let Some(g) = top {
                        items.push(format!("pwc={g}"));
                    }
                }
                for (h, g) in per_height.iter().enumerate().skip(2) {
                    match g {
                        Some(g) if !(uniform && Some(*g) == top) => {
                            items.push(format!("pscl{h}={g}"))
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some(g) = self.ntlb {
            items.push(format!("ntlb={g}"));
        }
        if let Some(g) = self.hpwc {
            items.push(format!("hpwc={g}"));
        }
        if self.has_tlb() {
            items.push(format!("repl={}", self.repl.name()));
            if let ReplPolicy::Random { seed } = self.repl {
                items.push(format!("seed={seed}"));
            }
            if self.l2.is_some() {
                items.push(format!("l2incl={}", self.l2incl.name()));
            }
            items.push(format!("huge={}", self.huge.name()));
        }
        if self.has_tlb() || !self.pwc.is_none() {
            items.push(format!("asid={}", if self.asid { "on" } else { "off" }));
        }
        // Latencies only when changed: specs that leave them alone print as they always did.
        let d = TlbLatency::DEFAULT;
        for (key, v, dv) in [
            ("l1_lat", self.lat.l1, d.l1),
            ("l2_lat", self.lat.l2, d.l2),
            ("pwc_lat", self.lat.pwc, d.pwc),
        ] {
            if v != dv {
                items.push(format!("{key}={v}"));
            }
        }
        if items.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&items.join(","))
        }
    }
}
