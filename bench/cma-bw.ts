// Single-copy bandwidth through @onecopy/cma between two processes, next to in-process memcpy
// (Buffer.copy, TypedArray.set) and a C reference doing the same process_vm_readv loop.
//
//   node bench/run.js cma-bw [--quick]        (or: node --import tsx bench/cma-bw.ts [--quick])
//
// The reader (this process) forks an owner process that allocates and touches the source
// buffer; the reader copies the first `size` bytes of it into a pre-touched, reused destination
// with readSync (and with transfer() on koffi worker threads for the async rows). Each cell is
// the median of `samples` timed samples of `iters` back-to-back copies, with iters chosen so a
// sample moves about `target` bytes. The methods take their samples in turn (round-robin, after
// one warm-up round), so background load skews all columns of a row alike. The C reference
// (bench/native/cma_bw.c, built with `cc -O2` into bench/native/build/ when a compiler exists)
// is driven the same way over a pipe. Results also go to bench/results/cma-bw.json.
import { fork, spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, release } from "node:os";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import {
  allocBuffer,
  asyncDefaults,
  bufferBacking,
  describe,
  ioListOf,
  readSync,
  transfer,
  transferSync,
  transparentHugePages,
} from "@onecopy/cma";

type Kind = "ordinary" | "hugepages";
const KINDS: Kind[] = ["ordinary", "hugepages"];
const KiB = 1024;
const MiB = 1024 * KiB;

// ------------------------------------------------------------------------------------ owner
function runOwner(): void {
  const held = new Map<Kind, Uint8Array>();
  process.on("message", (m: any) => {
    if (m.op === "alloc") {
      const u8 = m.kind === "hugepages" ? new Uint8Array(allocBuffer(m.bytes)) : new Uint8Array(new ArrayBuffer(m.bytes));
      u8.fill(7); // touch every page: the owner's memory is resident, as a real sender's would be
      held.set(m.kind, u8);
      const d = describe(u8);
      process.send!({ iov: d.iov, backing: bufferBacking(u8.buffer as ArrayBuffer)?.kind ?? "heap" });
    } else if (m.op === "free") {
      held.delete(m.kind);
      process.send!({});
    }
  });
  process.on("disconnect", () => process.exit(0));
  process.send!({ ready: true });
}

// ------------------------------------------------------------------------------------ reader
interface Row {
  kind: Kind;
  method: string;
  size: number;
  iters: number;
  gbps: number; // median
  us: number; // median µs per copy
  samplesGbps: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

function fmtSize(n: number): string {
  if (n >= MiB) return `${n / MiB} MiB`;
  if (n >= KiB) return `${n / KiB} KiB`;
  return `${n} B`;
}

async function main(): Promise<void> {
  const quick = process.argv.includes("--quick");
  const maxSize = quick ? 64 * MiB : 256 * MiB;
  const sizes: number[] = [];
  for (let s = 4 * KiB; s <= maxSize; s *= 4) sizes.push(s);
  const samples = quick ? 7 : 9;
  const target = quick ? 16 * MiB : 32 * MiB;
  const asyncFrom = 64 * KiB; // async rows from here (the brief asks ≥ 1 MiB; smaller sizes locate the crossover)
  const here = fileURLToPath(new URL(".", import.meta.url));
  const t0 = performance.now();

  const iterationsFor = (size: number) => Math.min(20000, Math.max(1, Math.floor(target / size)));

  /** One way of copying `size` bytes `iters` times; resolves with the elapsed milliseconds. */
  interface Method {
    name: string;
    run: (iters: number) => number | Promise<number>;
  }
  const timeSync = (fn: () => unknown) => (iters: number) => {
    const a = performance.now();
    for (let i = 0; i < iters; i++) fn();
    return performance.now() - a;
  };
  const timeAsync = (fn: () => Promise<unknown>, setup: () => () => void) => async (iters: number) => {
    const restore = setup();
    try {
      const a = performance.now();
      for (let i = 0; i < iters; i++) await fn();
      return performance.now() - a;
    } finally {
      restore();
    }
  };

  /**
   * Measure every method at `size`: one warm-up round, then `samples` rounds in which each
   * method takes one sample in turn, so that background load hits all methods alike.
   */
  async function measure(kind: Kind, size: number, methods: Method[]): Promise<void> {
    const iters = iterationsFor(size);
    const g = methods.map(() => [] as number[]);
    const u = methods.map(() => [] as number[]);
    for (let s = -1; s < samples; s++) {
      for (let m = 0; m < methods.length; m++) {
        const ms = await methods[m]!.run(iters);
        if (s < 0) continue;
        g[m]!.push((size * iters) / ms / 1e6);
        u[m]!.push((ms * 1000) / iters);
      }
    }
    methods.forEach((m, i) => rows.push({ kind, method: m.name, size, iters, gbps: median(g[i]!), us: median(u[i]!), samplesGbps: g[i]! }));
  }

  // The C reference, built on demand when a compiler is present.
  const cBin = buildNative(here);
  const rows: Row[] = [];

  const owner = fork(fileURLToPath(import.meta.url), ["--owner"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const ask = (msg: object) =>
    new Promise<any>((resolve) => {
      owner.once("message", resolve);
      owner.send(msg);
    });
  await new Promise((resolve) => owner.once("message", resolve));
  const pid = owner.pid!;
  const backings: Record<string, unknown> = {};
  const loopGaps: Record<string, { size: number; syncMs: number; asyncS1Ms: number; asyncS2Ms: number }> = {};

  try {
    for (const kind of KINDS) {
      const remote = await ask({ op: "alloc", kind, bytes: maxSize });
      const local = kind === "hugepages" ? new Uint8Array(allocBuffer(maxSize)) : new Uint8Array(new ArrayBuffer(maxSize)).fill(1);
      const other = kind === "hugepages" ? new Uint8Array(allocBuffer(maxSize)) : new Uint8Array(new ArrayBuffer(maxSize)).fill(2);
      backings[kind] = {
        owner: remote.backing,
        reader: bufferBacking(local.buffer as ArrayBuffer)?.kind ?? "heap",
        ownerPageOffset: remote.iov[0] % 4096,
        readerPageOffset: describe(local).iov[0]! % 4096,
      };
      const raddr: number = remote.iov[0];
      const localBuf = Buffer.from(local.buffer, local.byteOffset, local.byteLength);
      const otherBuf = Buffer.from(other.buffer, other.byteOffset, other.byteLength);
      const c = cBin ? await CReference.start(cBin, kind === "hugepages" ? "huge" : "plain", maxSize) : null;

      try {
        for (const size of sizes) {
          const dst = local.subarray(0, size);
          const src = other.subarray(0, size);
          const rio = [raddr, size];
          const lio = ioListOf(dst);
          const workerPath = (minStreamBytes?: number) => () => {
            const saved = { ...asyncDefaults };
            asyncDefaults.threshold = 0; // measure the worker path at every size
            if (minStreamBytes !== undefined) asyncDefaults.minStreamBytes = minStreamBytes;
            return () => Object.assign(asyncDefaults, saved);
          };
          const methods: Method[] = [
            { name: "readSync", run: timeSync(() => readSync(pid, dst, rio)) },
            { name: "transferSync", run: timeSync(() => transferSync("read", pid, lio, rio)) },
            { name: "Buffer.copy", run: timeSync(() => otherBuf.copy(localBuf, 0, 0, size)) },
            { name: "TypedArray.set", run: timeSync(() => dst.set(src)) },
          ];
          if (c) methods.push({ name: "C process_vm_readv", run: (iters) => c.run(size, iters) });
          if (size >= asyncFrom) {
            methods.push(
              { name: "async s1", run: timeAsync(() => transfer("read", pid, lio, rio, { streams: 1 }), workerPath()) },
              // streams: 2 as shipped (split only when each part gets >= minStreamBytes)...
              { name: "async s2", run: timeAsync(() => transfer("read", pid, lio, rio, { streams: 2 }), workerPath()) },
              // ...and forced to split at every size, to see whether minStreamBytes is right.
              { name: "async s2 forced", run: timeAsync(() => transfer("read", pid, lio, rio, { streams: 2 }), workerPath(1)) },
            );
          }
          await measure(kind, size, methods);
        }
        // How long the event loop stalls: largest gap between ticks of a 1 ms interval while
        // copying the largest size 5 times (yielding to the loop between copies).
        const rio = [raddr, maxSize];
        const lio = ioListOf(local);
        const saved = { ...asyncDefaults };
        try {
          asyncDefaults.threshold = 0;
          loopGaps[kind] = {
            size: maxSize,
            syncMs: await loopGap(() => transferSync("read", pid, lio, rio)),
            asyncS1Ms: await loopGap(() => transfer("read", pid, lio, rio, { streams: 1 })),
            asyncS2Ms: await loopGap(() => transfer("read", pid, lio, rio, { streams: 2 })),
          };
        } finally {
          Object.assign(asyncDefaults, saved);
        }
      } finally {
        c?.close();
      }
      await ask({ op: "free", kind });
    }
  } finally {
    owner.disconnect();
    owner.kill();
  }

  // ---------------------------------------------------------------------------- report
  const get = (kind: Kind, method: string, size: number) => rows.find((r) => r.kind === kind && r.method === method && r.size === size);
  const f = (x: number | undefined, d = 1) => (x === undefined ? "—" : x.toFixed(d));
  const pct = (a?: Row, b?: Row) => (a && b ? `${a.us >= b.us ? "+" : ""}${((a.us / b.us - 1) * 100).toFixed(0)}%` : "—");
  const pad = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");

  const lines: string[] = [];
  const out = (s = "") => lines.push(s);
  out(`cma-bw: process_vm_readv bandwidth between two Node processes (GB/s = 1e9 B/s, medians of ${samples} samples, ~${fmtSize(target)} per sample)`);
  out("columns: readSync = @onecopy/cma readSync (GB/s, µs per copy); tSync = transferSync with prebuilt io lists; C = bench/native/cma_bw.c;");
  out("Buffer.copy / TA.set = in-process memcpy baseline; async = awaited transfer() on koffi workers (s2 forced: minStreamBytes=1); async cost = async µs vs tSync µs");
  out(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "?"}, Linux ${release()}, THP ${transparentHugePages()}, asyncDefaults ${JSON.stringify(asyncDefaults)}`);
  for (const kind of KINDS) {
    out();
    out(`${kind === "ordinary" ? "Ordinary buffers (new ArrayBuffer) on both sides" : "allocBuffer() huge-page buffers on both sides"} — ${JSON.stringify(backings[kind])}`);
    const w = [8, 9, 8, 9, 7, 6, 7, 11, 8, 8, 9, 9, 9, 10];
    out(pad(["size", "readSync", "µs/copy", "tSync µs", "C", "C µs", "koffi/C", "Buffer.copy", "TA.set", "CMA/copy", "async s1", "async s2", "s2 forced", "async cost"], w));
    for (const size of sizes) {
      const rs = get(kind, "readSync", size);
      const ts = get(kind, "transferSync", size);
      const c = get(kind, "C process_vm_readv", size);
      const bc = get(kind, "Buffer.copy", size);
      const s1 = get(kind, "async s1", size);
      const s2 = get(kind, "async s2", size);
      const s2f = get(kind, "async s2 forced", size);
      const bestAsync = [s1, s2].filter(Boolean).sort((a, b) => a!.us - b!.us)[0];
      out(
        pad(
          [
            fmtSize(size),
            f(rs?.gbps, 2),
            f(rs?.us, 1),
            f(ts?.us, 1),
            f(c?.gbps, 2),
            f(c?.us, 1),
            rs && c ? (rs.gbps / c.gbps).toFixed(2) : "—",
            f(bc?.gbps, 2),
            f(get(kind, "TypedArray.set", size)?.gbps, 2),
            rs && bc ? (rs.gbps / bc.gbps).toFixed(2) : "—",
            f(s1?.gbps, 2),
            f(s2?.gbps, 2),
            f(s2f?.gbps, 2),
            pct(bestAsync, ts),
          ],
          w,
        ),
      );
    }
  }
  out();
  out("Huge pages vs ordinary (readSync, and C):");
  const w2 = [8, 10, 10, 7, 10, 10, 7];
  out(pad(["size", "ordinary", "hugepages", "×", "C ord", "C huge", "×"], w2));
  for (const size of sizes) {
    const o = get("ordinary", "readSync", size);
    const h = get("hugepages", "readSync", size);
    const co = get("ordinary", "C process_vm_readv", size);
    const ch = get("hugepages", "C process_vm_readv", size);
    out(pad([fmtSize(size), f(o?.gbps, 2), f(h?.gbps, 2), o && h ? (h.gbps / o.gbps).toFixed(2) : "—", f(co?.gbps, 2), f(ch?.gbps, 2), co && ch ? (ch.gbps / co.gbps).toFixed(2) : "—"], w2));
  }
  out();
  out("Async threshold: async cost = µs per awaited transfer() (best of streams 1/2 as shipped) vs transferSync; a sync copy stalls the event loop for its whole µs/copy.");
  for (const kind of KINDS) {
    let from: number | null = null;
    for (const size of [...sizes].reverse()) {
      const ts = get(kind, "transferSync", size);
      const a = [get(kind, "async s1", size), get(kind, "async s2", size)].filter(Boolean).sort((x, y) => x!.us - y!.us)[0];
      if (!ts || !a || a.us > ts.us * 1.1) break;
      from = size;
    }
    const stall = sizes.filter((s) => s >= MiB).map((s) => `${fmtSize(s)} ${f(get(kind, "transferSync", s)?.us, 0)} µs`);
    out(`  ${kind}: async within 10% of sync from ${from === null ? "no measured size" : fmtSize(from)} upward; sync stall: ${stall.join(", ")}`);
  }
  for (const kind of KINDS) {
    const g = loopGaps[kind];
    if (g) out(`  ${kind}: longest event-loop gap (1 ms interval) over 5 copies of ${fmtSize(g.size)}: sync ${f(g.syncMs)} ms, async s1 ${f(g.asyncS1Ms)} ms, async s2 ${f(g.asyncS2Ms)} ms`);
  }
  out(cBin ? "" : "(no C compiler found: the C reference columns are empty)");
  out(`took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(lines.join("\n"));

  const resultsDir = `${here}results`;
  mkdirSync(resultsDir, { recursive: true });
  const file = `${resultsDir}/cma-bw.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        bench: "cma-bw",
        date: new Date().toISOString(),
        quick,
        env: {
          node: process.version,
          koffi: koffiVersion(),
          kernel: release(),
          cpu: cpus()[0]?.model,
          cpus: cpus().length,
          thp: transparentHugePages(),
          asyncDefaults: { ...asyncDefaults },
          cReference: cBin !== null,
        },
        config: { sizes, samples, targetBytesPerSample: target, units: { gbps: "1e9 bytes/s", us: "µs per copy" } },
        backings,
        eventLoopGaps: loopGaps,
        results: rows,
        table: lines,
      },
      null,
      2,
    ),
  );
  console.log(`results: ${file}`);
}

/** The C reference program (bench/native/cma_bw.c), driven one sample at a time over stdin. */
class CReference {
  private lines: string[] = [];
  private waiting: { resolve: (line: string) => void; reject: (err: Error) => void } | null = null;
  private exited: number | null | undefined;
  private constructor(private child: ChildProcessWithoutNullStreams) {
    let buf = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const w = this.waiting;
        this.waiting = null;
        if (w) w.resolve(line);
        else this.lines.push(line);
      }
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => process.stderr.write(`cma_bw: ${d}`));
    child.on("exit", (code) => {
      this.exited = code;
      this.waiting?.reject(new Error(`cma_bw exited (${code})`));
      this.waiting = null;
    });
  }

  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.exited !== undefined) return Promise.reject(new Error(`cma_bw exited (${this.exited})`));
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  static async start(bin: string, mode: "plain" | "huge", maxBytes: number): Promise<CReference> {
    const c = new CReference(spawn(bin, [mode, String(maxBytes)]));
    const first = await c.next();
    if (first !== "ready") throw new Error(`cma_bw: unexpected ${first}`);
    return c;
  }

  /** Copy `size` bytes `iters` times; the elapsed milliseconds. */
  async run(size: number, iters: number): Promise<number> {
    this.child.stdin.write(`${size} ${iters}\n`);
    return Number(await this.next()) * 1000;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** Longest gap between ticks of a 1 ms interval while `fn` runs 5 times, yielding in between. */
async function loopGap(fn: () => unknown): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  try {
    await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < 5; i++) {
      await fn();
      await new Promise((r) => setImmediate(r));
    }
    worst = Math.max(worst, performance.now() - last);
  } finally {
    clearInterval(timer);
  }
  return worst;
}

function koffiVersion(): string | null {
  try {
    const cmaMain = fileURLToPath(import.meta.resolve("@onecopy/cma"));
    return createRequire(cmaMain)("koffi/package.json").version;
  } catch {
    return null;
  }
}

/** Build bench/native/cma_bw.c into bench/native/build/ (when stale); null without a C compiler. */
function buildNative(here: string): string | null {
  const srcFile = `${here}native/cma_bw.c`;
  const buildDir = `${here}native/build`;
  const bin = `${buildDir}/cma_bw`;
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(srcFile).mtimeMs) return bin;
  const cc = process.env.CC || "cc";
  if (spawnSync(cc, ["--version"], { stdio: "ignore" }).status !== 0) return null;
  mkdirSync(buildDir, { recursive: true });
  const r = spawnSync(cc, ["-O2", "-o", bin, srcFile], { encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`building the C reference failed:\n${r.stderr}`);
    return null;
  }
  return bin;
}

// ------------------------------------------------------------------------------------ entry
if (process.argv.includes("--owner")) runOwner();
else await main();
