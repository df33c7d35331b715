/**
 * pi — Monte Carlo estimate of π: every rank throws random points at the unit square and counts
 * those inside the quarter circle; the counts meet at rank 0 three ways.
 *
 *   - reduce:     the [hits, samples] pair of every rank summed into rank 0 (one collective);
 *   - gather:     every rank's compute time, in rank order, to show the load balance;
 *   - sendObject: every rank's structured result ({ rank, seed, hits, samples, ms }) as a
 *                 plain object, for the per-rank table.
 * Rank 0 checks that the reduced total equals the sum of the objects, that the sample count is
 * exactly ranks × samples per rank, and that the estimate lies within 5 standard errors of π.
 *
 *   onecopy run -n 4 examples/pi.ts                        (10 M samples per rank)
 *   onecopy run -n 2 examples/pi.ts --samples 50M --seed 7
 *   onecopy run -n 4 --no-cma examples/pi.ts
 *   onecopy run -n 2 examples/pi.ts --small
 */
import { init } from "onecopy";
import { flags, report, rng, verify } from "./_shared.js";

const opt = flags({ samples: 10_000_000, seed: 1 }, { samples: 200_000 });
const comm = await init();
const { rank, size } = comm;
const perRank = Math.floor(opt.samples);

// ---- the map: count hits with a per-rank random stream ---------------------------------
const seed = opt.seed * 1_000_003 + rank;
const random = rng(seed);
const t0 = performance.now();
let hits = 0;
for (let i = 0; i < perRank; i++) {
  const x = random();
  const y = random();
  if (x * x + y * y < 1) hits++;
}
const ms = performance.now() - t0;

// ---- reduce: one Float64Array [hits, samples] summed at rank 0 (exact below 2^53) ----------
const mine = new Float64Array([hits, perRank]);
const total = new Float64Array(2);
await comm.reduce(mine, rank === 0 ? total : null, "sum", 0);

// ---- gather: compute times by rank -------------------------------------------------------
const times = new Float64Array(rank === 0 ? size : 0);
await comm.gather(new Float64Array([ms]), rank === 0 ? times : null, 0);

// ---- sendObject: the structured per-rank results -----------------------------------------
interface RankResult {
  rank: number;
  seed: number;
  hits: number;
  samples: number;
  ms: number;
  estimate: number;
}
const result: RankResult = { rank, seed, hits, samples: perRank, ms, estimate: (4 * hits) / perRank };
let ok = true;
let detail = "";
if (rank !== 0) {
  await comm.sendObject(result, 0, 7);
} else {
  const all: RankResult[] = [result];
  for (let r = 1; r < size; r++) all.push((await comm.recvObject<RankResult>(r, 7)).value);
  all.sort((a, b) => a.rank - b.rank);
  const [H, N] = [total[0]!, total[1]!];
  const pi = (4 * H) / N;
  const p = Math.PI / 4;
  const stderr = 4 * Math.sqrt((p * (1 - p)) / N);
  const objHits = all.reduce((a, x) => a + x.hits, 0);
  const timesMatch = all.every((x, i) => Math.abs(x.ms - times[i]!) < 1e-9);
  console.log(`pi: ${size} rank${size > 1 ? "s" : ""} × ${perRank.toLocaleString("en")} samples`);
  for (const x of all) console.log(`  rank ${x.rank}: seed ${x.seed}, ${x.hits} hits, π ≈ ${x.estimate.toFixed(6)}, ${x.ms.toFixed(0)} ms`);
  const slowest = Math.max(...times);
  const mean = times.reduce((a, b) => a + b, 0) / size;
  console.log(`  π ≈ ${pi.toFixed(7)} (error ${(pi - Math.PI).toExponential(2)}, standard error ${stderr.toExponential(2)}); load balance: slowest rank ${(slowest / mean).toFixed(2)}× the mean`);
  const checks: Array<[boolean, string]> = [
    [N === size * perRank, `total samples ${N} = ${size} × ${perRank}`],
    [H === objHits, `reduced hits ${H} = sum of the ranks' objects ${objHits}`],
    [timesMatch, "gathered times match the objects"],
    [Math.abs(pi - Math.PI) <= 5 * stderr, `|π̂ − π| = ${Math.abs(pi - Math.PI).toExponential(2)} ≤ 5σ = ${(5 * stderr).toExponential(2)}`],
  ];
  ok = checks.every(([c]) => c);
  detail = (ok ? checks : checks.filter(([c]) => !c)).map(([, d]) => d).join("; ");
}
const elapsed = (performance.now() - t0) / 1000;
const stats = comm.stats();
await verify(comm, "pi", ok, detail);
await report(comm, "pi", elapsed, stats);
await comm.close();
