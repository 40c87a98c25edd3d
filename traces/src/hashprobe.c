/* hashprobe: an open-addressing hash table of 2^21 8-byte slots (16 MiB), 300,000 keys
 * inserted and 300,000 looked up (half present), so nearly every probe lands on a page the
 * previous one did not: a data footprint well past a TLB's reach. Deterministic (fixed seed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SLOTS (1u << 21)

static uint64_t next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int main(void) {
    uint64_t *t = calloc(SLOTS, sizeof *t);
    if (!t) return 1;
    uint64_t s = 42, found = 0;
    for (int i = 0; i < 300000; i++) {
        uint64_t k = next(&s) | 1;
        uint32_t h = (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 43);
        while (t[h] && t[h] != k) h = (h + 1) & (SLOTS - 1);
        t[h] = k;
    }
    s = 42;
    for (int i = 0; i < 300000; i++) {
        uint64_t k = (i & 1) ? (next(&s) | 1) : (next(&s) & ~1ull);
        uint32_t h = (uint32_t)((k * 0x9e3779b97f4a7c15ull) >> 43);
        while (t[h] && t[h] != k) h = (h + 1) & (SLOTS - 1);
        found += t[h] == k;
    }
    printf("%llu\n", (unsigned long long)found);
    free(t);
    return 0;
}
