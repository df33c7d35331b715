/*
 * osu_coll: OSU-style loops for the cells of the "side by side with Open MPI" table, run under
 * a real MPI (bench/versus-ompi.ts runs it next to the same loops over onecopy). One program
 * for every cell, so one mpirun per mode measures them all:
 *
 *   latency   osu_latency between ranks 0 and 1: ping-pong; µs = half the round trip (rank 0)
 *   bw        osu_bw between ranks 0 and 1: a window of MPI_Isend of ONE send buffer, a window
 *             of MPI_Irecv into ONE receive buffer, a 4-byte ack per window; MB/s (rank 0)
 *   rate      osu_mbw_mr at one pair: bw's loop with small messages; messages/s (rank 0)
 *   barrier   osu_barrier: MPI_Barrier timed call by call; µs per call, mean over ranks
 *   allreduce osu_allreduce: MPI_Allreduce of size/8 doubles, MPI_SUM
 *   bcast     osu_bcast: MPI_Bcast of size bytes (as doubles) from root 0
 *   alltoall  osu_alltoall: MPI_Alltoall, size bytes per rank pair (as doubles)
 *   reduce    osu_reduce: MPI_Reduce of size/8 doubles, MPI_SUM, to root 0
 *   gather    osu_gather: MPI_Gather of size bytes per rank (as doubles) to root 0
 *   allgather osu_allgather: MPI_Allgather of size bytes per rank (as doubles)
 *
 * Collectives follow OSU 7's loop: each call timed alone (MPI_Wtime around it) with an
 * untimed MPI_Barrier after it; µs = the rank's mean per call, averaged over ranks (OSU's
 * "Avg Latency"); the maximum over ranks is kept as well. Every cell runs `skip` warm-up
 * iterations, a barrier, then `iters` timed iterations; the whole list of cells is repeated
 * --reps times (reps outermost). With more than 2 ranks, latency and bw run between ranks 0
 * and 1 while the other ranks wait in the barrier that ends the cell.
 *
 * CPU time: getrusage(RUSAGE_SELF) (user + system, every thread of the process) around each
 * rank's timed loop. cpuUs = CPU µs per unit of work (a half round trip, a message of the
 * window, a call; for collectives the loop includes OSU's barrier after each call), and
 * cpuUtil = CPU time / wall time of the timed loop; both the mean over the ranks taking part.
 *
 * Usage: mpirun -np N osu_coll --cells op:size:skip:iters[,op:size:skip:iters...] [--reps R]
 *          [--window 64] [--hugepages] [--cvar name,name]
 * Output (rank 0, stdout), one JSON object per line: {"type":"header",...}, {"type":"cvar",...}
 * and per cell {"type":"result","op":"allreduce","size":65536,"unit":"us","window":1,
 * "skip":..,"iters":..,"samples":[per rep],"maxSamples":[..],"cpuUs":[..],"cpuUtil":[..],
 * "copyCalls":N,"copyBytes":N,"dataOk":true}. dataOk: sampled elements of every result were
 * right (the receive buffers are overwritten before the timed loop). copyCalls/copyBytes: the
 * library's process_vm_readv/writev calls in all ranks during the timed loops (osu_common.h).
 */
#include "osu_common.h"

#include <sys/resource.h>

#define MAX_CELLS 64
#define MAX_REPS 64

enum op { OP_LATENCY, OP_BW, OP_RATE, OP_BARRIER, OP_ALLREDUCE, OP_BCAST, OP_ALLTOALL, OP_REDUCE, OP_GATHER, OP_ALLGATHER, OP_COUNT };
static const char *op_names[] = {"latency", "bw", "rate", "barrier", "allreduce", "bcast", "alltoall", "reduce", "gather", "allgather"};

static int is_p2p(enum op op) { return op == OP_LATENCY || op == OP_BW || op == OP_RATE; }
static int per_rank_blocks(enum op op) { return op == OP_ALLTOALL || op == OP_GATHER || op == OP_ALLGATHER; }

struct cell {
  enum op op;
  size_t size;
  long skip, iters;
  double us[MAX_REPS], max_us[MAX_REPS], cpu_us[MAX_REPS], cpu_util[MAX_REPS];
  long cma_calls, cma_bytes;
  int bad;
};

static struct cell cells[MAX_CELLS];
static int ncells = 0, reps = 3, window = 64, huge = 0, rank, np;
static char *sbuf, *rbuf;

static double cpu_now(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec + ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) / 1e6;
}

/* ------------------------------------------------------------------ expected contents */
/* Element k of rank r's allreduce send buffer / bcast root buffer / alltoall block for rank j. */
static double allreduce_in(int r, size_t k) { return (double)(r + 1) + (double)(k % 7); }
static double bcast_in(size_t k) { return (double)(k % 251) + 0.5; }
static double alltoall_in(int from, int to) { return (double)(from * 1000 + to + 1); }
static double gather_in(int r, size_t k) { return (double)(r * 10) + (double)(k % 5) + 0.25; }

static void fill_inputs(const struct cell *c) {
  double *s = (double *)sbuf;
  size_t count = c->size / 8;
  if (c->op == OP_ALLREDUCE || c->op == OP_REDUCE)
    for (size_t k = 0; k < count; k++) s[k] = allreduce_in(rank, k);
  else if (c->op == OP_GATHER || c->op == OP_ALLGATHER)
    for (size_t k = 0; k < count; k++) s[k] = gather_in(rank, k);
  else if (c->op == OP_BCAST && rank == 0)
    for (size_t k = 0; k < count; k++) s[k] = bcast_in(k);
  else if (c->op == OP_ALLTOALL)
    for (int j = 0; j < np; j++)
      for (size_t k = 0; k < count; k++) s[j * count + k] = alltoall_in(rank, j);
  else if (is_p2p(c->op))
    memset(sbuf, rank + 1, c->size);
}

/* Overwrite what the timed loop must rewrite. */
static void poison(const struct cell *c) {
  size_t bytes = per_rank_blocks(c->op) ? c->size * (size_t)np : c->size;
  if (c->op == OP_BCAST && rank == 0) return; /* the root's buffer is the input */
  if (bytes) memset(c->op == OP_BCAST ? sbuf : rbuf, 0xee, bytes);
}

/* 1 if sampled elements of the result are wrong. */
static int check(const struct cell *c) {
  size_t count = c->size / 8;
  const double *r = (const double *)rbuf;
  size_t probe[3] = {0, count / 2, count ? count - 1 : 0};
  if (c->op == OP_ALLREDUCE || (c->op == OP_REDUCE && rank == 0)) {
    for (int i = 0; i < 3 && count; i++) {
      double want = 0;
      for (int q = 0; q < np; q++) want += allreduce_in(q, probe[i]);
      if (r[probe[i]] != want) return 1;
    }
  } else if (c->op == OP_BCAST) {
    const double *b = (const double *)sbuf;
    for (int i = 0; i < 3 && count; i++)
      if (b[probe[i]] != bcast_in(probe[i])) return 1;
  } else if (c->op == OP_ALLGATHER || (c->op == OP_GATHER && rank == 0)) {
    for (int j = 0; j < np; j++)
      for (int i = 0; i < 3 && count; i++)
        if (r[j * count + probe[i]] != gather_in(j, probe[i])) return 1;
  } else if (c->op == OP_ALLTOALL) {
    for (int j = 0; j < np; j++)
      for (int i = 0; i < 3 && count; i++)
        if (r[j * count + probe[i]] != alltoall_in(j, rank)) return 1;
  } else if (is_p2p(c->op) && rank == 1 && c->size) {
    if (rbuf[0] != 1 || rbuf[c->size - 1] != 1) return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------ one iteration */
static void p2p_step(const struct cell *c) {
  static MPI_Request req[1024];
  int ack = 0, n = (int)c->size;
  if (c->op == OP_LATENCY) {
    if (rank == 0) {
      MPI_Send(sbuf, n, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
      MPI_Recv(rbuf, n, MPI_CHAR, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      MPI_Recv(rbuf, n, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(sbuf, n, MPI_CHAR, 0, 1, MPI_COMM_WORLD);
    }
  } else if (rank == 0) {
    for (int i = 0; i < window; i++) MPI_Isend(sbuf, n, MPI_CHAR, 1, 100, MPI_COMM_WORLD, &req[i]);
    MPI_Waitall(window, req, MPI_STATUSES_IGNORE);
    MPI_Recv(&ack, 1, MPI_INT, 1, 101, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  } else {
    for (int i = 0; i < window; i++) MPI_Irecv(rbuf, n, MPI_CHAR, 0, 100, MPI_COMM_WORLD, &req[i]);
    MPI_Waitall(window, req, MPI_STATUSES_IGNORE);
    MPI_Send(&ack, 1, MPI_INT, 0, 101, MPI_COMM_WORLD);
  }
}

static void coll_call(const struct cell *c) {
  int count = (int)(c->size / 8);
  switch (c->op) {
    case OP_BARRIER: MPI_Barrier(MPI_COMM_WORLD); break;
    case OP_ALLREDUCE: MPI_Allreduce(sbuf, rbuf, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); break;
    case OP_BCAST: MPI_Bcast(sbuf, count, MPI_DOUBLE, 0, MPI_COMM_WORLD); break;
    case OP_ALLTOALL: MPI_Alltoall(sbuf, count, MPI_DOUBLE, rbuf, count, MPI_DOUBLE, MPI_COMM_WORLD); break;
    case OP_REDUCE: MPI_Reduce(sbuf, rbuf, count, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD); break;
    case OP_GATHER: MPI_Gather(sbuf, count, MPI_DOUBLE, rbuf, count, MPI_DOUBLE, 0, MPI_COMM_WORLD); break;
    case OP_ALLGATHER: MPI_Allgather(sbuf, count, MPI_DOUBLE, rbuf, count, MPI_DOUBLE, MPI_COMM_WORLD); break;
    default: break;
  }
}

/* Runs n iterations; returns the summed per-call time (collectives) or the loop's time (p2p). */
static double loop(const struct cell *c, long n) {
  if (is_p2p(c->op)) {
    double t = MPI_Wtime();
    for (long i = 0; i < n; i++) p2p_step(c);
    return MPI_Wtime() - t;
  }
  double sum = 0;
  for (long i = 0; i < n; i++) {
    double t = MPI_Wtime();
    coll_call(c);
    sum += MPI_Wtime() - t;
    if (c->op != OP_BARRIER) MPI_Barrier(MPI_COMM_WORLD);
  }
  return sum;
}

static void measure(struct cell *c, int rep) {
  int p2p = is_p2p(c->op);
  int active = !p2p || rank < 2;
  double v[5] = {0, 0, 0, 0, 0}; /* time, cpu µs per unit, cpu util, taking part, bad */
  MPI_Barrier(MPI_COMM_WORLD);
  if (active) {
    fill_inputs(c); /* sbuf is shared by every cell */
    loop(c, c->skip);
    poison(c);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  long cma0 = cma_calls, cmab0 = cma_bytes;
  if (active) {
    double cpu0 = cpu_now(), w0 = MPI_Wtime();
    double t = loop(c, c->iters);
    double wall = MPI_Wtime() - w0, cpu = cpu_now() - cpu0;
    double units = c->op == OP_LATENCY ? 2.0 * c->iters : c->op == OP_BW || c->op == OP_RATE ? (double)window * c->iters : (double)c->iters;
    v[0] = c->op == OP_LATENCY ? t * 1e6 / (2.0 * c->iters)
           : c->op == OP_BW    ? (double)c->size * window * c->iters / t / 1e6
           : c->op == OP_RATE  ? (double)window * c->iters / t
                               : t * 1e6 / c->iters;
    v[1] = cpu * 1e6 / units;
    v[2] = wall > 0 ? cpu / wall : 0;
    v[3] = 1;
    v[4] = check(c);
  }
  long cma_local[2] = {cma_calls - cma0, cma_bytes - cmab0}, cma_total[2];
  double all[5 * 1024];
  MPI_Gather(v, 5, MPI_DOUBLE, all, 5, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  MPI_Reduce(cma_local, cma_total, 2, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank != 0) return;
  double sum = 0, mx = 0, cpu = 0, util = 0, k = 0;
  for (int q = 0; q < np; q++) {
    const double *x = &all[5 * q];
    if (!x[3]) continue;
    sum += x[0], cpu += x[1], util += x[2], k++;
    if (x[0] > mx) mx = x[0];
    if (x[4]) c->bad = 1;
  }
  /* p2p: rank 0's figure, as OSU reports it */
  c->us[rep] = p2p ? all[0] : sum / k;
  c->max_us[rep] = p2p ? all[0] : mx;
  c->cpu_us[rep] = cpu / k;
  c->cpu_util[rep] = util / k;
  c->cma_calls += cma_total[0];
  c->cma_bytes += cma_total[1];
}

static void print_list(const char *name, const double *xs) {
  printf(",\"%s\":[", name);
  for (int r = 0; r < reps; r++) printf("%s%.6g", r ? "," : "", xs[r]);
  printf("]");
}

static void print_cell(const struct cell *c) {
  printf("{\"type\":\"result\",\"op\":\"%s\",\"size\":%zu,\"unit\":\"%s\",\"window\":%d,\"skip\":%ld,\"iters\":%ld", op_names[c->op], c->size,
         c->op == OP_BW ? "MB/s" : c->op == OP_RATE ? "msg/s" : "us", c->op == OP_BW || c->op == OP_RATE ? window : 1, c->skip, c->iters);
  print_list("samples", c->us);
  print_list("maxSamples", c->max_us);
  print_list("cpuUs", c->cpu_us);
  print_list("cpuUtil", c->cpu_util);
  printf(",\"copyCalls\":%ld,\"copyBytes\":%ld,\"dataOk\":%s}\n", c->cma_calls, c->cma_bytes, c->bad ? "false" : "true");
}

static void usage_error(const char *what) {
  if (rank == 0) fprintf(stderr, "osu_coll: %s\n", what);
  MPI_Abort(MPI_COMM_WORLD, 2);
}

static void parse_cells(const char *spec) {
  char *s = strdup(spec);
  for (char *t = strtok(s, ","); t; t = strtok(NULL, ",")) {
    if (ncells == MAX_CELLS) usage_error("too many cells");
    char name[32];
    size_t size;
    long skip, iters;
    if (sscanf(t, "%31[a-z]:%zu:%ld:%ld", name, &size, &skip, &iters) != 4) usage_error("--cells wants op:size:skip:iters,...");
    int op = -1;
    for (int i = 0; i < OP_COUNT; i++)
      if (!strcmp(name, op_names[i])) op = i;
    if (op < 0) usage_error("unknown op in --cells (latency, bw, rate, barrier, allreduce, bcast, alltoall, reduce, gather, allgather)");
    if (size % 8 && !is_p2p((enum op)op)) usage_error("collective sizes must be multiples of 8 (doubles)");
    if (size > INT32_MAX || skip < 0 || iters < 1) usage_error("bad size, skip or iters in --cells");
    cells[ncells++] = (struct cell){.op = (enum op)op, .size = size, .skip = skip, .iters = iters};
  }
  free(s);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &np);
  char *cvars = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--hugepages")) huge = 1;
    else if (!strcmp(a, "--cells") && v) parse_cells(v), i++;
    else if (!strcmp(a, "--reps") && v) reps = atoi(v), i++;
    else if (!strcmp(a, "--window") && v) window = atoi(v), i++;
    else if (!strcmp(a, "--cvar") && v) cvars = strdup(v), i++;
    else usage_error("unknown argument (see the comment at the top of osu_coll.c)");
  }
  if (np < 2 || np > 1024) usage_error("needs 2 … 1024 ranks");
  if (window < 1 || window > 1024) usage_error("--window must be 1 … 1024");
  if (reps < 1 || reps > MAX_REPS) usage_error("--reps must be 1 … 64");
  if (ncells == 0) usage_error("no --cells");
  size_t max = 8;
  for (int i = 0; i < ncells; i++) {
    size_t need = per_rank_blocks(cells[i].op) ? cells[i].size * (size_t)np : cells[i].size;
    if (need > max) max = need;
  }
  sbuf = osu_alloc(max, huge, rank + 1);
  rbuf = osu_alloc(max, huge, rank + 1);

  if (rank == 0) {
    char ver[MPI_MAX_LIBRARY_VERSION_STRING];
    int len;
    MPI_Get_library_version(ver, &len);
    while (len > 0 && (ver[len - 1] == '\n' || ver[len - 1] == ' ' || ver[len - 1] == 0)) ver[--len] = 0;
    printf("{\"type\":\"header\",\"library\":");
    json_str(ver);
    printf(",\"ranks\":%d,\"cmaCounting\":%s,\"hugepages\":%s,\"window\":%d,\"reps\":%d}\n", np, osu_cma_counting() ? "true" : "false",
           huge ? "true" : "false", window, reps);
    if (cvars) print_cvars(cvars);
    fflush(stdout);
  }
  for (int rep = 0; rep < reps; rep++)
    for (int i = 0; i < ncells; i++) measure(&cells[i], rep);
  if (rank == 0) {
    for (int i = 0; i < ncells; i++) print_cell(&cells[i]);
    fflush(stdout);
  }
  MPI_Finalize();
  return 0;
}
