//! The OS model proper ([`OsModel`]): address spaces, regions, frames, replacement, swap,
//! copy-on-write and watched pages. It answers a fault or an event with [`Action`]s on the
//! designs' tables; it never sees a design or a TLB.

use crate::config::{format_size, DEFAULT_RAM};
use crate::phys::Phys;
use crate::repl::Repl;
use crate::{FirstTouch, HugePolicy, OnViolation, OsConfig, Policy};
use ptbench_core::{Access, AccessKind, PageSize, Perms, Pfn, Pte, Vpn, FILE_BACKED, HUGE_ADVISED};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use thiserror::Error;

/// A change the replay loop makes to the designs' tables (and TLBs) for the OS model.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Store `pte` for the page at `vpn` of `asid` (replacing any mapping of it); with `shoot`,
    /// the old translation is shot down in every TLB and page-walk cache first.
    Map {
        /// The address space.
        asid: u16,
        /// First base page of the page.
        vpn: Vpn,
        /// The mapping.
        pte: Pte,
        /// Whether an older mapping of the page must leave the TLBs.
        shoot: bool,
    },
    /// Remove the mapping of the page at `vpn` of `asid` and shoot it down.
    Unmap {
        /// The address space.
        asid: u16,
        /// First base page of the page.
        vpn: Vpn,
    },
    /// Address space `asid` is gone: its table may be dropped.
    Drop {
        /// The address space.
        asid: u16,
    },
}

/// How a fault was resolved.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Mappings changed: walk again.
    Mapped,
    /// Counted; the access goes on with the mapping it found.
    Continue,
    /// Counted; the access translates to nothing (a segmentation fault).
    Skip,
    /// The design had lost the mapping of a resident page (an inverted table gave the frame's
    /// one entry to another sharer): stored again, walk again. Counted in
    /// [`OsCounters::alias_faults`], not as a fault of the trace.
    Alias,
}

/// Why the OS model stopped the replay.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    /// No data frame could be found.
    #[error("out of physical memory: all {frames} data frames are in use (--frames N limits the frames and replaces pages)")]
    OutOfMemory {
        /// Data frames the OS may use.
        frames: u64,
    },
    /// Page-table pages alone fill the memory limit (`count_tables`).
    #[error("page tables alone take {tables} of the {frames} frames: no frame is left for data (page-table pages are never evicted)")]
    TablesDoNotFit {
        /// Table pages.
        tables: u64,
        /// The limit.
        frames: u64,
    },
    /// A protection fault under `on_violation=stop`.
    #[error("protection fault: {kind} of a page whose region allows only {perms:?} (asid {asid})")]
    Protection {
        /// The access kind.
        kind: &'static str,
        /// The region's permissions.
        perms: Perms,
        /// The address space.
        asid: u16,
    },
    /// A segmentation fault under `on_violation=stop`.
    #[error("segmentation fault: no region of asid {asid} holds the address")]
    Segv {
        /// The address space.
        asid: u16,
    },
    /// OPT was asked for without the trace's next uses.
    #[error("policy opt needs the trace's next uses (a pre-pass over the trace)")]
    NoFuture,
    /// The buddy allocator has no free block of the order asked for.
    #[error("out of physical memory: --ram {} has no free block of {bytes} bytes left (other tenants hold {tenants} frames; a larger --ram, less --fragmentation, or --compaction on)", format_size(*.ram))]
    RamFull {
        /// The machine's memory in bytes.
        ram: u64,
        /// The block's size in bytes (at most 1 GiB).
        bytes: u32,
        /// Frames other tenants hold.
        tenants: u32,
    },
    /// A huge page under a memory limit.
    #[error("replacement works on base pages: a memory limit (--frames) cannot be combined with huge pages")]
    HugeUnderLimit,
}

/// What the OS model has counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OsCounters {
    /// Faults that mapped a page without reading the disk (first touches of zero-filled pages).
    pub minor_faults: u64,
    /// Faults that read the page from disk (swap, or every fault under `first_touch=disk`).
    pub major_faults: u64,
    /// Writes to a copy-on-write page (with or without a copy).
    pub cow_faults: u64,
    /// Copy-on-write faults that copied the page into a new frame.
    pub cow_copies: u64,
    /// Accesses the region's permissions forbid.
    pub protection_faults: u64,
    /// Accesses outside every region of an address space that has regions.
    pub segv: u64,
    /// Pages evicted.
    pub evictions: u64,
    /// Evicted pages that were dirty (written to swap).
    pub dirty_evictions: u64,
    /// Pages read from disk.
    pub disk_reads: u64,
    /// Pages written to disk.
    pub disk_writes: u64,
    /// Most swap slots in use at once.
    pub swap_peak: u64,
    /// Most data frames in use at once.
    pub resident_frames_peak: u64,
    /// TLB shootdowns asked for: one per (asid, page) whose mapping was removed or narrowed.
    pub tlb_shootdowns: u64,
    /// Write faults on a watched page that wrote watched bytes.
    pub watch_hits: u64,
    /// Write faults on a watched page that wrote only other bytes.
    pub watch_false_faults: u64,
    /// Distinct (address space, page) pairs ever mapped.
    pub pages_mapped: u64,
    /// Walks that missed a resident page whose entry the design had given to another page
    /// sharing its frame (an inverted table has one entry per frame: a copy-on-write frame
    /// shared after a fork is mapped by one sharer at a time). The OS stores the entry again
    /// (taking it from the other sharer); not counted in [`OsCounters::faults`], as other
    /// designs translate the access without a fault. 0 for every other design.
    pub alias_faults: u64,
    /// Huge pages mapped at a fault.
    pub thp_faults: u64,
    /// Faults in a region a THP policy would back with a huge page that got a base page: no
    /// aligned free 2 MiB block was left.
    pub thp_fallbacks: u64,
    /// 2 MiB regions of base pages khugepaged promoted to a huge page (`defer`).
    pub thp_promotions: u64,
    /// Huge pages split into base pages (a partial munmap or mprotect, a copy-on-write write).
    pub thp_splits: u64,
    /// Pages compaction moved to make a free 2 MiB block.
    pub compaction_migrations: u64,
    /// With physical memory as a buddy allocator: the fewest free 2 MiB blocks during the run
    /// (0 without one).
    pub free_huge_blocks_min: u64,
    /// With physical memory as a buddy allocator: free base frames at the end.
    pub free_frames: u64,
    /// With physical memory as a buddy allocator: free 2 MiB blocks at the end.
    pub free_huge_blocks: u64,
}

impl OsCounters {
    /// Gorman's unusable free space index for 2 MiB blocks at the end: the fraction of free
    /// memory that no 2 MiB allocation can use (0 without a buddy allocator or free memory).
    pub fn fragmentation_index(&self, base_shift: u8) -> f64 {
        if self.free_frames == 0 {
            return 0.0;
        }
        let usable = self.free_huge_blocks << 21u8.saturating_sub(base_shift);
        1.0 - usable as f64 / self.free_frames as f64
    }

    /// Every fault of every kind.
    pub fn faults(&self) -> u64 {
        self.minor_faults
            + self.major_faults
            + self.cow_faults
            + self.protection_faults
            + self.segv
            + self.watch_hits
            + self.watch_false_faults
    }
}

#[derive(Clone, Debug)]
struct Page {
    size: PageSize,
    /// First frame, when resident.
    pfn: Option<u64>,
    /// Swap slot holding a copy.
    slot: Option<u64>,
    /// Shared copy-on-write since a fork.
    cow: bool,
    /// Backed by a file (a file-backed region's page, until a copy-on-write copy makes it
    /// anonymous): read from the file on first touch and after a clean eviction, written back
    /// to it when evicted dirty; never in swap.
    file: bool,
}

/// A region: end vpn (exclusive), permissions, file-backed, advised for huge pages.
type Region = (u64, Perms, bool, bool);

#[derive(Clone, Debug, Default)]
struct Space {
    pages: HashMap<u64, Page>,
    /// Start vpn -> region; `None` until the first region event.
    regions: Option<BTreeMap<u64, Region>>,
    /// Pages smaller than 2 MiB (any state) per 2 MiB region (`vpn >> rs`).
    small: HashMap<u64, u32>,
}

impl Space {
    /// Adds page `key`; `rs` is log2 of a 2 MiB region's base pages.
    fn add(&mut self, key: u64, page: Page, rs: u32) {
        if page.size.shift() < 21 {
            *self.small.entry(key >> rs).or_default() += 1;
        }
        if let Some(old) = self.pages.insert(key, page) {
            self.uncount(key, &old, rs);
        }
    }

    /// Removes page `key`.
    fn remove(&mut self, key: u64, rs: u32) -> Option<Page> {
        let old = self.pages.remove(&key)?;
        self.uncount(key, &old, rs);
        Some(old)
    }

    fn uncount(&mut self, key: u64, old: &Page, rs: u32) {
        if old.size.shift() < 21 {
            if let Some(n) = self.small.get_mut(&(key >> rs)) {
                *n -= 1;
                if *n == 0 {
                    self.small.remove(&(key >> rs));
                }
            }
        }
    }

    /// Pages smaller than 2 MiB in the region of `key`.
    fn small_in(&self, key: u64, rs: u32) -> u32 {
        self.small.get(&(key >> rs)).copied().unwrap_or(0)
    }

    /// Whether the region holding `vpn` was advised for huge pages.
    fn advised(&self, vpn: u64) -> bool {
        self.regions.as_ref().is_some_and(|r| {
            r.range(..=vpn)
                .next_back()
                .is_some_and(|(_, (end, _, _, h))| vpn < *end && *h)
        })
    }

    fn region(&self, vpn: u64) -> Option<Perms> {
        match &self.regions {
            None => Some(Perms::RWX),
            Some(r) => r
                .range(..=vpn)
                .next_back()
                .filter(|(_, (end, _, _, _))| vpn < *end)
                .map(|(_, (_, p, _, _))| *p),
        }
    }

    /// Whether the region holding `vpn` maps a file.
    fn file_backed(&self, vpn: u64) -> bool {
        self.regions.as_ref().is_some_and(|r| {
            r.range(..=vpn)
                .next_back()
                .is_some_and(|(_, (end, _, file, _))| vpn < *end && *file)
        })
    }

    /// Whether `[start, end)` lies inside one region (or there are no regions).
    fn inside_one(&self, start: u64, end: u64) -> bool {
        match &self.regions {
            None => true,
            Some(r) => r
                .range(..=start)
                .next_back()
                .is_some_and(|(_, (e, _, _, _))| end <= *e),
        }
    }

    /// Removes `[start, end)` from the regions, splitting the ones that straddle it.
    fn cut(&mut self, start: u64, end: u64) {
        let Some(r) = &mut self.regions else {
            return;
        };
        let hit: Vec<(u64, Region)> = r
            .range(..end)
            .filter(|(_, (e, _, _, _))| *e > start)
            .map(|(s, r)| (*s, *r))
            .collect();
        for (s, (e, p, f, h)) in hit {
            r.remove(&s);
            if s < start {
                r.insert(s, (start, p, f, h));
            }
            if e > end {
                r.insert(end, (e, p, f, h));
            }
        }
    }
}

/// The OS model: address spaces with their pages and regions, the frames and their sharers,
/// replacement, swap, copy-on-write and watched pages.
#[derive(Clone, Debug)]
pub struct OsModel {
    base: PageSize,
    huge: HugePolicy,
    range: Option<(u64, u64)>,
    cfg: OsConfig,
    /// Data frames the OS may hand out (the memory limit, or the machine's).
    frames: u64,
    limited: bool,
    next_frame: u64,
    free: BTreeSet<u64>,
    spaces: HashMap<u16, Space>,
    /// First frame of a resident page -> the (asid, first vpn) pairs that map it.
    owners: HashMap<u64, Vec<(u16, u64)>>,
    /// Swap slot -> pages referring to it.
    slots: HashMap<u64, u32>,
    next_slot: u64,
    free_slots: Vec<u64>,
    frames_in_use: u64,
    repl: Option<Repl>,
    /// Physical memory as a buddy allocator (see `phys.rs`), when a setting asks for it.
    phys: Option<Phys>,
    /// Frames the design can map (a buddy allocator's frame at or above is out of memory).
    design_frames: u64,
    /// Frees done when compaction last found nothing to move (it cannot succeed again before
    /// another free).
    compaction_failed_at: Option<u64>,
    frees: u64,
    c: OsCounters,
}

/// The machine's memory in bytes when a setting needs a buddy allocator: `--ram`, or with a
/// memory limit twice the data budget rounded up to a power of two (replacement state is kept
/// per frame of the machine), or [`DEFAULT_RAM`].
fn default_ram(cfg: &OsConfig, base: PageSize) -> u64 {
    match (cfg.ram, cfg.frames) {
        (Some(r), _) => r,
        (None, Some(f)) => f
            .saturating_mul(2)
            .saturating_mul(1 << base.shift())
            .checked_next_power_of_two()
            .unwrap_or(DEFAULT_RAM)
            .clamp(2 << 20, DEFAULT_RAM),
        (None, None) => DEFAULT_RAM,
    }
}

impl OsModel {
    /// An OS over `machine_frames` data frames (those the machine and the design can map) with
    /// base pages of `base`, under `cfg` and the page-size policy `huge`.
    pub fn new(
        base: PageSize,
        machine_frames: u64,
        cfg: &OsConfig,
        huge: HugePolicy,
    ) -> Result<OsModel, ModelError> {
        let limited = cfg.frames.is_some();
        if limited && huge != HugePolicy::Off {
            return Err(ModelError::HugeUnderLimit);
        }
        // Physical memory as a buddy allocator: its frames are the machine's (`--ram`), and
        // `--frames` is the data pages' budget within it. Its layout never depends on the
        // design (every design must get the same frames); a frame the design cannot map is
        // out of memory for it.
        let phys = (cfg.wants_buddy() || huge.is_linux())
            .then(|| Phys::new(default_ram(cfg, base) >> base.shift(), base.shift(), cfg));
        let design_frames = machine_frames;
        let machine_frames = phys.as_ref().map_or(machine_frames, |p| p.buddy.frames());
        let frames = cfg.frames.unwrap_or(u64::MAX).min(machine_frames);
        // Replacement state is indexed by frame number: with a buddy, any frame of memory.
        let indexed = if phys.is_some() {
            machine_frames
        } else {
            frames
        };
        let repl = limited.then(|| Repl::new(cfg.policy, indexed as usize, cfg.seed, cfg.period));
        let mut c = OsCounters::default();
        if let Some(p) = &phys {
            c.free_huge_blocks_min = p.free_huge_min;
        }
        Ok(OsModel {
            base,
            huge,
            range: None,
            cfg: cfg.clone(),
            frames,
            limited,
            next_frame: 0,
            free: BTreeSet::new(),
            spaces: HashMap::default(),
            owners: HashMap::default(),
            slots: HashMap::default(),
            next_slot: 0,
            free_slots: Vec::new(),
            frames_in_use: 0,
            repl,
            phys,
            design_frames,
            compaction_failed_at: None,
            frees: 0,
            c,
        })
    }

    /// The settings.
    pub fn config(&self) -> &OsConfig {
        &self.cfg
    }

    /// The counters so far.
    pub fn counters(&self) -> &OsCounters {
        &self.c
    }

    /// Counts the buddy allocator's state into the counters (after each change).
    fn note_phys(&mut self) {
        if let Some(p) = &mut self.phys {
            p.note();
            self.c.free_huge_blocks_min = p.free_huge_min;
            self.c.free_frames = p.buddy.free_frames();
            self.c.free_huge_blocks = p.free_huge();
        }
    }

    /// log2 of a 2 MiB region's base pages.
    fn rs(&self) -> u32 {
        u32::from(21u8.saturating_sub(self.base.shift()))
    }

    /// Tells THP the trace's address range (first and last byte).
    pub fn set_address_range(&mut self, lo: u64, hi: u64) {
        let s = self.base.shift();
        self.range = Some((lo >> s, hi >> s));
    }

    /// Gives OPT each translation's next use: entry `i` is the index of the next translation of
    /// the same (asid, page) as translation `i`, or `u64::MAX` if there is none.
    pub fn set_next_uses(&mut self, next: Arc<[u64]>) {
        if let Some(r) = &mut self.repl {
            r.set_next_uses(next);
        }
    }

    /// Whether translations must be reported with [`OsModel::touch`] (a memory limit is set).
    #[inline(always)]
    pub fn tracks_use(&self) -> bool {
        self.repl.is_some()
    }

    /// One translation used base frame `frame` (a write if `write`): the replacement state's
    /// one update per translation. Does nothing without a memory limit.
    #[inline(always)]
    pub fn touch(&mut self, frame: u64, write: bool) {
        if let Some(r) = &mut self.repl {
            r.touch(frame as usize, write);
        }
    }

    /// One translation that used no frame (a skipped access): keeps OPT's clock in step.
    pub fn skip(&mut self) {
        if let Some(r) = &mut self.repl {
            r.skip();
        }
    }

    fn span(&self, size: PageSize) -> u64 {
        1u64 << (size.shift() - self.base.shift())
    }

    /// The page that covers `vpn` in `asid`: its first vpn.
    fn find(&self, asid: u16, vpn: u64) -> Option<u64> {
        let space = self.spaces.get(&asid)?;
        for size in [self.base, PageSize::M2, PageSize::G1] {
            if size < self.base {
                continue;
            }
            let key = vpn & !(self.span(size) - 1);
            if space.pages.get(&key).is_some_and(|p| p.size == size) {
                return Some(key);
            }
        }
        None
    }

    fn watched(&self, key: u64, size: PageSize) -> bool {
        let s = self.base.shift();
        let lo = key << s;
        let hi = lo.saturating_add((self.span(size) << s) - 1);
        self.cfg
            .watch
            .iter()
            .any(|w| w.addr <= hi && w.addr + (w.len - 1) >= lo)
    }

    fn perms_of(&self, asid: u16, key: u64, page: &Page) -> Perms {
        let region = self
            .spaces
            .get(&asid)
            .and_then(|s| s.region(key))
            .unwrap_or(Perms::RWX);
        // Every page a trace uses is a user page.
        let perms = region.union(Perms::U);
        if page.cow || self.watched(key, page.size) {
            perms.without(Perms::W)
        } else {
            perms
        }
    }

    fn pte(&self, asid: u16, key: u64) -> Option<Pte> {
        let page = self.spaces.get(&asid)?.pages.get(&key)?;
        Some(Pte {
            pfn: Pfn(page.pfn?),
            perms: self.perms_of(asid, key, page),
            size: page.size,
        })
    }

    /// Resolves a fault of access `a` on base page `vpn` of its address space: the design had no
    /// mapping for it, or one whose permissions forbid the access. `table_pages` is the design's
    /// table pages now (used with `count_tables`). Pushes the changes to make on `out`.
    pub fn fault(
        &mut self,
        vpn: Vpn,
        a: &Access,
        table_pages: u64,
        out: &mut Vec<Action>,
    ) -> Result<Outcome, ModelError> {
        let asid = a.asid;
        if let Some(p) = &mut self.phys {
            p.churn();
        }
        let space = self.spaces.entry(asid).or_default();
        let region = space.region(vpn.0);
        let need = match a.kind {
            AccessKind::Write => Perms::W,
            AccessKind::Fetch => Perms::X,
            _ => Perms::R,
        };
        if let Some(mut key) = self.find(asid, vpn.0) {
            let page = &self.spaces[&asid].pages[&key];
            if let Some(pfn) = page.pfn {
                // A write to a shared huge page under a Linux policy splits it and copies one
                // base page (as Linux splits the PMD on a copy-on-write fault).
                if self.huge.is_linux()
                    && a.kind == AccessKind::Write
                    && page.cow
                    && page.size > self.base
                    && self.owners.get(&pfn).map_or(0, Vec::len) > 1
                {
                    self.split(asid, key, out);
                    key = vpn.0;
                }
                return self.resident_fault(asid, key, a, (need, region), table_pages, out);
            }
        }
        let Some(perms) = region else {
            self.c.segv += 1;
            if self.cfg.on_violation == OnViolation::Stop {
                return Err(ModelError::Segv { asid });
            }
            return Ok(Outcome::Skip);
        };
        if !perms.contains(need) {
            self.violation(a.kind, perms, asid)?;
        }
        let mut key = self.page_in(asid, vpn.0, table_pages, out)?;
        if self.huge == HugePolicy::Defer {
            key = self.promote(asid, vpn.0, out).unwrap_or(key);
        }
        if a.kind == AccessKind::Write {
            self.count_watch(asid, key, a);
        }
        self.note_phys();
        Ok(Outcome::Mapped)
    }

    fn violation(&mut self, kind: AccessKind, perms: Perms, asid: u16) -> Result<(), ModelError> {
        self.c.protection_faults += 1;
        if self.cfg.on_violation == OnViolation::Stop {
            return Err(ModelError::Protection {
                kind: kind.name(),
                perms,
                asid,
            });
        }
        Ok(())
    }

    fn count_watch(&mut self, asid: u16, key: u64, a: &Access) {
        let Some(page) = self.spaces.get(&asid).and_then(|s| s.pages.get(&key)) else {
            return;
        };
        if !self.watched(key, page.size) {
            return;
        }
        let last = a.last_byte().unwrap_or(u64::MAX);
        if self
            .cfg
            .watch
            .iter()
            .any(|w| w.addr <= last && w.addr + (w.len - 1) >= a.addr)
        {
            self.c.watch_hits += 1;
        } else {
            self.c.watch_false_faults += 1;
        }
    }

    /// A fault on a resident page: copy-on-write, a watched page, or a protection fault.
    fn resident_fault(
        &mut self,
        asid: u16,
        key: u64,
        a: &Access,
        (need, region): (Perms, Option<Perms>),
        table_pages: u64,
        out: &mut Vec<Action>,
    ) -> Result<Outcome, ModelError> {
        let region = region.unwrap_or(Perms::RWX);
        // Reads are checked against the region when a page is mapped (entries have no read
        // bit): a read of a resident page reaches here only when the design lost its entry (an
        // inverted table's alias), which every other design still holds.
        if need != Perms::R && !region.contains(need) {
            self.violation(a.kind, region, asid)?;
            self.restore(asid, key, out);
            return Ok(Outcome::Continue);
        }
        let page = self.spaces[&asid].pages[&key].clone();
        let Some(old) = page.pfn else {
            return Ok(Outcome::Continue);
        };
        if a.kind == AccessKind::Write && page.cow {
            self.c.cow_faults += 1;
            let sharers = self.owners.get(&old).map_or(0, Vec::len);
            if sharers > 1 {
                // Copy into new frames as many as the page spans (a huge page's copy is an
                // aligned huge page); the old ones keep their other sharers.
                let new = self.alloc(self.span(page.size), Some(old), table_pages, out)?;
                self.c.cow_copies += 1;
                if let Some(o) = self.owners.get_mut(&old) {
                    o.retain(|&x| x != (asid, key));
                }
                self.owners.insert(new, vec![(asid, key)]);
                if let Some(r) = &mut self.repl {
                    r.mark_dirty(new as usize);
                }
                let slot = {
                    let p = self.page_mut(asid, key);
                    p.pfn = Some(new);
                    p.cow = false;
                    // A private copy: anonymous memory from now on.
                    p.file = false;
                    p.slot.take()
                };
                self.release_slot(slot);
            } else {
                self.page_mut(asid, key).cow = false;
            }
            self.remap(asid, key, out);
            self.count_watch(asid, key, a);
            return Ok(Outcome::Mapped);
        }
        if a.kind == AccessKind::Write && self.watched(key, page.size) {
            self.count_watch(asid, key, a);
            self.restore(asid, key, out);
            return Ok(Outcome::Continue);
        }
        // The design lost the entry of a resident page whose access is allowed: an inverted
        // table gave the frame's one entry to another sharer. Store it again (no shootdown:
        // the translation did not change).
        self.c.alias_faults += 1;
        self.restore(asid, key, out);
        Ok(Outcome::Alias)
    }

    /// Pushes the mapping of page `key` of `asid` as it stands (if resident), the old one shot
    /// down first with `shoot`.
    fn push_map(&self, asid: u16, key: u64, shoot: bool, out: &mut Vec<Action>) {
        if let Some(pte) = self.pte(asid, key) {
            out.push(Action::Map {
                asid,
                vpn: Vpn(key),
                pte,
                shoot,
            });
        }
    }

    /// Stores the mapping of resident page `key` of `asid` again, unchanged (no shootdown): a
    /// design that lost it (an inverted table's alias) finds it again; the others rewrite the
    /// same entry.
    fn restore(&mut self, asid: u16, key: u64, out: &mut Vec<Action>) {
        self.push_map(asid, key, false, out);
    }

    fn page_mut(&mut self, asid: u16, key: u64) -> &mut Page {
        self.spaces
            .get_mut(&asid)
            .and_then(|s| s.pages.get_mut(&key))
            .expect("page checked by the caller")
    }

    fn remap(&mut self, asid: u16, key: u64, out: &mut Vec<Action>) {
        if let Some(pte) = self.pte(asid, key) {
            self.c.tlb_shootdowns += 1;
            out.push(Action::Map {
                asid,
                vpn: Vpn(key),
                pte,
                shoot: true,
            });
        }
    }

    /// The first page of the 2 MiB region around `vpn` when a THP policy may back it with one
    /// huge page: the region lies inside the trace's address range and inside one region of
    /// the space (and, for `madvise`, an advised one). Pages already in it are not looked at.
    fn thp_region(&self, asid: u16, vpn: u64) -> Option<u64> {
        let (lo, hi) = self.range?;
        let span = self.span(PageSize::M2.max(self.base));
        let start = vpn & !(span - 1);
        if start < lo || start + (span - 1) > hi {
            return None;
        }
        let space = self.spaces.get(&asid);
        if !space.is_none_or(|s| s.inside_one(start, start + span)) {
            return None;
        }
        if self.huge == HugePolicy::Madvise && !space.is_some_and(|s| s.advised(start)) {
            return None;
        }
        Some(start)
    }

    /// The page size a fault on `vpn` maps.
    fn size_for(&self, asid: u16, vpn: u64) -> PageSize {
        let size = match self.huge {
            HugePolicy::Off | HugePolicy::Defer => return self.base,
            HugePolicy::Fixed(size) => size,
            HugePolicy::Thp | HugePolicy::Always | HugePolicy::Madvise => {
                if self.thp_region(asid, vpn).is_none() {
                    return self.base;
                }
                PageSize::M2
            }
        };
        if size <= self.base {
            return self.base;
        }
        // A huge page only where no smaller page of this space is mapped in its region.
        let span = self.span(size);
        let start = vpn & !(span - 1);
        let clash = self.spaces.get(&asid).is_some_and(|s| {
            if size == PageSize::M2 {
                s.small_in(start, self.rs()) > 0
            } else {
                s.pages
                    .iter()
                    .any(|(k, p)| *k >= start && *k < start + span && p.size != size)
            }
        });
        if clash {
            self.base
        } else {
            size
        }
    }

    /// Whether an aligned free 2 MiB block is there for a huge page (after compaction, when it
    /// is on); always true without a buddy allocator.
    fn huge_block_ready(&mut self, out: &mut Vec<Action>) -> bool {
        match &self.phys {
            None => true,
            Some(p) if p.free_huge() > 0 => true,
            Some(_) => self.cfg.compaction && self.compact(out),
        }
    }

    /// Brings the page of `vpn` in (first touch or from swap) and maps it; returns its key.
    fn page_in(
        &mut self,
        asid: u16,
        vpn: u64,
        table_pages: u64,
        out: &mut Vec<Action>,
    ) -> Result<u64, ModelError> {
        let (key, size, slot, first, file) = match self.find(asid, vpn) {
            Some(key) => {
                let p = &self.spaces[&asid].pages[&key];
                (key, p.size, p.slot, false, p.file)
            }
            None => {
                let mut size = self.size_for(asid, vpn);
                // THP on a buddy allocator: a huge page only when a free block is there.
                if size == PageSize::M2
                    && size > self.base
                    && matches!(
                        self.huge,
                        HugePolicy::Thp | HugePolicy::Always | HugePolicy::Madvise
                    )
                    && !self.huge_block_ready(out)
                {
                    self.c.thp_fallbacks += 1;
                    size = self.base;
                }
                let file = self.spaces.get(&asid).is_some_and(|s| s.file_backed(vpn));
                (vpn & !(self.span(size) - 1), size, None, true, file)
            }
        };
        let span = self.span(size);
        let pfn = self.alloc(span, None, table_pages, out)?;
        if first && size > self.base {
            self.c.thp_faults += 1;
        }
        // A file-backed page is read from its file whenever it comes in (first touch, or after
        // an eviction dropped or wrote it back), whatever `first_touch` says.
        if slot.is_some() || file || self.cfg.first_touch == FirstTouch::Disk {
            self.c.major_faults += 1;
            self.c.disk_reads += 1;
        } else {
            self.c.minor_faults += 1;
        }
        if first {
            self.c.pages_mapped += 1;
        }
        let rs = self.rs();
        let space = self.spaces.entry(asid).or_default();
        if !space.pages.contains_key(&key) {
            space.add(
                key,
                Page {
                    size,
                    pfn: None,
                    slot: None,
                    cow: false,
                    file,
                },
                rs,
            );
        }
        let page = space.pages.get_mut(&key).expect("added above");
        page.pfn = Some(pfn);
        page.cow = false;
        self.owners.insert(pfn, vec![(asid, key)]);
        self.push_map(asid, key, false, out);
        Ok(key)
    }

    /// Takes `n` aligned frames (evicting a page when a memory limit is full; never `pinned`).
    fn alloc(
        &mut self,
        n: u64,
        pinned: Option<u64>,
        table_pages: u64,
        out: &mut Vec<Action>,
    ) -> Result<u64, ModelError> {
        if self.limited {
            let cap = if self.cfg.count_tables {
                let cap = self.frames.saturating_sub(table_pages);
                if cap == 0 {
                    return Err(ModelError::TablesDoNotFit {
                        tables: table_pages,
                        frames: self.frames,
                    });
                }
                cap
            } else {
                self.frames
            };
            while self.frames_in_use >= cap {
                self.evict(pinned, out)?;
            }
        }
        let f = if self.phys.is_some() {
            let order = n.trailing_zeros() as u8;
            loop {
                if let Some(f) = self.phys.as_mut().and_then(|p| p.alloc(order)) {
                    if f + n > self.design_frames {
                        return Err(ModelError::OutOfMemory {
                            frames: self.design_frames,
                        });
                    }
                    break f;
                }
                if !self.limited {
                    return Err(self.ram_full(n));
                }
                self.evict(pinned, out)?;
            }
        } else if n == 1 && !self.free.is_empty() {
            self.free.pop_first().unwrap_or_default()
        } else {
            let start = self.next_frame.next_multiple_of(n);
            match start.checked_add(n) {
                Some(end) if end <= self.frames => {
                    self.next_frame = end;
                    start
                }
                _ => {
                    return Err(ModelError::OutOfMemory {
                        frames: self.frames,
                    })
                }
            }
        };
        self.frames_in_use += n;
        self.c.resident_frames_peak = self.c.resident_frames_peak.max(self.frames_in_use);
        if let Some(r) = &mut self.repl {
            r.load(f as usize);
        }
        Ok(f)
    }

    fn ram_full(&self, n: u64) -> ModelError {
        let p = self.phys.as_ref();
        ModelError::RamFull {
            ram: p.map_or(0, |p| p.buddy.frames()) << self.base.shift(),
            bytes: u32::try_from(n << self.base.shift()).unwrap_or(u32::MAX),
            tenants: p.map_or(0, |p| u32::try_from(p.tenants.len()).unwrap_or(u32::MAX)),
        }
    }

    fn free_frames(&mut self, pfn: u64, size: PageSize) {
        let n = self.span(size);
        self.frames_in_use -= n;
        if let Some(p) = &mut self.phys {
            p.free(pfn);
            self.frees += 1;
        } else if n == 1 {
            self.free.insert(pfn);
        }
        if let Some(r) = &mut self.repl {
            r.free(pfn as usize);
        }
    }

    fn evict(&mut self, pinned: Option<u64>, out: &mut Vec<Action>) -> Result<(), ModelError> {
        let oom = ModelError::OutOfMemory {
            frames: self.frames,
        };
        let Some(r) = &mut self.repl else {
            return Err(oom);
        };
        if r.policy() == Policy::Opt && !r.has_next_uses() {
            return Err(ModelError::NoFuture);
        }
        let Some(f) = r.victim(pinned.map(|p| p as usize)) else {
            return Err(oom);
        };
        let dirty = r.is_dirty(f);
        let pfn = f as u64;
        let owners = self.owners.remove(&pfn).unwrap_or_default();
        self.c.evictions += 1;
        // A dirty page is written to a new slot (or its old one); a clean one keeps its slot,
        // or, never written, becomes a zero page again.
        let first = owners
            .first()
            .and_then(|&(a, k)| self.spaces.get(&a)?.pages.get(&k));
        let mut slot = first.and_then(|p| p.slot);
        // A file-backed page goes back to its file: written when dirty, simply dropped when
        // clean (it is read from the file again); it never takes a swap slot.
        let file = first.is_some_and(|p| p.file);
        if dirty {
            self.c.dirty_evictions += 1;
            self.c.disk_writes += 1;
            if slot.is_none() && !file {
                let s = self.free_slots.pop().unwrap_or_else(|| {
                    self.next_slot += 1;
                    self.next_slot - 1
                });
                self.slots.insert(s, 0);
                slot = Some(s);
            }
        }
        let mut size = self.base;
        for &(asid, key) in &owners {
            if let Some(p) = self
                .spaces
                .get_mut(&asid)
                .and_then(|s| s.pages.get_mut(&key))
            {
                size = p.size;
                p.pfn = None;
                if p.slot.is_none() {
                    if let Some(s) = slot {
                        *self.slots.entry(s).or_default() += 1;
                    }
                    p.slot = slot;
                }
            }
            self.c.tlb_shootdowns += 1;
            out.push(Action::Unmap {
                asid,
                vpn: Vpn(key),
            });
        }
        self.c.swap_peak = self.c.swap_peak.max(self.slots.len() as u64);
        self.free_frames(pfn, size);
        Ok(())
    }

    fn release_slot(&mut self, slot: Option<u64>) {
        let Some(s) = slot else { return };
        if let Some(n) = self.slots.get_mut(&s) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.slots.remove(&s);
                self.free_slots.push(s);
            }
        }
    }

    /// Removes page `key` of `asid`: unmaps it, frees its frame when no sharer is left and its
    /// swap slot.
    fn drop_page(&mut self, asid: u16, key: u64, out: &mut Vec<Action>) {
        let rs = self.rs();
        let Some(page) = self.spaces.get_mut(&asid).and_then(|s| s.remove(key, rs)) else {
            return;
        };
        self.release_slot(page.slot);
        if let Some(pfn) = page.pfn {
            self.c.tlb_shootdowns += 1;
            out.push(Action::Unmap {
                asid,
                vpn: Vpn(key),
            });
            let last = match self.owners.get_mut(&pfn) {
                Some(o) => {
                    o.retain(|&x| x != (asid, key));
                    o.is_empty()
                }
                None => true,
            };
            if last {
                self.owners.remove(&pfn);
                self.free_frames(pfn, page.size);
            }
        }
    }

    /// Base pages `[start, end)` of a range event (`pages` of 4 KiB from `addr`).
    fn range_of(&self, a: &Access) -> (u64, u64) {
        let s = self.base.shift();
        let bytes = u128::from(a.size) << 12;
        let end = (u128::from(a.addr) + bytes).div_ceil(1u128 << s);
        (a.addr >> s, u64::try_from(end).unwrap_or(u64::MAX))
    }

    /// An OS event: fork, exit, mmap, munmap, mprotect (a context switch changes nothing here).
    /// Pushes the changes to make on `out`.
    pub fn event(&mut self, a: &Access, out: &mut Vec<Action>) {
        self.event_inner(a, out);
        self.note_phys();
    }

    fn event_inner(&mut self, a: &Access, out: &mut Vec<Action>) {
        let asid = a.asid;
        match a.kind {
            AccessKind::Fork => self.fork(asid, a.addr as u16, out),
            AccessKind::Exit => {
                self.clear(a.asid, None, out);
                self.spaces.remove(&asid);
                out.push(Action::Drop { asid });
            }
            AccessKind::Mmap => {
                let (start, end) = self.range_of(a);
                self.clear(asid, Some((start, end)), out);
                let space = self.spaces.entry(asid).or_default();
                space.cut(start, end);
                space.regions.get_or_insert_with(BTreeMap::new).insert(
                    start,
                    (
                        end,
                        Perms::from_bits(a.flags).rwx(),
                        a.flags & FILE_BACKED != 0,
                        a.flags & HUGE_ADVISED != 0,
                    ),
                );
            }
            AccessKind::Munmap => {
                let (start, end) = self.range_of(a);
                self.clear(asid, Some((start, end)), out);
                let space = self.spaces.entry(asid).or_default();
                space.regions.get_or_insert_with(BTreeMap::new);
                space.cut(start, end);
            }
            AccessKind::Mprotect => {
                let (start, end) = self.range_of(a);
                self.split_partial(asid, start, end, out);
                let base = self.base.shift();
                let span = |size: PageSize| 1u64 << (size.shift() - base);
                let space = self.spaces.entry(asid).or_default();
                let Some(r) = &mut space.regions else {
                    // No regions yet: the whole space is one; protecting part of it splits it.
                    let mut r = BTreeMap::new();
                    r.insert(0, (u64::MAX, Perms::RWX, false, false));
                    space.regions = Some(r);
                    return self.event_inner(a, out);
                };
                let hit: Vec<(u64, u64, bool, bool)> = r
                    .range(..end)
                    .filter(|(_, (e, _, _, _))| *e > start)
                    .map(|(s, (e, _, f, h))| (*s.max(&start), (*e).min(end), *f, *h))
                    .collect();
                space.cut(start, end);
                if let Some(r) = &mut space.regions {
                    for (s, e, f, h) in hit {
                        r.insert(s, (e, Perms::from_bits(a.flags).rwx(), f, h));
                    }
                }
                let keys: Vec<u64> = space
                    .pages
                    .iter()
                    .filter(|(k, p)| **k < end && **k + span(p.size) > start && p.pfn.is_some())
                    .map(|(k, _)| *k)
                    .collect();
                for k in keys {
                    self.remap(asid, k, out);
                }
            }
            _ => {}
        }
    }

    /// Drops the pages of `asid` in `range` (all of them with `None`).
    fn clear(&mut self, asid: u16, range: Option<(u64, u64)>, out: &mut Vec<Action>) {
        if let Some((s, e)) = range {
            self.split_partial(asid, s, e, out);
        }
        let Some(space) = self.spaces.get(&asid) else {
            return;
        };
        let mut keys: Vec<u64> = space
            .pages
            .iter()
            .filter(|(k, p)| range.is_none_or(|(s, e)| **k < e && **k + self.span(p.size) > s))
            .map(|(k, _)| *k)
            .collect();
        keys.sort_unstable();
        for k in keys {
            self.drop_page(asid, k, out);
        }
    }

    /// Under a Linux THP policy, splits the huge pages of `asid` that `[start, end)` covers only
    /// in part (a partial munmap, mmap over them, or mprotect).
    fn split_partial(&mut self, asid: u16, start: u64, end: u64, out: &mut Vec<Action>) {
        if !self.huge.is_linux() {
            return;
        }
        let Some(space) = self.spaces.get(&asid) else {
            return;
        };
        let mut keys: Vec<u64> = space
            .pages
            .iter()
            .filter(|(k, p)| {
                let e = **k + self.span(p.size);
                p.size > self.base && **k < end && e > start && (**k < start || e > end)
            })
            .map(|(k, _)| *k)
            .collect();
        keys.sort_unstable();
        for k in keys {
            self.split(asid, k, out);
        }
    }

    /// Splits huge page `key` of `asid` into base pages on the same frames, in every address
    /// space that shares it: each sharer's huge translation is shot down and its base pages
    /// mapped. Counted in `thp_splits`.
    fn split(&mut self, asid: u16, key: u64, out: &mut Vec<Action>) {
        let Some(page) = self
            .spaces
            .get(&asid)
            .and_then(|s| s.pages.get(&key))
            .cloned()
        else {
            return;
        };
        if page.size <= self.base {
            return;
        }
        let span = self.span(page.size);
        let rs = self.rs();
        let sharers = match page.pfn {
            Some(pfn) => self
                .owners
                .remove(&pfn)
                .unwrap_or_else(|| vec![(asid, key)]),
            None => vec![(asid, key)],
        };
        if let (Some(pfn), Some(p)) = (page.pfn, &mut self.phys) {
            let _ = p.buddy.split(pfn);
        }
        for &(a, k) in &sharers {
            let Some(space) = self.spaces.get_mut(&a) else {
                continue;
            };
            let Some(old) = space.remove(k, rs) else {
                continue;
            };
            for i in 0..span {
                space.add(
                    k + i,
                    Page {
                        size: self.base,
                        pfn: old.pfn.map(|f| f + i),
                        ..old.clone()
                    },
                    rs,
                );
            }
            self.c.tlb_shootdowns += 1;
            out.push(Action::Unmap {
                asid: a,
                vpn: Vpn(k),
            });
        }
        // Every sharer's huge mapping leaves before any base page is mapped (an inverted table
        // has one entry per frame).
        for &(a, k) in &sharers {
            for i in 0..span {
                self.push_map(a, k + i, false, out);
            }
        }
        if let Some(pfn) = page.pfn {
            for i in 0..span {
                self.owners
                    .insert(pfn + i, sharers.iter().map(|&(a, k)| (a, k + i)).collect());
            }
        }
        self.c.thp_splits += 1;
    }

    /// khugepaged (`defer`): once `thp_min` base pages of the eligible 2 MiB region around `vpn`
    /// are present, all private, resident and anonymous, copies them into a free 2 MiB block
    /// and maps it in their place (each base translation shot down). Returns the huge page's
    /// key when it promoted.
    fn promote(&mut self, asid: u16, vpn: u64, out: &mut Vec<Action>) -> Option<u64> {
        let start = self.thp_region(asid, vpn)?;
        let rs = self.rs();
        let span = self.span(PageSize::M2);
        let space = self.spaces.get(&asid)?;
        if space.small_in(start, rs) < self.cfg.thp_min {
            return None;
        }
        let keys: Vec<u64> = (start..start + span)
            .filter(|k| space.pages.contains_key(k))
            .collect();
        let movable = keys.iter().all(|k| {
            let p = &space.pages[k];
            p.size == self.base
                && !p.cow
                && !p.file
                && p.slot.is_none()
                && p.pfn
                    .is_some_and(|f| self.owners.get(&f).is_some_and(|o| o.len() == 1))
        });
        if !movable || !self.huge_block_ready(out) {
            return None;
        }
        let huge = self.alloc(span, None, 0, out).ok()?;
        for k in keys {
            let Some(p) = self.spaces.get_mut(&asid).and_then(|s| s.remove(k, rs)) else {
                continue;
            };
            if let Some(f) = p.pfn {
                self.owners.remove(&f);
                self.free_frames(f, self.base);
            }
            self.c.tlb_shootdowns += 1;
            out.push(Action::Unmap { asid, vpn: Vpn(k) });
        }
        if let Some(space) = self.spaces.get_mut(&asid) {
            space.add(
                start,
                Page {
                    size: PageSize::M2,
                    pfn: Some(huge),
                    slot: None,
                    cow: false,
                    file: false,
                },
                rs,
            );
        }
        self.owners.insert(huge, vec![(asid, start)]);
        self.push_map(asid, start, false, out);
        self.c.thp_promotions += 1;
        Some(start)
    }

    /// Compaction: makes one free 2 MiB block by moving the pages out of the block that holds
    /// the fewest, among blocks of movable pages only (no other tenant's frame, no huge page);
    /// each move is a copy and a shootdown of every mapping of the page. Whether a block was
    /// made.
    fn compact(&mut self, out: &mut Vec<Action>) -> bool {
        if self.compaction_failed_at == Some(self.frees) {
            return false;
        }
        let Some(p) = &self.phys else {
            return false;
        };
        let order = p.huge_order;
        let size = 1u64 << order;
        let mut best: Option<(u64, u64)> = None;
        for b in 0..p.buddy.frames() >> order {
            let start = b << order;
            if p.tenants.range(start..start + size).next().is_some() {
                continue;
            }
            let mut n = 0;
            let movable = p.buddy.allocated_in(start, size).all(|(f, o)| {
                n += 1;
                o == 0 && self.owners.contains_key(&f)
            });
            if movable && best.is_none_or(|(bn, _)| n < bn) {
                best = Some((n, start));
            }
        }
        let Some((_, start)) = best else {
            self.compaction_failed_at = Some(self.frees);
            return false;
        };
        let Some(p) = &mut self.phys else {
            return false;
        };
        let reserved = p.buddy.reserve(start, order);
        let used: Vec<u64> = p
            .buddy
            .allocated_in(start, size)
            .map(|(f, _)| f)
            .filter(|f| reserved.binary_search(f).is_err())
            .collect();
        if p.buddy.free_frames() < used.len() as u64 {
            for r in reserved {
                p.free(r);
            }
            self.compaction_failed_at = Some(self.frees);
            return false;
        }
        let mut old = Vec::with_capacity(used.len());
        for f in used {
            let Some(new) = self.phys.as_mut().and_then(|p| p.alloc(0)) else {
                break;
            };
            let owners = self.owners.remove(&f).unwrap_or_default();
            for &(a, k) in &owners {
                if let Some(pg) = self.spaces.get_mut(&a).and_then(|s| s.pages.get_mut(&k)) {
                    pg.pfn = Some(new);
                }
            }
            if let Some(r) = &mut self.repl {
                r.free(f as usize);
                r.load(new as usize);
            }
            self.owners.insert(new, owners.clone());
            for (a, k) in owners {
                self.remap(a, k, out);
            }
            self.c.compaction_migrations += 1;
            old.push(f);
        }
        // The old frames go back only now: freed earlier, they could be handed out again.
        if let Some(p) = &mut self.phys {
            for f in old.into_iter().chain(reserved) {
                p.free(f);
            }
        }
        self.frees += 1;
        self.phys.as_ref().is_some_and(|p| p.free_huge() > 0)
    }

    /// `parent` forks `child`: the child gets the parent's regions and shares every page;
    /// writable pages of both become copy-on-write (read-only until written).
    fn fork(&mut self, parent: u16, child: u16, out: &mut Vec<Action>) {
        if parent == child {
            return;
        }
        self.clear(child, None, out);
        let Some(p) = self.spaces.get(&parent).cloned() else {
            self.spaces.insert(child, Space::default());
            return;
        };
        let mut keys: Vec<u64> = p.pages.keys().copied().collect();
        keys.sort_unstable();
        let mut c = Space {
            regions: p.regions.clone(),
            ..Space::default()
        };
        let rs = self.rs();
        for &k in &keys {
            let page = &p.pages[&k];
            if let Some(s) = page.slot {
                *self.slots.entry(s).or_default() += 1;
            }
            c.add(
                k,
                Page {
                    cow: true,
                    ..page.clone()
                },
                rs,
            );
        }
        self.spaces.insert(child, c);
        for &k in &keys {
            let page = &p.pages[&k];
            let writable = p.region(k).unwrap_or(Perms::RWX).contains(Perms::W);
            if let Some(pfn) = page.pfn {
                self.owners.entry(pfn).or_default().push((child, k));
                let was_cow = page.cow;
                self.page_mut(parent, k).cow = true;
                if writable && !was_cow {
                    self.remap(parent, k, out);
                }
                self.push_map(child, k, false, out);
            } else {
                self.page_mut(parent, k).cow = true;
            }
        }
    }
}
