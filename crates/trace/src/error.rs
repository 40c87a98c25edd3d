use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// Where in a trace file something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A 1-based line of a text trace.
    Line(u64),
    /// A byte offset into a binary trace.
    Offset(u64),
    /// The file as a whole.
    File,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, ":{n}"),
            Location::Offset(n) => write!(f, ": byte {n}"),
            Location::File => Ok(()),
        }
    }
}

/// What went wrong reading a trace.
#[derive(Debug, Error)]
pub enum TraceErrorKind {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A line does not follow the trace's format.
    #[error("malformed {format} line `{text}`: {reason}")]
    Malformed {
        /// The format the file was detected as.
        format: &'static str,
        /// The offending line (cut at 120 characters).
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A line that is in no supported format, where the format is detected.
    #[error("unrecognised trace line `{text}`: expected Valgrind lackey (` L 7ff0005b8,8`), `hexaddr R|W` (`0041f7a0 R`), Pin pinatrace (`0x7f12: R 0x7ffd8`), Dinero din (`0 1000`) or extended din (`r 1000 4`); ChampSim binary traces are recognised by their name (`.champsimtrace`) or forced with a format")]
    UnknownFormat {
        /// The line (cut at 120 characters).
        text: String,
    },
    /// A binary trace ends inside a record.
    #[error("the file ends inside a {record_bytes}-byte {format} record ({partial_bytes} bytes of it are present): the trace is truncated")]
    TruncatedRecord {
        /// The binary format.
        format: &'static str,
        /// Bytes per record.
        record_bytes: usize,
        /// Bytes of the partial record present.
        partial_bytes: usize,
    },
    /// A compressed stream ends before its end marker.
    #[error("the compressed stream ends early: the file is truncated")]
    Truncated,
    /// A compressed stream is damaged.
    #[error("the compressed stream is corrupt: {0}")]
    Corrupt(String),
}

/// An error reading a trace, naming the file and where in it.
#[derive(Debug, Error)]
#[error("{}{location}: {kind}", path.display())]
pub struct TraceError {
    /// The trace file.
    pub path: PathBuf,
    /// Where in it.
    pub location: Location,
    /// What went wrong.
    pub kind: TraceErrorKind,
}

impl TraceError {
    /// An error at `location` of `path`.
    pub fn new(path: impl Into<PathBuf>, location: Location, kind: TraceErrorKind) -> TraceError {
        TraceError {
            path: path.into(),
            location,
            kind,
        }
    }
}
