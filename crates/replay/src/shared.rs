//! Shared front ends: designs that see the same TLB hits and misses share one simulation of them.
//!
//! Every design translates a trace alike (the digest proves it), so designs that agree on
//! everything the TLBs and the OS model see (base and huge page sizes, address width, the TLB
//! spec, the OS settings and the memory the OS hands out) have the same TLB hits, misses, faults
//! and replacements. A [`Fanout`] gives such a group one front end: a simulator of the group's
//! geometry over the reference table (a map of every mapping, no simulated memory) that runs the
//! fast path, the TLBs and the OS model once, and logs what changes a design's own state: each
//! walk (page, address space, the mapping it must find), each switch of address space, each
//! action of the OS model on the tables, each context switch. Each design of the group then
//! replays only that log: its walks through its page-walk caches, its table updates.
//!
//! Designs of different widths share one front end over the lower 47 bits (x86-64's lower half,
//! where user programs live), where every design of 47 bits or more walks the same pages; a
//! front end that meets an access outside it splits, and its designs replay the trace again,
//! alone ([`Fanout::finish`]). An inverted table follows too: where it has lost a shared frame's
//! one entry to another address space (an alias the others do not have), it stops following and
//! replays the trace again, alone. A design keeps its own front end when it differs in what the
//! TLB sees or shapes it: page sizes, an address space narrower than 47 bits (with
//! `--wide-addresses count`, any other width), the memory limit, tables counted against the
//! frames, no TLB (every translation walks), or
//! [`SimOptions::no_shared_front_end`](crate::SimOptions::no_shared_front_end).
//!
//! With caches, each design keeps its own cache hierarchy (its table reads and the trace's
//! accesses share it, so no two designs' caches agree), and the front end logs every access with
//! its frame ([`Miss::Repeat`], [`Miss::Access`]) but one that cannot change any design's
//! caches: a one-line access to the line the last access of its L1 set touched, with no table
//! read into that L1 since (into the L1D only when page-table reads are cached and enter
//! there), is the most recent line of that set in every design's L1 (an LRU hit that changes
//! nothing), and is only counted ([`DataLog`]). No table read ever enters the L1I, so every
//! design's L1I holds the same lines: the front end simulates it once, for all of them, and
//! logs only the fetches that miss it (each design takes those from its L2 down).
//! Every count is the same either way (the tests hold the two paths equal); a design whose walk
//! finds another mapping than the front end's stops with [`ReplayError::Diverged`].

use crate::{ReplayError, Sim, SimOptions, Simulator, Stats, WideAddresses};
use ptbench_core::{Access, AccessKind, PageTable, PhysMem, Pte, RunStart, Vpn, WalkCost};
use ptbench_os::{Action, ModelError, OsError, OsModel};
use ptbench_pagetable::Reference;
use ptbench_tlb::cache::{CacheHierarchy, Served};
use ptbench_tlb::{CacheSpec, TlbStats};
use rayon::prelude::*;
use std::time::Instant;

/// The width of the space designs of different widths share a front end in: every address
/// below `2^47` (x86-64's lower half, where user programs live) lies in the space of every design
/// of 47 bits or more, canonical or not, and walks the same page.
pub const USER_BITS: u8 = 47;

/// What a shared front end's followers replay, in order.
#[derive(Copy, Clone, Debug)]
pub(crate) enum Miss {
    /// A walk of `vpn` in address space `asid` (the current one), which finds `found`.
    Walk {
        vpn: Vpn,
        asid: u16,
        found: Option<Pte>,
    },
    /// The current address space becomes `asid`, at access `index` (at `addr`).
    Switch { asid: u16, index: u64, addr: u64 },
    /// The actions that follow are the OS model's for access `index` (at `addr`).
    Apply { index: u64, addr: u64 },
    /// One action of the OS model.
    Act(Action),
    /// The end of a set of actions (freed tables leave the page-walk caches).
    Applied,
    /// A context switch (TLBs without ASIDs flush).
    ContextSwitch,
    /// Access `i` of the batch, a single-page access translated to `frame` (with caches).
    Repeat { i: u32, frame: u64 },
    /// Access `i` of the batch goes through the caches at the pages translated since the last
    /// `Access` ([`Miss::Page`]).
    Access { i: u32 },
    /// A page of the next [`Miss::Access`] and its frame.
    Page { vpn: u64, frame: u64 },
    /// One-line accesses that hit the most recent line of their L1 set in every follower.
    Hits { fetches: u64, data: u64 },
}

/// What a shared front end whose followers have caches logs of the trace's accesses (see
/// [`Miss::Repeat`], [`Miss::Access`]), with a filter: a one-line access to the line the last
/// access of its L1 set touched, with no table read into that L1 since (in any follower), hits
/// the most recent line of its set in every follower's L1, which under LRU changes nothing: it is
/// only counted ([`Miss::Hits`]).
pub(crate) struct DataLog {
    identity: bool,
    line_shift: u32,
    /// Per L1 (loads and stores, fetches): the last line of each set and the walk count then;
    /// `None` without that L1 or under another policy than LRU.
    shadow: [Option<Shadow>; 2],
    /// Per L1: walks so far whose table reads reach it (never the L1I; the L1D when page-table
    /// reads are cached and enter there).
    walks: [u64; 2],
    /// Whether table reads reach the L1D.
    walks_reach_l1d: bool,
    /// Filtered hits not yet logged: loads and stores, fetches.
    hits: [u64; 2],
    /// The (page, frame) of each page the current access was translated to.
    pub(crate) pages: Vec<(u64, u64)>,
    /// The followers' L1I, simulated here once for them all: no table read enters an L1I, so
    /// it sees the same fetches, in the same order, in every follower. Fetches that hit it are
    /// only counted; the followers see only those that missed
    /// ([`CacheHierarchy::l1i_elsewhere`]).
    l1i: Option<CacheHierarchy>,
    /// The parts of a fetch on several frames.
    parts: Vec<(u64, u32)>,
}

struct Shadow {
    mask: u64,
    last: Box<[(u64, u64)]>,
}

impl DataLog {
    pub(crate) fn new(spec: &CacheSpec, identity: bool) -> DataLog {
        let shadow = |g: Option<ptbench_tlb::Geometry>| {
            let g = g.filter(|_| spec.repl == ptbench_tlb::ReplPolicy::Lru)?;
            Some(Shadow {
                mask: u64::from(g.sets()) - 1,
                last: vec![(u64::MAX, 0); g.sets() as usize].into_boxed_slice(),
            })
        };
        let l1i = spec.l1i.map(|_| CacheHierarchy::l1i_only(spec));
        DataLog {
            identity,
            line_shift: spec.line.trailing_zeros(),
            shadow: [shadow(spec.l1d), shadow(spec.l1i.filter(|_| l1i.is_none()))],
            walks: [0; 2],
            walks_reach_l1d: spec.walker == ptbench_tlb::Walker::L1d
                && spec.ptes == ptbench_tlb::PteRoute::Cached,
            hits: [0; 2],
            pages: Vec::new(),
            l1i,
            parts: Vec::new(),
        }
    }

    /// Whether it simulates the followers' L1I (then they must not: see [`DataLog::l1i`]).
    pub(crate) fn keeps_l1i(&self) -> bool {
        self.l1i.is_some()
    }

    /// A walk: its table reads may have gone to any set of the L1D (when they reach it).
    #[inline]
    pub(crate) fn walked(&mut self) {
        self.walks[0] += u64::from(self.walks_reach_l1d);
    }

    /// Access `a` (number `i` of the batch), of one page translated to `frame`.
    #[inline(always)]
    pub(crate) fn repeated(
        &mut self,
        log: Option<&mut Vec<Miss>>,
        a: &Access,
        i: usize,
        frame: u64,
        shift: u8,
    ) {
        let pa = if self.identity {
            a.addr
        } else {
            (frame << shift) | (a.addr & ((1u64 << shift) - 1))
        };
        if self.filtered(a, pa) {
            return;
        }
        if let Some(log) = log {
            log.push(Miss::Repeat { i: i as u32, frame });
        }
    }

    /// Whether access `a`, at physical address `pa` on one page, is a hit that changes no
    /// follower's L1 (then only counted); otherwise its lines become their sets' most recent.
    #[inline(always)]
    fn filtered(&mut self, a: &Access, pa: u64) -> bool {
        let slot = usize::from(a.kind == AccessKind::Fetch);
        if let (1, Some(l1i)) = (slot, &mut self.l1i) {
            let hit = l1i.fetch(pa, a.size.max(1)) == Served::L1;
            self.hits[1] += u64::from(hit);
            return hit;
        }
        let first = pa >> self.line_shift;
        let last = pa.saturating_add(u64::from(a.size.max(1)) - 1) >> self.line_shift;
        if let Some(sh) = &self.shadow[slot] {
            if first == last && sh.last[(first & sh.mask) as usize] == (first, self.walks[slot]) {
                self.hits[slot] += 1;
                return true;
            }
        }
        self.touched(slot, first, last);
        false
    }

    /// Access `a` (number `i` of the batch), translated to [`DataLog::pages`].
    pub(crate) fn access(&mut self, log: Option<&mut Vec<Miss>>, a: &Access, i: usize, shift: u8) {
        let one = match (self.identity, &self.pages[..]) {
            (true, _) => Some(a.addr),
            (false, [(_, frame)]) => Some((frame << shift) | (a.addr & ((1u64 << shift) - 1))),
            _ => None,
        };
        match one {
            Some(pa) => {
                if self.filtered(a, pa) {
                    self.pages.clear();
                    return;
                }
            }
            // A fetch on several frames: through the L1I here, in parts as the followers'
            // caches would take it.
            None if a.kind == AccessKind::Fetch && self.l1i.is_some() => {
                crate::access_parts(a, &self.pages, shift, false, &mut self.parts);
                if let Some(l1i) = &mut self.l1i {
                    if l1i.fetch_parts(&self.parts) == Served::L1 {
                        self.hits[1] += 1;
                        self.pages.clear();
                        return;
                    }
                }
            }
            // Lines on several frames: forget every set.
            None => {
                let slot = usize::from(a.kind == AccessKind::Fetch);
                if let Some(sh) = &mut self.shadow[slot] {
                    sh.last.fill((u64::MAX, 0));
                }
            }
        }
        if let Some(log) = log {
            for &(vpn, frame) in &self.pages {
                log.push(Miss::Page { vpn, frame });
            }
            log.push(Miss::Access { i: i as u32 });
        }
        self.pages.clear();
    }

    /// Lines `first..=last` were accessed: each is now the most recent of its set.
    fn touched(&mut self, slot: usize, first: u64, last: u64) {
        let Some(sh) = &mut self.shadow[slot] else {
            return;
        };
        if last - first > sh.mask {
            sh.last.fill((u64::MAX, 0));
            return;
        }
        for line in first..=last {
            sh.last[(line & sh.mask) as usize] = (line, self.walks[slot]);
        }
    }

    /// Logs the hits counted since the last call.
    pub(crate) fn flush(&mut self, log: &mut Vec<Miss>) {
        let [data, fetches] = std::mem::take(&mut self.hits);
        if data + fetches > 0 {
            log.push(Miss::Hits { fetches, data });
        }
    }
}

/// A follower's share of its front end's counters, given after the replay.
#[derive(Clone, Debug, Default)]
pub(crate) struct Adopted {
    stats: Stats,
    tlb: Option<TlbStats>,
    /// The front end's busy time divided among its followers.
    busy_share: u64,
}

impl<P: PageTable> Simulator<P> {
    /// What the designs sharing a front end with this one must agree on; `None`: this one keeps
    /// its own (see the module docs).
    fn share_key(&self) -> Option<String> {
        let opts = self.share.as_ref()?;
        let tlb = self.tlb.as_ref()?;
        self.origin.as_ref()?;
        if !tlb.has_tlb()
            || self.os.config().count_tables
            || self.following.is_some()
            || self.log.is_some()
        {
            return None;
        }
        // A nested design puts the trace's data in the caches at its own host frames, which no
        // other design shares: with caches it keeps its own front end.
        if self.nested || self.pt.host_evictions().is_some() {
            return None;
        }
        let space = if self.user_space() {
            "user".to_string()
        } else {
            format!("{}|{}", self.pt.va_bits(), self.canonical)
        };
        // The page sizes make the TLB's arrays (a miss probes one per size).
        Some(format!(
            "{opts}|{:?}|{:?}|{space}",
            tlb.spec(),
            self.pt.page_sizes()
        ))
    }

    /// Whether this simulation may share a front end whose space is the low [`USER_BITS`] bits,
    /// whatever its own width: it stops at addresses outside its space (so an access outside
    /// the user space splits the group, see [`Fanout::finish`]), and its space holds every
    /// address below `2^USER_BITS` unchanged by its walk's mask.
    fn user_space(&self) -> bool {
        !self.count_wide && self.low_last >= (1u64 << USER_BITS) - 1
    }

    /// A front end for this simulation's group: the same geometry, TLB spec and OS model, over
    /// the reference table; `None` if one cannot be built (then nobody shares).
    fn front(&self) -> Option<Simulator<Reference>> {
        let tlb = self.tlb.as_ref()?;
        let (shift, va_bits, canonical) = if self.user_space() {
            (self.shift, USER_BITS, false)
        } else {
            (self.shift, self.pt.va_bits(), self.canonical)
        };
        let huge: Vec<_> = self.pt.page_sizes().iter().skip(1).copied().collect();
        let make =
            move || Reference::new(shift, va_bits, &huge).map(|r| r.with_canonical(canonical));
        let pt = make().ok()?;
        if pt.page_sizes() != self.pt.page_sizes() {
            return None;
        }
        let mem = PhysMem::new(shift, self.mem.phys_bits()).ok()?;
        let opts = SimOptions {
            page_crossing: self.crossing,
            wide: if self.count_wide {
                WideAddresses::Count
            } else {
                WideAddresses::Error
            },
            os: self.os.config().clone(),
            no_fast_path: self.fast_off,
            cache: CacheSpec::NONE,
            no_shared_front_end: true,
            ..SimOptions::default()
        };
        let mut front = Simulator::new(self.label.clone(), pt, mem, &opts)
            .with_factory(Box::new(move |_| make()))
            .with_tlb(tlb.spec())
            .ok()?;
        front.os = self.os.clone();
        front.os_error = self.os_error.clone();
        front.log = Some(Vec::new());
        front.data = self
            .caches
            .as_ref()
            .map(|c| Box::new(DataLog::new(c.h.spec(), c.identity)));
        Some(front)
    }

    /// Whether this is a front end over the user space ([`USER_BITS`]).
    fn user_space_front(&self) -> bool {
        self.log.is_some() && self.pt.va_bits() == USER_BITS && !self.canonical
    }

    /// Replays a front end's log (see [`Miss`]).
    fn follow(&mut self, log: &[Miss], batch: &[Access]) -> Result<(), ReplayError> {
        let start = Instant::now();
        let result = self.follow_inner(log, batch);
        self.stats.busy_nanos += start.elapsed().as_nanos() as u64;
        result
    }

    fn follow_inner(&mut self, log: &[Miss], batch: &[Access]) -> Result<(), ReplayError> {
        let (mut index, mut addr) = (0, 0);
        for m in log {
            match *m {
                Miss::Walk { vpn, asid, found } => {
                    let mut cost = WalkCost::default();
                    let mine = self.walk(vpn, asid, &mut cost);
                    self.stats.refs_per_walk.record(cost.refs);
                    self.stats.add_walk(&cost);
                    if mine != found {
                        return Err(ReplayError::Diverged {
                            design: self.label.clone(),
                            vpn,
                            found: mine,
                            expected: found,
                        });
                    }
                }
                Miss::Switch { asid, index, addr } => self.switch_table(asid, index, addr)?,
                Miss::Apply { index: i, addr: a } => (index, addr) = (i, a),
                Miss::Act(act) => self.act(act).map_err(|e| self.os_err_at(index, addr, e))?,
                Miss::Applied => self.applied(),
                Miss::ContextSwitch => {
                    if let Some(tlb) = &mut self.tlb {
                        tlb.context_switch();
                    }
                }
                Miss::Repeat { i, frame } => {
                    if let (Some(c), Some(a)) = (&mut self.caches, batch.get(i as usize)) {
                        c.repeated(a, frame, self.shift);
                    }
                }
                Miss::Page { vpn, frame } => {
                    if let Some(c) = &mut self.caches {
                        c.pages.push((vpn, frame));
                    }
                }
                Miss::Access { i } => {
                    if let (Some(c), Some(a)) = (&mut self.caches, batch.get(i as usize)) {
                        c.access(a, self.shift);
                    }
                }
                Miss::Hits { fetches, data } => {
                    if let Some(c) = &mut self.caches {
                        c.h.count_l1_hits(fetches, data);
                    }
                }
            }
        }
        Ok(())
    }

    /// The counters of a follower: its front end's, but for what its own walks counted.
    pub(crate) fn followed_stats(&self, front: &Adopted) -> Stats {
        let tlb = self.followed_tlb_stats(front);
        let cycles = self
            .caches
            .as_ref()
            .map(|c| {
                let tlb = tlb.as_ref().zip(self.tlb.as_ref().map(|t| t.spec()));
                c.stats(tlb, &front.stats.os)
            })
            .unwrap_or_default();
        // One core (a front end is shared only then): its TLB counters are the follower's.
        let mut cores = front.stats.cores.clone();
        if let (Some(t), Some(core)) = (tlb, cores.per_core.first_mut()) {
            core.tlb = t;
        }
        Stats {
            cores,
            walk_refs: self.stats.walk_refs,
            probes: self.stats.probes,
            host_refs: self.stats.host_refs,
            host_walks: self.stats.host_walks,
            host_faults: self.pt.host_faults().unwrap_or(0),
            host_evictions: self.stats.host_evictions,
            refs_per_walk: self.stats.refs_per_walk.clone(),
            busy_nanos: self.stats.busy_nanos + front.busy_share,
            cycles,
            ..front.stats.clone()
        }
    }

    /// A follower's TLB counters: its front end's, with its own page-walk caches'.
    pub(crate) fn followed_tlb_stats(&self, front: &Adopted) -> Option<TlbStats> {
        let mut t = front.tlb?;
        if let Some(own) = &self.tlb {
            let o = own.stats();
            t.pwc_hits = o.pwc_hits;
            t.pwc_misses = o.pwc_misses;
            t.pwc_invalidations = o.pwc_invalidations;
            t.ntlb_hits = o.ntlb_hits;
            t.ntlb_misses = o.ntlb_misses;
            t.hpwc_hits = o.hpwc_hits;
            t.hpwc_misses = o.hpwc_misses;
        }
        Some(t)
    }
}

impl Sim {
    fn share_key(&self) -> Option<String> {
        each!(self, s => s.share_key())
    }

    fn front(&self) -> Option<Simulator<Reference>> {
        each!(self, s => s.front())
    }

    fn follow(&mut self, log: &[Miss], batch: &[Access]) -> Result<(), ReplayError> {
        each!(self, s => s.follow(log, batch))
    }

    fn set_following(&mut self, adopted: Adopted) {
        each!(self, s => s.following = Some(Box::new(adopted)))
    }

    /// Its caches' L1I is simulated by its front end's [`DataLog`] from now on.
    fn l1i_elsewhere(&mut self) {
        each!(self, s => if let Some(c) = &mut s.caches {
            c.h.l1i_elsewhere()
        })
    }

    /// A fresh simulation of the same design, TLB and options that replays alone, with `os` (the
    /// OS model as it was before the replay: its address range and OPT's next uses).
    fn rebuilt(&self, os: OsModel) -> Option<Sim> {
        let (spec, tlb, opts) = &**each!(self, s => s.origin.as_ref())?;
        let opts = SimOptions {
            no_shared_front_end: true,
            ..opts.clone()
        };
        let mut sim = Sim::build_with_tlb(spec, tlb, &opts).ok()?;
        each!(&mut sim, s => s.os = os);
        Some(sim)
    }

    /// Whether its table may lose an entry other designs keep (an inverted table's alias).
    fn may_alias(&self) -> bool {
        matches!(self, Sim::Inverted(_))
    }

    fn machine(&self) -> u64 {
        each!(self, s => s.machine)
    }

    fn os(&self) -> &OsModel {
        each!(self, s => &s.os)
    }
}

/// A front end's log of a batch, for its followers (a simulator is not `Sync`; its log is).
#[derive(Default)]
struct Done {
    log: Vec<Miss>,
    /// The front end's error, once it stopped.
    failed: Option<ReplayError>,
    split: bool,
}

impl Done {
    /// Follower `s` (whose slots are `failed` and `detached`) replays this log of `batch`.
    fn follow(
        &self,
        s: &mut Sim,
        failed: &mut Option<ReplayError>,
        detached: &mut bool,
        batch: &[Access],
    ) {
        if self.split {
            return;
        }
        match s.follow(&self.log, batch) {
            // An inverted table gave a shared frame's one entry to another address space:
            // alone, it would fault and take it back; it replays again alone.
            Err(ReplayError::Diverged { .. }) if s.may_alias() => *detached = true,
            Err(e) => *failed = Some(e),
            Ok(()) => {
                if let Some(e) = &self.failed {
                    *failed = Some(e.clone().for_design(s.label()));
                }
            }
        }
    }
}

impl Front {
    /// Replays `batch` (from access `index`, with its page `runs`) into its log.
    fn replay(&mut self, batch: &[Access], runs: &[RunStart], index: u64) {
        let mut log = std::mem::take(&mut self.log);
        log.clear();
        self.sim.log = Some(log);
        match self.sim.replay_runs(batch, runs, index) {
            Err(ReplayError::AddressTooWide { .. } | ReplayError::NonCanonical { .. })
                if self.sim.user_space_front() =>
            {
                self.split = true
            }
            // Every frame is in use; designs with more frames go on alone.
            Err(ReplayError::Os {
                error: OsError::Model(ModelError::OutOfMemory { .. }),
                ..
            }) if self.sim.os.config().frames.is_none() => self.split = true,
            Err(e) => self.failed = Some(e),
            Ok(()) => {}
        }
        self.log = self.sim.log.take().unwrap_or_default();
        if let Some(d) = &mut self.sim.data {
            d.flush(&mut self.log);
        }
    }
}

/// One front end and the simulations that follow it.
struct Front {
    sim: Simulator<Reference>,
    /// An access lay outside the front end's space (see [`USER_BITS`]): its followers replay
    /// the trace again, alone.
    split: bool,
    /// Each member's OS model before the replay, to build it again after a split.
    pristine: Vec<OsModel>,
    /// The log of the last batch.
    log: Vec<Miss>,
    members: Vec<usize>,
    failed: Option<ReplayError>,
}

/// The groups of `sims` (not yet replayed) that a [`Fanout`] gives one front end each, by index,
/// in the order of their first members; a simulation that replays alone is a group of one.
pub fn share_groups(sims: &[Sim]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Option<String>, Vec<usize>)> = Vec::new();
    for (i, s) in sims.iter().enumerate() {
        let key = s.share_key();
        match groups.iter_mut().find(|(k, _)| key.is_some() && *k == key) {
            Some((_, members)) => members.push(i),
            None => groups.push((key, vec![i])),
        }
    }
    groups.into_iter().map(|(_, members)| members).collect()
}

/// Replays batches through many simulations, each group of designs that agree on what the TLBs
/// and the OS model see through one shared front end (see the module docs).
pub struct Fanout {
    fronts: Vec<Front>,
    /// Per front end: its log of the last batch, which its followers replay next.
    done: Vec<Done>,
    /// The last batch, when a front end logs its accesses (with caches); empty otherwise.
    prev: Vec<Access>,
    /// Per simulation: it stopped following its front end (an inverted table's alias) and will
    /// replay the trace again, alone.
    detached: Vec<bool>,
    /// Per simulation: the front end it follows (`Some(SKIP)`: none, and it replays nothing).
    role: Vec<Option<usize>>,
}

/// The role of a simulation a [`Fanout`] leaves out.
const SKIP: usize = usize::MAX;

impl Fanout {
    /// Groups `sims` (not yet replayed) by what they share; each group of two or more follows one
    /// front end from now on, the others replay alone.
    pub fn new(sims: &mut [Sim]) -> Fanout {
        let mut role = vec![None; sims.len()];
        let mut fronts = Vec::new();
        for members in share_groups(sims) {
            if members.len() < 2 {
                continue;
            }
            // The member with the fewest frames: the front end runs out of memory first (and
            // splits) if any does.
            let Some(&first) = members.iter().min_by_key(|&&m| sims[m].machine()) else {
                continue;
            };
            let Some(sim) = sims[first].front() else {
                continue;
            };
            let pristine = members.iter().map(|&m| sims[m].os().clone()).collect();
            let l1i = sim.data.as_ref().is_some_and(|d| d.keeps_l1i());
            for &m in &members {
                role[m] = Some(fronts.len());
                sims[m].set_following(Adopted::default());
                if l1i {
                    sims[m].l1i_elsewhere();
                }
            }
            fronts.push(Front {
                sim,
                split: false,
                pristine,
                log: Vec::new(),
                members,
                failed: None,
            });
        }
        Fanout {
            done: fronts.iter().map(|_| Done::default()).collect(),
            fronts,
            prev: Vec::new(),
            detached: vec![false; sims.len()],
            role,
        }
    }

    /// Replays only the simulations `which` of `n`, each alone.
    pub fn only(n: usize, which: &[usize]) -> Fanout {
        let mut role = vec![Some(SKIP); n];
        for &i in which {
            role[i] = None;
        }
        Fanout {
            fronts: Vec::new(),
            done: Vec::new(),
            prev: Vec::new(),
            detached: vec![false; n],
            role,
        }
    }

    /// Whether any simulation that replays the trace itself (a front end, or one that replays
    /// alone) counts inside page runs in bulk: otherwise nobody reads a batch's runs.
    pub fn uses_runs(&self, sims: &[Sim]) -> bool {
        self.fronts.iter().any(|f| f.sim.uses_runs())
            || sims
                .iter()
                .zip(&self.role)
                .any(|(s, r)| r.is_none() && s.uses_runs())
    }

    /// Whether a simulation still replays: one not left out has not failed.
    pub fn active(&self, failed: &[Option<ReplayError>]) -> bool {
        self.role
            .iter()
            .zip(failed)
            .any(|(r, f)| *r != Some(SKIP) && f.is_none())
    }

    /// Replays `batch`, whose first access is access number `index` of the trace and whose page
    /// runs are `runs` ([`ptbench_core::page_runs`]), through every
    /// simulation of `sims` (the slice given to [`Fanout::new`]) whose `failed` slot is empty; a
    /// simulation that fails gets its error there and replays nothing more. Followers replay a
    /// batch one call later, beside the front ends and lone simulations of the next
    /// ([`Fanout::finish`] replays the last).
    pub fn replay(
        &mut self,
        sims: &mut [Sim],
        failed: &mut [Option<ReplayError>],
        batch: &[Access],
        runs: &[RunStart],
        index: u64,
    ) {
        let fronts = &mut self.fronts;
        let (role, done, prev) = (&self.role, &self.done, &self.prev[..]);
        let detached = &mut self.detached;
        let no_fronts = fronts.is_empty();
        // Without front ends, no `join`: a lone simulation stays on this thread, batch after
        // batch, as its caches prefer.
        let (front_ends, mut others) = (
            || {
                fronts
                    .par_iter_mut()
                    .filter(|f| f.failed.is_none() && !f.split)
                    .for_each(|f| f.replay(batch, runs, index))
            },
            || {
                sims.par_iter_mut()
                    .zip(failed.par_iter_mut())
                    .zip(detached.par_iter_mut())
                    .zip(role.par_iter())
                    .filter(|(((_, f), d), _)| f.is_none() && !**d)
                    .for_each(|(((s, f), d), r)| match r {
                        None => {
                            if let Err(e) = s.replay_runs(batch, runs, index) {
                                *f = Some(e);
                            }
                        }
                        Some(g) => {
                            if let Some(done) = done.get(*g) {
                                done.follow(s, f, d, prev);
                            }
                        }
                    })
            },
        );
        if no_fronts {
            others();
        } else {
            rayon::join(front_ends, others);
        }
        self.turn(batch);
    }

    /// After the front ends replayed `batch`: their logs become what followers replay next.
    fn turn(&mut self, batch: &[Access]) {
        for (f, done) in self.fronts.iter_mut().zip(&mut self.done) {
            std::mem::swap(&mut f.log, &mut done.log);
            f.log.clear();
            done.failed.clone_from(&f.failed);
            done.split = f.split;
        }
        self.prev.clear();
        // Only a log of accesses (with caches) names the batch's accesses.
        if self.fronts.iter().any(|f| f.sim.data.is_some()) {
            self.prev.extend_from_slice(batch);
        }
    }

    /// After the last batch: gives every follower its front end's counters, so that its
    /// [`Sim::stats`] and [`Sim::tlb_stats`] are what it would have counted alone. The followers
    /// of a front end that met an access outside its space (the lower 47 bits) are built again, to
    /// replay the trace alone: their indices are returned (their `failed` slots are emptied).
    pub fn finish(mut self, sims: &mut [Sim], failed: &mut [Option<ReplayError>]) -> Vec<usize> {
        // The followers' last batch.
        let (role, done, prev) = (&self.role, &self.done, &self.prev[..]);
        sims.par_iter_mut()
            .zip(failed.par_iter_mut())
            .zip(self.detached.par_iter_mut())
            .zip(role.par_iter())
            .filter(|(((_, f), d), _)| f.is_none() && !**d)
            .for_each(|(((s, f), d), r)| {
                if let Some(done) = r.and_then(|g| done.get(g)) {
                    done.follow(s, f, d, prev);
                }
            });
        let mut again = Vec::new();
        for front in self.fronts {
            let mut members = Vec::new();
            for (&m, os) in front.members.iter().zip(front.pristine) {
                if front.split || self.detached[m] {
                    match sims[m].rebuilt(os) {
                        Some(fresh) => {
                            sims[m] = fresh;
                            failed[m] = None;
                            again.push(m);
                        }
                        None => {
                            failed[m] = Some(ReplayError::Lost {
                                design: sims[m].label().to_string(),
                                vpn: Vpn(0),
                            })
                        }
                    }
                } else {
                    members.push(m);
                }
            }
            let stats = front.sim.stats();
            let adopted = Adopted {
                tlb: front.sim.tlb_stats(),
                busy_share: stats.busy_nanos / front.members.len() as u64,
                stats,
            };
            for m in members {
                sims[m].set_following(adopted.clone());
            }
        }
        again
    }
}

/// Replays `accesses` in batches of `batch` through `sims` (shared front ends where they can
/// be), as [`crate::replay_trace`] does with a trace file: the errors of the simulations that
/// stopped, by index. For tests and benchmarks.
pub fn replay_all(sims: &mut [Sim], accesses: &[Access], batch: usize) -> Vec<Option<ReplayError>> {
    let mut fan = Fanout::new(sims);
    let mut failed: Vec<Option<ReplayError>> = (0..sims.len()).map(|_| None).collect();
    let mut index = 0u64;
    let mut runs = Vec::new();
    let with_runs = fan.uses_runs(sims);
    for chunk in accesses.chunks(batch.max(1)) {
        if with_runs {
            ptbench_core::page_runs(chunk, &mut runs);
        }
        fan.replay(sims, &mut failed, chunk, &runs, index);
        index += chunk.len() as u64;
    }
    for i in fan.finish(sims, &mut failed) {
        let mut index = 0u64;
        for chunk in accesses.chunks(batch.max(1)) {
            if let Err(e) = sims[i].replay(chunk, index) {
                failed[i] = Some(e);
                break;
            }
            index += chunk.len() as u64;
        }
    }
    failed
}
