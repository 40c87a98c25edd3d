/* The geometry of the page table, as in the multi-level page-table assignment.
 *
 * libmlpt fixes LEVELS and POBITS when it is built (cargo build -p ptbench-mlpt --release reads
 * MLPT_LEVELS and MLPT_POBITS, defaults 4 and 12). This header gives the defaults; code compiled
 * against a library built with other values passes the same values here, as plain integers:
 *     cc -DLEVELS=3 -DPOBITS=9 ...
 * mlpt.h checks the match at link time: a mismatch is an undefined reference to
 * mlpt_config_levels_<LEVELS>_pobits_<POBITS>.
 */
#ifndef CONFIG_H
#define CONFIG_H

/* Number of levels of page tables, 1 to 6. */
#ifndef LEVELS
#define LEVELS 4
#endif

/* log2 of the page size in bytes, 4 to 18. Every table is one page of 8-byte entries. */
#ifndef POBITS
#define POBITS 12
#endif

#endif
