// Baseline: what a Node user reaches for today — child_process IPC with
// `serialization: 'advanced'` (structured clone of Buffers over a Unix socket pair).
//
//   node bench/run.js ipc-baseline [--quick]      (bench/p2p-suite.ts runs it as a column)
//
//   latency  ping-pong: the parent sends a Buffer, the child sends the received one back;
//            half the round trip, µs.
//   bw       streaming: the parent sends a window of Buffers (64, capped at --max-window-bytes,
//            default 64 MiB per window), the child acks each window with a small message; MB/s.
//
// The parent's send buffer is allocated once at the largest size, pre-touched and reused
// (sent as subarray views: the serializer copies only the view's bytes).
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { tsxExecArgv } from "./lib/raw-cma.js";

export interface IpcOptions {
  sizes: number[];
  reps: number;
  targetMs: number;
  /** Small ping-pongs before measuring (default 300 ms). */
  warmupMs?: number;
  benches?: Array<"latency" | "bw">;
  window?: number;
  maxWindowBytes?: number;
  onProgress?: (msg: string) => void;
}

export interface IpcResult {
  bench: "latency" | "bw";
  size: number;
  unit: "us" | "MB/s";
  samples: number[];
  iters: number[];
  window: number;
}

class Channel {
  private queue: unknown[] = [];
  private waiting: Array<(m: unknown) => void> = [];
  constructor(readonly child: ChildProcess) {
    child.on("message", (m) => {
      const w = this.waiting.shift();
      if (w) w(m);
      else this.queue.push(m);
    });
  }
  next(): Promise<unknown> {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  send(m: unknown): void {
    this.child.send(m as never);
  }
}

export async function measureIpc(o: IpcOptions): Promise<IpcResult[]> {
  const benches = o.benches ?? ["latency", "bw"];
  const maxWindowBytes = o.maxWindowBytes ?? 64 << 20;
  const maxSize = Math.max(...o.sizes);
  const child = fork(fileURLToPath(import.meta.url), ["--ipc-child"], {
    serialization: "advanced",
    execArgv: tsxExecArgv(),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ch = new Channel(child);
  await ch.next(); // ready
  const buf = Buffer.alloc(maxSize, 5);
  const results = new Map<string, IpcResult>();
  try {
    // Global warm-up, as in p2p.ts: small ping-pongs for warmupMs.
    ch.send({ mode: "echo", window: 1 });
    await ch.next();
    const tiny = buf.subarray(0, 1);
    for (const w0 = performance.now(); performance.now() - w0 < (o.warmupMs ?? 300); ) {
      ch.send(tiny);
      await ch.next();
    }
    for (let rep = 0; rep < o.reps; rep++) {
      for (const bench of benches) {
        o.onProgress?.(`child_process IPC ${bench} rep ${rep + 1}/${o.reps}`);
        for (const size of o.sizes) {
          const msg = buf.subarray(0, size);
          const win = bench === "latency" ? 1 : Math.max(1, Math.min(o.window ?? 64, Math.floor(maxWindowBytes / Math.max(size, 1))));
          ch.send({ mode: bench === "latency" ? "echo" : "sink", window: win });
          await ch.next(); // mode set
          const step =
            bench === "latency"
              ? async () => {
                  ch.send(msg);
                  await ch.next();
                }
              : async () => {
                  for (let w = 0; w < win; w++) ch.send(msg);
                  await ch.next();
                };
          const skip = size * win >= 16 << 20 ? 1 : size >= 64 << 10 ? 3 : 10;
          const w0 = performance.now();
          for (let i = 0; i < skip; i++) await step();
          const per = (performance.now() - w0) / skip;
          const iters = Math.max(per > 50 ? 2 : 3, Math.min(100_000, Math.round(o.targetMs / Math.max(per, 1e-3))));
          const a = performance.now();
          for (let i = 0; i < iters; i++) await step();
          const ms = performance.now() - a;
          const value = bench === "latency" ? (ms * 1000) / (2 * iters) : (size * win * iters) / (ms / 1000) / 1e6;
          const key = `${bench}:${size}`;
          let r = results.get(key);
          if (!r) results.set(key, (r = { bench, size, unit: bench === "latency" ? "us" : "MB/s", samples: [], iters: [], window: win }));
          r.samples.push(value);
          r.iters.push(iters);
        }
      }
    }
  } finally {
    child.disconnect();
    child.kill();
  }
  return [...results.values()];
}

// ------------------------------------------------------------------------------------ child
if (process.argv.includes("--ipc-child")) {
  let mode = "echo";
  let window = 1;
  let got = 0;
  process.on("message", (m: unknown) => {
    if (ArrayBuffer.isView(m)) {
      if (mode === "echo") process.send!(m);
      else if (++got === window) {
        got = 0;
        process.send!(1);
      }
      return;
    }
    const c = m as { mode: string; window: number };
    mode = c.mode;
    window = c.window;
    got = 0;
    process.send!("ok");
  });
  process.on("disconnect", () => process.exit(0));
  process.send!("ready");
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Standalone: print a table and write bench/results/ipc-baseline.json.
  const quick = process.argv.includes("--quick");
  const sizes: number[] = [];
  for (let s = 1; s <= 64 << 20; s *= quick ? 4 : 2) sizes.push(s);
  const reps = quick ? 3 : 5;
  const t0 = performance.now();
  const res = await measureIpc({ sizes, reps, targetMs: quick ? 15 : 60, onProgress: (m) => process.stderr.write(`${m}\n`) });
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`child_process IPC (serialization: 'advanced'), medians of ${reps} reps [min … max]`);
  console.log(`${"size".padEnd(10)}${"latency µs".padStart(12)}${"bw MB/s".padStart(12)}${"bw min".padStart(10)}${"bw max".padStart(10)}`);
  for (const size of sizes) {
    const l = res.find((r) => r.bench === "latency" && r.size === size)!;
    const b = res.find((r) => r.bench === "bw" && r.size === size)!;
    console.log(
      `${String(size).padEnd(10)}${med(l.samples).toFixed(2).padStart(12)}${med(b.samples).toFixed(1).padStart(12)}${Math.min(...b.samples).toFixed(1).padStart(10)}${Math.max(...b.samples).toFixed(1).padStart(10)}`,
    );
  }
  const dir = fileURLToPath(new URL("./results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    `${dir}ipc-baseline.json`,
    JSON.stringify({ bench: "ipc-baseline", date: new Date().toISOString(), machine: { cores: cpus().length, kernel: release(), node: process.version }, results: res }, null, 2),
  );
  console.log(`took ${((performance.now() - t0) / 1000).toFixed(1)} s; results: ${dir}ipc-baseline.json`);
}
