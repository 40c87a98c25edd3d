//! "Did you mean": the known name closest to a misspelt one, for every spec language's errors
//! (designs, TLBs).

/// `did you mean `x`? ` for a suggestion, nothing without one.
pub fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!("did you mean `{s}`? "))
}

/// The candidate closest to `given` when it is close enough to be a misspelling of it: an edit
/// distance (Levenshtein with adjacent swaps counting one, ignoring case) of at most 2 and under
/// half the candidate's length, or `given` (3 characters or more) beginning the candidate. The
/// first of equally close ones.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given = given.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = strsim::osa_distance(&given, &c.to_lowercase());
        let close = (d <= 2 && 2 * d < c.len()) || (given.len() >= 3 && c.starts_with(&given));
        if close && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_misspellings_and_prefixes_only() {
        assert_eq!(closest("X86-64", ["radix", "x86-64"]), Some("x86-64"));
        assert_eq!(closest("x86", ["x86-64", "x86-64-5l"]), Some("x86-64"));
        assert_eq!(closest("ecpt", ["flat", "hashed"]), None);
        assert_eq!(
            closest("lfat", ["flat"]),
            Some("flat"),
            "a swap is one edit"
        );
        assert_eq!(
            closest("ab", ["ba", "xy"]),
            None,
            "two edits of two letters is not close"
        );
        assert_eq!(did_you_mean(Some("pwc")), "did you mean `pwc`? ");
        assert_eq!(did_you_mean(None), "");
    }
}
