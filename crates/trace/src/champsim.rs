//! ChampSim binary instruction traces: `input_instr` (64 bytes a record) and CloudSuite's
//! `cloudsuite_instr` (96 bytes a record).
//!
//! Documented by ChampSim's `inc/trace_instruction.h` and its reader `inc/tracereader.h`
//! (<https://github.com/ChampSim/ChampSim/blob/master/inc/trace_instruction.h>), and its Pin
//! tracer (`tracer/pin/champsim_tracer.cpp`). A trace is a bare array of C structs, read with
//! `istream::read` / `fread` of `sizeof(T)` bytes each and `memcpy`'d into the struct, so the
//! on-disk layout is the x86-64 in-memory layout, little-endian, natural alignment:
//!
//! ```text
//! struct input_instr {                        offset
//!     unsigned long long ip;                  0
//!     unsigned char is_branch, branch_taken;  8, 9
//!     unsigned char destination_registers[2]; 10
//!     unsigned char source_registers[4];      12
//!     unsigned long long destination_memory[2]; 16
//!     unsigned long long source_memory[4];    32
//! };                                          sizeof = 64, no padding
//!
//! struct cloudsuite_instr {
//!     unsigned long long ip;                  0
//!     unsigned char is_branch, branch_taken;  8, 9
//!     unsigned char destination_registers[4]; 10
//!     unsigned char source_registers[4];      14
//!                                             18..24 padding
//!     unsigned long long destination_memory[4]; 24
//!     unsigned long long source_memory[4];    56
//!     unsigned char asid[2];                  88
//!                                             90..96 padding
//! };                                          sizeof = 96
//! ```
//!
//! The packed sum of `cloudsuite_instr`'s fields is 84 bytes, but the struct is not packed and
//! ChampSim reads `sizeof(cloudsuite_instr)` = 96 bytes a record (its 8-byte members align the
//! memory arrays at 24 and round the size up to 96), so 96 is what CloudSuite trace files hold.
//!
//! Each record becomes, in this order: an instruction fetch at `ip`; a read for each non-zero
//! `source_memory` entry, in array order; a write for each non-zero `destination_memory` entry,
//! in array order (ChampSim drops the zero entries the same way). The records carry no access
//! sizes: ChampSim works on 64-byte blocks, and an aligned block never crosses a page, so every
//! access here is **1 byte**, which never makes an access straddle a page boundary that
//! ChampSim would not see either. The register and branch fields are not used.
//!
//! `cloudsuite_instr`'s `asid[2]` becomes [`Access::asid`]: `asid[0]` for the fetch and
//! `asid[1]` for the data accesses (ChampSim carries both bytes with every instruction; which
//! one a translation uses is not fixed by the format, so this split is this reader's choice).
//! `input_instr` traces are single-process: asid 0.
//!
//! These formats are chosen by the file name, after any compression extension is stripped:
//! `.champsim`, `.champsimtrace` or `.champsim64` (ChampSim's traces are named
//! `600.perlbench_s-210B.champsimtrace.xz`), CloudSuite's when the name also contains
//! `cloudsuite`, or a name with `cloudsuite` that ends in `.trace`. Traces published under other
//! names (`champsim.trace.gz`, `mcf.trace.xz`) are recognised when their content is binary: by
//! `champsim` (or `cloudsuite`) anywhere in the name, else by the content itself, a stream of
//! plausible 64-byte `input_instr` records ([`looks_like_input_instr`]). [`open_as`](crate::open_as)
//! forces either. A file whose length is not a multiple of the
//! record size ends in a partial record: an error naming the byte offset where it starts.

use crate::Format;
use ptbench_core::{Access, AccessKind};

/// `sizeof(input_instr)`.
pub const INPUT_INSTR_BYTES: usize = 64;
/// `sizeof(cloudsuite_instr)`.
pub const CLOUDSUITE_INSTR_BYTES: usize = 96;
/// The most accesses one record yields (CloudSuite: a fetch, 4 reads, 4 writes).
pub(crate) const MAX_PER_RECORD: usize = 9;

#[inline(always)]
fn u64_at(rec: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&rec[at..at + 8]);
    u64::from_le_bytes(b)
}

#[inline(always)]
fn push(out: &mut Vec<Access>, kind: AccessKind, addr: u64, asid: u16) {
    out.push(Access::new(kind, addr, 1).in_asid(asid));
}

/// Decodes one record of `format` (`rec.len()` is its record size), pushing 1 to 9 accesses.
#[inline]
pub(crate) fn decode(format: Format, rec: &[u8], out: &mut Vec<Access>) {
    let (dst, n_dst, src, (asid_i, asid_d)) = match format {
        Format::ChampSimCloudsuite => (24, 4, 56, (u16::from(rec[88]), u16::from(rec[89]))),
        _ => (16, 2, 32, (0, 0)),
    };
    push(out, AccessKind::Fetch, u64_at(rec, 0), asid_i);
    for i in 0..4 {
        let a = u64_at(rec, src + 8 * i);
        if a != 0 {
            push(out, AccessKind::Read, a, asid_d);
        }
    }
    for i in 0..n_dst {
        let a = u64_at(rec, dst + 8 * i);
        if a != 0 {
            push(out, AccessKind::Write, a, asid_d);
        }
    }
}

/// Builds one record (for tests and examples): `ip`, source and destination memory addresses
/// (zeros for unused entries), and for CloudSuite the two asid bytes.
pub fn encode(format: Format, ip: u64, src: &[u64], dst: &[u64], asid: [u8; 2]) -> Vec<u8> {
    let cloud = format == Format::ChampSimCloudsuite;
    let (size, dst_at, n_dst, src_at) = if cloud {
        (CLOUDSUITE_INSTR_BYTES, 24, 4, 56)
    } else {
        (INPUT_INSTR_BYTES, 16, 2, 32)
    };
    let mut rec = vec![0u8; size];
    rec[0..8].copy_from_slice(&ip.to_le_bytes());
    for (i, a) in src.iter().take(4).enumerate() {
        rec[src_at + 8 * i..src_at + 8 * i + 8].copy_from_slice(&a.to_le_bytes());
    }
    for (i, a) in dst.iter().take(n_dst).enumerate() {
        rec[dst_at + 8 * i..dst_at + 8 * i + 8].copy_from_slice(&a.to_le_bytes());
    }
    if cloud {
        rec[88] = asid[0];
        rec[89] = asid[1];
    }
    rec
}

/// The binary format a file name implies, after its compression extension (if any) is
/// stripped; `None` for a text trace.
pub(crate) fn from_name(name: &str) -> Option<Format> {
    let lower = name.to_ascii_lowercase();
    let stem = crate::compress::strip_extension(&lower);
    let ext = stem.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let cloud = stem.contains("cloudsuite");
    match ext {
        "champsim" | "champsimtrace" | "champsim64" if cloud => Some(Format::ChampSimCloudsuite),
        "champsim" | "champsimtrace" | "champsim64" => Some(Format::ChampSim),
        "trace" if cloud => Some(Format::ChampSimCloudsuite),
        _ => None,
    }
}

/// The binary format a name implies for content that is binary: `champsim` or `cloudsuite`
/// anywhere in it.
pub(crate) fn from_name_loosely(name: &str) -> Option<Format> {
    let lower = name.to_ascii_lowercase();
    if lower.contains("cloudsuite") {
        Some(Format::ChampSimCloudsuite)
    } else if lower.contains("champsim") {
        Some(Format::ChampSim)
    } else {
        None
    }
}

/// Whether `head`, the start of a binary stream, reads as `input_instr` records: at least one
/// whole record, and in every whole record of the first 64 a non-zero instruction pointer, the
/// branch flags 0 or 1, and every address a canonical x86-64 one (below 2^47, or at or above
/// 0xffff_8000_0000_0000).
pub fn looks_like_input_instr(head: &[u8]) -> bool {
    let canonical = |a: u64| !(1 << 47..0xffff_8000_0000_0000).contains(&a);
    let mut records = head.chunks_exact(INPUT_INSTR_BYTES).take(64).peekable();
    records.peek().is_some()
        && records.all(|r| {
            let ip = u64_at(r, 0);
            ip != 0
                && canonical(ip)
                && r[8] <= 1
                && r[9] <= 1
                && (16..64).step_by(8).all(|at| canonical(u64_at(r, at)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_round_trips() {
        let rec = encode(
            Format::ChampSim,
            0x401000,
            &[0x10, 0, 0x20, 0],
            &[0, 0x30],
            [0; 2],
        );
        assert_eq!(rec.len(), 64);
        let mut out = Vec::new();
        decode(Format::ChampSim, &rec, &mut out);
        assert_eq!(
            out,
            vec![
                Access::new(AccessKind::Fetch, 0x401000, 1),
                Access::new(AccessKind::Read, 0x10, 1),
                Access::new(AccessKind::Read, 0x20, 1),
                Access::new(AccessKind::Write, 0x30, 1),
            ]
        );
        // The source array starts at byte 32, the destination array at byte 16.
        assert_eq!(rec[32], 0x10);
        assert_eq!(rec[24], 0x30);

        let rec = encode(
            Format::ChampSimCloudsuite,
            0x10,
            &[1, 2, 3, 4],
            &[5, 6, 7, 8],
            [3, 9],
        );
        assert_eq!(rec.len(), 96);
        assert_eq!((rec[24], rec[56], rec[88], rec[89]), (5, 1, 3, 9));
        out.clear();
        decode(Format::ChampSimCloudsuite, &rec, &mut out);
        assert_eq!(out.len(), 9);
        assert_eq!(out[0].asid, 3);
        assert!(out[1..].iter().all(|a| a.asid == 9));
        assert_eq!(out[8], Access::new(AccessKind::Write, 8, 1).in_asid(9));
    }

    #[test]
    fn input_instr_content() {
        let mut data = encode(
            Format::ChampSim,
            0x401000,
            &[0x7ffd_0000_1000],
            &[0x10],
            [0; 2],
        );
        data.extend(encode(Format::ChampSim, 0x401004, &[], &[], [0; 2]));
        assert!(looks_like_input_instr(&data));
        assert!(looks_like_input_instr(&data[..70]));
        assert!(!looks_like_input_instr(&data[..63]));
        let mut bad = data.clone();
        bad[64 + 8] = 7;
        assert!(!looks_like_input_instr(&bad));
        assert!(!looks_like_input_instr(&[0u8; 128]));
        assert!(!looks_like_input_instr(&[0xffu8; 128]));
    }

    #[test]
    fn names() {
        assert_eq!(
            from_name("600.perlbench_s-210B.champsimtrace.xz"),
            Some(Format::ChampSim)
        );
        assert_eq!(from_name("x.champsim64"), Some(Format::ChampSim));
        assert_eq!(from_name("T.ChampSim.GZ"), Some(Format::ChampSim));
        assert_eq!(
            from_name("cloudsuite_cassandra_phase0_core0.trace.xz"),
            Some(Format::ChampSimCloudsuite)
        );
        assert_eq!(
            from_name("a.cloudsuite.champsim"),
            Some(Format::ChampSimCloudsuite)
        );
        assert_eq!(from_name("gcc.trace.gz"), None);
        assert_eq!(
            from_name_loosely("champsim.trace.gz"),
            Some(Format::ChampSim)
        );
        assert_eq!(from_name_loosely("gcc.trace.gz"), None);
        assert_eq!(from_name("t.lackey"), None);
    }
}
