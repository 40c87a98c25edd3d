//! Replacement policies: which way of a full set a fill evicts.
//!
//! Layout: every policy keeps its state in one flat boxed slice indexed by set (or by
//! `set * ways + way`), allocated once when the array is built. The array calls [`Replacement`]
//! only for the one set an operation touches: `on_hit` on every hit, `on_fill` after every fill,
//! `victim` when a fill finds its set full, `on_invalidate` when an entry is dropped, `reset` on a
//! flush.
//!
//! The rule common to all policies lives in the array, not here: **a fill takes the
//! lowest-numbered invalid way of its set if there is one; only a full set asks the policy for a
//! victim.** A fill of a key already present updates that entry in place and counts as a hit.
//!
//! Cost model: LRU and FIFO store a 64-bit stamp per way (a hit or fill is one store; a victim is a
//! scan of the set's stamps, on misses only); random is one xorshift step per eviction; tree-PLRU
//! is `log2(ways)` bit updates per access in one `u64` per set; bit-PLRU is one OR per access in
//! one `u64` per set. Policies are chosen at construction: [`AnyRepl`] matches on the policy once
//! per set operation, and each policy type can also be used directly as the `R` of
//! [`SetAssocTlb<R>`](crate::SetAssocTlb) to monomorphize it away.

use std::fmt;
use thiserror::Error;

/// Why a policy cannot drive a given geometry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// Tree-PLRU over a way count that is not a power of two.
    #[error("tree-PLRU needs a power-of-two number of ways, not {ways} (use lru, fifo, random or bitplru)")]
    TreePlruWays {
        /// The ways given.
        ways: u32,
    },
    /// A bit-vector policy over more ways than fit one 64-bit word.
    #[error("{policy} supports at most 64 ways, not {ways}")]
    TooManyWays {
        /// The policy's spec name.
        policy: &'static str,
        /// The ways given.
        ways: u32,
    },
}

impl PolicyError {
    /// What the policy needs of the way count, for a message that already names the policy and
    /// the ways (`... has 128 ways, and repl=bitplru supports at most 64 ...`).
    pub fn requirement(&self) -> &'static str {
        match self {
            PolicyError::TreePlruWays { .. } => {
                "needs a power-of-two number (use lru, fifo, random or bitplru)"
            }
            PolicyError::TooManyWays { .. } => "supports at most 64 (use lru, fifo or random)",
        }
    }
}

/// Replacement state of one set-associative array.
///
/// `set` is the set index, `way` the way within the set (`0..ways`).
pub trait Replacement: Clone + fmt::Debug {
    /// Way `way` of `set` was hit.
    fn on_hit(&mut self, set: usize, way: usize);
    /// Way `way` of `set` was just filled (after `victim`, or into an invalid way).
    fn on_fill(&mut self, set: usize, way: usize);
    /// The way to evict from `set`, which is full.
    fn victim(&mut self, set: usize) -> usize;
    /// Way `way` of `set` was invalidated.
    fn on_invalidate(&mut self, set: usize, way: usize);
    /// Back to the state of a freshly built array (a random generator keeps its position).
    fn reset(&mut self);
}

/// Which replacement policy an array uses, as chosen in a spec.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum ReplPolicy {
    /// True LRU ([`Lru`]).
    #[default]
    Lru,
    /// FIFO ([`Fifo`]).
    Fifo,
    /// Random with a seeded xorshift64 ([`RandomRepl`]).
    Random {
        /// The generator's seed (0 is replaced by [`RandomRepl::DEFAULT_SEED`]).
        seed: u64,
    },
    /// Tree pseudo-LRU ([`TreePlru`]); power-of-two ways only.
    TreePlru,
    /// Bit pseudo-LRU, also called MRU-bit or NRU ([`BitPlru`]).
    BitPlru,
}

impl ReplPolicy {
    /// The spec name (`lru`, `fifo`, `random`, `plru`, `bitplru`).
    pub const fn name(self) -> &'static str {
        match self {
            ReplPolicy::Lru => "lru",
            ReplPolicy::Fifo => "fifo",
            ReplPolicy::Random { .. } => "random",
            ReplPolicy::TreePlru => "plru",
            ReplPolicy::BitPlru => "bitplru",
        }
    }

    /// Whether this policy can drive `ways` ways per set.
    pub fn check_ways(self, ways: u32) -> Result<(), PolicyError> {
        match self {
            ReplPolicy::TreePlru if !ways.is_power_of_two() => {
                Err(PolicyError::TreePlruWays { ways })
            }
            ReplPolicy::TreePlru | ReplPolicy::BitPlru if ways > 64 => {
                Err(PolicyError::TooManyWays {
                    policy: self.name(),
                    ways,
                })
            }
            _ => Ok(()),
        }
    }

    /// The state for `sets` sets of `ways` ways.
    pub fn build(self, sets: usize, ways: usize) -> Result<AnyRepl, PolicyError> {
        self.check_ways(u32::try_from(ways).unwrap_or(u32::MAX))?;
        Ok(match self {
            ReplPolicy::Lru => AnyRepl::Lru(Lru::new(sets, ways)),
            ReplPolicy::Fifo => AnyRepl::Fifo(Fifo::new(sets, ways)),
            ReplPolicy::Random { seed } => AnyRepl::Random(RandomRepl::new(ways, seed)),
            ReplPolicy::TreePlru => AnyRepl::TreePlru(TreePlru::new(sets, ways)?),
            ReplPolicy::BitPlru => AnyRepl::BitPlru(BitPlru::new(sets, ways)?),
        })
    }
}

/// True LRU: the victim is the way whose last use (hit or fill) is the oldest.
///
/// Each way holds the value of a per-array access counter taken at its last use; the victim is the
/// way with the smallest stamp (stamps are unique, so there are no ties).
#[derive(Clone, Debug)]
pub struct Lru {
    ways: usize,
    clock: u64,
    stamps: Box<[u64]>,
}

impl Lru {
    /// State for `sets` x `ways`.
    pub fn new(sets: usize, ways: usize) -> Lru {
        Lru {
            ways,
            clock: 0,
            stamps: vec![0; sets * ways].into_boxed_slice(),
        }
    }

    #[inline(always)]
    fn touch(&mut self, set: usize, way: usize) {
        self.clock += 1;
        self.stamps[set * self.ways + way] = self.clock;
    }
}

/// The way of `set` with the smallest stamp (the lowest way on a tie).
#[inline]
fn oldest(stamps: &[u64], set: usize, ways: usize) -> usize {
    let s = &stamps[set * ways..set * ways + ways];
    let mut best = 0;
    for (w, &t) in s.iter().enumerate().skip(1) {
        if t < s[best] {
            best = w;
        }
    }
    best
}

impl Replacement for Lru {
    #[inline(always)]
    fn on_hit(&mut self, set: usize, way: usize) {
        self.touch(set, way);
    }
    #[inline(always)]
    fn on_fill(&mut self, set: usize, way: usize) {
        self.touch(set, way);
    }
    #[inline]
    fn victim(&mut self, set: usize) -> usize {
        oldest(&self.stamps, set, self.ways)
    }
    #[inline(always)]
    fn on_invalidate(&mut self, _set: usize, _way: usize) {}
    fn reset(&mut self) {
        self.clock = 0;
        self.stamps.fill(0);
    }
}

/// FIFO: the victim is the way filled longest ago; hits change nothing.
///
/// Each way holds the value of a per-array fill counter taken when it was filled; the victim is
/// the way with the smallest stamp. (With invalidations a set's order is still exact, which a
/// round-robin pointer would not be.)
#[derive(Clone, Debug)]
pub struct Fifo {
    ways: usize,
    clock: u64,
    stamps: Box<[u64]>,
}

impl Fifo {
    /// State for `sets` x `ways`.
    pub fn new(sets: usize, ways: usize) -> Fifo {
        Fifo {
            ways,
            clock: 0,
            stamps: vec![0; sets * ways].into_boxed_slice(),
        }
    }
}

impl Replacement for Fifo {
    #[inline(always)]
    fn on_hit(&mut self, _set: usize, _way: usize) {}
    #[inline(always)]
    fn on_fill(&mut self, set: usize, way: usize) {
        self.clock += 1;
        self.stamps[set * self.ways + way] = self.clock;
    }
    #[inline]
    fn victim(&mut self, set: usize) -> usize {
        oldest(&self.stamps, set, self.ways)
    }
    #[inline(always)]
    fn on_invalidate(&mut self, _set: usize, _way: usize) {}
    fn reset(&mut self) {
        self.clock = 0;
        self.stamps.fill(0);
    }
}

/// Random: the victim of a full set is `(x * ways) >> 64` (128-bit product: the high bits of `x`
/// scaled to `0..ways`), where `x` is the next output of one xorshift64 generator per array
/// (Marsaglia's `x ^= x << 13; x ^= x >> 7; x ^= x << 17`, the new `x` being the output), seeded
/// with the spec's `seed`. (The high bits, because xorshift's low bits are weak: from seed 1,
/// `x % 4` is 1 for the first eight outputs.)
///
/// The generator advances only when a full set evicts, so the victims are a deterministic function
/// of the seed and the access stream. A flush does not rewind it.
#[derive(Clone, Debug)]
pub struct RandomRepl {
    ways: u64,
    state: u64,
}

impl RandomRepl {
    /// The seed used in place of 0 (xorshift's state must be nonzero).
    pub const DEFAULT_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

    /// A generator for `ways` ways seeded with `seed` (0 means [`Self::DEFAULT_SEED`]).
    pub fn new(ways: usize, seed: u64) -> RandomRepl {
        RandomRepl {
            ways: ways as u64,
            state: if seed == 0 { Self::DEFAULT_SEED } else { seed },
        }
    }

    /// The next xorshift64 output.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

impl Replacement for RandomRepl {
    #[inline(always)]
    fn on_hit(&mut self, _set: usize, _way: usize) {}
    #[inline(always)]
    fn on_fill(&mut self, _set: usize, _way: usize) {}
    #[inline]
    fn victim(&mut self, _set: usize) -> usize {
        ((u128::from(self.next_u64()) * u128::from(self.ways)) >> 64) as usize
    }
    #[inline(always)]
    fn on_invalidate(&mut self, _set: usize, _way: usize) {}
    fn reset(&mut self) {}
}

/// Tree pseudo-LRU over a power-of-two number of ways (at most 64).
///
/// The `ways - 1` bits of a set form a complete binary tree stored heap-style: node 1 is the root,
/// node `n` has children `2n` (left, lower ways) and `2n + 1` (right, higher ways), and the leaves
/// are the ways in order. A node's bit says where the next victim lies: **0 = left, 1 = right**.
/// - On an access (hit or fill) to way `w`, every node on the root-to-`w` path is set to point
///   *away* from `w`: to 1 where `w` is in the left half, to 0 where it is in the right half.
/// - The victim is found by following the bits from the root: 0 go left, 1 go right.
///
/// All bits start at 0 (victim way 0). Invalidation leaves the bits alone (the invalid way is
/// refilled first anyway). One way needs no bits: the victim is way 0.
#[derive(Clone, Debug)]
pub struct TreePlru {
    ways: usize,
    bits: Box<[u64]>,
}

impl TreePlru {
    /// State for `sets` x `ways`; `ways` must be a power of two, at most 64.
    pub fn new(sets: usize, ways: usize) -> Result<TreePlru, PolicyError> {
        let w = u32::try_from(ways).unwrap_or(u32::MAX);
        ReplPolicy::TreePlru.check_ways(w)?;
        Ok(TreePlru {
            ways,
            bits: vec![0; sets].into_boxed_slice(),
        })
    }

    /// The tree bits of `set` (bit `n` = node `n`, bit 0 unused).
    pub fn bits(&self, set: usize) -> u64 {
        self.bits[set]
    }

    #[inline]
    fn touch(&mut self, set: usize, way: usize) {
        let mut bits = self.bits[set];
        let (mut node, mut lo, mut size) = (1usize, 0usize, self.ways);
        while size > 1 {
            size /= 2;
            if way < lo + size {
                bits |= 1 << node; // w is left: point right
                node *= 2;
            } else {
                bits &= !(1 << node); // w is right: point left
                lo += size;
                node = 2 * node + 1;
            }
        }
        self.bits[set] = bits;
    }
}

impl Replacement for TreePlru {
    #[inline(always)]
    fn on_hit(&mut self, set: usize, way: usize) {
        self.touch(set, way);
    }
    #[inline(always)]
    fn on_fill(&mut self, set: usize, way: usize) {
        self.touch(set, way);
    }
    #[inline]
    fn victim(&mut self, set: usize) -> usize {
        let bits = self.bits[set];
        let (mut node, mut lo, mut size) = (1usize, 0usize, self.ways);
        while size > 1 {
            size /= 2;
            if bits & (1 << node) == 0 {
                node *= 2;
            } else {
                lo += size;
                node = 2 * node + 1;
            }
        }
        lo
    }
    #[inline(always)]
    fn on_invalidate(&mut self, _set: usize, _way: usize) {}
    fn reset(&mut self) {
        self.bits.fill(0);
    }
}

/// Bit pseudo-LRU (MRU bits, also called NRU), at most 64 ways.
///
/// Each way has an MRU bit, all 0 at first.
/// - On an access (hit or fill) to way `w`, its bit is set; if that makes every bit of the set 1,
///   all bits other than `w`'s are cleared.
/// - The victim is the lowest-numbered way whose bit is 0 (with one way: way 0).
/// - Invalidating way `w` clears its bit.
#[derive(Clone, Debug)]
pub struct BitPlru {
    full: u64,
    mru: Box<[u64]>,
}

impl BitPlru {
    /// State for `sets` x `ways`; at most 64 ways.
    pub fn new(sets: usize, ways: usize) -> Result<BitPlru, PolicyError> {
        let w = u32::try_from(ways).unwrap_or(u32::MAX);
        ReplPolicy::BitPlru.check_ways(w)?;
        let full = if ways >= 64 {
            u64::MAX
        } else {
            (1u64 << ways) - 1
        };
        Ok(BitPlru {
            full,
            mru: vec![0; sets].into_boxed_slice(),
        })
    }

    /// The MRU bits of `set` (bit `w` = way `w`).
    pub fn bits(&self, set: usize) -> u64 {
        self.mru[set]
    }

    #[inline(always)]
    fn touch(&mut self, set: usize, way: usize) {
        let mut m = self.mru[set] | (1 << way);
        if m == self.full {
            m = 1 << way;
        }
        self.mru[set] = m;
    }
}

impl Replacement for BitPlru {
    #[inline(always)]
    fn on_hit(&mut self, set: usize, way: usize) {
        self.touch(set, way);
    }
    #[inline(always)]
    fn on_fill(&mut self, set: usize, way: usize) {
        self.touch(set, way);
    }
    #[inline]
    fn victim(&mut self, set: usize) -> usize {
        let zeros = !self.mru[set] & self.full;
        if zeros == 0 {
            0
        } else {
            zeros.trailing_zeros() as usize
        }
    }
    #[inline(always)]
    fn on_invalidate(&mut self, set: usize, way: usize) {
        self.mru[set] &= !(1 << way);
    }
    fn reset(&mut self) {
        self.mru.fill(0);
    }
}

/// Any of the policies, chosen at run time; matched once per set operation.
#[derive(Clone, Debug)]
pub enum AnyRepl {
    /// [`Lru`].
    Lru(Lru),
    /// [`Fifo`].
    Fifo(Fifo),
    /// [`RandomRepl`].
    Random(RandomRepl),
    /// [`TreePlru`].
    TreePlru(TreePlru),
    /// [`BitPlru`].
    BitPlru(BitPlru),
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            AnyRepl::Lru($p) => $e,
            AnyRepl::Fifo($p) => $e,
            AnyRepl::Random($p) => $e,
            AnyRepl::TreePlru($p) => $e,
            AnyRepl::BitPlru($p) => $e,
        }
    };
}

impl Replacement for AnyRepl {
    #[inline(always)]
    fn on_hit(&mut self, set: usize, way: usize) {
        dispatch!(self, p => p.on_hit(set, way))
    }
    #[inline(always)]
    fn on_fill(&mut self, set: usize, way: usize) {
        dispatch!(self, p => p.on_fill(set, way))
    }
    #[inline(always)]
    fn victim(&mut self, set: usize) -> usize {
        dispatch!(self, p => p.victim(set))
    }
    #[inline(always)]
    fn on_invalidate(&mut self, set: usize, way: usize) {
        dispatch!(self, p => p.on_invalidate(set, way))
    }
    fn reset(&mut self) {
        dispatch!(self, p => p.reset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_plru_points_away_from_the_last_access() {
        let mut t = TreePlru::new(1, 4).unwrap();
        assert_eq!(t.victim(0), 0);
        t.on_fill(0, 0); // root -> right (1), node 2 -> right (1)
        assert_eq!(t.bits(0), 0b0110);
        assert_eq!(t.victim(0), 2);
        t.on_fill(0, 2); // root -> left (0), node 3 -> right (1)
        assert_eq!(t.bits(0), 0b1100);
        assert_eq!(t.victim(0), 1);
        assert!(TreePlru::new(1, 12).is_err());
        assert!(TreePlru::new(1, 128).is_err());
        let mut one = TreePlru::new(2, 1).unwrap();
        one.on_hit(1, 0);
        assert_eq!(one.victim(1), 0);
    }

    #[test]
    fn bit_plru_resets_when_all_set() {
        let mut b = BitPlru::new(1, 3).unwrap();
        b.on_fill(0, 0);
        b.on_fill(0, 1);
        assert_eq!(b.victim(0), 2);
        b.on_fill(0, 2);
        assert_eq!(b.bits(0), 0b100);
        assert_eq!(b.victim(0), 0);
        b.on_invalidate(0, 2);
        assert_eq!(b.bits(0), 0);
        let mut wide = BitPlru::new(1, 64).unwrap();
        for w in 0..64 {
            wide.on_hit(0, w);
        }
        assert_eq!(wide.bits(0), 1 << 63);
        assert!(BitPlru::new(1, 65).is_err());
    }

    #[test]
    fn random_is_xorshift64() {
        let mut r = RandomRepl::new(4, 1);
        assert_eq!(r.next_u64(), 0x4082_2041);
        assert_eq!(r.next_u64(), 0x1000_4106_0C01_1441);
        assert_eq!(r.victim(0), 2); // 0x9b1e842f6e862629: top two bits 10
        assert_eq!(RandomRepl::new(4, 0).state, RandomRepl::DEFAULT_SEED);
    }

    #[test]
    fn policy_checks() {
        assert!(ReplPolicy::TreePlru.check_ways(12).is_err());
        assert!(ReplPolicy::BitPlru.check_ways(12).is_ok());
        assert!(ReplPolicy::Lru.check_ways(1000).is_ok());
        assert!(ReplPolicy::TreePlru.build(128, 12).is_err());
        assert!(ReplPolicy::Fifo.build(128, 12).is_ok());
    }
}
