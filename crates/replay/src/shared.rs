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
//! A design keeps its own front end when it differs in what the TLB sees or shapes it: an
//! inverted table (its frame limit and aliasing), tables counted against the frames, no TLB
//! (every translation walks), a cache hierarchy (table reads and the trace's accesses share the
//! caches), or [`SimOptions::no_shared_front_end`](crate::SimOptions::no_shared_front_end).
//! Every count is the same either way (the tests hold the two paths equal); a design whose walk
//! finds another mapping than the front end's stops with [`ReplayError::Diverged`].

use crate::{ReplayError, Sim, SimOptions, Simulator, Stats, WideAddresses};
use ptbench_core::{Access, PageTable, PhysMem, Pte, Vpn, WalkCost};
use ptbench_os::Action;
use ptbench_pagetable::Reference;
use ptbench_tlb::{CacheSpec, TlbStats};
use rayon::prelude::*;
use std::time::Instant;

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
        if !tlb.has_tlb()
            || self.caches.is_some()
            || self.os.config().count_tables
            || self.pt.frame_limit().is_some()
            || self.following.is_some()
            || self.log.is_some()
        {
            return None;
        }
        Some(format!(
            "{opts}|{:?}|{}|{:?}|{}|{}",
            tlb.spec(),
            self.shift,
            self.pt.page_sizes(),
            self.pt.va_bits(),
            self.canonical
        ))
    }

    /// A front end for this simulation's group: the same geometry, TLB spec and OS model, over
    /// the reference table; `None` if one cannot be built (then nobody shares).
    fn front(&self) -> Option<Simulator<Reference>> {
        let tlb = self.tlb.as_ref()?;
        let (shift, va_bits, canonical) = (self.shift, self.pt.va_bits(), self.canonical);
        let huge: Vec<_> = self.pt.page_sizes().iter().skip(1).copied().collect();
        let make =
            move || Reference::new(shift, va_bits, &huge).map(|r| r.with_canonical(canonical));
        let pt = make().ok()?;
        if pt.page_sizes() != self.pt.page_sizes() || pt.address_space() != self.pt.address_space()
        {
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
        Some(front)
    }

    /// Replays a front end's log (see [`Miss`]).
    fn follow(&mut self, log: &[Miss]) -> Result<(), ReplayError> {
        let start = Instant::now();
        let result = self.follow_inner(log);
        self.stats.busy_nanos += start.elapsed().as_nanos() as u64;
        result
    }

    fn follow_inner(&mut self, log: &[Miss]) -> Result<(), ReplayError> {
        let (mut index, mut addr) = (0, 0);
        for m in log {
            match *m {
                Miss::Walk { vpn, asid, found } => {
                    let mut cost = WalkCost::default();
                    let mine = self.walk(vpn, asid, &mut cost);
                    self.stats.refs_per_walk.record(cost.refs);
                    self.stats.walk_refs += u64::from(cost.refs);
                    self.stats.probes += u64::from(cost.probes);
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
        Stats {
            walk_refs: self.stats.walk_refs,
            probes: self.stats.probes,
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

    fn follow(&mut self, log: &[Miss]) -> Result<(), ReplayError> {
        each!(self, s => s.follow(log))
    }

    fn set_following(&mut self, adopted: Adopted) {
        each!(self, s => s.following = Some(Box::new(adopted)))
    }

    /// Whether this simulation follows a shared front end (see [`Fanout`]).
    pub fn follows(&self) -> bool {
        each!(self, s => s.following.is_some())
    }
}

/// One front end and the simulations that follow it.
struct Front {
    sim: Simulator<Reference>,
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
    /// Per simulation: the front end it follows.
    role: Vec<Option<usize>>,
}

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
            let Some(sim) = sims[members[0]].front() else {
                continue;
            };
            for &m in &members {
                role[m] = Some(fronts.len());
                sims[m].set_following(Adopted::default());
            }
            fronts.push(Front {
                sim,
                log: Vec::new(),
                members,
                failed: None,
            });
        }
        Fanout { fronts, role }
    }

    /// How many front ends the simulations share.
    pub fn front_ends(&self) -> usize {
        self.fronts.len()
    }

    /// Replays `batch`, whose first access is access number `index` of the trace, through every
    /// simulation of `sims` (the slice given to [`Fanout::new`]) whose `failed` slot is empty; a
    /// simulation that fails gets its error there and replays nothing more.
    pub fn replay(
        &mut self,
        sims: &mut [Sim],
        failed: &mut [Option<ReplayError>],
        batch: &[Access],
        index: u64,
    ) {
        let role = &self.role;
        let fronts = &mut self.fronts;
        rayon::join(
            || {
                fronts
                    .par_iter_mut()
                    .filter(|f| f.failed.is_none())
                    .for_each(|f| {
                        let mut log = std::mem::take(&mut f.log);
                        log.clear();
                        f.sim.log = Some(log);
                        if let Err(e) = f.sim.replay(batch, index) {
                            f.failed = Some(e);
                        }
                        f.log = f.sim.log.take().unwrap_or_default();
                    })
            },
            || {
                sims.par_iter_mut()
                    .zip(failed.par_iter_mut())
                    .zip(role.par_iter())
                    .filter(|((_, f), r)| f.is_none() && r.is_none())
                    .for_each(|((s, f), _)| {
                        if let Err(e) = s.replay(batch, index) {
                            *f = Some(e);
                        }
                    })
            },
        );
        // What followers read of their front ends (a simulator is not `Sync`; its log is).
        let logs: Vec<(&[Miss], Option<&ReplayError>)> = self
            .fronts
            .iter()
            .map(|f| (&f.log[..], f.failed.as_ref()))
            .collect();
        sims.par_iter_mut()
            .zip(failed.par_iter_mut())
            .zip(role.par_iter())
            .filter_map(|((s, f), r)| Some((s, f, logs[(*r)?])))
            .filter(|(_, f, _)| f.is_none())
            .for_each(|(s, f, (log, front_failed))| match s.follow(log) {
                Err(e) => *f = Some(e),
                Ok(()) => {
                    if let Some(e) = front_failed {
                        *f = Some(e.clone().for_design(s.label()));
                    }
                }
            });
    }

    /// After the last batch: gives every follower its front end's counters, so that its
    /// [`Sim::stats`] and [`Sim::tlb_stats`] are what it would have counted alone.
    pub fn finish(&self, sims: &mut [Sim]) {
        for front in &self.fronts {
            let stats = front.sim.stats();
            let adopted = Adopted {
                tlb: front.sim.tlb_stats(),
                busy_share: stats.busy_nanos / front.members.len() as u64,
                stats,
            };
            for &m in &front.members {
                sims[m].set_following(adopted.clone());
            }
        }
    }
}

/// Replays `accesses` in batches of `batch` through `sims` (shared front ends where they can
/// be), as [`crate::replay_trace`] does with a trace file: the errors of the simulations that
/// stopped, by index. For tests and benchmarks.
pub fn replay_all(sims: &mut [Sim], accesses: &[Access], batch: usize) -> Vec<Option<ReplayError>> {
    let mut fan = Fanout::new(sims);
    let mut failed: Vec<Option<ReplayError>> = (0..sims.len()).map(|_| None).collect();
    let mut index = 0u64;
    for chunk in accesses.chunks(batch.max(1)) {
        fan.replay(sims, &mut failed, chunk, index);
        index += chunk.len() as u64;
    }
    fan.finish(sims);
    failed
}
