// The cells of the "side by side with Open MPI" table and the iteration policy both sides run
// them with: bench/native/osu_coll.c under mpirun and bench/lib/versus-rank.ts under onecopy's
// launcher get the same list (`--cells op:size:skip:iters,...`), so every cell is measured
// with the same warm-up and timed iteration counts on both.
//
// The counts follow OSU 7 (osu_latency 10000 / skip 100 for small messages, 1000 / 10 for
// large; collectives 1000 / 200 small, 100 / 10 large; osu_bw 100 / 10 small, 20 / 2 large),
// cut down so a --quick run finishes in 2–3 minutes on 2 cores: a 64 MiB osu_bw iteration is
// a window of 64 messages, 4 GiB, 0.3–1.3 s here.

const KiB = 1024;
const MiB = 1024 * KiB;

export type CellOp = "latency" | "bw" | "rate" | "barrier" | "allreduce" | "bcast" | "alltoall" | "reduce" | "gather" | "allgather";
export const CELL_OPS: readonly CellOp[] = ["latency", "bw", "rate", "barrier", "allreduce", "bcast", "alltoall", "reduce", "gather", "allgather"];

/** Point-to-point cells (ranks 0 and 1 only); the others are collectives over every rank. */
export const isP2p = (op: CellOp): boolean => op === "latency" || op === "bw" || op === "rate";
/** Cells whose figure grows when it gets better (MB/s, messages/s). */
export const higherIsBetter = (op: CellOp): boolean => op === "bw" || op === "rate";
/** Cells whose receive buffer holds one block per rank. */
export const perRankBlocks = (op: CellOp): boolean => op === "alltoall" || op === "gather" || op === "allgather";
/** The unit of a cell's figure. */
export const unitOf = (op: CellOp): CellResult["unit"] => (op === "bw" ? "MB/s" : op === "rate" ? "msg/s" : "us");

/** One measurement: `skip` warm-up iterations, a barrier, `iters` timed iterations. */
export interface CellSpec {
  op: CellOp;
  /** Bytes: the message (latency, bw, rate), the whole buffer (allreduce, bcast, reduce), the block per rank (alltoall: per rank pair; gather, allgather). */
  size: number;
  skip: number;
  iters: number;
}

/**
 * What one program (osu_coll or versus-rank) measured for a cell, one value per repetition.
 * samples: µs per call (collectives: mean over ranks of each rank's mean per call; latency:
 * half round trip on rank 0) or MB/s (bw, rank 0). cpuUs: CPU µs per unit of work (half round
 * trip, message, call) and cpuUtil: CPU time / wall time of the timed loop, each the mean over
 * the ranks taking part. copyCalls/copyBytes: process_vm_readv/writev calls and bytes in all
 * ranks during the timed loops.
 */
export interface CellResult {
  op: CellOp;
  size: number;
  unit: "us" | "MB/s" | "msg/s";
  window: number;
  skip: number;
  iters: number;
  samples: number[];
  maxSamples: number[];
  cpuUs: number[];
  cpuUtil: number[];
  copyCalls: number;
  copyBytes: number;
  dataOk: boolean;
}

/** The bw and rate window (messages per iteration, all on one send and one receive buffer). */
export const BW_WINDOW = 64;

/** The message size of the message-rate cell (osu_mbw_mr at one pair). */
export const RATE_SIZE = 8;

export const COLLECTIVE_OPS = ["allreduce", "bcast", "alltoall", "reduce", "gather", "allgather"] as const;

export const TABLE_SIZES = {
  latency: [1, 1 * KiB, 64 * KiB],
  collectives: [8, 4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB],
  bw: [1 * MiB, 4 * MiB, 16 * MiB, 64 * MiB],
} as const;

/** --steady: the warm-up and timed iterations of a cell of at most 4 KiB (and barrier, rate). */
const STEADY = { skip: 2000, iters: 20_000 } as const;

function counts(op: CellOp, size: number, quick: boolean, steady = false): { skip: number; iters: number } {
  if (steady && (size <= 4 * KiB || op === "barrier")) return op === "rate" ? { skip: 100, iters: 2000 } : { ...STEADY };
  if (op === "latency") return size <= 8 * KiB ? (quick ? { skip: 100, iters: 2000 } : { skip: 100, iters: 10_000 }) : quick ? { skip: 10, iters: 300 } : { skip: 10, iters: 1000 };
  if (op === "rate") return quick ? { skip: 10, iters: 200 } : { skip: 20, iters: 1000 };
  if (op === "bw") {
    const full: Record<number, [number, number]> = { [MiB]: [2, 20], [4 * MiB]: [2, 10], [16 * MiB]: [1, 5], [64 * MiB]: [1, 3] };
    const fast: Record<number, [number, number]> = { [MiB]: [1, 10], [4 * MiB]: [1, 5], [16 * MiB]: [1, 2], [64 * MiB]: [1, 2] };
    const [skip, iters] = (quick ? fast : full)[size] ?? (quick ? [1, 3] : [2, 10]);
    return { skip, iters };
  }
  if (op === "barrier") return quick ? { skip: 100, iters: 500 } : { skip: 200, iters: 1000 };
  if (size <= 8 * KiB) return quick ? { skip: 50, iters: 500 } : { skip: 200, iters: 1000 };
  if (size <= 1 * MiB) return quick ? { skip: 5, iters: 50 } : { skip: 10, iters: 100 };
  return quick ? { skip: 2, iters: 10 } : { skip: 3, iters: 30 };
}

/**
 * Every cell of the table, in table order; `ops` keeps only those operations and `sizes` only
 * those sizes (barrier has none and stays when its op is kept). `steady` gives the cells of at
 * most 4 KiB 2000 warm-up and 20 000 timed iterations (rate: 100 and 2000 windows): OSU's counts
 * mostly time a JIT-compiled runtime's warm-up and its spin budget settling, which a long job
 * pays once.
 */
export function tableCells(quick: boolean, ops?: readonly CellOp[], sizes?: readonly number[], steady = false): CellSpec[] {
  const cells: CellSpec[] = [];
  const add = (op: CellOp, size: number) => {
    if (ops && !ops.includes(op)) return;
    if (sizes && op !== "barrier" && !sizes.includes(size)) return;
    cells.push({ op, size, ...counts(op, size, quick, steady) });
  };
  for (const s of TABLE_SIZES.latency) add("latency", s);
  add("rate", RATE_SIZE);
  add("barrier", 0);
  for (const op of COLLECTIVE_OPS) for (const s of TABLE_SIZES.collectives) add(op, s);
  for (const s of TABLE_SIZES.bw) add("bw", s);
  return cells;
}

/** `--ops a,b` as cell operations (RangeError naming the valid ones otherwise). */
export function parseOps(arg: string): CellOp[] {
  return arg.split(",").map((op) => {
    if (!CELL_OPS.includes(op as CellOp)) throw new RangeError(`--ops wants a list of ${CELL_OPS.join(", ")}; got ${op}`);
    return op as CellOp;
  });
}

/** The `--cells` argument both programs take. */
export function cellsArg(cells: readonly CellSpec[]): string {
  return cells.map((c) => `${c.op}:${c.size}:${c.skip}:${c.iters}`).join(",");
}

export function parseCells(arg: string): CellSpec[] {
  return arg.split(",").map((t) => {
    const m = /^([a-z]+):(\d+):(\d+):(\d+)$/.exec(t);
    if (!m || !CELL_OPS.includes(m[1] as CellOp)) throw new RangeError(`--cells wants op:size:skip:iters,... (op: ${CELL_OPS.join(", ")}); got ${t}`);
    const c: CellSpec = { op: m[1] as CellOp, size: Number(m[2]), skip: Number(m[3]), iters: Number(m[4]) };
    if (c.iters < 1) throw new RangeError(`--cells: iters must be ≥ 1 (${t})`);
    if (c.size % 8 !== 0 && !isP2p(c.op)) throw new RangeError(`--cells: collective sizes are multiples of 8 (doubles): ${t}`);
    return c;
  });
}

export function cellLabel(c: { op: CellOp; size: number }): string {
  if (c.op === "barrier") return "barrier";
  if (c.op === "rate") return `message rate ${fmtBytes(c.size)} (msg/s)`;
  if (c.op === "bw") return `osu_bw ${fmtBytes(c.size)} (MB/s)`;
  return `${c.op} ${fmtBytes(c.size)}`;
}

export function fmtBytes(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

/** Contents both programs put in their inputs and check in their outputs (see osu_coll.c). */
export const expected = {
  allreduceIn: (rank: number, k: number) => rank + 1 + (k % 7),
  bcastIn: (k: number) => (k % 251) + 0.5,
  alltoallIn: (from: number, to: number) => from * 1000 + to + 1,
  /** Element k of rank r's gather / allgather block. */
  gatherIn: (rank: number, k: number) => rank * 10 + (k % 5) + 0.25,
};
