// Where the time of a hierarchical world allreduce goes, per rank (bench/mpi-internode.ts):
// under mpirun over simulated nodes, for each size, `--iters` timed calls (after 3 untimed), an
// untimed barrier after each; prints one JSON line per rank and size:
//   {"type":"steps", rank, leader, size, usPerCall, cpuUsPerCall, steps: {local, agree, mpi, after}}
// steps: µs per call this rank spent in each step of hierarchical.ts (node-local reduce, the
// leaders' signature agreement + verdict broadcast, waiting for the leaders' MPI allreduce, the
// node-local broadcast back; a pipelined call counts all its chunks under "after"), from
// HierarchicalComm.steps.
import { performance } from "node:perf_hooks";
import { init } from "onecopy";
import { flagValue } from "./args.js";

const argv = process.argv.slice(2);
const sizes = (flagValue(argv, "--sizes") ?? "1048576,4194304,16777216").split(",").map(Number);
const iters = Number(flagValue(argv, "--iters") ?? 10);
const comm = await init();
type Steps = Record<"calls" | "local" | "agree" | "mpi" | "after", number>;
const steps = (comm as unknown as { steps?: Steps }).steps;
if (!steps) throw new Error("hier-steps-rank: the world is not hierarchical (run it over two or more simulated nodes)");
const leader = (comm as unknown as { leaders: { leader: boolean } }).leaders.leader;
const max = Math.max(...sizes);
const send = new Float64Array(max / 8).fill(comm.rank + 1);
const recv = new Float64Array(max / 8);
for (const size of sizes) {
  const s = send.subarray(0, size / 8);
  const r = recv.subarray(0, size / 8);
  for (let i = 0; i < 3; i++) await comm.allreduce(s, r, "sum");
  await comm.barrier();
  const before = { ...steps };
  let wall = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < iters; i++) {
    const t = performance.now();
    await comm.allreduce(s, r, "sum");
    wall += performance.now() - t;
    await comm.barrier();
  }
  const cpu = process.cpuUsage(cpu0);
  const want = (comm.size * (comm.size + 1)) / 2;
  const per = (k: keyof Steps) => ((steps[k] ?? 0) - (before[k] ?? 0)) / iters;
  console.log(
    JSON.stringify({
      type: "steps", rank: comm.rank, leader, size, ok: r.every((x) => x === want),
      usPerCall: (wall * 1000) / iters, cpuUsPerCall: (cpu.user + cpu.system) / iters,
      steps: { local: per("local"), agree: per("agree"), mpi: per("mpi"), after: per("after") },
    }),
  );
}
await comm.close();
