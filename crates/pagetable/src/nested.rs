//! Nested (two-dimensional) translation: a guest design over a host design, as under a
//! hypervisor with hardware nested paging (Intel EPT, AMD NPT).
//!
//! Layout: the guest table lives in guest-physical memory (the simulator's memory, whose frames
//! the guest OS model hands out); the host table, in host-physical memory of its own, maps each
//! guest-physical page (in host base pages) to a host frame. The hypervisor maps a guest-physical
//! page on its first touch (a host fault: the next free host frame, counted apart from the
//! guest's faults). With a frame limit (`host_frames=`) it then evicts a page by its policy
//! (`host_policy=`: FIFO, or clock on the accessed bits its host walks set) and the replay
//! flushes the TLBs, as INVEPT does; without one it never unmaps a page. Every address space of
//! a run (every guest process) shares one host, as every process of a virtual machine shares
//! its EPT.
//!
//! Cost model: each guest read's guest-physical address is first translated by a host walk, and
//! so is the guest-physical page the guest walk finds, so a walk reads `g + (g + 1) h` entries
//! for a `g`-read guest walk and `h`-read host walks: `(g + 1)(h + 1) - 1`, 24 for four-level
//! radix over four-level radix. [`WalkCost::host_refs`] says how many of them the host made and
//! [`WalkCost::host_walks`] how many host walks there were. A host walk that meets an unmapped
//! page maps it and walks again; both walks count.
//!
//! Cycles (with a cache model): both dimensions' reads go through the caches at host-physical
//! addresses. The host walks a guest step needs run before it (in parallel with each other when
//! the guest step's reads are parallel, as an elastic cuckoo guest's probes are), each keeping its
//! own shape (an elastic cuckoo host's probes in one step); the guest step's reads follow; the
//! host walk of the final guest-physical page comes last. Elastic cuckoo over elastic cuckoo is
//! three steps. The trace's own accesses go to the caches at host-physical addresses
//! ([`PageTable::host_frame`]) when the host's pages are no smaller than the guest's frames, else at
//! guest-physical ones.
//!
//! The design translates to guest-physical frames (what the guest OS model and every other design
//! see, so the translation digest matches the guest design's own); host frames stay inside.

use crate::spec::{DesignConfig, DesignSpec, ParamInfo, ParamValues, SpecError};
use ptbench_core::{
    Footprint, MapError, PageSize, PageTable, Perms, Pfn, PhysAddr, PhysMem, Pte, TableRead, Vpn,
    WalkCache, WalkCost, WalkStep, WalkTrace,
};
use std::sync::{Arc, Mutex, MutexGuard};

/// A nested design's configuration: its guest, its host and the hypervisor's memory.
#[derive(Clone, Debug, PartialEq)]
pub struct NestedConfig {
    /// The guest's design (virtual to guest-physical).
    pub guest: Box<DesignSpec>,
    /// The host's design (guest-physical to host-physical).
    pub host: Box<DesignSpec>,
    /// Host frames the hypervisor may back guest-physical memory with (`None`: as many as
    /// the host's physical space holds, never evicting).
    pub host_frames: Option<u64>,
    /// Which guest-physical page the hypervisor evicts when its frames are all in use.
    pub host_policy: HostPolicy,
}

/// The hypervisor's replacement of host frames (see the module docs).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum HostPolicy {
    /// The page mapped longest ago.
    #[default]
    Fifo,
    /// Second chance: the page mapped longest ago whose accessed bit (set by every host walk
    /// that finds it, as EPT's is) is clear; the hand clears the bits it passes.
    Clock,
}

impl HostPolicy {
    /// The names `host_policy=` takes.
    pub const NAMES: [&'static str; 2] = ["fifo", "clock"];

    /// Its name in a spec.
    pub fn name(self) -> &'static str {
        match self {
            HostPolicy::Fifo => "fifo",
            HostPolicy::Clock => "clock",
        }
    }
}

/// `spec` as a nested spec's value: in brackets when it holds a comma.
pub fn bracket(spec: &DesignSpec) -> String {
    let s = spec.to_string();
    if s.contains(',') {
        format!("[{s}]")
    } else {
        s
    }
}

impl DesignConfig for NestedConfig {
    const NAME: &'static str = "nested";
    const SUMMARY: &'static str = "a guest design over a host design (two-dimensional walks, as with EPT): guest=SPEC,host=SPEC, a spec with commas in brackets";
    const WALK: &'static str = "each guest step waits for the host walks of its guest-physical addresses; the final page's host walk last";
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            key: "guest",
            default: "x86-64",
            help: "the guest's design (any design but nested; in brackets if it holds a comma)",
        },
        ParamInfo {
            key: "host",
            default: "x86-64",
            help: "the host's design, mapping guest-physical pages (any design but nested)",
        },
        ParamInfo {
            key: "host_frames",
            default: "unlimited",
            help: "host frames backing guest-physical memory; when all are in use the hypervisor evicts a page (`ptbench run --host-frames`)",
        },
        ParamInfo {
            key: "host_policy",
            default: "fifo",
            help: "which page the hypervisor evicts: fifo, or clock (second chance on EPT accessed bits set by host walks)",
        },
    ];
    type Table = Nested;

    fn from_params(p: &ParamValues) -> Result<Self, SpecError> {
        let side = |key: &str| -> Result<Box<DesignSpec>, SpecError> {
            let raw = p.raw(key);
            let spec = DesignSpec::parse(raw).map_err(|e| SpecError::BadValue {
                design: Self::NAME.to_string(),
                key: key.to_string(),
                value: raw.to_string(),
                reason: e.to_string(),
            })?;
            if matches!(spec, DesignSpec::Nested(_)) {
                return Err(SpecError::BadValue {
                    design: Self::NAME.to_string(),
                    key: key.to_string(),
                    value: raw.to_string(),
                    reason: "a nested design's guest and host are native designs".to_string(),
                });
            }
            Ok(Box::new(spec))
        };
        let host_frames = match p.raw("host_frames") {
            "unlimited" => None,
            _ => Some(p.u64_in("host_frames", 1, 1 << 40)?),
        };
        let host_policy = match p.choice("host_policy", &HostPolicy::NAMES)? {
            "clock" => HostPolicy::Clock,
            _ => HostPolicy::Fifo,
        };
        let cfg = NestedConfig {
            guest: side("guest")?,
            host: side("host")?,
            host_frames,
            host_policy,
        };
        if cfg.phys_bits() < cfg.page_shift() + 2 {
            return Err(p.geometry(format!(
                "the host's {}-bit addresses leave no room for the guest's {}-byte frames",
                cfg.host.va_bits(),
                1u64 << cfg.page_shift()
            )));
        }
        Ok(cfg)
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("guest", bracket(&self.guest)),
            ("host", bracket(&self.host)),
            (
                "host_frames",
                self.host_frames
                    .map_or("unlimited".to_string(), |n| n.to_string()),
            ),
            ("host_policy", self.host_policy.name().to_string()),
        ]
    }

    fn page_shift(&self) -> u8 {
        self.guest.page_shift()
    }

    fn va_bits(&self) -> u8 {
        self.guest.va_bits()
    }

    /// Guest-physical addresses: as wide as the guest's entries hold and the host translates.
    fn phys_bits(&self) -> u8 {
        self.guest.phys_bits().min(self.host.va_bits())
    }

    fn build(&self, mem: &mut PhysMem) -> Result<Nested, MapError> {
        let guest = self.guest.build_boxed(mem)?;
        let mut hmem = self.host.new_mem()?;
        let table = self.host.build_boxed(&mut hmem)?;
        let shift = table.page_shift();
        let frames = table
            .frame_limit()
            .map_or(hmem.data_frames(), |limit| limit.min(hmem.data_frames()))
            .min(self.host_frames.unwrap_or(u64::MAX));
        Ok(Nested {
            guest,
            host: Arc::new(Mutex::new(Host {
                table,
                mem: hmem,
                shift,
                next_frame: 0,
                frames,
                faults: 0,
                error: None,
                guest_reads: Vec::new(),
                host_reads: Vec::new(),
                log: Vec::new(),
                limited: self.host_frames.is_some(),
                policy: self.host_policy,
                owner: Vec::new(),
                accessed: Vec::new(),
                hand: 0,
                evictions: 0,
            })),
            guest_spec: self.guest.clone(),
            sizes: Vec::new(),
            limited: self.host_frames.is_some(),
        }
        .with_sizes())
    }
}

/// The host side of a nested design: its table, its memory and its first-touch allocator.
struct Host {
    table: Box<dyn PageTable + Send>,
    mem: PhysMem,
    /// log2 of the host's base page: guest-physical pages are host pages of this size.
    shift: u8,
    next_frame: u64,
    /// Host frames it may hand out.
    frames: u64,
    /// Guest-physical pages mapped (host faults).
    faults: u64,
    /// Why a host fault could not be served (reported by the next `map` or `unmap`).
    error: Option<MapError>,
    guest_reads: Vec<TableRead>,
    host_reads: Vec<TableRead>,
    /// A walk's reads of both dimensions, composed (with a cache model).
    log: Vec<TableRead>,
    /// Whether `frames` is a limit the hypervisor evicts at (`host_frames=`), not the end of its
    /// memory.
    limited: bool,
    policy: HostPolicy,
    /// With a limit: the guest-physical page in each host frame handed out.
    owner: Vec<u64>,
    /// With a limit: each host frame's accessed bit (clock).
    accessed: Vec<bool>,
    /// The next frame the policy looks at.
    hand: usize,
    /// Guest-physical pages evicted.
    evictions: u64,
}

impl Host {
    /// Translates guest-physical address `gpa`: from the nested TLB of `cache` when it holds
    /// the page, else by a host walk (through the host page-walk cache of `cache`), mapping the
    /// page on first touch; adds the references to `cost` (as host references) and, when `log`
    /// is given, the reads to it with their steps shifted by `base`. Returns the host-physical
    /// address and the steps the walk took, or `None` when the host could not map the page.
    fn translate(
        &mut self,
        gpa: u64,
        cost: &mut WalkCost,
        log: Option<(&mut Vec<TableRead>, u16)>,
        mut cache: Option<&mut dyn WalkCache>,
    ) -> Option<(u64, u16)> {
        let offset = gpa & ((1 << self.shift) - 1);
        let vpn = Vpn(gpa >> self.shift);
        if let Some(hfn) = cache.as_mut().and_then(|c| c.ntlb_lookup(vpn.0)) {
            return Some(((hfn << self.shift) | offset, 0));
        }
        let recording = log.is_some();
        let mut c = WalkCost::default();
        self.mem.record_reads(recording);
        let walk = |table: &dyn PageTable,
                    mem: &PhysMem,
                    c: &mut WalkCost,
                    cache: &mut Option<&mut dyn WalkCache>| match cache {
            Some(cache) => table.walk_dyn(mem, vpn, c, &mut HostSide(&mut **cache)),
            None => table.walk(mem, vpn, c),
        };
        let mut found = walk(&*self.table, &self.mem, &mut c, &mut cache);
        if found.is_none() {
            found = self.fault(vpn, &mut cache);
            if found.is_some() {
                found = walk(&*self.table, &self.mem, &mut c, &mut cache);
            }
        }
        cost.refs += c.refs;
        cost.probes += c.probes;
        cost.host_refs += c.refs;
        cost.host_walks += 1;
        let mut steps = 0;
        if let Some((log, base)) = log {
            self.mem.take_reads(&mut self.host_reads);
            for r in &self.host_reads {
                steps = steps.max(r.step + 1);
                log.push(TableRead {
                    step: base + r.step,
                    ..*r
                });
            }
            self.mem.record_reads(false);
        }
        let pte = found?;
        let frame = pte.frame_of(vpn, self.shift).0;
        if let Some(bit) = self.accessed.get_mut(frame as usize) {
            *bit = true;
        }
        if let Some(c) = cache {
            c.ntlb_fill(vpn.0, frame);
        }
        Some(((frame << self.shift) | offset, steps))
    }

    /// Maps guest-physical page `vpn` to the next host frame (a host fault); with a limit and
    /// every frame in use, to the frame of the page the policy evicts (whose nested-TLB entry
    /// `cache` drops).
    #[cold]
    fn fault(&mut self, vpn: Vpn, cache: &mut Option<&mut dyn WalkCache>) -> Option<Pte> {
        if self.error.is_some() {
            return None;
        }
        let size = PageSize::from_shift(self.shift)?;
        let frame = if self.next_frame < self.frames {
            self.next_frame += 1;
            if self.limited {
                self.owner.push(vpn.0);
                self.accessed.push(true);
            }
            self.next_frame - 1
        } else if self.limited && !self.owner.is_empty() {
            let f = self.victim();
            let old = Vpn(self.owner[f]);
            if let Err(e) = self.table.unmap(&mut self.mem, old) {
                self.error = Some(e);
                return None;
            }
            if let Some(c) = cache {
                c.ntlb_invalidate(old.0);
            }
            self.evictions += 1;
            self.owner[f] = vpn.0;
            self.accessed[f] = true;
            f as u64
        } else {
            self.error = Some(MapError::Unsupported(format!(
                "the host ran out of its {} frames mapping guest-physical memory",
                self.frames
            )));
            return None;
        };
        let pte = Pte {
            pfn: Pfn(frame),
            perms: Perms::RWX.union(Perms::U),
            size,
        };
        match self.table.map(&mut self.mem, vpn, pte) {
            Ok(()) => {
                self.faults += 1;
                Some(pte)
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    /// The frame the policy evicts; moves the hand past it.
    fn victim(&mut self) -> usize {
        let n = self.owner.len();
        loop {
            let f = self.hand;
            self.hand = (self.hand + 1) % n;
            match self.policy {
                HostPolicy::Fifo => return f,
                HostPolicy::Clock if self.accessed[f] => self.accessed[f] = false,
                HostPolicy::Clock => return f,
            }
        }
    }
}

/// A walk cache's host page-walk cache, as the walk cache of a host walk.
struct HostSide<'a>(&'a mut dyn WalkCache);

impl WalkCache for HostSide<'_> {
    fn lookup(&mut self, vpn: Vpn) -> Option<(usize, PhysAddr)> {
        self.0.host_lookup(vpn)
    }
    fn fill(&mut self, level: usize, vpn: Vpn, table: PhysAddr) {
        self.0.host_fill(level, vpn, table)
    }
}

/// A guest table whose every guest-physical address a shared host table translates (see the
/// module docs).
pub struct Nested {
    guest: Box<dyn PageTable + Send>,
    host: Arc<Mutex<Host>>,
    guest_spec: Box<DesignSpec>,
    sizes: Vec<PageSize>,
    /// Whether the host has a frame limit (`host_frames=`).
    limited: bool,
}

impl Nested {
    fn with_sizes(mut self) -> Nested {
        self.sizes = self.guest.page_sizes().to_vec();
        self
    }

    fn host(&self) -> MutexGuard<'_, Host> {
        // A panic while the lock was held cannot leave the host half-updated in a way a later
        // walk could observe wrongly (every update is one map), so a poisoned lock is used as is.
        self.host.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The host-physical address guest-physical address `gpa` is mapped to, if the host has
    /// mapped its page; reads nothing counted and maps nothing.
    pub fn host_address(&self, gpa: u64) -> Option<u64> {
        let host = self.host();
        let vpn = Vpn(gpa >> host.shift);
        let pte = host.table.walk(&host.mem, vpn, &mut WalkCost::default())?;
        let frame = pte.frame_of(vpn, host.shift).0;
        Some((frame << host.shift) | (gpa & ((1 << host.shift) - 1)))
    }

    /// The host-physical address of page `vpn` by a whole two-dimensional walk (as
    /// [`PageTable::walk`] makes it, the host mapping what it has not), with the guest's mapping.
    pub fn walk_to_host(&self, mem: &PhysMem, vpn: Vpn) -> Option<(Pte, u64)> {
        self.walk_2d(mem, vpn, &mut WalkCost::default(), None)
    }

    /// The two-dimensional walk: the guest's mapping of `vpn` and the host-physical address of
    /// its page (see the module docs).
    fn walk_2d(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        mut cache: Option<&mut dyn WalkCache>,
    ) -> Option<(Pte, u64)> {
        let outer = mem.recording();
        let mut host = self.host();
        let host = &mut *host;
        // The guest walk, its guest-physical reads logged.
        mem.record_reads(true);
        let found = match cache.as_mut() {
            Some(c) => self.guest.walk_dyn(mem, vpn, cost, &mut **c),
            None => self.guest.walk(mem, vpn, cost),
        };
        mem.take_reads(&mut host.guest_reads);
        mem.record_reads(outer);
        // Each guest step: the host walks of its reads (in parallel), then its reads, logged
        // at their host-physical addresses.
        let mut log = std::mem::take(&mut host.log);
        log.clear();
        let mut base = 0u16;
        let mut reads = std::mem::take(&mut host.guest_reads);
        reads.sort_by_key(|r| r.step);
        let mut ok = true;
        let mut start = 0;
        while start < reads.len() {
            let step = reads[start].step;
            let end = start + reads[start..].iter().take_while(|r| r.step == step).count();
            let mut longest = 0u16;
            for r in &mut reads[start..end] {
                let c = cache.as_mut().map(|c| &mut **c as &mut dyn WalkCache);
                match host.translate(r.pa.0, cost, outer.then_some((&mut log, base)), c) {
                    Some((hpa, steps)) => {
                        longest = longest.max(steps);
                        r.pa = PhysAddr(hpa);
                    }
                    None => {
                        ok = false;
                        r.bytes = 0; // not read: its address has no host frame
                    }
                }
            }
            if outer {
                log.extend(
                    reads[start..end]
                        .iter()
                        .filter(|r| r.bytes > 0)
                        .map(|r| TableRead {
                            step: base + longest,
                            ..*r
                        }),
                );
            }
            base += longest + 1;
            start = end;
        }
        host.guest_reads = reads;
        // The guest-physical page the guest walk found.
        let found = match found {
            Some(pte) if ok => {
                let shift = self.guest.page_shift();
                let gpa = pte.frame_of(vpn, shift).0 << shift;
                host.translate(gpa, cost, outer.then_some((&mut log, base)), cache)
                    .map(|(hpa, _)| (pte, hpa))
            }
            _ => None,
        };
        if outer {
            for &r in &log {
                mem.log_read_at(r);
            }
        }
        host.log = log;
        found
    }

    fn host_error(&self) -> Result<(), MapError> {
        match self.host().error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Nested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nested")
            .field("guest", &self.guest_spec.to_string())
            .finish_non_exhaustive()
    }
}

impl PageTable for Nested {
    fn page_shift(&self) -> u8 {
        self.guest.page_shift()
    }

    fn va_bits(&self) -> u8 {
        self.guest.va_bits()
    }

    fn page_sizes(&self) -> &[PageSize] {
        &self.sizes
    }

    fn map(&mut self, mem: &mut PhysMem, vpn: Vpn, pte: Pte) -> Result<(), MapError> {
        self.host_error()?;
        self.guest.map(mem, vpn, pte)
    }

    fn unmap(&mut self, mem: &mut PhysMem, vpn: Vpn) -> Result<Option<Pte>, MapError> {
        self.host_error()?;
        self.guest.unmap(mem, vpn)
    }

    fn walk(&self, mem: &PhysMem, vpn: Vpn, cost: &mut WalkCost) -> Option<Pte> {
        self.walk_2d(mem, vpn, cost, None).map(|(pte, _)| pte)
    }

    /// The guest walk through the guest page-walk cache of `cache`, each host translation
    /// through its nested TLB and host page-walk cache.
    fn walk_cached<C: WalkCache>(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        cache: &mut C,
    ) -> Option<Pte> {
        self.walk_2d(mem, vpn, cost, Some(cache))
            .map(|(pte, _)| pte)
    }

    fn walk_dyn(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        cache: &mut dyn WalkCache,
    ) -> Option<Pte> {
        self.walk_2d(mem, vpn, cost, Some(cache))
            .map(|(pte, _)| pte)
    }

    fn radix_geometry(&self) -> Option<(u8, u8)> {
        self.guest.radix_geometry()
    }

    fn walk_cache_levels(&self) -> Option<(u8, Vec<(u8, u8)>)> {
        self.guest.walk_cache_levels()
    }

    fn host_walk_cache_levels(&self) -> Option<(u8, Vec<(u8, u8)>)> {
        self.host().table.walk_cache_levels()
    }

    fn explain(&self, mem: &PhysMem, vpn: Vpn) -> Option<WalkTrace> {
        let guest = self.guest.explain(mem, vpn)?;
        let host = self.host();
        let gshift = self.guest.page_shift();
        let mut t = WalkTrace {
            fields: guest.fields.clone(),
            notes: guest.notes.clone(),
            pte: guest.pte,
            cost: guest.cost,
            outcome: guest.outcome.clone(),
            ..WalkTrace::default()
        };
        // (what a row reads, its host walk's step numbers, the guest read's step or the page's
        // host-physical address)
        let mut rows: Vec<(String, Vec<usize>, String)> = Vec::new();
        // The host walk of `gpa`: its steps appended; the host-physical address, if mapped.
        let host_walk = |t: &mut WalkTrace, gpa: u64, why: &str| -> (Vec<usize>, Option<u64>) {
            let hvpn = Vpn(gpa >> host.shift);
            let Some(h) = host.table.explain(&host.mem, hvpn) else {
                return (Vec::new(), None);
            };
            let mut numbers = Vec::new();
            for s in h.steps {
                t.steps.push(WalkStep {
                    place: format!("host {}", s.place),
                    meaning: format!(
                        "{} (host walk of {why} at guest-physical {gpa:#x})",
                        s.meaning
                    ),
                    ..s
                });
                numbers.push(t.steps.len());
            }
            t.cost.refs += h.cost.refs;
            t.cost.probes += h.cost.probes;
            t.cost.host_refs += h.cost.refs;
            t.cost.host_walks += 1;
            let hpa = h.pte.map(|p| {
                (p.frame_of(hvpn, host.shift).0 << host.shift) | (gpa & ((1 << host.shift) - 1))
            });
            (numbers, hpa)
        };
        for g in &guest.steps {
            let (numbers, hpa) = host_walk(&mut t, g.addr.0, &format!("the guest's {}", g.place));
            let read = hpa.map(|hpa| {
                t.steps.push(WalkStep {
                    place: format!("guest {}", g.place),
                    addr: PhysAddr(hpa),
                    meaning: format!("{} (guest-physical {:#x})", g.meaning, g.addr.0),
                    ..g.clone()
                });
                t.steps.len()
            });
            if hpa.is_none() {
                t.outcome = format!("the host has not mapped guest-physical {:#x}", g.addr.0);
            }
            let read = read.map_or("-".to_string(), |n| format!("{n:>3}"));
            rows.push((format!("guest {}", g.place), numbers, read));
        }
        if let Some(pte) = guest.pte {
            let gpa = pte.frame_of(vpn, gshift).0 << gshift;
            let (numbers, hpa) = host_walk(&mut t, gpa, "the guest page");
            let at = match hpa {
                Some(hpa) => format!("= host-physical {hpa:#x}"),
                None => {
                    t.pte = None;
                    t.outcome = format!("the host has not mapped guest-physical {gpa:#x}");
                    "-".to_string()
                }
            };
            rows.push(("the guest page".to_string(), numbers, at));
        }
        let label = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let cells = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
        t.grid.push(format!(
            "{:<label$}  {:<w$}  guest read",
            "",
            "host walk (steps)",
            w = (cells * 4).max(17)
        ));
        for (name, numbers, read) in rows {
            let across: Vec<String> = numbers.iter().map(|n| format!("{n:>3}")).collect();
            t.grid.push(format!(
                "{name:<label$}  {:<w$}  {read}",
                across.join(" "),
                w = (cells * 4).max(17)
            ));
        }
        Some(t)
    }

    fn footprint(&self) -> Footprint {
        self.guest.footprint()
    }

    fn frame_limit(&self) -> Option<u64> {
        self.guest.frame_limit()
    }

    fn canonical(&self) -> bool {
        self.guest.canonical()
    }

    fn shares_asids(&self) -> bool {
        self.guest.shares_asids()
    }

    fn set_asid(&mut self, asid: u16) {
        self.guest.set_asid(asid)
    }

    fn new_address_space(&self, mem: &mut PhysMem) -> Option<Result<Nested, MapError>> {
        Some(self.guest_spec.build_boxed(mem).map(|guest| {
            Nested {
                guest,
                host: Arc::clone(&self.host),
                guest_spec: self.guest_spec.clone(),
                sizes: Vec::new(),
                limited: self.limited,
            }
            .with_sizes()
        }))
    }

    fn host_faults(&self) -> Option<u64> {
        Some(self.host().faults)
    }

    fn host_evictions(&self) -> Option<u64> {
        self.limited.then(|| self.host().evictions)
    }

    fn host_frame(&self, gfn: u64) -> Option<u64> {
        let gshift = self.guest.page_shift();
        if self.host().shift < gshift {
            return None;
        }
        Some(self.host_address(gfn << gshift)? >> gshift)
    }
}
