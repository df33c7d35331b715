// "Wire speed" baseline: raw @onecopy/cma copy bandwidth between two processes, no messaging.
//
// This process forks an owner (this file with --raw-cma-owner) that allocates a buffer, touches
// it and publishes {pid, iov} over IPC (as a onecopy sender would in its RTS); this process
// then copies the first `size` bytes with readSync() into a pre-touched, reused buffer of its
// own, back to back, and reports MB/s (1e6 bytes/s). With `hugepages` both sides use
// allocBuffer() buffers.
import { fork } from "node:child_process";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { allocBuffer, bufferBacking, describe, readSync } from "@onecopy/cma";

export interface RawCmaOptions {
  sizes: number[];
  reps: number;
  /** Time per measurement, ms. */
  targetMs: number;
  hugepages: boolean;
  onProgress?: (msg: string) => void;
}

export interface RawCmaResult {
  size: number;
  /** MB/s per repetition. */
  samples: number[];
  iters: number[];
}

/** `--import` argument that lets a forked child run TypeScript through tsx. */
export function tsxExecArgv(): string[] {
  if (process.execArgv.some((a) => a.includes("tsx"))) return process.execArgv;
  return ["--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href];
}

export async function measureRawCma(o: RawCmaOptions): Promise<{ results: RawCmaResult[]; backing: string }> {
  const maxSize = Math.max(...o.sizes);
  const owner = fork(fileURLToPath(import.meta.url), ["--raw-cma-owner", String(maxSize), o.hugepages ? "huge" : "plain"], {
    execArgv: tsxExecArgv(),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const remote = await new Promise<{ pid: number; iov: number[]; backing: string }>((resolve, reject) => {
      owner.once("message", (m) => resolve(m as { pid: number; iov: number[]; backing: string }));
      owner.once("exit", (code) => reject(new Error(`raw-cma owner exited with ${code}`)));
    });
    const local = o.hugepages ? new Uint8Array(allocBuffer(maxSize)) : new Uint8Array(new ArrayBuffer(maxSize));
    local.fill(1); // pre-touch: the kernel must not fault pages in during the copy
    const addr = remote.iov[0]!;
    const results = o.sizes.map((size) => ({ size, samples: [] as number[], iters: [] as number[] }));
    for (let rep = 0; rep < o.reps; rep++) {
      o.onProgress?.(`raw cma${o.hugepages ? " (huge pages)" : ""} rep ${rep + 1}/${o.reps}`);
      for (const r of results) {
        const dst = local.subarray(0, r.size);
        const rio = [addr, r.size];
        const w0 = performance.now();
        const warm = r.size >= 16 << 20 ? 2 : 10;
        for (let i = 0; i < warm; i++) readSync(remote.pid, dst, rio);
        const per = (performance.now() - w0) / warm;
        const iters = Math.max(3, Math.min(200_000, Math.round(o.targetMs / Math.max(per, 1e-4))));
        const a = performance.now();
        for (let i = 0; i < iters; i++) readSync(remote.pid, dst, rio);
        const ms = performance.now() - a;
        r.samples.push((r.size * iters) / (ms / 1000) / 1e6);
        r.iters.push(iters);
      }
    }
    const backing = `owner ${remote.backing}, reader ${bufferBacking(local.buffer as ArrayBuffer)?.kind ?? "heap"}`;
    return { results, backing };
  } finally {
    owner.disconnect();
    owner.kill();
  }
}

// ------------------------------------------------------------------------------------ owner
if (process.argv[2] === "--raw-cma-owner") {
  const bytes = Number(process.argv[3]);
  const huge = process.argv[4] === "huge";
  const u8 = huge ? new Uint8Array(allocBuffer(bytes)) : new Uint8Array(new ArrayBuffer(bytes));
  u8.fill(7); // touch every page, as a real sender's buffer would be
  const d = describe(u8);
  process.send!({ pid: process.pid, iov: Array.from(d.iov), backing: bufferBacking(u8.buffer as ArrayBuffer)?.kind ?? "heap" });
  process.on("disconnect", () => process.exit(0));
  // Keep u8 alive while the reader copies from it.
  setInterval(() => void u8[0], 1 << 30);
}
