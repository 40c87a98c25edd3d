//! Small pieces every text parser shares: hex and decimal numbers, whitespace, and building a
//! checked [`Access`]. Nothing here allocates unless it reports an error.

use ptbench_core::{Access, AccessKind};

/// A text parser's verdict on one line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rec {
    /// The line held accesses, now pushed.
    Access,
    /// The line is a valid record that is not an access (a Dinero flush or invalidate, say).
    Other,
}

/// What a parser says is wrong with a line. Built only on the error path.
pub(crate) type Reason = String;

/// Hex digit values; 0xff for bytes that are not hex digits.
pub(crate) static HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Parses hex digits after an optional `0x`/`0X`, returning the value and the rest.
#[inline]
pub(crate) fn hex(s: &[u8]) -> Result<(u64, &[u8]), Reason> {
    let s = match s {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => s,
    };
    let mut v: u64 = 0;
    let mut n = 0;
    for &b in s {
        let d = HEX[b as usize];
        if d > 15 {
            break;
        }
        if v >> 60 != 0 {
            return Err("address wider than 64 bits".into());
        }
        v = (v << 4) | u64::from(d);
        n += 1;
    }
    if n == 0 {
        return Err("expected a hex address".into());
    }
    Ok((v, &s[n..]))
}

/// Values of two hex digits read as a little-endian `u16`; `0xffff` when either is not one.
pub(crate) static PAIRS: [u16; 65536] = {
    let mut t = [0xffffu16; 65536];
    let mut i = 0;
    while i < 65536 {
        let hi = HEX[i & 0xff];
        let lo = HEX[i >> 8];
        if hi < 16 && lo < 16 {
            t[i] = ((hi as u16) << 4) | lo as u16;
        }
        i += 1;
    }
    t
};

/// The leading hex digits of `s` (no prefix): their value and count, two digits at a time
/// through a table (faster here than a byte at a time, or eight-at-a-time SWAR, measured).
/// Counts past 16 mean the number does not fit, and the value is then meaningless.
#[inline(always)]
pub(crate) fn hex_digits(s: &[u8]) -> (u64, usize) {
    let mut v = 0u64;
    let mut n = 0;
    // Addresses are mostly 8 digits or more: look up the first four pairs at once (four
    // independent loads, no loop-carried branch), then go on pair by pair.
    if let Some(&[a, b, c, d, e, f, g, h]) = s.get(..8) {
        let p0 = PAIRS[usize::from(u16::from_le_bytes([a, b]))];
        let p1 = PAIRS[usize::from(u16::from_le_bytes([c, d]))];
        let p2 = PAIRS[usize::from(u16::from_le_bytes([e, f]))];
        let p3 = PAIRS[usize::from(u16::from_le_bytes([g, h]))];
        if (p0 | p1 | p2 | p3) <= 0xff {
            v = (u64::from(p0) << 24)
                | (u64::from(p1) << 16)
                | (u64::from(p2) << 8)
                | u64::from(p3);
            n = 8;
        }
    }
    while n + 1 < s.len() {
        let pair = PAIRS[usize::from(u16::from_le_bytes([s[n], s[n + 1]]))];
        if pair > 0xff {
            break;
        }
        v = (v << 8) | u64::from(pair);
        n += 2;
    }
    while let Some(&c) = s.get(n) {
        let d = HEX[c as usize];
        if d > 15 {
            break;
        }
        v = (v << 4) | u64::from(d);
        n += 1;
    }
    (v, n)
}

/// Parses a decimal size from 1 to `u32::MAX`, returning it and the rest.
#[inline]
pub(crate) fn dec_size(s: &[u8]) -> Result<(u32, &[u8]), Reason> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err("expected a decimal size".into());
    }
    let size = s[..digits]
        .iter()
        .try_fold(0u32, |v, b| {
            v.checked_mul(10)?.checked_add(u32::from(b - b'0'))
        })
        .filter(|s| *s > 0)
        .ok_or("size must be from 1 to 4294967295 bytes")?;
    Ok((size, &s[digits..]))
}

/// Spaces and tabs.
#[inline]
pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Skips spaces and tabs.
#[inline]
pub(crate) fn skip_ws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| is_blank(**b)).count();
    &s[n..]
}

/// Skips at least one space or tab; `what` names what must come before them.
#[inline]
pub(crate) fn need_ws<'a>(s: &'a [u8], what: &str) -> Result<&'a [u8], Reason> {
    match s.first() {
        Some(b) if is_blank(*b) => Ok(skip_ws(s)),
        _ => Err(format!("expected whitespace {what}")),
    }
}

/// The longest line a text reader takes in: far longer than a record of any format (the longest,
/// a padded SimpleExamples pinatrace line, is under 80 bytes) or any plausible line of noise. A
/// longer line that starts like a record is an error; any other is skipped as noise, without
/// being buffered whole.
pub const MAX_LINE_BYTES: usize = 4096;

/// Whitespace a line may start or end with, in every format.
#[inline]
fn is_pad(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

/// Cuts trailing line ends and whitespace.
#[inline]
pub(crate) fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b] = line {
        if !is_pad(*b) {
            break;
        }
        line = rest;
    }
    line
}

/// Cuts leading and trailing whitespace, and a UTF-8 byte-order mark at the start: every
/// format accepts the same padding around a record.
#[inline]
pub(crate) fn trim(line: &[u8]) -> &[u8] {
    let mut s = trim_end(line);
    if let [0xef, 0xbb, 0xbf, rest @ ..] = s {
        s = rest;
    }
    while let [b, rest @ ..] = s {
        if !is_pad(*b) {
            break;
        }
        s = rest;
    }
    s
}

/// Blank lines, `#` comments (Pin's `#eof` and header among them) and Valgrind's `==pid==` /
/// `--pid--` messages: lines of no format, skipped by all without being counted (`line` is
/// trimmed).
#[inline]
pub(crate) fn is_skipped(line: &[u8]) -> bool {
    matches!(line, [] | [b'#', ..] | [b'=', b'=', ..] | [b'-', b'-', ..])
}

/// The first whitespace-separated word of `s` (trimmed) and what follows it.
#[inline]
pub(crate) fn first_word(s: &[u8]) -> (&[u8], &[u8]) {
    let s = skip_ws(s);
    let n = s.iter().position(|b| is_blank(*b)).unwrap_or(s.len());
    (&s[..n], &s[n..])
}

/// Whether `w` is written like a hex number: hex digits after an optional `0x` (however many).
#[inline]
pub(crate) fn is_hex_word(w: &[u8]) -> bool {
    let digits = match w {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => w,
    };
    !digits.is_empty() && digits.iter().all(|b| HEX[usize::from(*b)] < 16)
}

/// An access of `size` bytes at `addr`, refused if it runs past the top of the address space.
#[inline]
pub(crate) fn access(kind: AccessKind, addr: u64, size: u32) -> Result<Access, Reason> {
    if size == 0 {
        return Err("an access must be at least 1 byte".into());
    }
    if addr.checked_add(u64::from(size) - 1).is_none() {
        return Err("the access runs past the top of the 64-bit address space".into());
    }
    Ok(Access::new(kind, addr, size))
}

/// Whether `head`, the first bytes of a file, looks like binary data rather than text: more
/// than a quarter of its first 4 KiB are control bytes other than whitespace and ESC, or bytes
/// that are not UTF-8.
pub(crate) fn looks_binary(head: &[u8]) -> bool {
    let head = &head[..head.len().min(4096)];
    let mut odd = 0;
    for chunk in head.utf8_chunks() {
        odd += chunk.invalid().len();
        odd += chunk
            .valid()
            .bytes()
            .filter(|b| {
                b.is_ascii_control() && !matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1b)
            })
            .count();
    }
    odd * 4 > head.len()
}

/// A line as shown in a message: cut at 120 characters, with control characters, invisible
/// ones (a byte-order mark, zero-width and direction marks) and bytes that are not UTF-8
/// escaped (`\0`, `\t`, `\u{1b}`, `\u{feff}`, `\xff`), so that no line of a trace reaches a
/// terminal raw.
pub(crate) fn shown(line: &[u8]) -> String {
    use std::fmt::Write;
    const MAX_CHARS: usize = 120;
    let line = &line[..line.len().min(4 * (MAX_CHARS + 1))];
    let mut out = String::with_capacity(line.len() + 8);
    let mut n = 0;
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            if n == MAX_CHARS {
                out.push_str("...");
                return out;
            }
            n += 1;
            match c {
                '\0' => out.push_str("\\0"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                c if c.is_control() || is_invisible(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            if n == MAX_CHARS {
                out.push_str("...");
                return out;
            }
            n += 1;
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Characters that print as nothing, or reorder what follows them.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_sizes() {
        assert_eq!(hex(b"0x1fZ").unwrap(), (0x1f, &b"Z"[..]));
        assert_eq!(hex(b"00000000000000000001").unwrap().0, 1);
        assert!(hex(b"11112222333344445").unwrap_err().contains("64 bits"));
        assert!(hex(b"zz").is_err());
        assert_eq!(dec_size(b"12,").unwrap(), (12, &b","[..]));
        assert!(dec_size(b"0").is_err() && dec_size(b"4294967296").is_err());
        assert!(access(AccessKind::Read, u64::MAX, 2).is_err());
        assert!(access(AccessKind::Read, u64::MAX, 1).is_ok());
        assert_eq!(shown(&[b'a'; 200]).len(), 123);
        assert_eq!(
            shown(b"a\x00b\x1b[31mc\x07\t\xef\xbb\xbfd\xff"),
            "a\\0b\\u{1b}[31mc\\u{7}\\t\\u{feff}d\\xff"
        );
        assert_eq!(trim(b"\xef\xbb\xbf  L 10,4 \r\n"), b"L 10,4");
        assert!(is_hex_word(b"0x1f") && is_hex_word(b"11112222333344445"));
        assert!(!is_hex_word(b"0x") && !is_hex_word(b"total"));
    }

    #[test]
    fn hex_digits_counts_every_digit() {
        assert_eq!(hex_digits(b"7ff0005b8,8"), (0x7ff0005b8, 9));
        assert_eq!(hex_digits(b"ffffffffffffffff,"), (u64::MAX, 16));
        assert_eq!(hex_digits(b"11112222333344445").1, 17);
        assert_eq!(hex_digits(b",1"), (0, 0));
    }
}
