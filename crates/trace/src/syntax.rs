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

/// Cuts trailing line ends and whitespace.
#[inline]
pub(crate) fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r' | b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

/// Blank lines, `#` comments (Pin's `#eof` and header among them) and Valgrind's `==pid==` /
/// `--pid--` messages: lines of no format, skipped by all.
#[inline]
pub(crate) fn is_skipped(line: &[u8]) -> bool {
    match line {
        [] | [b'#', ..] | [b'=', b'=', ..] | [b'-', b'-', ..] => true,
        _ => line.iter().all(|b| b.is_ascii_whitespace()),
    }
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

/// A line as shown in a message: lossy UTF-8, cut at 120 characters.
pub(crate) fn shown(line: &[u8]) -> String {
    let line = &line[..line.len().min(4 * 121)];
    let text = String::from_utf8_lossy(line);
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
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
    }

    #[test]
    fn hex_digits_counts_every_digit() {
        assert_eq!(hex_digits(b"7ff0005b8,8"), (0x7ff0005b8, 9));
        assert_eq!(hex_digits(b"ffffffffffffffff,"), (u64::MAX, 16));
        assert_eq!(hex_digits(b"11112222333344445").1, 17);
        assert_eq!(hex_digits(b",1"), (0, 0));
    }
}
