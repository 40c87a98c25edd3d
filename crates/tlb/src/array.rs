//! The set-associative storage every TLB and page-walk cache is built on.
//!
//! Layout: three flat arrays of `sets * ways` slots, way-major within a set (slot `set * ways +
//! way`): `tags` (`u64`, the page number or prefix), `ctx` (`u32`: bits 0-15 the ASID, bits 16-23
//! a qualifier - page-size shift in a TLB, radix level in a page-walk cache - and bit 31 the valid
//! bit) and `vals` (the cached value), plus the replacement policy's own flat state. The set of a
//! tag is `tag & (sets - 1)`.
//!
//! Cost model: a lookup reads the `ways` tags and contexts of one set and compares each against
//! `(tag, ctx | VALID)`, so the valid bit and the ASID cost no extra branch; no hashing, no
//! allocation. A fill scans the set once for an invalid way and asks the policy for a victim only
//! when the set is full.

use crate::policy::Replacement;

/// The valid bit of a slot's context word.
pub(crate) const VALID: u32 = 1 << 31;

/// The context word of an entry: `asid` in bits 0-15, `qual` in bits 16-23.
#[inline(always)]
pub(crate) const fn ctx(asid: u16, qual: u8) -> u32 {
    asid as u32 | (qual as u32) << 16
}

/// A set-associative array of `V`s tagged by `(tag, ctx)`.
#[derive(Clone, Debug)]
pub(crate) struct SetArray<V, R> {
    ways: usize,
    set_mask: u64,
    tags: Box<[u64]>,
    ctx: Box<[u32]>,
    vals: Box<[V]>,
    repl: R,
}

impl<V: Copy, R: Replacement> SetArray<V, R> {
    /// `sets` (a power of two) x `ways` empty slots, with `fill` as the initial (invalid) value.
    pub(crate) fn new(sets: usize, ways: usize, fill: V, repl: R) -> SetArray<V, R> {
        debug_assert!(sets.is_power_of_two() && ways >= 1);
        let n = sets * ways;
        SetArray {
            ways,
            set_mask: sets as u64 - 1,
            tags: vec![0; n].into_boxed_slice(),
            ctx: vec![0; n].into_boxed_slice(),
            vals: vec![fill; n].into_boxed_slice(),
            repl,
        }
    }

    pub(crate) fn sets(&self) -> usize {
        self.set_mask as usize + 1
    }

    pub(crate) fn ways(&self) -> usize {
        self.ways
    }

    pub(crate) fn repl(&self) -> &R {
        &self.repl
    }

    #[inline(always)]
    fn set_of(&self, tag: u64) -> usize {
        (tag & self.set_mask) as usize
    }

    /// The slot holding `(tag, ctx)`, if any.
    #[inline(always)]
    fn find(&self, tag: u64, ctx: u32) -> Option<usize> {
        let base = self.set_of(tag) * self.ways;
        let want = ctx | VALID;
        let tags = &self.tags[base..base + self.ways];
        let ctxs = &self.ctx[base..base + self.ways];
        (0..self.ways).find(|&w| tags[w] == tag && ctxs[w] == want)
    }

    /// The value of `(tag, ctx)` without touching the replacement state.
    #[inline]
    pub(crate) fn peek(&self, tag: u64, ctx: u32) -> Option<V> {
        let set = self.set_of(tag);
        self.find(tag, ctx).map(|w| self.vals[set * self.ways + w])
    }

    /// The value of `(tag, ctx)`, counting a hit for the replacement policy.
    #[inline]
    pub(crate) fn lookup(&mut self, tag: u64, ctx: u32) -> Option<V> {
        let set = self.set_of(tag);
        let w = self.find(tag, ctx)?;
        self.repl.on_hit(set, w);
        Some(self.vals[set * self.ways + w])
    }

    /// Stores `val` under `(tag, ctx)`. A present entry is updated in place (a hit for the policy);
    /// otherwise the lowest invalid way is used, or the policy's victim, which is returned as
    /// `(tag, ctx without the valid bit, value)`.
    #[inline]
    pub(crate) fn fill(&mut self, tag: u64, ctx: u32, val: V) -> Option<(u64, u32, V)> {
        let set = self.set_of(tag);
        let base = set * self.ways;
        if let Some(w) = self.find(tag, ctx) {
            self.vals[base + w] = val;
            self.repl.on_hit(set, w);
            return None;
        }
        let (way, victim) = match self.ctx[base..base + self.ways]
            .iter()
            .position(|&c| c & VALID == 0)
        {
            Some(w) => (w, None),
            None => {
                let w = self.repl.victim(set);
                let i = base + w;
                (w, Some((self.tags[i], self.ctx[i] & !VALID, self.vals[i])))
            }
        };
        let i = base + way;
        self.tags[i] = tag;
        self.ctx[i] = ctx | VALID;
        self.vals[i] = val;
        self.repl.on_fill(set, way);
        victim
    }

    /// Drops `(tag, ctx)`; returns its value if it was present.
    #[inline]
    pub(crate) fn invalidate(&mut self, tag: u64, ctx: u32) -> Option<V> {
        let set = self.set_of(tag);
        let w = self.find(tag, ctx)?;
        let i = set * self.ways + w;
        self.ctx[i] &= !VALID;
        self.repl.on_invalidate(set, w);
        Some(self.vals[i])
    }

    /// Drops every entry and resets the replacement state.
    pub(crate) fn flush(&mut self) {
        self.ctx.fill(0);
        self.repl.reset();
    }

    /// Drops every entry whose ASID (context bits 0-15) is `asid`; returns how many.
    pub(crate) fn flush_asid(&mut self, asid: u16) -> usize {
        let mut n = 0;
        for i in 0..self.ctx.len() {
            let c = self.ctx[i];
            if c & VALID != 0 && c as u16 == asid {
                self.ctx[i] = c & !VALID;
                self.repl.on_invalidate(i / self.ways, i % self.ways);
                n += 1;
            }
        }
        n
    }

    /// Drops every entry whose value satisfies `stale`; returns how many.
    pub(crate) fn invalidate_where(&mut self, stale: impl Fn(&V) -> bool) -> usize {
        let mut n = 0;
        for i in 0..self.ctx.len() {
            if self.ctx[i] & VALID != 0 && stale(&self.vals[i]) {
                self.ctx[i] &= !VALID;
                self.repl.on_invalidate(i / self.ways, i % self.ways);
                n += 1;
            }
        }
        n
    }

    /// Valid entries, as `(tag, ctx without the valid bit, value)`, set by set.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, u32, V)> + '_ {
        (0..self.tags.len())
            .filter(|&i| self.ctx[i] & VALID != 0)
            .map(|i| (self.tags[i], self.ctx[i] & !VALID, self.vals[i]))
    }

    /// Number of valid entries.
    pub(crate) fn len(&self) -> usize {
        self.ctx.iter().filter(|&&c| c & VALID != 0).count()
    }
}
