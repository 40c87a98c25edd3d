/* The multi-level page-table assignment's API, implemented by libmlpt (crates/mlpt of ptbench).
 *
 * Tables and data pages are real memory: each one is a page of 2^POBITS bytes from
 * posix_memalign(&p, 1 << POBITS, 1 << POBITS), zeroed. A table holds 2^(POBITS-3) 8-byte page
 * table entries (PTEs); a virtual address splits into LEVELS indices of POBITS-3 bits each, the
 * top table's first, then a POBITS-bit page offset. Address bits above those are ignored; when
 * POBITS + LEVELS*(POBITS-3) exceeds 64, the top levels get only the bits that remain (entry 0
 * when none remain). A PTE's bit 0 is the valid bit and its top 64-POBITS bits are the physical
 * page number of the next table or of the data page, so a valid PTE is (page address | 1).
 *
 * Not for concurrent use from several threads unless the caller serialises the calls (the
 * library serialises its own calls, but not the caller's reads and writes of ptbr or of pages).
 * If posix_memalign fails, the library prints a message to stderr and aborts.
 *
 * Build and link:  cargo build -p ptbench-mlpt --release
 *                  cc prog.c -Icrates/mlpt/include target/release/libmlpt.a
 */
#ifndef MLPT_H
#define MLPT_H

#include <stddef.h>
#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Page table base register: the address of the top table. 0 until the first allocation, then
 * the same for the life of the program (page_deallocate never frees the top table). */
extern size_t ptbr;

/* The physical (here: real) address va maps to, or all ones (~(size_t)0) if its page is not
 * mapped. */
size_t translate(size_t va);

/* Maps the page containing va, allocating the tables on the way that do not exist yet and a
 * zeroed data page; does nothing if that page is already mapped. */
void page_allocate(size_t va);

/* Maps the page starting at start_va like page_allocate. Returns -1 (and allocates nothing)
 * if start_va is not a multiple of 2^POBITS, 0 if the page was already mapped, 1 if this call
 * mapped it. */
int allocate_page(size_t start_va);

/* Unmaps the page containing va: frees its data page, then every table that no longer maps
 * anything, bottom up, except the top table (ptbr stays valid). Does nothing if that page is
 * not mapped. After every mapped page is deallocated exactly one page remains: the (all-zero)
 * top table at ptbr, which the program may free((void *)ptbr) and then set ptbr = 0 to start
 * over. Pointers into a deallocated page must not be used. */
void page_deallocate(size_t va);

/* Link-time check that this file's LEVELS and POBITS are the library's. */
#define MLPT_CONFIG_TAG_(l, p) mlpt_config_levels_##l##_pobits_##p
#define MLPT_CONFIG_TAG(l, p) MLPT_CONFIG_TAG_(l, p)
extern const unsigned char MLPT_CONFIG_TAG(LEVELS, POBITS);
#if defined(__GNUC__)
__attribute__((used))
#endif
static const unsigned char *const mlpt_config_check_ = &MLPT_CONFIG_TAG(LEVELS, POBITS);

#ifdef __cplusplus
}
#endif

#endif
