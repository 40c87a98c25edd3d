//! Removing a report page that no longer describes its results: when a sweep starts over
//! (`--force`) or resumes, the charts and page of the results it changes are deleted first, so
//! that an interrupted sweep never leaves a report beside results it does not describe.

use std::io;
use std::path::{Path, PathBuf};

/// Deletes `dir/report.md`, `dir/report.html` and the charts `report.md` links (plain file
/// names ending in `.png` or `.svg`, in `dir` itself); returns the files deleted. A directory
/// without `report.md` loses only `report.html`, if any. Files the page does not link are kept.
pub fn remove_report(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let md = dir.join("report.md");
    let mut doomed: Vec<PathBuf> = Vec::new();
    match std::fs::read_to_string(&md) {
        Ok(text) => {
            for name in linked_charts(&text) {
                doomed.push(dir.join(name));
            }
            doomed.push(md);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    doomed.push(dir.join("report.html"));
    doomed.sort();
    doomed.dedup();
    let mut removed = Vec::new();
    for p in doomed {
        match std::fs::remove_file(&p) {
            Ok(()) => removed.push(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// The chart files a page links: `(name.png)` and `(name.svg)` targets that are plain names.
fn linked_charts(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for part in text.split("](").skip(1) {
        let Some(end) = part.find(')') else {
            continue;
        };
        let target = &part[..end];
        let plain = !target.is_empty()
            && !target.contains('/')
            && !target.contains('\\')
            && !target.starts_with('.');
        if plain && (target.ends_with(".png") || target.ends_with(".svg")) {
            out.push(target);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_charts_go_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let md = "# r\n\n![a](a.png)\n([SVG](a.svg))\n![b](b.png)\n[x](../x.png) [y](/etc/y.svg) [z](notes.txt)\n";
        for (n, t) in [
            ("report.md", md),
            ("report.html", "<!DOCTYPE html>"),
            ("a.png", "p"),
            ("a.svg", "s"),
            ("b.png", "p"),
            ("c.png", "mine"),
            ("notes.txt", "mine"),
            ("results.csv", "trace,design\n"),
        ] {
            std::fs::write(d.path().join(n), t).unwrap();
        }
        let mut removed: Vec<String> = remove_report(d.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        removed.sort();
        assert_eq!(
            removed,
            ["a.png", "a.svg", "b.png", "report.html", "report.md"]
        );
        for n in ["c.png", "notes.txt", "results.csv"] {
            assert!(d.path().join(n).exists(), "{n}");
        }
        assert!(remove_report(d.path()).unwrap().is_empty());
    }
}
