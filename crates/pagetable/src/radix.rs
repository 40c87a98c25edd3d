//! The n-level radix page table, exactly as the classic multi-level page-table assignment defines it.
//!
//! Layout: pages are `2^POBITS` bytes and every table is one page of entries (8 bytes by default, 4
//! for the 32-bit two-level preset), so each of the `LEVELS` levels indexes `POBITS - log2(entry
//! bytes)` bits of the virtual page number, the root taking the highest bits. An entry's bit 0 is
//! the valid bit; when valid, its bits from POBITS up hold the physical page number of the next
//! table or of the data page. Bits 1 and 2 are write and execute permission; bit 3 marks a huge
//! leaf stored at a higher level; bit 4 is the user bit and bit 5 the read bit (with `pobits` below
//! 6 there is no room for them below the frame number: read and user are then implied by valid). The root's physical address is the ptbr.
//!
//! Cost model: a walk reads one entry per level it visits, root first, stopping early at an invalid
//! entry or a huge leaf. Tables are allocated on demand when a mapping needs them and are not freed
//! on unmap (as in the assignment), so the table count over a set of mapped base pages is
//! `1 + sum over k in 1..LEVELS of |{vpn >> k*index_bits}|`. Only a huge mapping placed over a
//! table that no longer maps anything frees that table (and the empty tables beneath it).
//!
//! Cycles (with a cache model): a chain. Each level's entry names the next table, so each read
//! waits for the one before; a walk costs the sum of its reads' latencies. A page-walk-cache hit
//! skips the levels above the cached table (their reads are not made).

use ptbench_core::{
    check_in_space, check_mapping, EntryWidth, Footprint, MapError, NoRecord, NoWalkCache,
    PageSize, PageTable, Perms, Pfn, PhysAddr, PhysMem, Pte, VaField, Vpn, WalkCache, WalkCost,
    WalkRecorder, WalkStep, WalkTrace,
};

const VALID: u64 = 1 << 0;
const WRITE: u64 = 1 << 1;
const EXEC: u64 = 1 << 2;
const HUGE: u64 = 1 << 3;
/// User (x86's U/S bit, moved here: this layout's bit 2 is execute).
const USER: u64 = 1 << 4;
/// Read (x86 has none: a software bit, as read is otherwise implied by valid).
const READ: u64 = 1 << 5;
/// Smallest pobits whose entries have room for the read and user bits.
const RU_MIN_POBITS: u8 = 6;

/// The geometry of a radix table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct RadixConfig {
    /// Number of levels, 1 to 6.
    pub levels: u8,
    /// log2 of the page size, 4 to 18.
    pub pobits: u8,
    /// Entry width in memory.
    pub entry: EntryWidth,
}

impl RadixConfig {
    /// x86-64 with 4 levels: 4 KiB pages, 512 8-byte entries per table, 48-bit addresses.
    pub const X86_64: RadixConfig = RadixConfig {
        levels: 4,
        pobits: 12,
        entry: EntryWidth::U64,
    };
    /// x86-64 with 5 levels (LA57): 57-bit addresses.
    pub const X86_64_5L: RadixConfig = RadixConfig {
        levels: 5,
        pobits: 12,
        entry: EntryWidth::U64,
    };
    /// The classic 32-bit layout: 4 KiB pages, two levels of 1024 4-byte entries.
    pub const TWO_LEVEL: RadixConfig = RadixConfig {
        levels: 2,
        pobits: 12,
        entry: EntryWidth::U32,
    };

    /// Virtual-page-number bits each level indexes.
    pub const fn index_bits(&self) -> u8 {
        self.pobits - self.entry.shift()
    }

    /// The mask of one level's index: `2^index_bits - 1`.
    pub const fn index_mask(&self) -> u64 {
        (1 << self.index_bits()) - 1
    }

    /// How far the virtual page number shifts right to bring the index of `level` (0 = root) to
    /// the bottom: `(levels - 1 - level) * index_bits`; 0 for `level >= levels - 1`.
    pub const fn level_shift(&self, level: u8) -> u32 {
        self.levels.saturating_sub(1).saturating_sub(level) as u32 * self.index_bits() as u32
    }

    /// The entry index, in a table whose entries each span `shift` vpn bits, that `vpn` selects.
    /// Bits a 64-bit vpn does not have read as 0, so a shift of 64 or more selects entry 0 (the
    /// upper levels of a geometry wider than 64 bits) instead of overflowing.
    #[inline(always)]
    pub const fn index_at_shift(&self, vpn: u64, shift: u32) -> u64 {
        match vpn.checked_shr(shift) {
            Some(v) => v & self.index_mask(),
            None => 0,
        }
    }

    /// The entry index the table at `level` (0 = root) uses for `vpn`.
    pub const fn index(&self, vpn: u64, level: u8) -> u64 {
        self.index_at_shift(vpn, self.level_shift(level))
    }

    /// Width of the virtual address space: POBITS + LEVELS * index bits.
    pub const fn va_bits(&self) -> u32 {
        self.pobits as u32 + self.levels as u32 * self.index_bits() as u32
    }

    /// Width of the physical address space an entry can address.
    pub const fn phys_bits(&self) -> u8 {
        match self.entry {
            EntryWidth::U32 => 32,
            EntryWidth::U64 => 52,
        }
    }

    /// Checks the geometry, explaining what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=6).contains(&self.levels) {
            return Err(format!("levels={} is outside 1..=6", self.levels));
        }
        if !(4..=18).contains(&self.pobits) {
            return Err(format!("pobits={} is outside 4..=18", self.pobits));
        }
        if self.entry == EntryWidth::U32 && self.pobits > 16 {
            return Err(format!(
                "pobits={} leaves no room for a frame number in a 4-byte entry",
                self.pobits
            ));
        }
        if self.va_bits() > 64 {
            return Err(format!(
                "levels={} with pobits={} needs {}-bit virtual addresses (pobits + levels * {} > 64)",
                self.levels,
                self.pobits,
                self.va_bits(),
                self.index_bits()
            ));
        }
        Ok(())
    }
}

/// An n-level radix page table in simulated physical memory.
#[derive(Clone, Debug)]
pub struct Radix {
    cfg: RadixConfig,
    root: PhysAddr,
    index_bits: u8,
    index_mask: u64,
    offset_mask: u64,
    sizes: Vec<PageSize>,
    per_level: Vec<u64>,
    entries: u64,
}

impl Radix {
    /// Builds an empty table (the root allocated) in `mem`, whose frames must be `2^pobits` bytes.
    pub fn new(cfg: RadixConfig, mem: &mut PhysMem) -> Result<Radix, MapError> {
        cfg.validate()
            .map_err(|e| MapError::Memory(ptbench_core::MemError::Geometry(e)))?;
        if mem.frame_shift() != cfg.pobits {
            return Err(MapError::Memory(ptbench_core::MemError::Geometry(format!(
                "radix with pobits={} in memory of 2^{}-byte frames",
                cfg.pobits,
                mem.frame_shift()
            ))));
        }
        let root = mem.alloc_table_frames(1)?;
        let index_bits = cfg.index_bits();
        // Leaves may sit at the bottom level or up to two levels above it (x86-64: 4 KiB, 2 MiB,
        // 1 GiB), never at the root.
        let sizes = (0..cfg.levels.min(3))
            .filter_map(|k| PageSize::from_shift(cfg.pobits + k * index_bits))
            .collect();
        let mut per_level = vec![0; cfg.levels as usize];
        per_level[0] = 1;
        Ok(Radix {
            cfg,
            root,
            index_bits,
            index_mask: cfg.index_mask(),
            offset_mask: (1 << cfg.pobits) - 1,
            sizes,
            per_level,
            entries: 0,
        })
    }

    /// The geometry.
    pub fn config(&self) -> RadixConfig {
        self.cfg
    }

    /// Physical address of the root table (the page-table base register).
    pub fn ptbr(&self) -> PhysAddr {
        self.root
    }

    #[inline(always)]
    fn entry_addr(&self, table: u64, vpn: Vpn, shift: u32) -> PhysAddr {
        let idx = self.cfg.index_at_shift(vpn.0, shift);
        PhysAddr(table + (idx << self.cfg.entry.shift()))
    }

    #[inline(always)]
    fn decode(&self, e: u64, shift: u32) -> Pte {
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
        Pte {
            pfn: Pfn(e >> self.cfg.pobits),
            perms,
            size: PageSize::from_shift(self.cfg.pobits + shift as u8).unwrap_or(PageSize::K4),
        }
    }

    fn encode(&self, pte: Pte, huge: bool) -> Result<u64, MapError> {
        let limit_bits = u32::from(self.cfg.phys_bits()) - u32::from(self.cfg.pobits);
        if pte.pfn.0 >> limit_bits != 0 {
            return Err(MapError::FrameTooWide(pte.pfn));
        }
        let mut e = (pte.pfn.0 << self.cfg.pobits) | VALID;
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
        if huge {
            e |= HUGE;
        }
        Ok(e)
    }

    /// Whether the table at `table` (whose entries each map `shift` vpn bits) maps nothing.
    fn subtree_empty(&self, mem: &PhysMem, table: u64, shift: u32) -> bool {
        let width = self.cfg.entry;
        (0..=self.index_mask).all(|i| {
            let e = mem.peek(PhysAddr(table + (i << width.shift())), width);
            e & VALID == 0
                || (shift > 0
                    && e & HUGE == 0
                    && self.subtree_empty(
                        mem,
                        e & !self.offset_mask,
                        shift - u32::from(self.index_bits),
                    ))
        })
    }

    /// Frees the (empty) table at `table`, which sits at `level`, and every table beneath it.
    fn free_subtree(&mut self, mem: &mut PhysMem, table: u64, shift: u32, level: usize) {
        if shift > 0 {
            let width = self.cfg.entry;
            for i in 0..=self.index_mask {
                let e = mem.peek(PhysAddr(table + (i << width.shift())), width);
                if e & VALID != 0 && e & HUGE == 0 {
                    let next = e & !self.offset_mask;
                    self.free_subtree(mem, next, shift - u32::from(self.index_bits), level + 1);
                }
            }
        }
        mem.free_table_frames(PhysAddr(table), 1);
        self.per_level[level] -= 1;
    }

    fn top_shift(&self) -> u32 {
        self.cfg.level_shift(0)
    }

    /// The walk itself, recording its steps in `rec` ([`NoRecord`] on the hot path).
    #[inline(always)]
    fn walk_rec<C: WalkCache, R: WalkRecorder>(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        cache: &mut C,
        rec: &mut R,
    ) -> Option<Pte> {
        if !self.covers(vpn) {
            rec.outcome(|| "outside the address space: nothing read".to_string());
            return None;
        }
        let width = self.cfg.entry;
        let levels = usize::from(self.cfg.levels);
        // Start from the deepest cached table on the path, else from the root.
        let (mut level, mut table) = match cache.lookup(vpn) {
            Some((k, pa)) if (1..levels).contains(&k) => (k, pa.0),
            _ => (0, self.root.0),
        };
        loop {
            let shift = self.cfg.level_shift(level as u8);
            let at = self.entry_addr(table, vpn, shift);
            let e = mem.read(at, width, cost);
            rec.step(|| self.step(level, table, vpn, shift, at, e));
            if e & VALID == 0 {
                rec.outcome(|| format!("page fault: the level {level} entry is invalid"));
                return None;
            }
            if shift == 0 || e & HUGE != 0 {
                let pte = self.decode(e, shift);
                rec.outcome(|| format!("mapped by the level {level} entry: a {} page", pte.size));
                return Some(pte);
            }
            table = e & !self.offset_mask;
            level += 1;
            cache.fill(level, vpn, PhysAddr(table));
        }
    }

    /// The step of reading entry `e` at `at` in the level-`level` table at `table`.
    fn step(
        &self,
        level: usize,
        table: u64,
        vpn: Vpn,
        shift: u32,
        at: PhysAddr,
        e: u64,
    ) -> WalkStep {
        let valid = e & VALID != 0;
        let leaf = valid && (shift == 0 || e & HUGE != 0);
        let meaning = if !valid {
            "V=0: invalid, the walk stops (page fault)".to_string()
        } else if leaf {
            let pte = self.decode(e, shift);
            format!(
                "V=1 R={} W={} X={} U={}{}: leaf of a {} page, frame {:#x}, perms {:?}",
                u64::from(pte.perms.contains(Perms::R)),
                u64::from(e & WRITE != 0),
                u64::from(e & EXEC != 0),
                u64::from(pte.perms.user()),
                if e & HUGE != 0 { " H=1" } else { "" },
                pte.size,
                pte.pfn.0,
                pte.perms
            )
        } else {
            format!("V=1: next table at {:#x}", e & !self.offset_mask)
        };
        WalkStep {
            place: format!("level {level} table"),
            table: PhysAddr(table),
            index: self.cfg.index_at_shift(vpn.0, shift),
            addr: at,
            words: vec![e],
            word_bytes: width_bytes(self.cfg.entry),
            valid,
            perms: leaf.then(|| self.decode(e, shift).perms),
            meaning,
        }
    }
}

fn width_bytes(w: EntryWidth) -> u8 {
    w.bytes() as u8
}

impl PageTable for Radix {
    fn page_shift(&self) -> u8 {
        self.cfg.pobits
    }

    fn va_bits(&self) -> u8 {
        self.cfg.va_bits() as u8
    }

    fn page_sizes(&self) -> &[PageSize] {
        &self.sizes
    }

    fn map(&mut self, mem: &mut PhysMem, vpn: Vpn, pte: Pte) -> Result<(), MapError> {
        check_mapping(self, vpn, &pte)?;
        let leaf_shift = u32::from(pte.size.shift() - self.cfg.pobits);
        let leaf = self.encode(pte, leaf_shift > 0)?;
        let width = self.cfg.entry;
        let mut table = self.root.0;
        let mut shift = self.top_shift();
        let mut level = 0;
        while shift > leaf_shift {
            let at = self.entry_addr(table, vpn, shift);
            let e = mem.peek(at, width);
            if e & VALID == 0 {
                let next = mem.alloc_table_frames(1)?;
                let link = (next.0 & !self.offset_mask) | VALID;
                if link >> self.cfg.phys_bits() != 0 {
                    return Err(MapError::FrameTooWide(Pfn(next.0 >> self.cfg.pobits)));
                }
                mem.write(at, width, link);
                self.per_level[level + 1] += 1;
                table = next.0;
            } else if e & HUGE != 0 {
                return Err(MapError::Overlap { vpn });
            } else {
                table = e & !self.offset_mask;
            }
            shift -= u32::from(self.index_bits);
            level += 1;
        }
        let at = self.entry_addr(table, vpn, shift);
        let old = mem.peek(at, width);
        if old & VALID != 0 && shift > 0 && old & HUGE == 0 {
            // A huge leaf replaces a table only when nothing beneath it is mapped any more.
            let sub = old & !self.offset_mask;
            if !self.subtree_empty(mem, sub, shift - u32::from(self.index_bits)) {
                return Err(MapError::Overlap { vpn });
            }
            self.free_subtree(mem, sub, shift - u32::from(self.index_bits), level + 1);
            mem.write(at, width, 0);
        }
        if mem.peek(at, width) & VALID == 0 {
            self.entries += 1;
        }
        mem.write(at, width, leaf);
        Ok(())
    }

    fn unmap(&mut self, mem: &mut PhysMem, vpn: Vpn) -> Result<Option<Pte>, MapError> {
        check_in_space(self, vpn)?;
        let width = self.cfg.entry;
        let mut table = self.root.0;
        let mut shift = self.top_shift();
        loop {
            let at = self.entry_addr(table, vpn, shift);
            let e = mem.peek(at, width);
            if e & VALID == 0 {
                return Ok(None);
            }
            if shift == 0 || e & HUGE != 0 {
                mem.write(at, width, 0);
                self.entries -= 1;
                return Ok(Some(self.decode(e, shift)));
            }
            table = e & !self.offset_mask;
            shift -= u32::from(self.index_bits);
        }
    }

    #[inline]
    fn walk(&self, mem: &PhysMem, vpn: Vpn, cost: &mut WalkCost) -> Option<Pte> {
        self.walk_cached(mem, vpn, cost, &mut NoWalkCache)
    }

    #[inline]
    fn walk_dyn(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        mut cache: &mut dyn WalkCache,
    ) -> Option<Pte> {
        self.walk_cached(mem, vpn, cost, &mut cache)
    }

    fn walk_cached<C: WalkCache>(
        &self,
        mem: &PhysMem,
        vpn: Vpn,
        cost: &mut WalkCost,
        cache: &mut C,
    ) -> Option<Pte> {
        self.walk_rec(mem, vpn, cost, cache, &mut NoRecord)
    }

    fn radix_geometry(&self) -> Option<(u8, u8)> {
        Some((self.cfg.levels, self.index_bits))
    }

    /// x86-64's widths (48 and 57 bits) are canonical.
    fn canonical(&self) -> bool {
        matches!(self.cfg.va_bits(), 48 | 57)
    }

    fn explain(&self, mem: &PhysMem, vpn: Vpn) -> Option<WalkTrace> {
        let mut fields = Vec::new();
        let va = self.cfg.va_bits();
        for k in 0..self.cfg.levels {
            let lo = u32::from(self.cfg.pobits) + self.cfg.level_shift(k);
            if lo < va {
                let hi = (lo + u32::from(self.index_bits) - 1).min(va - 1);
                fields.push(VaField::new(format!("L{k} index"), hi as u8, lo as u8));
            }
        }
        Some(WalkTrace::record(fields, |cost, t| {
            self.walk_rec(mem, vpn, cost, &mut NoWalkCache, t)
        }))
    }

    fn footprint(&self) -> Footprint {
        let table_pages: u64 = self.per_level.iter().sum();
        Footprint {
            table_bytes: table_pages << self.cfg.pobits,
            table_pages,
            per_level: self.per_level.clone(),
            entries: self.entries,
            ..Footprint::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem_for(cfg: RadixConfig) -> PhysMem {
        PhysMem::new(cfg.pobits, cfg.phys_bits()).unwrap()
    }

    fn base(cfg: RadixConfig, pfn: u64) -> Pte {
        Pte {
            pfn: Pfn(pfn),
            perms: Perms::RW,
            size: PageSize::from_shift(cfg.pobits).unwrap(),
        }
    }

    #[test]
    fn geometry_of_the_presets() {
        assert_eq!(RadixConfig::X86_64.va_bits(), 48);
        assert_eq!(RadixConfig::X86_64_5L.va_bits(), 57);
        assert_eq!(RadixConfig::TWO_LEVEL.va_bits(), 32);
        assert_eq!(RadixConfig::TWO_LEVEL.index_bits(), 10);
        let bad = RadixConfig {
            levels: 6,
            pobits: 16,
            entry: EntryWidth::U64,
        };
        assert!(bad.validate().unwrap_err().contains("94-bit"));
    }

    #[test]
    fn an_address_splits_into_one_index_per_level_root_first() {
        let cfg = RadixConfig::X86_64;
        let vpn = 0x456789abcdef_u64 >> 12;
        let idx: Vec<u64> = (0..4).map(|k| cfg.index(vpn, k)).collect();
        assert_eq!(idx, vec![0x8a, 0x19e, 0x4d, 0xbc]);
        assert_eq!(
            (0..4).map(|k| cfg.level_shift(k)).collect::<Vec<_>>(),
            vec![27, 18, 9, 0]
        );
        // Six levels of 15 bits over 46-bit vpns: the two top levels have no bits left and index 0.
        let wide = RadixConfig {
            levels: 6,
            pobits: 18,
            entry: EntryWidth::U64,
        };
        assert_eq!(wide.level_shift(0), 75);
        let top = u64::MAX >> 18;
        assert_eq!(wide.index(top, 0), 0);
        assert_eq!(wide.index(top, 1), 0);
        assert_eq!(wide.index(top, 2), 0x1);
        assert_eq!(wide.index(top, 5), 0x7fff);
    }

    #[test]
    fn walk_reads_one_entry_per_level_and_stops_at_the_first_invalid_one() {
        let cfg = RadixConfig::X86_64;
        let mut mem = mem_for(cfg);
        let mut pt = Radix::new(cfg, &mut mem).unwrap();
        let mut cost = WalkCost::default();
        assert_eq!(pt.walk(&mem, Vpn(0x456789abc), &mut cost), None);
        assert_eq!(cost.refs, 1);
        pt.map(&mut mem, Vpn(0x456789abc), base(cfg, 7)).unwrap();
        let mut cost = WalkCost::default();
        assert_eq!(
            pt.walk(&mem, Vpn(0x456789abc), &mut cost).map(|p| p.pfn),
            Some(Pfn(7))
        );
        assert_eq!(cost.refs, 4);
        // Shares the top three levels: the walk reads all four entries and finds the leaf invalid.
        let mut cost = WalkCost::default();
        assert_eq!(pt.walk(&mem, Vpn(0x456789abd), &mut cost), None);
        assert_eq!(cost.refs, 4);
        assert_eq!(pt.footprint().per_level, vec![1, 1, 1, 1]);
    }

    /// A cache that remembers every x86-64 table exactly (unbounded), to check the skipping logic.
    #[derive(Default)]
    struct Exact(std::collections::HashMap<(usize, u64), PhysAddr>);

    impl WalkCache for Exact {
        fn lookup(&mut self, vpn: Vpn) -> Option<(usize, PhysAddr)> {
            (1..4)
                .rev()
                .find_map(|k| self.0.get(&(k, vpn.0 >> ((4 - k) * 9))).map(|pa| (k, *pa)))
        }
        fn fill(&mut self, level: usize, vpn: Vpn, table: PhysAddr) {
            self.0.insert((level, vpn.0 >> ((4 - level) * 9)), table);
        }
    }

    #[test]
    fn walk_caches_skip_the_levels_they_cover() {
        let cfg = RadixConfig::X86_64;
        let mut mem = mem_for(cfg);
        let mut pt = Radix::new(cfg, &mut mem).unwrap();
        for v in [0x456789abc, 0x456789abd, 0x456780000] {
            pt.map(&mut mem, Vpn(v), base(cfg, v & 0xff)).unwrap();
        }
        let mut pwc = Exact::default();
        let mut cost = WalkCost::default();
        let first = pt.walk_cached(&mem, Vpn(0x456789abc), &mut cost, &mut pwc);
        assert_eq!(first.map(|p| p.pfn), Some(Pfn(0xbc)));
        assert_eq!(
            cost.refs, 4,
            "a cold walk reads every level and fills levels 1 to 3"
        );
        assert_eq!(pwc.0.len(), 3);
        let mut cost = WalkCost::default();
        let next = pt.walk_cached(&mem, Vpn(0x456789abd), &mut cost, &mut pwc);
        assert_eq!(next.map(|p| p.pfn), Some(Pfn(0xbd)));
        assert_eq!(cost.refs, 1, "the leaf table is cached: one read");
        // Shares levels 0 to 2 only: starts at the level-2 table, reads two entries.
        let mut cost = WalkCost::default();
        let far = pt.walk_cached(&mem, Vpn(0x456780000), &mut cost, &mut pwc);
        assert_eq!(far.map(|p| p.pfn), Some(Pfn(0)));
        assert_eq!(cost.refs, 2);
        // Same answers as the uncached walk, always.
        for v in [0x456789abc, 0x456789abd, 0x456780000, 0x456780001, 0x1] {
            let a = pt.walk(&mem, Vpn(v), &mut WalkCost::default());
            let b = pt.walk_cached(&mem, Vpn(v), &mut WalkCost::default(), &mut pwc);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn two_level_uses_four_byte_entries_and_rejects_wide_frames() {
        let cfg = RadixConfig::TWO_LEVEL;
        let mut mem = mem_for(cfg);
        let mut pt = Radix::new(cfg, &mut mem).unwrap();
        pt.map(&mut mem, Vpn(0xfffff), base(cfg, 0x7ffff)).unwrap();
        let mut cost = WalkCost::default();
        assert_eq!(
            pt.walk(&mem, Vpn(0xfffff), &mut cost).map(|p| p.pfn),
            Some(Pfn(0x7ffff))
        );
        assert_eq!(cost.refs, 2);
        assert_eq!(pt.footprint().table_bytes, 2 * 4096);
        assert!(matches!(
            pt.map(&mut mem, Vpn(1), base(cfg, 1 << 20)),
            Err(MapError::FrameTooWide(_))
        ));
        assert!(matches!(
            pt.map(&mut mem, Vpn(1 << 20), base(cfg, 1)),
            Err(MapError::AddressTooWide { va_bits: 32, .. })
        ));
        assert_eq!(pt.walk(&mem, Vpn(1 << 20), &mut cost), None);
    }

    #[test]
    fn huge_leaves_cover_their_span_and_conflict_with_smaller_pages() {
        let cfg = RadixConfig::X86_64;
        let mut mem = mem_for(cfg);
        let mut pt = Radix::new(cfg, &mut mem).unwrap();
        assert_eq!(pt.page_sizes(), &[PageSize::K4, PageSize::M2, PageSize::G1]);
        let huge = Pte {
            pfn: Pfn(0x400),
            perms: Perms::RWX,
            size: PageSize::M2,
        };
        pt.map(&mut mem, Vpn(0x200), huge).unwrap();
        let mut cost = WalkCost::default();
        let got = pt.walk(&mem, Vpn(0x3ff), &mut cost).unwrap();
        assert_eq!(cost.refs, 3);
        assert_eq!(got, huge);
        assert_eq!(got.frame_of(Vpn(0x3ff), 12), Pfn(0x5ff));
        assert!(matches!(
            pt.map(&mut mem, Vpn(0x201), base(cfg, 1)),
            Err(MapError::Overlap { .. })
        ));
        assert!(matches!(
            pt.map(
                &mut mem,
                Vpn(0x600),
                Pte {
                    pfn: Pfn(0x401),
                    ..huge
                }
            ),
            Err(MapError::Misaligned { .. })
        ));
        assert_eq!(pt.unmap(&mut mem, Vpn(0x300)).unwrap(), Some(huge));
        assert_eq!(pt.walk(&mem, Vpn(0x200), &mut cost), None);
    }
}
