//! The multi-level page-table assignment's C API (`ptbr`, `translate`, `page_allocate`,
//! `allocate_page`, `page_deallocate`, declared in `include/mlpt.h`), built as `libmlpt.a` and
//! `libmlpt.so` on real memory.
//!
//! Layout: pages are `2^POBITS` bytes and every table is one page of 8-byte entries, so each of
//! the `LEVELS` levels indexes `POBITS - 3` bits of the virtual page number, root first; both are
//! fixed at build time (`MLPT_LEVELS`, `MLPT_POBITS`, see `build.rs`). Tables and data pages come
//! from `posix_memalign` with alignment and size `2^POBITS`, zeroed. An entry is the address of the
//! next table or of the data page with bit 0 (valid) set; `ptbr` is the root's address, 0 until the
//! first allocation. Address bits above `POBITS + LEVELS * (POBITS - 3)` are ignored; when that sum
//! exceeds 64 the top levels index only the bits that remain, and entry 0 where none remain.
//!
//! Cost model: `translate` reads one entry per level, stopping at the first invalid one. Allocating
//! reads the same path and allocates the missing tables below the first invalid entry plus the data
//! page (and the root on the first call). Deallocating reads the path, frees the data page, then
//! scans each table bottom up (up to `2^(POBITS-3)` entries) and frees it while it maps nothing; the
//! root is never freed, so after everything is deallocated one page (the root) remains.
//!
//! Relation to ptbench's radix design: the address split (which bits index which level) is
//! [`RadixConfig::index`], the same code the simulated [`Radix`](ptbench_pagetable::Radix) walks
//! with in the benchmarks, and the entry format is the same. `Radix` keeps its tables in simulated
//! frames (`PhysMem`) and never frees tables on unmap; here tables are real pages that C code
//! dereferences, so this crate walks them itself.

#[cfg(not(target_pointer_width = "64"))]
compile_error!("ptbench-mlpt needs 64-bit addresses: a PTE and a size_t are both 8 bytes");

use std::ffi::c_int;
use std::io::Write;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use ptbench_core::EntryWidth;
use ptbench_pagetable::RadixConfig;

mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}
pub use config::{LEVELS, POBITS};

/// The geometry the library was built with.
pub const CONFIG: RadixConfig = RadixConfig {
    levels: LEVELS,
    pobits: POBITS,
    entry: EntryWidth::U64,
};

const _: () = assert!(
    LEVELS >= 1 && LEVELS <= 6 && POBITS >= 4 && POBITS <= 18,
    "build.rs admits LEVELS 1..=6 and POBITS 4..=18 only"
);

/// What `translate` returns for an address whose page is not mapped: all ones.
pub const UNMAPPED: usize = usize::MAX;

/// An entry's valid bit.
pub const VALID: u64 = 1;

/// Where pages come from and go back to.
pub trait PageSource {
    /// The address of a new zeroed page of `2^pobits` bytes aligned to its size (never 0). Aborts
    /// the process if there is no memory.
    fn alloc(&mut self, pobits: u8) -> usize;
    /// Gives back a page that `alloc` returned.
    fn free(&mut self, page: usize);
}

/// Pages from `posix_memalign`, returned with `free`.
#[derive(Copy, Clone, Debug, Default)]
pub struct Posix;

impl PageSource for Posix {
    fn alloc(&mut self, pobits: u8) -> usize {
        let bytes = 1usize << pobits;
        let mut page: *mut libc::c_void = ptr::null_mut();
        // SAFETY: `page` is a valid out-pointer; the alignment is a power of two of at least 16
        // bytes, a multiple of sizeof(void *).
        let rc = unsafe { libc::posix_memalign(&mut page, bytes, bytes) };
        if rc != 0 || page.is_null() {
            let _ = writeln!(
                std::io::stderr(),
                "mlpt: posix_memalign of a {bytes}-byte page failed (error {rc}); aborting"
            );
            std::process::abort();
        }
        // SAFETY: posix_memalign returned `bytes` writable bytes at `page`.
        unsafe { ptr::write_bytes(page.cast::<u8>(), 0, bytes) };
        page.expose_provenance()
    }

    fn free(&mut self, page: usize) {
        // SAFETY: `page` came from `alloc`, i.e. from posix_memalign, and is freed once.
        unsafe { libc::free(ptr::with_exposed_provenance_mut(page)) }
    }
}

/// A radix page table in real memory, rooted at `root` (0: no table yet).
#[derive(Debug)]
pub struct Mlpt<S: PageSource> {
    cfg: RadixConfig,
    root: usize,
    source: S,
}

/// Checks that `cfg` is a geometry the assignment allows: 1 to 6 levels, POBITS 4 to 18, 8-byte
/// entries. Unlike [`RadixConfig::validate`], it admits geometries wider than 64 bits.
pub fn check_geometry(cfg: RadixConfig) -> Result<(), String> {
    if !(1..=6).contains(&cfg.levels) {
        return Err(format!("LEVELS={} is outside 1..=6", cfg.levels));
    }
    if !(4..=18).contains(&cfg.pobits) {
        return Err(format!("POBITS={} is outside 4..=18", cfg.pobits));
    }
    if cfg.entry != EntryWidth::U64 {
        return Err("the assignment's entries are 8 bytes".to_string());
    }
    Ok(())
}

impl<S: PageSource> Mlpt<S> {
    /// An empty table (no root yet) of geometry `cfg`, taking pages from `source`.
    pub fn new(cfg: RadixConfig, source: S) -> Result<Mlpt<S>, String> {
        check_geometry(cfg)?;
        Ok(Mlpt {
            cfg,
            root: 0,
            source,
        })
    }

    /// The root table's address (the ptbr), 0 before the first allocation.
    pub fn root(&self) -> usize {
        self.root
    }

    /// The page source.
    pub fn source(&self) -> &S {
        &self.source
    }

    fn offset_mask(&self) -> usize {
        (1usize << self.cfg.pobits) - 1
    }

    fn vpn(&self, va: usize) -> u64 {
        va as u64 >> self.cfg.pobits
    }

    /// The entry of `table` (a live page of this table) that `vpn` selects at `level`.
    fn slot(&self, table: usize, vpn: u64, level: u8) -> *mut u64 {
        // The index is below 2^(POBITS-3): the entry lies inside the page.
        let index = self.cfg.index(vpn, level) as usize;
        ptr::with_exposed_provenance_mut::<u64>(table).wrapping_add(index)
    }

    fn target(&self, entry: u64) -> usize {
        entry as usize & !self.offset_mask()
    }

    /// The address `va` maps to, or [`UNMAPPED`].
    pub fn translate(&self, va: usize) -> usize {
        if self.root == 0 {
            return UNMAPPED;
        }
        let vpn = self.vpn(va);
        let mut page = self.root;
        for level in 0..self.cfg.levels {
            // SAFETY: `page` is a table this Mlpt allocated and still owns.
            let e = unsafe { self.slot(page, vpn, level).read() };
            if e & VALID == 0 {
                return UNMAPPED;
            }
            page = self.target(e);
        }
        page | (va & self.offset_mask())
    }

    /// Maps the page containing `va` (allocating the root, missing tables and a zeroed data page);
    /// true if it was not mapped before.
    pub fn allocate(&mut self, va: usize) -> bool {
        if self.root == 0 {
            self.root = self.source.alloc(self.cfg.pobits);
        }
        let vpn = self.vpn(va);
        let mut table = self.root;
        let mut fresh = false;
        for level in 0..self.cfg.levels {
            let at = self.slot(table, vpn, level);
            // SAFETY: `table` is a table this Mlpt allocated and still owns.
            let e = unsafe { at.read() };
            if e & VALID != 0 {
                table = self.target(e);
                continue;
            }
            let page = self.source.alloc(self.cfg.pobits);
            // SAFETY: as above; the new page is aligned, so its low bits are free for VALID.
            unsafe { at.write(page as u64 | VALID) };
            table = page;
            fresh = true;
        }
        // Once one entry on the path was invalid, every entry below it is new, the leaf included.
        fresh
    }

    /// `allocate_page`'s contract: -1 if `start_va` is not page-aligned, else 1 if this call mapped
    /// the page and 0 if it was mapped already.
    pub fn allocate_page(&mut self, start_va: usize) -> c_int {
        if start_va & self.offset_mask() != 0 {
            -1
        } else {
            c_int::from(self.allocate(start_va))
        }
    }

    /// Unmaps the page containing `va`: frees the data page and every table, bottom up, that no
    /// longer maps anything, except the root. True if the page was mapped.
    pub fn deallocate(&mut self, va: usize) -> bool {
        if self.root == 0 {
            return false;
        }
        let vpn = self.vpn(va);
        let mut tables = [0usize; 6];
        let mut page = self.root;
        for level in 0..self.cfg.levels {
            tables[usize::from(level)] = page;
            // SAFETY: `page` is a table this Mlpt allocated and still owns.
            let e = unsafe { self.slot(page, vpn, level).read() };
            if e & VALID == 0 {
                return false;
            }
            page = self.target(e);
        }
        self.source.free(page);
        for level in (0..self.cfg.levels).rev() {
            let table = tables[usize::from(level)];
            // SAFETY: `table` is still live: only tables below it have been freed.
            unsafe { self.slot(table, vpn, level).write(0) };
            if level == 0 || !self.table_empty(table) {
                break;
            }
            self.source.free(table);
        }
        true
    }

    fn table_empty(&self, table: usize) -> bool {
        let entries = 1usize << self.cfg.index_bits();
        // SAFETY: a table is one live page of `entries` u64 entries.
        let all = unsafe {
            std::slice::from_raw_parts(ptr::with_exposed_provenance::<u64>(table), entries)
        };
        all.iter().all(|e| e & VALID == 0)
    }
}

/// Page table base register: the root table's address, 0 until the first allocation.
#[allow(non_upper_case_globals)]
#[no_mangle]
pub static ptbr: AtomicUsize = AtomicUsize::new(0);

/// Serialises the C API's calls.
static LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` on the table rooted at `ptbr`, then stores its root back into `ptbr`.
fn with_global<R>(f: impl FnOnce(&mut Mlpt<Posix>) -> R) -> R {
    let _guard = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let mut table = Mlpt {
        cfg: CONFIG,
        root: ptbr.load(Ordering::Relaxed),
        source: Posix,
    };
    let before = table.root;
    let out = f(&mut table);
    if table.root != before {
        ptbr.store(table.root, Ordering::Relaxed);
    }
    out
}

/// C: `size_t translate(size_t va)`: the address `va` maps to, or all ones if unmapped.
#[no_mangle]
pub extern "C" fn translate(va: usize) -> usize {
    with_global(|t| t.translate(va))
}

/// C: `void page_allocate(size_t va)`: maps the page containing `va` if it is not mapped.
#[no_mangle]
pub extern "C" fn page_allocate(va: usize) {
    with_global(|t| t.allocate(va));
}

/// C: `int allocate_page(size_t start_va)`: -1 if not page-aligned, 0 if already mapped, 1 if
/// this call mapped the page.
#[no_mangle]
pub extern "C" fn allocate_page(start_va: usize) -> c_int {
    with_global(|t| t.allocate_page(start_va))
}

/// C: `void page_deallocate(size_t va)`: frees the page containing `va` and every table left
/// empty except the root; nothing if unmapped.
#[no_mangle]
pub extern "C" fn page_deallocate(va: usize) {
    with_global(|t| t.deallocate(va));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real pages from posix_memalign, counted; frees what is left when dropped.
    #[derive(Default)]
    struct Counting {
        live: Vec<usize>,
        allocated: usize,
    }

    impl PageSource for Counting {
        fn alloc(&mut self, pobits: u8) -> usize {
            let page = Posix.alloc(pobits);
            assert_eq!(page % (1 << pobits), 0, "pages are aligned to their size");
            self.live.push(page);
            self.allocated += 1;
            page
        }

        fn free(&mut self, page: usize) {
            let at = self.live.iter().position(|&p| p == page);
            let at = at.expect("frees only pages it allocated, once");
            self.live.swap_remove(at);
            Posix.free(page);
        }
    }

    impl Drop for Counting {
        fn drop(&mut self) {
            for page in std::mem::take(&mut self.live) {
                Posix.free(page);
            }
        }
    }

    fn table(levels: u8, pobits: u8) -> Mlpt<Counting> {
        let cfg = RadixConfig {
            levels,
            pobits,
            entry: EntryWidth::U64,
        };
        Mlpt::new(cfg, Counting::default()).unwrap()
    }

    fn entry(table: usize, index: u64) -> u64 {
        // SAFETY: the tests read entries of live tables only.
        unsafe {
            ptr::with_exposed_provenance::<u64>(table)
                .add(index as usize)
                .read()
        }
    }

    fn valid_entries(t: &Mlpt<Counting>, table: usize) -> usize {
        (0..1u64 << t.cfg.index_bits())
            .filter(|&i| entry(table, i) & VALID != 0)
            .count()
    }

    fn live(t: &Mlpt<Counting>) -> usize {
        t.source().live.len()
    }

    #[test]
    fn the_assignments_example_allocates_5_5_6_8_pages_with_exact_entries() {
        let mut t = table(4, 12);
        assert_eq!(t.root(), 0);
        assert_eq!(t.translate(0x456789abcdef), UNMAPPED);
        assert!(t.allocate(0x456789abcdef));
        assert_eq!(t.source().allocated, 5);
        let root = t.root();
        assert_ne!(root, 0);
        // The path 0x8a, 0x19e, 0x4d, 0xbc: one valid entry per table, each (next page | 1).
        let mut page = root;
        for index in [0x8a, 0x19e, 0x4d, 0xbc] {
            assert_eq!(valid_entries(&t, page), 1);
            let e = entry(page, index);
            assert_eq!(e & 0xfff, 1, "only the valid bit below the page number");
            page = (e & !0xfff) as usize;
            assert!(t.source().live.contains(&page));
        }
        assert_eq!(t.translate(0x456789abcdef), page | 0xdef);

        assert!(!t.allocate(0x456789abcd00));
        assert_eq!(t.source().allocated, 5);
        let p1 = ptr::with_exposed_provenance_mut::<u32>(t.translate(0x456789abcd00));
        // SAFETY: translate returned an address inside a live, mapped data page.
        unsafe { p1.write(0xaabbccdd) };
        let p2 = ptr::with_exposed_provenance::<u16>(t.translate(0x456789abcd02));
        // SAFETY: as above.
        assert_eq!(unsafe { p2.read() }, 0xaabb);

        assert_eq!(t.translate(0x456789ab0000), UNMAPPED);
        assert!(t.allocate(0x456789ab0000));
        assert_eq!(t.source().allocated, 6);
        assert_ne!(t.translate(0x456789ab0000), UNMAPPED);
        assert!(t.allocate(0x456780000000));
        assert_eq!(t.source().allocated, 8);
        assert_eq!(t.root(), root);

        // Deallocating frees the data page and each table left empty, never the root.
        assert!(t.deallocate(0x456780000000));
        assert_eq!(live(&t), 6, "its data page and its leaf table");
        assert!(t.deallocate(0x456789ab0fff));
        assert_eq!(
            live(&t),
            5,
            "its data page only: the leaf table still maps 0x456789abc"
        );
        // SAFETY: the page of 0x456789abcd00 is still mapped.
        assert_eq!(unsafe { p2.read() }, 0xaabb);
        assert!(!t.deallocate(0x456789ab0000));
        assert!(t.deallocate(0x456789abcdef));
        assert_eq!(t.source().live, vec![root], "the root alone remains");
        assert_eq!(valid_entries(&t, root), 0);
        assert_eq!(t.root(), root);
        assert_eq!(t.translate(0x456789abcdef), UNMAPPED);
        // It starts over from the same root.
        assert!(t.allocate(0x456789abcdef));
        assert_eq!((t.source().allocated, live(&t)), (12, 5));
        assert_eq!(t.root(), root);
    }

    #[test]
    fn allocate_page_answers_minus_one_zero_or_one() {
        let mut t = table(4, 12);
        assert_eq!(t.allocate_page(0x1001), -1);
        assert_eq!((t.root(), t.source().allocated), (0, 0));
        assert_eq!(t.allocate_page(0x1000), 1);
        assert_eq!(t.allocate_page(0x1000), 0);
        assert_eq!(t.allocate_page(0x1fff), -1);
        assert_eq!(t.allocate_page(0x2000), 1);
        assert_eq!(t.source().allocated, 6);
    }

    /// Maps page 0, then for each level k the page whose level-k index alone is 1 (LEVELS - k
    /// new pages each: the tables below level k and the data page), then unmaps them all.
    #[test]
    fn every_geometry_allocates_the_tables_below_the_first_new_index() {
        for (levels, pobits) in [(1, 12), (2, 12), (3, 9), (4, 12), (6, 10), (1, 4), (6, 4)] {
            let mut t = table(levels, pobits);
            let at = format!("levels={levels} pobits={pobits}");
            assert!(t.allocate(0x5), "{at}");
            assert_eq!(live(&t), usize::from(levels) + 1, "{at}");
            let vas: Vec<usize> = (0..levels)
                .map(|k| 1 << (u32::from(pobits) + t.cfg.level_shift(k)))
                .collect();
            let mut expect = live(&t);
            for (k, &va) in vas.iter().enumerate() {
                assert_eq!(t.translate(va), UNMAPPED, "{at}");
                assert_eq!(t.allocate_page(va), 1, "{at}");
                expect += usize::from(levels) - k;
                assert_eq!(live(&t), expect, "{at} level {k}");
                let pa = t.translate(va + 3);
                assert_eq!(pa & ((1 << pobits) - 1), 3, "{at}");
                assert!(t.source().live.contains(&(pa - 3)), "{at}");
            }
            assert_eq!(valid_entries(&t, t.root()), 2, "{at}");
            for (k, &va) in vas.iter().enumerate().rev() {
                assert!(t.deallocate(va), "{at}");
                expect -= usize::from(levels) - k;
                assert_eq!(live(&t), expect, "{at} level {k}");
            }
            assert!(t.deallocate(0));
            assert_eq!(t.source().live, vec![t.root()], "{at}");
        }
    }

    #[test]
    fn geometries_wider_than_64_bits_index_entry_0_where_no_bits_remain() {
        // Six levels of 15 bits over 46-bit vpns: levels 0 and 1 have no bits, level 2 has bit 63.
        let mut t = table(6, 18);
        assert!(t.allocate(0x2345));
        assert_eq!(live(&t), 7);
        assert!(t.allocate((1 << 63) | 0x2345));
        assert_eq!(live(&t), 11, "tables at levels 3, 4, 5 and a data page");
        let mut page = t.root();
        for _ in 0..2 {
            assert_eq!(valid_entries(&t, page), 1);
            page = (entry(page, 0) & !0x3ffff) as usize;
        }
        assert_eq!(valid_entries(&t, page), 2);
        assert_eq!(t.translate(usize::MAX), UNMAPPED);
        let hi = t.translate((1 << 63) | 0x10);
        assert_eq!(hi & 0x3ffff, 0x10);
        assert_ne!(hi, t.translate(0x10));
        assert!(t.deallocate(1 << 63));
        assert_eq!(live(&t), 7);
    }

    #[test]
    fn address_bits_above_the_geometry_are_ignored() {
        let mut t = table(2, 12);
        assert!(t.allocate(0x1234));
        assert_eq!(t.translate(0xffff_0000_0000_1234), t.translate(0x1234));
        assert!(!t.allocate(0x8000_0000_0000_1000));
    }

    #[test]
    fn geometries_outside_the_assignment_are_rejected() {
        for (levels, pobits) in [(0, 12), (7, 12), (4, 3), (4, 19)] {
            let cfg = RadixConfig {
                levels,
                pobits,
                entry: EntryWidth::U64,
            };
            assert!(Mlpt::new(cfg, Posix).is_err(), "{levels}/{pobits}");
        }
        let narrow = RadixConfig {
            entry: EntryWidth::U32,
            ..RadixConfig::TWO_LEVEL
        };
        assert!(check_geometry(narrow).is_err());
        assert_eq!(check_geometry(CONFIG), Ok(()));
    }

    /// The only test that touches the C API's globals.
    #[test]
    fn the_c_api_keeps_its_table_at_ptbr() {
        assert_eq!(ptbr.load(Ordering::Relaxed), 0);
        let page = 1usize << POBITS;
        assert_eq!(translate(3 * page), UNMAPPED);
        assert_eq!(allocate_page(3 * page + 1), -1);
        assert_eq!(ptbr.load(Ordering::Relaxed), 0);
        page_allocate(3 * page + 1);
        let root = ptbr.load(Ordering::Relaxed);
        assert_ne!(root, 0);
        assert_eq!(root % page, 0);
        assert_eq!(allocate_page(3 * page), 0);
        assert_eq!(allocate_page(4 * page), 1);
        assert_eq!(translate(3 * page + 2) & (page - 1), 2);
        page_deallocate(3 * page);
        page_deallocate(4 * page + 5);
        assert_eq!(translate(3 * page), UNMAPPED);
        assert_eq!(translate(4 * page), UNMAPPED);
        assert_eq!(ptbr.load(Ordering::Relaxed), root);
        // Every page is deallocated: the root is the last page, from posix_memalign.
        Posix.free(root);
        ptbr.store(0, Ordering::Relaxed);
    }
}
