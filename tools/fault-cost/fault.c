/* First touches of fresh anonymous pages: what a minor fault costs, in TSC cycles. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <x86intrin.h>

int main(void) {
  size_t n = 1 << 18; /* pages: 1 GiB */
  for (int rep = 0; rep < 10; rep++) {
    char *p = mmap(0, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    madvise(p, n * 4096, MADV_NOHUGEPAGE);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long long a = __rdtsc();
    for (size_t i = 0; i < n; i++) p[i * 4096] = 1;
    unsigned long long b = __rdtsc();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("minor fault: %.0f tsc cycles, %.0f ns per page (tsc %.2f GHz)\n", (double)(b - a) / n, ns / n, (b - a) / ns);
    munmap(p, n * 4096);
  }
  return 0;
}
