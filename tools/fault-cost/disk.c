/* Random 4 KiB O_DIRECT reads of a file: what a swap-in's read costs, in TSC cycles. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FILE (a few GiB, not in the page cache)\n", argv[0]);
    return 2;
  }
  int fd = open(argv[1], O_RDONLY | O_DIRECT);
  if (fd < 0) { perror("open"); return 1; }
  off_t size = lseek(fd, 0, SEEK_END);
  size_t pages = size / 4096;
  if (pages == 0) { fprintf(stderr, "%s: smaller than 4 KiB\n", argv[1]); return 1; }
  void *buf = NULL;
  if (posix_memalign(&buf, 4096, 4096) != 0) { perror("posix_memalign"); return 1; }
  int n = 2000;
  struct timespec t0, t1;
  srand(42);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned long long a = __rdtsc();
  for (int i = 0; i < n; i++) {
    off_t o = (off_t)(((unsigned long long)rand() * RAND_MAX + rand()) % pages) * 4096;
    if (pread(fd, buf, 4096, o) != 4096) { perror("pread"); return 1; }
  }
  unsigned long long b = __rdtsc();
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("4 KiB O_DIRECT random read: %.0f tsc cycles, %.1f us each\n", (double)(b - a) / n, ns / n / 1000);
  return 0;
}
