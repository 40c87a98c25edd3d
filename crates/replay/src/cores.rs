//! Threads on cores (`--cores`, `--quantum`, `--shootdown`).
//!
//! A thread is an (address space, thread id) pair: a `thread` event names it, and an address
//! space without thread events is one thread. Threads of one address space share its page
//! table. Each core has its own TLB hierarchy with its page-walk caches, and its own L1 and L2
//! caches in front of one shared last level; the simulator holds the running core's and the
//! others wait here, so the replay loop is the same with one core or many.
//!
//! Where a thread runs: where the trace says it ran: a `cpu` event names the CPU (recorded, or a
//! core-sharded trace's core) of what follows, until the next, and CPU `c` is core `c` modulo
//! the cores. Before any cpu event, a thread runs on the core of its order of first
//! appearance, modulo the cores. With a quantum, every `quantum`
//! trace records all threads move one core on (round-robin), and `cpu` events are ignored.
//!
//! A core that starts running another address space switches context: without ASIDs its TLBs
//! are flushed (the trace's own context-switch events then change nothing, as each core keeps
//! its own).
//!
//! Shootdowns: one OS operation (a fault's or an event's changes) that removes or narrows
//! translations invalidates them on the running core, as with one core, and interrupts the other
//! cores that may hold them: `precise`, the cores that ran the address space since their TLBs
//! last dropped it (Linux's `mm_cpumask`); `broadcast`, every other core. Each interrupted core
//! invalidates every page of the operation that belongs to the address spaces it was
//! interrupted for (`remote_invalidations` counts the pages, per core). An exiting address
//! space's entries are dropped on every core without an interrupt (a new ASID generation).

use ptbench_core::{PhysAddr, Vpn};
use ptbench_os::{OsConfig, Shootdown};
use ptbench_tlb::{CacheHierarchy, PrivateCaches, TlbHierarchy, TlbStats};
use std::collections::HashMap;

/// What one core did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Accesses replayed on the core.
    pub accesses: u64,
    /// Threads that ran on the core.
    pub threads: u64,
    /// The core's TLB counters.
    pub tlb: TlbStats,
    /// Shootdown interrupts the core received.
    pub ipis: u64,
    /// Pages the core invalidated for shootdowns.
    pub invalidations: u64,
}

/// Counters of threads, cores and shootdowns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreCounters {
    /// Threads the trace ran (see the module docs).
    pub threads: u64,
    /// OS operations that interrupted at least one other core.
    pub shootdown_events: u64,
    /// Interrupts sent, one per operation and other core.
    pub shootdown_ipis: u64,
    /// Pages invalidated on other cores, one per page and interrupted core.
    pub remote_invalidations: u64,
    /// With the cycles model: `ipi_cycles` per interrupt plus `invlpg_cycles` per remote
    /// invalidation (0 without).
    pub shootdown_cycles: u64,
    /// Per core, in core order (one entry with one core).
    pub per_core: Vec<CoreStats>,
}

#[derive(Clone, Copy, Debug)]
struct Thread {
    /// Order of first appearance.
    index: u64,
    /// Its core by order of first appearance (before any cpu event, without a quantum).
    core: u16,
    /// The cores it ran on.
    ran: u64,
}

/// The scheduler's state and the cores that are not running (see the module docs).
pub(crate) struct Sched {
    pub(crate) cores: u16,
    quantum: u64,
    shootdown: Shootdown,
    pub(crate) running: u16,
    /// Per core: its TLB hierarchy while it is not running (the running core's slot is empty).
    tlbs: Vec<Option<TlbHierarchy>>,
    /// Per core: its private caches while it is not running.
    caches: Vec<Option<PrivateCaches>>,
    threads: HashMap<(u16, u64), Thread>,
    pub(crate) thread: Option<(u16, u64)>,
    /// The thread a thread event named, before it runs.
    pub(crate) pending: Option<(u16, u64)>,
    /// Per address space: the thread it last ran.
    last_tid: HashMap<u16, u64>,
    rotation: u64,
    /// The CPU the last cpu event named (what runs, runs there).
    cpu: Option<u64>,
    /// Per address space: the cores that ran it since their TLBs last dropped it.
    mask: HashMap<u16, u64>,
    /// Per core: the address space it runs or last ran.
    core_asid: Vec<Option<u16>>,
    per_core: Vec<CoreStats>,
    /// The simulator's access count when the running core started.
    accesses_at: u64,
    /// The operation being applied: the cores it interrupts.
    interrupts: u64,
    shootdown_events: u64,
    shootdown_ipis: u64,
    remote_invalidations: u64,
}

fn bit(core: u16) -> u64 {
    1u64 << core
}

impl Sched {
    pub(crate) fn new(os: &OsConfig) -> Sched {
        let n = usize::from(os.cores.max(1));
        Sched {
            cores: os.cores.max(1),
            quantum: os.quantum,
            shootdown: os.shootdown,
            running: 0,
            tlbs: (0..n).map(|_| None).collect(),
            caches: (0..n).map(|_| None).collect(),
            threads: HashMap::new(),
            thread: None,
            pending: None,
            last_tid: HashMap::new(),
            rotation: 0,
            cpu: None,
            mask: HashMap::new(),
            core_asid: vec![None; n],
            per_core: vec![CoreStats::default(); n],
            accesses_at: 0,
            interrupts: 0,
            shootdown_events: 0,
            shootdown_ipis: 0,
            remote_invalidations: 0,
        }
    }

    /// Whether more than one core runs.
    #[inline(always)]
    pub(crate) fn many(&self) -> bool {
        self.cores > 1
    }

    /// The quantum, when threads rotate.
    pub(crate) fn quantum(&self) -> Option<u64> {
        (self.many() && self.quantum > 0).then_some(self.quantum)
    }

    /// Gives every other core an empty copy of `tlb` (a freshly built hierarchy).
    pub(crate) fn set_tlbs(&mut self, tlb: Option<&TlbHierarchy>) {
        let running = usize::from(self.running);
        for (c, slot) in self.tlbs.iter_mut().enumerate() {
            *slot = if c == running { None } else { tlb.cloned() };
        }
    }

    /// Gives every other core empty private caches of `h`'s spec.
    pub(crate) fn set_caches(&mut self, h: &CacheHierarchy) {
        let running = usize::from(self.running);
        for (c, slot) in self.caches.iter_mut().enumerate() {
            *slot = (c != running).then(|| h.new_private());
        }
    }

    /// Makes `key` the running thread. Returns the core it must run on (with one core, 0).
    pub(crate) fn run_thread(&mut self, key: (u16, u64)) -> u16 {
        let next = self.threads.len() as u64;
        let cores = self.cores;
        let t = self.threads.entry(key).or_insert(Thread {
            index: next,
            core: (next % u64::from(cores)) as u16,
            ran: 0,
        });
        let core = if self.quantum > 0 {
            ((t.index + self.rotation) % u64::from(cores)) as u16
        } else if let Some(cpu) = self.cpu {
            (cpu % u64::from(cores)) as u16
        } else {
            t.core
        };
        if cores == 1 {
            t.ran = 1;
        }
        self.thread = Some(key);
        self.last_tid.insert(key.0, key.1);
        core
    }

    /// The thread address space `asid` last ran (its thread 0 before any).
    pub(crate) fn thread_of(&self, asid: u16) -> (u16, u64) {
        (asid, self.last_tid.get(&asid).copied().unwrap_or(0))
    }

    /// What runs from now on ran on recorded CPU `cpu`, until the next: on its core (ignored
    /// with a quantum). Returns that core.
    pub(crate) fn run_on_cpu(&mut self, cpu: u64) -> Option<u16> {
        if self.quantum > 0 {
            return None;
        }
        self.cpu = Some(cpu);
        Some((cpu % u64::from(self.cores)) as u16)
    }

    /// One more quantum has passed: every thread moves one core on. Returns the running
    /// thread's new core.
    pub(crate) fn rotate(&mut self) -> Option<u16> {
        self.rotation += 1;
        let key = self.thread?;
        Some(self.run_thread(key))
    }

    /// Swaps the running core's TLBs and private caches for core `core`'s; `accesses` is the
    /// simulator's access count now.
    pub(crate) fn switch_core(
        &mut self,
        core: u16,
        tlb: &mut Option<TlbHierarchy>,
        caches: Option<&mut CacheHierarchy>,
        accesses: u64,
    ) {
        let (r, c) = (usize::from(self.running), usize::from(core));
        if r == c {
            return;
        }
        self.per_core[r].accesses += accesses - self.accesses_at;
        self.accesses_at = accesses;
        std::mem::swap(tlb, &mut self.tlbs[c]);
        self.tlbs.swap(r, c);
        if let Some(h) = caches {
            if let Some(p) = self.caches[c].as_mut() {
                h.swap_private(p);
            }
            self.caches.swap(r, c);
        }
        self.running = core;
    }

    /// The running core runs the running thread, of address space `asid`: a core that last ran
    /// another address space switches context (without ASIDs, `tlb` flushes and the core leaves
    /// every address space's mask).
    pub(crate) fn enter(&mut self, asid: u16, tlb: Option<&mut TlbHierarchy>) {
        let c = self.running;
        let slot = &mut self.core_asid[usize::from(c)];
        if *slot != Some(asid) {
            if slot.is_some() {
                if let Some(tlb) = tlb {
                    if tlb.context_switch() {
                        self.mask.values_mut().for_each(|m| *m &= !bit(c));
                    }
                }
            }
            *slot = Some(asid);
        }
        *self.mask.entry(asid).or_insert(0) |= bit(c);
        if let Some(t) = self.thread.and_then(|k| self.threads.get_mut(&k)) {
            t.ran |= bit(c);
        }
    }

    /// Every core but the running one.
    fn others(&self) -> u64 {
        let all = if self.cores == 64 {
            u64::MAX
        } else {
            bit(self.cores) - 1
        };
        all & !bit(self.running)
    }

    /// The other cores a change to `asid`'s translations interrupts.
    fn targets(&self, asid: u16) -> u64 {
        let others = self.others();
        match self.shootdown {
            Shootdown::Precise => self.mask.get(&asid).copied().unwrap_or(0) & others,
            Shootdown::Broadcast => others,
        }
    }

    /// Invalidates `vpn` of `asid` on the cores the operation being applied interrupts.
    pub(crate) fn shoot(&mut self, vpn: Vpn, asid: u16) {
        let targets = self.targets(asid);
        self.interrupts |= targets;
        let mut t = targets;
        while t != 0 {
            let c = t.trailing_zeros() as usize;
            t &= t - 1;
            if let Some(tlb) = &mut self.tlbs[c] {
                tlb.invalidate(vpn, asid);
            }
            self.per_core[c].invalidations += 1;
            self.remote_invalidations += 1;
        }
    }

    /// The operation being applied is done: one interrupt per core it interrupted.
    pub(crate) fn shot(&mut self) {
        if self.interrupts == 0 {
            return;
        }
        self.shootdown_events += 1;
        self.shootdown_ipis += u64::from(self.interrupts.count_ones());
        let mut t = self.interrupts;
        while t != 0 {
            let c = t.trailing_zeros() as usize;
            t &= t - 1;
            self.per_core[c].ipis += 1;
        }
        self.interrupts = 0;
    }

    /// Address space `asid` exited: every other core drops its entries (no interrupt).
    pub(crate) fn drop_asid(&mut self, asid: u16) {
        for tlb in self.tlbs.iter_mut().flatten() {
            tlb.flush_asid(asid);
        }
        self.mask.remove(&asid);
    }

    /// Table frames `start..end` were freed: every other core's page-walk caches drop their
    /// pointers to them.
    pub(crate) fn tables_freed(&mut self, start: PhysAddr, end: PhysAddr) {
        for tlb in self.tlbs.iter_mut().flatten() {
            tlb.pwc_invalidate_tables(start, end);
        }
    }

    /// A hypervisor's flush (a nested design's host eviction): every other core that ran an
    /// address space (every other core, broadcasting) flushes, with an interrupt.
    pub(crate) fn flush_all(&mut self) {
        let ran = self.mask.values().fold(0, |a, m| a | m);
        let others = self.others();
        let targets = match self.shootdown {
            Shootdown::Precise => ran & others,
            Shootdown::Broadcast => others,
        };
        for tlb in self.tlbs.iter_mut().flatten() {
            tlb.flush();
        }
        // Every core flushed: none holds any address space's entries but the running one,
        // which goes on running its own.
        self.mask.clear();
        if let Some(a) = self.core_asid[usize::from(self.running)] {
            self.mask.insert(a, bit(self.running));
        }
        self.interrupts |= targets;
        self.shot();
    }

    /// The counters, with the running core's `tlb` and access count `accesses`; with the
    /// cycles model, `cycles` is (ipi_cycles, invlpg_cycles).
    pub(crate) fn counters(
        &self,
        tlb: Option<&TlbHierarchy>,
        accesses: u64,
        cycles: Option<(u32, u32)>,
    ) -> CoreCounters {
        let mut per_core = self.per_core.clone();
        let r = usize::from(self.running);
        per_core[r].accesses += accesses - self.accesses_at;
        for (c, core) in per_core.iter_mut().enumerate() {
            let t = if c == r { tlb } else { self.tlbs[c].as_ref() };
            core.tlb = t.map(|t| *t.stats()).unwrap_or_default();
            core.threads = self
                .threads
                .values()
                .filter(|t| t.ran & bit(c as u16) != 0)
                .count() as u64;
        }
        let threads = self.threads.len() as u64;
        let shootdown_cycles = cycles.map_or(0, |(ipi, inv)| {
            self.shootdown_ipis * u64::from(ipi) + self.remote_invalidations * u64::from(inv)
        });
        CoreCounters {
            threads,
            shootdown_events: self.shootdown_events,
            shootdown_ipis: self.shootdown_ipis,
            remote_invalidations: self.remote_invalidations,
            shootdown_cycles,
            per_core,
        }
    }

    /// The TLB counters summed over cores, with the running core's `tlb`.
    pub(crate) fn tlb_sum(&self, tlb: &TlbHierarchy) -> TlbStats {
        let mut s = *tlb.stats();
        for t in self.tlbs.iter().flatten() {
            s += t.stats();
        }
        s
    }
}
