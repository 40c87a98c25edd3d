//! Synthetic traces, reproducible from a seed: `sequential`, `stride`, `uniform`, `zipf`,
//! `pointer-chase` and `matrix` access patterns over a footprint, as a [`TraceReader`] that streams
//! (a billion accesses need no memory beyond one batch).
//!
//! Every pattern touches addresses in `[base, base + footprint)` (`base` 0x10_0000_0000 by default,
//! page aligned):
//! - `sequential`: 8-byte reads one after another, wrapping at the end of the footprint.
//! - `stride`: 8-byte reads `stride` bytes apart (default 4096: one per page), wrapping.
//! - `uniform`: 8-byte accesses at uniformly random 8-byte-aligned addresses; `write_ratio` of them
//!   stores.
//! - `zipf`: pages drawn from a Zipf distribution of exponent `theta` (default 0.99, as YCSB) over
//!   the footprint's pages, most popular first (page 0 is the hottest), with a random 8-byte offset;
//!   sampled with the constant-memory method of Gray et al., "Quickly generating billion-record
//!   synthetic databases" (SIGMOD 1994), as YCSB does.
//! - `pointer-chase`: 8-byte reads of the footprint's 64-byte nodes in one random cyclic order (a
//!   full-period linear congruential walk over the node indices, scrambled), so each read depends on
//!   the previous one and consecutive reads land on unrelated pages.
//! - `matrix`: a transpose of two square matrices of 8-byte elements that fill the footprint: for
//!   each row i and column j, read `A[i][j]` then write `B[j][i]`.

use crate::{TraceError, TraceReader, BATCH};
use ptbench_core::{Access, AccessKind, SplitMix};
use std::fmt;
use std::str::FromStr;

/// An access pattern.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// 8-byte reads in address order.
    Sequential,
    /// 8-byte reads `stride` bytes apart.
    Stride,
    /// Uniformly random 8-byte accesses.
    Uniform,
    /// Zipf-distributed pages.
    Zipf,
    /// A dependent random walk over 64-byte nodes.
    PointerChase,
    /// A matrix transpose.
    Matrix,
}

impl Pattern {
    /// Every pattern, by name.
    pub const ALL: [(&'static str, Pattern); 6] = [
        ("sequential", Pattern::Sequential),
        ("stride", Pattern::Stride),
        ("uniform", Pattern::Uniform),
        ("zipf", Pattern::Zipf),
        ("pointer-chase", Pattern::PointerChase),
        ("matrix", Pattern::Matrix),
    ];

    /// The pattern's name.
    pub fn name(self) -> &'static str {
        Pattern::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("?", |(n, _)| n)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Pattern, String> {
        Pattern::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, p)| *p)
            .ok_or_else(|| {
                let names: Vec<&str> = Pattern::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown pattern `{s}`; known: {}", names.join(", "))
            })
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenSpec {
    /// The pattern.
    pub pattern: Pattern,
    /// Accesses to generate.
    pub accesses: u64,
    /// Bytes the accesses spread over (at least 4096).
    pub footprint: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// First address.
    pub base: u64,
    /// `stride`: bytes between accesses.
    pub stride: u64,
    /// `zipf`: the exponent.
    pub theta: f64,
    /// `uniform`, `zipf`: the fraction of stores.
    pub write_ratio: f64,
}

impl GenSpec {
    /// A spec with the defaults for everything but the pattern, length and footprint.
    pub fn new(pattern: Pattern, accesses: u64, footprint: u64) -> GenSpec {
        GenSpec {
            pattern,
            accesses,
            footprint,
            seed: 1,
            base: 0x10_0000_0000,
            stride: 4096,
            theta: 0.99,
            write_ratio: 0.3,
        }
    }

    /// Checks the spec, saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.footprint < 4096 {
            return Err(format!(
                "footprint {} is below one 4 KiB page",
                self.footprint
            ));
        }
        if !self.base.is_multiple_of(4096) {
            return Err(format!("base {:#x} is not page aligned", self.base));
        }
        if self.base.checked_add(self.footprint).is_none() {
            return Err("base + footprint passes the top of the 64-bit space".to_string());
        }
        if self.stride == 0 {
            return Err("stride must be at least 1 byte".to_string());
        }
        if !(0.0..=1.0).contains(&self.write_ratio) {
            return Err(format!("write ratio {} is outside 0..=1", self.write_ratio));
        }
        if !(self.theta > 0.0 && self.theta < 1.0 || self.theta > 1.0 && self.theta < 10.0) {
            return Err(format!(
                "zipf theta {} must be in (0, 1) or (1, 10) (the sampler's formula has a pole at 1)",
                self.theta
            ));
        }
        Ok(())
    }
}

/// Terms of the generalised harmonic number summed one by one; the tail beyond them comes from the
/// Euler-Maclaurin formula, so that set-up takes the same time for any footprint (2^24 pages, 64
/// GiB of 4 KiB pages, are exact, and footprints up to that generate what they always did).
const ZETA_EXACT_TERMS: u64 = 1 << 24;

/// `sum_{i=1..=n} i^-theta`.
fn zeta(n: u64, theta: f64) -> f64 {
    let m = n.min(ZETA_EXACT_TERMS);
    let head = (1..=m).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
    if n <= m {
        return head;
    }
    // sum_{i=m+1..=n} f(i) = integral_m^n f + (f(n) - f(m))/2 + (f'(n) - f'(m))/12 - ...,
    // f(x) = x^-theta; the next term is below 1e-30 at m = 2^24.
    let (mf, nf) = (m as f64, n as f64);
    let f = |x: f64| x.powf(-theta);
    let df = |x: f64| -theta * x.powf(-theta - 1.0);
    let integral = (nf.powf(1.0 - theta) - mf.powf(1.0 - theta)) / (1.0 - theta);
    head + integral + (f(nf) - f(mf)) / 2.0 + (df(nf) - df(mf)) / 12.0
}

/// Gray et al.'s Zipf sampler over `0..n`.
#[derive(Clone, Debug)]
struct Zipf {
    n: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
    half_pow_theta: f64,
}

impl Zipf {
    fn new(n: u64, theta: f64) -> Zipf {
        let zetan = zeta(n, theta);
        let zeta2 = zeta(2.min(n), theta);
        let nf = n as f64;
        Zipf {
            n: nf,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta: (1.0 - (2.0 / nf).powf(1.0 - theta)) / (1.0 - zeta2 / zetan),
            half_pow_theta: 1.0 + 0.5f64.powf(theta),
        }
    }

    #[inline]
    fn sample(&self, u: f64) -> u64 {
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < self.half_pow_theta {
            return 1.min(self.n as u64 - 1);
        }
        let v = (self.n * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        v.min(self.n as u64 - 1)
    }
}

/// A generator of a [`GenSpec`]'s accesses.
#[derive(Clone, Debug)]
pub struct Generator {
    spec: GenSpec,
    rng: SplitMix,
    produced: u64,
    zipf: Option<Zipf>,
    /// pointer-chase: node count (a power of two covering the footprint's nodes), LCG state.
    nodes: u64,
    chase: u64,
    /// matrix: elements per row.
    side: u64,
}

impl Generator {
    /// A generator for `spec`.
    pub fn new(spec: GenSpec) -> Result<Generator, String> {
        spec.validate()?;
        let zipf =
            (spec.pattern == Pattern::Zipf).then(|| Zipf::new(spec.footprint / 4096, spec.theta));
        let nodes = (spec.footprint / 64).max(1);
        let side = (((spec.footprint / 16) as f64).sqrt() as u64).max(1);
        let mut rng = SplitMix(spec.seed);
        let chase = rng.next();
        Ok(Generator {
            spec,
            rng,
            produced: 0,
            zipf,
            nodes,
            chase,
            side,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &GenSpec {
        &self.spec
    }

    #[inline]
    fn kind(&mut self) -> AccessKind {
        if self.rng.unit() < self.spec.write_ratio {
            AccessKind::Write
        } else {
            AccessKind::Read
        }
    }

    /// The next node of the pointer chase: a full-period LCG modulo the next power of two of the
    /// node count, skipping indices past the end, then scrambled within that power of two by an
    /// invertible multiply so that neighbours in the cycle are far apart.
    #[inline]
    fn next_node(&mut self) -> u64 {
        let m = self.nodes.next_power_of_two();
        loop {
            // a = 5 mod 8 and c odd give a full period modulo a power of two.
            self.chase = self
                .chase
                .wrapping_mul(0x5851_f42d_4c95_7f2d)
                .wrapping_add(0x1405_7b7e_f767_814f)
                & (m - 1);
            let scrambled = self.chase.wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1) & (m - 1);
            if scrambled < self.nodes {
                return scrambled;
            }
        }
    }

    #[inline]
    fn next_access(&mut self) -> Access {
        let i = self.produced;
        self.produced += 1;
        let s = &self.spec;
        let (base, fp) = (s.base, s.footprint);
        match s.pattern {
            Pattern::Sequential => Access::new(AccessKind::Read, base + (i * 8) % fp, 8),
            Pattern::Stride => {
                let off = ((u128::from(i) * u128::from(s.stride)) % u128::from(fp)) as u64;
                Access::new(AccessKind::Read, base + off, 8.min((fp - off) as u32))
            }
            Pattern::Uniform => {
                let off = self.rng.below(fp / 8) * 8;
                let kind = self.kind();
                Access::new(kind, base + off, 8)
            }
            Pattern::Zipf => {
                let u = self.rng.unit();
                let page = self.zipf.as_ref().map_or(0, |z| z.sample(u));
                let off = self.rng.below(512) * 8;
                let kind = self.kind();
                Access::new(kind, base + page * 4096 + off, 8)
            }
            Pattern::PointerChase => {
                let node = self.next_node();
                Access::new(AccessKind::Read, base + node * 64, 8)
            }
            Pattern::Matrix => {
                let n = self.side;
                let half = fp / 2;
                let k = (i / 2) % (n * n);
                let (r, c) = (k / n, k % n);
                if i.is_multiple_of(2) {
                    Access::new(AccessKind::Read, base + (r * n + c) * 8, 8)
                } else {
                    Access::new(AccessKind::Write, base + half + (c * n + r) * 8, 8)
                }
            }
        }
    }
}

impl TraceReader for Generator {
    fn read_batch(&mut self, buf: &mut Vec<Access>) -> Result<usize, TraceError> {
        buf.clear();
        let n = (self.spec.accesses - self.produced).min(BATCH as u64) as usize;
        buf.reserve(n);
        for _ in 0..n {
            let a = self.next_access();
            buf.push(a);
        }
        Ok(n)
    }

    fn bytes_read(&self) -> u64 {
        self.produced * 16
    }
}

/// Several generated processes, each of one or more threads, interleaved round-robin: thread
/// `t` of process `p` (address space `p`; stream `i = p * threads + t`) runs the spec with seed
/// `seed + i`, over the same addresses as the process's other threads (they share its memory).
/// Every `quantum` accesses the CPU passes to the next stream: a `switch` event when the process
/// changes (and at the start, `switch 0`), a `thread p t` event when there are several threads.
/// `spec.accesses` counts every stream's accesses; events come on top.
#[derive(Clone, Debug)]
pub struct Processes {
    gens: Vec<Generator>,
    threads: usize,
    quantum: u64,
    total: u64,
    produced: u64,
    cur: usize,
    left: u64,
}

impl Processes {
    /// `processes` streams of `spec` switched every `quantum` accesses.
    pub fn new(spec: GenSpec, processes: u16, quantum: u64) -> Result<Processes, String> {
        Processes::with_threads(spec, processes, 1, quantum)
    }

    /// `processes` processes of `threads` threads each, switched every `quantum` accesses.
    pub fn with_threads(
        spec: GenSpec,
        processes: u16,
        threads: u16,
        quantum: u64,
    ) -> Result<Processes, String> {
        if processes == 0 || threads == 0 || quantum == 0 {
            return Err("--processes, --threads and --quantum must be at least 1".into());
        }
        let streams = u64::from(processes) * u64::from(threads);
        let gens = (0..streams)
            .map(|i| {
                Generator::new(GenSpec {
                    seed: spec.seed.wrapping_add(i),
                    ..spec.clone()
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Processes {
            gens,
            threads: usize::from(threads),
            quantum,
            total: spec.accesses,
            produced: 0,
            cur: 0,
            left: 0,
        })
    }
}

impl TraceReader for Processes {
    fn read_batch(&mut self, buf: &mut Vec<Access>) -> Result<usize, TraceError> {
        buf.clear();
        while buf.len() < BATCH && self.produced < self.total {
            if self.left == 0 {
                let before = self.cur / self.threads;
                if self.produced > 0 {
                    self.cur = (self.cur + 1) % self.gens.len();
                }
                self.left = self.quantum;
                let (p, t) = (self.cur / self.threads, self.cur % self.threads);
                if self.produced == 0 || p != before {
                    buf.push(Access::new(AccessKind::ContextSwitch, 0, 0).in_asid(p as u16));
                }
                if self.threads > 1 {
                    buf.push(Access::new(AccessKind::Thread, t as u64, 0).in_asid(p as u16));
                }
                continue;
            }
            let asid = (self.cur / self.threads) as u16;
            let a = self.gens[self.cur].next_access();
            buf.push(a.in_asid(asid));
            self.left -= 1;
            self.produced += 1;
        }
        Ok(buf.len())
    }

    fn bytes_read(&self) -> u64 {
        self.produced * 16
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn threads_share_their_process_and_say_so() {
        let spec = GenSpec::new(Pattern::Sequential, 6, 1 << 16);
        let mut p = Processes::with_threads(spec, 2, 2, 2).unwrap();
        let mut buf = Vec::new();
        p.read_batch(&mut buf).unwrap();
        let shape: Vec<(&str, u16, u64)> = buf
            .iter()
            .map(|a| {
                let addr = if a.kind.is_event() { a.addr } else { 0 };
                (a.kind.name(), a.asid, addr)
            })
            .collect();
        use AccessKind as K;
        let (s, t, r) = (K::ContextSwitch.name(), K::Thread.name(), K::Read.name());
        let kinds: Vec<&str> = shape.iter().map(|x| x.0).collect();
        assert!(
            kinds.iter().all(|k| [s, t, r, "write"].contains(k)),
            "{kinds:?}"
        );
        let events: Vec<(&str, u16, u64)> = shape
            .iter()
            .copied()
            .filter(|x| x.0 == s || x.0 == t)
            .collect();
        assert_eq!(
            events,
            [(s, 0, 0), (t, 0, 0), (t, 0, 1), (s, 1, 0), (t, 1, 0)],
            "process 0's two threads, then process 1's first"
        );
        assert_eq!(buf.iter().filter(|a| !a.kind.is_event()).count(), 6);
    }

    #[test]
    fn processes_interleave_with_switches() {
        let spec = GenSpec::new(Pattern::Sequential, 7, 1 << 16);
        let mut p = Processes::new(spec, 2, 3).unwrap();
        let mut buf = Vec::new();
        assert_eq!(p.read_batch(&mut buf).unwrap(), 10);
        let shape: Vec<(bool, u16)> = buf.iter().map(|a| (a.kind.is_event(), a.asid)).collect();
        assert_eq!(
            shape,
            [
                (true, 0),
                (false, 0),
                (false, 0),
                (false, 0),
                (true, 1),
                (false, 1),
                (false, 1),
                (false, 1),
                (true, 0),
                (false, 0)
            ]
        );
        assert_eq!(p.read_batch(&mut buf).unwrap(), 0);
        assert!(Processes::new(GenSpec::new(Pattern::Sequential, 7, 1 << 16), 0, 3).is_err());
    }

    use super::*;

    #[test]
    fn zeta_tail_agrees_with_the_exact_sum() {
        // Exact sum over 2^24 + 10^6 terms against the formula's tail.
        for theta in [0.5, 0.99, 1.5] {
            let n = ZETA_EXACT_TERMS + 1_000_000;
            let exact = (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
            let got = zeta(n, theta);
            assert!(
                (got - exact).abs() / exact < 1e-12,
                "{theta}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn zipf_set_up_does_not_grow_with_the_footprint() {
        // 2^60 bytes of footprint: 2^48 pages; set-up sums 2^24 terms at most.
        let spec = GenSpec::new(Pattern::Zipf, 10, 1 << 60);
        let mut g = Generator::new(spec).unwrap();
        let mut buf = Vec::new();
        assert_eq!(g.read_batch(&mut buf).unwrap(), 10);
        assert!(buf.iter().all(|a| a.addr >= 0x10_0000_0000));
    }
    use std::collections::{HashMap, HashSet};

    fn all(spec: GenSpec) -> Vec<Access> {
        let mut g = Generator::new(spec).unwrap();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while g.read_batch(&mut buf).unwrap() > 0 {
            out.extend_from_slice(&buf);
        }
        out
    }

    #[test]
    fn patterns_stay_in_the_footprint_and_are_reproducible() {
        for (_, p) in Pattern::ALL {
            let spec = GenSpec::new(p, 10_000, 1 << 20);
            let a = all(spec.clone());
            assert_eq!(a.len(), 10_000, "{p}");
            assert!(
                a.iter()
                    .all(|x| x.addr >= spec.base
                        && x.last_byte().unwrap() < spec.base + spec.footprint),
                "{p}"
            );
            assert_eq!(a, all(spec.clone()), "{p}: same seed, same trace");
            let other = GenSpec { seed: 2, ..spec };
            if matches!(p, Pattern::Uniform | Pattern::Zipf | Pattern::PointerChase) {
                assert_ne!(a, all(other), "{p}: another seed, another trace");
            }
        }
    }

    #[test]
    fn sequential_and_stride_are_exact() {
        let a = all(GenSpec::new(Pattern::Sequential, 5, 4096));
        assert_eq!(
            a.iter()
                .map(|x| x.addr - 0x10_0000_0000)
                .collect::<Vec<_>>(),
            [0, 8, 16, 24, 32]
        );
        let s = all(GenSpec {
            stride: 4096,
            ..GenSpec::new(Pattern::Stride, 5, 3 * 4096)
        });
        assert_eq!(
            s.iter()
                .map(|x| x.addr - 0x10_0000_0000)
                .collect::<Vec<_>>(),
            [0, 4096, 8192, 0, 4096]
        );
    }

    #[test]
    fn pointer_chase_visits_every_node_once_per_cycle() {
        let nodes = 3000; // not a power of two
        let a = all(GenSpec::new(Pattern::PointerChase, nodes, nodes * 64));
        let distinct: HashSet<u64> = a.iter().map(|x| x.addr).collect();
        assert_eq!(distinct.len() as u64, nodes);
    }

    #[test]
    fn matrix_reads_rows_and_writes_columns() {
        let a = all(GenSpec::new(Pattern::Matrix, 8, 4096 * 16));
        let base = 0x10_0000_0000;
        // side = sqrt(65536 / 16) = 64 elements; B starts at half the footprint.
        assert_eq!(a[0], Access::new(AccessKind::Read, base, 8));
        assert_eq!(a[1], Access::new(AccessKind::Write, base + 32768, 8));
        assert_eq!(a[2], Access::new(AccessKind::Read, base + 8, 8));
        assert_eq!(
            a[3],
            Access::new(AccessKind::Write, base + 32768 + 64 * 8, 8)
        );
    }

    #[test]
    fn zipf_is_skewed_like_its_law() {
        let pages = 1000u64;
        let a = all(GenSpec {
            theta: 0.99,
            ..GenSpec::new(Pattern::Zipf, 200_000, pages * 4096)
        });
        let mut counts: HashMap<u64, u64> = HashMap::new();
        for x in &a {
            *counts.entry((x.addr - 0x10_0000_0000) / 4096).or_default() += 1;
        }
        // P(page 0) = 1 / zeta(1000, 0.99) ~ 0.1307; P(page 9) ~ 0.1307 / 10^0.99.
        let p0 = counts[&0] as f64 / a.len() as f64;
        assert!((p0 - 0.1307).abs() < 0.01, "p0 = {p0}");
        let ratio = counts[&0] as f64 / counts[&9] as f64;
        assert!((ratio - 10f64.powf(0.99)).abs() < 1.5, "ratio = {ratio}");
        let writes =
            a.iter().filter(|x| x.kind == AccessKind::Write).count() as f64 / a.len() as f64;
        assert!((writes - 0.3).abs() < 0.01, "writes = {writes}");
    }

    #[test]
    fn bad_specs_are_rejected() {
        assert!(Generator::new(GenSpec::new(Pattern::Uniform, 1, 100)).is_err());
        assert!(Generator::new(GenSpec {
            theta: 1.0,
            ..GenSpec::new(Pattern::Zipf, 1, 4096)
        })
        .is_err());
        assert!(Generator::new(GenSpec {
            base: 0xfff,
            ..GenSpec::new(Pattern::Zipf, 1, 4096)
        })
        .is_err());
        assert!("walk"
            .parse::<Pattern>()
            .unwrap_err()
            .contains("known: sequential"));
    }
}
