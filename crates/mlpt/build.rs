//! Fixes LEVELS and POBITS at build time, as the assignment's config.h does: reads `MLPT_LEVELS`
//! (1 to 6, default 4) and `MLPT_POBITS` (4 to 18, default 12) and writes `$OUT_DIR/config.rs`
//! with the two constants and the link-check symbol `mlpt_config_levels_<L>_pobits_<P>` that
//! `include/mlpt.h` references.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::exit;

fn read(var: &str, default: u8, range: std::ops::RangeInclusive<u8>) -> u8 {
    println!("cargo:rerun-if-env-changed={var}");
    let raw = match env::var(var) {
        Ok(s) => s,
        Err(env::VarError::NotPresent) => return default,
        Err(env::VarError::NotUnicode(s)) => fail(&format!("{var}={s:?} is not a number")),
    };
    match raw.trim().parse::<u8>() {
        Ok(v) if range.contains(&v) => v,
        _ => fail(&format!(
            "{var}={raw:?} is outside {}..={} (the assignment's config.h range)",
            range.start(),
            range.end()
        )),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: ptbench-mlpt: {msg}");
    exit(1)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let levels = read("MLPT_LEVELS", 4, 1..=6);
    let pobits = read("MLPT_POBITS", 12, 4..=18);
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        fail("cargo did not set OUT_DIR")
    };
    let code = format!(
        "/// Levels of tables, fixed at build time by `MLPT_LEVELS` (config.h's `LEVELS`).\n\
         pub const LEVELS: u8 = {levels};\n\
         /// log2 of the page size, fixed at build time by `MLPT_POBITS` (config.h's `POBITS`).\n\
         pub const POBITS: u8 = {pobits};\n\
         /// Referenced by every C file that includes mlpt.h, under the name of the geometry its\n\
         /// config.h gives: C built for another geometry fails to link instead of misreading tables.\n\
         #[export_name = \"mlpt_config_levels_{levels}_pobits_{pobits}\"]\n\
         pub static CONFIG_TAG: u8 = 0;\n"
    );
    if let Err(e) = fs::write(out.join("config.rs"), code) {
        fail(&format!("cannot write config.rs: {e}"));
    }
}
