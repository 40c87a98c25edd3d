//! Replays every input in `tests/regressions/<target>/` (inputs that crash or crashed a fuzz
//! target of `fuzz/`) through what that target fuzzes, and checks the error each gives against
//! `<input name without its extension>.err`.

use std::path::Path;

/// The error `input` gives when read as `target` does.
fn error_of(target: &str, input: &[u8]) -> String {
    match target {
        "results_csv" => ptbench_sweep::read_results_from(
            input,
            Path::new("results.csv"),
            ptbench_sweep::CutLine::Refuse,
        )
        .map(|r| format!("read {} rows", r.rows.len()))
        .unwrap_or_else(|e| e.to_string()),
        "experiment" => {
            let text = std::str::from_utf8(input).expect("experiment inputs are UTF-8");
            ptbench_sweep::Experiment::parse(Path::new("exp.toml"), text)
                .map(|e| format!("{} cells", e.cells.len()))
                .unwrap_or_else(|e| e.to_string())
        }
        other => panic!("no fuzz target `{other}`"),
    }
}

#[test]
fn fuzz_regressions_give_their_errors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut n = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "err") {
                continue;
            }
            let want = std::fs::read_to_string(f.with_extension("err"))
                .unwrap_or_else(|e| panic!("{}.err: {e}", f.display()));
            let got = error_of(&target, &std::fs::read(&f).unwrap());
            assert_eq!(got, want.trim_end(), "{}", f.display());
            n += 1;
        }
    }
    assert_eq!(n, 4, "every regression input was replayed");
}
