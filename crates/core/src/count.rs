//! Counts and sizes as people type them: `10m`, `4g`, `2^30`, `1_000`.

use thiserror::Error;

/// Why a count did not parse.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CountError {
    /// Not digits with an optional suffix, nor a power.
    #[error("`{0}` is not a whole number (suffixes k, m, g, t, or a power like 2^30)")]
    NotANumber(String),
    /// Past `u64::MAX`.
    #[error("`{0}` does not fit in 64 bits")]
    TooLarge(String),
}

/// A count with an optional suffix `k`, `m`, `g` or `t`: powers of 1000 (`10m` = 10,000,000), or
/// of 1024 when `binary` (`1g` = 2^30); `B^E` is a power (`2^40`); `_` separates digits. A size
/// (`binary`) may end in `B` or `iB` too, as `4GiB`, `512MB`, `4096B` (all powers of 1024).
pub fn parse_count(s: &str, binary: bool) -> Result<u64, CountError> {
    let bad = || CountError::NotANumber(s.to_string());
    let big = || CountError::TooLarge(s.to_string());
    let mut t = s.trim().to_ascii_lowercase().replace(['_', ' '], "");
    if binary {
        if let Some(n) = t.strip_suffix("ib").or_else(|| t.strip_suffix('b')) {
            t = n.to_string();
        }
    }
    if let Some((base, exp)) = t.split_once('^') {
        let base: u64 = base.parse().map_err(|_| bad())?;
        let exp: u32 = exp.parse().map_err(|_| bad())?;
        return base.checked_pow(exp).ok_or_else(big);
    }
    let (digits, unit): (&str, u64) = match t.as_bytes().last() {
        Some(b'k') => (&t[..t.len() - 1], if binary { 1 << 10 } else { 1_000 }),
        Some(b'm') => (&t[..t.len() - 1], if binary { 1 << 20 } else { 1_000_000 }),
        Some(b'g') => (
            &t[..t.len() - 1],
            if binary { 1 << 30 } else { 1_000_000_000 },
        ),
        Some(b't') => (
            &t[..t.len() - 1],
            if binary { 1 << 40 } else { 1_000_000_000_000 },
        ),
        _ => (t.as_str(), 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let v: u64 = digits.parse().map_err(|_| big())?;
    v.checked_mul(unit).ok_or_else(big)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sizes() {
        assert_eq!(parse_count("10m", false), Ok(10_000_000));
        assert_eq!(parse_count("1g", true), Ok(1 << 30));
        assert_eq!(parse_count("2^60", true), Ok(1 << 60));
        assert_eq!(parse_count("1_000", false), Ok(1000));
        // Sizes in the spellings people use; a count of accesses is no size.
        for (s, v) in [
            ("4GiB", 4u64 << 30),
            ("512MB", 512 << 20),
            ("512 mib", 512 << 20),
            ("16K", 16 << 10),
            ("4096B", 4096),
            ("2^30B", 1 << 30),
        ] {
            assert_eq!(parse_count(s, true), Ok(v), "{s}");
        }
        assert_eq!(
            parse_count("10mb", false),
            Err(CountError::NotANumber("10mb".into()))
        );
        assert!(parse_count("b", true).is_err() && parse_count("gib", true).is_err());
        assert_eq!(
            parse_count("2^64", true),
            Err(CountError::TooLarge("2^64".into()))
        );
        assert!(matches!(
            parse_count("99999999999999999999", false),
            Err(CountError::TooLarge(_))
        ));
        assert!(matches!(
            parse_count("ten", false),
            Err(CountError::NotANumber(_))
        ));
        assert!(matches!(
            parse_count("k", false),
            Err(CountError::NotANumber(_))
        ));
    }
}
