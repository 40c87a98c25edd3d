//! The shape of one set-associative array: `entries` slots in `entries / ways` sets of `ways` ways.
//!
//! Layout: the set count must be a power of two, so the set of a tag is `tag & (sets - 1)`, one AND
//! and no division; the ways may be any number from 1 up (12 ways x 128 sets = 1536 entries is
//! fine). A fully associative array is one set (`ways == entries`), a direct-mapped one has one way.
//!
//! Cost model: a geometry is checked once, when a spec is parsed or an array built; nothing on the
//! lookup path divides or validates.

use std::fmt;
use thiserror::Error;

/// The largest number of entries one array may have (16 Mi): a bound against typos that would
/// otherwise allocate gigabytes.
pub const MAX_ENTRIES: u32 = 1 << 24;

/// Why a geometry was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GeometryError {
    /// Zero entries.
    #[error("an array needs at least one entry")]
    ZeroEntries,
    /// Zero ways.
    #[error("an array needs at least one way")]
    ZeroWays,
    /// More ways than entries.
    #[error("{ways} ways exceed the {entries} entries")]
    MoreWaysThanEntries {
        /// Entries given.
        entries: u32,
        /// Ways given.
        ways: u32,
    },
    /// The entries do not split into whole sets.
    #[error("{entries} entries are not divisible by {ways} ways")]
    NotDivisible {
        /// Entries given.
        entries: u32,
        /// Ways given.
        ways: u32,
    },
    /// The set count is not a power of two.
    #[error("{entries} entries / {ways} ways = {sets} sets, which is not a power of two")]
    SetsNotPowerOfTwo {
        /// Entries given.
        entries: u32,
        /// Ways given.
        ways: u32,
        /// The resulting set count.
        sets: u32,
    },
    /// More entries than [`MAX_ENTRIES`].
    #[error("{entries} entries exceed the limit of {max}")]
    TooLarge {
        /// Entries given.
        entries: u32,
        /// The limit.
        max: u32,
    },
}

/// The geometry of a set-associative array: total entries and ways per set.
///
/// Written `ENTRIESxWAYS` in specs (`64x4` = 16 sets of 4 ways; `4x4` = fully associative).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    entries: u32,
    ways: u32,
}

impl Geometry {
    /// `entries` slots of `ways` ways per set; the set count `entries / ways` must be a whole power
    /// of two.
    pub const fn new(entries: u32, ways: u32) -> Result<Geometry, GeometryError> {
        if entries == 0 {
            return Err(GeometryError::ZeroEntries);
        }
        if ways == 0 {
            return Err(GeometryError::ZeroWays);
        }
        if entries > MAX_ENTRIES {
            return Err(GeometryError::TooLarge {
                entries,
                max: MAX_ENTRIES,
            });
        }
        if ways > entries {
            return Err(GeometryError::MoreWaysThanEntries { entries, ways });
        }
        if !entries.is_multiple_of(ways) {
            return Err(GeometryError::NotDivisible { entries, ways });
        }
        let sets = entries / ways;
        if !sets.is_power_of_two() {
            return Err(GeometryError::SetsNotPowerOfTwo {
                entries,
                ways,
                sets,
            });
        }
        Ok(Geometry { entries, ways })
    }

    /// A geometry known valid at compile time (for presets); panics during const evaluation
    /// otherwise, so an invalid preset does not build.
    pub(crate) const fn known(entries: u32, ways: u32) -> Geometry {
        match Geometry::new(entries, ways) {
            Ok(g) => g,
            Err(_) => panic!("invalid built-in geometry"),
        }
    }

    /// A fully associative array of `entries` entries (one set).
    pub fn fully_associative(entries: u32) -> Result<Geometry, GeometryError> {
        Geometry::new(entries, entries)
    }

    /// `sets * ways` slots from a set count (power of two) and ways per set.
    pub fn from_sets(sets: u32, ways: u32) -> Result<Geometry, GeometryError> {
        let entries = sets.checked_mul(ways).ok_or(GeometryError::TooLarge {
            entries: u32::MAX,
            max: MAX_ENTRIES,
        })?;
        Geometry::new(entries, ways)
    }

    /// Total entries.
    #[inline(always)]
    pub const fn entries(self) -> u32 {
        self.entries
    }

    /// Ways per set.
    #[inline(always)]
    pub const fn ways(self) -> u32 {
        self.ways
    }

    /// Sets (a power of two).
    #[inline(always)]
    pub const fn sets(self) -> u32 {
        self.entries / self.ways
    }
}

impl fmt::Display for Geometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.entries, self.ways)
    }
}

impl std::str::FromStr for Geometry {
    type Err = String;

    /// Parses `ENTRIESxWAYS`; the error is a one-line reason (the spec parser adds the key).
    fn from_str(s: &str) -> Result<Geometry, String> {
        let (e, w) = s
            .split_once(['x', 'X'])
            .ok_or_else(|| "expected ENTRIESxWAYS, e.g. 64x4".to_string())?;
        let entries = count("entries", e)?;
        let ways = count("ways", w)?;
        Geometry::new(entries, ways).map_err(|e| e.to_string())
    }
}

/// A count of entries or ways: a whole number, at most [`MAX_ENTRIES`].
fn count(what: &str, s: &str) -> Result<u32, String> {
    let t = s.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} `{s}` is not a whole number"));
    }
    match t.parse::<u64>() {
        Ok(n) if n <= u64::from(MAX_ENTRIES) => Ok(n as u32),
        _ => Err(format!(
            "{what} {t} is too large: the limit is {MAX_ENTRIES} (2^24)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometries() {
        let g = Geometry::new(1536, 12).unwrap();
        assert_eq!(
            (g.sets(), g.ways(), g.to_string()),
            (128, 12, "1536x12".into())
        );
        assert_eq!(Geometry::fully_associative(4).unwrap().sets(), 1);
        assert_eq!(
            Geometry::fully_associative(0),
            Err(GeometryError::ZeroEntries)
        );
        assert_eq!(Geometry::from_sets(16, 4).unwrap().entries(), 64);
        assert_eq!(
            Geometry::new(96, 4),
            Err(GeometryError::SetsNotPowerOfTwo {
                entries: 96,
                ways: 4,
                sets: 24
            })
        );
        assert_eq!(
            Geometry::new(10, 4),
            Err(GeometryError::NotDivisible {
                entries: 10,
                ways: 4
            })
        );
        assert_eq!(Geometry::new(0, 4), Err(GeometryError::ZeroEntries));
        assert_eq!(Geometry::new(4, 0), Err(GeometryError::ZeroWays));
        assert!(matches!(
            Geometry::new(4, 8),
            Err(GeometryError::MoreWaysThanEntries { .. })
        ));
        assert!(matches!(
            Geometry::new(1 << 25, 1),
            Err(GeometryError::TooLarge { .. })
        ));
        assert_eq!(
            "64X4".parse::<Geometry>(),
            Geometry::new(64, 4).map_err(|e| e.to_string())
        );
        assert!("64".parse::<Geometry>().is_err());
        assert!("ax4".parse::<Geometry>().is_err());
        assert!("4xb".parse::<Geometry>().is_err());
        assert_eq!(
            "4294967296x8".parse::<Geometry>(),
            Err("entries 4294967296 is too large: the limit is 16777216 (2^24)".to_string())
        );
        assert_eq!(
            "64x99999999999999999999999".parse::<Geometry>(),
            Err(
                "ways 99999999999999999999999 is too large: the limit is 16777216 (2^24)"
                    .to_string()
            )
        );
    }
}
