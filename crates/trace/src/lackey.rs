//! Valgrind lackey, `valgrind --tool=lackey --trace-mem=yes`.
//!
//! Documented in the Valgrind user manual, "Lackey: an example tool"
//! (<https://valgrind.org/docs/manual/lk-manual.html>), and in the tool's source
//! (`lackey/lk_main.c`, which prints `I  %08lx,%lu`, ` L %08lx,%lu`, ` S %08lx,%lu` and
//! ` M %08lx,%lu`):
//!
//! ```text
//! I  0400d7d4,8      instruction fetch of 8 bytes at 0x0400d7d4
//!  L 7ff0005b8,8     load
//!  S 7ff0005c8,8     store
//!  M 0421c7f0,4      modify: a load then a store of the same bytes (two accesses)
//! ```
//!
//! The address is hex (a `0x` prefix is accepted too), the size decimal. Valgrind's own
//! `==pid==` / `--pid--` lines, blank lines and `#` comments are skipped; so is, counted, any
//! other line that does not start like a record: the traced program's own output, which
//! `valgrind -v --log-fd=1` interleaves with the records (`total 9624`, `-rw-r--r-- 1 root ..`).
//!
//! Lackey-derived traces that operating-systems courses hand out (`.ref` files) drop the size
//! and the leading space: `I 4001000`, `L 7ff0001`, `S ..`, `M ..`. Those are read here too,
//! each access one byte. Any leading whitespace is accepted, as in every format.
//!
//! Recognised when it parses most of the first lines that parse in any format (see the
//! engine), ties going to lackey first.

use crate::syntax::{
    access, dec_size, first_word, hex, hex_digits, is_blank, is_hex_word, need_ws, Reason, Rec,
    HEX, PAIRS,
};
use ptbench_core::{Access, AccessKind};

/// Parses one line (trimmed, not skipped), pushing 1 or 2 accesses.
#[inline]
pub(crate) fn parse(line: &[u8], out: &mut Vec<Access>) -> Result<Rec, Reason> {
    let (kind, rest) = match line {
        [k @ (b'I' | b'L' | b'S' | b'M'), rest @ ..] => (*k, rest),
        _ => return Err("expected `I`, `L`, `S` or `M` then `address,size`".into()),
    };
    let (addr, rest) = hex(need_ws(rest, "after the access kind")?)?;
    let size = match rest {
        [] => 1,
        [b',', rest @ ..] => {
            let (size, rest) = dec_size(rest).map_err(|e| {
                if e.starts_with("expected") {
                    "expected a decimal size after the comma".to_string()
                } else {
                    e
                }
            })?;
            if !rest.is_empty() {
                return Err("expected a decimal size after the comma".into());
            }
            size
        }
        _ => return Err("expected `,size` or the end of the line after the address".into()),
    };
    match kind {
        b'I' => out.push(access(AccessKind::Fetch, addr, size)?),
        b'L' => out.push(access(AccessKind::Read, addr, size)?),
        b'S' => out.push(access(AccessKind::Write, addr, size)?),
        _ => {
            let read = access(AccessKind::Read, addr, size)?;
            out.push(read);
            out.push(Access::new(AccessKind::Write, addr, size));
        }
    }
    Ok(Rec::Access)
}

/// Whether a line (trimmed) that did not parse starts like a record, and so is an error rather
/// than noise: one letter, whitespace, then a word followed by a comma (`S zzzz,4`), or a kind
/// letter and a hex number (`L 10,x`, `M 7ff0001 junk`).
pub(crate) fn looks_like(line: &[u8]) -> bool {
    let [k, b, ..] = line else {
        return false;
    };
    if !k.is_ascii_alphabetic() || !is_blank(*b) {
        return false;
    }
    let (word, _) = first_word(&line[1..]);
    let addr = word.split(|c| *c == b',').next().unwrap_or(word);
    word.contains(&b',') || (b"ILSM".contains(k) && is_hex_word(addr))
}

/// The hot path: parses the line starting at `data[p]` if it has lackey's usual shape (one
/// kind letter, spaces, at most 16 hex digits, a comma, at most 10 decimal digits, then `\n`,
/// `\r\n` or the end), pushing its accesses and returning where the next line starts. Any
/// other line, well-formed or not, returns `None` and goes to [`parse`], which accepts a
/// superset of these lines with the same result.
#[inline(always)]
pub(crate) fn fast(data: &[u8], p: usize, out: &mut Vec<Access>) -> Option<usize> {
    // Most lines fit in 32 bytes: a fixed window lets the compiler drop the bounds checks.
    match data.get(p..p + 32) {
        Some(w) => fast_in(w.try_into().ok()?, p, out),
        None => fast_tail(data, p, out),
    }
}

/// [`fast`] for a line that starts a 32-byte window (and may go past it: then `None`). Takes
/// lackey's own layout, `I  ` or ` L ` then at least 8 hex digits (`%08lx`), at fixed offsets;
/// other lines go the general way.
#[inline(always)]
fn fast_in(w: &[u8; 32], p: usize, out: &mut Vec<Access>) -> Option<usize> {
    // The kind without a branch on it (fetches and data accesses interleave unpredictably):
    // the four prefixes differ in `(w[0] ^ w[1]) & 7`.
    let (prefix, kind) = PREFIXES[usize::from((w[0] ^ w[1]) & 7)];
    if u32::from_le_bytes([w[0], w[1], w[2], 0]) != prefix {
        return None;
    }
    // The first eight digits as four independent pair lookups.
    let pair = |k: usize| PAIRS[usize::from(u16::from_le_bytes([w[k], w[k + 1]]))];
    let (p0, p1, p2, p3) = (pair(3), pair(5), pair(7), pair(9));
    if (p0 | p1 | p2 | p3) > 0xff {
        return None;
    }
    let mut addr =
        (u64::from(p0) << 24) | (u64::from(p1) << 16) | (u64::from(p2) << 8) | u64::from(p3);
    // Up to eight more.
    let mut i = 11;
    while i < 19 {
        let d = HEX[w[i] as usize];
        if d > 15 {
            break;
        }
        addr = (addr << 4) | u64::from(d);
        i += 1;
    }
    if w[i] != b',' {
        return None;
    }
    // Sizes are one or two digits, almost always.
    let d0 = w[i + 1].wrapping_sub(b'0');
    let d1 = w[i + 2].wrapping_sub(b'0');
    let (size, end) = if d0 > 9 || d0 == 0 {
        return None;
    } else if d1 > 9 {
        (u32::from(d0), i + 2)
    } else {
        (u32::from(d0) * 10 + u32::from(d1), i + 3)
    };
    let next = match (w[end], w[end + 1]) {
        (b'\n', _) => p + end + 1,
        (b'\r', b'\n') => p + end + 2,
        _ => return None,
    };
    addr.checked_add(u64::from(size) - 1)?;
    push(kind, addr, size, out);
    Some(next)
}

/// What [`fast_in`] reads a line's first three bytes as, by `(byte 0 ^ byte 1) & 7`: the three
/// bytes (little-endian; `u32::MAX`, no three bytes, where no prefix falls) and the access
/// kind, `None` for a modify (a load, then a store).
const PREFIXES: [(u32, Option<AccessKind>); 8] = {
    let mut t = [(u32::MAX, None); 8];
    let all = [
        (*b"I  ", Some(AccessKind::Fetch)),
        (*b" L ", Some(AccessKind::Read)),
        (*b" S ", Some(AccessKind::Write)),
        (*b" M ", None),
    ];
    let mut i = 0;
    while i < all.len() {
        let ([a, b, c], kind) = all[i];
        let slot = ((a ^ b) & 7) as usize;
        assert!(t[slot].0 == u32::MAX, "two prefixes in one slot");
        t[slot] = (u32::from_le_bytes([a, b, c, 0]), kind);
        i += 1;
    }
    t
};

/// Pushes the access(es) of a line of `kind` (`None`: a modify, a load then a store).
#[inline(always)]
fn push(kind: Option<AccessKind>, addr: u64, size: u32, out: &mut Vec<Access>) {
    match kind {
        Some(k) => out.push(Access::new(k, addr, size)),
        None => {
            out.push(Access::new(AccessKind::Read, addr, size));
            out.push(Access::new(AccessKind::Write, addr, size));
        }
    }
}

/// [`fast`] near the end of the data, a byte at a time.
fn fast_tail(data: &[u8], p: usize, out: &mut Vec<Access>) -> Option<usize> {
    let s = data.get(p..)?;
    let (kind, mut i) = match s {
        [b'I', b' ', ..] => (Some(AccessKind::Fetch), 2),
        [b' ', b'L', b' ', ..] => (Some(AccessKind::Read), 3),
        [b' ', b'S', b' ', ..] => (Some(AccessKind::Write), 3),
        [b' ', b'M', b' ', ..] => (None, 3),
        _ => return None,
    };
    while s.get(i) == Some(&b' ') {
        i += 1;
    }
    let (addr, n) = hex_digits(&s[i..]);
    i += n;
    if n == 0 || n > 16 || s.get(i) != Some(&b',') {
        return None;
    }
    i += 1;
    let start = i;
    let mut size = 0u64;
    while let Some(&c) = s.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        size = size * 10 + u64::from(d);
        i += 1;
    }
    let n = i - start;
    if n == 0 || n > 10 || size == 0 || size > u64::from(u32::MAX) {
        return None;
    }
    let next = match s.get(i) {
        None => p + i,
        Some(b'\n') => p + i + 1,
        Some(b'\r') if s.get(i + 1) == Some(&b'\n') => p + i + 2,
        _ => return None,
    };
    addr.checked_add(size - 1)?;
    push(kind, addr, size as u32, out);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_agrees_with_parse_on_what_it_accepts() {
        let lines: &[&[u8]] = &[
            b"I  0400d7d4,8",
            b" L 7ff0005b8,8",
            b" S 7ff0005c8,4",
            b" M 0421c7f0,4",
            b" L ffffffffffffffff,1",
            b" L ffffffffffffffff,2",
            b" L 10,0",
            b" L 10,4294967295",
            b" L 10,4294967296",
            b" L 0x10,4",
            b" L 10,4 ",
            b"I 0400d7d4,8",
            b"I 0400d7d4",
            b"L 7ff0001",
            b" X 10,4",
        ];
        for l in lines {
            for end in [&b""[..], b"\n", b"\r\n"] {
                for pad in [0, 40] {
                    // With padding after the line, the 32-byte window path runs.
                    let data = [*l, end, &vec![b'x'; pad]].concat();
                    let mut a = Vec::new();
                    let mut b = Vec::new();
                    if let Some(next) = fast(&data, 0, &mut a) {
                        assert_eq!(next, l.len() + end.len());
                        parse(crate::syntax::trim(l), &mut b).unwrap();
                        assert_eq!(a, b, "{}", String::from_utf8_lossy(l));
                    } else {
                        assert!(
                            end.is_empty() && pad > 0 || !lines[..4].contains(l),
                            "{} is a common line",
                            String::from_utf8_lossy(l)
                        );
                    }
                }
            }
        }
        let mut a = Vec::new();
        assert_eq!(fast(b" M 10,4\n L 20,4\n", 0, &mut a), Some(8));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn sizeless_course_lines_and_what_looks_like_a_record() {
        let mut out = Vec::new();
        for l in [
            &b"I 4001000"[..],
            b"L 7ff0001",
            b"S 0x10",
            b"M 20",
            b"L\t10,8",
        ] {
            assert_eq!(parse(l, &mut out), Ok(Rec::Access));
        }
        assert_eq!(
            out,
            vec![
                Access::new(AccessKind::Fetch, 0x4001000, 1),
                Access::new(AccessKind::Read, 0x7ff0001, 1),
                Access::new(AccessKind::Write, 0x10, 1),
                Access::new(AccessKind::Read, 0x20, 1),
                Access::new(AccessKind::Write, 0x20, 1),
                Access::new(AccessKind::Read, 0x10, 8),
            ]
        );
        for l in [
            &b"S zzzz,4"[..],
            b"L 10,x",
            b"M 7ff0001 junk",
            b"X 10,4",
            b"L 1122334455667788aa",
        ] {
            assert!(
                parse(l, &mut out).is_err() && looks_like(l),
                "{}",
                String::from_utf8_lossy(l)
            );
        }
        for l in [
            &b"total 9624"[..],
            b"-rw-r--r-- 1 root",
            b"I have a dream",
            b"RTN: main",
        ] {
            assert!(!looks_like(l), "{}", String::from_utf8_lossy(l));
        }
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
            let kinds: [&[u8]; 5] = [b"I  ", b" L ", b" S ", b" M ", b"I "];
            let mut line = kinds[(r() % 5) as usize].to_vec();
            let digits = 1 + r() % 18;
            for _ in 0..digits {
                line.push(b"0123456789abcdefABCDEF"[(r() % 22) as usize]);
            }
            line.push(b',');
            line.extend_from_slice((r() % 300).to_string().as_bytes());
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
