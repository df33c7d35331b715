// The onecopy side of bench/versus-ompi.ts: the loops of bench/native/osu_coll.c through
// onecopy's public API, as a rank program for the launcher:
//
//   node packages/onecopy/dist/cli.js run -n 2 bench/lib/versus-rank.ts --cells op:size:skip:iters,... [--reps R] [--window 64]
//
// Same cells, order, buffers and measurements as osu_coll.c (read its header comment): one
// send and one receive buffer, allocated once at the largest size, touched, and viewed per
// cell; collectives timed call by call with an untimed barrier after each; latency and bw
// between ranks 0 and 1; CPU time from process.cpuUsage() (every thread of the process:
// the event loop, libuv's pool that runs large copies, V8's helpers) around the timed loop.
// copyCalls/copyBytes are the stats().singleCopy deltas of every rank over the timed loops.
// Rank 0 prints `@@RESULT {"header":…,"results":[CellResult…]}`.
import { performance } from "node:perf_hooks";
import { init, waitAll, type Comm } from "onecopy";
import { BW_WINDOW, expected, isP2p, parseCells, perRankBlocks, unitOf, type CellResult, type CellSpec } from "./osu-cells.js";
import { flagValue } from "./args.js";

const argv = process.argv.slice(2);
const val = (name: string) => flagValue(argv, name);
const cells = parseCells(val("--cells") ?? "");
const reps = Number(val("--reps") ?? 3);
const window = Number(val("--window") ?? BW_WINDOW);

const comm: Comm = await init();
const me = comm.rank;
const n = comm.size;
if (n < 2) throw new Error("versus-rank: needs at least 2 ranks (start it with the launcher)");

const maxBytes = Math.max(8, ...cells.map((c) => (perRankBlocks(c.op) ? c.size * n : c.size)));
const sAB = new ArrayBuffer(maxBytes);
const rAB = new ArrayBuffer(maxBytes);
new Uint8Array(sAB).fill(me + 1); // touch every page, as osu_coll does
new Uint8Array(rAB).fill(me + 1);
const ack = new Uint8Array(4);

interface Views {
  s8: Uint8Array;
  r8: Uint8Array;
  sF: Float64Array;
  rF: Float64Array;
  count: number;
}

function views(c: CellSpec): Views {
  const count = c.size / 8;
  const sBlocks = c.op === "alltoall" ? n : 1;
  const rBlocks = perRankBlocks(c.op) ? n : 1;
  return {
    s8: new Uint8Array(sAB, 0, c.size),
    r8: new Uint8Array(rAB, 0, c.size),
    sF: new Float64Array(sAB, 0, Math.floor(count) * sBlocks),
    rF: new Float64Array(rAB, 0, Math.floor(count) * rBlocks),
    count,
  };
}

function fillInputs(c: CellSpec, v: Views): void {
  if (c.op === "allreduce" || c.op === "reduce") for (let k = 0; k < v.count; k++) v.sF[k] = expected.allreduceIn(me, k);
  else if (c.op === "gather" || c.op === "allgather") for (let k = 0; k < v.count; k++) v.sF[k] = expected.gatherIn(me, k);
  else if (c.op === "bcast" && me === 0) for (let k = 0; k < v.count; k++) v.sF[k] = expected.bcastIn(k);
  else if (c.op === "alltoall") for (let j = 0; j < n; j++) v.sF.fill(expected.alltoallIn(me, j), j * v.count, (j + 1) * v.count);
  else if (isP2p(c.op)) v.s8.fill(me + 1);
}

function poison(c: CellSpec, v: Views): void {
  if (c.op === "bcast") {
    if (me !== 0) new Uint8Array(sAB, 0, c.size).fill(0xee);
  } else new Uint8Array(rAB, 0, perRankBlocks(c.op) ? c.size * n : c.size).fill(0xee);
}

function wrong(c: CellSpec, v: Views): boolean {
  const probes = v.count ? [0, Math.floor(v.count / 2), v.count - 1] : [];
  if (c.op === "allreduce" || (c.op === "reduce" && me === 0)) {
    return probes.some((k) => {
      let want = 0;
      for (let q = 0; q < n; q++) want += expected.allreduceIn(q, k);
      return v.rF[k] !== want;
    });
  }
  if (c.op === "bcast") return probes.some((k) => v.sF[k] !== expected.bcastIn(k));
  if (c.op === "allgather" || (c.op === "gather" && me === 0)) {
    for (let j = 0; j < n; j++) if (probes.some((k) => v.rF[j * v.count + k] !== expected.gatherIn(j, k))) return true;
    return false;
  }
  if (c.op === "alltoall") {
    for (let j = 0; j < n; j++) if (probes.some((k) => v.rF[j * v.count + k] !== expected.alltoallIn(j, me))) return true;
    return false;
  }
  if (isP2p(c.op) && me === 1 && c.size > 0) return v.r8[0] !== 1 || v.r8[c.size - 1] !== 1;
  return false;
}

/** One iteration of a point-to-point cell (ranks 0 and 1 only). */
function p2pStep(c: CellSpec, v: Views): () => Promise<void> {
  if (c.op === "latency") {
    return me === 0
      ? async () => {
          await comm.send(v.s8, 1, 1);
          await comm.recv(v.r8, 1, 1);
        }
      : async () => {
          await comm.recv(v.r8, 0, 1);
          await comm.send(v.s8, 0, 1);
        };
  }
  return me === 0
    ? async () => {
        const reqs = [];
        for (let w = 0; w < window; w++) reqs.push(comm.isend(v.s8, 1, 100));
        await waitAll(reqs);
        await comm.recv(ack, 1, 101);
      }
    : async () => {
        const reqs = [];
        for (let w = 0; w < window; w++) reqs.push(comm.irecv(v.r8, 0, 100));
        await waitAll(reqs);
        await comm.send(ack, 0, 101);
      };
}

function collCall(c: CellSpec, v: Views): () => Promise<void> {
  switch (c.op) {
    case "barrier":
      return () => comm.barrier();
    case "allreduce":
      return () => comm.allreduce(v.sF, v.rF, "sum");
    case "bcast":
      return () => comm.bcast(v.sF, 0);
    case "alltoall":
      return () => comm.alltoall(v.sF, v.rF);
    case "reduce":
      return () => comm.reduce(v.sF, me === 0 ? v.rF : null, "sum", 0);
    case "gather":
      return () => comm.gather(v.sF, me === 0 ? v.rF : null, 0);
    case "allgather":
      return () => comm.allgather(v.sF, v.rF);
    default:
      throw new Error(`not a collective: ${c.op}`);
  }
}

/** n iterations; ms: the summed per-call times (collectives) or the loop's time (p2p). */
async function loop(c: CellSpec, v: Views, iterations: number): Promise<number> {
  if (isP2p(c.op)) {
    const step = p2pStep(c, v);
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) await step();
    return performance.now() - t0;
  }
  const call = collCall(c, v);
  let sum = 0;
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await call();
    sum += performance.now() - t0;
    if (c.op !== "barrier") await comm.barrier();
  }
  return sum;
}

const results: CellResult[] = cells.map((c) => ({
  op: c.op,
  size: c.size,
  unit: unitOf(c.op),
  window: c.op === "bw" || c.op === "rate" ? window : 1,
  skip: c.skip,
  iters: c.iters,
  samples: [],
  maxSamples: [],
  cpuUs: [],
  cpuUtil: [],
  copyCalls: 0,
  copyBytes: 0,
  dataOk: true,
}));

const FIELDS = 7; // time, cpu µs per unit, cpu util, taking part, bad, copy calls, copy bytes
const mine = new Float64Array(FIELDS);
const all = new Float64Array(FIELDS * n);

async function measure(i: number): Promise<void> {
  const c = cells[i]!;
  const r = results[i]!;
  const v = views(c);
  const p2p = isP2p(c.op);
  const active = !p2p || me < 2;
  mine.fill(0);
  await comm.barrier();
  if (active) {
    fillInputs(c, v); // the send buffer is shared by every cell
    await loop(c, v, c.skip);
    poison(c, v);
  }
  await comm.barrier();
  const st0 = comm.stats().singleCopy;
  const calls0 = st0.calls;
  const bytes0 = st0.bytes;
  if (active) {
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    const ms = await loop(c, v, c.iters);
    const wall = performance.now() - w0;
    const cpu = process.cpuUsage(cpu0);
    const cpuUs = cpu.user + cpu.system;
    const units = c.op === "latency" ? 2 * c.iters : c.op === "bw" || c.op === "rate" ? window * c.iters : c.iters;
    mine[0] =
      c.op === "latency"
        ? (ms * 1000) / (2 * c.iters)
        : c.op === "bw"
          ? (c.size * window * c.iters) / (ms / 1000) / 1e6
          : c.op === "rate"
            ? (window * c.iters) / (ms / 1000)
            : (ms * 1000) / c.iters;
    mine[1] = cpuUs / units;
    mine[2] = wall > 0 ? cpuUs / 1000 / wall : 0;
    mine[3] = 1;
    mine[4] = wrong(c, v) ? 1 : 0;
  }
  const st1 = comm.stats().singleCopy;
  mine[5] = st1.calls - calls0;
  mine[6] = st1.bytes - bytes0;
  await comm.gather(mine, me === 0 ? all : null, 0);
  if (me !== 0) return;
  let sum = 0;
  let max = 0;
  let cpu = 0;
  let util = 0;
  let k = 0;
  for (let q = 0; q < n; q++) {
    const x = all.subarray(q * FIELDS, (q + 1) * FIELDS);
    r.copyCalls += x[5]!;
    r.copyBytes += x[6]!;
    if (!x[3]) continue;
    sum += x[0]!;
    max = Math.max(max, x[0]!);
    cpu += x[1]!;
    util += x[2]!;
    k++;
    if (x[4]) r.dataOk = false;
  }
  r.samples.push(p2p ? all[0]! : sum / k);
  r.maxSamples.push(p2p ? all[0]! : max);
  r.cpuUs.push(cpu / k);
  r.cpuUtil.push(util / k);
}

try {
  for (let rep = 0; rep < reps; rep++) for (let i = 0; i < cells.length; i++) await measure(i);
  if (me === 0) console.log(`@@RESULT ${JSON.stringify({ header: { library: "onecopy", ranks: n, window, reps }, results })}`);
} finally {
  await comm.close();
}
