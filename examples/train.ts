/**
 * train — the communication of one data-parallel training step: every rank computes gradients
 * for all parameters from its own data shard, the gradients are summed across ranks with
 * allreduce (in place) and averaged, and every rank applies the same SGD update.
 *
 * The model is a flat Float32Array of parameters (25 M by default: 100 MB of gradients per rank
 * per step) on huge-page buffers from allocBuffer. The "gradient" is synthetic but depends on
 * the parameters, the rank and the step, so the average is known exactly. After the last step
 * every rank hashes its parameters; all hashes must be equal (bit-identical replicas), and the
 * parameters must match an independent float64 recomputation at 4096 sampled indices.
 *
 *   onecopy run -n 4 examples/train.ts                              (25 M parameters, 5 steps)
 *   onecopy run -n 2 examples/train.ts --params 50M --steps 3
 *   onecopy run -n 4 --no-cma examples/train.ts
 *   onecopy run -n 2 examples/train.ts --small
 */
import { init, allocBuffer, IN_PLACE } from "onecopy";
import { flags, human, report, verify } from "./_shared.js";

const opt = flags({ params: 25_000_000, steps: 5, lr: 0.5 }, { params: 300_000, steps: 3 });
const comm = await init();
const { rank, size } = comm;
const P = Math.floor(opt.params);
const LR = opt.lr;

const initial = (i: number) => (Math.imul(i, 0x9e3779b1) >>> 0) / 2 ** 32 - 0.5;
/** Rank r's data-dependent part of the gradient of parameter i at `step` (exact in float32). */
const noise = (i: number, r: number, step: number) => (((i * 31 + r * 17 + step * 7) & 63) - 31.5) / 256;

const params = new Float32Array(allocBuffer(P * 4));
const grad = new Float32Array(allocBuffer(P * 4));
for (let i = 0; i < P; i++) params[i] = initial(i);

let tCompute = 0;
let tComm = 0;
let tUpdate = 0;
await comm.barrier();
const t0 = performance.now();
for (let step = 0; step < opt.steps; step++) {
  // 1. forward/backward on this rank's shard (here: a cheap synthetic gradient).
  let t = performance.now();
  for (let i = 0; i < P; i++) grad[i] = 0.1 * params[i]! + noise(i, rank, step);
  tCompute += performance.now() - t;
  // 2. sum the gradients of all ranks, in place: every rank ends with the same sum.
  t = performance.now();
  await comm.allreduce(IN_PLACE, grad, "sum");
  tComm += performance.now() - t;
  // 3. average and apply.
  t = performance.now();
  const scale = LR / size;
  for (let i = 0; i < P; i++) params[i] = params[i]! - scale * grad[i]!;
  tUpdate += performance.now() - t;
}
const elapsed = (performance.now() - t0) / 1000;
const stats = comm.stats();

// ---- verification -------------------------------------------------------------------------
// (a) every rank holds bit-identical parameters: FNV-1a over the raw bits, gathered to all.
const bits = new Uint32Array(params.buffer, params.byteOffset, P);
let h = 0x811c9dc5;
for (let i = 0; i < P; i++) h = Math.imul(h ^ bits[i]!, 0x01000193);
const hashes = new Float64Array(size);
await comm.allgather(new Float64Array([h >>> 0]), hashes);
const identical = hashes.every((x) => x === hashes[0]);

// (b) the values are right: replay sampled parameters in float64 with the exact average.
let maxErr = 0;
const samples = Math.min(P, 4096);
for (let k = 0; k < samples; k++) {
  const i = Math.floor((k * P) / samples);
  let p = Math.fround(initial(i));
  for (let step = 0; step < opt.steps; step++) {
    let g = 0;
    for (let r = 0; r < size; r++) g += 0.1 * p + noise(i, r, step);
    p = p - (LR / size) * g;
  }
  maxErr = Math.max(maxErr, Math.abs(p - params[i]!));
}
const ok = identical && maxErr < 1e-5;
const bytes = P * 4;
if (rank === 0) {
  const per = tComm / opt.steps / 1000;
  console.log(`train: ${size} ranks, ${P.toLocaleString("en")} float32 parameters (${human(bytes)} of gradients per rank), ${opt.steps} steps`);
  console.log(
    `  per step (rank 0): gradient ${(tCompute / opt.steps).toFixed(0)} ms, allreduce ${(per * 1000).toFixed(0)} ms, update ${(tUpdate / opt.steps).toFixed(0)} ms; ` +
      `allreduce ${(bytes / per / 1e9).toFixed(2)} GB/s algorithm bandwidth, ${((2 * (size - 1) * bytes) / size / per / 1e9).toFixed(2)} GB/s bus bandwidth`,
  );
}
await verify(
  comm,
  "train",
  ok,
  !identical
    ? `parameter hashes differ across ranks: ${Array.from(hashes, (x) => x.toString(16)).join(" ")}`
    : maxErr >= 1e-5
      ? `max |error| vs float64 replay = ${maxErr.toExponential(2)} ≥ 1e-5`
      : `parameter hash ${hashes[0]!.toString(16)} identical on all ${size} ranks; max |error| vs float64 replay at ${samples} indices = ${maxErr.toExponential(2)} (< 1e-5)`,
);
await report(comm, "train", elapsed, stats);
await comm.close();
