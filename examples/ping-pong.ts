/**
 * ping-pong — latency and bandwidth between two ranks, from 1 byte to 64 MiB.
 *
 * Rank 0 sends a message to rank 1, which sends it straight back; half the round trip is the
 * one-way time. Small messages travel eagerly inline on the socket; above the eager limit
 * (32 KiB) the receiver copies them once, straight out of the sender's buffer
 * (process_vm_readv). The last column says which path each size took, from comm.stats().
 * Both sides check the bytes they received; ranks other than 0 and 1 only wait.
 *
 *   onecopy run -n 2 examples/ping-pong.ts                  (single copy)
 *   onecopy run -n 2 --no-cma examples/ping-pong.ts         (without single copy)
 *   onecopy run -n 2 examples/ping-pong.ts --max 16M --time 0.1
 *   onecopy run -n 2 examples/ping-pong.ts --small          (smoke-test size)
 *
 * Options: --max bytes (largest size, default 64M), --time seconds per size (default 0.2).
 */
import { init, allocBuffer, type TransportStats } from "onecopy";
import { flags, human, report, verify } from "./_shared.js";

const opt = flags({ max: 64 * 2 ** 20, time: 0.2 }, { max: 2 ** 20, time: 0.02 });
const comm = await init();
const { rank, size } = comm;
if (size < 2) {
  console.error("ping-pong needs at least 2 ranks: onecopy run -n 2 examples/ping-pong.ts");
  process.exit(2);
}

const maxBytes = Math.max(1, Math.floor(opt.max));
// One huge-page buffer for the largest size; each size sends a prefix of it.
const buf = new Uint8Array(allocBuffer(maxBytes));
const pattern = (i: number, n: number) => (i * 131 + n) & 0xff;
const sizes: number[] = [];
for (let n = 1; n <= maxBytes; n *= 4) sizes.push(n);
if (sizes[sizes.length - 1] !== maxBytes) sizes.push(maxBytes);

let ok = true;
let bad = "";
const rows: Array<{ n: number; iters: number; us: number; mbps: number; path: string }> = [];
const t0 = performance.now();

function pathOf(before: TransportStats, after: TransportStats): string {
  const d = (f: (s: TransportStats) => number) => f(after) - f(before);
  const paths: Array<[string, number]> = [
    ["single-copy", d((s) => s.singleCopy.messages)],
    ["shm", d((s) => s.shm?.messages ?? 0)],
    ["socket fallback", d((s) => s.fallback.messages)],
    ["eager", d((s) => s.eager.messages)],
  ];
  return paths.filter(([, m]) => m > 0).map(([p]) => p).join("+") || "-";
}

/** Check that the first n bytes carry size n's pattern; spot-check large buffers. */
function check(n: number, who: string): void {
  const step = n > 1 << 16 ? 4093 : 1;
  for (let i = 0; i < n; i += step) {
    if (buf[i] !== pattern(i, n)) {
      ok = false;
      bad ||= `${who}: size ${n}, byte ${i} is ${buf[i]}, expected ${pattern(i, n)}`;
      return;
    }
  }
  if (buf[n - 1] !== pattern(n - 1, n)) {
    ok = false;
    bad ||= `${who}: size ${n}, last byte wrong`;
  }
}

if (rank < 2) {
  const peer = 1 - rank;
  for (const n of sizes) {
    const msg = buf.subarray(0, n);
    // Warm up, then agree on an iteration count that fills about --time seconds.
    const warm = n < 1 << 20 ? 20 : 3;
    if (rank === 0) {
      for (let i = 0; i < n; i++) buf[i] = pattern(i, n);
      await comm.send(msg, peer, 1);
      await comm.recv(msg, peer, 1);
      const w0 = performance.now();
      for (let i = 0; i < warm; i++) {
        await comm.send(msg, peer, 1);
        await comm.recv(msg, peer, 1);
      }
      const once = Math.max((performance.now() - w0) / 1000 / warm, 1e-7);
      const iters = Math.max(3, Math.min(10_000, Math.round(opt.time / once)));
      await comm.send(new Uint32Array([iters]), peer, 2);
      const before = comm.stats();
      const s0 = performance.now();
      for (let i = 0; i < iters; i++) {
        await comm.send(msg, peer, 3);
        await comm.recv(msg, peer, 3);
      }
      const secs = (performance.now() - s0) / 1000;
      check(n, "rank 0 (echo)");
      rows.push({ n, iters, us: (secs / iters / 2) * 1e6, mbps: (2 * iters * n) / secs / 1e6, path: pathOf(before, comm.stats()) });
    } else {
      buf.fill(0, 0, n);
      await comm.recv(msg, peer, 1);
      check(n, "rank 1");
      await comm.send(msg, peer, 1);
      for (let i = 0; i < warm; i++) {
        await comm.recv(msg, peer, 1);
        await comm.send(msg, peer, 1);
      }
      const it = new Uint32Array(1);
      await comm.recv(it, peer, 2);
      for (let i = 0; i < it[0]!; i++) {
        await comm.recv(msg, peer, 3);
        await comm.send(msg, peer, 3);
      }
      check(n, "rank 1");
    }
  }
}
const seconds = (performance.now() - t0) / 1000;
const stats = comm.stats();

if (rank === 0) {
  console.log(`ping-pong between ranks 0 and 1 (${size} ranks in the job)`);
  console.log(`${"size".padStart(9)} ${"iters".padStart(6)} ${"latency µs".padStart(11)} ${"MB/s".padStart(9)}  path`);
  for (const r of rows) {
    console.log(`${human(r.n).padStart(9)} ${String(r.iters).padStart(6)} ${r.us.toFixed(2).padStart(11)} ${r.mbps.toFixed(0).padStart(9)}  ${r.path}`);
  }
}
const big = rows[rows.length - 1];
const detail = `${sizes.length} sizes from 1 B to ${human(maxBytes)} arrived intact both ways` + (big ? `; ${human(big.n)}: ${(big.mbps / 1000).toFixed(2)} GB/s` : "");
await verify(comm, "ping-pong", ok, ok ? detail : bad);
await report(comm, "ping-pong", seconds, stats);
await comm.close();
