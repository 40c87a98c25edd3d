//! The OS model: it decides which physical frame backs each virtual page and tells the replay
//! loop what to change in the page-table design and the TLBs. Designs never choose frames and
//! never see the OS; the OS never sees a design or a TLB. So every design sees the same frames,
//! faults and evictions for the same trace, and only costs differ.
//!
//! [`OsModel`] (the replay loop's model) holds, per address space (asid), its pages (resident in
//! a frame, in a swap slot, or copy-on-write) and its regions; per frame, the (asid, page) pairs
//! that map it (the reverse map used for copy-on-write and eviction); and the replacement state.
//! A fault or an event is answered with [`Action`]s: map (optionally shooting the old
//! translation down), unmap (always shot down in every TLB and page-walk cache), drop a table.
//!
//! - **Demand paging**: a first touch maps a frame (the lowest free one), a minor fault (or a
//!   major one that reads the disk with [`FirstTouch::Disk`], the course simulators' model).
//! - **Memory pressure** ([`OsConfig::frames`]): when no data frame is free, [`Policy`] picks a
//!   victim among the frames; its page is unmapped in every address space that shares it; a
//!   dirty victim is written to a swap slot (a disk write); a later fault reads it back (a major
//!   fault, a disk read); a clean page with no swap copy becomes a zero page again. Recency is
//!   one update per translation ([`OsModel::touch`]): the reference bit is set on every access
//!   (the course model). OPT reads each translation's next use from a pre-pass. The victim is
//!   found without a scan of every frame (a lazy heap or a tournament tree, see `repl.rs`). Page-table pages
//!   come from kernel memory outside the limit and are never evicted; with
//!   [`OsConfig::count_tables`] they shrink the frames left for data, and a run whose tables
//!   alone fill the limit stops. A memory limit works on base pages (no huge pages).
//! - **Permissions**: a page is mapped with its region's permissions (read, write, execute);
//!   a write to a non-writable page or a fetch from a non-executable one is a protection fault,
//!   counted, then continued as if allowed or stopped ([`OnViolation`]). Without regions an
//!   address space is one read-write-execute demand-zero region, as before.
//! - **Copy-on-write**: a fork gives the child the parent's regions and shares every page, both
//!   sides read-only; the first write to a shared page copies it (a COW fault and a copy); a page
//!   whose other sharers are gone is made writable without a copy (a COW fault, no copy).
//! - **Regions**: `mmap` adds one (replacing what it overlaps), `munmap` removes pages and frees
//!   their frames and swap slots, `mprotect` changes permissions (resident pages are remapped and
//!   shot down); an access outside every region of an address space that has regions is a
//!   segmentation fault, counted and skipped (or stopped). THP maps a 2 MiB page only inside one
//!   region. `exit` drops an address space.
//! - **Watched variables** ([`Watch`]): pages holding them are mapped without write permission;
//!   a write fault there is a watch hit (the watched bytes written) or a false one.
//!
//! What is counted is [`OsCounters`]; every fault of every kind adds up to `page_faults`.
//!
//! [`Os`] is the plain demand pager the scenario corpus drives directly. Page size of a fault
//! ([`HugePolicy`]): `Off` maps base pages; `Fixed(size)` maps the `size`-aligned region around
//! the fault with one page of that size; `Thp` maps the 2 MiB-aligned region with one 2 MiB page
//! when the whole region lies inside the trace's address range (its lowest to highest byte, given
//! by [`Os::set_address_range`]), and a base page otherwise. In every mode a huge page is used
//! only if no smaller page is already mapped in its region; otherwise the fault maps a base page.

pub mod buddy;
mod config;
mod model;
mod phys;
mod repl;

pub use buddy::{Buddy, BuddyError};
pub use config::{
    format_size, parse_size, ConfigError, FirstTouch, OnViolation, OsConfig, Policy, Shootdown,
    Watch, DEFAULT_INVLPG_CYCLES, DEFAULT_IPI_CYCLES, DEFAULT_RAM, MAX_CORES,
};
pub use model::{Action, ModelError, OsCounters, OsModel, Outcome};

use ptbench_core::{MapError, PageSize, PageTable, Perms, Pfn, PhysMem, Pte, Vpn};
use thiserror::Error;

/// Why the OS model could not resolve a fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OsError {
    /// Every data frame is in use.
    #[error("out of physical memory: all {frames} data frames are in use")]
    OutOfMemory {
        /// Data frames in the machine.
        frames: u64,
    },
    /// The design refused the mapping.
    #[error(transparent)]
    Map(#[from] MapError),
    /// The OS model stopped the replay (a violation under `stop`, memory that cannot hold the
    /// tables, ...).
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Which page size a fault maps.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum HugePolicy {
    /// Base pages only.
    #[default]
    Off,
    /// Every fault maps a page of this size.
    Fixed(PageSize),
    /// Transparent huge pages: 2 MiB where the region lies inside the trace's address range.
    Thp,
    /// Linux's THP `always`: a 2 MiB page at a fault in an eligible region (as `Thp`) when an
    /// aligned free 2 MiB block exists, else a base page and a counted fallback.
    Always,
    /// Linux's THP `madvise`: `Always`, only in regions an mmap advised for huge pages.
    Madvise,
    /// Linux's THP `defer`: base pages at faults; khugepaged promotes an eligible 2 MiB region
    /// (a copy and a TLB shootdown) once `thp_min` of its base pages are present.
    Defer,
}

impl std::str::FromStr for HugePolicy {
    type Err = String;
    /// `off` (or Linux's `never`), `2m`, `1g`, `thp`, `always`, `madvise`, `defer`.
    fn from_str(h: &str) -> Result<HugePolicy, String> {
        Ok(match h {
            "off" | "never" => HugePolicy::Off,
            "2m" => HugePolicy::Fixed(PageSize::M2),
            "1g" => HugePolicy::Fixed(PageSize::G1),
            "thp" => HugePolicy::Thp,
            "always" => HugePolicy::Always,
            "madvise" => HugePolicy::Madvise,
            "defer" => HugePolicy::Defer,
            _ => {
                return Err(format!(
                    "unknown huge-page policy `{h}`; known: off (never), 2m, 1g, thp, always, \
                     madvise, defer"
                ))
            }
        })
    }
}

impl HugePolicy {
    /// The policy's name on the command line and in results: `off`, `2m`, `1g` or `thp`.
    pub fn name(self) -> &'static str {
        match self {
            HugePolicy::Off => "off",
            HugePolicy::Fixed(s) if s == PageSize::G1 => "1g",
            HugePolicy::Fixed(s) if s == PageSize::M2 => "2m",
            HugePolicy::Fixed(_) => "fixed",
            HugePolicy::Thp => "thp",
            HugePolicy::Always => "always",
            HugePolicy::Madvise => "madvise",
            HugePolicy::Defer => "defer",
        }
    }

    /// Whether the policy reads the trace's address range (a first pass) to find the 2 MiB
    /// regions it may back: `thp`, `always`, `madvise`, `defer`.
    pub fn needs_range(self) -> bool {
        matches!(
            self,
            HugePolicy::Thp | HugePolicy::Always | HugePolicy::Madvise | HugePolicy::Defer
        )
    }

    /// Whether the policy is one of Linux's (`always`, `madvise`, `defer`): it takes frames from
    /// the buddy allocator, falls back, promotes and splits.
    pub fn is_linux(self) -> bool {
        matches!(
            self,
            HugePolicy::Always | HugePolicy::Madvise | HugePolicy::Defer
        )
    }

    /// The huge page size the policy may map, if any.
    pub fn huge_size(self) -> Option<PageSize> {
        match self {
            HugePolicy::Off => None,
            HugePolicy::Fixed(s) => Some(s),
            HugePolicy::Thp | HugePolicy::Always | HugePolicy::Madvise | HugePolicy::Defer => {
                Some(PageSize::M2)
            }
        }
    }
}

/// Demand paging over a fixed pool of data frames.
#[derive(Clone, Debug)]
pub struct Os {
    base: PageSize,
    policy: HugePolicy,
    /// Lowest and highest base page of the trace's address range (THP).
    range: Option<(u64, u64)>,
    next_frame: u64,
    frames: u64,
    faults: u64,
    pages_mapped: u64,
}

impl Os {
    /// An OS managing the data frames of `mem`, mapping base pages.
    pub fn new(mem: &PhysMem) -> Os {
        Os::with_frames(mem, mem.data_frames())
    }

    /// An OS that may use only the first `frames` data frames of `mem`.
    pub fn with_frames(mem: &PhysMem, frames: u64) -> Os {
        Os {
            base: PageSize::from_shift(mem.frame_shift()).unwrap_or(PageSize::K4),
            policy: HugePolicy::Off,
            range: None,
            next_frame: 0,
            frames: frames.min(mem.data_frames()),
            faults: 0,
            pages_mapped: 0,
        }
    }

    /// Sets the page-size policy of later faults.
    pub fn set_policy(&mut self, policy: HugePolicy) {
        self.policy = policy;
    }

    /// Tells THP the trace's address range (first and last byte).
    pub fn set_address_range(&mut self, lo: u64, hi: u64) {
        let s = self.base.shift();
        self.range = Some((lo >> s, hi >> s));
    }

    /// Takes `n` free data frames aligned to `n` (a power of two); returns the first.
    pub fn alloc_frames(&mut self, n: u64) -> Result<Pfn, OsError> {
        let start = self.next_frame.next_multiple_of(n);
        match start.checked_add(n) {
            Some(end) if end <= self.frames => {
                self.next_frame = end;
                Ok(Pfn(start))
            }
            _ => Err(OsError::OutOfMemory {
                frames: self.frames,
            }),
        }
    }

    /// Takes one free data frame.
    pub fn alloc_frame(&mut self) -> Result<Pfn, OsError> {
        self.alloc_frames(1)
    }

    /// The page size the policy picks for a fault on `vpn`.
    fn size_for(&self, vpn: Vpn) -> PageSize {
        let size = match self.policy {
            HugePolicy::Off => return self.base,
            HugePolicy::Fixed(size) => size,
            HugePolicy::Thp | HugePolicy::Always | HugePolicy::Madvise | HugePolicy::Defer => {
                let Some((lo, hi)) = self.range else {
                    return self.base;
                };
                let span = 1u64 << (PageSize::M2.shift().saturating_sub(self.base.shift()));
                let start = vpn.0 & !(span - 1);
                if start < lo || start + (span - 1) > hi {
                    return self.base;
                }
                PageSize::M2
            }
        };
        if size > self.base {
            size
        } else {
            self.base
        }
    }

    /// Resolves a fault on `vpn`: picks the page size, takes frames and maps the page in `pt`.
    /// Returns the new mapping (for a huge page, the one that covers `vpn`).
    pub fn handle_fault<P: PageTable + ?Sized>(
        &mut self,
        pt: &mut P,
        mem: &mut PhysMem,
        vpn: Vpn,
    ) -> Result<Pte, OsError> {
        let size = self.size_for(vpn);
        if size != self.base {
            let span = 1u64 << (size.shift() - self.base.shift());
            let start = Vpn(vpn.0 & !(span - 1));
            let saved = self.next_frame;
            let pte = Pte {
                pfn: self.alloc_frames(span)?,
                perms: Perms::RWX,
                size,
            };
            match pt.map(mem, start, pte) {
                Ok(()) => return Ok(self.mapped(pte)),
                // A smaller page already lives in the region: fall back to a base page.
                Err(MapError::Overlap { .. }) => self.next_frame = saved,
                Err(e) => return Err(e.into()),
            }
        }
        let pte = Pte {
            pfn: self.alloc_frame()?,
            perms: Perms::RWX,
            size: self.base,
        };
        pt.map(mem, vpn, pte)?;
        Ok(self.mapped(pte))
    }

    fn mapped(&mut self, pte: Pte) -> Pte {
        self.faults += 1;
        self.pages_mapped += 1;
        pte
    }

    /// Faults resolved so far.
    pub fn faults(&self) -> u64 {
        self.faults
    }

    /// Pages mapped so far, of any size (each fault maps a page never mapped before, since nothing
    /// is evicted yet).
    pub fn pages_mapped(&self) -> u64 {
        self.pages_mapped
    }

    /// Data frames handed out so far (huge pages count all the frames they cover).
    pub fn frames_used(&self) -> u64 {
        self.next_frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ptbench_core::WalkCost;
    use ptbench_pagetable::{Radix, RadixConfig};

    #[test]
    fn faults_take_frames_in_order_and_map_them() {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let mut pt = Radix::new(RadixConfig::X86_64, &mut mem).unwrap();
        let mut os = Os::with_frames(&mem, 2);
        assert_eq!(
            os.handle_fault(&mut pt, &mut mem, Vpn(9)).unwrap().pfn,
            Pfn(0)
        );
        assert_eq!(
            os.handle_fault(&mut pt, &mut mem, Vpn(3)).unwrap().pfn,
            Pfn(1)
        );
        let mut cost = WalkCost::default();
        assert_eq!(pt.walk(&mem, Vpn(3), &mut cost).unwrap().pfn, Pfn(1));
        assert_eq!(
            os.handle_fault(&mut pt, &mut mem, Vpn(4)),
            Err(OsError::OutOfMemory { frames: 2 })
        );
        assert_eq!(os.faults(), 2);
        assert_eq!(os.pages_mapped(), 2);
    }

    #[test]
    fn huge_policies_pick_sizes_and_align_frames() {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let mut pt = Radix::new(RadixConfig::X86_64, &mut mem).unwrap();
        let mut os = Os::new(&mem);
        os.alloc_frame().unwrap(); // frame 0 taken: the 2 MiB page must start at frame 512
        os.set_policy(HugePolicy::Fixed(PageSize::M2));
        let p = os.handle_fault(&mut pt, &mut mem, Vpn(0x2345)).unwrap();
        assert_eq!((p.pfn, p.size), (Pfn(512), PageSize::M2));
        let mut cost = WalkCost::default();
        assert_eq!(
            pt.walk(&mem, Vpn(0x2345), &mut cost)
                .unwrap()
                .frame_of(Vpn(0x2345), 12),
            Pfn(512 + 0x145)
        );
        // THP: inside the range a 2 MiB page, at its edge a 4 KiB page.
        os.set_policy(HugePolicy::Thp);
        os.set_address_range(0x4000_0000, 0x4060_0fff);
        let p = os.handle_fault(&mut pt, &mut mem, Vpn(0x40200)).unwrap();
        assert_eq!(p.size, PageSize::M2);
        let p = os.handle_fault(&mut pt, &mut mem, Vpn(0x40600)).unwrap();
        assert_eq!((p.pfn, p.size), (Pfn(1536), PageSize::K4));
        // A base page already in a region: the huge fault falls back to a base page.
        os.set_policy(HugePolicy::Fixed(PageSize::M2));
        let p = os.handle_fault(&mut pt, &mut mem, Vpn(0x40601)).unwrap();
        assert_eq!((p.pfn, p.size), (Pfn(1537), PageSize::K4));
        assert_eq!(os.pages_mapped(), 4);
        assert_eq!(os.frames_used(), 1538);
    }
}
