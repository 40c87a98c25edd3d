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
    /// Just after a 1-based line of a text trace: where a stream that ends early stopped.
    AfterLine(u64),
    /// The file as a whole.
    File,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, ":{n}"),
            Location::Offset(n) => write!(f, ": byte {n}"),
            Location::AfterLine(0) => write!(f, ": before the first line"),
            Location::AfterLine(n) => write!(f, ": after line {n}"),
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
    /// A record of a binary format that is not one (an unknown type, a version no writer
    /// wrote).
    #[error("malformed {format} record ({text}): {reason}")]
    BadRecord {
        /// The binary format.
        format: &'static str,
        /// The record's fields.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A line that starts like a record but is longer than any record can be.
    #[error("{format} line `{text}` is longer than {limit} bytes: no record is that long")]
    LineTooLong {
        /// The format the file was detected as.
        format: &'static str,
        /// The start of the line (cut at 120 characters).
        text: String,
        /// The longest line a reader takes.
        limit: usize,
    },
    /// No line of a text trace is a record of a known format; `text` is the first line that
    /// is not blank or a comment.
    #[error("unrecognised trace line `{text}`, and no line is a record of a known format: expected Valgrind lackey (` L 7ff0005b8,8`, `I 4001000`), `hexaddr R|W` (`0041f7a0 R`), `R|W hexaddr` (`W 0xbff05e7c`), Pin pinatrace (`0x7f12: R 0x7ffd8`), Dinero din (`0 1000`) or extended din (`r 1000 4`), or a binary ChampSim trace; force a format with --format ({choices})", choices = crate::Format::choices())]
    UnknownFormat {
        /// The line (cut at 120 characters).
        text: String,
    },
    /// Binary content that no reader recognises.
    #[error("this looks like a binary file, not a trace in a format recognised from its content: ChampSim traces are recognised by their 64-byte records or `champsim` in the name, CloudSuite ones by `cloudsuite` in the name, DynamoRIO drmemtrace ones by their header record; force a format with --format ({choices})", choices = crate::Format::choices())]
    Binary,
    /// The path is not a file that can be read as a trace (a directory, say).
    #[error("{0}, not a trace file")]
    NotAFile(&'static str),
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

/// An error reading a trace, naming the file and where in it. A malformed line's message ends
/// with a hint that `--skip-bad-lines` skips such lines.
#[derive(Debug, Error)]
#[error("{}{location}: {kind}{}", path.display(), hint(*location, kind))]
pub struct TraceError {
    /// The trace file.
    pub path: PathBuf,
    /// Where in it.
    pub location: Location,
    /// What went wrong.
    pub kind: TraceErrorKind,
}

fn hint(location: Location, kind: &TraceErrorKind) -> &'static str {
    match (location, kind) {
        (
            Location::Line(_),
            TraceErrorKind::Malformed { .. } | TraceErrorKind::LineTooLong { .. },
        ) => " (--skip-bad-lines skips such lines)",
        _ => "",
    }
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

    /// The message without the `--skip-bad-lines` hint (for lines that were skipped).
    pub fn without_hint(&self) -> String {
        format!("{}{}: {}", self.path.display(), self.location, self.kind)
    }
}
