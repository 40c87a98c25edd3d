/* listwalk.c - pointer-chasing walk over a randomly permuted linked list.
 *
 * Allocates NODES nodes of NODE_BYTES each (2 MiB total, i.e. 512 pages of
 * 4 KiB), links them in a pseudo-random order (fixed-seed LCG, so the trace
 * is deterministic), then walks the list PASSES times summing a payload
 * field.  Each step of the walk lands on an unrelated page, which makes this
 * a worst case for TLB / page-walk caches.
 *
 * Build: gcc -O1 -static -o listwalk listwalk.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#define NODES      8192
#define NODE_BYTES 256
#define PASSES     8

struct node {
    struct node *next;
    uint64_t value;
    char pad[NODE_BYTES - sizeof(struct node *) - sizeof(uint64_t)];
};

static uint32_t lcg_state = 12345u;
static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1103515245u + 12345u;
    return lcg_state >> 1;
}

int main(void)
{
    struct node *nodes = malloc(sizeof(struct node) * NODES);
    uint32_t *perm = malloc(sizeof(uint32_t) * NODES);
    if (!nodes || !perm)
        return 1;

    for (uint32_t i = 0; i < NODES; i++)
        perm[i] = i;
    for (uint32_t i = NODES - 1; i > 0; i--) {      /* Fisher-Yates */
        uint32_t j = lcg() % (i + 1);
        uint32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    for (uint32_t i = 0; i < NODES; i++) {
        struct node *n = &nodes[perm[i]];
        n->next = (i + 1 < NODES) ? &nodes[perm[i + 1]] : NULL;
        n->value = i;
    }

    uint64_t sum = 0;
    for (int p = 0; p < PASSES; p++)
        for (struct node *n = &nodes[perm[0]]; n; n = n->next)
            sum += n->value;

    printf("%llu\n", (unsigned long long)sum);
    free(perm);
    free(nodes);
    return 0;
}
