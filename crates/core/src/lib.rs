//! The core model of ptbench: typed addresses and page numbers, memory accesses, page-table entries,
//! simulated physical memory in which page tables live, and the [`PageTable`] trait every design
//! implements.
//!
//! The split that keeps comparisons honest: the OS model chooses which frame backs a page, a design
//! only stores and finds that mapping. Every entry a design reads during a walk is read through
//! [`PhysMem`] with a [`WalkCost`], so memory references are counted, not estimated.

mod access;
mod addr;
mod count;
mod explain;
mod mem;
mod pte;
mod rng;
mod runs;
mod suggest;
mod table;

pub use access::{Access, AccessKind, FILE_BACKED, HUGE_ADVISED};
pub use addr::{PageSize, Pfn, PhysAddr, VirtAddr, Vpn};
pub use count::{parse_count, CountError};
pub use explain::{AddrSpace, NoRecord, Outside, VaField, WalkRecorder, WalkStep, WalkTrace};
pub use mem::{EntryWidth, MemError, PhysMem, TableRead};
pub use pte::{Perms, Pte};
pub use rng::SplitMix;
pub use runs::{page_runs, run_page, widest_access, RunStart};
pub use suggest::{closest, did_you_mean};
pub use table::{
    check_in_space, check_mapping, Footprint, MapError, NoWalkCache, PageTable, WalkCache, WalkCost,
};
