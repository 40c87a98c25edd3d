//! Writes the three Slurm scripts for a sweep, for trying them on a cluster before
//! `ptbench sweep --emit-slurm` exists:
//!
//! `cargo run -p ptbench-slurm --example emit -- SCRIPT_DIR SHARDS PTBENCH EXPERIMENT OUT [JOB_NAME]`
use ptbench_slurm::{write_scripts, SlurmOptions};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !(5..=6).contains(&args.len()) {
        eprintln!("usage: emit SCRIPT_DIR SHARDS PTBENCH EXPERIMENT OUT [JOB_NAME]");
        return ExitCode::from(2);
    }
    let Ok(shards) = args[1].parse::<u32>() else {
        eprintln!("emit: SHARDS {:?} is not a number", args[1]);
        return ExitCode::from(2);
    };
    let result =
        SlurmOptions::new(shards, args.get(5).map_or("ptbench-sweep", |s| s)).and_then(|opts| {
            write_scripts(
                Path::new(&args[0]),
                &opts,
                &args[2],
                Path::new(&args[3]),
                Path::new(&args[4]),
            )
        });
    match result {
        Ok(paths) => {
            for p in paths {
                println!("{}", p.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("emit: {e}");
            ExitCode::FAILURE
        }
    }
}
