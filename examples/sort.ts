/**
 * sort — sample sort of random Float64 keys across ranks, redistributed with alltoallv.
 *
 * Every rank generates its keys, draws a random sample; rank 0 gathers the samples, picks
 * size−1 splitters and broadcasts them; every rank buckets its keys by splitter into one
 * contiguous send buffer, the bucket sizes are exchanged with alltoall and the keys with
 * alltoallv (large blocks move with a single copy, straight into the receiver's buffer), and
 * every rank sorts what it received. Afterwards rank r holds the r-th slice of the global order.
 *
 * Verification: every rank's keys are sorted; each rank's first key is ≥ the previous rank's
 * last (checked with sendrecv between neighbours); the total count is exactly
 * ranks × keys per rank and an order-independent hash of all keys is unchanged (reduce).
 *
 *   onecopy run -n 4 examples/sort.ts                       (10 M keys per rank)
 *   onecopy run -n 2 examples/sort.ts --keys 20M
 *   onecopy run -n 4 --no-cma examples/sort.ts
 *   onecopy run -n 3 examples/sort.ts --small
 */
import { init, allocBuffer, PROC_NULL } from "onecopy";
import { flags, human, report, rng, verify } from "./_shared.js";

const opt = flags({ keys: 10_000_000, seed: 1, oversample: 64 }, { keys: 100_000 });
const comm = await init();
const { rank, size } = comm;
const n = Math.floor(opt.keys);
const S = Math.max(1, Math.floor(opt.oversample));
const phases: Record<string, number> = {};
let tp = performance.now();
const phase = (name: string) => {
  const now = performance.now();
  phases[name] = now - tp;
  tp = now;
};

/** Order-independent hash of a multiset of doubles: sum of mixed bit patterns mod 2^32. */
function multisetHash(a: Float64Array): number {
  const w = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  let h = 0;
  for (let i = 0; i < w.length; i += 2) {
    let x = Math.imul(w[i]! ^ Math.imul(w[i + 1]!, 0x85ebca6b), 0xc2b2ae35);
    x ^= x >>> 16;
    h = (h + (x >>> 0)) >>> 0;
  }
  return h;
}

await comm.barrier();
const t0 = performance.now();
tp = t0;

// ---- 1. generate --------------------------------------------------------------------------
const keys = new Float64Array(allocBuffer(n * 8));
const random = rng(opt.seed * 7919 + rank);
for (let i = 0; i < n; i++) keys[i] = random();
const hashBefore = multisetHash(keys);
phase("generate");

// ---- 2. splitters: random samples gathered at rank 0, splitters broadcast -----------------
const sample = new Float64Array(S);
for (let i = 0; i < S; i++) sample[i] = n > 0 ? keys[Math.floor(random() * n)]! : 0;
const allSamples = new Float64Array(rank === 0 ? S * size : 0);
await comm.gather(sample, rank === 0 ? allSamples : null, 0);
const splitters = new Float64Array(Math.max(0, size - 1));
if (rank === 0) {
  allSamples.sort();
  for (let j = 1; j < size; j++) splitters[j - 1] = allSamples[j * S]!;
}
if (splitters.length > 0) await comm.bcast(splitters, 0);
phase("splitters");

// ---- 3. bucket the keys by destination into one contiguous send buffer ----------------------
const dest = new Uint16Array(n);
const sendCounts = new Float64Array(size);
for (let i = 0; i < n; i++) {
  const k = keys[i]!;
  let lo = 0; // first splitter > k (binary search over size−1 splitters)
  let hi = splitters.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (splitters[mid]! <= k) lo = mid + 1;
    else hi = mid;
  }
  dest[i] = lo;
  sendCounts[lo]!++;
}
const sendDispls = new Float64Array(size);
for (let j = 1; j < size; j++) sendDispls[j] = sendDispls[j - 1]! + sendCounts[j - 1]!;
const sendBuf = new Float64Array(allocBuffer(n * 8));
const fill = Float64Array.from(sendDispls);
for (let i = 0; i < n; i++) sendBuf[fill[dest[i]!]!++] = keys[i]!;
phase("bucket");

// ---- 4. exchange: bucket sizes with alltoall, keys with alltoallv -------------------------
const recvCounts = new Float64Array(size);
await comm.alltoall(sendCounts, recvCounts);
phase("alltoall");
const recvDispls = new Float64Array(size);
for (let j = 1; j < size; j++) recvDispls[j] = recvDispls[j - 1]! + recvCounts[j - 1]!;
const m = recvCounts.reduce((a, b) => a + b, 0);
const mine = new Float64Array(allocBuffer(Math.max(1, m) * 8), 0, m);
phase("alloc");
const x0 = performance.now();
await comm.alltoallv(sendBuf, sendCounts, sendDispls, mine, recvCounts, recvDispls);
const exchangeMs = performance.now() - x0;
phase("alltoallv");

// ---- 5. local sort ----------------------------------------------------------------------------
mine.sort();
phase("sort");
const elapsed = (performance.now() - t0) / 1000;
const stats = comm.stats();

// ---- verification ------------------------------------------------------------------------------
let sorted = true;
for (let i = 1; i < m; i++) if (mine[i - 1]! > mine[i]!) sorted = false;
// Boundary with the neighbours: my last key goes right, the left neighbour's last comes in.
// An empty rank passes on what it received, so order is checked across it as well.
const left = rank > 0 ? rank - 1 : PROC_NULL;
const right = rank < size - 1 ? rank + 1 : PROC_NULL;
const prevLast = new Float64Array([-Infinity]);
let boundary = true;
// Sequential along the ranks so that an empty rank can forward its left neighbour's key.
if (left !== PROC_NULL) await comm.recv(prevLast, left, 11);
if (m > 0 && prevLast[0]! > mine[0]!) boundary = false;
if (right !== PROC_NULL) await comm.send(new Float64Array([m > 0 ? mine[m - 1]! : prevLast[0]!]), right, 11);
// The same check once more with sendrecv (both directions at once): my first key goes left.
const nextFirst = new Float64Array([Infinity]);
await comm.sendrecv(new Float64Array([m > 0 ? mine[0]! : Infinity]), left, 12, nextFirst, right, 12);
if (m > 0 && nextFirst[0]! < mine[m - 1]!) boundary = false;

const totals = new Float64Array(4);
await comm.reduce(new Float64Array([n, m, hashBefore, multisetHash(mine)]), rank === 0 ? totals : null, "sum", 0);
let ok = sorted && boundary;
let detail = !sorted ? `rank ${rank}: local keys not sorted` : !boundary ? `rank ${rank}: out of order with a neighbour` : "";
if (rank === 0) {
  const [gen, got, hb, ha] = totals as unknown as [number, number, number, number];
  const expect = size * n;
  const countOk = gen === expect && got === expect;
  const hashOk = hb % 2 ** 32 === ha % 2 ** 32;
  if (ok && !countOk) detail = `count: generated ${gen}, after sort ${got}, expected ${expect}`;
  else if (ok && !hashOk) detail = "the multiset hash of the keys changed";
  ok &&= countOk && hashOk;
  if (ok) detail = `${expect.toLocaleString("en")} keys globally sorted (local order, neighbour boundaries, count ${size} × ${n}, multiset hash ${(ha % 2 ** 32).toString(16)})`;
}

// ---- report ---------------------------------------------------------------------------------------
interface Info {
  rank: number;
  m: number;
  phases: Record<string, number>;
  exchangeMs: number;
  moved: number;
}
const info: Info = { rank, m, phases, exchangeMs, moved: (n - sendCounts[rank]!) * 8 };

if (rank !== 0) await comm.sendObject(info, 0, 13);
else {
  const all: Info[] = [info];
  for (let r = 1; r < size; r++) all.push((await comm.recvObject<Info>(r, 13)).value);
  const imbalance = Math.max(...all.map((x) => x.m)) / (n || 1);
  const moved = all.reduce((a, x) => a + x.moved, 0);
  const slowestX = Math.max(...all.map((x) => x.exchangeMs));
  console.log(`sort: ${size} ranks × ${n.toLocaleString("en")} Float64 keys (${human(n * 8)} per rank), ${S} samples per rank`);
  console.log(`  rank 0 phases (ms): ${Object.entries(phases).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(", ")}`);
  console.log(
    `  alltoallv moved ${human(moved)} between ranks in ${slowestX.toFixed(0)} ms (slowest rank) = ${(moved / slowestX / 1e6).toFixed(2)} GB/s; ` +
      `largest bucket ${imbalance.toFixed(3)}× the average`,
  );
}
await verify(comm, "sort", ok, detail);
await report(comm, "sort", elapsed, stats);
await comm.close();
