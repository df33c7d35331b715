/**
 * hello — the smallest onecopy program: every rank says hello, then ranks 0 and 1 ping-pong a
 * large Float64Array and report how its bytes moved.
 *
 *   onecopy run -n 4 examples/hello.ts            (single copy)
 *   onecopy run -n 4 --no-cma examples/hello.ts   (the same without single copy)
 *
 * It checks its own result and exits non-zero if anything arrived wrong.
 */
import { init, allocBuffer } from "onecopy";

const comm = await init();
const { rank, size } = comm;

// 1. Hello from everyone, gathered at rank 0 as objects.
if (rank !== 0) {
  await comm.sendObject({ rank, pid: process.pid, host: "localhost" }, 0, 1);
} else {
  const seen = [{ rank, pid: process.pid }];
  for (let i = 1; i < size; i++) seen.push((await comm.recvObject<{ rank: number; pid: number }>(undefined, 1)).value);
  seen.sort((a, b) => a.rank - b.rank);
  console.log(`hello from ${size} rank${size > 1 ? "s" : ""}: ${seen.map((s) => `${s.rank} (pid ${s.pid})`).join(", ")}`);
}

// 2. Ping-pong of 32 MiB between ranks 0 and 1, on huge-page buffers (`--small`: 1 MiB).
if (size >= 2 && rank < 2) {
  const n = process.argv.includes("--small") ? 128 << 10 : 4 << 20; // 4 Mi doubles = 32 MiB
  const buf = new Float64Array(allocBuffer(n * 8));
  if (rank === 0) for (let i = 0; i < n; i++) buf[i] = i * 0.5;
  const peer = 1 - rank;
  const iters = 20;
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) {
    if (rank === 0) {
      await comm.send(buf, peer, 2);
      await comm.recv(buf, peer, 2);
    } else {
      await comm.recv(buf, peer, 2);
      await comm.send(buf, peer, 2);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  let ok = true;
  for (let i = 0; i < n; i += 4099) if (buf[i] !== i * 0.5) ok = false;
  if (!ok) {
    console.error(`rank ${rank}: ping-pong data is wrong`);
    process.exit(1);
  }
  if (rank === 0) {
    const s = comm.stats();
    const gbps = (2 * iters * n * 8) / secs / 1e9;
    console.log(`ping-pong ${(n * 8) / 2 ** 20} MiB × ${2 * iters}: ${gbps.toFixed(2)} GB/s, verification OK`);
    console.log(
      `rank 0 received: ${(s.singleCopy.bytes / 2 ** 20).toFixed(0)} MiB by single copy, ` +
        `${(s.shm.bytes / 2 ** 20).toFixed(0)} MiB through shared memory, ` +
        `${(s.fallback.bytes / 2 ** 20).toFixed(0)} MiB by socket fallback, ${s.eager.messages} eager messages`,
    );
  }
}
await comm.close();
