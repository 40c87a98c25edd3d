//! Helpers shared by the end-to-end tests (each test file includes this module; not every file
//! uses every helper).
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Command, Output};

/// Runs the `ptbench` binary under test with `args`.
pub fn ptbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ptbench"))
        .args(args)
        .output()
        .expect("ptbench runs")
}

/// The rows of a CSV text with a header line, each as column -> value.
pub fn csv_maps(text: impl std::io::Read) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_reader(text);
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}
