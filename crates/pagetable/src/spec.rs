//! Design specs as users write them on the command line: `NAME[:key=value,...]`.

use crate::{Radix, RadixConfig, Reference};
use ptbench_core::{EntryWidth, MapError, MemError, PageSize, PageTable, PhysMem};
use std::fmt;
use thiserror::Error;

/// Why a design spec was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// No design of that name.
    #[error("unknown design `{name}`; known designs: {known} (see `ptbench designs`)")]
    UnknownDesign {
        /// The name given.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// A parameter the design does not take.
    #[error("design `{design}` has no parameter `{key}`; it takes: {known}")]
    UnknownParam {
        /// The design.
        design: String,
        /// The key given.
        key: String,
        /// The keys it takes.
        known: String,
    },
    /// A value that does not parse or is out of range.
    #[error("design `{design}`: bad value `{value}` for `{key}`: {reason}")]
    BadValue {
        /// The design.
        design: String,
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// The parameters parse but describe a design that cannot work.
    #[error("design `{design}`: {reason}")]
    Geometry {
        /// The design.
        design: String,
        /// What is wrong.
        reason: String,
    },
}

/// A parameter of a design, for `ptbench designs`.
#[derive(Clone, Copy, Debug)]
pub struct ParamInfo {
    /// The key.
    pub key: &'static str,
    /// Its default.
    pub default: &'static str,
    /// What it means.
    pub help: &'static str,
}

/// A design or preset, for `ptbench designs`.
#[derive(Clone, Copy, Debug)]
pub struct DesignInfo {
    /// The name used in a spec.
    pub name: &'static str,
    /// One line on what it is.
    pub summary: &'static str,
    /// Its parameters (none for presets).
    pub params: &'static [ParamInfo],
}

const RADIX_PARAMS: &[ParamInfo] = &[
    ParamInfo {
        key: "levels",
        default: "4",
        help: "LEVELS, 1 to 6: tables on the path from the root to a leaf",
    },
    ParamInfo {
        key: "pobits",
        default: "12",
        help: "POBITS, 4 to 18: log2 of the page size; each table is one page",
    },
    ParamInfo {
        key: "pte_bytes",
        default: "8",
        help: "bytes per entry, 4 or 8; each level indexes POBITS - log2(pte_bytes) bits",
    },
];

const REFERENCE_PARAMS: &[ParamInfo] = &[
    ParamInfo {
        key: "pobits",
        default: "12",
        help: "log2 of the base page size",
    },
    ParamInfo {
        key: "va_bits",
        default: "64",
        help: "width of the virtual address space",
    },
];

/// Every design and preset `ptbench` knows.
pub const CATALOG: &[DesignInfo] = &[
    DesignInfo {
        name: "radix",
        summary: "n-level radix table, one page per table (the multi-level page-table assignment)",
        params: RADIX_PARAMS,
    },
    DesignInfo {
        name: "two-level",
        summary: "preset radix:levels=2,pobits=12,pte_bytes=4: the classic 32-bit layout, 1024 4-byte entries per table",
        params: &[],
    },
    DesignInfo {
        name: "x86-64",
        summary: "preset radix:levels=4,pobits=12: 512 8-byte entries per table, 48-bit addresses, 2 MiB and 1 GiB leaves",
        params: &[],
    },
    DesignInfo {
        name: "x86-64-5l",
        summary: "preset radix:levels=5,pobits=12: five-level paging (LA57), 57-bit addresses",
        params: &[],
    },
    DesignInfo {
        name: "reference",
        summary: "BTreeMap oracle for tests: no simulated memory, zero cost",
        params: REFERENCE_PARAMS,
    },
];

/// A parsed, validated design spec.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DesignSpec {
    /// A radix table; `preset` names it when it came from one.
    Radix {
        /// The geometry.
        cfg: RadixConfig,
        /// The preset name, if any.
        preset: Option<&'static str>,
    },
    /// The BTreeMap oracle.
    Reference {
        /// log2 of the base page size.
        pobits: u8,
        /// Virtual address width.
        va_bits: u8,
    },
}

impl DesignSpec {
    /// Parses `NAME[:key=value,...]`.
    pub fn parse(spec: &str) -> Result<DesignSpec, SpecError> {
        let spec = spec.trim();
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let info =
            CATALOG
                .iter()
                .find(|d| d.name == name)
                .ok_or_else(|| SpecError::UnknownDesign {
                    name: name.to_string(),
                    known: CATALOG
                        .iter()
                        .map(|d| d.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        let mut params: Vec<(&str, u64)> = Vec::new();
        for kv in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = kv.split_once('=').ok_or_else(|| SpecError::BadValue {
                design: name.to_string(),
                key: kv.to_string(),
                value: String::new(),
                reason: "expected key=value".to_string(),
            })?;
            let (key, value) = (key.trim(), value.trim());
            if !info.params.iter().any(|p| p.key == key) {
                return Err(SpecError::UnknownParam {
                    design: name.to_string(),
                    key: key.to_string(),
                    known: if info.params.is_empty() {
                        "nothing (it is a preset; use `radix:...` to change its geometry)".into()
                    } else {
                        info.params
                            .iter()
                            .map(|p| p.key)
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                });
            }
            let v = parse_int(value).ok_or_else(|| SpecError::BadValue {
                design: name.to_string(),
                key: key.to_string(),
                value: value.to_string(),
                reason: "expected a whole number".to_string(),
            })?;
            params.retain(|(k, _)| *k != key);
            params.push((key, v));
        }
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .unwrap_or_else(|| {
                    info.params
                        .iter()
                        .find(|p| p.key == key)
                        .and_then(|p| parse_int(p.default))
                        .unwrap_or(0)
                })
        };
        let small = |key: &str, max: u64| -> Result<u8, SpecError> {
            let v = get(key);
            if v > max {
                return Err(SpecError::BadValue {
                    design: name.to_string(),
                    key: key.to_string(),
                    value: v.to_string(),
                    reason: format!("at most {max}"),
                });
            }
            Ok(v as u8)
        };
        let geometry = |reason: String| SpecError::Geometry {
            design: spec.to_string(),
            reason,
        };
        let parsed = match name {
            "radix" => {
                let entry = match get("pte_bytes") {
                    4 => EntryWidth::U32,
                    8 => EntryWidth::U64,
                    other => {
                        return Err(SpecError::BadValue {
                            design: name.into(),
                            key: "pte_bytes".into(),
                            value: other.to_string(),
                            reason: "must be 4 or 8".into(),
                        })
                    }
                };
                let cfg = RadixConfig {
                    levels: small("levels", 255)?,
                    pobits: small("pobits", 255)?,
                    entry,
                };
                cfg.validate().map_err(geometry)?;
                DesignSpec::Radix { cfg, preset: None }
            }
            "two-level" => DesignSpec::Radix {
                cfg: RadixConfig::TWO_LEVEL,
                preset: Some("two-level"),
            },
            "x86-64" => DesignSpec::Radix {
                cfg: RadixConfig::X86_64,
                preset: Some("x86-64"),
            },
            "x86-64-5l" => DesignSpec::Radix {
                cfg: RadixConfig::X86_64_5L,
                preset: Some("x86-64-5l"),
            },
            "reference" => {
                let pobits = small("pobits", 255)?;
                let va_bits = small("va_bits", 64)?;
                if PageSize::from_shift(pobits).is_none() || pobits > 30 {
                    return Err(geometry(format!("pobits={pobits} is outside 4..=30")));
                }
                if va_bits < pobits {
                    return Err(geometry(format!(
                        "va_bits={va_bits} is narrower than a page (pobits={pobits})"
                    )));
                }
                DesignSpec::Reference { pobits, va_bits }
            }
            _ => unreachable!("every catalog name is handled"),
        };
        Ok(parsed)
    }

    /// log2 of the base page size.
    pub fn page_shift(&self) -> u8 {
        match self {
            DesignSpec::Radix { cfg, .. } => cfg.pobits,
            DesignSpec::Reference { pobits, .. } => *pobits,
        }
    }

    /// Width of the virtual address space.
    pub fn va_bits(&self) -> u8 {
        match self {
            DesignSpec::Radix { cfg, .. } => cfg.va_bits() as u8,
            DesignSpec::Reference { va_bits, .. } => *va_bits,
        }
    }

    /// Empty simulated memory with the frame size and physical width this design needs.
    pub fn new_mem(&self) -> Result<PhysMem, MemError> {
        PhysMem::new(self.page_shift(), self.phys_bits())
    }

    /// Builds the design behind a trait object, in `mem` (from [`DesignSpec::new_mem`]). For tests
    /// and tools; the replay loop uses concrete types.
    pub fn build_boxed(&self, mem: &mut PhysMem) -> Result<Box<dyn PageTable + Send>, MapError> {
        Ok(match *self {
            DesignSpec::Radix { cfg, .. } => Box::new(Radix::new(cfg, mem)?),
            DesignSpec::Reference { pobits, va_bits } => {
                Box::new(Reference::with_default_sizes(pobits, va_bits)?)
            }
        })
    }

    /// Width of the physical address space the design's entries can address.
    pub fn phys_bits(&self) -> u8 {
        match self {
            DesignSpec::Radix { cfg, .. } => cfg.phys_bits(),
            DesignSpec::Reference { .. } => 52,
        }
    }
}

impl fmt::Display for DesignSpec {
    /// The canonical spec: the preset name, or `radix:levels=L,pobits=P` (with `pte_bytes=4` when
    /// not 8); parsing it gives the same design.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DesignSpec::Radix {
                preset: Some(p), ..
            } => f.write_str(p),
            DesignSpec::Radix { cfg, preset: None } => {
                write!(f, "radix:levels={},pobits={}", cfg.levels, cfg.pobits)?;
                if cfg.entry == EntryWidth::U32 {
                    f.write_str(",pte_bytes=4")?;
                }
                Ok(())
            }
            DesignSpec::Reference { pobits, va_bits } => {
                f.write_str("reference")?;
                let mut sep = ':';
                if *pobits != 12 {
                    write!(f, "{sep}pobits={pobits}")?;
                    sep = ',';
                }
                if *va_bits != 64 {
                    write!(f, "{sep}va_bits={va_bits}")?;
                }
                Ok(())
            }
        }
    }
}

fn parse_int(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_to_canonical_names() {
        let round = |s: &str| DesignSpec::parse(s).unwrap().to_string();
        assert_eq!(round("x86-64"), "x86-64");
        assert_eq!(
            round("radix:pobits=14,levels=3"),
            "radix:levels=3,pobits=14"
        );
        assert_eq!(round("radix"), "radix:levels=4,pobits=12");
        assert_eq!(
            round("radix:levels=2,pte_bytes=4"),
            "radix:levels=2,pobits=12,pte_bytes=4"
        );
        assert_eq!(round("reference:pobits=14"), "reference:pobits=14");
        assert_eq!(round("reference"), "reference");
        assert_eq!(
            DesignSpec::parse("radix:levels=3,pobits=14")
                .unwrap()
                .va_bits(),
            47
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |s: &str| DesignSpec::parse(s).unwrap_err().to_string();
        assert!(err("btree").contains("unknown design `btree`"));
        assert!(err("radix:depth=3").contains("takes: levels, pobits, pte_bytes"));
        assert!(err("radix:levels=x").contains("expected a whole number"));
        assert!(err("radix:levels=7").contains("outside 1..=6"));
        assert!(err("radix:levels=6,pobits=16").contains("> 64"));
        assert!(err("radix:pobits=3").contains("outside 4..=18"));
        assert!(err("radix:pte_bytes=2").contains("must be 4 or 8"));
        assert!(err("x86-64:levels=3").contains("it is a preset"));
        assert!(err("radix:levels").contains("expected key=value"));
    }
}
