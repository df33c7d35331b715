/*
 * C reference for bench/cma-bw.ts: process_vm_readv bandwidth between two processes.
 *
 * fork()s an owner child that allocates and touches the source buffer and hands its address
 * over a pipe; the parent reads it with process_vm_readv into a pre-touched, reused
 * destination buffer. The benchmark drives it sample by sample, interleaved with its own
 * measurements, so that noise from other load hits both alike.
 *
 * Usage: cma_bw <plain|huge> <max-bytes>
 * Prints "ready", then for every stdin line "<size> <iters>" copies the first <size> bytes
 * <iters> times back to back and prints the elapsed seconds. Exits at end of input.
 *
 * plain: calloc'd memory (what V8 uses for ArrayBuffers); huge: 2 MiB-aligned mmap with
 * MADV_HUGEPAGE (what allocBuffer() does).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HUGE_SZ (2UL << 20)

static void *alloc_buf(size_t n, int huge, int fill) {
  char *p;
  if (!huge) {
    p = calloc(1, n);
    if (!p) { perror("calloc"); exit(1); }
  } else {
    size_t len = (n + HUGE_SZ - 1) / HUGE_SZ * HUGE_SZ;
    char *raw = mmap(NULL, len + HUGE_SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) { perror("mmap"); exit(1); }
    p = (char *)(((uintptr_t)raw + HUGE_SZ - 1) & ~(HUGE_SZ - 1));
    if (madvise(p, len, MADV_HUGEPAGE) != 0) perror("madvise(MADV_HUGEPAGE)");
  }
  for (size_t i = 0; i < n; i++) p[i] = (char)(i * 31 + fill); /* touch every page */
  return p;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void copy_once(pid_t pid, char *dst, char *src, size_t size) {
  size_t done = 0;
  while (done < size) {
    struct iovec l = {dst + done, size - done}, r = {src + done, size - done};
    ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (n <= 0) { fprintf(stderr, "process_vm_readv: %s\n", strerror(errno)); exit(1); }
    done += (size_t)n;
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <plain|huge> <max-bytes>\n", argv[0]);
    return 2;
  }
  int huge = strcmp(argv[1], "huge") == 0;
  size_t max = strtoull(argv[2], NULL, 10);
  int c2p[2], p2c[2];
  if (pipe(c2p) || pipe(p2c)) { perror("pipe"); return 1; }
  pid_t child = fork();
  if (child < 0) { perror("fork"); return 1; }
  if (child == 0) {
    close(c2p[0]);
    close(p2c[1]);
    char *src = alloc_buf(max, huge, 7);
    if (write(c2p[1], &src, sizeof src) != sizeof src) _exit(1);
    char c;
    while (read(p2c[0], &c, 1) > 0) {} /* until the parent closes the pipe */
    _exit(0);
  }
  close(c2p[1]);
  close(p2c[0]);
  char *src;
  if (read(c2p[0], &src, sizeof src) != sizeof src) { fprintf(stderr, "owner failed\n"); return 1; }
  char *dst = alloc_buf(max, huge, 1);
  printf("ready\n");
  fflush(stdout);
  size_t size;
  long iters;
  while (scanf("%zu %ld", &size, &iters) == 2) {
    if (size > max || iters < 1) { fprintf(stderr, "bad request %zu %ld\n", size, iters); return 1; }
    double t0 = now();
    for (long i = 0; i < iters; i++) copy_once(child, dst, src, size);
    printf("%.9f\n", now() - t0);
    fflush(stdout);
  }
  close(p2c[1]);
  waitpid(child, NULL, 0);
  return 0;
}
