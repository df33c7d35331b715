// OSU-style point-to-point benchmarks over onecopy, as a rank program for a job of 2 ranks:
//
//   node packages/onecopy/dist/cli.js run -n 2 [--no-cma] [--transport cma|shm|socket] \
//        [--eager-limit BYTES] bench/p2p.ts [--quick] [--bench latency,bw,bibw] [--hugepages] \
//        [--sizes 4096,65536 | --min 1 --max 64MiB --step 2] [--reps 3] [--buffers N] [--json out.json]
//
// (Started on its own, outside the launcher, it relaunches itself as a job of 2 ranks.)
// The whole suite over every transport, with the baselines, is bench/p2p-suite.ts.
//
//   latency  osu_latency: ping-pong of one message; half the round trip, µs.
//   bw       osu_bw: rank 0 posts a window of 64 isends, rank 1 a window of 64 irecvs; rank 1
//            acks each window with a 4-byte message; MB/s = 1e6 bytes/s of payload.
//   bibw     osu_bibw: both ranks post a window of irecvs and a window of isends; MB/s counts
//            both directions.
//
// As in OSU, the send and receive buffers are allocated once at the largest size, pre-touched,
// and reused (every message of a window reads the same send buffer and lands in the same
// receive buffer). --buffers N spreads each window over N separate send and N separate receive
// buffers instead (message w uses buffer w mod N: the "many buffers" pattern, where no two
// copies in flight share a destination). With --hugepages they come from allocBuffer() (2 MiB aligned, THP). For
// large sizes the window is capped at --max-window-bytes (default 256 MiB per window) so one
// iteration stays short; the JSON records the window used. Iteration counts adapt to a time
// target per measurement (--target-ms for bw/bibw, 2.5× that for latency) after timed warm-up
// iterations (after a global warm-up of small ping-pongs, --warmup-ms), and the whole size sweep
// is repeated --reps times (reps outermost, so slow phases of a noisy VM spread over all
// sizes). Rank 0 prints a table (median, min, max over reps) and writes --json; rank 1 reports
// which path (singleCopy, eager, fallback, ...) carried each size, from its stats() deltas.
import { writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { allocBuffer, bufferBacking, init, waitAll, type Comm, type TransportStats } from "onecopy";
import { flagValue } from "./lib/args.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const TAG_DATA = 1;
const TAG_ACK = 2;
const TAG_CTRL = 3;

export type BenchName = "latency" | "bw" | "bibw";
export const BENCHES: BenchName[] = ["latency", "bw", "bibw"];

/** One (benchmark, size) cell: a sample per repetition. */
export interface P2PResult {
  bench: BenchName;
  size: number;
  unit: "us" | "MB/s";
  samples: number[];
  iters: number[];
  window: number;
  median: number;
  min: number;
  max: number;
  /** Path that carried the payload on the receiving rank (largest stats() delta), e.g. singleCopy. */
  path: string;
  /** Receiving rank's stats() delta over the first repetition of this cell. */
  stats?: Record<string, unknown>;
}

export interface P2PReport {
  bench: "p2p";
  label: string;
  date: string;
  env: Record<string, string | undefined>;
  hugepages: boolean;
  backing: string;
  options: Record<string, unknown>;
  results: P2PResult[];
  durationMs: number;
}

function parseBytes(text: string): number {
  const m = /^\s*(\d+)\s*(k|kib|m|mib|g|gib)?\s*$/i.exec(text);
  if (!m) throw new RangeError(`not a byte count: ${text}`);
  const u = (m[2] ?? "").toLowerCase();
  return Number(m[1]) * (u.startsWith("k") ? KiB : u.startsWith("m") ? MiB : u.startsWith("g") ? 1024 * MiB : 1);
}

export function fmtSize(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Default sizes: 1 B … 64 MiB, powers of 2 (quick: powers of 4, plus 8 B). */
export function defaultSizes(quick: boolean, min = 1, max = 64 * MiB, step = quick ? 4 : 2): number[] {
  const out: number[] = [];
  for (let s = min; s <= max; s *= step) out.push(s);
  if (quick && min <= 8 && max >= 8 && !out.includes(8)) out.push(8);
  return out.sort((a, b) => a - b);
}

interface Options {
  quick: boolean;
  benches: BenchName[];
  sizes: number[];
  reps: number;
  targetMs: number;
  warmupMs: number;
  window: number;
  maxWindowBytes: number;
  hugepages: boolean;
  /** Separate send/receive buffers per side a window is spread over (1: OSU's one buffer each side). */
  buffers: number;
  json: string | null;
  label: string;
  progress: boolean;
}

function parseArgs(argv: string[]): Options {
  const val = (name: string): string | undefined => flagValue(argv, name);
  const quick = argv.includes("--quick");
  const sizes = val("--sizes")
    ? val("--sizes")!.split(",").map(parseBytes)
    : defaultSizes(quick, parseBytes(val("--min") ?? "1"), parseBytes(val("--max") ?? "64MiB"), Number(val("--step") ?? (quick ? 4 : 2)));
  const benches = (val("--bench") ?? "latency,bw,bibw").split(",") as BenchName[];
  for (const b of benches) if (!BENCHES.includes(b)) throw new RangeError(`unknown benchmark ${b}; choose from ${BENCHES.join(",")}`);
  return {
    quick,
    benches,
    sizes,
    reps: Number(val("--reps") ?? 3),
    targetMs: Number(val("--target-ms") ?? (quick ? 15 : 50)),
    warmupMs: Number(val("--warmup-ms") ?? (quick ? 150 : 400)),
    window: Number(val("--window") ?? 64),
    maxWindowBytes: parseBytes(val("--max-window-bytes") ?? "256MiB"),
    hugepages: argv.includes("--hugepages"),
    buffers: Math.max(1, Number(val("--buffers") ?? 1)),
    json: val("--json") ?? null,
    label: val("--label") ?? process.env.ONECOPY_TRANSPORT ?? (process.env.ONECOPY_CMA === "0" ? "fallback" : "cma"),
    progress: !argv.includes("--no-progress"),
  };
}

/** Byte i of every send buffer. */
const pattern = (i: number) => (i * 31 + 7) & 255;

function alloc(bytes: number, huge: boolean): Uint8Array {
  const u8 = huge ? new Uint8Array(allocBuffer(Math.max(bytes, 1))) : new Uint8Array(new ArrayBuffer(Math.max(bytes, 1)));
  return u8;
}

/** Sampled positions for a cheap content check of a received message. */
function probePoints(size: number): number[] {
  if (size === 0) return [];
  const pts = new Set<number>([0, size - 1, size >> 1]);
  const stride = Math.max(4096, Math.floor(size / 64));
  for (let i = 0; i < size; i += stride) pts.add(i);
  return [...pts];
}

function statsDelta(a: TransportStats, b: TransportStats): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [k, v] of Object.entries(b as unknown as Record<string, Record<string, number>>)) {
    const before = (a as unknown as Record<string, Record<string, number>>)[k] ?? {};
    out[k] = {};
    for (const [f, n] of Object.entries(v)) if (typeof n === "number") out[k][f] = n - (before[f] ?? 0);
  }
  return out;
}

/** The receive path that moved the most bytes (ignoring `sent` and `control`). */
function dominantPath(d: Record<string, Record<string, number>>): string {
  let best = "none";
  let bytes = 0;
  for (const [k, v] of Object.entries(d)) {
    if (k === "sent" || k === "control") continue;
    if ((v.bytes ?? 0) > bytes) [best, bytes] = [k, v.bytes!];
  }
  return best;
}

async function run(comm: Comm, o: Options): Promise<void> {
  const t0 = performance.now();
  const me = comm.rank;
  const peer = 1 - me;
  const maxSize = Math.max(...o.sizes);
  const sbufs = Array.from({ length: o.buffers }, () => alloc(maxSize, o.hugepages));
  const rbufs = Array.from({ length: o.buffers }, () => alloc(maxSize, o.hugepages));
  const sbuf = sbufs[0]!;
  const rbuf = rbufs[0]!;
  for (let i = 0; i < sbuf.length; i++) sbuf[i] = pattern(i);
  for (const b of sbufs.slice(1)) b.set(sbuf);
  for (const b of rbufs) b.fill(1); // touch every page
  const ack = new Uint8Array(4);
  const ctrl = new Int32Array(1);
  const backing = o.hugepages ? (bufferBacking(sbuf.buffer as ArrayBuffer)?.kind ?? "heap") : "heap";

  const results = new Map<string, P2PResult>();
  const statsOf = new Map<string, Record<string, Record<string, number>>>();
  const key = (b: BenchName, s: number) => `${b}:${s}`;

  // Rank 0 decides the iteration count, rank 1 follows.
  async function agree(n: number): Promise<number> {
    if (me === 0) {
      ctrl[0] = n;
      await comm.send(ctrl, 1, TAG_CTRL);
      return n;
    }
    await comm.recv(ctrl, 0, TAG_CTRL);
    return ctrl[0]!;
  }

  const windowFor = (size: number) => Math.max(1, Math.min(o.window, Math.floor(o.maxWindowBytes / Math.max(size, 1))));

  /** One iteration of a benchmark at `size`. */
  function iteration(bench: BenchName, size: number, win: number): () => Promise<void> {
    const ss = sbufs.map((b) => b.subarray(0, size));
    const rs = rbufs.map((b) => b.subarray(0, size));
    const s = ss[0]!;
    const r = rs[0]!;
    const nb = o.buffers;
    if (bench === "latency") {
      return me === 0
        ? async () => {
            await comm.send(s, 1, TAG_DATA);
            await comm.recv(r, 1, TAG_DATA);
          }
        : async () => {
            await comm.recv(r, 0, TAG_DATA);
            await comm.send(s, 0, TAG_DATA);
          };
    }
    if (bench === "bw") {
      return me === 0
        ? async () => {
            const reqs = [];
            for (let w = 0; w < win; w++) reqs.push(comm.isend(ss[w % nb]!, 1, TAG_DATA));
            await waitAll(reqs);
            await comm.recv(ack, 1, TAG_ACK);
          }
        : async () => {
            const reqs = [];
            for (let w = 0; w < win; w++) reqs.push(comm.irecv(rs[w % nb]!, 0, TAG_DATA));
            await waitAll(reqs);
            await comm.send(ack, 0, TAG_ACK);
          };
    }
    return async () => {
      const reqs: Array<PromiseLike<unknown>> = [];
      for (let w = 0; w < win; w++) reqs.push(comm.irecv(rs[w % nb]!, peer, TAG_DATA));
      for (let w = 0; w < win; w++) reqs.push(comm.isend(ss[w % nb]!, peer, TAG_DATA));
      await waitAll(reqs);
    };
  }

  // Global warm-up: small ping-pongs for warmupMs, so the first cells do not measure idle
  // vCPUs waking up, cold JIT and lazy initialisation. Rank 0 says when to stop.
  if (me === 0) {
    const w0 = performance.now();
    while (performance.now() - w0 < o.warmupMs) {
      ctrl[0] = 1;
      await comm.send(ctrl, 1, TAG_CTRL);
      await comm.recv(ctrl, 1, TAG_CTRL);
    }
    ctrl[0] = 0;
    await comm.send(ctrl, 1, TAG_CTRL);
  } else {
    for (;;) {
      await comm.recv(ctrl, 0, TAG_CTRL);
      if (ctrl[0] === 0) break;
      await comm.send(ctrl, 0, TAG_CTRL);
    }
  }

  for (let rep = 0; rep < o.reps; rep++) {
    for (const bench of o.benches) {
      for (const size of o.sizes) {
        const win = bench === "latency" ? 1 : windowFor(size);
        const step = iteration(bench, size, win);
        const bytesPerIter = size * win;
        if (me === 0 && o.progress) process.stderr.write(`p2p[${o.label}] rep ${rep + 1}/${o.reps} ${bench} ${fmtSize(size)}\n`);
        const before = rep === 0 ? comm.stats() : null;
        // Let rank 1 check what arrives in the warm-up: scribble over the probe points first.
        const probes = rep === 0 && me === 1 ? probePoints(size) : [];
        for (const p of probes) rbuf[p] = pattern(p) ^ 0xff;

        // Warm-up, timed on rank 0 to pick the iteration count.
        const skip = await agree(bytesPerIter >= 16 * MiB ? 1 : bytesPerIter >= 256 * KiB ? 3 : size >= 64 * KiB ? 5 : 20);
        const w0 = performance.now();
        for (let i = 0; i < skip; i++) await step();
        const perIter = (performance.now() - w0) / skip;
        for (const p of probes) {
          if (rbuf[p] !== pattern(p)) throw new Error(`p2p: ${bench} ${size} B: byte ${p} is ${rbuf[p]}, expected ${pattern(p)}`);
        }
        const minIters = bench === "latency" ? 3 : 2;
        // Latency gets a longer time target: its samples are short and noisier.
        const target = bench === "latency" ? o.targetMs * 2.5 : o.targetMs;
        const iters = await agree(Math.max(minIters, Math.min(100_000, Math.round(target / Math.max(perIter, 1e-3)))));

        const a = performance.now();
        for (let i = 0; i < iters; i++) await step();
        const ms = performance.now() - a;

        if (before) statsOf.set(key(bench, size), statsDelta(before, comm.stats()));
        if (me !== 0) continue;
        const value =
          bench === "latency" ? (ms * 1000) / (2 * iters) : ((bench === "bibw" ? 2 : 1) * bytesPerIter * iters) / (ms / 1000) / 1e6;
        let r = results.get(key(bench, size));
        if (!r) {
          r = { bench, size, unit: bench === "latency" ? "us" : "MB/s", samples: [], iters: [], window: win, median: 0, min: 0, max: 0, path: "?" };
          results.set(key(bench, size), r);
        }
        r.samples.push(value);
        r.iters.push(iters);
      }
    }
  }

  // Rank 1 (the receiver in bw) tells rank 0 which paths carried each cell.
  if (me === 1) {
    await comm.sendObject(Object.fromEntries(statsOf), 0, TAG_CTRL);
    return;
  }
  const remote = (await comm.recvObject<Record<string, Record<string, Record<string, number>>>>(1, TAG_CTRL)).value;
  for (const r of results.values()) {
    r.median = median(r.samples);
    r.min = Math.min(...r.samples);
    r.max = Math.max(...r.samples);
    const d = remote[key(r.bench, r.size)];
    if (d) {
      r.path = dominantPath(d);
      r.stats = d;
    }
  }

  const report: P2PReport = {
    bench: "p2p",
    label: o.label,
    date: new Date().toISOString(),
    env: {
      ONECOPY_CMA: process.env.ONECOPY_CMA,
      ONECOPY_TRANSPORT: process.env.ONECOPY_TRANSPORT,
      ONECOPY_EAGER_LIMIT: process.env.ONECOPY_EAGER_LIMIT,
    },
    hugepages: o.hugepages,
    backing,
    options: { ...o, sizes: o.sizes },
    results: [...results.values()],
    durationMs: performance.now() - t0,
  };
  printTables(report);
  if (o.json) {
    mkdirSync(dirname(o.json), { recursive: true });
    writeFileSync(o.json, JSON.stringify(report, null, 2));
  }
}

function printTables(rep: P2PReport): void {
  const f = (x: number, unit: string) => (unit === "us" ? x.toFixed(2) : x.toFixed(1));
  for (const bench of BENCHES) {
    const rows = rep.results.filter((r) => r.bench === bench);
    if (rows.length === 0) continue;
    const title = { latency: "OSU MPI-style Latency Test", bw: "OSU MPI-style Bandwidth Test", bibw: "OSU MPI-style Bi-Directional Bandwidth Test" }[bench];
    const unit = bench === "latency" ? "Latency (us)" : "Bandwidth (MB/s)";
    console.log(`# ${title} — onecopy [${rep.label}]${rep.hugepages ? ` buffers: allocBuffer (${rep.backing})` : ""}`);
    console.log(`# medians of ${rep.results[0]?.samples.length ?? 0} reps; min/max = spread${bench === "latency" ? "" : `; window ${rows[0]!.window} (capped to ${fmtSize(Number(rep.options.maxWindowBytes))} per window)`}`);
    console.log(`# ${"Size".padEnd(10)}${unit.padStart(18)}${"min".padStart(12)}${"max".padStart(12)}${"iters".padStart(8)}  path`);
    for (const r of rows) {
      console.log(
        `${String(r.size).padEnd(12)}${f(r.median, r.unit).padStart(18)}${f(r.min, r.unit).padStart(12)}${f(r.max, r.unit).padStart(12)}${String(median(r.iters)).padStart(8)}  ${r.path}`,
      );
    }
    console.log();
  }
}

// ------------------------------------------------------------------------------------ entry
const opts = parseArgs(process.argv.slice(2));
if (process.env.ONECOPY_SIZE === undefined) {
  // Not under the launcher: start a job of 2 ranks running this file.
  const { launch } = await import("onecopy/launcher");
  const r = await launch({ np: 2, script: fileURLToPath(import.meta.url), args: process.argv.slice(2), inheritOutput: true, collectOutput: false });
  process.exit(r.exitCode);
} else {
  const comm = await init();
  if (comm.size !== 2) {
    if (comm.rank === 0) console.error(`p2p: needs exactly 2 ranks, got ${comm.size}`);
    await comm.close();
    process.exit(2);
  }
  try {
    await run(comm, opts);
  } finally {
    await comm.close();
  }
}
