// The point-to-point suite: bench/p2p.ts (osu_latency, osu_bw, osu_bibw) over every transport,
// next to the baselines, with ratios, a JSON file and an SVG chart.
//
//   node bench/run.js p2p-suite [--quick]          (or: node --import tsx bench/p2p-suite.ts …)
//     --transport cma,shm,socket   transports to run (default all; shm is skipped if the runtime
//                                  does not support it yet)
//     --runs N   launches per configuration (default 3, quick 1); --reps N   sweeps per launch
//     --no-huge --no-ipc --no-raw --no-eager --no-many --no-levers   leave parts out
//     --ompi     add Open MPI (osu_lite under mpirun, CMA and no-single-copy modes) as columns;
//                without Open MPI installed, explains how to install it (bench/openmpi.ts)
//
// Columns:
//   onecopy           single copy (CMA), default settings
//   onecopy huge      the same with allocBuffer() huge-page buffers on both ranks (--hugepages)
//   cma-many          osu_bw/osu_bibw with each window spread over 8 separate buffers a side
//                     (p2p.ts --buffers 8) beside OSU's one reused buffer (the onecopy column)
//   cma-thp0          osu_bw with glibc's huge pages off (ONECOPY_THP=0): the registration
//                     cache's MADV_COLLAPSE is then what puts reused buffers on huge pages
//   cma-thp0-nocoll   the same with the collapse off too (ONECOPY_COLLAPSE_MIN=0): 4 KiB pages
//   shm               ONECOPY_TRANSPORT=shm (shared-memory double copy), CMA off
//   socket            ONECOPY_CMA=0 ONECOPY_TRANSPORT=socket: the fallback (socket DATA frames)
//   child_process IPC fork() with serialization: 'advanced' (bench/ipc-baseline.ts)
//   raw cma           readSync() from a peer process's buffer, no messaging ("wire speed",
//                     bench/lib/raw-cma.ts); with huge pages for "raw huge"
// and the eager-limit trade-off: latency/bandwidth at 4 KiB … 256 KiB with --eager-limit 4096
// (everything above 4 KiB goes rendezvous + single copy) vs 1 MiB (everything inline).
//
// Every cell is the median over runs × reps samples; the JSON keeps every sample, and the
// terminal shows the spread as ±(max−min)/2 in % of the median. Configurations are interleaved
// run by run, so slow phases of a noisy VM spread over all of them.
import { TUNABLES } from "onecopy";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { transparentHugePages } from "@onecopy/cma";
import { launch, type TransportName } from "onecopy/launcher";
import { measureIpc, type IpcResult } from "./ipc-baseline.js";
import { measureRawCma, type RawCmaResult } from "./lib/raw-cma.js";
import { formatBytes, lineChart, type Series } from "./lib/svg-chart.js";
import { checkOpenMpi, measureOpenMpi, mergeOmpi, setupOpenMpi, type OmpiResult, type OmpiRun } from "./openmpi.js";
import type { P2PReport, P2PResult } from "./p2p.js";
import { cpuBusy } from "./lib/machine.js";
import { flagValue } from "./lib/args.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const here = fileURLToPath(new URL(".", import.meta.url));
const argv = process.argv.slice(2);
const val = (name: string) => flagValue(argv, name);
const quick = argv.includes("--quick");
const runs = Number(val("--runs") ?? (quick ? 1 : 3));
const reps = Number(val("--reps") ?? (quick ? 3 : 2));
const transports = (val("--transport") ?? "cma,shm,socket").split(",") as TransportName[];
const targetMs = quick ? 12 : 40;
const warmupMs = quick ? 150 : 400;
const t0 = performance.now();
const loadBefore = loadavg();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

function progress(msg: string): void {
  process.stderr.write(`[p2p-suite ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);
}

// ------------------------------------------------------------------------------ configuration
const sizes: number[] = [];
for (let s = 1; s <= 64 * MiB; s *= quick ? 4 : 2) sizes.push(s);
if (quick) sizes.splice(2, 0, 8); // 1, 4, 8, 16, … (8 B is a headline latency)
const eagerSizes: number[] = [];
for (let s = 4 * KiB; s <= 256 * KiB; s *= 2) eagerSizes.push(s);
const EAGER_LOW = 4096;
const EAGER_HIGH = MiB;

interface Config {
  name: string;
  label: string;
  noCma?: boolean;
  transport?: TransportName;
  eagerLimit?: number;
  env?: Record<string, string>;
  args: string[];
  /** Expected receive path for large messages (checked, reported). */
  expect?: string;
}

/** Whether the runtime reads ONECOPY_TRANSPORT (the shm transport is being added concurrently). */
function runtimeKnowsTransport(): boolean {
  const pk = join(here, "..", "packages");
  for (const pkg of readdirSync(pk)) {
    if (pkg === "onecopy") continue; // the launcher sets the variable; a runtime must read it
    const dist = join(pk, pkg, "dist");
    if (!existsSync(dist)) continue;
    const stack = [dist];
    while (stack.length) {
      const d = stack.pop()!;
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) stack.push(join(d, e.name));
        else if (e.name.endsWith(".js") && readFileSync(join(d, e.name), "utf8").includes("ONECOPY_TRANSPORT")) return true;
      }
    }
  }
  return false;
}

const main: Config[] = [];
const skipped: Record<string, string> = {};
const common = ["--bench", "latency,bw,bibw", "--reps", String(reps), "--target-ms", String(targetMs), "--warmup-ms", String(warmupMs), "--sizes", sizes.join(",")];
if (transports.includes("cma")) {
  main.push({ name: "cma", label: "onecopy (single copy)", args: common, expect: "singleCopy" });
  if (!argv.includes("--no-huge")) main.push({ name: "cma-huge", label: "onecopy, huge-page buffers", args: [...common, "--hugepages"], expect: "singleCopy" });
  const bwOnly = ["--bench", "bw", ...common.slice(2)];
  if (!argv.includes("--no-many")) main.push({ name: "cma-many", label: "onecopy, 8 separate buffers a side", args: ["--bench", "bw,bibw", ...common.slice(2), "--buffers", "8"], expect: "singleCopy" });
  if (!argv.includes("--no-levers")) {
    main.push({ name: "cma-thp0", label: "onecopy, ONECOPY_THP=0 (collapse on)", env: { ONECOPY_THP: "0" }, args: bwOnly, expect: "singleCopy" });
    main.push({ name: "cma-thp0-nocoll", label: "onecopy, ONECOPY_THP=0 ONECOPY_COLLAPSE_MIN=0", env: { ONECOPY_THP: "0", ONECOPY_COLLAPSE_MIN: "0" }, args: bwOnly, expect: "singleCopy" });
  }
}
if (transports.includes("shm")) {
  if (runtimeKnowsTransport()) main.push({ name: "shm", label: "shm double copy", noCma: true, transport: "shm", args: common, expect: "shm" });
  else skipped.shm = "the runtime does not read ONECOPY_TRANSPORT yet (no shared-memory transport in packages/*/dist)";
}
if (transports.includes("socket")) main.push({ name: "socket", label: "socket fallback (CMA off)", noCma: true, transport: "socket", args: common, expect: "fallback" });
const eager: Config[] = [];
if (!argv.includes("--no-eager") && transports.includes("cma")) {
  const ea = ["--bench", "latency,bw", "--reps", String(reps), "--target-ms", String(targetMs), "--warmup-ms", String(warmupMs), "--sizes", eagerSizes.join(",")];
  eager.push({ name: "eager-low", label: `eager limit ${formatBytes(EAGER_LOW)}`, eagerLimit: EAGER_LOW, args: ea });
  eager.push({ name: "eager-high", label: `eager limit ${formatBytes(EAGER_HIGH)}`, eagerLimit: EAGER_HIGH, args: ea });
}

// --- --ompi: Open MPI columns (bench/openmpi.ts) ---------------------------------------------
const ompiSetup = argv.includes("--ompi") ? setupOpenMpi({ hugepages: !argv.includes("--no-huge") }) : null;
const ompiModes = ompiSetup?.available ? ompiSetup.modes : [];
const ompi = new Map<string, OmpiResult[]>(); // mode name → results merged over runs
const ompiRuns: OmpiRun[] = [];
if (ompiSetup && !ompiSetup.available) {
  skipped.ompi = ompiSetup.reason.split("\n")[0]!;
  console.log(`\n--ompi: ${ompiSetup.reason}\n\n${ompiSetup.help}\n`);
}
const ompiCell = (mode: string, bench: string, size: number) => cellOf(ompi.get(mode)?.find((r) => r.bench === bench && r.size === size)?.samples ?? []);
// --- end --ompi ------------------------------------------------------------------------------

// ------------------------------------------------------------------------------------ runs
const reports = new Map<string, P2PReport[]>();
const failures: Array<{ config: string; run: number; message: string; stderr: string }> = [];
const tmp = join(tmpdir(), `onecopy-p2p-${process.pid}`);
mkdirSync(tmp, { recursive: true });


/**
 * On a shared machine, wait (up to maxWaitMs) until the other processes leave the CPUs mostly
 * idle before starting a measurement; returns the busy fraction seen last.
 */
async function waitQuiet(maxWaitMs: number): Promise<number | null> {
  const until = performance.now() + maxWaitMs;
  let busy = await cpuBusy(250);
  let said = false;
  while (busy !== null && busy > 0.25 && performance.now() < until) {
    if (!said) progress(`  waiting for other work to quiet down (CPUs ${(busy * 100).toFixed(0)}% busy)`);
    said = true;
    busy = await cpuBusy(500);
  }
  return busy;
}
const busyAtStart: Record<string, Array<number | null>> = {};

async function runConfig(c: Config, run: number): Promise<void> {
  const json = join(tmp, `${c.name}-${run}.json`);
  const busy = await waitQuiet(quick ? 1000 : 15_000);
  (busyAtStart[c.name] ??= []).push(busy === null ? null : Number(busy.toFixed(2)));
  progress(`${c.name} (${c.label}) run ${run + 1}/${runs}${busy !== null && busy > 0.25 ? ` (other work keeps the CPUs ${(busy * 100).toFixed(0)}% busy)` : ""}`);
  const stderr: string[] = [];
  const r = await launch({
    np: 2,
    script: join(here, "p2p.ts"),
    args: [...c.args, "--label", c.name, "--json", json],
    noCma: c.noCma,
    transport: c.transport,
    eagerLimit: c.eagerLimit,
    env: c.env,
    timeoutMs: quick ? 60_000 : 600_000,
    onOutput: (l) => {
      if (l.stream !== "stderr") return;
      if (l.line.startsWith("p2p[")) {
        if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K  ${l.line}`);
      } else {
        stderr.push(`[${l.rank}] ${l.line}`);
        process.stderr.write(`  [rank ${l.rank}] ${l.line}\n`);
      }
    },
  });
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  if (!r.ok || !existsSync(json)) {
    if (c.transport === "shm" && !reports.has(c.name)) {
      // The shared-memory transport is optional (and new): skip it, do not fail the suite.
      skipped.shm = `ONECOPY_TRANSPORT=shm job failed: ${r.message ?? "no results"}${stderr.length ? ` (${stderr[0]})` : ""}`;
      main.splice(main.indexOf(c), 1);
      progress(`  shm skipped: ${skipped.shm}`);
      return;
    }
    failures.push({ config: c.name, run, message: r.message ?? `no results (exit ${r.exitCode})`, stderr: stderr.join("\n") });
    progress(`  ${c.name} failed: ${r.message ?? "no results"}`);
    return;
  }
  const rep = JSON.parse(readFileSync(json, "utf8")) as P2PReport;
  if (!reports.has(c.name)) reports.set(c.name, []);
  reports.get(c.name)!.push(rep);
}

// The baselines run inside the same loop, once per run, so every column samples the same
// stretch of (noisy, shared) machine time.
type RawRun = { results: RawCmaResult[]; backing: string };
let raw = null as RawRun | null;
let rawHuge = null as RawRun | null;
let ipc = null as IpcResult[] | null;
const rawSizes = sizes.filter((s) => s >= 4 * KiB);
function merge<T extends { samples: number[]; iters: number[] }>(into: T[] | null, more: T[], same: (a: T, b: T) => boolean): T[] {
  if (!into) return more;
  for (const m of more) {
    const t: T | undefined = into.find((x) => same(x, m));
    if (t) (t.samples.push(...m.samples), t.iters.push(...m.iters));
    else into.push(m);
  }
  return into;
}
for (let run = 0; run < runs; run++) {
  for (const c of [...main, ...eager]) await runConfig(c, run);
  if (!argv.includes("--no-raw")) {
    await waitQuiet(quick ? 1000 : 15_000);
    progress(`raw CMA copy (readSync between two processes) run ${run + 1}/${runs}`);
    const r = await measureRawCma({ sizes: rawSizes, reps, targetMs, hugepages: false });
    raw = { backing: r.backing, results: merge(raw?.results ?? null, r.results, (a, b) => a.size === b.size) };
    if (!argv.includes("--no-huge")) {
      const h = await measureRawCma({ sizes: rawSizes, reps, targetMs, hugepages: true });
      rawHuge = { backing: h.backing, results: merge(rawHuge?.results ?? null, h.results, (a, b) => a.size === b.size) };
    }
  }
  if (!argv.includes("--no-ipc")) {
    await waitQuiet(quick ? 1000 : 15_000);
    progress(`child_process IPC baseline (serialization: 'advanced') run ${run + 1}/${runs}`);
    const r = await measureIpc({ sizes, reps, targetMs, warmupMs, onProgress: (m) => progress(`  ${m}`) });
    ipc = merge(ipc, r, (a, b) => a.bench === b.bench && a.size === b.size);
  }
  for (const mode of ompiModes) {
    // --ompi
    await waitQuiet(quick ? 1000 : 15_000);
    progress(`${mode.label} (bench/native/osu_lite.c under mpirun) run ${run + 1}/${runs}`);
    const r = await measureOpenMpi(ompiSetup as Extract<typeof ompiSetup, { available: true }>, mode, { sizes, reps, targetMs, warmupMs, timeoutMs: quick ? 120_000 : 900_000 });
    ompiRuns.push(r);
    if (r.ok) ompi.set(mode.name, mergeOmpi(ompi.get(mode.name) ?? [], r.results));
    else failures.push({ config: mode.name, run, message: r.message ?? "failed", stderr: r.stderr.slice(-2000) });
  }
}
const loadDuring = loadavg();

// Sanity of the paths: a column must have gone the way its name says.
const pathNotes: string[] = [];
for (const c of main) {
  const rs = reports.get(c.name)?.[0]?.results.filter((r) => r.bench === "bw" && r.size >= MiB) ?? [];
  const paths = [...new Set(rs.map((r) => r.path))];
  if (c.expect && paths.some((p) => p !== c.expect)) pathNotes.push(`${c.name}: large messages went via ${paths.join(", ")}, expected ${c.expect}`);
  if (c.name === "shm" && paths.every((p) => p === "fallback" || p === "singleCopy"))
    pathNotes.push(`shm: large messages were counted as ${paths.join(", ")} — check that ONECOPY_TRANSPORT=shm really selected shared memory`);
}

rmSync(tmp, { recursive: true, force: true });

// ------------------------------------------------------------------------------ aggregation
interface Cell {
  median: number;
  min: number;
  max: number;
  n: number;
  path?: string;
}

function cellOf(samples: number[], path?: string): Cell | undefined {
  if (samples.length === 0) return undefined;
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), n: samples.length, path };
}

function p2pCell(config: string, bench: string, size: number): Cell | undefined {
  const rs = (reports.get(config) ?? []).flatMap((rep) => rep.results.filter((r: P2PResult) => r.bench === bench && r.size === size));
  return cellOf(
    rs.flatMap((r) => r.samples),
    rs[0]?.path,
  );
}

const ompiNotes = ompiSetup?.available ? checkOpenMpi(ompiSetup, ompiRuns) : []; // --ompi
const ipcCell = (bench: string, size: number) => cellOf(ipc?.find((r) => r.bench === bench && r.size === size)?.samples ?? []);
const rawCell = (which: typeof raw, size: number) => cellOf(which?.results.find((r) => r.size === size)?.samples ?? []);

/** Column name → cell getter, per benchmark. */
function columns(bench: "latency" | "bw" | "bibw"): Array<[string, (size: number) => Cell | undefined]> {
  const shown = main.filter((c) => (reports.get(c.name) ?? []).some((rep) => rep.results.some((r) => r.bench === bench)));
  const names: Record<string, string> = { cma: "onecopy", "cma-huge": "onecopy huge", "cma-many": "onecopy 8 bufs", "cma-thp0": "THP=0", "cma-thp0-nocoll": "THP=0 no collapse" };
  const cols: Array<[string, (size: number) => Cell | undefined]> = shown.map((c) => [names[c.name] ?? c.name, (s: number) => p2pCell(c.name, bench, s)]);
  if (bench !== "bibw") for (const m of ompiModes) if (ompi.has(m.name)) cols.push([m.label, (s) => ompiCell(m.name, bench, s)]); // --ompi
  if (ipc && bench !== "bibw") cols.push(["node IPC", (s) => ipcCell(bench, s)]);
  if (bench === "bw") {
    if (raw) cols.push(["raw cma", (s) => rawCell(raw, s)]);
    if (rawHuge) cols.push(["raw huge", (s) => rawCell(rawHuge, s)]);
  }
  return cols;
}

const ratio = (a?: Cell, b?: Cell) => (a && b && b.median > 0 ? a.median / b.median : undefined);

// ------------------------------------------------------------------------------------ tables
const lines: string[] = [];
const out = (s = "") => {
  lines.push(s);
  console.log(s);
};
const fmtVal = (c: Cell | undefined, unit: string) => {
  if (!c) return "—";
  const v = unit === "us" ? (c.median < 100 ? c.median.toFixed(2) : c.median.toFixed(0)) : c.median < 10 ? c.median.toFixed(2) : c.median.toFixed(0);
  const spread = c.n > 1 ? Math.round(((c.max - c.min) / 2 / c.median) * 100) : null;
  return spread === null ? v : `${v} ±${spread}%`;
};
const fmtRatio = (x: number | undefined, bar?: number) => (x === undefined ? "—" : `${x.toFixed(2)}${bar === undefined ? "" : x >= bar ? " ✓" : " ✗"}`);

function table(title: string, head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  out(title);
  out(head.map((h, i) => (i === 0 ? h.padEnd(w[i]!) : h.padStart(w[i]!))).join("  "));
  for (const r of rows) out(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  "));
  out();
}

const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? "?",
  kernel: release(),
  node: process.version,
  koffi: koffiVersion(),
  thp: transparentHugePages(),
  loadavgBefore: loadBefore.map((x) => Number(x.toFixed(2))),
  loadavgAfterLaunches: loadDuring.map((x) => Number(x.toFixed(2))),
  loadavgAfter: loadavg().map((x) => Number(x.toFixed(2))),
};
out(
  `p2p-suite${quick ? " --quick" : ""}: ${machine.cores} × ${machine.cpu}, Linux ${machine.kernel}, Node ${machine.node}, koffi ${machine.koffi}, THP ${machine.thp}`,
);
out(
  `load average (1 min) ${machine.loadavgBefore[0]} before, ${machine.loadavgAfter[0]} after${machine.loadavgBefore[0]! > machine.cores * 0.5 ? ` — other work competed for the ${machine.cores} cores: expect noise` : ""}`,
);
out(`medians of ${runs} run(s) × ${reps} sweep(s), every column (and baseline) measured in each run; ± = half the min–max spread, % of median`);
for (const [k, why] of Object.entries(skipped)) out(`skipped ${k}: ${why}`);
for (const n of pathNotes) out(`PATH CHECK: ${n}`);
if (ompiSetup?.available) out(`Open MPI ${ompiSetup.version} (--ompi): ${ompiSetup.common.join(" ")}; ${ompiModes.map((m) => `${m.label}: ${m.mca.join(" ")}${m.hugepages ? " + huge-page buffers" : ""}`).join("; ")}`);
for (const n of ompiNotes) out(`Open MPI ${n}`);
out();

// Latency.
{
  const cols = columns("latency");
  const head = ["size", ...cols.map(([n]) => n), "socket/1c", "IPC/1c"];
  const rows = sizes.map((s) => {
    const cells = cols.map(([, get]) => get(s));
    const one = p2pCell("cma", "latency", s);
    return [formatBytes(s), ...cells.map((c) => fmtVal(c, "us")), fmtRatio(ratio(p2pCell("socket", "latency", s), one)), fmtRatio(ratio(ipcCell("latency", s), one))];
  });
  table("Latency (µs, half round trip; osu_latency). socket/1c, IPC/1c: how many times slower than onecopy", head, rows);
}

// Bandwidth.
const BARS = { raw: { min: MiB, bar: 0.85 }, fallback: { min: 4 * MiB, bar: 4 }, ipc: { min: MiB, bar: 10 } };
{
  const cols = columns("bw");
  const head = ["size", ...cols.map(([n]) => n), "1c/raw", "huge/rawhuge", "1c/socket", ...(main.some((c) => c.name === "shm") ? ["1c/shm"] : []), "1c/IPC", "one/8 bufs", "collapse on/off"];
  const rows = sizes.map((s) => {
    const one = p2pCell("cma", "bw", s);
    const row = [formatBytes(s), ...cols.map(([, get]) => fmtVal(get(s), "MB/s"))];
    row.push(fmtRatio(ratio(one, rawCell(raw, s)), s >= BARS.raw.min ? BARS.raw.bar : undefined));
    row.push(fmtRatio(ratio(p2pCell("cma-huge", "bw", s), rawCell(rawHuge, s)), s >= BARS.raw.min ? BARS.raw.bar : undefined));
    row.push(fmtRatio(ratio(one, p2pCell("socket", "bw", s)), s >= BARS.fallback.min ? BARS.fallback.bar : undefined));
    if (main.some((c) => c.name === "shm")) row.push(fmtRatio(ratio(one, p2pCell("shm", "bw", s))));
    row.push(fmtRatio(ratio(one, ipcCell("bw", s)), s >= BARS.ipc.min ? BARS.ipc.bar : undefined));
    row.push(fmtRatio(ratio(one, p2pCell("cma-many", "bw", s))));
    row.push(fmtRatio(ratio(p2pCell("cma-thp0", "bw", s), p2pCell("cma-thp0-nocoll", "bw", s))));
    return row;
  });
  table(
    `Bandwidth (MB/s = 1e6 B/s; osu_bw, window 64, ≤ 256 MiB per window; IPC ≤ 64 MiB per window). 1c = onecopy. Bars: 1c/raw ≥ ${BARS.raw.bar} from 1 MiB, 1c/socket ≥ ${BARS.fallback.bar} from 4 MiB, 1c/IPC ≥ ${BARS.ipc.bar} from 1 MiB`,
    head,
    rows,
  );
}

// --ompi: onecopy against Open MPI, as ratios (both measured in the same runs).
if (ompi.size > 0) {
  const r = (x: number | undefined) => fmtRatio(x);
  const rows = sizes.map((s) => [
    formatBytes(s),
    r(ratio(p2pCell("cma", "latency", s), ompiCell("ompi-cma", "latency", s))),
    r(ratio(p2pCell("cma", "latency", s), ompiCell("ompi-nosc", "latency", s))),
    r(ratio(p2pCell("cma", "bw", s), ompiCell("ompi-cma", "bw", s))),
    r(ratio(p2pCell("cma", "bw", s), ompiCell("ompi-nosc", "bw", s))),
    r(ratio(p2pCell("cma-huge", "bw", s), ompiCell("ompi-cma-huge", "bw", s))),
  ]);
  table(
    "onecopy vs Open MPI (same runs). lat: onecopy latency / Open MPI's (> 1: onecopy slower); bw: onecopy bandwidth / Open MPI's (> 1: onecopy faster)",
    ["size", "lat 1c/cma", "lat 1c/nosc", "bw 1c/cma", "bw 1c/nosc", "bw huge/cma-huge"],
    rows,
  );
}

// Bi-directional bandwidth.
{
  const cols = columns("bibw");
  const head = ["size", ...cols.map(([n]) => n), "1c/socket"];
  const rows = sizes.map((s) => [
    formatBytes(s),
    ...cols.map(([, get]) => fmtVal(get(s), "MB/s")),
    fmtRatio(ratio(p2pCell("cma", "bibw", s), p2pCell("socket", "bibw", s))),
  ]);
  table("Bi-directional bandwidth (MB/s, both directions; osu_bibw)", head, rows);
}

// Eager limit trade-off.
let eagerSummary: Record<string, unknown> | null = null;
if (eager.length === 2 && reports.has("eager-low") && reports.has("eager-high")) {
  const rows: string[][] = [];
  const latRatio: Array<[number, number]> = [];
  const bwRatio: Array<[number, number]> = [];
  for (const s of eagerSizes) {
    const lo = p2pCell("eager-low", "latency", s);
    const hi = p2pCell("eager-high", "latency", s);
    const blo = p2pCell("eager-low", "bw", s);
    const bhi = p2pCell("eager-high", "bw", s);
    const lr = ratio(hi, lo); // > 1: rendezvous (low limit) has lower latency
    const br = ratio(blo, bhi); // > 1: rendezvous has higher bandwidth
    if (lr !== undefined) latRatio.push([s, lr]);
    if (br !== undefined) bwRatio.push([s, br]);
    rows.push([
      formatBytes(s),
      `${fmtVal(lo, "us")} ${lo?.path === "singleCopy" ? "(1c)" : lo?.path === "eager" ? "(eager)" : `(${lo?.path})`}`,
      `${fmtVal(hi, "us")} ${hi?.path === "eager" ? "(eager)" : `(${hi?.path})`}`,
      fmtRatio(lr),
      fmtVal(blo, "MB/s"),
      fmtVal(bhi, "MB/s"),
      fmtRatio(br),
    ]);
  }
  // Crossover: the smallest size from which rendezvous wins at every larger measured size.
  const crossover = (pts: Array<[number, number]>) => {
    let from: number | null = null;
    for (let i = pts.length - 1; i >= 0 && pts[i]![1] > 1; i--) from = pts[i]![0];
    return from;
  };
  const latX = crossover(latRatio);
  const bwX = crossover(bwRatio);
  table(
    `Eager limit trade-off (onecopy, CMA on): --eager-limit ${EAGER_LOW} (above it: rendezvous + single copy) vs ${formatBytes(EAGER_HIGH)} (all inline)`,
    ["size", `lat µs @${EAGER_LOW}`, `lat µs @${formatBytes(EAGER_HIGH)}`, "lat hi/lo", `bw @${EAGER_LOW}`, `bw @${formatBytes(EAGER_HIGH)}`, "bw lo/hi"],
    rows,
  );
  out(
    `Crossover: rendezvous single copy has lower latency from ${latX === null ? "no measured size (≤ 256 KiB)" : formatBytes(latX)} upward, higher bandwidth from ${bwX === null ? "no measured size (≤ 256 KiB)" : formatBytes(bwX)} upward (current default eager limit: ${formatBytes(TUNABLES.eagerLimit.default)}).`,
  );
  out();
  eagerSummary = { low: EAGER_LOW, high: EAGER_HIGH, sizes: eagerSizes, latencyRatioHighOverLow: latRatio, bwRatioLowOverHigh: bwRatio, latencyCrossover: latX, bwCrossover: bwX };
}

// Headline.
const headline = {
  latency1B: { onecopy: p2pCell("cma", "latency", 1), socket: p2pCell("socket", "latency", 1), ipc: ipcCell("latency", 1) },
  latency8B: { onecopy: p2pCell("cma", "latency", 8), socket: p2pCell("socket", "latency", 8), ipc: ipcCell("latency", 8) },
};
out(
  `Small-message latency: 1 B ${fmtVal(headline.latency1B.onecopy, "us")} µs, 8 B ${fmtVal(headline.latency8B.onecopy, "us")} µs (child_process IPC: ${fmtVal(headline.latency1B.ipc, "us")} / ${fmtVal(headline.latency8B.ipc, "us")} µs)`,
);
if (ompi.size > 0)
  out(
    `Open MPI small-message latency: 1 B ${fmtVal(ompiCell("ompi-cma", "latency", 1), "us")} µs (cma) / ${fmtVal(ompiCell("ompi-nosc", "latency", 1), "us")} µs (no single copy), 8 B ${fmtVal(ompiCell("ompi-cma", "latency", 8), "us")} / ${fmtVal(ompiCell("ompi-nosc", "latency", 8), "us")} µs`,
  );
for (const f of failures) out(`FAILED: ${f.config} run ${f.run + 1}: ${f.message}${f.stderr ? `\n${f.stderr}` : ""}`);
const took = (performance.now() - t0) / 1000;
out(`took ${took.toFixed(1)} s`);

// ------------------------------------------------------------------------------------ files
const resultsDir = join(here, "results");
mkdirSync(resultsDir, { recursive: true });

const chartSeries = (bench: "latency" | "bw"): Series[] => {
  const series: Series[] = [];
  const add = (name: string, get: (s: number) => Cell | undefined, ss: number[], dashed = false) => {
    const cells = ss.map((s) => [s, get(s)] as const).filter(([, c]) => c);
    if (cells.length)
      series.push({
        name,
        dashed,
        points: cells.map(([s, c]) => [s, c!.median]),
        band: cells.map(([s, c]) => [s, c!.min, c!.max]),
      });
  };
  for (const c of main) add(c.label, (s) => p2pCell(c.name, bench, s), sizes);
  for (const m of ompiModes) add(m.label, (s) => ompiCell(m.name, bench, s), sizes); // --ompi
  if (ipc) add("node child_process IPC (advanced)", (s) => ipcCell(bench, s), sizes);
  if (bench === "bw") {
    if (raw) add("raw CMA readSync (wire speed)", (s) => rawCell(raw, s), rawSizes, true);
    if (rawHuge) add("raw CMA readSync, huge pages", (s) => rawCell(rawHuge, s), rawSizes, true);
  }
  return series;
};
const subtitle = `${machine.cores} × ${machine.cpu}, Linux ${machine.kernel}, Node ${machine.node}; medians of ${runs * reps} samples, band = min–max`;
writeFileSync(
  join(resultsDir, "p2p-bw.svg"),
  lineChart({ title: "onecopy point-to-point bandwidth (osu_bw, 2 ranks)", subtitle, xLabel: "message size", yLabel: "bandwidth, MB/s", logX: true, logY: true, xFormat: formatBytes, series: chartSeries("bw") }),
);
writeFileSync(
  join(resultsDir, "p2p-latency.svg"),
  lineChart({
    title: "onecopy point-to-point latency (osu_latency, 2 ranks)",
    subtitle,
    xLabel: "message size",
    yLabel: "latency, µs (half round trip)",
    logX: true,
    logY: true,
    xFormat: formatBytes,
    series: chartSeries("latency"),
  }),
);

const summary: Record<string, unknown> = {};
for (const bench of ["latency", "bw", "bibw"] as const) {
  summary[bench] = sizes.map((s) => ({ size: s, ...Object.fromEntries(columns(bench).map(([n, get]) => [n, get(s) ?? null])) }));
}
summary.ratios = sizes.map((s) => {
  const one = p2pCell("cma", "bw", s);
  return {
    size: s,
    onecopyOverRawCma: ratio(one, rawCell(raw, s)) ?? null,
    hugeOverRawHuge: ratio(p2pCell("cma-huge", "bw", s), rawCell(rawHuge, s)) ?? null,
    onecopyOverSocket: ratio(one, p2pCell("socket", "bw", s)) ?? null,
    onecopyOverShm: ratio(one, p2pCell("shm", "bw", s)) ?? null,
    onecopyOverIpc: ratio(one, ipcCell("bw", s)) ?? null,
  };
});
const file = join(resultsDir, "p2p.json");
writeFileSync(
  file,
  JSON.stringify(
    {
      bench: "p2p-suite",
      date: new Date().toISOString(),
      quick,
      machine,
      config: { runs, reps, targetMs, sizes, eagerSizes, transports, bars: BARS, units: { latency: "µs, half round trip", bw: "MB/s = 1e6 bytes/s" } },
      skipped,
      pathNotes,
      cpuBusyBeforeEachLaunch: busyAtStart,
      failures,
      headline,
      summary,
      eager: eagerSummary,
      configs: [...main, ...eager].map((c) => ({ ...c, runs: reports.get(c.name) ?? [] })),
      rawCma: raw,
      rawCmaHuge: rawHuge,
      ipc,
      openmpi: ompiSetup && { ...ompiSetup, notes: ompiNotes, runs: ompiRuns }, // --ompi
      table: lines,
      durationS: took,
    },
    null,
    1,
  ),
);
console.log(`results: ${file}, ${join(resultsDir, "p2p-bw.svg")}, ${join(resultsDir, "p2p-latency.svg")}`);
process.exit(failures.length > 0 ? 1 : 0);

function koffiVersion(): string | null {
  try {
    // koffi's package.json is not in its exports map: find it next to its resolved entry point.
    const req = createRequire(join(here, "..", "packages", "cma", "package.json"));
    let dir = dirname(req.resolve("koffi"));
    while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
    return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return null;
  }
}
