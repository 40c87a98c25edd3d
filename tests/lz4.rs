//! LZ4 frames against the reference tool: traces compressed by `lz4` (one frame, frames one
//! after another, linked or independent blocks, with checksums) read as their uncompressed
//! selves; a cut file is an error naming the cut; a damaged file `lz4 -t` refuses is refused
//! (naming the block's checksum when blocks carry one); and what `ptbench convert -o T.lz4` writes,
//! `lz4 -t` accepts and `lz4 -d` restores. Skipped, with a note, when `lz4` is missing.

mod common;

use common::ptbench;
use std::path::Path;
use std::process::Command;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn lz4(args: &[&str]) {
    let out = Command::new("lz4").args(args).output().expect("lz4 runs");
    assert!(
        out.status.success(),
        "lz4 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `inspect --no-reuse`'s accesses line for `path`.
fn accesses(path: &Path) -> String {
    let out = ptbench(&["inspect", "--no-reuse", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| l.starts_with("accesses "))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string()
}

/// The shipped lackey trace `name` (`traces/NAME.lackey.gz`) as plain text in `dir`.
fn plain_lackey(dir: &Path, name: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let plain = dir.join(format!("{name}.lackey"));
    let out = ptbench(&[
        "convert",
        root.join(format!("traces/{name}.lackey.gz"))
            .to_str()
            .unwrap(),
        "-o",
        plain.to_str().unwrap(),
        "--to",
        "lackey",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    plain
}

#[test]
fn traces_the_lz4_tool_compressed_read_as_themselves() {
    if !have("lz4") {
        eprintln!("note: lz4 missing; the comparison with the reference tool is skipped");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = tempfile::tempdir().unwrap();
    // A lackey text trace and DynamoRIO's own binary trace.
    let lackey = plain_lackey(d.path(), "sort");
    let dr = root.join("traces/drmemtrace/drmemtrace.small.x64.trace");
    for (plain, flags) in [
        (lackey.as_path(), vec!["-q", "-f"]),
        // Independent 64 KiB blocks with block and content checksums.
        (
            lackey.as_path(),
            vec!["-q", "-f", "-BI", "-B4", "-BX", "--content-size"],
        ),
        // Linked blocks (the default), fastest level.
        (lackey.as_path(), vec!["-q", "-f", "-1", "-BD"]),
        (dr.as_path(), vec!["-q", "-f"]),
    ] {
        let name = plain.file_name().unwrap().to_str().unwrap();
        let packed = d.path().join(format!("{name}.lz4"));
        let mut args = flags.clone();
        args.extend([plain.to_str().unwrap(), packed.to_str().unwrap()]);
        lz4(&args);
        assert_eq!(accesses(&packed), accesses(plain), "lz4 {flags:?}");
        // Cut anywhere inside: an error that says the file is cut off, never fewer accesses.
        let bytes = std::fs::read(&packed).unwrap();
        let cut = d.path().join(format!("cut-{name}.lz4"));
        for at in [7, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&cut, &bytes[..at]).unwrap();
            let out = ptbench(&["inspect", "--no-reuse", cut.to_str().unwrap()]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "cut at {at} of {}", bytes.len());
            assert!(
                err.contains("cut off") || err.contains("truncated"),
                "{err}"
            );
        }
    }
    // Two frames one after another (as `cat a.lz4 b.lz4` makes): both read.
    let packed = d.path().join("sort.lackey.lz4");
    lz4(&[
        "-q",
        "-f",
        lackey.to_str().unwrap(),
        packed.to_str().unwrap(),
    ]);
    let mut two = std::fs::read(&packed).unwrap();
    two.extend(std::fs::read(&packed).unwrap());
    let both = d.path().join("twice.lackey.lz4");
    std::fs::write(&both, &two).unwrap();
    let mut twice = Vec::new();
    twice.extend(std::fs::read(&lackey).unwrap());
    twice.extend(std::fs::read(&lackey).unwrap());
    let plain2 = d.path().join("twice.lackey");
    std::fs::write(&plain2, &twice).unwrap();
    assert_eq!(accesses(&both), accesses(&plain2));
    // What ptbench writes, the reference tool reads.
    let ours = d.path().join("ours.ptbt.lz4");
    let out = ptbench(&[
        "convert",
        lackey.to_str().unwrap(),
        "-o",
        ours.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    lz4(&["-q", "-t", ours.to_str().unwrap()]);
    let restored = d.path().join("ours.ptbt");
    lz4(&[
        "-q",
        "-d",
        "-f",
        ours.to_str().unwrap(),
        restored.to_str().unwrap(),
    ]);
    assert_eq!(accesses(&restored), accesses(&lackey));
    assert_eq!(accesses(&ours), accesses(&lackey));
}

#[test]
fn a_damaged_file_is_refused_as_lz4_refuses_it() {
    if !have("lz4") {
        eprintln!("note: lz4 missing; the comparison with the reference tool is skipped");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let lackey = plain_lackey(d.path(), "gzip");
    // Block checksums (-BX) and the content checksum (on by default); the content checksum
    // alone (a damaged block that still decodes is caught at the frame's end, if a bad line
    // has not stopped the reader first).
    for (flags, what) in [(&["-BX"][..], "block's checksum"), (&[][..], "")] {
        let z = d.path().join(format!("t{}.lackey.lz4", flags.len()));
        let mut args = vec!["-q", "-f"];
        args.extend_from_slice(flags);
        args.extend([lackey.to_str().unwrap(), z.to_str().unwrap()]);
        lz4(&args);
        let mut bytes = std::fs::read(&z).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x20;
        let bad = d.path().join(format!("bad{}.lackey.lz4", flags.len()));
        std::fs::write(&bad, &bytes).unwrap();
        let tool = Command::new("lz4")
            .args(["-t", bad.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!tool.status.success(), "lz4 -t accepted the damaged file");
        let out = ptbench(&["inspect", "--no-reuse", bad.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{flags:?}: ptbench read a damaged file"
        );
        assert!(err.contains(what), "{flags:?}: {err}");
    }
}
