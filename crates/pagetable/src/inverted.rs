//! The inverted page table (IBM System/38, RS/6000, PowerPC style): one entry per physical base
//! frame, indexed by frame number, found through a hash anchor table (HAT). Its size follows
//! physical memory (`frames`), not the virtual address space.
//!
//! Layout: the IPT is `frames` entries of 16 bytes in contiguous table frames; entry `i` describes
//! the page that frame `i` backs (so the frame number is never stored: it is the index). Word 0 is
//! the tag: bit 0 valid, bits 1-2 the page-size code (index into [`PageTable::page_sizes`]: 0 base,
//! 1 = 2 MiB, 2 = 1 GiB), bits 3.. the page's first base vpn. Word 1 is the link: bits 0-3 the
//! permission bits ([`Perms::bits`]: read, write, execute, user), bits 4..48 the index of the
//! next entry of the hash chain plus one (0 ends the chain), bits 48..64 the asid of the page. The
//! HAT is `hat` 8-byte words in contiguous table frames, each the index of the first entry of its
//! chain plus one (0 = empty). A page's anchor slot is a
//! multiplicative / xor-shift hash of (its vpn in units of its own size, its size code, its asid);
//! a walk's match compares the tag and the asid (both words are read as one entry anyway). A huge
//! page's entry sits at the IPT index of its first frame; the other frames it covers have no entry
//! of their own, they are simply owned by it. Both tables are allocated when the design is built
//! (PhysMem materialises a frame on its first write, so untouched parts cost no host memory).
//!
//! Size (`frames`): by default (`frames=auto`) the table covers the physical memory the run uses.
//! It starts at 2^20 frames (4 GiB of 4 KiB frames) and, when the OS maps a frame beyond it, grows
//! to the next power of two that holds the page (at most [`MAX_FRAMES`]): a new IPT, and a new HAT
//! when the HAT follows the frame count (`hat=frames`, or a `hat` equal to the initial frames), are
//! allocated, every entry is re-linked into them (entries keep their index, the frame number;
//! chains are rebuilt in ascending frame order) and the old tables are freed. Each growth counts
//! one `resize` and every entry re-linked a `moved_entry`; re-linking is not a collision. An
//! explicit `frames=N` fixes the size: a frame at or above `N` is refused, as below.
//!
//! Cost model: a walk tries each page size that currently holds at least one mapping, smallest
//! first (the walker keeps a 3-bit "sizes in use" register that the OS updates on map and unmap;
//! reading it is free). For each size it reads the HAT word of (vpn aligned to the size, size)
//! (1 reference), then follows the chain reading one whole IPT entry per step (1 reference and 1
//! probe each, both words as one `read_block`) until the tag matches or the chain ends; the first
//! match ends the walk. So a hit on the head of its chain costs 2 references and 1 probe, and a
//! miss costs, per size in use, 1 + its chain length. `table_bytes` is the whole reserved structure,
//! `16 * frames + 8 * hat` bytes, whatever is mapped (that is the design's point); `table_pages`
//! counts the table frames reserved for it (rounded up per table).
//!
//! Counters: `capacity` is `frames` (one entry per frame; a huge page uses one entry but owns all
//! its frames); a *collision* is an insertion (a new mapping, or a remap to another frame) whose
//! HAT slot already anchored a chain, so that the chain grows past one entry; the count only
//! grows. Only growth (`frames=auto`) moves entries or resizes (a remap to another frame is a
//! removal plus an insertion, not a move).
//!
//! Address spaces and sharing: the table is global, one for the whole machine as on the RS/6000
//! and PowerPC: every process's pages live in it, each entry tagged with its asid;
//! [`PageTable::set_asid`] selects the asid that `map`, `unmap` and `walk` use. One entry per
//! frame means a frame cannot be mapped twice, and a copy-on-write frame shared after a fork has
//! several pages (one per sharer). This design resolves it the way inverted-table systems did
//! for aliases: the frame's entry belongs to one sharer at a time. Mapping a frame whose entry a
//! page of the same size holds *displaces* that page (its entry is unlinked, counted in
//! [`Inverted::displaced`]); its next walk misses, and the OS model, finding the page resident,
//! stores it again (an *alias fault*, counted in the OS model's `alias_faults`, not as a page
//! fault), displacing the other sharer in turn. Translations stay those of every other design;
//! only walks and alias faults differ. Pages of different sizes cannot share frames.
//!
//! Restrictions that follow from the design: with a fixed size, a frame at or above `frames` cannot
//! be mapped ([`MapError::FrameTooWide`]; [`PageTable::frame_limit`] tells the OS model so; a
//! growing table's limit is [`MAX_FRAMES`]), and a frame that backs a page of one size cannot
//! back a page of another size: [`MapError::Unsupported`] names the frame and the page that holds
//! it. Remapping a page (same
//! vpn and size) to another frame moves its entry; remapping it to the same frame rewrites its
//! permissions in place. Host-side bookkeeping (counts of mappings per size, and per 2 MiB / 1 GiB
//! region of virtual and of physical pages, for the overlap and aliasing checks) is used by map
//! and unmap only; walks read nothing of it but the sizes-in-use register.
//!
//! Cycles (with a cache model): a chain: the anchor, then each entry of the collision chain, each
//! read waiting for the one before.

use crate::spec::{DesignConfig, ParamInfo, ParamValues, SpecError};
use ptbench_core::{
    check_in_space, check_mapping, EntryWidth, Footprint, MapError, MemError, NoRecord, PageSize,
    PageTable, Perms, Pfn, PhysAddr, PhysMem, Pte, VaField, Vpn, WalkCost, WalkRecorder, WalkStep,
    WalkTrace,
};
use std::collections::HashMap;

const VALID: u64 = 1;
const CODE_SHIFT: u32 = 1;
const CODE_MASK: u64 = 3;
const VPN_SHIFT: u32 = 3;
const PERM_MASK: u64 = 15;
const NEXT_SHIFT: u32 = 4;
/// The asid starts at this bit of the link word.
const ASID_SHIFT: u32 = 48;
/// The next-entry field of a link word (after shifting by `NEXT_SHIFT`).
const NEXT_MASK: u64 = (1 << (ASID_SHIFT - NEXT_SHIFT)) - 1;
/// The asid bits of a link word.
const ASID_BITS: u64 = 0xffff << ASID_SHIFT;
/// Bytes per IPT entry (tag word + link word).
pub const ENTRY_BYTES: u64 = 16;
/// Bytes per HAT word.
pub const ANCHOR_BYTES: u64 = 8;
/// Fewest frames a table may cover.
pub const MIN_FRAMES: u64 = 16;
/// Most frames a table may cover (and most HAT slots).
pub const MAX_FRAMES: u64 = 1 << 28;
const MAX_SIZES: usize = 3;
/// Initial frames of a `frames=auto` table.
pub const AUTO_INITIAL_FRAMES: u64 = 1 << 20;

/// The geometry of an inverted table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvertedConfig {
    /// log2 of the base page (and frame) size, 4 to 21.
    pub pobits: u8,
    /// Width of the virtual address space, more than `pobits` and at most 64.
    pub va_bits: u8,
    /// Physical base frames the table covers (one IPT entry each): a power of two in
    /// [`MIN_FRAMES`]`..=`[`MAX_FRAMES`].
    pub frames: u64,
    /// Hash anchor table slots: a power of two in `1..=`[`MAX_FRAMES`].
    pub hat: u64,
    /// `frames=auto`: `frames` is the initial size, and the table grows to cover every frame the
    /// OS maps (see the module docs).
    pub grow: bool,
}

impl Default for InvertedConfig {
    fn default() -> Self {
        InvertedConfig::DEFAULT
    }
}

impl InvertedConfig {
    /// 4 KiB pages, 48-bit addresses, `frames=auto` starting at 4 GiB of frames (2^20 entries)
    /// and as many anchor slots, growing with the physical memory the run uses.
    pub const DEFAULT: InvertedConfig = InvertedConfig {
        pobits: 12,
        va_bits: 48,
        frames: AUTO_INITIAL_FRAMES,
        hat: AUTO_INITIAL_FRAMES,
        grow: true,
    };

    /// Checks the geometry, explaining what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(4..=21).contains(&self.pobits) {
            return Err(format!("pobits={} is outside 4..=21", self.pobits));
        }
        if self.va_bits > 64 || self.va_bits <= self.pobits {
            return Err(format!(
                "va_bits={} must be more than pobits={} and at most 64",
                self.va_bits, self.pobits
            ));
        }
        if !self.frames.is_power_of_two() || !(MIN_FRAMES..=MAX_FRAMES).contains(&self.frames) {
            return Err(format!(
                "frames={} must be a power of two from {MIN_FRAMES} to {MAX_FRAMES} (2^28)",
                self.frames
            ));
        }
        if !self.hat.is_power_of_two() || self.hat > MAX_FRAMES {
            return Err(format!(
                "hat={} must be a power of two from 1 to {MAX_FRAMES} (2^28)",
                self.hat
            ));
        }
        Ok(())
    }

    /// Bytes the IPT and HAT reserve together (initially, for `frames=auto`): `16 * frames + 8 * hat`.
    pub const fn table_bytes(&self) -> u64 {
        self.frames * ENTRY_BYTES + self.hat * ANCHOR_BYTES
    }
}

/// Where a mapping's entry sits in its chain (found with uncounted peeks, for map and unmap).
#[derive(Copy, Clone, Debug)]
struct Found {
    idx: u64,
    prev: Option<u64>,
    slot: u64,
    link: u64,
}

/// An inverted page table with a hash anchor table, in simulated physical memory.
#[derive(Clone, Debug)]
pub struct Inverted {
    cfg: InvertedConfig,
    ipt: u64,
    hat: u64,
    ipt_frames: u64,
    hat_frames: u64,
    hat_mask: u64,
    sizes: [PageSize; MAX_SIZES],
    nsizes: usize,
    /// log2 of the base pages in a page of each size.
    span_shift: [u32; MAX_SIZES],
    /// Mappings of each size.
    counts: [u64; MAX_SIZES],
    /// Bit k set when `counts[k] > 0`: the walker's "sizes in use" register.
    in_use: u8,
    /// For k >= 1: mappings smaller than `sizes[k]` per (asid, `sizes[k]`-aligned virtual region).
    virt_inner: [HashMap<(u16, u64), u32>; MAX_SIZES],
    /// For k >= 1: mappings smaller than `sizes[k]` per `sizes[k]`-aligned frame region.
    phys_inner: [HashMap<u64, u32>; MAX_SIZES],
    collisions: u64,
    /// Frames the IPT covers now (grows from `cfg.frames` when `cfg.grow`).
    frames: u64,
    /// HAT slots now.
    hat_slots: u64,
    /// Whether the HAT grows with the IPT.
    hat_follows: bool,
    /// Entries re-linked by growth.
    moved: u64,
    /// Growths.
    resizes: u64,
    /// The address space `map`, `unmap` and `walk` work in.
    asid: u16,
    /// Entries displaced by a mapping of their frame for another page (aliases).
    displaced: u64,
}

impl Inverted {
    /// Builds an empty table in `mem` (whose frames must be `2^pobits` bytes), reserving the whole
    /// IPT and HAT.
    pub fn new(cfg: InvertedConfig, mem: &mut PhysMem) -> Result<Inverted, MapError> {
        cfg.validate()
            .map_err(|e| MapError::Memory(MemError::Geometry(e)))?;
        if mem.frame_shift() != cfg.pobits {
            return Err(MapError::Memory(MemError::Geometry(format!(
                "inverted with pobits={} in memory of 2^{}-byte frames",
                cfg.pobits,
                mem.frame_shift()
            ))));
        }
        let frames_for = |bytes: u64| bytes.div_ceil(1u64 << cfg.pobits);
        let ipt_frames = frames_for(cfg.frames * ENTRY_BYTES);
        let hat_frames = frames_for(cfg.hat * ANCHOR_BYTES);
        let ipt = mem.alloc_table_frames(ipt_frames)?.0;
        let hat = mem.alloc_table_frames(hat_frames)?.0;
        let base = PageSize::from_shift(cfg.pobits).ok_or_else(|| {
            MapError::Memory(MemError::Geometry(format!(
                "pobits={} is not a page size",
                cfg.pobits
            )))
        })?;
        let mut sizes = [base; MAX_SIZES];
        let mut span_shift = [0u32; MAX_SIZES];
        let mut nsizes = 1;
        for s in [PageSize::M2, PageSize::G1] {
            if s > base {
                sizes[nsizes] = s;
                span_shift[nsizes] = u32::from(s.shift() - cfg.pobits);
                nsizes += 1;
            }
        }
        Ok(Inverted {
            cfg,
            ipt,
            hat,
            ipt_frames,
            hat_frames,
            hat_mask: cfg.hat - 1,
            sizes,
            nsizes,
            span_shift,
            counts: [0; MAX_SIZES],
            in_use: 0,
            virt_inner: Default::default(),
            phys_inner: Default::default(),
            collisions: 0,
            frames: cfg.frames,
            hat_slots: cfg.hat,
            hat_follows: cfg.grow && cfg.hat == cfg.frames,
            moved: 0,
            resizes: 0,
            asid: 0,
            displaced: 0,
        })
    }

    /// Grows the IPT (and the HAT, when it follows the frames) to the next power of two of at
    /// least `need` frames, re-linking every entry; see the module docs.
    fn grow(&mut self, mem: &mut PhysMem, need: u64, pfn: Pfn) -> Result<(), MapError> {
        let mut frames = self.frames;
        while frames < need {
            frames = frames.saturating_mul(2);
        }
        if frames > MAX_FRAMES {
            return Err(MapError::Unsupported(format!(
                "inverted table: frame {pfn} is beyond the largest table of {MAX_FRAMES} (2^28) \
                 frames"
            )));
        }
        let hat = if self.hat_follows {
            frames
        } else {
            self.hat_slots
        };
        let frames_for = |bytes: u64| bytes.div_ceil(1u64 << self.cfg.pobits);
        let (ipt_frames, hat_frames) = (
            frames_for(frames * ENTRY_BYTES),
            frames_for(hat * ANCHOR_BYTES),
        );
        let ipt = mem.alloc_table_frames(ipt_frames)?.0;
        let new_hat = if self.hat_follows {
            match mem.alloc_table_frames(hat_frames) {
                Ok(pa) => pa.0,
                Err(e) => {
                    mem.free_table_frames(PhysAddr(ipt), ipt_frames);
                    return Err(e.into());
                }
            }
        } else {
            self.hat
        };
        // Every entry of the old IPT, in frame order (unwritten IPT frames hold none).
        let per_frame = (1u64 << self.cfg.pobits) / ENTRY_BYTES;
        let mut live = Vec::new();
        let mut idx = 0;
        while idx < self.frames {
            if !mem.is_materialised(self.ipt_addr(idx)) {
                idx = (idx / per_frame.max(1) + 1) * per_frame.max(1);
                continue;
            }
            let tag = mem.peek(self.ipt_addr(idx), EntryWidth::U64);
            if tag & VALID != 0 {
                // Permissions and asid travel with the entry.
                let perms =
                    mem.peek(self.link_addr(idx), EntryWidth::U64) & (PERM_MASK | ASID_BITS);
                live.push((idx, tag, perms));
            }
            idx += 1;
        }
        mem.free_table_frames(PhysAddr(self.ipt), self.ipt_frames);
        if self.hat_follows {
            mem.free_table_frames(PhysAddr(self.hat), self.hat_frames);
        } else {
            // The HAT is kept: its chains are rebuilt from empty.
            let per_frame = ((1u64 << self.cfg.pobits) / ANCHOR_BYTES).max(1);
            let mut slot = 0;
            while slot < self.hat_slots {
                if !mem.is_materialised(self.hat_addr(slot)) {
                    slot = (slot / per_frame + 1) * per_frame;
                    continue;
                }
                if mem.peek(self.hat_addr(slot), EntryWidth::U64) != 0 {
                    mem.write(self.hat_addr(slot), EntryWidth::U64, 0);
                }
                slot += 1;
            }
        }
        self.ipt = ipt;
        self.hat = new_hat;
        self.ipt_frames = ipt_frames;
        self.hat_frames = hat_frames;
        self.frames = frames;
        self.hat_slots = hat;
        self.hat_mask = hat - 1;
        for &(idx, tag, perms) in &live {
            let k = ((tag >> CODE_SHIFT) & CODE_MASK) as usize % MAX_SIZES;
            let slot = self.slot(tag >> VPN_SHIFT, k, (perms >> ASID_SHIFT) as u16);
            let head = mem.peek(self.hat_addr(slot), EntryWidth::U64);
            mem.write(self.ipt_addr(idx), EntryWidth::U64, tag);
            mem.write(
                self.link_addr(idx),
                EntryWidth::U64,
                (head << NEXT_SHIFT) | perms,
            );
            mem.write(self.hat_addr(slot), EntryWidth::U64, idx + 1);
        }
        self.moved += live.len() as u64;
        self.resizes += 1;
        Ok(())
    }

    /// Entries displaced so far: a frame mapped for a page (of any address space) while another
    /// page of the same size held its entry.
    pub fn displaced(&self) -> u64 {
        self.displaced
    }

    /// The geometry.
    pub fn config(&self) -> InvertedConfig {
        self.cfg
    }

    /// Physical address of IPT entry 0 (the entry of frame 0).
    pub fn ipt_base(&self) -> PhysAddr {
        PhysAddr(self.ipt)
    }

    /// Physical address of HAT slot 0.
    pub fn hat_base(&self) -> PhysAddr {
        PhysAddr(self.hat)
    }

    /// The HAT slot of the page of size code `k` whose first base page is `key`.
    #[inline(always)]
    fn slot(&self, key: u64, k: usize, asid: u16) -> u64 {
        let x = (key >> self.span_shift[k]) ^ ((k as u64) << 61) ^ (u64::from(asid) << 44);
        let h = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h ^ (h >> 32)) & self.hat_mask
    }

    /// The HAT slot `vpn`'s page of size `size` hashes to (`vpn` is aligned down to the size), or
    /// `None` for a size the design does not store. For tests and tools.
    pub fn anchor_slot(&self, vpn: Vpn, size: PageSize) -> Option<u64> {
        let k = self.code_of(size)?;
        Some(self.slot(vpn.0 & !self.span_mask(k), k, self.asid))
    }

    #[inline(always)]
    fn span_mask(&self, k: usize) -> u64 {
        (1u64 << self.span_shift[k]) - 1
    }

    #[inline(always)]
    fn hat_addr(&self, slot: u64) -> PhysAddr {
        PhysAddr(self.hat + slot * ANCHOR_BYTES)
    }

    #[inline(always)]
    fn ipt_addr(&self, idx: u64) -> PhysAddr {
        PhysAddr(self.ipt + idx * ENTRY_BYTES)
    }

    #[inline(always)]
    fn link_addr(&self, idx: u64) -> PhysAddr {
        PhysAddr(self.ipt + idx * ENTRY_BYTES + 8)
    }

    #[inline(always)]
    fn tag(key: u64, k: usize) -> u64 {
        (key << VPN_SHIFT) | ((k as u64) << CODE_SHIFT) | VALID
    }

    fn code_of(&self, size: PageSize) -> Option<usize> {
        self.sizes[..self.nsizes].iter().position(|s| *s == size)
    }

    #[inline(always)]
    fn decode(&self, idx: u64, tag: u64, link: u64) -> Pte {
        Pte {
            pfn: Pfn(idx),
            perms: Perms::from_bits((link & PERM_MASK) as u8),
            size: self.sizes[((tag >> CODE_SHIFT) & CODE_MASK) as usize % MAX_SIZES],
        }
    }

    /// The walk itself, recording its steps in `rec` ([`NoRecord`] on the hot path).
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
        for k in 0..self.nsizes {
            if self.in_use & (1 << k) == 0 {
                rec.note(|| format!("no {} page is mapped: that size is skipped", self.sizes[k]));
            }
        }
        let mut left = self.in_use;
        while left != 0 {
            let k = left.trailing_zeros() as usize;
            left &= left - 1;
            let key = vpn.0 & !self.span_mask(k);
            let want = Self::tag(key, k);
            let asid = u64::from(self.asid);
            let slot = self.slot(key, k, self.asid);
            let mut cur = mem.read(self.hat_addr(slot), EntryWidth::U64, cost);
            rec.step(|| WalkStep {
                place: format!("HAT ({} pages)", self.sizes[k]),
                table: PhysAddr(self.hat),
                index: slot,
                addr: self.hat_addr(slot),
                words: vec![cur],
                word_bytes: 8,
                valid: cur != 0,
                perms: None,
                meaning: if cur == 0 {
                    format!(
                        "hash({:#x}, size {k}) = slot {slot:#x}: empty, no chain",
                        key
                    )
                } else {
                    format!(
                        "hash({:#x}, size {k}) = slot {slot:#x}: chain starts at IPT entry {:#x}",
                        key,
                        cur - 1
                    )
                },
            });
            let mut e = [0u64; 2];
            while cur != 0 {
                let idx = cur - 1;
                mem.read_block(self.ipt_addr(idx), &mut e, cost);
                cost.probes += 1;
                let hit = e[0] == want && e[1] >> ASID_SHIFT == asid;
                rec.step(|| WalkStep {
                    place: format!("IPT entry {idx:#x}"),
                    table: PhysAddr(self.ipt),
                    index: idx,
                    addr: self.ipt_addr(idx),
                    words: e.to_vec(),
                    word_bytes: 8,
                    valid: hit,
                    perms: hit.then(|| self.decode(idx, e[0], e[1]).perms),
                    meaning: if hit {
                        format!(
                            "tag {:#x} matches (V=1, vpn {:#x}, size {k}, asid {asid}): frame \
                             {idx:#x} (the entry's index), perms {:?}",
                            e[0],
                            key,
                            Perms::from_bits((e[1] & PERM_MASK) as u8)
                        )
                    } else {
                        let other = e[1] >> ASID_SHIFT;
                        let what = if e[0] == want {
                            format!("tag {:#x} matches but asid {other} is not {asid}", e[0])
                        } else {
                            format!("tag {:#x} is not {want:#x}", e[0])
                        };
                        match (e[1] >> NEXT_SHIFT) & NEXT_MASK {
                            0 => format!("{what}; end of chain"),
                            n => format!("{what}; next IPT entry {:#x}", n - 1),
                        }
                    },
                });
                if hit {
                    rec.outcome(|| {
                        format!("found: IPT entry {idx:#x} maps a {} page", self.sizes[k])
                    });
                    return Some(self.decode(idx, e[0], e[1]));
                }
                cur = (e[1] >> NEXT_SHIFT) & NEXT_MASK;
            }
        }
        rec.outcome(|| "page fault: no chain holds the page".to_string());
        None
    }

    /// Finds the entry of the page of size code `k` starting at `key` in the current address
    /// space, with uncounted peeks.
    fn find(&self, mem: &PhysMem, key: u64, k: usize) -> Option<Found> {
        self.find_in(mem, key, k, self.asid)
    }

    /// Finds the entry of the page of size code `k` starting at `key` of `asid`.
    fn find_in(&self, mem: &PhysMem, key: u64, k: usize, asid: u16) -> Option<Found> {
        let slot = self.slot(key, k, asid);
        let want = Self::tag(key, k);
        let mut cur = mem.peek(self.hat_addr(slot), EntryWidth::U64);
        let mut prev = None;
        let mut steps = 0u64;
        while cur != 0 && steps <= self.frames {
            let idx = cur - 1;
            let link = mem.peek(self.link_addr(idx), EntryWidth::U64);
            if mem.peek(self.ipt_addr(idx), EntryWidth::U64) == want
                && link >> ASID_SHIFT == u64::from(asid)
            {
                return Some(Found {
                    idx,
                    prev,
                    slot,
                    link,
                });
            }
            prev = Some(idx);
            cur = (link >> NEXT_SHIFT) & NEXT_MASK;
            steps += 1;
        }
        None
    }

    /// Adds (or removes) a mapping of size code `k` at `vpn` backed from frame `pfn` to the
    /// host-side counts.
    fn account(&mut self, k: usize, (asid, vpn): (u16, u64), pfn: u64, add: bool) {
        fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: K, add: bool) {
            if add {
                *map.entry(key).or_insert(0) += 1;
            } else if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        if add {
            self.counts[k] += 1;
        } else {
            self.counts[k] -= 1;
        }
        if self.counts[k] == 0 {
            self.in_use &= !(1 << k);
        } else {
            self.in_use |= 1 << k;
        }
        for m in k + 1..self.nsizes {
            let shift = self.span_shift[m];
            bump(&mut self.virt_inner[m], (asid, vpn >> shift), add);
            bump(&mut self.phys_inner[m], pfn >> shift, add);
        }
    }

    /// Links a new entry for the page of size code `k` at `key`, backed from frame `pfn`, at the
    /// head of its chain.
    fn insert(&mut self, mem: &mut PhysMem, key: u64, k: usize, pfn: u64, perms: Perms) {
        let slot = self.slot(key, k, self.asid);
        let head = mem.peek(self.hat_addr(slot), EntryWidth::U64);
        if head != 0 {
            self.collisions += 1;
        }
        mem.write(self.ipt_addr(pfn), EntryWidth::U64, Self::tag(key, k));
        mem.write(
            self.link_addr(pfn),
            EntryWidth::U64,
            (u64::from(self.asid) << ASID_SHIFT) | (head << NEXT_SHIFT) | u64::from(perms.bits()),
        );
        mem.write(self.hat_addr(slot), EntryWidth::U64, pfn + 1);
        self.account(k, (self.asid, key), pfn, true);
    }

    /// Unlinks and clears the entry `f` of the page of size code `k` at `key`.
    fn remove(&mut self, mem: &mut PhysMem, f: Found, key: u64, k: usize) {
        let next = (f.link >> NEXT_SHIFT) & NEXT_MASK;
        match f.prev {
            None => mem.write(self.hat_addr(f.slot), EntryWidth::U64, next),
            Some(p) => {
                let plink = mem.peek(self.link_addr(p), EntryWidth::U64);
                mem.write(
                    self.link_addr(p),
                    EntryWidth::U64,
                    (next << NEXT_SHIFT) | (plink & (PERM_MASK | ASID_BITS)),
                );
            }
        }
        mem.write(self.ipt_addr(f.idx), EntryWidth::U64, 0);
        mem.write(self.link_addr(f.idx), EntryWidth::U64, 0);
        self.account(k, ((f.link >> ASID_SHIFT) as u16, key), f.idx, false);
    }

    /// A frame in `start..start + span of size k` owned by a page smaller than size `k` (which
    /// `phys_inner[k]` says exists), with that page's tag.
    fn owner_within(&self, mem: &PhysMem, start: u64, k: usize) -> Option<(u64, u64)> {
        let sub = k.checked_sub(1)?;
        let step = 1u64 << self.span_shift[sub];
        let end = start + (1u64 << self.span_shift[k]);
        let mut f = start;
        while f < end {
            let tag = mem.peek(self.ipt_addr(f), EntryWidth::U64);
            if tag & VALID != 0 && ((tag >> CODE_SHIFT) & CODE_MASK) as usize == sub {
                return Some((f, tag));
            }
            if sub > 0
                && self.phys_inner[sub]
                    .get(&(f >> self.span_shift[sub]))
                    .is_some_and(|n| *n > 0)
            {
                return self.owner_within(mem, f, sub);
            }
            f += step;
        }
        None
    }

    fn alias_error(&self, vpn: Vpn, pte: Pte, frame: u64, owner_tag: u64) -> MapError {
        let owner_vpn = Vpn(owner_tag >> VPN_SHIFT);
        let owner_size = self.sizes[((owner_tag >> CODE_SHIFT) & CODE_MASK) as usize % MAX_SIZES];
        MapError::Unsupported(format!(
            "inverted table: frame {} already backs the {owner_size} page at {owner_vpn}, so the \
             {} page at {vpn} cannot use it (one entry per frame: pages of different sizes cannot \
             share frames)",
            Pfn(frame),
            pte.size
        ))
    }
}

impl PageTable for Inverted {
    fn page_shift(&self) -> u8 {
        self.cfg.pobits
    }

    fn va_bits(&self) -> u8 {
        self.cfg.va_bits
    }

    fn page_sizes(&self) -> &[PageSize] {
        &self.sizes[..self.nsizes]
    }

    fn map(&mut self, mem: &mut PhysMem, vpn: Vpn, pte: Pte) -> Result<(), MapError> {
        let j = check_mapping(self, vpn, &pte)?;
        let mask = self.span_mask(j);
        let pfn = pte.pfn.0;
        if pfn >= self.frames || self.frames - pfn <= mask {
            match pfn.checked_add(mask + 1) {
                Some(need) if self.cfg.grow => self.grow(mem, need, pte.pfn)?,
                _ => return Err(MapError::FrameTooWide(pte.pfn)),
            }
        }
        // Virtual overlap: a larger page covering vpn, or smaller pages inside the new one.
        for k in j + 1..self.nsizes {
            if self.in_use & (1 << k) != 0
                && self.find(mem, vpn.0 & !self.span_mask(k), k).is_some()
            {
                return Err(MapError::Overlap { vpn });
            }
        }
        if j > 0 && self.virt_inner[j].contains_key(&(self.asid, vpn.0 >> self.span_shift[j])) {
            return Err(MapError::Overlap { vpn });
        }
        // Aliasing: a page of this size or larger owning pfn, or smaller pages inside the frames.
        // A page of the same size that owns the frame gives its entry up (it is displaced: its
        // next walk misses and the OS maps it again); other sizes cannot share frames.
        let new_tag = Self::tag(vpn.0, j);
        let mut displace = None;
        for k in j..self.nsizes {
            if self.in_use & (1 << k) == 0 {
                continue;
            }
            let idx = pfn & !self.span_mask(k);
            let tag = mem.peek(self.ipt_addr(idx), EntryWidth::U64);
            let owned = tag & VALID != 0 && ((tag >> CODE_SHIFT) & CODE_MASK) as usize == k;
            let owner = (mem.peek(self.link_addr(idx), EntryWidth::U64) >> ASID_SHIFT) as u16;
            if !owned || (tag == new_tag && owner == self.asid) {
                continue;
            }
            if k != j {
                return Err(self.alias_error(vpn, pte, pfn, tag));
            }
            displace = Some((tag >> VPN_SHIFT, owner, idx));
        }
        if j > 0 && self.phys_inner[j].contains_key(&(pfn >> self.span_shift[j])) {
            let (frame, tag) = self
                .owner_within(mem, pfn, j)
                .unwrap_or((pfn, mem.peek(self.ipt_addr(pfn), EntryWidth::U64)));
            return Err(self.alias_error(vpn, pte, frame, tag));
        }
        if let Some((key, owner, idx)) = displace {
            let f = self.find_in(mem, key, j, owner).ok_or_else(|| {
                MapError::Unsupported(format!(
                    "inverted table: the entry of frame {} is not on its chain",
                    Pfn(idx)
                ))
            })?;
            self.remove(mem, f, key, j);
            self.displaced += 1;
        }
        match self.find(mem, vpn.0, j) {
            Some(old) if old.idx == pfn => {
                // Same page, same frame: only the permissions change.
                let link = (old.link & !PERM_MASK) | u64::from(pte.perms.bits());
                mem.write(self.link_addr(pfn), EntryWidth::U64, link);
                return Ok(());
            }
            Some(old) => self.remove(mem, old, vpn.0, j),
            None => {}
        }
        self.insert(mem, vpn.0, j, pfn, pte.perms);
        Ok(())
    }

    fn unmap(&mut self, mem: &mut PhysMem, vpn: Vpn) -> Result<Option<Pte>, MapError> {
        check_in_space(self, vpn)?;
        for k in 0..self.nsizes {
            if self.in_use & (1 << k) == 0 {
                continue;
            }
            let key = vpn.0 & !self.span_mask(k);
            if let Some(f) = self.find(mem, key, k) {
                let tag = mem.peek(self.ipt_addr(f.idx), EntryWidth::U64);
                let pte = self.decode(f.idx, tag, f.link);
                self.remove(mem, f, key, k);
                return Ok(Some(pte));
            }
        }
        Ok(None)
    }

    #[inline]
    fn walk(&self, mem: &PhysMem, vpn: Vpn, cost: &mut WalkCost) -> Option<Pte> {
        self.walk_rec(mem, vpn, cost, &mut NoRecord)
    }

    fn explain(&self, mem: &PhysMem, vpn: Vpn) -> Option<WalkTrace> {
        let fields = vec![VaField::page_number(self.cfg.va_bits, self.cfg.pobits)];
        Some(WalkTrace::record(fields, |cost, t| {
            self.walk_rec(mem, vpn, cost, t)
        }))
    }

    fn footprint(&self) -> Footprint {
        Footprint {
            table_bytes: self.frames * ENTRY_BYTES + self.hat_slots * ANCHOR_BYTES,
            table_pages: self.ipt_frames + self.hat_frames,
            per_level: Vec::new(),
            entries: self.counts.iter().sum(),
            capacity: self.frames,
            collisions: self.collisions,
            moved_entries: self.moved,
            resizes: self.resizes,
        }
    }

    fn shares_asids(&self) -> bool {
        true
    }

    fn set_asid(&mut self, asid: u16) {
        self.asid = asid;
    }

    fn frame_limit(&self) -> Option<u64> {
        Some(if self.cfg.grow {
            MAX_FRAMES
        } else {
            self.cfg.frames
        })
    }
}

impl DesignConfig for InvertedConfig {
    const NAME: &'static str = "inverted";
    const WALK: &'static str = "a chain: the hash anchor, then each entry of the collision chain, each read waiting for the one before";
    const SUMMARY: &'static str =
        "inverted page table: one 16-byte entry per physical frame, found through a hash anchor table";
    const PARAMS: &'static [ParamInfo] = &[
        ParamInfo {
            key: "pobits",
            default: "12",
            help: "log2 of the page (and frame) size, 4 to 21",
        },
        ParamInfo {
            key: "va_bits",
            default: "48",
            help: "width of the virtual address space, up to 64",
        },
        ParamInfo {
            key: "frames",
            default: "auto",
            help:
                "physical frames the table covers (one entry each): auto (start at 2^20 and grow with the frames the run uses, up to 2^28) or a fixed power of two from 16 to 2^28",
        },
        ParamInfo {
            key: "hat",
            default: "frames",
            help:
                "hash anchor table slots, a power of two up to 2^28 (`frames`: as many as frames, growing with them)",
        },
    ];
    type Table = Inverted;

    fn from_params(p: &ParamValues) -> Result<Self, SpecError> {
        let pobits = p.u8_in("pobits", 4, 21)?;
        let va_bits = p.u8_in("va_bits", 1, 64)?;
        let grow = p.raw("frames").trim() == "auto";
        let frames = if grow {
            AUTO_INITIAL_FRAMES
        } else {
            p.u64_in("frames", MIN_FRAMES, MAX_FRAMES)?
        };
        let hat = if p.raw("hat").trim() == "frames" {
            frames
        } else {
            p.u64_in("hat", 1, MAX_FRAMES)?
        };
        let cfg = InvertedConfig {
            pobits,
            va_bits,
            frames,
            hat,
            grow,
        };
        cfg.validate().map_err(|e| p.geometry(e))?;
        Ok(cfg)
    }

    fn to_params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("pobits", self.pobits.to_string()),
            ("va_bits", self.va_bits.to_string()),
            (
                "frames",
                if self.grow {
                    "auto".to_string()
                } else {
                    self.frames.to_string()
                },
            ),
            (
                "hat",
                if self.hat == self.frames {
                    "frames".to_string()
                } else {
                    self.hat.to_string()
                },
            ),
        ]
    }

    fn page_shift(&self) -> u8 {
        self.pobits
    }

    fn va_bits(&self) -> u8 {
        self.va_bits
    }

    fn build(&self, mem: &mut PhysMem) -> Result<Inverted, MapError> {
        Inverted::new(*self, mem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(frames: u64, hat: u64) -> (Inverted, PhysMem) {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let cfg = InvertedConfig {
            frames,
            hat,
            grow: false,
            ..InvertedConfig::DEFAULT
        };
        (Inverted::new(cfg, &mut mem).unwrap(), mem)
    }

    fn pte(pfn: u64, size: PageSize) -> Pte {
        Pte {
            pfn: Pfn(pfn),
            perms: Perms::RW,
            size,
        }
    }

    fn walk(pt: &Inverted, mem: &PhysMem, vpn: u64) -> (Option<Pte>, u32, u32) {
        let mut cost = WalkCost::default();
        let got = pt.walk(mem, Vpn(vpn), &mut cost);
        (got, cost.refs, cost.probes)
    }

    #[test]
    fn walk_reads_the_anchor_then_one_entry_per_chain_step() {
        // One anchor slot: every page hashes to it, and insertion at the head makes the chain
        // HAT -> frame 3 -> frame 2 -> frame 1.
        let (mut pt, mut mem) = table(16, 1);
        assert_eq!(
            walk(&pt, &mem, 0x10),
            (None, 0, 0),
            "nothing mapped: nothing read"
        );
        pt.map(&mut mem, Vpn(0x10), pte(1, PageSize::K4)).unwrap();
        pt.map(&mut mem, Vpn(0x20), pte(2, PageSize::K4)).unwrap();
        pt.map(&mut mem, Vpn(0x30), pte(3, PageSize::K4)).unwrap();
        assert_eq!(mem.peek(pt.hat_base(), EntryWidth::U64), 4);
        let e3 = pt.ipt_base().0 + 3 * 16;
        assert_eq!(mem.peek(PhysAddr(e3), EntryWidth::U64), (0x30 << 3) | 1);
        assert_eq!(mem.peek(PhysAddr(e3 + 8), EntryWidth::U64), (3 << 4) | 3);
        assert_eq!(walk(&pt, &mem, 0x30), (Some(pte(3, PageSize::K4)), 2, 1));
        assert_eq!(walk(&pt, &mem, 0x20), (Some(pte(2, PageSize::K4)), 3, 2));
        assert_eq!(walk(&pt, &mem, 0x10), (Some(pte(1, PageSize::K4)), 4, 3));
        assert_eq!(
            walk(&pt, &mem, 0x40),
            (None, 4, 3),
            "a miss reads the whole chain"
        );
        let fp = pt.footprint();
        assert_eq!((fp.entries, fp.capacity, fp.collisions), (3, 16, 2));
        assert_eq!((fp.moved_entries, fp.resizes), (0, 0));
    }

    #[test]
    fn collisions_count_insertions_into_a_non_empty_slot() {
        let (mut pt, mut mem) = table(16, 2);
        let slot = |pt: &Inverted, v: u64| pt.anchor_slot(Vpn(v), PageSize::K4).unwrap();
        let mut vpns: Vec<u64> = (0..64).collect();
        // Two pages of slot 0, then one of slot 1, then one more of slot 0.
        let zero: Vec<u64> = vpns
            .iter()
            .copied()
            .filter(|v| slot(&pt, *v) == 0)
            .collect();
        let one = vpns.iter().copied().find(|v| slot(&pt, *v) == 1).unwrap();
        vpns.clear();
        vpns.extend([zero[0], zero[1], one, zero[2]]);
        for (i, v) in vpns.iter().enumerate() {
            pt.map(&mut mem, Vpn(*v), pte(i as u64, PageSize::K4))
                .unwrap();
        }
        assert_eq!(pt.footprint().collisions, 2);
        // Chain of slot 0 is frame 3 -> 1 -> 0; of slot 1, frame 2 alone.
        assert_eq!(walk(&pt, &mem, zero[0]).1, 4);
        assert_eq!(walk(&pt, &mem, one).1, 2);
        // Remapping to the same frame rewrites in place (no insertion); to a new one inserts.
        let writes = mem.writes();
        pt.map(
            &mut mem,
            Vpn(one),
            Pte {
                perms: Perms::from_bits(5),
                ..pte(2, PageSize::K4)
            },
        )
        .unwrap();
        assert_eq!(mem.writes(), writes + 1);
        assert_eq!(pt.footprint().collisions, 2);
        pt.map(&mut mem, Vpn(zero[0]), pte(9, PageSize::K4))
            .unwrap();
        assert_eq!(
            pt.footprint().collisions,
            3,
            "slot 0 still anchors frames 3 and 1"
        );
        assert_eq!(pt.footprint().entries, 4);
        assert_eq!(walk(&pt, &mem, zero[0]), (Some(pte(9, PageSize::K4)), 2, 1));
    }

    #[test]
    fn remapping_in_the_middle_of_a_sequence_keeps_every_mapping() {
        // No resizes here: the sequence's middle step moves a page to another frame instead.
        let (mut pt, mut mem) = table(1 << 12, 4);
        for v in 0..100u64 {
            pt.map(&mut mem, Vpn(v * 7), pte(v, PageSize::K4)).unwrap();
        }
        pt.map(&mut mem, Vpn(50 * 7), pte(2000, PageSize::K4))
            .unwrap();
        assert!(
            pt.map(&mut mem, Vpn(5000), pte(50, PageSize::K4)).is_ok(),
            "frame 50 is free again"
        );
        for v in 100..200u64 {
            pt.map(&mut mem, Vpn(v * 7), pte(v, PageSize::K4)).unwrap();
        }
        for v in 0..200u64 {
            let want = if v == 50 { 2000 } else { v };
            assert_eq!(
                walk(&pt, &mem, v * 7).0,
                Some(pte(want, PageSize::K4)),
                "vpn {}",
                v * 7
            );
        }
        let fp = pt.footprint();
        assert_eq!((fp.entries, fp.moved_entries, fp.resizes), (201, 0, 0));
        // 202 insertions (the move of vpn 350 is one), into 4 slots: all but the first of each
        // slot collided.
        assert_eq!(fp.collisions, 202 - 4);
    }

    #[test]
    fn huge_and_base_pages_mixed() {
        let (mut pt, mut mem) = table(1 << 20, 1);
        assert_eq!(pt.page_sizes(), &[PageSize::K4, PageSize::M2, PageSize::G1]);
        let m2 = pte(0x400, PageSize::M2);
        let g1 = pte(0x40000, PageSize::G1);
        pt.map(&mut mem, Vpn(0x200), m2).unwrap();
        pt.map(&mut mem, Vpn(0x1), pte(0x1, PageSize::K4)).unwrap();
        pt.map(&mut mem, Vpn(0x40000), g1).unwrap();
        // Chain: 1 GiB (frame 0x40000) -> 4 KiB (frame 1) -> 2 MiB (frame 0x400). Sizes are tried
        // smallest first, each costing the anchor plus the chain up to the match.
        assert_eq!(walk(&pt, &mem, 0x1), (Some(pte(1, PageSize::K4)), 3, 2));
        assert_eq!(walk(&pt, &mem, 0x3ff), (Some(m2), 4 + 4, 3 + 3));
        assert_eq!(walk(&pt, &mem, 0x40123), (Some(g1), 4 + 4 + 2, 3 + 3 + 1));
        assert_eq!(walk(&pt, &mem, 0x2), (None, 12, 9));
        assert_eq!(m2.frame_of(Vpn(0x3ff), 12), Pfn(0x5ff));
        // Virtual overlaps, either way round.
        for (vpn, p) in [
            (0x201, pte(0x7, PageSize::K4)),
            (0x0, pte(0x800, PageSize::M2)),
            (0x40200, pte(0x800, PageSize::M2)),
            (0x0, pte(0x80000, PageSize::G1)),
            (0x200, pte(0x400, PageSize::K4)),
        ] {
            assert!(
                matches!(pt.map(&mut mem, Vpn(vpn), p), Err(MapError::Overlap { .. })),
                "{vpn:#x} {p:?}"
            );
        }
        assert!(matches!(
            pt.map(&mut mem, Vpn(0x600), pte(0x401, PageSize::M2)),
            Err(MapError::Misaligned { .. })
        ));
        // Same page and size again: replaced, count unchanged.
        pt.map(&mut mem, Vpn(0x200), pte(0x600, PageSize::M2))
            .unwrap();
        assert_eq!(pt.footprint().entries, 3);
        assert_eq!(
            pt.unmap(&mut mem, Vpn(0x300)).unwrap(),
            Some(pte(0x600, PageSize::M2))
        );
        assert_eq!(walk(&pt, &mem, 0x200).0, None);
        assert_eq!(pt.unmap(&mut mem, Vpn(0x7ffff)).unwrap(), Some(g1));
        // Only 4 KiB pages remain: a walk tries that one size.
        assert_eq!(walk(&pt, &mem, 0x40000), (None, 2, 1));
        assert_eq!(pt.footprint().entries, 1);
    }

    #[test]
    fn a_frame_cannot_back_two_pages() {
        let (mut pt, mut mem) = table(1 << 20, 1 << 20);
        pt.map(&mut mem, Vpn(0x200), pte(0x400, PageSize::M2))
            .unwrap();
        pt.map(&mut mem, Vpn(0x1), pte(0x1, PageSize::K4)).unwrap();
        let msg = |r: Result<(), MapError>| match r {
            Err(MapError::Unsupported(m)) => m,
            other => panic!("expected Unsupported, got {other:?}"),
        };
        let m = msg(pt.map(&mut mem, Vpn(0x5000), pte(0x401, PageSize::K4)));
        assert!(
            m.contains("frame pfn:0x401") && m.contains("2MiB page at vpn:0x200"),
            "{m}"
        );
        // A page of the same size displaces the frame's owner (an alias): vpn 0x1 loses its
        // entry, vpn 0x5000 takes it; then 0x1 takes it back.
        pt.map(&mut mem, Vpn(0x5000), pte(0x1, PageSize::K4))
            .unwrap();
        assert_eq!(walk(&pt, &mem, 0x1).0, None);
        assert_eq!(walk(&pt, &mem, 0x5000).0, Some(pte(0x1, PageSize::K4)));
        assert_eq!(pt.displaced(), 1);
        pt.map(&mut mem, Vpn(0x1), pte(0x1, PageSize::K4)).unwrap();
        assert_eq!(walk(&pt, &mem, 0x5000).0, None);
        assert_eq!(pt.displaced(), 2);
        assert_eq!(pt.footprint().entries, 2);
        let m = msg(pt.map(&mut mem, Vpn(0x800), pte(0x0, PageSize::M2)));
        assert!(
            m.contains("frame pfn:0x1 ") && m.contains("at vpn:0x1,"),
            "{m}"
        );
        let m = msg(pt.map(&mut mem, Vpn(0x80000), pte(0x0, PageSize::G1)));
        assert!(
            m.contains("frame pfn:0x1 ") && m.contains("at vpn:0x1,"),
            "{m}"
        );
        pt.map(&mut mem, Vpn(0x2), pte(0x600, PageSize::K4))
            .unwrap();
        let m = msg(pt.map(&mut mem, Vpn(0xc0000), pte(0x0, PageSize::G1)));
        assert!(
            m.contains("frame pfn:0x1 "),
            "the lowest owned frame is named: {m}"
        );
        assert_eq!(pt.footprint().entries, 3, "refused maps change nothing");
        // Once the owner is gone, the frame is free.
        pt.unmap(&mut mem, Vpn(0x1)).unwrap();
        pt.map(&mut mem, Vpn(0x5000), pte(0x1, PageSize::K4))
            .unwrap();
        assert_eq!(walk(&pt, &mem, 0x5000).0, Some(pte(0x1, PageSize::K4)));
    }

    #[test]
    fn unmap_removes_from_the_head_middle_and_tail_of_a_chain() {
        let (mut pt, mut mem) = table(16, 1);
        for i in 1..=4u64 {
            pt.map(&mut mem, Vpn(i << 4), pte(i, PageSize::K4)).unwrap();
        }
        // Chain 4 -> 3 -> 2 -> 1.
        assert_eq!(
            pt.unmap(&mut mem, Vpn(0x30)).unwrap(),
            Some(pte(3, PageSize::K4))
        );
        assert_eq!(walk(&pt, &mem, 0x10), (Some(pte(1, PageSize::K4)), 4, 3));
        assert_eq!(
            pt.unmap(&mut mem, Vpn(0x40)).unwrap(),
            Some(pte(4, PageSize::K4))
        );
        assert_eq!(
            mem.peek(pt.hat_base(), EntryWidth::U64),
            3,
            "head now frame 2"
        );
        assert_eq!(
            pt.unmap(&mut mem, Vpn(0x10)).unwrap(),
            Some(pte(1, PageSize::K4))
        );
        assert_eq!(walk(&pt, &mem, 0x20), (Some(pte(2, PageSize::K4)), 2, 1));
        assert_eq!(walk(&pt, &mem, 0x10), (None, 2, 1));
        assert_eq!(pt.unmap(&mut mem, Vpn(0x10)).unwrap(), None);
        assert_eq!(
            pt.unmap(&mut mem, Vpn(0x20)).unwrap(),
            Some(pte(2, PageSize::K4))
        );
        assert_eq!(mem.peek(pt.hat_base(), EntryWidth::U64), 0);
        assert_eq!(pt.footprint().entries, 0);
        assert_eq!(walk(&pt, &mem, 0x20), (None, 0, 0));
        let e = pt.ipt_base();
        assert_eq!(
            mem.peek(PhysAddr(e.0 + 2 * 16), EntryWidth::U64),
            0,
            "entry cleared"
        );
    }

    #[test]
    fn top_of_the_address_range_and_wider_addresses() {
        let (mut pt, mut mem) = table(1 << 20, 1 << 10);
        let top = (1u64 << 36) - 1;
        pt.map(&mut mem, Vpn(top), pte(5, PageSize::K4)).unwrap();
        pt.map(
            &mut mem,
            Vpn(top + 1 - (1 << 18)),
            pte(0x40000, PageSize::G1),
        )
        .unwrap_err();
        pt.map(
            &mut mem,
            Vpn(top + 1 - (1 << 19)),
            pte(0x40000, PageSize::G1),
        )
        .unwrap();
        assert_eq!(walk(&pt, &mem, top).0, Some(pte(5, PageSize::K4)));
        assert_eq!(
            walk(&pt, &mem, top - (1 << 18)).0,
            Some(pte(0x40000, PageSize::G1))
        );
        assert!(matches!(
            pt.map(&mut mem, Vpn(top + 1), pte(6, PageSize::K4)),
            Err(MapError::AddressTooWide { va_bits: 48, .. })
        ));
        assert!(matches!(
            pt.unmap(&mut mem, Vpn(top + 1)),
            Err(MapError::AddressTooWide { .. })
        ));
        assert_eq!(
            walk(&pt, &mem, top + 1),
            (None, 0, 0),
            "outside the space: nothing read"
        );
        assert_eq!(walk(&pt, &mem, u64::MAX), (None, 0, 0));

        let mut mem = PhysMem::new(12, 52).unwrap();
        let cfg = InvertedConfig {
            va_bits: 64,
            frames: 1 << 10,
            hat: 1 << 10,
            ..InvertedConfig::DEFAULT
        };
        let mut pt = Inverted::new(cfg, &mut mem).unwrap();
        let top = u64::MAX >> 12;
        pt.map(&mut mem, Vpn(top), pte(7, PageSize::K4)).unwrap();
        assert_eq!(walk(&pt, &mem, top), (Some(pte(7, PageSize::K4)), 2, 1));
        assert!(pt
            .map(&mut mem, Vpn(top + 1), pte(8, PageSize::K4))
            .is_err());
    }

    #[test]
    fn frames_beyond_the_table_are_refused_and_reported_as_the_limit() {
        let (mut pt, mut mem) = table(16, 16);
        assert_eq!(pt.frame_limit(), Some(16));
        pt.map(&mut mem, Vpn(1), pte(15, PageSize::K4)).unwrap();
        assert_eq!(
            pt.map(&mut mem, Vpn(2), pte(16, PageSize::K4)),
            Err(MapError::FrameTooWide(Pfn(16)))
        );
        assert_eq!(
            pt.map(&mut mem, Vpn(0x200), pte(0, PageSize::M2)),
            Err(MapError::FrameTooWide(Pfn(0))),
            "a 2 MiB page needs 512 frames"
        );
        let (mut pt, mut mem) = table(1 << 10, 16);
        pt.map(&mut mem, Vpn(0x200), pte(0x200, PageSize::M2))
            .unwrap();
        assert_eq!(
            pt.map(&mut mem, Vpn(0x400), pte(0x400, PageSize::M2)),
            Err(MapError::FrameTooWide(Pfn(0x400)))
        );
    }

    #[test]
    fn permissions_round_trip() {
        let (mut pt, mut mem) = table(1 << 10, 1 << 10);
        for (i, perms) in [
            Perms::R,
            Perms::RW,
            Perms::from_bits(5),
            Perms::RWX,
            Perms::NONE,
        ]
        .into_iter()
        .enumerate()
        {
            let p = Pte {
                perms,
                ..pte(i as u64, PageSize::K4)
            };
            pt.map(&mut mem, Vpn(i as u64 + 100), p).unwrap();
            assert_eq!(walk(&pt, &mem, i as u64 + 100).0, Some(p));
        }
    }

    #[test]
    fn the_whole_table_is_reserved_but_only_touched_frames_exist() {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let mut pt = InvertedConfig::DEFAULT.build(&mut mem).unwrap();
        let fp = pt.footprint();
        assert_eq!(fp.table_bytes, (16 << 20) + (8 << 20));
        assert_eq!(fp.table_pages, 4096 + 2048);
        assert_eq!(mem.table_frames(), 6144);
        assert_eq!(mem.materialised_frames(), 0);
        pt.map(&mut mem, Vpn(0x12345), pte(0x777, PageSize::K4))
            .unwrap();
        assert_eq!(mem.materialised_frames(), 2, "one IPT frame, one HAT frame");
        assert_eq!(pt.footprint().load_factor(), 1.0 / (1 << 20) as f64);
        // Consecutive pages spread over the anchors.
        for v in 0..1000u64 {
            pt.map(&mut mem, Vpn(0x100000 + v), pte(v, PageSize::K4))
                .unwrap();
        }
        assert!(
            pt.footprint().collisions <= 5,
            "{}",
            pt.footprint().collisions
        );
        let (small, mut mem) = table(16, 1);
        assert_eq!(small.footprint().table_bytes, 16 * 16 + 8);
        assert_eq!(
            small.footprint().table_pages,
            2,
            "each table rounds up to a frame"
        );
        let _ = &mut mem;
    }

    #[test]
    fn bad_geometries_are_refused() {
        let ok = InvertedConfig::DEFAULT;
        assert!(ok.validate().is_ok());
        let bad = |c: InvertedConfig| c.validate().unwrap_err();
        assert!(bad(InvertedConfig { frames: 1000, ..ok }).contains("power of two"));
        assert!(bad(InvertedConfig { frames: 8, ..ok }).contains("from 16"));
        assert!(bad(InvertedConfig {
            frames: 1 << 29,
            ..ok
        })
        .contains("2^28"));
        assert!(bad(InvertedConfig { hat: 0, ..ok }).contains("hat=0"));
        assert!(bad(InvertedConfig { hat: 3, ..ok }).contains("hat=3"));
        assert!(bad(InvertedConfig { pobits: 3, ..ok }).contains("pobits=3"));
        assert!(bad(InvertedConfig { va_bits: 12, ..ok }).contains("va_bits=12"));
        assert!(bad(InvertedConfig { va_bits: 65, ..ok }).contains("va_bits=65"));
        let mut mem = PhysMem::new(14, 52).unwrap();
        assert!(matches!(
            Inverted::new(ok, &mut mem),
            Err(MapError::Memory(MemError::Geometry(_)))
        ));
        assert_eq!(
            ok.to_params(),
            vec![
                ("pobits", "12".to_string()),
                ("va_bits", "48".to_string()),
                ("frames", "auto".to_string()),
                ("hat", "frames".to_string()),
            ]
        );
        let fixed = InvertedConfig { grow: false, ..ok };
        assert_eq!(fixed.to_params()[2].1, "1048576");
        assert_eq!(InvertedConfig { hat: 16, ..ok }.to_params()[3].1, "16");
    }

    #[test]
    fn base_pages_of_2_mib_offer_two_sizes() {
        let mut mem = PhysMem::new(21, 52).unwrap();
        let cfg = InvertedConfig {
            pobits: 21,
            frames: 1 << 10,
            hat: 16,
            ..InvertedConfig::DEFAULT
        };
        let mut pt = Inverted::new(cfg, &mut mem).unwrap();
        assert_eq!(pt.page_sizes(), &[PageSize::M2, PageSize::G1]);
        pt.map(&mut mem, Vpn(512), pte(512, PageSize::G1)).unwrap();
        assert_eq!(walk(&pt, &mem, 700).0, Some(pte(512, PageSize::G1)));
        assert_eq!(
            pt.map(&mut mem, Vpn(1), pte(1, PageSize::K4)),
            Err(MapError::UnsupportedPageSize(PageSize::K4))
        );
    }

    #[test]
    fn auto_tables_grow_to_cover_the_frames_mapped_and_relink_every_entry() {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let cfg = InvertedConfig {
            frames: 16,
            hat: 16,
            ..InvertedConfig::DEFAULT
        };
        assert!(cfg.grow);
        let mut pt = Inverted::new(cfg, &mut mem).unwrap();
        assert_eq!(pt.frame_limit(), Some(MAX_FRAMES));
        for f in 0..4u64 {
            pt.map(&mut mem, Vpn(0x100 + f), pte(f, PageSize::K4))
                .unwrap();
        }
        // Frame 40 is beyond 16: the IPT and HAT grow to 64, re-linking the four entries.
        pt.map(&mut mem, Vpn(0x900), pte(40, PageSize::K4)).unwrap();
        let fp = pt.footprint();
        assert_eq!((fp.capacity, fp.resizes, fp.moved_entries), (64, 1, 4));
        assert_eq!(fp.table_bytes, 64 * 16 + 64 * 8);
        assert_eq!(
            (fp.table_pages, mem.table_frames()),
            (2, 2),
            "the old tables are freed"
        );
        assert_eq!(fp.entries, 5);
        // A 2 MiB page at frame 0x200 needs 0x400 frames.
        pt.map(&mut mem, Vpn(0x200), pte(0x200, PageSize::M2))
            .unwrap();
        let fp = pt.footprint();
        assert_eq!((fp.capacity, fp.resizes, fp.moved_entries), (1024, 2, 9));
        for f in 0..4u64 {
            assert_eq!(walk(&pt, &mem, 0x100 + f).0, Some(pte(f, PageSize::K4)));
        }
        assert_eq!(walk(&pt, &mem, 0x900).0, Some(pte(40, PageSize::K4)));
        assert_eq!(walk(&pt, &mem, 0x3ff).0, Some(pte(0x200, PageSize::M2)));
        assert_eq!(
            pt.map(&mut mem, Vpn(0x5000), pte(MAX_FRAMES, PageSize::K4)),
            Err(MapError::Unsupported(
                "inverted table: frame pfn:0x10000000 is beyond the largest table of 268435456 \
                 (2^28) frames"
                    .to_string()
            ))
        );
    }

    #[test]
    fn a_fixed_hat_keeps_its_slots_and_chains_are_rebuilt_in_frame_order() {
        let mut mem = PhysMem::new(12, 52).unwrap();
        let cfg = InvertedConfig {
            frames: 16,
            hat: 1,
            ..InvertedConfig::DEFAULT
        };
        let mut pt = Inverted::new(cfg, &mut mem).unwrap();
        for f in [3u64, 1, 2] {
            pt.map(&mut mem, Vpn(0x100 + f), pte(f, PageSize::K4))
                .unwrap();
        }
        pt.map(&mut mem, Vpn(0x900), pte(40, PageSize::K4)).unwrap();
        // Chain after the rebuild (ascending frames, each at the head): 3 -> 2 -> 1; then frame
        // 40 inserted at the head.
        assert_eq!(walk(&pt, &mem, 0x900), (Some(pte(40, PageSize::K4)), 2, 1));
        assert_eq!(walk(&pt, &mem, 0x103).1, 3);
        assert_eq!(walk(&pt, &mem, 0x102).1, 4);
        assert_eq!(walk(&pt, &mem, 0x101), (Some(pte(1, PageSize::K4)), 5, 4));
        let fp = pt.footprint();
        assert_eq!((fp.capacity, fp.resizes, fp.moved_entries), (64, 1, 3));
        assert_eq!(fp.table_bytes, 64 * 16 + 8);
        assert_eq!(fp.collisions, 3, "re-linking is not a collision");
    }
}
