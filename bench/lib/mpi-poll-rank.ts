// The polling cost of the MPI progress loop (bench/mpi-internode.ts), ranks 0 and 1 on two
// simulated nodes: (1) rank 0 blocked in a receive that rank 1 satisfies only after --wait-ms:
// the CPU rank 0 spent meanwhile (process.cpuUsage, % of one core); (2) ping-pong of 8 bytes:
// µs per half round trip. Rank 0 prints one JSON line.
import { init } from "onecopy";
import { flagValue } from "./args.js";

const argv = process.argv.slice(2);
const waitMs = Number(flagValue(argv, "--wait-ms") ?? 2000);
const iters = Number(flagValue(argv, "--iters") ?? 2000);
const comm = await init();
const b = new Uint8Array(8);
if (comm.rank === 1) {
  await new Promise((r) => setTimeout(r, waitMs));
  await comm.send(b, 0, 1);
} else if (comm.rank === 0) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await comm.recv(b, 1, 1);
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  (globalThis as Record<string, unknown>).idle = { waitedMs: wall, cpuPercent: ((c.user + c.system) / 1000 / wall) * 100 };
}
async function pingPong(rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (comm.rank === 0) {
      await comm.send(b, 1, 2);
      await comm.recv(b, 1, 2);
    } else if (comm.rank === 1) {
      await comm.recv(b, 0, 2);
      await comm.send(b, 0, 2);
    }
  }
}
await comm.barrier();
await pingPong(100); // warm-up
const t = performance.now();
await pingPong(iters);
const us = ((performance.now() - t) * 1000) / iters / 2;
if (comm.rank === 0) console.log(JSON.stringify({ type: "poll", idle: (globalThis as Record<string, unknown>).idle, latencyUs: us }));
await comm.close();
