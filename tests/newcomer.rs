//! End-to-end tests of the rough edges a newcomer hits first (issue 20): `run --csv -` on a
//! pipe, several `--huge` values, `flat` on a native program's addresses, misspelt names,
//! `size` with too few levels, a misplaced experiment key, and `record` through a shell.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod common;
use common::{csv_maps, ptbench};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn trace(name: &str) -> String {
    root().join("traces").join(name).display().to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The error line of a failed command (its stderr, which holds nothing else).
fn error_of(args: &[&str]) -> String {
    let out = ptbench(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    text(&out.stderr).trim_end().to_string()
}

/// A row without its timing columns, which differ between runs.
fn settled(mut row: HashMap<String, String>) -> HashMap<String, String> {
    for k in ["wall_seconds", "accesses_per_second"] {
        row.remove(k);
    }
    row
}

#[test]
fn csv_to_standard_output_is_the_csv_alone() {
    let t = trace("listwalk.lackey.gz");
    let out = ptbench(&["run", "--csv", "-", "-d", "x86-64", "-d", "hashed", &t]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // A header and two rows, nothing else.
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.starts_with("trace,design,accesses,"), "{stdout}");
    let rows = csv_maps(stdout.as_bytes());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["design"], "x86-64");
    assert_eq!(rows[1]["design"], "hashed");
    assert_eq!(rows[0]["translations"], "902377");
    // The table and the note went to standard error.
    let stderr = text(&out.stderr);
    assert!(stderr.contains("refs/xlat"), "{stderr}");
    assert!(
        stderr.contains("translations agree: designs with the same page size"),
        "{stderr}"
    );
}

#[test]
fn several_huge_values_replay_each_as_separate_runs_do() {
    let t = trace("listwalk.lackey.gz");
    let run = |huge: &[&str]| {
        let mut args = vec!["run", "--csv", "-", "-q", "-d", "x86-64", "-d", "hashed"];
        for h in huge {
            args.extend(["--huge", h]);
        }
        args.push(&t);
        let out = ptbench(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        csv_maps(&out.stdout[..])
            .into_iter()
            .map(settled)
            .collect::<Vec<_>>()
    };
    let listed = run(&["off,2m"]);
    let repeated = run(&["off", "2m"]);
    assert_eq!(listed.len(), 4, "2 designs x 2 huge settings");
    assert_eq!(listed, repeated);
    let off = run(&["off"]);
    let m2 = run(&["2m"]);
    // Design by design, each value in the order given, as its own run gives it.
    assert_eq!(
        listed,
        vec![off[0].clone(), m2[0].clone(), off[1].clone(), m2[1].clone()]
    );
    assert_eq!(listed[1]["huge"], "2m");
    assert_eq!(listed[1]["walk_refs"], "2707143");
    assert_eq!(listed[0]["walk_refs"], "3611860");
    // The table gets a `huge` column only when the rows differ in it.
    let table = |huge: &str| {
        let out = ptbench(&["run", "-d", "x86-64", "--huge", huge, &t]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(table("off,2m").contains("design  huge  translations  walk_refs"));
    assert!(table("2m").contains("design  translations  walk_refs"));
}

#[test]
fn flat_alone_covers_a_native_programs_addresses() {
    // listwalk's stack is at 0x1fff000d40: above 32 bits.
    let t = trace("listwalk.lackey.gz");
    let out = ptbench(&[
        "run",
        "--csv",
        "-",
        "-q",
        "-d",
        "flat",
        "-d",
        "flat:va_bits=48",
        &t,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<_> = csv_maps(&out.stdout[..]).into_iter().map(settled).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["design"], "flat:va_bits=48");
    assert_eq!(rows[0]["va_bits"], "48");
    assert_eq!(rows[0]["table_bytes"], (512u64 << 30).to_string());
    assert_eq!(rows[0], rows[1], "`flat` is `flat:va_bits=48`");
}

#[test]
fn an_access_wider_than_the_design_names_the_fix() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("wide.lackey");
    std::fs::write(&t, " L 1000,4\n L 100000000000000,8\n").unwrap();
    let t = t.display().to_string();
    assert_eq!(
        error_of(&["run", "-d", "flat", &t]),
        format!(
            "ptbench: error: design flat:va_bits=48: {t}:2: access #1 at 0x100000000000000 (8 \
             bytes) lies outside the 48-bit virtual address space of design `flat:va_bits=48` (a \
             wider design replays it, e.g. `flat:va_bits=57`, `radix` with more levels or \
             `x86-64-5l`; --wide-addresses count skips and counts such accesses)"
        )
    );
    let out = ptbench(&["run", "--csv", "-", "-q", "-d", "flat:va_bits=57", &t]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(csv_maps(&out.stdout[..])[0]["translations"], "2");
}

#[test]
fn misspelt_designs_and_presets_get_a_suggestion() {
    let t = trace("listwalk.lackey.gz");
    let known =
        "radix, two-level, x86-64, x86-64-5l, flat, hashed, inverted, ecpt, reference, nested";
    assert_eq!(
        error_of(&["run", "--design", "x86_64", &t]),
        format!(
            "ptbench: error: unknown design `x86_64`; did you mean `x86-64`? known designs: \
             {known} (see `ptbench designs`)"
        )
    );
    assert_eq!(
        error_of(&["run", "--design", "hashd", &t]),
        format!(
            "ptbench: error: unknown design `hashd`; did you mean `hashed`? known designs: \
             {known} (see `ptbench designs`)"
        )
    );
    assert_eq!(
        error_of(&["run", "--tlb", "skylak", &t]),
        "ptbench: error: --tlb skylak: unknown TLB preset `skylak`; did you mean `skylake`? \
         presets: none, tiny, skylake, champsim (see `ptbench tlbs`)"
    );
}

#[test]
fn size_with_too_few_levels_names_the_entry_size_that_fits() {
    assert_eq!(
        error_of(&["size", "--levels", "2", "--va-bits", "32", "--pobits", "12"]),
        "ptbench: error: --levels 2: 2 levels of 9 index bits translate 18 page-number bits, \
         but 32-bit addresses with 12-bit offsets have 20; they need 3 levels, or 4-byte entries \
         (`--pte-bytes 4`: 1024 entries per table, 10 index bits per level, 20 in 2 levels)"
    );
    let out = ptbench(&[
        "size",
        "--levels",
        "2",
        "--va-bits",
        "32",
        "--pobits",
        "12",
        "--pte-bytes",
        "4",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("radix table of 2 levels (index bits 10 + 10"));
}

#[test]
fn a_top_level_key_below_a_table_says_to_move_it() {
    let d = tempfile::tempdir().unwrap();
    let e = d.path().join("e.toml");
    let t = trace("listwalk.lackey.gz");
    std::fs::write(
        &e,
        format!("[[trace]]\npath = \"{t}\"\nname = \"first\"\n[[design]]\nspec = \"x86-64\"\n"),
    )
    .unwrap();
    assert_eq!(
        error_of(&["sweep", "--list", &e.display().to_string()]),
        format!(
            "ptbench: error: {}: `name` is a top-level key: move it above the first `[[...]]` \
             table (written below `[[trace]]`, TOML reads it as a key of that table)",
            e.display()
        )
    );
}

fn have_valgrind() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("valgrind").is_file()));
    if !found {
        eprintln!("valgrind is not on PATH: skipping");
    }
    found
}

/// `record`'s summary: (accesses, processes).
fn recorded(args: &[&str]) -> (u64, u64) {
    let out = ptbench(args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stderr);
    let number = |after: &str, before: &str| -> u64 {
        let rest = line.split(after).nth(1).unwrap_or_else(|| panic!("{line}"));
        let n = rest
            .split(before)
            .next()
            .unwrap_or_else(|| panic!("{line}"));
        n.trim()
            .replace(',', "")
            .parse()
            .unwrap_or_else(|_| panic!("{line}"))
    };
    (
        number("ptbench: recorded ", " accesses"),
        number(" writes) from ", " process"),
    )
}

#[test]
fn record_follows_a_shell_into_the_program_it_runs() {
    if !have_valgrind() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("input.txt");
    std::fs::write(&input, "some text to compress\n".repeat(100)).unwrap();
    let input = input.display().to_string();
    let out = |n: &str| d.path().join(n).display().to_string();
    let (direct, p1) = recorded(&["record", "-o", &out("a.ptbt"), "--", "gzip", "-c", &input]);
    let script = format!("gzip -c {input} > /dev/null");
    let (shell, p2) = recorded(&["record", "-o", &out("b.ptbt"), "--", "sh", "-c", &script]);
    assert_eq!((p1, p2), (1, 2));
    assert!(shell >= direct, "through sh: {shell}, gzip alone: {direct}");
    // The trace holds them: gzip's address space is the second.
    let inspect = ptbench(&["inspect", &out("b.ptbt")]);
    let report = text(&inspect.stdout);
    assert!(report.contains("address spaces    2"), "{report}");
    // Not following: the shell alone, and the summary says so.
    let plain = ptbench(&[
        "record",
        "-o",
        &out("c.ptbt"),
        "--no-follow",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let line = text(&plain.stderr);
    assert!(
        line.contains("from 1 process (children not followed)"),
        "{line}"
    );
    // Standard error is not a terminal here: the spinner draws nothing, the summary is all.
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.starts_with("ptbench: recorded "), "{line}");
    let (alone, _) = recorded(&[
        "record",
        "-o",
        &out("c.ptbt"),
        "--force",
        "--no-follow",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert!(alone < shell, "{alone} < {shell}");
    assert!(Path::new(&out("c.ptbt")).is_file());
}
