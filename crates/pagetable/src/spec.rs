//! Design specs as users write them on the command line: `NAME[:key=value,...]`.
//!
//! Each design's configuration implements [`DesignConfig`]: its parameters with their defaults, how
//! to build it from parsed values, and how to build the table. Adding a design means one module with
//! one such impl, one [`CATALOG`] entry and one [`DesignSpec`] variant.

use crate::{
    EcptConfig, FlatConfig, HashedConfig, InvertedConfig, NestedConfig, Radix, RadixConfig,
    Reference,
};
pub use ptbench_core::closest;
use ptbench_core::did_you_mean;
use ptbench_core::{EntryWidth, MapError, MemError, PageSize, PageTable, PhysMem};
use std::fmt;
use thiserror::Error;

/// Why a design spec was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// No design of that name.
    #[error("unknown design `{name}`; {}known designs: {known} (see `ptbench designs`)", did_you_mean(suggestion.as_deref()))]
    UnknownDesign {
        /// The name given.
        name: String,
        /// The names that exist.
        known: String,
        /// The known name closest to it, when one is close (see `ptbench_core::closest`).
        suggestion: Option<&'static str>,
    },
    /// A parameter the design does not take.
    #[error("design `{design}` has no parameter `{key}`; {}it takes: {known}", did_you_mean(suggestion.as_deref()))]
    UnknownParam {
        /// The parameter closest to it, when one is close (see `ptbench_core::closest`).
        suggestion: Option<&'static str>,
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
    /// A parameter given more than once.
    #[error("design `{design}`: parameter `{key}` given twice (`{key}={first}` and `{key}={second}`); give it once")]
    DuplicateParam {
        /// The design.
        design: String,
        /// The key.
        key: String,
        /// Its first value.
        first: String,
        /// Its second value.
        second: String,
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

/// The `key=value` pairs of one spec, with each design's defaults behind them.
#[derive(Clone, Debug)]
pub struct ParamValues {
    design: &'static str,
    spec: String,
    params: &'static [ParamInfo],
    given: Vec<(String, String)>,
}

impl ParamValues {
    /// The value of `key`: as given, or its default.
    pub fn raw(&self, key: &str) -> &str {
        self.given
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .or_else(|| self.params.iter().find(|p| p.key == key).map(|p| p.default))
            .unwrap_or("")
    }

    fn bad(&self, key: &str, reason: String) -> SpecError {
        SpecError::BadValue {
            design: self.design.to_string(),
            key: key.to_string(),
            value: self.raw(key).to_string(),
            reason,
        }
    }

    /// A whole number (decimal, `0x` hex, `2^N`, or with a `k`/`m`/`g` binary suffix) in
    /// `min..=max`.
    pub fn u64_in(&self, key: &str, min: u64, max: u64) -> Result<u64, SpecError> {
        let v = parse_int_checked(self.raw(key)).map_err(|e| match e {
            IntError::NotANumber => self.bad(key, "expected a whole number".to_string()),
            IntError::TooLarge => self.bad(key, format!("too large: must be from {min} to {max}")),
        })?;
        if v < min || v > max {
            return Err(self.bad(key, format!("must be from {min} to {max}")));
        }
        Ok(v)
    }

    /// A small whole number in `min..=max`.
    pub fn u8_in(&self, key: &str, min: u8, max: u8) -> Result<u8, SpecError> {
        self.u64_in(key, u64::from(min), u64::from(max))
            .map(|v| v as u8)
    }

    /// A decimal number in `min..=max`.
    pub fn f64_in(&self, key: &str, min: f64, max: f64) -> Result<f64, SpecError> {
        let v: f64 = self
            .raw(key)
            .parse()
            .map_err(|_| self.bad(key, "expected a number".to_string()))?;
        if !(min..=max).contains(&v) {
            return Err(self.bad(key, format!("must be from {min} to {max}")));
        }
        Ok(v)
    }

    /// One of `choices`.
    pub fn choice(&self, key: &str, choices: &[&'static str]) -> Result<&'static str, SpecError> {
        let v = self.raw(key);
        choices
            .iter()
            .find(|c| **c == v)
            .copied()
            .ok_or_else(|| self.bad(key, format!("must be one of {}", choices.join(", "))))
    }

    /// An error saying the combination of values cannot work.
    pub fn geometry(&self, reason: impl Into<String>) -> SpecError {
        SpecError::Geometry {
            design: self.spec.clone(),
            reason: reason.into(),
        }
    }
}

/// A design's configuration: its parameters, and how to build its table.
pub trait DesignConfig: Sized + Clone + fmt::Debug + PartialEq {
    /// The name in a spec.
    const NAME: &'static str;
    /// One line on what it is, for `ptbench designs`.
    const SUMMARY: &'static str;
    /// The shape of a walk for the cycle model: which reads wait for which, for `ptbench designs`.
    const WALK: &'static str;
    /// Its parameters, with defaults.
    const PARAMS: &'static [ParamInfo];
    /// The table type.
    type Table: PageTable;

    /// The configuration from parsed values; rejects impossible combinations.
    fn from_params(p: &ParamValues) -> Result<Self, SpecError>;
    /// Its values for the canonical spec, in [`DesignConfig::PARAMS`] order.
    fn to_params(&self) -> Vec<(&'static str, String)>;
    /// log2 of the base page size.
    fn page_shift(&self) -> u8;
    /// Width of the virtual address space.
    fn va_bits(&self) -> u8;
    /// Width of the physical address space its entries can address.
    fn phys_bits(&self) -> u8 {
        52
    }
    /// Builds an empty table in `mem` (from [`DesignSpec::new_mem`]).
    fn build(&self, mem: &mut PhysMem) -> Result<Self::Table, MapError>;
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
    /// The shape of its walks, for the cycle model ([`DesignConfig::WALK`]).
    pub walk: &'static str,
}

const fn info<C: DesignConfig>() -> DesignInfo {
    DesignInfo {
        name: C::NAME,
        summary: C::SUMMARY,
        params: C::PARAMS,
        walk: C::WALK,
    }
}

const PRESETS: &[(&str, &str, RadixConfig)] = &[
    (
        "two-level",
        "preset radix:levels=2,pobits=12,pte_bytes=4: the classic 32-bit layout, 1024 4-byte entries per table",
        RadixConfig::TWO_LEVEL,
    ),
    (
        "x86-64",
        "preset radix:levels=4,pobits=12: 512 8-byte entries per table, 48-bit addresses, 2 MiB and 1 GiB leaves",
        RadixConfig::X86_64,
    ),
    (
        "x86-64-5l",
        "preset radix:levels=5,pobits=12: five-level paging (LA57), 57-bit addresses",
        RadixConfig::X86_64_5L,
    ),
];

/// Every design and preset `ptbench` knows, in the order `ptbench designs` lists them.
pub const CATALOG: &[DesignInfo] = &[
    info::<RadixConfig>(),
    DesignInfo {
        name: PRESETS[0].0,
        summary: PRESETS[0].1,
        params: &[],
        walk: RadixConfig::WALK,
    },
    DesignInfo {
        name: PRESETS[1].0,
        summary: PRESETS[1].1,
        params: &[],
        walk: RadixConfig::WALK,
    },
    DesignInfo {
        name: PRESETS[2].0,
        summary: PRESETS[2].1,
        params: &[],
        walk: RadixConfig::WALK,
    },
    info::<FlatConfig>(),
    info::<HashedConfig>(),
    info::<InvertedConfig>(),
    info::<EcptConfig>(),
    info::<ReferenceConfig>(),
    info::<NestedConfig>(),
];

/// A parsed, validated design spec.
#[derive(Clone, Debug, PartialEq)]
pub enum DesignSpec {
    /// A radix table; `preset` names it when it came from one.
    Radix {
        /// The geometry.
        cfg: RadixConfig,
        /// The preset name, if any.
        preset: Option<&'static str>,
    },
    /// A flat array.
    Flat(FlatConfig),
    /// The hashed design.
    Hashed(HashedConfig),
    /// The inverted design.
    Inverted(InvertedConfig),
    /// The ecpt design.
    Ecpt(EcptConfig),
    /// The BTreeMap oracle.
    Reference(ReferenceConfig),
    /// A guest design over a host design.
    Nested(NestedConfig),
}

/// Evaluates `$body` with `$c` bound to a `&DesignSpec`'s configuration (a different concrete
/// [`DesignConfig`] type in each arm), so generic code is monomorphized for every design.
#[macro_export]
macro_rules! with_design_config {
    ($spec:expr, $c:ident => $body:expr) => {
        match $spec {
            $crate::DesignSpec::Radix { cfg: $c, .. } => $body,
            $crate::DesignSpec::Flat($c) => $body,
            $crate::DesignSpec::Hashed($c) => $body,
            $crate::DesignSpec::Inverted($c) => $body,
            $crate::DesignSpec::Ecpt($c) => $body,
            $crate::DesignSpec::Reference($c) => $body,
            $crate::DesignSpec::Nested($c) => $body,
        }
    };
}

/// `s` split at its commas outside brackets (`guest=[radix:levels=3,pobits=14],host=x86-64`
/// is two parts); `None` when its brackets do not balance.
fn split_top(s: &str) -> Option<Vec<&str>> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1)?,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    (depth == 0).then(|| {
        parts.push(&s[start..]);
        parts
    })
}

/// `value` without the one pair of brackets around it, if it has them.
fn unbracket(value: &str) -> &str {
    value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .map_or(value, str::trim)
}

fn parse_as<C: DesignConfig>(
    name: &'static str,
    rest: &str,
    wrap: impl FnOnce(C) -> DesignSpec,
) -> Result<DesignSpec, SpecError> {
    let mut given: Vec<(String, String)> = Vec::new();
    let parts = split_top(rest).ok_or_else(|| SpecError::BadValue {
        design: name.to_string(),
        key: String::new(),
        value: rest.to_string(),
        reason: "unbalanced brackets (a value with commas goes in [ ])".to_string(),
    })?;
    for kv in parts.into_iter().map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = kv.split_once('=').ok_or_else(|| SpecError::BadValue {
            design: name.to_string(),
            key: kv.to_string(),
            value: String::new(),
            reason: "expected key=value".to_string(),
        })?;
        let key = key.trim();
        if !C::PARAMS.iter().any(|p| p.key == key) {
            return Err(SpecError::UnknownParam {
                suggestion: closest(key, C::PARAMS.iter().map(|p| p.key)),
                design: name.to_string(),
                key: key.to_string(),
                known: C::PARAMS
                    .iter()
                    .map(|p| p.key)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if let Some((_, first)) = given.iter().find(|(k, _)| k == key) {
            return Err(SpecError::DuplicateParam {
                design: name.to_string(),
                key: key.to_string(),
                first: first.clone(),
                second: value.trim().to_string(),
            });
        }
        given.push((key.to_string(), unbracket(value.trim()).to_string()));
    }
    let values = ParamValues {
        design: name,
        spec: if rest.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{rest}")
        },
        params: C::PARAMS,
        given,
    };
    C::from_params(&values).map(wrap)
}

impl DesignSpec {
    /// Parses `NAME[:key=value,...]`.
    pub fn parse(spec: &str) -> Result<DesignSpec, SpecError> {
        let spec = spec.trim();
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        if let Some(&(preset, _, cfg)) = PRESETS.iter().find(|p| p.0 == name) {
            if let Some(kv) = rest.split(',').map(str::trim).find(|s| !s.is_empty()) {
                return Err(SpecError::UnknownParam {
                    suggestion: None,
                    design: name.to_string(),
                    key: kv.split('=').next().unwrap_or(kv).to_string(),
                    known: "nothing (it is a preset; use `radix:...` to change its geometry)"
                        .to_string(),
                });
            }
            return Ok(DesignSpec::Radix {
                cfg,
                preset: Some(preset),
            });
        }
        match name {
            RadixConfig::NAME => parse_as(RadixConfig::NAME, rest, |cfg| DesignSpec::Radix {
                cfg,
                preset: None,
            }),
            FlatConfig::NAME => parse_as(FlatConfig::NAME, rest, DesignSpec::Flat),
            HashedConfig::NAME => parse_as(HashedConfig::NAME, rest, DesignSpec::Hashed),
            InvertedConfig::NAME => parse_as(InvertedConfig::NAME, rest, DesignSpec::Inverted),
            EcptConfig::NAME => parse_as(EcptConfig::NAME, rest, DesignSpec::Ecpt),
            ReferenceConfig::NAME => parse_as(ReferenceConfig::NAME, rest, DesignSpec::Reference),
            NestedConfig::NAME => parse_as(NestedConfig::NAME, rest, DesignSpec::Nested),
            _ => Err(SpecError::UnknownDesign {
                name: name.to_string(),
                suggestion: closest(name, CATALOG.iter().map(|d| d.name)),
                known: CATALOG
                    .iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// The design's name (`radix` for the radix presets too).
    pub fn name(&self) -> &'static str {
        fn name_of<C: DesignConfig>(_: &C) -> &'static str {
            C::NAME
        }
        with_design_config!(self, c => name_of(c))
    }

    /// log2 of the base page size.
    pub fn page_shift(&self) -> u8 {
        with_design_config!(self, c => DesignConfig::page_shift(c))
    }

    /// Width of the virtual address space.
    pub fn va_bits(&self) -> u8 {
        with_design_config!(self, c => DesignConfig::va_bits(c))
    }

    /// Width of the physical address space the design's entries can address.
    pub fn phys_bits(&self) -> u8 {
        with_design_config!(self, c => DesignConfig::phys_bits(c))
    }

    /// Empty simulated memory with the frame size and physical width this design needs.
    pub fn new_mem(&self) -> Result<PhysMem, MemError> {
        PhysMem::new(self.page_shift(), self.phys_bits())
    }

    /// Builds the design behind a trait object, in `mem` (from [`DesignSpec::new_mem`]). For tests
    /// and tools; the replay loop uses concrete types.
    pub fn build_boxed(&self, mem: &mut PhysMem) -> Result<Box<dyn PageTable + Send>, MapError> {
        fn boxed<C: DesignConfig>(
            c: &C,
            mem: &mut PhysMem,
        ) -> Result<Box<dyn PageTable + Send>, MapError>
        where
            C::Table: Send + 'static,
        {
            Ok(Box::new(c.build(mem)?))
        }
        with_design_config!(self, c => boxed(c, mem))
    }
}

impl fmt::Display for DesignSpec {
    /// The canonical spec: a preset's name, else the name with every parameter that differs from
    /// its default (radix always shows `levels` and `pobits`, flat `va_bits`); parsing it gives the same design.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write<C: DesignConfig>(
            c: &C,
            always: &[&str],
            f: &mut fmt::Formatter<'_>,
        ) -> fmt::Result {
            f.write_str(C::NAME)?;
            let mut sep = ':';
            for (key, value) in c.to_params() {
                let default = C::PARAMS
                    .iter()
                    .find(|p| p.key == key)
                    .map_or("", |p| p.default);
                let differs = match (parse_int(&value), parse_int(default)) {
                    (Some(a), Some(b)) => a != b,
                    _ => value != default,
                };
                if always.contains(&key) || differs {
                    write!(f, "{sep}{key}={value}")?;
                    sep = ',';
                }
            }
            Ok(())
        }
        match self {
            DesignSpec::Radix {
                preset: Some(p), ..
            } => f.write_str(p),
            DesignSpec::Radix { cfg, preset: None } => write(cfg, &["levels", "pobits"], f),
            // `va_bits` always: its default changed from 32 to 48, and labels stay unambiguous.
            DesignSpec::Flat(c) => write(c, &["va_bits"], f),
            DesignSpec::Hashed(c) => write(c, &[], f),
            DesignSpec::Inverted(c) => write(c, &[], f),
            DesignSpec::Ecpt(c) => write(c, &[], f),
            DesignSpec::Reference(c) => write(c, &[], f),
            DesignSpec::Nested(c) => write(c, &["guest", "host"], f),
        }
    }
}

/// A decimal number written compactly: plain where that is short (`0.6`, `1`), in scientific
/// notation otherwise (`1e-300`, not three hundred digits).
pub fn compact_f64(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 || !a.is_finite() || (1e-4..1e15).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Parses a whole number: decimal, `0x` hex, a power `B^E` (`2^20`), or decimal with a binary `k`,
/// `m` or `g` suffix.
pub fn parse_int(s: &str) -> Option<u64> {
    parse_int_checked(s).ok()
}

/// Why a whole number did not parse.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum IntError {
    /// Not a number at all.
    NotANumber,
    /// A number too large for 64 bits.
    TooLarge,
}

fn parse_int_checked(s: &str) -> Result<u64, IntError> {
    use std::num::IntErrorKind;
    let s = s.trim();
    let int = |r: Result<u64, std::num::ParseIntError>| {
        r.map_err(|e| match e.kind() {
            IntErrorKind::PosOverflow => IntError::TooLarge,
            _ => IntError::NotANumber,
        })
    };
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return int(u64::from_str_radix(hex, 16));
    }
    if let Some((b, e)) = s.split_once('^') {
        let b = int(b.trim().parse())?;
        let e: u32 = e.trim().parse().map_err(|_| IntError::NotANumber)?;
        return b.checked_pow(e).ok_or(IntError::TooLarge);
    }
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 20),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let v = int(digits.parse())?;
    v.checked_mul(1 << shift).ok_or(IntError::TooLarge)
}

impl DesignConfig for RadixConfig {
    const NAME: &'static str = "radix";
    const WALK: &'static str = "a chain: each level's entry names the next table, so each read waits for the one before; a page-walk-cache hit costs pwc_lat and skips the levels above the table it names";
    const SUMMARY: &'static str =
        "n-level radix table, one page per table (the multi-level page-table assignment)";
    const PARAMS: &'static [ParamInfo] = &[
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
    type Table = Radix;

    fn from_params(p: &ParamValues) -> Result<Self, SpecError> {
        let entry = match p.u64_in("pte_bytes", 0, u64::MAX)? {
            4 => EntryWidth::U32,
            8 => EntryWidth::U64,
            _ => return Err(p.bad("pte_bytes", "must be 4 or 8".to_string())),
        };
        let cfg = RadixConfig {
            levels: p.u64_in("levels", 0, 255)? as u8,
            pobits: p.u64_in("pobits", 0, 255)? as u8,
            entry,
        };
        cfg.validate().map_err(|e| p.geometry(e))?;
        Ok(cfg)
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("levels", self.levels.to_string()),
            ("pobits", self.pobits.to_string()),
            ("pte_bytes", self.entry.bytes().to_string()),
        ]
    }

    fn page_shift(&self) -> u8 {
        self.pobits
    }

    fn va_bits(&self) -> u8 {
        RadixConfig::va_bits(self) as u8
    }

    fn phys_bits(&self) -> u8 {
        RadixConfig::phys_bits(self)
    }

    fn build(&self, mem: &mut PhysMem) -> Result<Radix, MapError> {
        Radix::new(*self, mem)
    }
}

/// Configuration of the [`Reference`] oracle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReferenceConfig {
    /// log2 of the base page size.
    pub pobits: u8,
    /// Virtual address width.
    pub va_bits: u8,
}

impl DesignConfig for ReferenceConfig {
    const NAME: &'static str = "reference";
    const SUMMARY: &'static str = "BTreeMap oracle for tests: no simulated memory, zero cost";
    const WALK: &'static str = "reads nothing: no cycles";
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            key: "pobits",
            default: "12",
            help: "log2 of the base page size, 4 to 30",
        },
        ParamInfo {
            key: "va_bits",
            default: "64",
            help: "width of the virtual address space",
        },
    ];
    type Table = Reference;

    fn from_params(p: &ParamValues) -> Result<Self, SpecError> {
        let pobits = p.u8_in("pobits", 4, 30)?;
        let va_bits = p.u8_in("va_bits", 1, 64)?;
        if va_bits < pobits {
            return Err(p.geometry(format!(
                "va_bits={va_bits} is narrower than a page (pobits={pobits})"
            )));
        }
        Ok(ReferenceConfig { pobits, va_bits })
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("pobits", self.pobits.to_string()),
            ("va_bits", self.va_bits.to_string()),
        ]
    }

    fn page_shift(&self) -> u8 {
        self.pobits
    }

    fn va_bits(&self) -> u8 {
        self.va_bits
    }

    fn build(&self, _mem: &mut PhysMem) -> Result<Reference, MapError> {
        Reference::new(self.pobits, self.va_bits, &[PageSize::M2, PageSize::G1])
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
        assert_eq!(parse_int("4k"), Some(4096));
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("2M"), Some(2 << 20));
        assert_eq!(parse_int("x"), None);
        assert_eq!(parse_int("2^40"), Some(1 << 40));
        assert_eq!(parse_int("2^64"), None);
        assert_eq!(
            round("hashed:entries=2^20"),
            "hashed:entries=1048576",
            "powers are accepted and shown in full"
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let err = |s: &str| DesignSpec::parse(s).unwrap_err().to_string();
        assert!(err("btree").contains("unknown design `btree`"));
        assert!(err("radix:depth=3").contains("takes: levels, pobits, pte_bytes"));
        assert!(err("radix:levels=x").contains("expected a whole number"));
        assert_eq!(
            err("hashed:entries=99999999999999999999"),
            "design `hashed`: bad value `99999999999999999999` for `entries`: too large: must be \
             from 1 to 1099511627776"
        );
        assert!(err("hashed:entries=2^41").contains("must be from 1 to 1099511627776"));
        assert!(err("radix:levels=7").contains("outside 1..=6"));
        assert!(err("radix:levels=6,pobits=16").contains("> 64"));
        assert!(err("radix:pobits=3").contains("outside 4..=18"));
        assert!(err("radix:pte_bytes=2").contains("must be 4 or 8"));
        assert!(err("x86-64:levels=3").contains("it is a preset"));
        assert!(err("radix:levels").contains("expected key=value"));
        assert_eq!(
            err("radix:levels=3,levels=4"),
            "design `radix`: parameter `levels` given twice (`levels=3` and `levels=4`); give it once"
        );
        assert!(err("hashed:load=0.5,bucket=2,load=0.5").contains("`load` given twice"));
        assert_eq!(
            err("hashed:load=1e-300"),
            "design `hashed:load=1e-300`: load=1e-300 of 4096 entry slots holds no mapping before \
             the first resize: load must be from 1/4096 (0.000244140625) to 1"
        );
        assert_eq!(
            err("ecpt:load=1e-300"),
            "design `ecpt:load=1e-300`: load=1e-300 of 1536 slots holds no cluster before the \
             first resize: load must be from 1/1536 (0.0006510416666666666) to 1"
        );
        assert!(err("hashed:load=2").contains("must be from 0 to 1"));
        assert!(err("hashed:load=nan").contains("must be from 0 to 1"));
        assert_eq!(compact_f64(0.6), "0.6");
        assert_eq!(compact_f64(1e-300), "1e-300");
        assert_eq!(compact_f64(1.0), "1");
    }

    #[test]
    fn misspelt_names_get_the_closest_known_one() {
        let err = |s: &str| DesignSpec::parse(s).unwrap_err().to_string();
        let known =
            "radix, two-level, x86-64, x86-64-5l, flat, hashed, inverted, ecpt, reference, nested";
        assert_eq!(
            err("x86_64"),
            format!(
                "unknown design `x86_64`; did you mean `x86-64`? known designs: {known} (see `ptbench designs`)"
            )
        );
        assert_eq!(
            err("hashd"),
            format!(
                "unknown design `hashd`; did you mean `hashed`? known designs: {known} (see `ptbench designs`)"
            )
        );
        assert_eq!(
            err("btree"),
            format!("unknown design `btree`; known designs: {known} (see `ptbench designs`)")
        );
        assert_eq!(
            err("radix:level=3"),
            "design `radix` has no parameter `level`; did you mean `levels`? it takes: levels, \
             pobits, pte_bytes"
        );
    }

    #[test]
    fn every_catalog_entry_parses_with_its_defaults() {
        for d in CATALOG {
            let spec = DesignSpec::parse(d.name).unwrap();
            assert_eq!(DesignSpec::parse(&spec.to_string()).unwrap(), spec);
        }
    }

    /// No size parameter allocates its table on the host up front: every design at its largest
    /// accepted geometry builds, maps pages far apart and walks them, and the simulated memory
    /// stores only the frames written.
    #[test]
    fn the_largest_geometries_cost_host_memory_only_for_what_is_touched() {
        use ptbench_core::{Perms, Pfn, Pte, Vpn, WalkCost};
        for s in [
            "hashed:entries=2^40",
            "hashed:entries=2^40,collision=chain,bucket=8",
            "ecpt:entries=2^24,ways=8,cluster=16",
            "inverted:frames=2^28,hat=2^28",
            "flat:va_bits=57",
            "flat:va_bits=56,pobits=8",
            "radix:levels=6,pobits=10",
            "x86-64-5l",
        ] {
            let spec = DesignSpec::parse(s).unwrap();
            let mut mem = spec.new_mem().unwrap();
            let mut pt = spec.build_boxed(&mut mem).unwrap();
            let size = pt.page_sizes()[0];
            let page_bits = u32::from(spec.va_bits() - spec.page_shift());
            for (i, v) in [0, 1 << (page_bits / 2), (1u64 << page_bits) - 1]
                .into_iter()
                .enumerate()
            {
                let pte = Pte {
                    pfn: Pfn(i as u64 * 7),
                    perms: Perms::RW,
                    size,
                };
                pt.map(&mut mem, Vpn(v), pte).unwrap();
                assert_eq!(
                    pt.walk(&mem, Vpn(v), &mut WalkCost::default()),
                    Some(pte),
                    "{s}"
                );
            }
            assert!(
                mem.host_bytes() < 4 << 20,
                "{s}: {} host bytes",
                mem.host_bytes()
            );
        }
    }
}
