//! The course format `hhhhhhhh R|W`: one access per line, a hex address and `R` (read) or `W`
//! (write), each access one byte.
//!
//! This is the format of the classic page-replacement traces that operating-systems courses
//! hand out for page-replacement assignments (`gcc.trace`, `swim.trace`). It has no formal
//! specification; the project's copies and their origin
//! (<https://github.com/Aegizz/OSprac2>) are described in `../shared/traces/README.md`:
//!
//! ```text
//! 0041f7a0 R
//! 13f5e2c0 W
//! 0x0041f7a4 r        a `0x` prefix and lower-case r/w are accepted
//! ```
//!
//! Leading whitespace is allowed; at least one space or tab separates the two fields.
//!
//! ## Op-first: `R|W hhhhhhhh [size]` ([`Format::OpFirst`](crate::Format::OpFirst))
//! Hand-written Pin tools print the operation first, with or without a leading space, a `0x`
//! prefix or a decimal size column (one byte when there is none):
//!
//! ```text
//! W 0xbff05e7c
//!  R 0x7ffe7dfbfcc8
//! R 7ffe7dfbf000 8
//! ```
//!
//! `r` and `w` are accepted too, but only upper-case `R`/`W` lines count toward recognising the
//! format: `w 1000 10` is Dinero's extended din (whose size is hex).
//!
//! Both are recognised from the first lines of the file (see the engine); lines that do not
//! start like a record (program output, tool banners) are skipped and counted.

use crate::syntax::{
    access, dec_size, first_word, hex, hex_digits, is_blank, is_hex_word, need_ws, skip_ws, Reason,
    Rec, PAIRS,
};
use ptbench_core::{Access, AccessKind};

/// Parses one line (trimmed, not skipped), pushing one access.
#[inline]
pub(crate) fn parse(line: &[u8], out: &mut Vec<Access>) -> Result<Rec, Reason> {
    let (addr, rest) = hex(skip_ws(line))?;
    if !matches!(rest.first(), Some(b) if is_blank(*b)) {
        return Err("expected whitespace then R or W after the address".into());
    }
    let kind = match skip_ws(rest) {
        [b'R' | b'r'] => AccessKind::Read,
        [b'W' | b'w'] => AccessKind::Write,
        _ => return Err("expected R or W after the address".into()),
    };
    out.push(Access::new(kind, addr, 1));
    Ok(Rec::Access)
}

/// Whether a line (trimmed) that did not parse starts like a record: a hex word, whitespace,
/// then a one-character word (`0041f7a0 X`).
pub(crate) fn looks_like(line: &[u8]) -> bool {
    let (addr, rest) = first_word(line);
    let (op, _) = first_word(rest);
    is_hex_word(addr) && op.len() == 1
}

/// Parses an op-first line (trimmed, not skipped), pushing one access.
pub(crate) fn parse_op_first(line: &[u8], out: &mut Vec<Access>) -> Result<Rec, Reason> {
    let (kind, rest) = match line {
        [b'R' | b'r', rest @ ..] => (AccessKind::Read, rest),
        [b'W' | b'w', rest @ ..] => (AccessKind::Write, rest),
        _ => return Err("expected R or W then an address".into()),
    };
    let (addr, rest) = hex(need_ws(rest, "after R or W")?)?;
    let size = if rest.is_empty() {
        1
    } else {
        let (size, rest) = dec_size(need_ws(rest, "after the address")?)?;
        if !rest.is_empty() {
            return Err("expected the end of the line after the size".into());
        }
        size
    };
    out.push(access(kind, addr, size)?);
    Ok(Rec::Access)
}

/// Whether an op-first line counts toward recognising the format: upper-case `R` or `W`.
pub(crate) fn votes_op_first(line: &[u8]) -> bool {
    matches!(line.first(), Some(b'R' | b'W'))
}

/// Whether a line (trimmed) that did not parse starts like an op-first record: `R` or `W`,
/// whitespace, then a hex word or a `0x` word (`W 0xzz`).
pub(crate) fn looks_like_op_first(line: &[u8]) -> bool {
    let (op, rest) = first_word(line);
    let (addr, _) = first_word(rest);
    matches!(op, [b'R' | b'W' | b'r' | b'w'])
        && (is_hex_word(addr) || addr.starts_with(b"0x") || addr.starts_with(b"0X"))
}

/// The hot path for lines of the usual shape (no leading space, an optional `0x`, at most 16
/// hex digits, spaces or tabs, `R`/`W`/`r`/`w`, then `\n`, `\r\n` or the end); `None` sends
/// the line to [`parse`], which accepts a superset of these lines with the same result.
#[inline(always)]
pub(crate) fn fast(data: &[u8], p: usize, out: &mut Vec<Access>) -> Option<usize> {
    // The usual line, `hhhhhhhh R\n`, read from a fixed 11-byte window.
    if let Some(&[a, b, c, d, e, f, g, h, b' ', k, b'\n']) = data.get(p..p + 11) {
        let pair = |x: u8, y: u8| PAIRS[usize::from(u16::from_le_bytes([x, y]))];
        let (p0, p1, p2, p3) = (pair(a, b), pair(c, d), pair(e, f), pair(g, h));
        let kind = match k | 0x20 {
            b'r' => AccessKind::Read,
            b'w' => AccessKind::Write,
            _ => return None,
        };
        if (p0 | p1 | p2 | p3) <= 0xff {
            let addr = (u64::from(p0) << 24)
                | (u64::from(p1) << 16)
                | (u64::from(p2) << 8)
                | u64::from(p3);
            out.push(Access::new(kind, addr, 1));
            return Some(p + 11);
        }
    }
    let s = data.get(p..)?;
    let mut i = match s {
        [b'0', b'x' | b'X', ..] => 2,
        _ => 0,
    };
    let (addr, n) = hex_digits(&s[i..]);
    i += n;
    if n == 0 || n > 16 {
        return None;
    }
    let ws = i;
    while matches!(s.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    if i == ws {
        return None;
    }
    let kind = match s.get(i) {
        Some(b'R' | b'r') => AccessKind::Read,
        Some(b'W' | b'w') => AccessKind::Write,
        _ => return None,
    };
    i += 1;
    let next = match s.get(i) {
        None => p + i,
        Some(b'\n') => p + i + 1,
        Some(b'\r') if s.get(i + 1) == Some(&b'\n') => p + i + 2,
        _ => return None,
    };
    out.push(Access::new(kind, addr, 1));
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_agrees_with_parse_on_what_it_accepts() {
        let lines: &[&[u8]] = &[
            b"0041f7a0 R",
            b"0x13f5e2c0\tW",
            b"0000000 w",
            b"0041f7a0R",
            b"0041f7a0 X",
            b"0x R",
            b"11112222333344445 R",
            b"  0041f7a0 R",
        ];
        for l in lines {
            for end in [&b""[..], b"\n", b"\r\n"] {
                for pad in [0, 40] {
                    // With and without more data after the line.
                    let data = [*l, end, &vec![b'x'; pad]].concat();
                    let mut a = Vec::new();
                    let mut b = Vec::new();
                    if let Some(next) = fast(&data, 0, &mut a) {
                        assert_eq!(next, l.len() + end.len());
                        parse(crate::syntax::trim(l), &mut b).unwrap();
                        assert_eq!(a, b, "{}", String::from_utf8_lossy(l));
                    } else {
                        assert!(
                            end.is_empty() && pad > 0 || !lines[..3].contains(l),
                            "{} is a common line",
                            String::from_utf8_lossy(l)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn op_first_lines() {
        let mut out = Vec::new();
        for l in [
            &b"W 0xbff05e7c"[..],
            b"R 0x7ffe7dfbfcc8",
            b"R 7ffe7dfbf000 8",
            b"w\t10  16",
        ] {
            assert_eq!(parse_op_first(l, &mut out), Ok(Rec::Access));
        }
        assert_eq!(
            out,
            vec![
                Access::new(AccessKind::Write, 0xbff05e7c, 1),
                Access::new(AccessKind::Read, 0x7ffe7dfbfcc8, 1),
                Access::new(AccessKind::Read, 0x7ffe7dfbf000, 8),
                Access::new(AccessKind::Write, 0x10, 16),
            ]
        );
        for l in [&b"W 0xzz"[..], b"R 10 0", b"R 10 8 9"] {
            assert!(parse_op_first(l, &mut out).is_err() && looks_like_op_first(l));
        }
        assert!(!looks_like_op_first(b"Read 10") && !looks_like_op_first(b"RTN: main"));
        assert!(looks_like(b"0041f7a0 X") && !looks_like(b"2023 was good"));
    }

    #[test]
    fn fast_agrees_with_parse_on_random_lines() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut r = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut fast_lines = 0;
        for _ in 0..20_000 {
            let mut line = Vec::new();
            let digits = 1 + r() % 18;
            for _ in 0..digits {
                line.push(b"0123456789abcdefABCDEF"[(r() % 22) as usize]);
            }
            line.extend_from_slice([&b" "[..], b"\t", b"  "][(r() % 3) as usize]);
            line.push(b"RWrwX"[(r() % 5) as usize]);
            if r() % 8 == 0 {
                // Damage a byte.
                let at = (r() as usize) % line.len();
                line[at] = b" ,:xXzg\r"[(r() % 8) as usize];
            }
            let mut data = line.clone();
            data.push(b'\n');
            data.extend(std::iter::repeat_n(b'#', (r() % 40) as usize));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            if let Some(next) = fast(&data, 0, &mut a) {
                fast_lines += 1;
                assert_eq!(next, line.len() + 1);
                // The engine trims a line's end (`\r`, blanks) before the general parser.
                let trimmed = crate::syntax::trim(&line);
                assert!(
                    parse(trimmed, &mut b).is_ok(),
                    "{}",
                    String::from_utf8_lossy(&line)
                );
                assert_eq!(a, b, "{}", String::from_utf8_lossy(&line));
            }
        }
        assert!(fast_lines > 2_000, "{fast_lines}");
    }
}
