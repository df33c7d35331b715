/*
 * osu_lite: a small OSU-style point-to-point benchmark for a real MPI (bench/openmpi.ts runs it
 * with Open MPI next to onecopy's own bench/p2p.ts). Same method as bench/p2p.ts / OSU 7:
 *
 *   latency  osu_latency: ping-pong of one message; µs = half the round trip.
 *   bw       osu_bw: rank 0 posts a window of MPI_Isend, rank 1 a window of MPI_Irecv; rank 1
 *            acks each window with a 4-byte message; MB/s = 1e6 bytes/s of payload. Every
 *            message of a window reads the same send buffer and lands in the same receive
 *            buffer (as in osu_bw); the window is capped at --max-window-bytes per window.
 *
 * Iteration counts adapt to a time target (--target-ms, 2.5x that for latency) after a timed
 * warm-up (--warmup-ms); rank 0 decides and broadcasts them. Each (bench, size) is measured
 * --reps times.
 *
 * Usage: mpirun -np 2 osu_lite [--bench latency,bw] [--sizes 1,4,16,...] [--hugepages]
 *          [--window 64] [--max-window-bytes N] [--reps N] [--target-ms T] [--warmup-ms W]
 *          [--cvar name,name]
 * Output (rank 0, stdout): one JSON object per line:
 *   {"type":"header",...}
 *   {"type":"cvar","name":...,"value":...}      effective MPI_T control variables (--cvar)
 *   {"type":"result","bench":"bw","size":65536,"unit":"MB/s","samples":[...],"iters":[...],
 *    "window":64,"cmaCalls":N,"cmaBytes":N,"dataOk":true}
 * dataOk: the first and last byte of the last message arrived (buffers start out different).
 * cmaCalls/cmaBytes count process_vm_readv/writev calls made by the MPI library in both ranks
 * during the measurement: this executable defines (and exports, link with -rdynamic) both
 * functions, so the library's calls resolve here; they are counted and forwarded to the
 * kernel. The header's "cmaCounting" says whether the dynamic linker resolves the name to this
 * definition (it does not if the library issues the raw syscall itself; then 0 means nothing).
 *
 * --hugepages: buffers on 2 MiB-aligned anonymous memory with madvise(MADV_HUGEPAGE) (what
 * onecopy's allocBuffer() does); otherwise page-aligned memory (like osu_bw's default).
 * Buffers are touched before use.
 */
#include "osu_common.h"

#define MAX_SIZES 64
#define MAX_REPS 64

/* ------------------------------------------------------------------ options */
static int rank, want_lat = 1, want_bw = 1, huge = 0, window = 64, reps = 3;
static double target_ms = 40, warmup_ms = 400;
static size_t max_window_bytes = 256UL << 20;
static size_t sizes[MAX_SIZES];
static int nsizes = 0;
static char *sbuf, *rbuf;

static void *alloc_buf(size_t n) { return osu_alloc(n, huge, rank + 1); }

/* ------------------------------------------------------------------ one iteration */
static void step(int bench, size_t size, int win) {
  MPI_Request req[1024];
  int ack = 0;
  if (bench == 0) { /* latency */
    if (rank == 0) {
      MPI_Send(sbuf, (int)size, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
      MPI_Recv(rbuf, (int)size, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(rbuf, (int)size, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(sbuf, (int)size, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
    }
  } else { /* bw */
    if (rank == 0) {
      for (int i = 0; i < win; i++) MPI_Isend(sbuf, (int)size, MPI_CHAR, 1, 100, MPI_COMM_WORLD, &req[i]);
      MPI_Waitall(win, req, MPI_STATUSES_IGNORE);
      MPI_Recv(&ack, 1, MPI_INT, 1, 101, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      for (int i = 0; i < win; i++) MPI_Irecv(rbuf, (int)size, MPI_CHAR, 0, 100, MPI_COMM_WORLD, &req[i]);
      MPI_Waitall(win, req, MPI_STATUSES_IGNORE);
      MPI_Send(&ack, 1, MPI_INT, 0, 101, MPI_COMM_WORLD);
    }
  }
}

static double run(int bench, size_t size, int win, long iters) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t = MPI_Wtime();
  for (long i = 0; i < iters; i++) step(bench, size, win);
  return MPI_Wtime() - t; /* meaningful on rank 0 */
}

static void measure(int bench, size_t size) {
  int win = 1;
  if (bench == 1) {
    size_t w = max_window_bytes / (size ? size : 1);
    win = (int)(w < (size_t)window ? (w < 1 ? 1 : w) : (size_t)window);
  }
  double target = (bench == 0 ? 2.5 : 1.0) * target_ms / 1e3;
  /* Timed warm-up: batches of doubling size until warmup_ms has passed (rank 0 decides). */
  long n = 1;
  double spent = 0, per = 0;
  for (;;) {
    double t = run(bench, size, win, n);
    spent += t;
    per = t / n;
    int more = spent < warmup_ms / 1e3;
    MPI_Bcast(&more, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!more) break;
    n = n * 2 > 1 << 20 ? n : n * 2;
  }
  long iters = (long)(target / (per > 1e-9 ? per : 1e-9) + 0.5);
  if (iters < 3) iters = 3;
  if (iters > 100000) iters = 100000;
  MPI_Bcast(&iters, 1, MPI_LONG, 0, MPI_COMM_WORLD);

  double samples[MAX_REPS];
  long c0 = cma_calls, b0 = cma_bytes;
  for (int r = 0; r < reps; r++) {
    double t = run(bench, size, win, iters);
    samples[r] = bench == 0 ? t * 1e6 / (2.0 * iters) : (double)size * win * iters / t / 1e6;
  }
  /* The data arrived: rank 0's buffer holds 1s, rank 1's held 2s before the first message. */
  int bad = rank == 1 && size > 0 && (rbuf[0] != 1 || rbuf[size - 1] != 1), anybad = 0;
  long local[2] = {cma_calls - c0, cma_bytes - b0}, total[2];
  MPI_Reduce(local, total, 2, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  MPI_Reduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank == 0 && anybad) fprintf(stderr, "osu_lite: %s %zu: received data is wrong\n", bench == 0 ? "latency" : "bw", size);
  if (rank != 0) return;
  printf("{\"type\":\"result\",\"bench\":\"%s\",\"size\":%zu,\"unit\":\"%s\",\"window\":%d,\"samples\":[", bench == 0 ? "latency" : "bw",
         size, bench == 0 ? "us" : "MB/s", win);
  for (int r = 0; r < reps; r++) printf("%s%.6g", r ? "," : "", samples[r]);
  printf("],\"iters\":[");
  for (int r = 0; r < reps; r++) printf("%s%ld", r ? "," : "", iters);
  printf("],\"cmaCalls\":%ld,\"cmaBytes\":%ld,\"dataOk\":%s}\n", total[0], total[1], anybad ? "false" : "true");
  fflush(stdout);
}

/* ------------------------------------------------------------------ main */
int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int np;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  char *cvars = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--hugepages")) huge = 1;
    else if (!strcmp(a, "--bench") && v) want_lat = strstr(v, "latency") != NULL, want_bw = strstr(v, "bw") != NULL, i++;
    else if (!strcmp(a, "--window") && v) window = atoi(v), i++;
    else if (!strcmp(a, "--max-window-bytes") && v) max_window_bytes = strtoull(v, NULL, 10), i++;
    else if (!strcmp(a, "--reps") && v) reps = atoi(v), i++;
    else if (!strcmp(a, "--target-ms") && v) target_ms = atof(v), i++;
    else if (!strcmp(a, "--warmup-ms") && v) warmup_ms = atof(v), i++;
    else if (!strcmp(a, "--cvar") && v) cvars = strdup(v), i++;
    else if (!strcmp(a, "--sizes") && v) {
      char *s = strdup(v);
      for (char *t = strtok(s, ","); t && nsizes < MAX_SIZES; t = strtok(NULL, ",")) sizes[nsizes++] = strtoull(t, NULL, 10);
      free(s);
      i++;
    } else {
      if (rank == 0) fprintf(stderr, "osu_lite: unknown argument %s\n", a);
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
  }
  if (window < 1) window = 1;
  if (window > 1024) window = 1024;
  if (reps < 1) reps = 1;
  if (reps > MAX_REPS) reps = MAX_REPS;
  if (nsizes == 0)
    for (size_t s = 1; s <= 64UL << 20; s *= 4) sizes[nsizes++] = s;
  if (np != 2) {
    if (rank == 0) fprintf(stderr, "osu_lite: needs exactly 2 ranks (got %d)\n", np);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  size_t max = 4;
  for (int i = 0; i < nsizes; i++)
    if (sizes[i] > max) max = sizes[i];
  if (max > INT32_MAX) {
    if (rank == 0) fprintf(stderr, "osu_lite: sizes must be < 2 GiB\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  sbuf = alloc_buf(max);
  rbuf = alloc_buf(max);

  /* Do the library's calls resolve to our process_vm_readv (exported with -rdynamic)? */
  int cma_seen = osu_cma_counting();

  if (rank == 0) {
    char ver[MPI_MAX_LIBRARY_VERSION_STRING];
    int len;
    MPI_Get_library_version(ver, &len);
    while (len > 0 && (ver[len - 1] == '\n' || ver[len - 1] == ' ' || ver[len - 1] == 0)) ver[--len] = 0;
    printf("{\"type\":\"header\",\"library\":");
    json_str(ver);
    printf(",\"ranks\":%d,\"cmaCounting\":%s,\"hugepages\":%s,\"window\":%d,\"maxWindowBytes\":%zu,\"reps\":%d,\"targetMs\":%g,\"warmupMs\":%g}\n", np,
           cma_seen ? "true" : "false", huge ? "true" : "false", window, max_window_bytes, reps, target_ms, warmup_ms);
    if (cvars) print_cvars(cvars);
    fflush(stdout);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (want_lat)
    for (int i = 0; i < nsizes; i++) measure(0, sizes[i]);
  if (want_bw)
    for (int i = 0; i < nsizes; i++) measure(1, sizes[i]);
  MPI_Finalize();
  return 0;
}
