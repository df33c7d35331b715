// One-sided communication next to point-to-point, in the same job (np 2): the latency of an
// 8 B put + flush and get + flush against an 8 B message (half a ping-pong round trip), and the
// bandwidth of put and get (a window of 8 operations, then flush) against p2p streaming (a
// window of 8 isends, then a 0 B ack) from 64 KiB to 16 MiB. The target rank takes no part in
// put/get: it waits in a barrier. Latencies are the fastest of 10 batches; bandwidths the
// mean of their iterations. Every cell is the best of `--runs` (default 3) repetitions,
// interleaved so a noisy phase of a shared machine hits every kind alike.
//
//   node bench/run.js rma [--quick] [--runs N] [--shared] [--ompi]
//
// --shared adds winAllocateShared windows (put/get are plain copies into the shared segment).
// --ompi runs bench/native/osu_rma.c under Open MPI (ob1 + vader with CMA, as bench/openmpi.ts
// sets it up) for the same cells: MPI_Win_allocate (osc/sm on one node: shared memory, the
// analogue of winAllocateShared) and MPI_Win_create (osc/rdma over vader's CMA: the analogue of
// winAllocate/winCreate), lock_all + flush and fence, on huge-page buffers as onecopy's are
// (--ompi-4k: 4 KiB pages). Best of --runs as well.
// Writes bench/results/rma.json and prints the tables with the ratios to p2p (and to Open MPI).
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { allocBuffer, init, type Comm, type Win } from "onecopy";
import { launch } from "onecopy/launcher";
import { buildOsuProgram, ompiCommand, runMpiJson, setupOpenMpi } from "./openmpi.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const quick = process.argv.includes("--quick");
const shared = process.argv.includes("--shared");
const ompi = process.argv.includes("--ompi");
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : quick ? 1 : 3;
const SIZES = quick ? [64 * KiB, 1 * MiB, 16 * MiB] : [64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 16 * MiB];
const WINDOW = 8;

interface Cell {
  kind: string;
  size: number;
  /** µs per operation (latency cells) */
  us: number;
  /** MB/s (bandwidth cells; 0 for latency) */
  mbps: number;
}

const bufOf = (bytes: number) => new Uint8Array(allocBuffer(bytes));
const itersFor = (size: number) => Math.max(3, Math.round((quick ? 0.4 : 1) * (size <= 64 * KiB ? 200 : size <= 1 * MiB ? 40 : size <= 4 * MiB ? 12 : 4)));

const BATCHES = 10;

/** The fastest of BATCHES batches of `iters / BATCHES` calls of `f`, µs per call: robust to a shared machine's stalls. */
async function bestBatch(iters: number, f: () => Promise<void>): Promise<number> {
  const per = Math.max(1, Math.floor(iters / BATCHES));
  let best = Infinity;
  for (let b = 0; b < BATCHES; b++) {
    const t0 = performance.now();
    for (let i = 0; i < per; i++) await f();
    best = Math.min(best, ((performance.now() - t0) * 1000) / per);
  }
  return best;
}

async function latencyP2p(comm: Comm, iters: number): Promise<number> {
  const b = new Uint8Array(8);
  const peer = 1 - comm.rank;
  await comm.barrier();
  const roundTrip = async () => {
    if (comm.rank === 0) {
      await comm.send(b, peer, 1);
      await comm.recv(b, peer, 1);
    } else {
      await comm.recv(b, peer, 1);
      await comm.send(b, peer, 1);
    }
  };
  for (let i = 0; i < 20; i++) await roundTrip();
  return (await bestBatch(iters, roundTrip)) / 2;
}

/** Rank 0 runs `op` `iters` times while rank 1 waits in a barrier. µs per op (best batch). */
async function originOnly(comm: Comm, iters: number, op: () => Promise<void>): Promise<number> {
  await comm.barrier();
  let us = 0;
  if (comm.rank === 0) {
    for (let i = 0; i < Math.min(20, iters); i++) await op();
    us = await bestBatch(iters, op);
  }
  await comm.barrier();
  return us;
}

async function bandwidthP2p(comm: Comm, size: number, iters: number): Promise<number> {
  const bufs = Array.from({ length: WINDOW }, () => bufOf(size));
  const ack = new Uint8Array(0);
  const peer = 1 - comm.rank;
  const round = async () => {
    if (comm.rank === 0) {
      await Promise.all(bufs.map((b) => comm.isend(b, peer, 2)));
      await comm.recv(ack, peer, 3);
    } else {
      await Promise.all(bufs.map((b) => comm.irecv(b, peer, 2)));
      await comm.send(ack, peer, 3);
    }
  };
  await round();
  await comm.barrier();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) await round();
  const s = (performance.now() - t0) / 1000;
  return (size * WINDOW * iters) / s / 1e6;
}

async function bandwidthRma(comm: Comm, win: Win, dir: "put" | "get", size: number, iters: number): Promise<number> {
  const bufs = Array.from({ length: WINDOW }, () => bufOf(size));
  const us = await originOnly(comm, iters, async () => {
    await Promise.all(bufs.map((b) => (dir === "put" ? win.put(b, 1, 0) : win.get(b, 1, 0))));
    await win.flush(1);
  });
  return us > 0 ? (size * WINDOW) / us : 0; // bytes per µs = MB/s
}

/** Active target: both ranks fence; between two fences rank 0 puts a window of ops. MB/s. */
async function bandwidthFence(comm: Comm, win: Win, size: number, iters: number): Promise<number> {
  const bufs = Array.from({ length: WINDOW }, () => bufOf(size));
  await win.fence();
  const round = async () => {
    if (comm.rank === 0) await Promise.all(bufs.map((b) => win.put(b, 1, 0)));
    await win.fence();
  };
  await round();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) await round();
  const us = ((performance.now() - t0) * 1000) / iters;
  return (size * WINDOW) / us;
}

async function rankMain(): Promise<void> {
  const comm = await init();
  const cells: Cell[] = [];
  const latIters = quick ? 2000 : 5000;
  const kinds = shared ? ["allocate", "shared"] : ["allocate"];
  const wins: Record<string, Win> = {};
  for (const k of kinds) wins[k] = k === "shared" ? await comm.winAllocateShared(16 * MiB) : await comm.winAllocate(16 * MiB);
  if (comm.rank === 0) for (const w of Object.values(wins)) await w.lock(1, "shared");
  const small = new Uint8Array(8);
  cells.push({ kind: "p2p 8 B one-way", size: 8, us: await latencyP2p(comm, latIters), mbps: 0 });
  for (const [k, w] of Object.entries(wins)) {
    const tag = k === "shared" ? " (shared)" : "";
    cells.push({ kind: `put+flush 8 B${tag}`, size: 8, us: await originOnly(comm, latIters, async () => { await w.put(small, 1, 0); await w.flush(1); }), mbps: 0 });
    cells.push({ kind: `get+flush 8 B${tag}`, size: 8, us: await originOnly(comm, latIters, async () => { await w.get(small, 1, 0); await w.flush(1); }), mbps: 0 });
    cells.push({ kind: `fetchAndOp 8 B${tag}`, size: 8, us: await originOnly(comm, latIters, () => w.fetchAndOp(1n, new BigInt64Array(1), 1, 8, "sum")), mbps: 0 });
  }
  for (const size of SIZES) {
    const iters = itersFor(size);
    cells.push({ kind: "p2p bw", size, us: 0, mbps: await bandwidthP2p(comm, size, iters) });
    for (const [k, w] of Object.entries(wins)) {
      const tag = k === "shared" ? " (shared)" : "";
      cells.push({ kind: `put bw${tag}`, size, us: 0, mbps: await bandwidthRma(comm, w, "put", size, iters) });
      cells.push({ kind: `get bw${tag}`, size, us: 0, mbps: await bandwidthRma(comm, w, "get", size, iters) });
    }
  }
  if (comm.rank === 0) for (const w of Object.values(wins)) await w.unlock(1);
  for (const size of SIZES) {
    for (const [k, w] of Object.entries(wins)) cells.push({ kind: `put bw fence${k === "shared" ? " (shared)" : ""}`, size, us: 0, mbps: await bandwidthFence(comm, w, size, itersFor(size)) });
  }
  for (const w of Object.values(wins)) await w.free();
  // Rank 0 measured the one-sided cells; p2p cells are symmetric: take rank 0's.
  if (comm.rank === 0) console.log(`@@RESULT ${JSON.stringify(cells)}`);
  await comm.close();
}

async function driver(): Promise<void> {
  const script = fileURLToPath(import.meta.url);
  let best: Cell[] | null = null;
  for (let run = 0; run < RUNS; run++) {
    const r = await launch({ np: 2, script, args: ["--rank", ...(quick ? ["--quick"] : []), ...(shared ? ["--shared"] : [])], timeoutMs: 10 * 60_000 });
    const line = r.ranks[0]?.stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
    if (!r.ok || !line) {
      console.error(`run ${run + 1} failed:\n${r.ranks.map((x) => x.stderr).join("\n")}`);
      process.exitCode = 1;
      continue;
    }
    const cells = JSON.parse(line.slice(9)) as Cell[];
    best = best ? best.map((c, i) => (c.mbps ? (cells[i]!.mbps > c.mbps ? cells[i]! : c) : cells[i]!.us < c.us ? cells[i]! : c)) : cells;
    process.stderr.write(`  run ${run + 1}/${RUNS} done\n`);
  }
  if (!best) return;
  const fmt = (s: number) => (s >= MiB ? `${s / MiB} MiB` : s >= KiB ? `${s / KiB} KiB` : `${s} B`);
  const p2pLat = best.find((c) => c.kind === "p2p 8 B one-way")!.us;
  const lines = ["| cell | size | µs | MB/s | × p2p |", "|---|---:|---:|---:|---:|"];
  for (const c of best) {
    const p2p = c.mbps ? best.find((x) => x.kind === "p2p bw" && x.size === c.size)!.mbps : p2pLat;
    const ratio = c.mbps ? c.mbps / p2p : p2p / c.us; // > 1: one-sided is better
    lines.push(`| ${c.kind} | ${fmt(c.size)} | ${c.us ? c.us.toFixed(2) : ""} | ${c.mbps ? c.mbps.toFixed(0) : ""} | ${c.kind.startsWith("p2p") ? "1" : ratio.toFixed(2)} |`);
  }
  console.log(`\nRMA vs point-to-point, np 2, best of ${RUNS} (× p2p: bandwidth ratio, or p2p latency / this latency; > 1 is better)\n`);
  console.log(lines.join("\n"));
  const mpi = ompi ? await openMpiCells() : null;
  if (mpi) {
    // Like for like: winAllocate (CMA) against MPI_Win_create (osc/rdma over CMA); winAllocateShared against MPI_Win_allocate (osc/sm).
    const pairs: Array<[string, string]> = [["put+flush 8 B", "put_lat"], ["get+flush 8 B", "get_lat"], ["fetchAndOp 8 B", "fop_lat"], ["put bw", "put_bw"], ["get bw", "get_bw"], ["put bw fence", "put_bw_fence"]];
    const t = ["| cell | size | onecopy winAllocate | Open MPI Win_create | onecopy / OMPI | onecopy shared | Open MPI Win_allocate | shared / OMPI |", "|---|---:|---:|---:|---:|---:|---:|---:|"];
    const val = (c: { us: number; mbps: number } | undefined) => (c ? (c.mbps ? `${c.mbps.toFixed(0)} MB/s` : `${c.us.toFixed(2)} µs`) : "–");
    const rat = (a?: { us: number; mbps: number }, b?: { us: number; mbps: number }) => (a && b ? (a.mbps ? a.mbps / b.mbps : b.us / a.us).toFixed(2) : "–");
    for (const [ours, theirs] of pairs) {
      for (const size of ours.includes("8 B") ? [8] : SIZES) {
        const o = best.find((c) => c.kind === ours && c.size === size);
        const os = best.find((c) => c.kind === `${ours} (shared)` && c.size === size);
        const mc = mpi.find((c) => c.win === "create" && c.op === theirs && c.size === size);
        const ma = mpi.find((c) => c.win === "allocate" && c.op === theirs && c.size === size);
        t.push(`| ${ours} | ${fmt(size)} | ${val(o)} | ${val(mc)} | ${rat(o, mc)} | ${val(os)} | ${val(ma)} | ${rat(os, ma)} |`);
      }
    }
    console.log(`\nonecopy vs Open MPI ${mpi.version} (ob1 + vader, single copy cma, ${process.argv.includes("--ompi-4k") ? "4 KiB pages" : "huge-page buffers"}), best of ${RUNS}; ratios > 1: onecopy is better\n`);
    console.log(t.join("\n"));
  }
  const out = fileURLToPath(new URL("./results/", import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(`${out}rma.json`, JSON.stringify({ date: new Date().toISOString(), runs: RUNS, cells: best, ompi: mpi }, null, 2));
}

interface MpiCell {
  win: string;
  op: string;
  size: number;
  us: number;
  mbps: number;
  copyCalls: number;
}

/** osu_rma's cells under Open MPI with CMA, best of RUNS; null (explained) without Open MPI. */
async function openMpiCells(): Promise<(MpiCell[] & { version: string }) | null> {
  const s = setupOpenMpi({ hugepages: true });
  if (!s.available) {
    console.log(`\n--ompi: ${s.reason}\n${s.help}`);
    return null;
  }
  const built = buildOsuProgram(s.mpicc, s.version, "osu_rma");
  if (!built.ok) {
    console.log(`\n--ompi: ${built.reason}\n${built.help}`);
    return null;
  }
  // onecopy's buffers here are on huge pages (allocBuffer, winAllocate), so Open MPI's are too
  // (osu_rma --hugepages: the origin buffers and MPI_Win_create's memory); --ompi-4k: 4 KiB pages.
  const mode = s.modes.find((m) => m.name === (process.argv.includes("--ompi-4k") ? "ompi-cma" : "ompi-cma-huge"))!;
  let best: MpiCell[] | null = null;
  for (let run = 0; run < RUNS; run++) {
    const cmd = ompiCommand(s, mode, ["--sizes", SIZES.join(","), "--window", String(WINDOW), "--scale", quick ? "0.4" : "1"], { np: 2, binary: built.binary });
    const r = await runMpiJson(cmd, 10 * 60_000);
    const cells = r.objects.filter((o) => (o as { type?: string }).type === "result") as unknown as MpiCell[];
    if (r.code !== 0 || cells.length === 0) {
      console.error(`Open MPI run ${run + 1} failed (${r.code ?? r.signal}):\n${r.stderr}`);
      continue;
    }
    best = best ? best.map((c, i) => (c.mbps ? (cells[i]!.mbps > c.mbps ? cells[i]! : c) : cells[i]!.us < c.us ? cells[i]! : c)) : cells;
    process.stderr.write(`  Open MPI run ${run + 1}/${RUNS} done\n`);
  }
  return best ? Object.assign(best, { version: s.version }) : null;
}

if (process.argv.includes("--rank")) await rankMain();
else await driver();
