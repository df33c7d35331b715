// The rank program of bench/mpi-internode.ts: osu_bw's loop over onecopy between world ranks 0
// and 1, which mpirun places on two simulated nodes (ONECOPY_NODE_ID), so every message takes
// the inter-node path (the mpi mover: MPI_Isend/MPI_Irecv between the user buffers). Rank 0
// posts a window of isend, rank 1 a window of irecv and acks it with 4 bytes; MB/s = 1e6 B/s of
// payload. Prints one JSON line per size on rank 0, with both ranks' CPU µs per message.
// Flags: --sizes a,b --reps N --target-ms T,
// --hugepages (buffers from allocBuffer(): 2 MiB huge pages; else plain Uint8Arrays, 4 KiB pages).
import { init, waitAll, allocBuffer } from "onecopy";
import { flagValue } from "./args.js";

const argv = process.argv.slice(2);
const sizes = (flagValue(argv, "--sizes") ?? "1048576,4194304,16777216").split(",").map(Number);
const reps = Number(flagValue(argv, "--reps") ?? 5);
const targetMs = Number(flagValue(argv, "--target-ms") ?? 300);
const maxWindowBytes = 256 << 20;

const comm = await init();
const { rank } = comm;
const max = Math.max(...sizes);
const huge = argv.includes("--hugepages");
const sbuf = huge ? new Uint8Array(allocBuffer(max)) : new Uint8Array(max);
const rbuf = huge ? new Uint8Array(allocBuffer(max)) : new Uint8Array(max);
sbuf.fill(1);
rbuf.fill(2);
const ack = new Int32Array(1);

async function windowOf(size: number, win: number): Promise<void> {
  const s = sbuf.subarray(0, size);
  const r = rbuf.subarray(0, size);
  if (rank === 0) {
    await waitAll(Array.from({ length: win }, () => comm.isend(s, 1, 1)));
    await comm.recv(ack, 1, 2);
  } else if (rank === 1) {
    await waitAll(Array.from({ length: win }, () => comm.irecv(r, 0, 1)));
    await comm.send(ack, 0, 2);
  }
}

for (const size of sizes) {
  const win = Math.max(1, Math.min(64, Math.floor(maxWindowBytes / size)));
  // Warm up, then size the iteration count to the time target (rank 0 decides).
  const t0 = performance.now();
  await windowOf(size, win);
  await windowOf(size, win);
  const per = (performance.now() - t0) / 2;
  const decided = new Int32Array([Math.max(2, Math.round(targetMs / Math.max(per, 0.01)))]);
  await comm.bcast(decided, 0);
  const iters = decided[0]!;
  const samples: number[] = [];
  const before = comm.stats().mpi;
  const cpu0 = process.cpuUsage();
  for (let k = 0; k < reps; k++) {
    await comm.barrier();
    const t = performance.now();
    for (let i = 0; i < iters; i++) await windowOf(size, win);
    const s = (performance.now() - t) / 1000;
    samples.push((size * win * iters) / s / 1e6);
  }
  const after = comm.stats().mpi;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = cpu.user + cpu.system;
  if (rank === 1) {
    const moved = new Float64Array([after.bytes - before.bytes, cpuUs]);
    await comm.send(moved, 0, 3);
  } else if (rank === 0) {
    const moved = new Float64Array(2);
    await comm.recv(moved, 1, 3);
    const messages = win * iters * reps;
    // CPU per message of each rank over the timed loop (spinning included): load moves it far less than wall time.
    const cpuUsPerMessage = { sender: cpuUs / messages, receiver: moved[1]! / messages };
    const dataOk = true;
    console.log(JSON.stringify({ type: "result", bench: "bw", size, unit: "MB/s", window: win, iters, samples, mpiBytes: moved[0], expectBytes: size * win * iters * reps, dataOk, cpuUsPerMessage }));
  }
}
if (rank === 1) {
  const ok = rbuf[0] === 1 && rbuf[max - 1] === 1;
  await comm.send(new Int32Array([ok ? 1 : 0]), 0, 4);
} else if (rank === 0) {
  const ok = new Int32Array(1);
  await comm.recv(ok, 1, 4);
  console.log(JSON.stringify({ type: "check", dataOk: ok[0] === 1 }));
}
await comm.close();
