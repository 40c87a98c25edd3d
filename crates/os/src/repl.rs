//! Replacement state under a memory limit: what each policy knows of the frames `0..n`, and the
//! choice of a victim without a scan of every frame.
//!
//! Every policy but random and clock evicts the frame in use (and not pinned) with the least
//! `(key, frame)`: LRU and FIFO by stamp (last use, load order), OPT by the farthest next use,
//! NRU by class (referenced x 2 + dirty), aging by age. LRU and FIFO keep a lazy min-heap: a
//! frame's entry is never newer than its stamp (stamps only grow), and an entry found out of date
//! when popped goes back with the frame's stamp, so the first up-to-date entry popped is the
//! least; a use costs nothing, an eviction O(log n) amortized. OPT, NRU and aging keep a
//! tournament tree updated when a frame's key changes (OPT: every use; NRU: when a bit is set;
//! aging: never between periods), O(log n) each. The choice is the same as a scan of every frame
//! (tested against one).

use crate::Policy;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// Replacement state over the frames `0..n` of a memory limit; the hot path's one update per
/// translation is [`Repl::touch`].
#[derive(Clone, Debug)]
pub(crate) struct Repl {
    policy: Policy,
    /// LRU: last use; OPT: next use; FIFO: load order.
    stamp: Vec<u64>,
    refbit: Vec<bool>,
    dirty: Vec<bool>,
    age: Vec<u8>,
    in_use: Vec<bool>,
    tick: u64,
    loads: u64,
    hand: usize,
    rng: u64,
    period: u64,
    next_period: u64,
    next_uses: Option<Arc<[u64]>>,
    order: Order,
}

/// How the victim is found (see the module docs).
#[derive(Clone, Debug)]
enum Order {
    /// LRU, FIFO: `(stamp, frame)` entries, at most one per frame (`queued`).
    Lazy {
        heap: BinaryHeap<Reverse<(u64, usize)>>,
        queued: Vec<bool>,
    },
    /// OPT, NRU, aging.
    Tree(Tourney),
    /// Random, clock.
    Scan,
}

/// A tournament tree over frames: each inner node holds the better of its children, the root
/// the frame with the least `(excluded, key, frame)`.
#[derive(Clone, Debug)]
struct Tourney {
    /// Leaves: `len..2 len`.
    len: usize,
    key: Vec<u64>,
    live: Vec<bool>,
    /// Winner frame of each node (`NONE`: none, for leaves past the last frame).
    win: Vec<usize>,
}

impl Tourney {
    const NONE: usize = usize::MAX;

    fn new(n: usize) -> Tourney {
        let len = n.next_power_of_two().max(1);
        let mut t = Tourney {
            len,
            key: vec![0; n],
            live: vec![false; n],
            win: vec![Tourney::NONE; 2 * len],
        };
        for f in 0..n {
            t.win[len + f] = f;
        }
        t.rebuild_inner();
        t
    }

    #[inline(always)]
    fn better(&self, a: usize, b: usize) -> usize {
        if b == Tourney::NONE {
            return a;
        }
        if a == Tourney::NONE {
            return b;
        }
        if (!self.live[a], self.key[a], a) <= (!self.live[b], self.key[b], b) {
            a
        } else {
            b
        }
    }

    fn rebuild_inner(&mut self) {
        for node in (1..self.len).rev() {
            self.win[node] = self.better(self.win[2 * node], self.win[2 * node + 1]);
        }
    }

    /// Sets frame `f`'s key and whether it may be chosen.
    #[inline]
    fn set(&mut self, f: usize, key: u64, live: bool) {
        if self.key[f] == key && self.live[f] == live {
            return;
        }
        self.key[f] = key;
        self.live[f] = live;
        let mut node = (self.len + f) / 2;
        while node >= 1 {
            let w = self.better(self.win[2 * node], self.win[2 * node + 1]);
            if self.win[node] == w && w != f {
                break;
            }
            self.win[node] = w;
            node /= 2;
        }
    }

    /// The live frame with the least `(key, frame)`, other than `pinned`.
    fn least(&mut self, pinned: Option<usize>) -> Option<usize> {
        let top = self.win[1];
        if top == Tourney::NONE || !self.live[top] {
            return None;
        }
        if Some(top) != pinned {
            return Some(top);
        }
        let key = self.key[top];
        self.set(top, key, false);
        let second = self.win[1];
        let found = (second != Tourney::NONE && self.live[second]).then_some(second);
        self.set(top, key, true);
        found
    }
}

impl Repl {
    /// State for `n` frames, none in use.
    pub(crate) fn new(policy: Policy, n: usize, seed: u64, period: u64) -> Repl {
        let order = match policy {
            Policy::Lru | Policy::Fifo => Order::Lazy {
                heap: BinaryHeap::with_capacity(n),
                queued: vec![false; n],
            },
            Policy::Opt | Policy::Nru | Policy::Aging => Order::Tree(Tourney::new(n)),
            Policy::Random | Policy::Clock => Order::Scan,
        };
        Repl {
            policy,
            stamp: vec![0; n],
            refbit: vec![false; n],
            dirty: vec![false; n],
            age: vec![0; n],
            in_use: vec![false; n],
            tick: 0,
            loads: 0,
            hand: 0,
            rng: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            period: period.max(1),
            next_period: period.max(1),
            next_uses: None,
            order,
        }
    }

    pub(crate) fn policy(&self) -> Policy {
        self.policy
    }

    pub(crate) fn set_next_uses(&mut self, next: Arc<[u64]>) {
        self.next_uses = Some(next);
    }

    pub(crate) fn has_next_uses(&self) -> bool {
        self.next_uses.is_some()
    }

    pub(crate) fn is_dirty(&self, f: usize) -> bool {
        self.dirty[f]
    }

    /// The key by which the tree orders frame `f` (OPT, NRU, aging).
    #[inline(always)]
    fn key(&self, f: usize) -> u64 {
        match self.policy {
            Policy::Opt => u64::MAX - self.stamp[f],
            Policy::Nru => u64::from(self.refbit[f]) * 2 + u64::from(self.dirty[f]),
            Policy::Aging => u64::from(self.age[f]),
            _ => self.stamp[f],
        }
    }

    /// Tells the tree (if any) that frame `f`'s key or use changed.
    #[inline(always)]
    fn reorder(&mut self, f: usize) {
        let (key, live) = (self.key(f), self.in_use[f]);
        if let Order::Tree(t) = &mut self.order {
            t.set(f, key, live);
        }
    }

    /// One translation used frame `f` (a write if `write`).
    #[inline(always)]
    pub(crate) fn touch(&mut self, f: usize, write: bool) {
        let t = self.tick;
        self.tick += 1;
        if f < self.stamp.len() {
            // The tree's key changes with OPT's next use on every use, with NRU's class when
            // a bit is set.
            let rekey = match self.policy {
                Policy::Lru => {
                    self.stamp[f] = t;
                    false
                }
                Policy::Opt => {
                    self.stamp[f] = self
                        .next_uses
                        .as_ref()
                        .and_then(|n| n.get(t as usize).copied())
                        .unwrap_or(u64::MAX);
                    true
                }
                Policy::Nru => !self.refbit[f] || (write && !self.dirty[f]),
                _ => false,
            };
            self.refbit[f] = true;
            if write {
                self.dirty[f] = true;
            }
            if rekey {
                self.reorder(f);
            }
        }
        if self.tick >= self.next_period {
            self.period_tick();
        }
    }

    /// One translation that used no frame (a skipped access): keeps OPT's clock in step.
    pub(crate) fn skip(&mut self) {
        self.tick += 1;
    }

    /// A write into frame `f` that no translation made (the copy of a copy-on-write page).
    pub(crate) fn mark_dirty(&mut self, f: usize) {
        if let Some(d) = self.dirty.get_mut(f) {
            *d = true;
            self.reorder(f);
        }
    }

    #[cold]
    fn period_tick(&mut self) {
        self.next_period = self.tick + self.period;
        match self.policy {
            Policy::Nru => self.refbit.iter_mut().for_each(|r| *r = false),
            Policy::Aging => {
                for (a, r) in self.age.iter_mut().zip(self.refbit.iter_mut()) {
                    *a = (*a >> 1) | (u8::from(*r) << 7);
                    *r = false;
                }
            }
            _ => return,
        }
        let keys: Vec<u64> = (0..self.stamp.len()).map(|f| self.key(f)).collect();
        if let Order::Tree(t) = &mut self.order {
            t.key = keys;
            t.rebuild_inner();
        }
    }

    /// A page was loaded into frame `f`.
    pub(crate) fn load(&mut self, f: usize) {
        self.stamp[f] = match self.policy {
            Policy::Fifo => self.loads,
            Policy::Opt => u64::MAX,
            _ => self.tick,
        };
        self.loads += 1;
        self.refbit[f] = true;
        self.dirty[f] = false;
        self.age[f] = 0;
        self.in_use[f] = true;
        if let Order::Lazy { heap, queued } = &mut self.order {
            if !queued[f] {
                queued[f] = true;
                heap.push(Reverse((self.stamp[f], f)));
            }
        }
        self.reorder(f);
    }

    /// Frame `f` no longer holds a page.
    pub(crate) fn free(&mut self, f: usize) {
        if let Some(u) = self.in_use.get_mut(f) {
            *u = false;
            self.reorder(f);
        }
    }

    /// The frame to evict: in use, not `pinned`; `None` if there is none.
    pub(crate) fn victim(&mut self, pinned: Option<usize>) -> Option<usize> {
        match &mut self.order {
            Order::Lazy { heap, queued } => {
                let mut held = None;
                let found = loop {
                    let Some(&Reverse((s, f))) = heap.peek() else {
                        break None;
                    };
                    if !self.in_use[f] {
                        heap.pop();
                        queued[f] = false;
                    } else if self.stamp[f] != s {
                        heap.pop();
                        heap.push(Reverse((self.stamp[f], f)));
                    } else if Some(f) == pinned {
                        held = heap.pop();
                    } else {
                        break Some(f);
                    }
                };
                if let Some(e) = held {
                    heap.push(e);
                }
                found
            }
            Order::Tree(t) => t.least(pinned),
            Order::Scan => self.victim_scan(pinned),
        }
    }

    /// The victim by a scan of every frame: random and clock, and the reference the others are
    /// tested against.
    fn victim_scan(&mut self, pinned: Option<usize>) -> Option<usize> {
        let n = self.stamp.len();
        let ok = |i: usize, s: &Repl| s.in_use[i] && Some(i) != pinned;
        if !(0..n).any(|i| ok(i, self)) {
            return None;
        }
        let min_by = |key: &dyn Fn(usize) -> u64, s: &Repl| {
            (0..n).filter(|&i| ok(i, s)).min_by_key(|&i| (key(i), i))
        };
        match self.policy {
            Policy::Lru | Policy::Fifo => min_by(&|i| self.stamp[i], self),
            Policy::Opt => min_by(&|i| u64::MAX - self.stamp[i], self),
            Policy::Nru => min_by(
                &|i| u64::from(self.refbit[i]) * 2 + u64::from(self.dirty[i]),
                self,
            ),
            Policy::Aging => min_by(&|i| u64::from(self.age[i]), self),
            Policy::Random => {
                // xorshift64*
                self.rng ^= self.rng >> 12;
                self.rng ^= self.rng << 25;
                self.rng ^= self.rng >> 27;
                let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
                let start = (r % n as u64) as usize;
                (0..n).map(|k| (start + k) % n).find(|&i| ok(i, self))
            }
            Policy::Clock => loop {
                let i = self.hand % n;
                self.hand = (i + 1) % n;
                if !ok(i, self) {
                    continue;
                }
                if self.refbit[i] {
                    self.refbit[i] = false;
                } else {
                    return Some(i);
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift, for the random operation sequences.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Random loads, uses (reads and writes), copy-on-write dirtying, frees and evictions
    /// (some with a pinned frame) drive the ordered state and a scanned copy of it alike; every
    /// victim must be the scan's.
    #[test]
    fn ordered_victims_equal_a_scan_of_every_frame() {
        for policy in [
            Policy::Lru,
            Policy::Fifo,
            Policy::Opt,
            Policy::Nru,
            Policy::Aging,
        ] {
            for seed in 1..=40u64 {
                let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
                let n = 1 + rng.below(70) as usize;
                let steps = 3000;
                let next: Arc<[u64]> = (0..steps + 10)
                    .map(|i| {
                        if rng.below(5) == 0 {
                            u64::MAX
                        } else {
                            i + 1 + rng.below(200)
                        }
                    })
                    .collect();
                let period = 1 + rng.below(50);
                let mut fast = Repl::new(policy, n, seed, period);
                fast.set_next_uses(next.clone());
                let mut scan = fast.clone();
                scan.order = Order::Scan;
                let mut victims = 0;
                for _ in 0..steps {
                    let f = rng.below(n as u64) as usize;
                    match rng.below(10) {
                        0..=1 => {
                            for r in [&mut fast, &mut scan] {
                                r.load(f);
                            }
                        }
                        2 => {
                            for r in [&mut fast, &mut scan] {
                                r.free(f);
                            }
                        }
                        3 => {
                            let pinned = (rng.below(3) == 0).then_some(f);
                            let want = scan.victim_scan(pinned);
                            assert_eq!(
                                fast.victim(pinned),
                                want,
                                "{policy:?} seed {seed}: victim with {pinned:?} pinned"
                            );
                            victims += usize::from(want.is_some());
                            if let Some(v) = want {
                                // Evicted and loaded again, as a fault does.
                                for r in [&mut fast, &mut scan] {
                                    r.free(v);
                                    r.load(v);
                                }
                            }
                        }
                        4 => {
                            for r in [&mut fast, &mut scan] {
                                r.mark_dirty(f);
                            }
                        }
                        5 => {
                            for r in [&mut fast, &mut scan] {
                                r.skip();
                            }
                        }
                        k => {
                            for r in [&mut fast, &mut scan] {
                                r.touch(f, k == 9);
                            }
                        }
                    }
                }
                assert!(
                    victims > 50,
                    "{policy:?} seed {seed}: only {victims} victims"
                );
            }
        }
    }

    #[test]
    fn a_pinned_only_frame_has_no_victim() {
        for policy in [Policy::Lru, Policy::Opt] {
            let mut r = Repl::new(policy, 4, 1, 10);
            r.set_next_uses(vec![u64::MAX; 8].into());
            assert_eq!(r.victim(None), None);
            r.load(2);
            assert_eq!(r.victim(Some(2)), None);
            assert_eq!(r.victim(None), Some(2));
        }
    }
}
