// onecopy side by side with Open MPI: the cells of the table in /work/shared/ANCHORS.md
// ("Side by side with Open MPI") — osu_latency 1 B, 1 KiB and 64 KiB, the message rate of one
// pair (window 64, 8 B), osu_barrier, osu_allreduce and osu_reduce (f64 sum), osu_bcast,
// osu_alltoall, osu_gather and osu_allgather at 8 B … 16 MiB, osu_bw with a window of 64
// messages on one send and one receive buffer at 1 … 64 MiB — measured in one run, interleaved:
//
//   node bench/run.js versus-ompi [--quick] [--np 2|4|2,4] [--rounds N] [--reps N]
//        [--ops latency,rate,bw,barrier,allreduce,bcast,alltoall,reduce,gather,allgather]
//        [--sizes 8,4096,...] [--variant NAME=VALUE[,NAME=VALUE]] [--steady]
//
//   onecopy                  bench/lib/versus-rank.ts under onecopy's launcher (launch())
//   onecopy NAME=VALUE       the same with those environment settings (--variant): a before/
//                            after column of a knob, in the same interleaved run
//   --steady                 cells of at most 4 KiB get 2000 warm-up + 20 000 timed iterations
//                            (both programs): the state of a long job, past the JIT's warm-up
//   Open MPI CMA             bench/native/osu_coll.c under mpirun, vader + single copy = CMA
//   Open MPI no single copy  the same with single copy off (copy-in/copy-out through shm)
//
// Both programs get the same cells, warm-up and timed iteration counts (bench/lib/osu-cells.ts)
// and measure the same way (osu_coll.c's header comment): OSU 7 loops, µs per call (MB/s for
// osu_bw), and CPU time per rank around each timed loop. Every launch runs every cell --reps
// times; launches go onecopy, Open MPI CMA, Open MPI no single copy, onecopy, … for --rounds
// rounds (the order rotates each round), so a noisy phase of a shared VM hits every column
// alike. Cells are medians over rounds × reps. Prints one table and writes
// bench/results/versus-ompi.json (-np4.json etc. for other --np; every sample, the commands,
// the mode checks).
// Without Open MPI it prints how to install it and exits 0.
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { TUNABLES } from "onecopy";
import { launch } from "onecopy/launcher";
import { cpuBusy, machineFacts } from "./lib/machine.js";
import { BW_WINDOW, cellLabel, cellsArg, fmtBytes, higherIsBetter, parseOps, tableCells, unitOf, type CellResult } from "./lib/osu-cells.js";
import { buildOsuProgram, ompiCommand, runMpiJson, setupOpenMpi, type OmpiMode } from "./openmpi.js";
import { flagValue } from "./lib/args.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const argv = process.argv.slice(2);
const val = (name: string) => flagValue(argv, name);
const quick = argv.includes("--quick");
const nps = (val("--np") ?? "2").split(",").map(Number);
const rounds = Number(val("--rounds") ?? 3);
const reps = Number(val("--reps") ?? (quick ? 2 : 3));
for (const np of nps) if (!Number.isInteger(np) || np < 2 || np > 64) throw new RangeError(`--np wants integers 2 … 64 (got ${val("--np")})`);
if (!(rounds >= 1 && reps >= 1 && reps <= 64)) throw new RangeError("--rounds must be ≥ 1 and --reps 1 … 64");
const ops = val("--ops") !== undefined ? parseOps(val("--ops")!) : undefined;
const sizes = val("--sizes")?.split(",").map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`--sizes wants byte counts, e.g. 8,4096; got ${x}`);
  return n;
});
const variantArg = val("--variant");
const variantEnv: Record<string, string> | undefined = variantArg
  ? Object.fromEntries(
      variantArg.split(",").map((kv) => {
        const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(kv);
        if (!m) throw new RangeError(`--variant wants NAME=VALUE[,NAME=VALUE]; got ${kv}`);
        return [m[1]!, m[2]!];
      }),
    )
  : undefined;

const t0 = performance.now();
const loadavgBefore = loadavg().map((x) => Number(x.toFixed(2)));
const progress = (msg: string) => process.stderr.write(`[versus-ompi ${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${msg}\n`);

const setup = setupOpenMpi();
if (!setup.available) {
  console.log(`Open MPI comparison skipped: ${setup.reason}\n\n${setup.help}`);
  process.exit(0);
}
const coll = buildOsuProgram(setup.mpicc, setup.version, "osu_coll");
if (!coll.ok) {
  console.log(`Open MPI comparison skipped: ${coll.reason}\n\n${coll.help}`);
  process.exit(0);
}

const steady = argv.includes("--steady");
const cells = tableCells(quick, ops, sizes, steady);
if (!cells.length) throw new RangeError("--ops/--sizes leave no cell to measure");
const cellArgs = ["--cells", cellsArg(cells), "--reps", String(reps), "--window", String(BW_WINDOW)];
type Column = "onecopy" | "variant" | OmpiMode["name"];
const columns: Array<{ name: Column; label: string; mode?: OmpiMode; env?: Record<string, string> }> = [
  { name: "onecopy", label: "onecopy" },
  ...(variantEnv ? [{ name: "variant" as const, label: `onecopy ${variantArg}`, env: variantEnv }] : []),
  ...setup.modes.map((m) => ({ name: m.name, label: m.singleCopy ? "Open MPI CMA" : "Open MPI no single copy", mode: m })),
];

interface Run {
  np: number;
  column: Column;
  round: number;
  ok: boolean;
  message?: string;
  command: string[];
  header: Record<string, unknown> | null;
  cvars: Record<string, unknown>;
  results: CellResult[];
  /** Busy fraction of the CPUs just before the launch (other work). */
  busyBefore: number | null;
  seconds: number;
  stderr?: string;
}

async function runOnecopy(np: number, column: "onecopy" | "variant", env: Record<string, string> = {}): Promise<Omit<Run, "round" | "busyBefore" | "seconds">> {
  const script = join(here, "lib", "versus-rank.ts");
  const r = await launch({ np, script, args: cellArgs, env, timeoutMs: 15 * 60_000 });
  const command = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), "onecopy run", "-n", String(np), script, ...cellArgs];
  const line = r.ranks[0]?.stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
  const stderr = r.ranks.map((x) => x.stderr).join("\n").trim();
  if (!r.ok || !line) return { np, column, ok: false, message: `launch exit ${r.exitCode}${line ? "" : ", no result"}`, command, header: null, cvars: {}, results: [], stderr };
  const out = JSON.parse(line.slice("@@RESULT ".length)) as { header: Record<string, unknown>; results: CellResult[] };
  return { np, column, ok: true, command, header: out.header, cvars: {}, results: out.results };
}

async function runOmpi(np: number, mode: OmpiMode): Promise<Omit<Run, "round" | "busyBefore" | "seconds">> {
  const command = ompiCommand(setup as Extract<typeof setup, { available: true }>, mode, cellArgs, { np, binary: (coll as { binary: string }).binary });
  const x = await runMpiJson(command, 15 * 60_000);
  const run: Omit<Run, "round" | "busyBefore" | "seconds"> = { np, column: mode.name, ok: false, command, header: null, cvars: {}, results: [] };
  for (const j of x.objects) {
    if (j.type === "header") run.header = j;
    else if (j.type === "cvar") run.cvars[String(j.name)] = j.value;
    else if (j.type === "result") run.results.push(j as unknown as CellResult);
  }
  run.ok = x.code === 0 && run.results.length === cells.length;
  if (!run.ok) {
    run.message = x.message ?? `mpirun ${x.signal ?? `exit ${x.code}`}, ${run.results.length} of ${cells.length} cells`;
    run.stderr = x.stderr.trim();
  }
  return run;
}

// ------------------------------------------------------------------------------- the runs
const runs: Run[] = [];
progress(`${cells.length} cells × ${reps} reps per launch, ${rounds} rounds, np ${nps.join(",")}; Open MPI ${setup.version}`);
for (let round = 0; round < rounds; round++) {
  for (const np of nps) {
    for (let k = 0; k < columns.length; k++) {
      const col = columns[(k + round) % columns.length]!;
      const busyBefore = await cpuBusy(200);
      const a = performance.now();
      const r = col.mode ? await runOmpi(np, col.mode) : await runOnecopy(np, col.name === "variant" ? "variant" : "onecopy", col.env);
      const seconds = (performance.now() - a) / 1000;
      runs.push({ ...r, round, busyBefore: busyBefore === null ? null : Number(busyBefore.toFixed(2)), seconds: Number(seconds.toFixed(1)) });
      const other = busyBefore !== null && busyBefore > 0.25 ? ` (other work kept the CPUs ${(busyBefore * 100).toFixed(0)}% busy before it)` : "";
      progress(`round ${round + 1}/${rounds} np ${np} ${col.label}: ${r.ok ? "ok" : `FAILED: ${r.message}`} in ${seconds.toFixed(1)} s${other}`);
      if (!r.ok && r.stderr) process.stderr.write(`${r.stderr}\n`);
    }
  }
}

// ---------------------------------------------------------------------------- the summary
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number;
  cpuUs: number;
  cpuUtil: number;
  copyCalls: number;
  copyBytes: number;
  dataOk: boolean;
}

function summarize(np: number, column: Column, op: string, size: number): Summary | undefined {
  const rs = runs.filter((r) => r.np === np && r.column === column && r.ok).flatMap((r) => r.results.filter((x) => x.op === op && x.size === size));
  if (!rs.length) return undefined;
  const xs = rs.flatMap((x) => x.samples);
  return {
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
    samples: xs.length,
    cpuUs: median(rs.flatMap((x) => x.cpuUs)),
    cpuUtil: median(rs.flatMap((x) => x.cpuUtil)),
    copyCalls: rs.reduce((a, x) => a + x.copyCalls, 0),
    copyBytes: rs.reduce((a, x) => a + x.copyBytes, 0),
    dataOk: rs.every((x) => x.dataOk),
  };
}

const fmtUs = (x: number) => (x < 1 ? x.toFixed(3) : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const fmtMBs = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));
const fmtRate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1000 ? `${(x / 1000).toFixed(0)}k` : x.toFixed(0));
const fmtCpu = (s?: Summary) => (s ? `${fmtUs(s.cpuUs)} µs · ${(s.cpuUtil * 100).toFixed(0)}%` : "–");
const fmtRatio = (r: number) => (r >= 1 ? `${r < 10 ? r.toFixed(1) : r.toFixed(0)}× slower` : `${1 / r < 10 ? (1 / r).toFixed(1) : (1 / r).toFixed(0)}× faster`);

interface Row {
  np: number;
  cell: string;
  op: string;
  size: number;
  unit: CellResult["unit"];
  values: Partial<Record<Column, Summary>>;
  /** onecopy's time ÷ the best Open MPI time (for bw and rate: the best Open MPI figure ÷ onecopy's). */
  slowdown: number | null;
  /** The same for the --variant column. */
  variantSlowdown: number | null;
}

const rows: Row[] = [];
for (const np of nps) {
  for (const c of cells) {
    const values: Partial<Record<Column, Summary>> = {};
    for (const col of columns) {
      const s = summarize(np, col.name, c.op, c.size);
      if (s) values[col.name] = s;
    }
    const others = columns.filter((x) => x.mode).map((x) => values[x.name]?.median).filter((x): x is number => x !== undefined);
    const up = higherIsBetter(c.op);
    const best = others.length ? (up ? Math.max(...others) : Math.min(...others)) : undefined;
    const against = (one?: number) => (one !== undefined && best !== undefined ? (up ? best / one : one / best) : null);
    rows.push({ np, cell: cellLabel(c), op: c.op, size: c.size, unit: unitOf(c.op), values, slowdown: against(values.onecopy?.median), variantSlowdown: against(values.variant?.median) });
  }
}

const lines: string[] = [];
const out = (s = "") => {
  lines.push(s);
  console.log(s);
};
const machine = machineFacts();
const busy = runs.map((r) => r.busyBefore).filter((x): x is number => x !== null);
const busyMedian = busy.length ? median(busy) : null;
out(
  `\nonecopy vs Open MPI ${setup.version}, ${nps.map((n) => `np ${n}`).join(" and ")}${quick ? " (--quick)" : ""}${steady ? " (--steady)" : ""}: ${machine.cores} × ${machine.cpu}, Linux ${machine.kernel}, Node ${machine.node}`,
);
out(
  `medians of ${rounds} rounds × ${reps} reps, interleaved launches; time in µs per call (latency: half round trip), osu_bw in MB/s (1e6 B/s, window ${BW_WINDOW}, one send and one receive buffer), message rate in messages/s (window ${BW_WINDOW})`,
);
out(`CPU: CPU µs per call (half round trip, osu_bw message) per rank · CPU time / wall time of the timed loop, mean over the ranks taking part`);
if (busyMedian !== null && busyMedian > 0.25) out(`other work kept the CPUs ${(busyMedian * 100).toFixed(0)}% busy (median before each launch): expect noise`);
out();
const head = ["cell", ...columns.map((c) => c.label), "onecopy ÷ best", ...(variantEnv ? ["variant ÷ best"] : []), ...columns.map((c) => `CPU ${c.label}`)];
out(`| ${head.join(" | ")} |`);
out(`|---|${head.slice(1).map(() => "---:").join("|")}|`);
for (const r of rows) {
  const label = `${nps.length > 1 ? `np ${r.np}: ` : ""}${r.cell}`;
  const v = columns.map((c) => {
    const s = r.values[c.name];
    return s ? (r.unit === "us" ? fmtUs(s.median) : r.unit === "msg/s" ? fmtRate(s.median) : fmtMBs(s.median)) : "–";
  });
  const ratios = [r.slowdown, ...(variantEnv ? [r.variantSlowdown] : [])].map((x) => (x === null ? "–" : fmtRatio(x)));
  out(`| ${[label, ...v, ...ratios, ...columns.map((c) => fmtCpu(r.values[c.name]))].join(" | ")} |`);
}
out();

// ------------------------------------------------------------------------------- checks
// Every column must be what its label says: Open MPI's effective single-copy setting and its
// process_vm_readv/writev calls in cells above its eager limit (4 KiB); onecopy's single-copy
// calls in cells above its eager limit; and every result's sampled data.
const notes: string[] = [];
const ompiMech = (cv: Record<string, unknown>) => (setup.major <= 4 ? cv.btl_vader_single_copy_mechanism : cv.smsc);
const large = (op: string, size: number) => op !== "barrier" && size >= 64 * 1024;
for (const np of nps) {
  for (const col of columns) {
    const rs = runs.filter((r) => r.np === np && r.column === col.name && r.ok);
    if (!rs.length) {
      notes.push(`FAILED np ${np} ${col.label}: no successful launch`);
      continue;
    }
    const big = rs.flatMap((r) => r.results.filter((x) => large(x.op, x.size)));
    const calls = big.reduce((a, x) => a + x.copyCalls, 0);
    const gib = big.reduce((a, x) => a + x.copyBytes, 0) / 2 ** 30;
    if (col.mode) {
      const mech = ompiMech(rs[0]!.cvars);
      const counting = rs[0]!.header?.cmaCounting === true;
      const what = `np ${np} ${col.label}: ${setup.major <= 4 ? "btl_vader_single_copy_mechanism" : "smsc"} = ${JSON.stringify(mech)}, ${counting ? `${calls} process_vm_readv/writev calls (${gib.toFixed(1)} GiB) in cells ≥ 64 KiB` : "CMA calls not countable"}`;
      // Without a cell ≥ 64 KiB (--ops/--sizes) there is nothing for the CMA mode to copy.
      const bad = col.mode.singleCopy ? (counting && big.length > 0 && calls === 0) || (setup.major <= 4 && mech !== "cma") : (counting && calls > 0) || (setup.major <= 4 && mech !== "none");
      notes.push(bad ? `MODE CHECK FAILED ${what}` : `mode check ok: ${what}`);
    } else {
      const limit = TUNABLES.eagerLimit.default;
      const none = [...new Set(rs.flatMap((r) => r.results.filter((x) => x.op !== "barrier" && x.size > limit && x.copyCalls === 0).map((x) => cellLabel(x))))];
      notes.push(
        `onecopy np ${np}: ${calls} single-copy calls (${gib.toFixed(1)} GiB) in cells ≥ 64 KiB${none.length ? `; NO single copy in ${none.join(", ")} (above the ${fmtBytes(limit)} eager limit)` : ""}`,
      );
    }
    const wrong = [...new Set(rs.flatMap((r) => r.results.filter((x) => !x.dataOk).map((x) => cellLabel(x))))];
    if (wrong.length) notes.push(`WRONG DATA np ${np} ${col.label}: ${wrong.join(", ")}`);
  }
}
for (const n of notes) out(n);
const failed = runs.filter((r) => !r.ok);
for (const f of failed) out(`FAILED: round ${f.round + 1} np ${f.np} ${f.column}: ${f.message}`);
const took = (performance.now() - t0) / 1000;
out(`took ${took.toFixed(0)} s`);

const resultsDir = join(here, "results");
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `versus-ompi${nps.length === 1 && nps[0] === 2 ? "" : `-np${nps.join("-")}`}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      bench: "versus-ompi",
      date: new Date().toISOString(),
      quick,
      machine: { ...machine, loadavgBefore, cpuBusyBeforeEachLaunch: runs.map((r) => ({ round: r.round, np: r.np, column: r.column, busy: r.busyBefore })) },
      openmpi: { version: setup.version, mpirun: setup.mpirun, modes: setup.modes, binary: coll.binary },
      config: { nps, rounds, reps, steady, window: BW_WINDOW, cells, variant: variantEnv ?? null, units: { time: "µs per call; latency: half round trip", bw: "MB/s = 1e6 bytes/s", rate: "messages/s", cpuUs: "CPU µs per call / half round trip / message, per rank", cpuUtil: "CPU time / wall time of the timed loop" } },
      rows,
      notes,
      runs,
      table: lines,
      durationS: Number(took.toFixed(1)),
    },
    null,
    1,
  ),
);
console.log(`results: ${file}`);
process.exit(failed.length || notes.some((n) => /^(MODE CHECK FAILED|WRONG DATA|FAILED)/.test(n)) ? 1 : 0);
