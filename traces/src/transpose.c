/* transpose: B = A^T for 1024 x 1024 doubles (8 MiB each), row by row, so every write to B
 * steps 8 KiB, two pages, past the last: the classic TLB-hostile stride over 16 MiB of data.
 * Deterministic. */
#include <stdio.h>
#include <stdlib.h>

#define N 1024

int main(void) {
    double *a = malloc(sizeof(double) * N * N), *b = malloc(sizeof(double) * N * N);
    if (!a || !b) return 1;
    for (int i = 0; i < N * N; i++) a[i] = (double)(i % 977);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) b[(size_t)j * N + i] = a[(size_t)i * N + j];
    double sum = 0;
    for (int i = 0; i < N; i += 7) sum += b[(size_t)i * N + (i * 3) % N];
    printf("%.0f\n", sum);
    free(a);
    free(b);
    return 0;
}
