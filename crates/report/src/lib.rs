//! Results of ptbench runs shown and written: CSV files of [`RunRow`]s written atomically (a
//! temporary file renamed into place), a plain-text table for terminals, and the charts and pages
//! of `ptbench report`. The rows' schema and CSV form are [`ptbench_results`]'s, re-exported here.

pub mod charts;
pub mod findings;
pub mod page;
pub mod stale;

pub use ptbench_results::{
    escape_text, looks_like_results, unescape_text, RunRow, CSV_HEADER_START, LATER_COLUMNS,
};

use ptbench_output::{Output, OutputError, Rules};
use serde::Serialize;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why results could not be written.
#[derive(Debug, Error)]
pub enum WriteError {
    /// The output could not be opened or committed (see [`ptbench_output`]).
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Writing failed.
    #[error("cannot write {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
}

/// The rules of a CSV output that replaces only empty files and ptbench results.
pub fn csv_rules<'a>(flag: &'a str, inputs: &'a [PathBuf], force: bool) -> Rules<'a> {
    Rules {
        inputs,
        force,
        ..Rules::new(flag, "a CSV file", &looks_like_results)
    }
}

/// Writes `rows` as CSV to `path` under [`csv_rules`] with no inputs (see [`write_csv_with`]).
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), WriteError> {
    write_csv_with(path, rows, &csv_rules("--csv", &[], false))
}

/// Writes `rows` as CSV to `path` under `rules`: a regular file atomically (readers see the old
/// file or the complete new one), a device, FIFO or `-` (stdout) directly.
pub fn write_csv_with<T: Serialize>(
    path: &Path,
    rows: &[T],
    rules: &Rules,
) -> Result<(), WriteError> {
    write_with(path, rules, |w| {
        let mut csv = csv::Writer::from_writer(w);
        for row in rows {
            csv.serialize(row).map_err(io::Error::other)?;
        }
        csv.flush()
    })
}

/// Writes a file through `fill` under `rules` (see [`ptbench_output::Output`]).
pub fn write_with(
    path: &Path,
    rules: &Rules,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
    let err = |error| WriteError::Io {
        path: path.to_path_buf(),
        error,
    };
    let out = Output::create(path, rules)?;
    let mut w = io::BufWriter::new(out);
    fill(&mut w).map_err(err)?;
    let out = w.into_inner().map_err(|e| err(e.into_error()))?;
    out.commit()?;
    Ok(())
}

/// Renders rows as an aligned text table: text columns left-aligned, numbers right-aligned.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let numeric = |i: usize| {
        rows.iter().all(|r| {
            r.get(i).is_some_and(|c| {
                c.chars()
                    .all(|ch| ch.is_ascii_digit() || matches!(ch, '.' | ',' | '-' | 'e' | '+'))
            })
        })
    };
    let right: Vec<bool> = (0..headers.len()).map(numeric).collect();
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if right[i] {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(rule.iter().map(String::as_str).collect(), &mut out);
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// Formats a count with thousands separators (`1234567` -> `1,234,567`).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_the_stable_header_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "trace,design,old\n").unwrap();
        let row = RunRow {
            trace: "t".into(),
            design: "x86-64".into(),
            accesses: 3,
            ..RunRow::default()
        };
        write_csv(&path, &[row]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let header = text.lines().next().unwrap();
        assert!(header.starts_with(
            "trace,design,accesses,translations,walks,walk_refs,refs_per_translation,page_faults,\
             table_pages,table_bytes,distinct_pages,wall_seconds,accesses_per_second"
        ));
        assert!(text.lines().nth(1).unwrap().starts_with("t,x86-64,3,"));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        assert!(write_csv(
            &dir.path().join("no/such/dir/out.csv"),
            &[RunRow::default()]
        )
        .is_err());
    }

    #[test]
    fn a_file_that_is_not_results_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.csv");
        std::fs::write(&path, "name,age\n").unwrap();
        let e = write_csv(&path, &[RunRow::default()]).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "name,age\n");
        write_csv_with(&path, &[RunRow::default()], &csv_rules("--csv", &[], true)).unwrap();
        assert!(looks_like_results(&path));
    }

    #[test]
    fn table_aligns_numbers_right() {
        let t = render_table(
            &["design", "refs"],
            &[
                vec!["x86-64".into(), "4".into()],
                vec!["two-level".into(), "1,024".into()],
            ],
        );
        assert_eq!(
            t,
            "design      refs\n---------  -----\nx86-64         4\ntwo-level  1,024\n"
        );
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
