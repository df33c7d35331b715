// How the first iterations of a job cost, batch by batch: the quick-count gap of issue #10
// (OSU's 50 + 500 iterations time the JIT's warm-up and the spin budget settling). A rank
// program for the launcher, not a benchmark of bench/run.js:
//
//   node packages/onecopy/dist/cli.js run -n 2 bench/lib/warmup-curve.ts OP SIZE TOTAL BATCH
//     OP: latency (ping-pong, µs per round trip), stream (rank 1 → 0, 256 per step; CPU per
//         step on both ranks), allreduce | barrier | bcast | alltoall (µs per call)
//
// Rank 0 prints one row per batch: iterations so far, µs/op, CPU µs/op (process.cpuUsage,
// every thread), doorbells rung per op (fast path + collective slots), bytes allocated per op
// (new-space growth; "gc" when a scavenge ran in the batch). PROBE_HEAP=1 samples allocations
// over the second half (inspector, short-lived objects included) and prints the top sites.
import { performance } from "node:perf_hooks";
import { init } from "onecopy";
import { getHeapSpaceStatistics } from "node:v8";
const newUsed = () => getHeapSpaceStatistics().find((x) => x.space_name === "new_space")!.space_used_size;
const argv = process.argv.slice(2);
const op = argv[0] ?? "latency";
const size = Number(argv[1] ?? 1);
const total = Number(argv[2] ?? 10000);
const batch = Number(argv[3] ?? 250);
const comm = await init();
const me = comm.rank;
const s8 = new Uint8Array(Math.max(8, size)), r8 = new Uint8Array(Math.max(8, size));
const sF = new Float64Array(s8.buffer, 0, size / 8 | 0), rF = new Float64Array(r8.buffer, 0, size / 8 | 0);
const step = op === "latency"
  ? me === 0 ? async () => { await comm.send(s8.subarray(0, size), 1, 1); await comm.recv(r8.subarray(0, size), 1, 1); }
             : async () => { await comm.recv(r8.subarray(0, size), 0, 1); await comm.send(s8.subarray(0, size), 0, 1); }
  : op === "stream" ? (() => { const W = 256; const rq: any[] = new Array(W); const go = new Uint8Array(1);
      return me === 0 ? async () => { for (let w = 0; w < W; w++) rq[w] = comm.irecv(r8.subarray(0, size), 1, 2); await comm.send(go, 1, 3); for (let w = 0; w < W; w++) await rq[w]; }
                      : async () => { await comm.recv(go, 0, 3); for (let w = 0; w < W; w++) rq[w] = comm.isend(s8.subarray(0, size), 0, 2); for (let w = 0; w < W; w++) await rq[w]; }; })()
  : op === "allreduce" ? () => comm.allreduce(sF, rF, "sum")
  : op === "barrier" ? () => comm.barrier()
  : op === "bcast" ? () => comm.bcast(sF, 0)
  : op === "alltoall" ? () => comm.alltoall(new Float64Array(s8.buffer, 0, 1), new Float64Array(r8.buffer, 0, 1))
  : (() => { throw new Error(op); })();
await comm.barrier();
const heapProf = process.env.PROBE_HEAP === "1" && me === Number(process.env.PROBE_RANK ?? 0);
let session: import("node:inspector").Session | null = null;
const post = (m: string, p?: object) => new Promise<any>((res, rej) => session!.post(m, p ?? {}, (e, r) => (e ? rej(e) : res(r))));
const rows: string[] = [];
const bells0 = comm.stats().fastpath.bells;
let b0 = bells0;
for (let i = 0; i < total; i += batch) {
  if (heapProf && i === total / 2) {
    const { Session } = await import("node:inspector");
    session = new Session(); session.connect();
    await post("HeapProfiler.startSampling", { samplingInterval: 64, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  const h0 = newUsed(); const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let k = 0; k < batch; k++) await step();
  const t = (performance.now() - t0) * 1000 / batch; const c = process.cpuUsage(c0); const h1 = newUsed();
  const st = comm.stats(); const bells = st.fastpath.bells + st.collSlots.bells;
  rows.push(`${i + batch}\t${t.toFixed(1)}\t${((c.user + c.system) / batch).toFixed(1)}\t${((bells - b0) / batch).toFixed(2)}\t${h1 > h0 ? ((h1 - h0) / batch).toFixed(0) : "gc"}`);
  b0 = bells;
}
if (session) {
  const { profile } = await post("HeapProfiler.stopSampling");
  const self = new Map<string, number>(); let tot = 0;
  const walk = (n: any, path: string) => { const cf = n.callFrame; const key = `${cf.functionName || "(anon)"} ${cf.url.split("/").slice(-2).join("/")}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + n.selfSize); tot += n.selfSize; for (const c of n.children) walk(c, path); };
  walk(profile.head, "");
  const ops = total / 2;
  process.stderr.write(`HEAP per op ${(tot / ops).toFixed(0)} B (sampled)\n` + [...self].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([k, v]) => `${(v / ops).toFixed(0).padStart(6)} B/op  ${k}`).join("\n") + "\n");
}
if (me === 1 && op === "stream") process.stderr.write(`RANK1 ${rows.map((r) => r.split("\t")[2]).join(" ")}\n`);
if (me === 0) console.log(`# ${op} ${size}B: iter  us/op  cpu-us/op  bells/op  B/op\n` + rows.join("\n"));
await comm.close();
