//! Writes a synthetic text trace for measuring parse speed (with the `count` example):
//!
//! ```text
//! cargo run --release -p ptbench-trace --example synth -- lackey 20000000 /tmp/t20m.lackey
//! cargo run --release -p ptbench-trace --example synth -- hexrw 20000000 /tmp/t20m.hexrw
//! ```
//! Lackey lines cycle through `I`, ` L`, ` S`, ` M` (8- and 10-digit addresses, sizes 1 to 8);
//! hexrw lines are 8-digit addresses with R or W. Addresses come from a fixed-seed generator,
//! so the same arguments write the same file.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kind), Some(Ok(lines)), Some(path)) = (
        args.first(),
        args.get(1).map(|n| n.parse::<u64>()),
        args.get(2),
    ) else {
        eprintln!("usage: synth lackey|hexrw LINES PATH");
        return ExitCode::from(2);
    };
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..lines {
        let r = next();
        let a = 0x4000_0000 + (r & 0xff_ffff);
        let written = match kind.as_str() {
            "lackey" => match i % 4 {
                0 => writeln!(out, "I  {a:08x},{}", 1 + i % 8),
                1 => writeln!(out, " L {:09x},8", a + 0x1f_0000_0000),
                2 => writeln!(out, " S {a:08x},4"),
                _ => writeln!(out, " M {a:08x},4"),
            },
            "hexrw" => writeln!(
                out,
                "{:08x} {}",
                r >> 32,
                if i % 3 == 0 { 'W' } else { 'R' }
            ),
            _ => {
                eprintln!("kind must be lackey or hexrw");
                return ExitCode::from(2);
            }
        };
        written.unwrap();
    }
    out.flush().unwrap();
    ExitCode::SUCCESS
}
