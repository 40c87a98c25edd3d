//! The OS model: it decides which physical frame backs each virtual page and asks the page-table
//! design to store that mapping. Designs never choose frames, so every design sees the same
//! frames for the same trace.
//!
//! Demand paging: a page's first touch faults; the OS takes the lowest never-used data frame (frames
//! are handed out in order from 0), maps the page readable, writable and executable at the design's
//! base page size, and the access retries. Memory pressure and replacement come later; until then
//! running out of data frames is an error, not a silent wrap-around.

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
}

/// Demand paging over a fixed pool of data frames.
#[derive(Clone, Debug)]
pub struct Os {
    base: PageSize,
    next_frame: u64,
    frames: u64,
    faults: u64,
}

impl Os {
    /// An OS managing the data frames of `mem`.
    pub fn new(mem: &PhysMem) -> Os {
        Os::with_frames(mem, mem.data_frames())
    }

    /// An OS that may use only the first `frames` data frames of `mem`.
    pub fn with_frames(mem: &PhysMem, frames: u64) -> Os {
        Os {
            base: PageSize::from_shift(mem.frame_shift()).unwrap_or(PageSize::K4),
            next_frame: 0,
            frames: frames.min(mem.data_frames()),
            faults: 0,
        }
    }

    /// Takes a free data frame.
    pub fn alloc_frame(&mut self) -> Result<Pfn, OsError> {
        if self.next_frame >= self.frames {
            return Err(OsError::OutOfMemory {
                frames: self.frames,
            });
        }
        let pfn = Pfn(self.next_frame);
        self.next_frame += 1;
        Ok(pfn)
    }

    /// Resolves a fault on `vpn`: takes a frame and maps it in `pt`. Returns the new mapping.
    pub fn handle_fault<P: PageTable + ?Sized>(
        &mut self,
        pt: &mut P,
        mem: &mut PhysMem,
        vpn: Vpn,
    ) -> Result<Pte, OsError> {
        let pte = Pte {
            pfn: self.alloc_frame()?,
            perms: Perms::RWX,
            size: self.base,
        };
        pt.map(mem, vpn, pte)?;
        self.faults += 1;
        Ok(pte)
    }

    /// Faults resolved so far.
    pub fn faults(&self) -> u64 {
        self.faults
    }

    /// Distinct pages mapped so far (each fault maps a page never mapped before, since nothing is
    /// evicted yet).
    pub fn pages_mapped(&self) -> u64 {
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
}
