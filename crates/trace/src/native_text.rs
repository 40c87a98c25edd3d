//! The text form of ptbench's native format (see [`write`](crate::write) for its grammar): a
//! `ptbench-trace v1` header line, then one access or event a line. Recognised by the header.

use crate::syntax::{hex, skip_ws, Reason, Rec};
use ptbench_core::{Access, AccessKind, FILE_BACKED, HUGE_ADVISED};

/// Whether `line` is the header that starts the format.
pub(crate) fn sniff(line: &[u8]) -> bool {
    line.starts_with(b"ptbench-trace")
}

/// Whether a line (trimmed) that did not parse starts like a record: with one of the format's
/// words.
pub(crate) fn looks_like(line: &[u8]) -> bool {
    sniff(line)
        || matches!(
            word(line).0,
            b"R" | b"W"
                | b"I"
                | b"switch"
                | b"exit"
                | b"fork"
                | b"mmap"
                | b"mprotect"
                | b"munmap"
                | b"thread"
                | b"cpu"
        )
}

fn word(s: &[u8]) -> (&[u8], &[u8]) {
    let s = skip_ws(s);
    let n = s
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(s.len());
    (&s[..n], &s[n..])
}

fn dec<'a, T: TryFrom<u64>>(s: &'a [u8], what: &str) -> Result<(T, &'a [u8]), Reason> {
    let (w, rest) = word(s);
    let v = std::str::from_utf8(w)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| format!("expected {what} (a decimal number)"))?;
    Ok((v, rest))
}

/// `r-x`; with `file`, a fourth letter `f` marks a file-backed mapping (flag bit 3) and `-` an
/// anonymous one.
fn perms(s: &[u8], file: bool) -> Result<(u8, &[u8]), Reason> {
    let (w, rest) = word(s);
    let bad = || -> Reason {
        if file {
            "expected permissions like r-x, r-xf for a file, rw-h for huge pages (madvise)".into()
        } else {
            "expected permissions like r-x".into()
        }
    };
    let (rwx, tail) = match w {
        [a, b, c, tail @ ..] if file || tail.is_empty() => ([*a, *b, *c], tail),
        _ => return Err(bad()),
    };
    let [r, w_, x] = rwx;
    if !(matches!(r, b'r' | b'-') && matches!(w_, b'w' | b'-') && matches!(x, b'x' | b'-')) {
        return Err(bad());
    }
    let extra = match tail {
        [] => 0,
        [b'f'] => FILE_BACKED,
        [b'h'] => HUGE_ADVISED,
        [b'f', b'h'] => FILE_BACKED | HUGE_ADVISED,
        _ => return Err(bad()),
    };
    Ok((
        u8::from(r == b'r') | u8::from(w_ == b'w') << 1 | u8::from(x == b'x') << 2 | extra,
        rest,
    ))
}

fn end(rest: &[u8]) -> Result<(), Reason> {
    if skip_ws(rest).is_empty() {
        Ok(())
    } else {
        Err("unexpected text at the end of the line".into())
    }
}

/// Parses one line (trimmed, not skipped).
pub(crate) fn parse(line: &[u8], out: &mut Vec<Access>) -> Result<Rec, Reason> {
    if let Some(rest) = line.strip_prefix(b"ptbench-trace") {
        return match word(rest).0 {
            b"v1" => Ok(Rec::Other),
            _ => Err("this ptbench reads version v1 of the text form".into()),
        };
    }
    let (op, rest) = word(line);
    let access = |kind| -> Result<Access, Reason> {
        let (addr, rest) = hex(skip_ws(rest))?;
        let (size, rest): (u32, _) = dec(rest, "a size")?;
        if size == 0 || addr.checked_add(u64::from(size) - 1).is_none() {
            return Err("size must be at least 1 and stay below 2^64".into());
        }
        let (asid, rest): (u16, _) = if skip_ws(rest).is_empty() {
            (0, rest)
        } else {
            dec(rest, "an address space")?
        };
        end(rest)?;
        Ok(Access::new(kind, addr, size).in_asid(asid))
    };
    let range = |kind, with_perms: bool, file: bool| -> Result<Access, Reason> {
        let (asid, rest): (u16, _) = dec(rest, "an address space")?;
        let (addr, rest) = hex(skip_ws(rest))?;
        let (pages, rest): (u32, _) = dec(rest, "a page count")?;
        let (flags, rest) = if with_perms {
            perms(rest, file)?
        } else {
            (0, rest)
        };
        end(rest)?;
        let mut a = Access::new(kind, addr, pages).in_asid(asid);
        a.flags = flags;
        Ok(a)
    };
    let a = match op {
        b"R" => access(AccessKind::Read)?,
        b"W" => access(AccessKind::Write)?,
        b"I" => access(AccessKind::Fetch)?,
        b"switch" | b"exit" => {
            let (asid, rest): (u16, _) = dec(rest, "an address space")?;
            end(rest)?;
            let kind = if op == b"switch" {
                AccessKind::ContextSwitch
            } else {
                AccessKind::Exit
            };
            Access::new(kind, 0, 0).in_asid(asid)
        }
        b"fork" => {
            let (parent, rest): (u16, _) = dec(rest, "the parent address space")?;
            let (child, rest): (u16, _) = dec(rest, "the child address space")?;
            end(rest)?;
            Access::new(AccessKind::Fork, u64::from(child), 0).in_asid(parent)
        }
        b"thread" => {
            let (asid, rest): (u16, _) = dec(rest, "an address space")?;
            let (tid, rest): (u64, _) = dec(rest, "a thread id")?;
            end(rest)?;
            Access::new(AccessKind::Thread, tid, 0).in_asid(asid)
        }
        b"cpu" => {
            let (cpu, rest): (u64, _) = dec(rest, "a CPU number")?;
            end(rest)?;
            Access::new(AccessKind::Cpu, cpu, 0)
        }
        b"mmap" => range(AccessKind::Mmap, true, true)?,
        b"mprotect" => range(AccessKind::Mprotect, true, false)?,
        b"munmap" => range(AccessKind::Munmap, false, false)?,
        _ => {
            return Err(
                "expected R, W, I, switch, fork, mmap, munmap, mprotect, exit, thread or cpu"
                    .into(),
            )
        }
    };
    out.push(a);
    Ok(Rec::Access)
}
