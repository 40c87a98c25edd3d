//! Dinero IV's two text input formats: the traditional `din` and the extended `din`.
//!
//! Documented on the Dinero IV page (<https://pages.cs.wisc.edu/~markhill/DineroIV/>), in the
//! Dinero III manual page that defined `din`
//! (<http://www.ece.cmu.edu/~ece548/tools/dinero/man/dinero.htm>), and by Dinero IV's readers
//! `dinfmt.c` and `xdinfmt.c`, which this module follows.
//!
//! ## `din` ([`Format::Din`](crate::Format::Din), `-informat d`)
//! One `label address` pair per line, both hex (a `0x` prefix is allowed), separated by
//! spaces or tabs; the rest of the line is ignored, so it may hold a comment:
//!
//! ```text
//! 2 0        instruction fetch at 0
//! 0 1000     data read at 0x1000
//! 1 70f60888 data write at 0x70f60888
//! 4 0        escape record (cache flush): counted, not an access
//! ```
//!
//! Labels: 0 read, 1 write, 2 instruction fetch; 3 is an escape record of unknown access type
//! and 4 an escape record that flushes the cache. Every label other than 0, 1 and 2 is a valid
//! record that is not an access: it is counted ([`Trace::ignored_records`](crate::Trace::ignored_records))
//! and skipped. Dinero IV's reader is word-oriented: it clears the address's low two bits and
//! makes every access 4 bytes (`r.address = addr & ~3; r.size = 4;`), and so does this one.
//!
//! ## Extended `din` ([`Format::DinExtended`](crate::Format::DinExtended), `-informat D`)
//! `accesstype address size` per line, address and size hex (a `0x` prefix is allowed), the rest
//! of the line ignored. The access type is one letter, either case, exactly as `xdinfmt.c`
//! defines them:
//!
//! | letter | meaning (xdinfmt.c)                                  | here |
//! |--------|------------------------------------------------------|------|
//! | `r`    | read                                                 | a read |
//! | `w`    | write                                                | a write |
//! | `i`    | instruction fetch                                    | a fetch |
//! | `m`    | miscellaneous: like a read but won't generate prefetch | a read |
//! | `c`    | copyback (no invalidate implied)                     | counted, not an access |
//! | `v`    | invalidate (no copyback implied)                     | counted, not an access |
//!
//! (`m` is not "modify": Dinero IV reads it as `D4XMISC`, a read.) Dinero allows size 0 only
//! for `c` and `v`, where it means the whole cache; an access of size 0 is an error here.
//!
//! Recognised when the first line that is not skipped starts with one of the letters above then
//! whitespace and parses as extended din (`c` too, though it is a hex digit), else when it
//! parses as `din`.

use crate::syntax::{access, first_word, hex, is_blank, is_hex_word, skip_ws, Reason, Rec};
use ptbench_core::{Access, AccessKind};

/// Hex digits after an optional `0x`, that must end at whitespace or the end of the line.
fn field<'a>(s: &'a [u8], what: &str) -> Result<(u64, &'a [u8]), Reason> {
    let (v, rest) = hex(s).map_err(|e| {
        if e.starts_with("expected") {
            format!("expected a hex {what}")
        } else {
            format!("{e} ({what})")
        }
    })?;
    match rest.first() {
        None => Ok((v, rest)),
        Some(b) if is_blank(*b) => Ok((v, rest)),
        Some(_) => Err(format!("non-hex character in the {what}")),
    }
}

/// Whether a line (trimmed) that did not parse starts like a `din` record: with a hex label.
pub(crate) fn looks_like_din(line: &[u8]) -> bool {
    is_hex_word(first_word(line).0)
}

/// Whether a line (trimmed) that did not parse starts like an extended din record: a
/// one-character word, then a hex word (`q 10 4`).
pub(crate) fn looks_like_extended(line: &[u8]) -> bool {
    let (t, rest) = first_word(line);
    t.len() == 1 && is_hex_word(first_word(rest).0)
}

/// Parses a `din` line (trimmed, not skipped).
pub(crate) fn parse_din(line: &[u8], out: &mut Vec<Access>) -> Result<Rec, Reason> {
    let (label, rest) = field(skip_ws(line), "label")?;
    if rest.is_empty() {
        return Err("expected a hex address after the label".into());
    }
    let (addr, _comment) = field(skip_ws(rest), "address")?;
    let kind = match label {
        0 => AccessKind::Read,
        1 => AccessKind::Write,
        2 => AccessKind::Fetch,
        _ => return Ok(Rec::Other),
    };
    out.push(access(kind, addr & !3, 4)?);
    Ok(Rec::Access)
}

/// Parses an extended din line (trimmed, not skipped).
pub(crate) fn parse_extended(line: &[u8], out: &mut Vec<Access>) -> Result<Rec, Reason> {
    let line = skip_ws(line);
    let (kind, rest) = match line {
        [t, rest @ ..] => {
            let kind = match t.to_ascii_lowercase() {
                b'r' | b'm' => Some(AccessKind::Read),
                b'w' => Some(AccessKind::Write),
                b'i' => Some(AccessKind::Fetch),
                b'c' | b'v' => None,
                _ => return Err("expected an access type r, w, i, m, c or v".into()),
            };
            (kind, rest)
        }
        [] => return Err("expected an access type r, w, i, m, c or v".into()),
    };
    if !matches!(rest.first(), Some(b) if is_blank(*b)) {
        return Err("expected whitespace after the one-letter access type".into());
    }
    let (addr, rest) = field(skip_ws(rest), "address")?;
    if rest.is_empty() {
        return Err("expected a hex size after the address".into());
    }
    let (size, _comment) = field(skip_ws(rest), "size")?;
    let Some(kind) = kind else {
        return Ok(Rec::Other);
    };
    let size = u32::try_from(size).map_err(|_| "size must be below 2^32 bytes".to_string())?;
    out.push(access(kind, addr, size)?);
    Ok(Rec::Access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn din_labels_and_alignment() {
        let mut out = Vec::new();
        assert_eq!(
            parse_din(b"2 0 an instruction fetch", &mut out),
            Ok(Rec::Access)
        );
        assert_eq!(parse_din(b"0 1003", &mut out), Ok(Rec::Access));
        assert_eq!(parse_din(b"0x1\t70f60888", &mut out), Ok(Rec::Access));
        assert_eq!(parse_din(b"4 0", &mut out), Ok(Rec::Other));
        assert_eq!(parse_din(b"3 10", &mut out), Ok(Rec::Other));
        assert_eq!(
            out,
            vec![
                Access::new(AccessKind::Fetch, 0, 4),
                Access::new(AccessKind::Read, 0x1000, 4),
                Access::new(AccessKind::Write, 0x70f60888, 4),
            ]
        );
        assert!(parse_din(b"0", &mut out).is_err());
        assert!(parse_din(b"0 10g", &mut out).is_err());
        assert!(parse_din(b"z 10", &mut out).is_err());
    }

    #[test]
    fn extended_letters() {
        let mut out = Vec::new();
        for l in [
            &b"r 1000 4"[..],
            b"W 0x2000 0x8 comment",
            b"i 400 2",
            b"m 3000 10",
        ] {
            assert_eq!(parse_extended(l, &mut out), Ok(Rec::Access));
        }
        assert_eq!(parse_extended(b"c 0 0", &mut out), Ok(Rec::Other));
        assert_eq!(parse_extended(b"V 1000 40", &mut out), Ok(Rec::Other));
        assert_eq!(
            out,
            vec![
                Access::new(AccessKind::Read, 0x1000, 4),
                Access::new(AccessKind::Write, 0x2000, 8),
                Access::new(AccessKind::Fetch, 0x400, 2),
                Access::new(AccessKind::Read, 0x3000, 16),
            ]
        );
        assert!(parse_extended(b"r 1000", &mut out).is_err());
        assert!(parse_extended(b"r 1000 0", &mut out).is_err());
        assert!(parse_extended(b"x 1000 4", &mut out).is_err());
        assert!(parse_extended(b"rr 1000 4", &mut out).is_err());
    }
}
