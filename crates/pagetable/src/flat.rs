//! The flat (linear) page table: one array of 8-byte PTEs indexed by virtual page number, sized for
//! the whole virtual address space.
//!
//! Layout: `2^(va_bits - pobits)` entries in contiguous table frames, entry `vpn` at
//! `base + 8 * vpn`. An entry is encoded as in the radix design (bit 0 valid, bit 1 write, bit 2
//! execute, the frame number from bit POBITS up) plus a page-size code in bits 3-4 (0 base, 1 2 MiB,
//! 2 1 GiB), bit 5 read and bit 6 user (implied by valid when `pobits` is below 7). A huge page is stored by replicating its entry in every slot it covers, so a lookup
//! is still one read.
//!
//! Cost model: every walk reads exactly one entry, whatever the page size; `table_bytes` is the whole
//! array (`8 << (va_bits - pobits)`: 512 GiB for 48-bit addresses, 256 TiB for 57), which is the
//! design's point, while the simulator stores only the frames a trace touches ([`PhysMem`] keeps
//! them sparse, so host memory follows the pages touched, not `va_bits`). Mapping a huge page
//! writes every slot it covers.
//!
//! Cycles (with a cache model): one read, so a walk costs that read's latency.
//!
//! Default: `va_bits=48`, the user-space addresses of Linux programs (47 bits) and x86-64's
//! four-level width, so `flat` alone replays a native program's trace; storage is sparse, so the
//! width costs the simulator nothing. The canonical spec always names `va_bits`
//! (`flat:va_bits=48`), as it did before this was the default (it was 32).
//!
//! Limits: `va_bits` from 12 to 57 (five-level paging's width, enough for native programs' 47-bit
//! stacks), and the array must fit the page-table half of the 52-bit physical address space
//! (`va_bits - pobits <= 48`).

use crate::spec::{DesignConfig, ParamInfo, ParamValues, SpecError};
use ptbench_core::{
    check_in_space, check_mapping, EntryWidth, Footprint, MapError, NoRecord, PageSize, PageTable,
    Perms, Pfn, PhysAddr, PhysMem, Pte, VaField, Vpn, WalkCost, WalkRecorder, WalkStep, WalkTrace,
};

const VALID: u64 = 1;
const WRITE: u64 = 1 << 1;
const EXEC: u64 = 1 << 2;
const SIZE_SHIFT: u32 = 3;
/// Read.
const READ: u64 = 1 << 5;
/// User.
const USER: u64 = 1 << 6;
/// Smallest pobits whose entries have room for the read and user bits.
const RU_MIN_POBITS: u8 = 7;
/// Widest virtual address space (five-level paging).
pub const MAX_VA_BITS: u8 = 57;
/// Most page-number bits: the 8-byte entries must fit the table half of a 52-bit physical space.
const MAX_INDEX_BITS: u8 = 48;

/// Configuration of a [`Flat`] table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlatConfig {
    /// log2 of the base page size.
    pub pobits: u8,
    /// Width of the virtual address space.
    pub va_bits: u8,
}

/// A flat page table.
#[derive(Clone, Debug)]
pub struct Flat {
    cfg: FlatConfig,
    base: PhysAddr,
    frames: u64,
    sizes: Vec<PageSize>,
    entries: u64,
}

impl Flat {
    /// Reserves the whole array in `mem` (frames of `2^pobits` bytes).
    pub fn new(cfg: FlatConfig, mem: &mut PhysMem) -> Result<Flat, MapError> {
        if mem.frame_shift() != cfg.pobits {
            return Err(MapError::Unsupported(format!(
                "flat with pobits={} in memory of 2^{}-byte frames",
                cfg.pobits,
                mem.frame_shift()
            )));
        }
        if cfg.va_bits > MAX_VA_BITS
            || cfg.va_bits <= cfg.pobits
            || cfg.va_bits - cfg.pobits > MAX_INDEX_BITS
        {
            return Err(MapError::Unsupported(format!(
                "flat with va_bits={} and pobits={}: va_bits must be at most {MAX_VA_BITS}, above \
                 pobits, and at most pobits + {MAX_INDEX_BITS}",
                cfg.va_bits, cfg.pobits
            )));
        }
        let bytes = 8u64 << (cfg.va_bits - cfg.pobits);
        let frames = (bytes >> cfg.pobits).max(1);
        let base = mem.alloc_table_frames(frames)?;
        let sizes = std::iter::once(cfg.pobits)
            .chain(
                [21, 30]
                    .into_iter()
                    .filter(|s| *s > cfg.pobits && *s < cfg.va_bits),
            )
            .filter_map(PageSize::from_shift)
            .collect();
        Ok(Flat {
            cfg,
            base,
            frames,
            sizes,
            entries: 0,
        })
    }

    #[inline(always)]
    fn slot(&self, vpn: u64) -> PhysAddr {
        PhysAddr(self.base.0 + (vpn << 3))
    }

    fn size_code(&self, size: PageSize) -> u64 {
        match size.shift() {
            21 if self.cfg.pobits < 21 => 1,
            30 => 2,
            _ => 0,
        }
    }

    #[inline(always)]
    fn decode(&self, e: u64) -> Pte {
        let mut perms = Perms::NONE;
        // Frames of fewer than `2^RU_MIN_POBITS` bytes leave no room for the read and user
        // bits: they are implied.
        let implied = self.cfg.pobits < RU_MIN_POBITS;
        if implied || e & READ != 0 {
            perms = perms.union(Perms::R);
        }
        if implied || e & USER != 0 {
            perms = perms.union(Perms::U);
        }
        if e & WRITE != 0 {
            perms = perms.union(Perms::W);
        }
        if e & EXEC != 0 {
            perms = perms.union(Perms::X);
        }
        let size = match (e >> SIZE_SHIFT) & 3 {
            1 => PageSize::M2,
            2 => PageSize::G1,
            _ => self.sizes[0],
        };
        Pte {
            pfn: Pfn(e >> self.cfg.pobits),
            perms,
            size,
        }
    }

    /// The walk itself, recording its step in `rec` ([`NoRecord`] on the hot path).
    #[inline(always)]
    fn walk_rec<R: WalkRecorder>(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        rec: &mut R,
    ) -> Option<Pte> {
        if !self.covers(vpn) {
            rec.outcome(|| "outside the address space: nothing read".to_string());
            return None;
        }
        let at = self.slot(vpn.0);
        let e = mem.read(at, EntryWidth::U64, cost);
        let valid = e & VALID != 0;
        rec.step(|| WalkStep {
            place: "flat array".to_string(),
            table: self.base,
            index: vpn.0,
            addr: at,
            words: vec![e],
            word_bytes: 8,
            valid,
            perms: valid.then(|| self.decode(e).perms),
            meaning: if valid {
                let p = self.decode(e);
                format!(
                    "V=1 size code {}: {} page at frame {:#x}, perms {:?}",
                    (e >> SIZE_SHIFT) & 3,
                    p.size,
                    p.pfn.0,
                    p.perms
                )
            } else {
                "V=0: invalid (page fault)".to_string()
            },
        });
        if valid {
            rec.outcome(|| "mapped by the entry at index vpn".to_string());
            Some(self.decode(e))
        } else {
            rec.outcome(|| "page fault: the entry is invalid".to_string());
            None
        }
    }

    fn span(&self, size: PageSize) -> u64 {
        1u64 << (size.shift() - self.cfg.pobits)
    }
}

impl PageTable for Flat {
    fn page_shift(&self) -> u8 {
        self.cfg.pobits
    }

    fn va_bits(&self) -> u8 {
        self.cfg.va_bits
    }

    fn page_sizes(&self) -> &[PageSize] {
        &self.sizes
    }

    fn map(&mut self, mem: &mut PhysMem, vpn: Vpn, pte: Pte) -> Result<(), MapError> {
        check_mapping(self, vpn, &pte)?;
        let span = self.span(pte.size);
        if pte.pfn.0 >> (52 - u32::from(self.cfg.pobits)) != 0 {
            return Err(MapError::FrameTooWide(pte.pfn));
        }
        // Any valid slot in the range must belong to a page with the same start and size.
        let mut replaced = false;
        for v in vpn.0..vpn.0 + span {
            let e = mem.peek(self.slot(v), EntryWidth::U64);
            if e & VALID != 0 {
                let old = self.decode(e);
                let start = v & !(self.span(old.size) - 1);
                if old.size != pte.size || start != vpn.0 {
                    return Err(MapError::Overlap { vpn });
                }
                replaced = true;
            }
        }
        let mut e =
            (pte.pfn.0 << self.cfg.pobits) | VALID | (self.size_code(pte.size) << SIZE_SHIFT);
        if pte.perms.contains(Perms::W) {
            e |= WRITE;
        }
        if pte.perms.contains(Perms::X) {
            e |= EXEC;
        }
        if self.cfg.pobits >= RU_MIN_POBITS {
            if pte.perms.contains(Perms::R) {
                e |= READ;
            }
            if pte.perms.user() {
                e |= USER;
            }
        }
        for v in vpn.0..vpn.0 + span {
            mem.write(self.slot(v), EntryWidth::U64, e);
        }
        if !replaced {
            self.entries += 1;
        }
        Ok(())
    }

    fn unmap(&mut self, mem: &mut PhysMem, vpn: Vpn) -> Result<Option<Pte>, MapError> {
        check_in_space(self, vpn)?;
        let e = mem.peek(self.slot(vpn.0), EntryWidth::U64);
        if e & VALID == 0 {
            return Ok(None);
        }
        let pte = self.decode(e);
        let span = self.span(pte.size);
        let start = vpn.0 & !(span - 1);
        for v in start..start + span {
            mem.write(self.slot(v), EntryWidth::U64, 0);
        }
        self.entries -= 1;
        Ok(Some(pte))
    }

    #[inline]
    fn walk(&self, mem: &PhysMem, vpn: Vpn, cost: &mut WalkCost) -> Option<Pte> {
        self.walk_rec(mem, vpn, cost, &mut NoRecord)
    }

    fn explain(&self, mem: &PhysMem, vpn: Vpn) -> Option<WalkTrace> {
        let fields = vec![VaField::new(
            "index (vpn)",
            self.cfg.va_bits - 1,
            self.cfg.pobits,
        )];
        Some(WalkTrace::record(fields, |cost, t| {
            self.walk_rec(mem, vpn, cost, t)
        }))
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            table_bytes: 8u64 << (self.cfg.va_bits - self.cfg.pobits),
            table_pages: self.frames,
            entries: self.entries,
            ..Footprint::default()
        }
    }
}

impl DesignConfig for FlatConfig {
    const NAME: &'static str = "flat";
    const WALK: &'static str = "one read: the entry at base + 8 * vpn";
    const SUMMARY: &'static str =
        "one linear array of 8-byte PTEs indexed by VPN, sized for the whole virtual address space";
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            key: "va_bits",
            default: "48",
            help: "width of the virtual address space the array covers, 12 to 57 (the array is 8 << (va_bits - pobits) bytes, reserved, stored only where touched)",
        },
        ParamInfo {
            key: "pobits",
            default: "12",
            help: "log2 of the page size, 8 to 18",
        },
    ];
    type Table = Flat;

    fn from_params(p: &ParamValues) -> Result<Self, SpecError> {
        let pobits = p.u8_in("pobits", 8, 18)?;
        let va_bits = p.u8_in("va_bits", 12, MAX_VA_BITS)?;
        if va_bits <= pobits {
            return Err(p.geometry(format!(
                "va_bits={va_bits} leaves no page-number bits with pobits={pobits}"
            )));
        }
        if va_bits - pobits > MAX_INDEX_BITS {
            return Err(p.geometry(format!(
                "va_bits={va_bits} with pobits={pobits} needs a 2^{}-byte array, more than the \
                 2^51 bytes of page-table memory in a 52-bit physical address space \
                 (va_bits - pobits must be at most {MAX_INDEX_BITS})",
                va_bits - pobits + 3
            )));
        }
        Ok(FlatConfig { pobits, va_bits })
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("va_bits", self.va_bits.to_string()),
            ("pobits", self.pobits.to_string()),
        ]
    }

    fn page_shift(&self) -> u8 {
        self.pobits
    }

    fn va_bits(&self) -> u8 {
        self.va_bits
    }

    fn build(&self, mem: &mut PhysMem) -> Result<Flat, MapError> {
        Flat::new(*self, mem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(va_bits: u8) -> (Flat, PhysMem) {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let cfg = FlatConfig {
            pobits: 12,
            va_bits,
        };
        (Flat::new(cfg, &mut mem).unwrap(), mem)
    }

    fn pte(pfn: u64, size: PageSize) -> Pte {
        Pte {
            pfn: Pfn(pfn),
            perms: Perms::RW,
            size,
        }
    }

    #[test]
    fn one_read_per_walk_and_the_whole_array_counts() {
        let (mut pt, mut mem) = flat(32);
        assert_eq!(pt.footprint().table_bytes, 8 << 20);
        assert_eq!(pt.footprint().table_pages, 2048);
        pt.map(&mut mem, Vpn(0xfffff), pte(7, PageSize::K4))
            .unwrap();
        let mut cost = WalkCost::default();
        assert_eq!(
            pt.walk(&mem, Vpn(0xfffff), &mut cost),
            Some(pte(7, PageSize::K4))
        );
        assert_eq!(pt.walk(&mem, Vpn(0xffffe), &mut cost), None);
        assert_eq!(cost.refs, 2);
        assert_eq!(
            mem.materialised_frames(),
            1,
            "only the touched frame exists"
        );
        assert!(matches!(
            pt.map(&mut mem, Vpn(1 << 20), pte(1, PageSize::K4)),
            Err(MapError::AddressTooWide { va_bits: 32, .. })
        ));
        assert_eq!(pt.walk(&mem, Vpn(1 << 20), &mut cost), None);
        assert_eq!(cost.refs, 2, "a walk outside the space reads nothing");
    }

    #[test]
    fn huge_pages_replicate_and_conflict_with_base_pages() {
        let (mut pt, mut mem) = flat(32);
        assert_eq!(pt.page_sizes(), &[PageSize::K4, PageSize::M2, PageSize::G1]);
        pt.map(&mut mem, Vpn(0x400), pte(0x200, PageSize::M2))
            .unwrap();
        let mut cost = WalkCost::default();
        assert_eq!(
            pt.walk(&mem, Vpn(0x5ff), &mut cost),
            Some(pte(0x200, PageSize::M2))
        );
        assert_eq!(cost.refs, 1);
        assert!(matches!(
            pt.map(&mut mem, Vpn(0x401), pte(1, PageSize::K4)),
            Err(MapError::Overlap { .. })
        ));
        assert!(matches!(
            pt.map(&mut mem, Vpn(0x0), pte(0, PageSize::G1)),
            Err(MapError::Overlap { .. })
        ));
        // Same page, same size: replaced, still one mapping.
        pt.map(&mut mem, Vpn(0x400), pte(0x600, PageSize::M2))
            .unwrap();
        assert_eq!(pt.footprint().entries, 1);
        assert_eq!(
            pt.unmap(&mut mem, Vpn(0x480)).unwrap(),
            Some(pte(0x600, PageSize::M2))
        );
        assert_eq!(pt.walk(&mem, Vpn(0x400), &mut cost), None);
        assert_eq!(pt.footprint().entries, 0);
        pt.map(&mut mem, Vpn(0x401), pte(1, PageSize::K4)).unwrap();
    }

    #[test]
    fn config_limits() {
        let parse = |s: &str| crate::DesignSpec::parse(s).map(|d| d.to_string());
        // 48 bits by default (Linux user space), always named.
        assert_eq!(parse("flat").unwrap(), "flat:va_bits=48");
        assert_eq!(parse("flat:va_bits=48").unwrap(), "flat:va_bits=48");
        assert_eq!(parse("flat:va_bits=32").unwrap(), "flat:va_bits=32");
        assert_eq!(
            parse("flat:pobits=14").unwrap(),
            "flat:va_bits=48,pobits=14"
        );
        assert_eq!(parse("flat:va_bits=40").unwrap(), "flat:va_bits=40");
        assert_eq!(parse("flat:va_bits=57").unwrap(), "flat:va_bits=57");
        assert!(parse("flat:va_bits=58")
            .unwrap_err()
            .to_string()
            .contains("from 12 to 57"));
        let e = parse("flat:va_bits=57,pobits=8").unwrap_err().to_string();
        assert!(
            e.contains("2^52-byte array") && e.contains("at most 48"),
            "{e}"
        );
        assert_eq!(
            parse("flat:va_bits=56,pobits=8").unwrap(),
            "flat:va_bits=56,pobits=8"
        );
    }

    #[test]
    fn wide_address_spaces_reserve_the_whole_array_and_store_only_what_is_touched() {
        for (va_bits, bytes) in [(48u8, 512u64 << 30), (57, 256 << 40)] {
            let (mut pt, mut mem) = flat(va_bits);
            assert_eq!(pt.footprint().table_bytes, bytes, "va_bits={va_bits}");
            assert_eq!(pt.footprint().table_pages, bytes >> 12);
            // A native program's stack page and a page at the top of the space.
            let stack = Vpn(0x7ffd_1234_5000 >> 12);
            let top = Vpn((1 << (va_bits - 12)) - 1);
            pt.map(&mut mem, stack, pte(1, PageSize::K4)).unwrap();
            pt.map(&mut mem, top, pte(2, PageSize::K4)).unwrap();
            let mut cost = WalkCost::default();
            assert_eq!(pt.walk(&mem, stack, &mut cost), Some(pte(1, PageSize::K4)));
            assert_eq!(pt.walk(&mem, top, &mut cost), Some(pte(2, PageSize::K4)));
            assert_eq!(cost.refs, 2, "one reference per walk");
            assert_eq!(mem.materialised_frames(), 2);
            assert!(mem.host_bytes() < 1 << 20, "{}", mem.host_bytes());
        }
    }
}
