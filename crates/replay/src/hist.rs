//! The distribution of memory references per walk.
//!
//! Walks read few entries (1 to a few dozen), so counts up to [`SMALL`] are kept exactly in an array
//! (a single increment on the hot path); rarer, longer walks (long hash chains) go to an
//! hdrhistogram. Quantiles are computed over both.

use hdrhistogram::Histogram;

/// Values below this are counted exactly.
pub const SMALL: usize = 64;

/// References per walk.
#[derive(Clone, Debug)]
pub struct RefHistogram {
    small: [u64; SMALL],
    tail: Option<Box<Histogram<u64>>>,
}

impl Default for RefHistogram {
    fn default() -> Self {
        RefHistogram {
            small: [0; SMALL],
            tail: None,
        }
    }
}

impl PartialEq for RefHistogram {
    fn eq(&self, other: &Self) -> bool {
        let tail = |h: &Self| {
            h.tail
                .as_ref()
                .map(|t| {
                    t.iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        self.small == other.small && tail(self) == tail(other)
    }
}

impl Eq for RefHistogram {}

impl RefHistogram {
    /// Records one walk of `refs` references.
    #[inline(always)]
    pub fn record(&mut self, refs: u32) {
        match self.small.get_mut(refs as usize) {
            Some(c) => *c += 1,
            None => self.record_tail(refs),
        }
    }

    /// Records `n` walks of `refs` references each.
    #[inline]
    pub fn record_n(&mut self, refs: u32, n: u64) {
        if n == 0 {
            return;
        }
        match self.small.get_mut(refs as usize) {
            Some(c) => *c += n,
            None => {
                let tail = self.tail.get_or_insert_with(|| {
                    Box::new(Histogram::new(3).expect("3 significant digits is a valid precision"))
                });
                tail.saturating_record_n(u64::from(refs), n);
            }
        }
    }

    #[cold]
    fn record_tail(&mut self, refs: u32) {
        let tail = self.tail.get_or_insert_with(|| {
            Box::new(Histogram::new(3).expect("3 significant digits is a valid precision"))
        });
        tail.saturating_record(u64::from(refs));
    }

    /// Walks recorded.
    pub fn count(&self) -> u64 {
        self.small.iter().sum::<u64>() + self.tail.as_ref().map_or(0, |t| t.len())
    }

    /// The smallest value at or below which a fraction `q` (0 to 1) of the walks lie; 0 if empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (v, c) in self.small.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return v as u64;
            }
        }
        match &self.tail {
            Some(t) => t.value_at_quantile((rank - seen) as f64 / t.len() as f64),
            None => (SMALL - 1) as u64,
        }
    }

    /// The largest value recorded; 0 if empty.
    pub fn max(&self) -> u64 {
        if let Some(t) = &self.tail {
            return t.max();
        }
        self.small.iter().rposition(|c| *c > 0).unwrap_or(0) as u64
    }

    /// The histogram as `refs:walks` pairs in increasing order of refs, separated by `;` (the
    /// `walk_refs_histogram` CSV column); values past the exact range are the tail's buckets.
    pub fn to_compact(&self) -> String {
        let mut parts: Vec<String> = self
            .small
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(v, c)| format!("{v}:{c}"))
            .collect();
        if let Some(t) = &self.tail {
            parts.extend(
                t.iter_recorded()
                    .map(|v| format!("{}:{}", v.value_iterated_to(), v.count_at_value())),
            );
        }
        parts.join(";")
    }

    /// Adds `other`'s walks.
    pub fn merge(&mut self, other: &RefHistogram) {
        for (a, b) in self.small.iter_mut().zip(other.small.iter()) {
            *a += b;
        }
        if let Some(t) = &other.tail {
            for v in t.iter_recorded() {
                for _ in 0..v.count_at_value() {
                    self.record_tail(v.value_iterated_to() as u32);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_form_lists_every_recorded_value() {
        let mut h = RefHistogram::default();
        for r in [4, 4, 1, 4, 0] {
            h.record(r);
        }
        assert_eq!(h.to_compact(), "0:1;1:1;4:3");
        h.record(100);
        assert_eq!(h.to_compact(), "0:1;1:1;4:3;100:1");
    }

    #[test]
    fn quantiles_over_exact_counts_and_the_tail() {
        let mut h = RefHistogram::default();
        assert_eq!((h.quantile(0.5), h.max()), (0, 0));
        for _ in 0..90 {
            h.record(4);
        }
        for _ in 0..9 {
            h.record(5);
        }
        h.record(200);
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile(0.5), 4);
        assert_eq!(h.quantile(0.9), 4);
        assert_eq!(h.quantile(0.91), 5);
        assert_eq!(h.quantile(0.99), 5);
        assert_eq!(h.quantile(1.0), 200);
        assert_eq!(h.max(), 200);
        let mut m = RefHistogram::default();
        m.merge(&h);
        m.merge(&h);
        assert_eq!(m.count(), 200);
        assert_eq!(m.quantile(0.995), 200);
    }
}
