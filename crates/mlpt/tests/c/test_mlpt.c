/* Tests libmlpt through the assignment's C API, for the LEVELS and POBITS it is compiled with
 * (run.sh passes -DLEVELS -DPOBITS matching the library's MLPT_LEVELS and MLPT_POBITS).
 *
 * With -DMLPT_COUNT, link with -Wl,--wrap=posix_memalign -Wl,--wrap=free: the wrappers count the
 * pages the library allocates and keep the set of live ones, so the test checks exact page counts
 * and that page_deallocate gives pages back. Without it (the shared-library build, where --wrap
 * does not reach the library's calls) the counts are not checked.
 *
 * At the end every page is deallocated, the root alone remains, and the test frees it itself
 * (free((void *)ptbr); ptbr = 0;), so valgrind finds no block in use at exit.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlpt.h"

#define PAGE ((size_t)1 << POBITS)
#define IBITS (POBITS - 3)
#define NONE (~(size_t)0)

static int passed, failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                               \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

#ifdef MLPT_COUNT
#define COUNTING 1
#define MAX_LIVE 4096
/* volatile: the compiler takes free() for a builtin that leaves globals alone, but here it
 * updates them through __wrap_free. */
static void *live[MAX_LIVE];
static volatile size_t nlive;     /* pages from posix_memalign not freed yet */
static volatile size_t allocated; /* every posix_memalign that succeeded */
static volatile size_t odd_requests;

int __real_posix_memalign(void **out, size_t alignment, size_t size);
void __real_free(void *p);

int __wrap_posix_memalign(void **out, size_t alignment, size_t size) {
    int rc = __real_posix_memalign(out, alignment, size);
    if (alignment != PAGE || size != PAGE || nlive == MAX_LIVE) {
        odd_requests++;
    } else if (rc == 0) {
        allocated++;
        live[nlive++] = *out;
    }
    return rc;
}

void __wrap_free(void *p) {
    for (size_t i = 0; i < nlive; i++) {
        if (live[i] == p) {
            live[i] = live[--nlive];
            break;
        }
    }
    __real_free(p);
}
#else
#define COUNTING 0
static void *live[1];
static size_t nlive, allocated, odd_requests;
#endif

/* Expects the number of live pages to have changed by `delta` since `before`. */
#define EXPECT_DELTA(before, delta, what)                                                          \
    CHECK(!COUNTING || (long)nlive - (long)(before) == (long)(delta),                              \
          "%s: %ld pages, expected %ld", what, (long)nlive - (long)(before), (long)(delta))

/* The VPN shift of `level`'s index (0 = top table). */
static unsigned level_shift(int level) {
    return (unsigned)(LEVELS - 1 - level) * IBITS;
}

static size_t index_of(size_t va, int level) {
    unsigned s = level_shift(level);
    return s >= 64 ? 0 : ((va >> POBITS) >> s) & (((size_t)1 << IBITS) - 1);
}

/* The address whose `level` index is `index` and whose other indices and offset are 0. */
static size_t va_with_index(int level, size_t index) {
    unsigned s = level_shift(level) + POBITS;
    return s >= 64 ? 0 : index << s;
}

/* Walks the tables from ptbr as the hardware would, checking each valid PTE's format; the data
 * page's address, or NONE. `tables` (if not NULL) receives each level's table address. */
static size_t walk(size_t va, size_t *tables) {
    size_t table = ptbr;
    for (int level = 0; level < LEVELS; level++) {
        if (tables) tables[level] = table;
        size_t pte = ((const size_t *)table)[index_of(va, level)];
        if (!(pte & 1)) return NONE;
        CHECK((pte & (PAGE - 1)) == 1, "level %d PTE %#zx is (page number << POBITS) | 1", level,
              pte);
        table = pte & ~(PAGE - 1);
    }
    return table;
}

static int valid_entries(size_t table) {
    int n = 0;
    for (size_t i = 0; i < PAGE / 8; i++) n += (int)(((const size_t *)table)[i] & 1);
    return n;
}

static int page_is_zero(size_t page) {
    for (size_t i = 0; i < PAGE; i++)
        if (((const unsigned char *)page)[i] != 0) return 0;
    return 1;
}

/* Checks that va is mapped consistently: translate agrees with the walk and keeps the offset. */
static void check_mapped(size_t va, const char *what) {
    size_t pa = translate(va);
    CHECK(pa != NONE, "%s: %#zx is mapped", what, va);
    CHECK(pa == (walk(va, NULL) | (va & (PAGE - 1))), "%s: translate(%#zx) = %#zx is the walk's",
          what, va, pa);
}

/* The assignment's example, with its page counts (LEVELS 4, POBITS 12, starting from nothing). */
static void assignment_example(void) {
#if LEVELS == 4 && POBITS == 12
    CHECK(ptbr == 0, "no table yet");
    page_allocate(0x456789abcdef);
    CHECK(!COUNTING || allocated == 5, "4 tables and 1 data page: %zu", allocated);
    CHECK(ptbr != 0, "ptbr set");
    size_t root = ptbr;

    page_allocate(0x456789abcd00);
    CHECK(!COUNTING || allocated == 5, "same page: still 5, got %zu", allocated);

    int *p1 = (int *)translate(0x456789abcd00);
    *p1 = (int)0xaabbccdd;
    short *p2 = (short *)translate(0x456789abcd02);
    printf("example: %04hx\n", *p2);
    CHECK((unsigned short)*p2 == 0xaabb, "prints aabb, got %04hx", *p2);

    CHECK(translate(0x456789ab0000) == NONE, "unmapped page");
    page_allocate(0x456789ab0000);
    CHECK(!COUNTING || allocated == 6, "1 new data page: 6, got %zu", allocated);
    CHECK(translate(0x456789ab0000) != NONE, "now mapped");

    page_allocate(0x456780000000);
    CHECK(!COUNTING || allocated == 8, "a new leaf table and data page: 8, got %zu", allocated);
    CHECK(ptbr == root, "ptbr unchanged");
    printf("example: pages allocated 5, 5, 6, 8 -> %s\n",
           COUNTING ? (allocated == 8 ? "yes" : "NO") : "not counted");

    /* Deallocating frees the data page and each table left empty, never the top one. */
    size_t before = nlive;
    page_deallocate(0x456780000000);
    EXPECT_DELTA(before, -2, "data page and its leaf table");
    page_deallocate(0x456789ab0fff);
    EXPECT_DELTA(before, -3, "then a data page only");
    CHECK((unsigned short)*p2 == 0xaabb, "the other page keeps its bytes");
    page_deallocate(0x456789abcdef);
    EXPECT_DELTA(before, -7, "then a data page and 3 tables");
    CHECK(!COUNTING || (nlive == 1 && live[0] == (void *)ptbr), "the top table alone remains");
    CHECK(ptbr == root && valid_entries(ptbr) == 0, "ptbr unchanged, its table empty");
    CHECK(translate(0x456789abcdef) == NONE, "unmapped again");
#endif
}

/* Maps page 0, then for each level k the page whose level-k index alone is 1 (LEVELS - k new
 * pages each), and the last page of the address space; writes and reads them through translate;
 * unmaps them all. */
static void every_level(void) {
    int fresh = ptbr == 0;
    size_t before = nlive;

    CHECK(allocate_page(PAGE + 1) == -1, "not page-aligned");
    CHECK(allocate_page(1) == -1, "not page-aligned");
    EXPECT_DELTA(before, 0, "-1 allocates nothing");
    CHECK(fresh == (ptbr == 0), "-1 sets no ptbr");

    CHECK(allocate_page(0) == 1, "maps page 0");
    EXPECT_DELTA(before, LEVELS + fresh, "page 0: tables and a data page");
    CHECK(ptbr != 0 && ptbr % PAGE == 0, "ptbr %#zx is page-aligned", ptbr);
    size_t root = ptbr;
    size_t tables[LEVELS];
    size_t data0 = walk(0, tables);
    for (int level = 0; level < LEVELS; level++)
        CHECK(valid_entries(tables[level]) == 1, "level %d table maps one entry", level);
    CHECK(data0 != NONE && page_is_zero(data0), "the data page is zeroed");
    check_mapped(PAGE - 1, "page 0");
    CHECK(allocate_page(0) == 0, "already mapped");
    before = nlive;
    page_allocate(PAGE - 1);
    EXPECT_DELTA(before, 0, "same page");

    size_t vas[LEVELS + 1];
    for (int k = 0; k < LEVELS; k++) {
        vas[k] = va_with_index(k, 1);
        CHECK(translate(vas[k]) == NONE, "level %d: %#zx not mapped yet", k, vas[k]);
        before = nlive;
        CHECK(allocate_page(vas[k]) == 1, "level %d: maps %#zx", k, vas[k]);
        EXPECT_DELTA(before, LEVELS - k, "tables below the new index and a data page");
        check_mapped(vas[k] + PAGE / 2 + 1, "level-k page");
    }
    /* The last page of the address space: every index all ones, so a new path below the top. */
    unsigned width = POBITS + LEVELS * IBITS;
    vas[LEVELS] = (width >= 64 ? NONE : ((size_t)1 << width) - 1) & ~(PAGE - 1);
    before = nlive;
    page_allocate(vas[LEVELS] + PAGE - 1);
    EXPECT_DELTA(before, LEVELS, "last page");
    check_mapped(vas[LEVELS], "last page");
    CHECK(valid_entries(root) == 3, "top table maps pages 0, level 0's and the last");
    CHECK(ptbr == root, "ptbr unchanged");
    if (width < 64) {
        CHECK(translate(vas[0] | ((size_t)1 << 63)) == translate(vas[0]), "high bits ignored");
    }

    /* Write every byte of every page through translate, then read them back. */
    size_t all[LEVELS + 2];
    all[0] = 0;
    for (int k = 0; k <= LEVELS; k++) all[k + 1] = vas[k];
    for (int p = 0; p < LEVELS + 2; p++)
        for (size_t i = 0; i < PAGE; i++)
            *(unsigned char *)translate(all[p] + i) = (unsigned char)(i * 7 + (size_t)p * 31 + 1);
    int bad = 0;
    for (int p = 0; p < LEVELS + 2; p++)
        for (size_t i = 0; i < PAGE; i++)
            bad += *(unsigned char *)translate(all[p] + i) !=
                   (unsigned char)(i * 7 + (size_t)p * 31 + 1);
    CHECK(bad == 0, "%d bytes read back wrong", bad);

    /* Unmap in an order that frees tables at every level. */
    before = nlive;
    page_deallocate(vas[LEVELS] + 5);
    EXPECT_DELTA(before, -LEVELS, "last page and its tables below the top");
    CHECK(translate(vas[LEVELS]) == NONE, "last page unmapped");
    for (int k = LEVELS - 1; k >= 0; k--) {
        before = nlive;
        page_deallocate(vas[k]);
        EXPECT_DELTA(before, -(LEVELS - k), "level-k page and the tables it alone used");
        CHECK(translate(vas[k]) == NONE, "level %d page unmapped", k);
        check_mapped(0, "page 0 stays");
    }
    CHECK(*(unsigned char *)translate(3) == (unsigned char)(3 * 7 + 1), "page 0 kept its bytes");
    before = nlive;
    page_deallocate(0);
    EXPECT_DELTA(before, -LEVELS, "page 0 and every table but the top");
    page_deallocate(0);
    page_deallocate(vas[0]);
    EXPECT_DELTA(before, -LEVELS, "deallocating unmapped pages does nothing");
    CHECK(ptbr == root, "ptbr unchanged");
    CHECK(valid_entries(root) == 0, "the top table is empty");
    CHECK(!COUNTING || (nlive == 1 && live[0] == (void *)ptbr), "the top table alone remains");
}

/* The program may free the top table once everything is deallocated and start over. */
static void free_the_root(void) {
    size_t before = nlive;
    free((void *)ptbr);
    ptbr = 0;
    EXPECT_DELTA(before, -1, "the root");
    CHECK(translate(0) == NONE, "nothing mapped with ptbr 0");
    page_allocate(0x1234 & ~(PAGE - 1));
    EXPECT_DELTA(before, LEVELS, "a new root, tables and data page");
    CHECK(ptbr != 0, "a new root");
    page_deallocate(0x1234 & ~(PAGE - 1));
    free((void *)ptbr);
    ptbr = 0;
    EXPECT_DELTA(before, -1, "all pages given back");
    CHECK(!COUNTING || nlive == 0, "no page left: %zu", nlive);
    CHECK(odd_requests == 0, "every posix_memalign asked for a 2^POBITS-aligned 2^POBITS page");
}

int main(void) {
    CHECK(ptbr == 0, "ptbr 0 before the first allocation");
    CHECK(translate(0) == NONE && translate(0x456789abcdef) == NONE, "nothing mapped");
    assignment_example();
    every_level();
#ifdef MLPT_KEEP_ROOT /* run.sh checks that valgrind then reports the root as still reachable */
    if (0)
#endif
        free_the_root();
    printf("LEVELS=%d POBITS=%d: %d checks passed, %d failed; ", LEVELS, POBITS, passed, failed);
    if (COUNTING)
        printf("%zu pages allocated in all\n", (size_t)allocated);
    else
        printf("pages not counted\n");
    return failed != 0;
}
