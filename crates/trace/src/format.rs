//! The trace formats, their names and how a name is parsed (for a `--format` flag).

use std::fmt;
use std::str::FromStr;

/// A trace format.
///
/// Text formats are recognised from the content; binary formats (ChampSim) from the file name,
/// since binary content cannot be told apart reliably. Any format can be forced with
/// [`open_as`](crate::open_as) or [`ReaderOptions::format`](crate::ReaderOptions::format).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Valgrind lackey `--trace-mem=yes` output (see [`lackey`](crate::lackey)).
    Lackey,
    /// `hhhhhhhh R|W` course traces (see [`hexrw`](crate::hexrw)).
    HexRw,
    /// Op-first `R|W hhhhhhhh [size]` lines, as hand-written Pin tools print them (see
    /// [`hexrw`](crate::hexrw)).
    OpFirst,
    /// Pin's ManualExamples `pinatrace` output, `ip: R|W addr` (see [`pinatrace`](crate::pinatrace)).
    Pinatrace,
    /// Pin's SimpleExamples `pinatrace` output, `ip: R|W addr size [value]`
    /// (see [`pinatrace`](crate::pinatrace)).
    PinatraceSized,
    /// Dinero IV's traditional `din` input, `label addr` (see [`dinero`](crate::dinero)).
    Din,
    /// Dinero IV's extended `din` input, `r|w|i|m|c|v addr size` (see [`dinero`](crate::dinero)).
    DinExtended,
    /// ChampSim's 64-byte `input_instr` binary records (see [`champsim`](crate::champsim)).
    ChampSim,
    /// ChampSim's 96-byte `cloudsuite_instr` binary records (see [`champsim`](crate::champsim)).
    ChampSimCloudsuite,
    /// ptbench's own binary format, `.ptbt` (see [`native`](crate::native)).
    Native,
    /// The text form of ptbench's format (see [`write`](crate::write)).
    NativeText,
    /// DynamoRIO's drmemtrace offline traces, a file or a directory of them (see
    /// [`drmemtrace`](crate::drmemtrace)).
    DrMemtrace,
}

impl Format {
    /// Every format, text formats first.
    pub const ALL: [Format; 12] = [
        Format::Lackey,
        Format::HexRw,
        Format::OpFirst,
        Format::Pinatrace,
        Format::PinatraceSized,
        Format::Din,
        Format::DinExtended,
        Format::ChampSim,
        Format::ChampSimCloudsuite,
        Format::Native,
        Format::NativeText,
        Format::DrMemtrace,
    ];

    /// The format's name in messages and in the CSV's `trace_format` column.
    pub fn name(self) -> &'static str {
        match self {
            Format::Lackey => "lackey",
            Format::HexRw => "hexaddr R|W",
            Format::OpFirst => "R|W hexaddr",
            Format::Pinatrace => "pinatrace",
            Format::PinatraceSized => "pinatrace (SimpleExamples)",
            Format::Din => "din",
            Format::DinExtended => "extended din",
            Format::ChampSim => "champsim",
            Format::ChampSimCloudsuite => "champsim cloudsuite",
            Format::Native => "ptbench",
            Format::NativeText => "ptbench text",
            Format::DrMemtrace => "drmemtrace",
        }
    }

    /// The short name a command line uses for the format (`--format KEY`), which
    /// [`Format::from_str`] reads back.
    pub fn key(self) -> &'static str {
        match self {
            Format::Lackey => "lackey",
            Format::HexRw => "hexrw",
            Format::OpFirst => "rwhex",
            Format::Pinatrace => "pinatrace",
            Format::PinatraceSized => "pinatrace-simple",
            Format::Din => "din",
            Format::DinExtended => "xdin",
            Format::ChampSim => "champsim",
            Format::ChampSimCloudsuite => "cloudsuite",
            Format::Native => "ptbt",
            Format::NativeText => "ptbt-text",
            Format::DrMemtrace => "drmemtrace",
        }
    }

    /// Every format's [`Format::key`], comma-separated: the choices of a `--format` flag.
    pub fn choices() -> String {
        Format::ALL.map(Format::key).join(", ")
    }

    /// Whether the format is binary (fixed-size records) rather than lines of text.
    pub fn is_binary(self) -> bool {
        self.record_bytes().is_some()
    }

    /// The size of one record of a binary format.
    pub fn record_bytes(self) -> Option<usize> {
        match self {
            Format::ChampSim => Some(crate::champsim::INPUT_INSTR_BYTES),
            Format::ChampSimCloudsuite => Some(crate::champsim::CLOUDSUITE_INSTR_BYTES),
            Format::Native => Some(crate::native::RECORD_BYTES),
            Format::DrMemtrace => Some(crate::drmemtrace::RECORD_BYTES),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no format's key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown trace format `{0}`: expected one of lackey, hexrw, rwhex, pinatrace, pinatrace-simple, din, xdin, champsim, cloudsuite, ptbt, ptbt-text, drmemtrace")]
pub struct UnknownFormatName(pub String);

impl FromStr for Format {
    type Err = UnknownFormatName;

    /// Reads a [`Format::key`] (case-insensitive), or one of a few aliases (`hexaddr`,
    /// `op-first`, `pin`, `dinero`, `champsim64`, `champsim-cloudsuite`).
    fn from_str(s: &str) -> Result<Format, UnknownFormatName> {
        let lower = s.trim().to_ascii_lowercase();
        let f = match lower.as_str() {
            "lackey" | "valgrind" => Format::Lackey,
            "hexrw" | "hexaddr" | "course" => Format::HexRw,
            "rwhex" | "op-first" | "rwaddr" => Format::OpFirst,
            "pinatrace" | "pin" => Format::Pinatrace,
            "pinatrace-simple" | "pinatrace-sized" => Format::PinatraceSized,
            "din" | "dinero" => Format::Din,
            "xdin" | "din-extended" | "extended-din" => Format::DinExtended,
            "champsim" | "champsim64" | "champsimtrace" => Format::ChampSim,
            "cloudsuite" | "champsim-cloudsuite" => Format::ChampSimCloudsuite,
            "ptbt" | "ptbench" | "native" => Format::Native,
            "ptbt-text" | "ptbench-text" => Format::NativeText,
            "drmemtrace" | "dynamorio" | "drcachesim" => Format::DrMemtrace,
            _ => return Err(UnknownFormatName(s.to_string())),
        };
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_back_and_names_are_distinct() {
        for f in Format::ALL {
            assert_eq!(f.key().parse::<Format>().unwrap(), f);
            assert_eq!(f.key().to_uppercase().parse::<Format>().unwrap(), f);
        }
        let mut names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Format::ALL.len());
        assert!("nope"
            .parse::<Format>()
            .unwrap_err()
            .to_string()
            .contains("`nope`"));
        assert_eq!(Format::HexRw.to_string(), "hexaddr R|W");
        assert!(Format::ChampSim.is_binary() && !Format::Din.is_binary());
    }
}
