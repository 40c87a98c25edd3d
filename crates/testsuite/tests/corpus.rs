//! Runs every scenario in testdata/ under every design it applies to.

use ptbench_testsuite::{load_dir, run, scenario_designs, Outcome};
use std::path::Path;

#[test]
fn every_design_passes_the_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let scenarios = load_dir(&dir).expect("corpus loads");
    assert!(
        scenarios.len() >= 6,
        "corpus has {} scenarios",
        scenarios.len()
    );
    let mut failures = Vec::new();
    for (path, scenario) in &scenarios {
        let name = path.file_name().unwrap().to_string_lossy();
        let designs = scenario_designs(scenario).expect("scenario's designs parse");
        let mut ran = 0;
        for spec in &designs {
            match run(scenario, spec) {
                Outcome::Passed => ran += 1,
                Outcome::Skipped(why) => eprintln!("{name}: {spec} skipped: {why}"),
                Outcome::Failed(problems) => {
                    ran += 1;
                    for p in problems {
                        failures.push(format!("{name} [{spec}] {p}"));
                    }
                }
            }
        }
        assert!(ran > 0, "{name}: every design skipped it");
    }
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
}
