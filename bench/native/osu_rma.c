/*
 * osu_rma: OSU-style one-sided loops under a real MPI, for bench/rma.ts --ompi. Ranks 0 and 1;
 * rank 0 is the origin, rank 1 the target, which only waits in the closing barrier of each
 * cell (passive target), except for the fence cells, where both ranks call MPI_Win_fence.
 * For each window flavour (MPI_Win_allocate "allocate", MPI_Win_create "create"):
 *
 *   put_lat / get_lat   8 B MPI_Put / MPI_Get + MPI_Win_flush inside MPI_Win_lock_all; µs per op
 *                       (fastest of 10 batches, as bench/rma.ts measures onecopy)
 *   fop_lat             MPI_Fetch_and_op (MPI_LONG, MPI_SUM) + flush; µs per op
 *   put_bw / get_bw     a window of `window` ops of `size` bytes, then MPI_Win_flush; MB/s
 *   put_bw_fence        the same ops between two MPI_Win_fence calls (active target); MB/s
 *
 * Usage: mpirun -np 2 osu_rma [--sizes 65536,1048576,...] [--window 8] [--scale 1.0]
 *          [--hugepages] [--cvar name,name]
 * Output (rank 0): one JSON object per line, {"type":"result","win":..,"op":..,"size":..,
 * "us":..,"mbps":..,"copyCalls":N}; copyCalls = the library's process_vm_readv/writev calls in
 * rank 0 during the cell (osu_common.h).
 */
#include "osu_common.h"

static int rank, huge = 0, window = 8;
static double scale = 1.0;

static long iters_for(size_t size) {
  long base = size <= 8 ? 5000 : size <= 65536 ? 200 : size <= (1 << 20) ? 40 : size <= (4 << 20) ? 12 : 4;
  long n = (long)(base * scale);
  return n < 3 ? 3 : n;
}

static void emit(const char *win, const char *op, size_t size, double us, double mbps, long calls) {
  if (rank != 0) return;
  printf("{\"type\":\"result\",\"win\":\"%s\",\"op\":\"%s\",\"size\":%zu,\"us\":%.4f,\"mbps\":%.2f,\"copyCalls\":%ld}\n", win, op, size, us, mbps, calls);
  fflush(stdout);
}

enum kind { PUT, GET, FOP };

/* Passive target: rank 0 runs iters ops of `size` bytes (per_flush per flush), rank 1 waits.
 * µs per flush: the fastest of 10 batches when there are 100 or more iterations (as bench/rma.ts). */
static double passive(MPI_Win w, enum kind k, char *buf, size_t size, int per_flush, long iters) {
  double best = 0;
  long result = 0, one = 1;
  if (rank == 0) {
    int batches = iters >= 100 ? 10 : 1;
    long per = iters / batches;
    best = 1e300;
    for (int b = -1; b < batches; b++) { /* batch -1: warm-up */
      double t = MPI_Wtime();
      for (long it = 0; it < per; it++) {
        for (int i = 0; i < per_flush; i++) {
          if (k == PUT) MPI_Put(buf, (int)size, MPI_BYTE, 1, 0, (int)size, MPI_BYTE, w);
          else if (k == GET) MPI_Get(buf, (int)size, MPI_BYTE, 1, 0, (int)size, MPI_BYTE, w);
          else MPI_Fetch_and_op(&one, &result, MPI_LONG, 1, 0, MPI_SUM, w);
        }
        MPI_Win_flush(1, w);
      }
      t = (MPI_Wtime() - t) * 1e6 / (double)per;
      if (b >= 0 && t < best) best = t;
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return best;
}

static void run_flavour(const char *name, size_t *sizes, int nsizes, size_t maxsize) {
  MPI_Win w;
  char *mem;
  char *buf = osu_alloc(maxsize * (size_t)window, huge, 1);
  if (strcmp(name, "allocate") == 0) {
    MPI_Win_allocate((MPI_Aint)maxsize, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &mem, &w);
  } else {
    mem = osu_alloc(maxsize, huge, 0);
    MPI_Win_create(mem, (MPI_Aint)maxsize, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &w);
  }
  memset(mem, 0, maxsize);
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Win_lock_all(0, w);
  long c0 = cma_calls;
  double us = passive(w, PUT, buf, 8, 1, iters_for(8));
  emit(name, "put_lat", 8, us, 0, cma_calls - c0);
  c0 = cma_calls;
  us = passive(w, GET, buf, 8, 1, iters_for(8));
  emit(name, "get_lat", 8, us, 0, cma_calls - c0);
  c0 = cma_calls;
  us = passive(w, FOP, buf, 8, 1, iters_for(8));
  emit(name, "fop_lat", 8, us, 0, cma_calls - c0);
  for (int s = 0; s < nsizes; s++) {
    size_t size = sizes[s];
    c0 = cma_calls;
    us = passive(w, PUT, buf, size, window, iters_for(size));
    emit(name, "put_bw", size, 0, rank == 0 ? (double)size * window / us : 0, cma_calls - c0);
    c0 = cma_calls;
    us = passive(w, GET, buf, size, window, iters_for(size));
    emit(name, "get_bw", size, 0, rank == 0 ? (double)size * window / us : 0, cma_calls - c0);
  }
  MPI_Win_unlock_all(w);
  for (int s = 0; s < nsizes; s++) {
    size_t size = sizes[s];
    long iters = iters_for(size);
    c0 = cma_calls;
    MPI_Win_fence(0, w);
    double t = 0;
    for (long it = -iters / 10 - 1; it < iters; it++) {
      if (it == 0) t = MPI_Wtime();
      if (rank == 0)
        for (int i = 0; i < window; i++) MPI_Put(buf, (int)size, MPI_BYTE, 1, 0, (int)size, MPI_BYTE, w);
      MPI_Win_fence(0, w);
    }
    t = (MPI_Wtime() - t) * 1e6 / (double)iters;
    emit(name, "put_bw_fence", size, 0, (double)size * window / t, cma_calls - c0);
  }
  MPI_Win_free(&w);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  size_t sizes[32] = {65536, 262144, 1048576, 4194304, 16777216};
  int nsizes = 5;
  char *cvars = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--hugepages") == 0) huge = 1;
    else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc) window = atoi(argv[++i]);
    else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) scale = atof(argv[++i]);
    else if (strcmp(argv[i], "--cvar") == 0 && i + 1 < argc) cvars = argv[++i];
    else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
      nsizes = 0;
      for (char *t = strtok(argv[++i], ","); t && nsizes < 32; t = strtok(NULL, ",")) sizes[nsizes++] = (size_t)atol(t);
    }
  }
  if (rank == 0 && cvars) print_cvars(cvars);
  size_t maxsize = 8;
  for (int s = 0; s < nsizes; s++) if (sizes[s] > maxsize) maxsize = sizes[s];
  run_flavour("allocate", sizes, nsizes, maxsize);
  run_flavour("create", sizes, nsizes, maxsize);
  MPI_Finalize();
  return 0;
}
