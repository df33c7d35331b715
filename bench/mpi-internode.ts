// onecopy's inter-node path against Open MPI's own osu_bw over the same transport.
//
// Two ranks under the real mpirun with the same MCA parameters (ob1, btl self,vader|sm, the
// version's default single copy), each time:
//   onecopy    bench/lib/mpi-bw-rank.ts, the two ranks on two simulated nodes
//              (ONECOPY_NODE_ID=a / b): every message takes the mpi mover (MPI_Isend and
//              MPI_Irecv between the user buffers, driven from the event loop through koffi)
//   Open MPI   bench/native/osu_lite.c --bench bw (window 64, capped at 256 MiB per window)
// interleaved --runs times (default 3); medians of all samples; ratio = onecopy / Open MPI. Two
// pairs, like against like: 4 KiB pages on both sides (plain Uint8Array / osu_lite's default
// page-aligned buffers), and 2 MiB huge pages on both (allocBuffer() / osu_lite --hugepages);
// CMA's speed depends on the pages far more than on who calls it.
// The onecopy run also checks that every byte went through libmpi (stats().mpi.bytes).
//
// Then allreduce at 1–16 MiB on 2 simulated nodes × 2 ranks (np 4, oversubscribed here) and × 1
// (np 2): onecopy's hierarchical world allreduce (node-local single copy, MPI_Iallreduce among
// the 2 leaders, node-local back), the same pipelined in chunks (ONECOPY_HIER_CHUNK = --chunk,
// default 4 MiB) and its flat one (ONECOPY_HIERARCHICAL=0) through bench/lib/versus-rank.ts,
// launched in turn, against Open MPI's MPI_Allreduce over all ranks (bench/native/osu_coll.c),
// OSU's loop, µs per call and CPU µs per call. Then the hierarchical call step by step
// (bench/lib/hier-steps-rank.ts: node-local reduce, agreement, MPI step, node bcast).
//
// Last, the polling cost (bench/lib/mpi-poll-rank.ts): the CPU a rank spends blocked for 2 s on
// a receive from the other node (the progress loop backs off to timers), and the 8-byte
// ping-pong latency between the nodes, next to osu_latency.
//
// --variant NAME=VALUE[,NAME=VALUE] also runs onecopy with those environment settings in every
// round, right after the default (a before/after of one knob in the same run, interleaved: under
// load that comparison holds where ratios to Open MPI's spinning ranks do not), in the bandwidth
// table and the polling line.
//
// Usage: node bench/run.js mpi-internode [--quick] [--runs N] [--sizes 1048576,...] [--no-allreduce] [--allreduce-only] [--chunk BYTES] [--variant NAME=VALUE]
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { flagValue } from "./lib/args.js";
import { machineFacts } from "./lib/machine.js";
import { spawn } from "node:child_process";
import { buildOsuProgram, measureOpenMpi, ompiCommand, runMpiJson, setupOpenMpi, type OmpiResult } from "./openmpi.js";
import type { CellResult } from "./lib/osu-cells.js";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const runs = Number(flagValue(argv, "--runs") ?? (quick ? 2 : 3));
const sizes = (flagValue(argv, "--sizes") ?? "1048576,2097152,4194304,8388608,16777216").split(",").map(Number);
const reps = quick ? 3 : 5;
const targetMs = quick ? 150 : 300;
const here = fileURLToPath(new URL(".", import.meta.url));
const variantArg = flagValue(argv, "--variant");
const variant: string[] = variantArg
  ? variantArg.split(",").map((kv) => {
      if (!/^[A-Z_][A-Z0-9_]*=.*$/.test(kv)) throw new RangeError(`--variant wants NAME=VALUE[,NAME=VALUE]; got ${kv}`);
      return kv;
    })
  : [];
const tsx = createRequire(import.meta.url).resolve("tsx");

const setup = setupOpenMpi({ hugepages: true });
if (!setup.available) {
  console.log(`mpi-internode: skipped: ${setup.reason}\n${setup.help}`);
  process.exit(0);
}
const s = setup;
const cma = s.modes.find((m) => m.name === "ompi-cma")!;
const pairs = [
  { pages: "4 KiB pages", huge: false, mode: cma },
  { pages: "huge pages", huge: true, mode: s.modes.find((m) => m.name === "ompi-cma-huge")! },
];

function onecopyCommand(huge: boolean, env: readonly string[] = []): string[] {
  const rank = (node: string) => [
    "-np", "1", "-x", `ONECOPY_NODE_ID=${node}`, ...env.flatMap((kv) => ["-x", kv]), process.execPath, "--import", tsx, `${here}lib/mpi-bw-rank.ts`,
    "--sizes", sizes.join(","), "--reps", String(reps), "--target-ms", String(targetMs), ...(huge ? ["--hugepages"] : []),
  ];
  return [s.mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", ...s.common, ...cma.mca, ...rank("a"), ":", ...rank("b")];
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2) : NaN;
};

const ours = new Map<string, number[]>();
const oursVariant = new Map<string, number[]>();
/** CPU µs per message, sender + receiver, one entry per run (spinning included; load moves it less than wall time). */
const cpuOf = new Map<Map<string, number[]>, Map<string, number[]>>([[ours, new Map()], [oursVariant, new Map()]]);
const theirs = new Map<string, number[]>();
const add = (m: Map<string, number[]>, key: string, xs: number[]) => m.set(key, [...(m.get(key) ?? []), ...xs]);
const problems: string[] = [];
const allreduceOnly = argv.includes("--allreduce-only");
for (let run = 0; run < (allreduceOnly ? 0 : runs); run++) for (const pair of pairs) {
  for (const [into, env] of [[ours, []], ...(variant.length ? [[oursVariant, variant]] : [])] as Array<[Map<string, number[]>, string[]]>) {
    const o = await runMpiJson(onecopyCommand(pair.huge, env), 300_000);
    const who = `onecopy${env.length ? ` ${env.join(",")}` : ""}`;
    if (o.code !== 0) problems.push(`${who} run ${run}: exit ${o.code}: ${o.stderr.slice(-2000)}`);
    for (const j of o.objects) {
      if (j.type === "check" && j.dataOk !== true) problems.push(`${who} run ${run}: the received bytes are wrong`);
      if (j.type !== "result") continue;
      const size = j.size as number;
      if (j.mpiBytes !== j.expectBytes) problems.push(`${who} ${size} B: ${String(j.mpiBytes)} bytes through MPI, expected ${String(j.expectBytes)}`);
      add(into, `${pair.pages} ${size}`, j.samples as number[]);
      const c = j.cpuUsPerMessage as { sender: number; receiver: number } | undefined;
      if (c) add(cpuOf.get(into)!, `${pair.pages} ${size}`, [c.sender + c.receiver]);
    }
  }
  const m = await measureOpenMpi(s, pair.mode, { sizes, benches: ["bw"], reps, targetMs, warmupMs: 200 });
  if (!m.ok) problems.push(`osu_lite run ${run}: ${m.message ?? "failed"}`);
  for (const r of m.results as OmpiResult[]) add(theirs, `${pair.pages} ${r.size}`, r.samples);
}

const rows = pairs.flatMap((pair) =>
  sizes.map((size) => {
    const a = median(ours.get(`${pair.pages} ${size}`) ?? []);
    const b = median(theirs.get(`${pair.pages} ${size}`) ?? []);
    const v = median(oursVariant.get(`${pair.pages} ${size}`) ?? []);
    const cpu = median(cpuOf.get(ours)!.get(`${pair.pages} ${size}`) ?? []);
    const cpuVariant = median(cpuOf.get(oursVariant)!.get(`${pair.pages} ${size}`) ?? []);
    return { pages: pair.pages, size, onecopy: a, openmpi: b, ratio: a / b, cpu, ...(variant.length ? { variant: v, cpuVariant } : {}) };
  }),
);
const mib = (n: number) => `${n / (1 << 20)} MiB`;
if (!allreduceOnly) console.log(`inter-node path (two simulated nodes, Open MPI ${s.version}, ${[...s.common, ...cma.mca].join(" ")}), osu_bw window 64, MB/s, medians of ${runs} interleaved runs × ${reps} samples`);
const vHead = variant.length ? ` onecopy ${variant.join(",")} | default / variant | its CPU µs/msg |` : "";
if (!allreduceOnly) console.log(`| buffers | size | onecopy (mpi mover) | Open MPI osu_bw | ratio | onecopy CPU µs/msg (both ranks) |${vHead}\n|---|---:|---:|---:|---:|---:|${variant.length ? "---:|---:|---:|" : ""}`);
for (const r of allreduceOnly ? [] : rows) {
  const v = r.variant !== undefined ? ` ${r.variant.toFixed(0)} | ${(r.onecopy / r.variant).toFixed(2)} | ${r.cpuVariant!.toFixed(0)} |` : "";
  console.log(`| ${r.pages} | ${mib(r.size)} | ${r.onecopy.toFixed(0)} | ${r.openmpi.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.cpu.toFixed(0)} |${v}`);
}
for (const p of problems) console.log(`problem: ${p}`);

// ---- allreduce: hierarchical vs flat vs Open MPI, 2 nodes × 2 ranks and 2 nodes × 1 ---------
const allreduceRows: Array<Record<string, number | string>> = [];
const stepRows: Array<Record<string, number | string>> = [];
if (!argv.includes("--no-allreduce")) {
  const coll = buildOsuProgram(s.mpicc, s.version, "osu_coll");
  const aSizes = [1 << 20, 4 << 20, 16 << 20];
  const cellArgs = ["--cells", aSizes.map((z) => `allreduce:${z}:${quick ? 3 : 5}:${quick ? 8 : 20}`).join(","), "--reps", String(quick ? 2 : 3)];
  const chunk = Number(flagValue(argv, "--chunk") ?? 4 << 20);
  const mpirunOf = (perNode: number, env: string[], prog: string[]) => {
    const rank = (node: string) => ["-np", String(perNode), "-x", `ONECOPY_NODE_ID=${node}`, ...env.flatMap((e) => ["-x", e]), process.execPath, "--import", tsx, ...prog];
    return [s.mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", ...s.common, ...cma.mca, ...rank("a"), ":", ...rank("b")];
  };
  // The variants of onecopy, launched in turn in every run (same load for each).
  const variants = [
    { name: "hierarchical", env: ["ONECOPY_HIERARCHICAL=1", "ONECOPY_HIER_CHUNK=0"] },
    { name: `pipelined ${chunk >> 20} MiB`, env: ["ONECOPY_HIERARCHICAL=1", `ONECOPY_HIER_CHUNK=${chunk}`] },
    { name: "flat", env: ["ONECOPY_HIERARCHICAL=0"] },
  ];
  const runOnecopy = (cmd: string[]) =>
    new Promise<CellResult[]>((done) => {
      const p = spawn(cmd[0]!, cmd.slice(1), { env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1" }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.on("close", (code) => {
        const line = out.split("\n").find((l) => l.startsWith("@@RESULT "));
        if (code !== 0 || !line) problems.push(`onecopy allreduce: exit ${code}: ${err.slice(-1500)}`);
        done(line ? (JSON.parse(line.slice(9)) as { results: CellResult[] }).results : []);
      });
    });
  for (const perNode of [2, 1]) {
    const t = new Map<string, Map<number, number[]>>();
    const cpu = new Map<string, Map<number, number[]>>();
    const put = (name: string, rs: CellResult[]) => {
      for (const r of rs) {
        if (!r.dataOk) problems.push(`allreduce ${name} ${r.size} B: wrong result`);
        const m = t.get(name) ?? new Map<number, number[]>();
        m.set(r.size, [...(m.get(r.size) ?? []), ...r.samples]);
        t.set(name, m);
        const c = cpu.get(name) ?? new Map<number, number[]>();
        c.set(r.size, [...(c.get(r.size) ?? []), ...r.cpuUs]);
        cpu.set(name, c);
      }
    };
    for (let run = 0; run < runs; run++) {
      for (const v of variants) put(v.name, await runOnecopy(mpirunOf(perNode, v.env, [`${here}lib/versus-rank.ts`, ...cellArgs])));
      if (coll.ok) {
        const x = await runMpiJson(ompiCommand(s, cma, cellArgs, { np: 2 * perNode, binary: coll.binary }), 300_000);
        put("Open MPI", x.objects.filter((j) => j.type === "result") as unknown as CellResult[]);
      }
    }
    const names = [...variants.map((v) => v.name), "Open MPI"];
    console.log(`\nallreduce (sum of doubles), ${2 * perNode} ranks = 2 simulated nodes × ${perNode}, µs per call (OSU loop; CPU µs per call of rank 0 in brackets), medians of ${runs} interleaved runs`);
    console.log(`| size | ${names.join(" | ")} | hierarchical / Open MPI |\n|---:|${names.map(() => "---:|").join("")}---:|`);
    for (const size of aSizes) {
      const med = (name: string) => median(t.get(name)?.get(size) ?? []);
      const c = (name: string) => median(cpu.get(name)?.get(size) ?? []);
      allreduceRows.push({ layout: `2x${perNode}`, size, ...Object.fromEntries(names.map((n) => [n, med(n)])), ...Object.fromEntries(names.map((n) => [`${n} cpu`, c(n)])) });
      console.log(`| ${mib(size)} | ${names.map((n) => `${med(n).toFixed(0)} (${c(n).toFixed(0)})`).join(" | ")} | ${(med("hierarchical") / med("Open MPI")).toFixed(2)} |`);
    }
    // Where the hierarchical call's time goes, per step (bench/lib/hier-steps-rank.ts), chunk off and on.
    console.log(`\nper step, µs per call (wall of the call; CPU of the rank), 2 × ${perNode}, leaders and others, medians over ranks of ${runs} runs`);
    console.log("| variant | size | rank | call | CPU | node-local reduce | agreement + verdict | leaders' MPI step | node bcast back |\n|---|---:|---|---:|---:|---:|---:|---:|---:|");
    const steps = new Map<string, Array<Record<string, any>>>();
    for (let run = 0; run < runs; run++)
      for (const v of variants.slice(0, 2)) {
        const o = await runMpiJson(mpirunOf(perNode, v.env, [`${here}lib/hier-steps-rank.ts`, "--sizes", aSizes.join(","), "--iters", quick ? "6" : "12"]), 300_000);
        if (o.code !== 0) problems.push(`hier-steps ${v.name}: exit ${o.code}: ${o.stderr.slice(-1500)}`);
        for (const j of o.objects.filter((x) => x.type === "steps")) {
          if (j.ok !== true) problems.push(`hier-steps ${v.name} ${String(j.size)} B: wrong result`);
          const key = `${v.name}|${String(j.size)}|${j.leader ? "leader" : "other"}`;
          steps.set(key, [...(steps.get(key) ?? []), j]);
        }
      }
    for (const [key, js] of steps) {
      const [name, size, role] = key.split("|");
      const m = (f: (j: Record<string, any>) => number) => median(js.map(f));
      const row = { layout: `2x${perNode}`, variant: name!, size: Number(size), role: role!, call: m((j) => j.usPerCall), cpu: m((j) => j.cpuUsPerCall), local: m((j) => j.steps.local), agree: m((j) => j.steps.agree), mpi: m((j) => j.steps.mpi), after: m((j) => j.steps.after) };
      stepRows.push(row);
      console.log(`| ${name} | ${mib(row.size)} | ${role} | ${row.call.toFixed(0)} | ${row.cpu.toFixed(0)} | ${row.local.toFixed(0)} | ${row.agree.toFixed(0)} | ${row.mpi.toFixed(0)} | ${row.after.toFixed(0)} |`);
    }
  }
  for (const p of problems) console.log(`problem: ${p}`);
}
// ---- polling cost ----------------------------------------------------------------------
const pollCmd = (env: readonly string[]) => [s.mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", ...s.common, ...cma.mca,
  ...["a", "b"].flatMap((node, k) => [...(k ? [":"] : []), "-np", "1", "-x", `ONECOPY_NODE_ID=${node}`, ...env.flatMap((kv) => ["-x", kv]), process.execPath, "--import", tsx, `${here}lib/mpi-poll-rank.ts`])];
type Poll = { idle: { cpuPercent: number }; latencyUs: number };
const pollOnce = async (env: readonly string[]) => (await runMpiJson(pollCmd(env), 120_000)).objects.find((j) => j.type === "poll") as Poll | undefined;
const poll = allreduceOnly ? undefined : await pollOnce([]);
const pollVariant = variant.length && !allreduceOnly ? await pollOnce(variant) : undefined;
const lat = allreduceOnly ? { results: [] as OmpiResult[] } : await measureOpenMpi(s, cma, { sizes: [8], benches: ["latency"], reps: 3, targetMs, warmupMs: 200 });
const ompiLat = median(lat.results.flatMap((r) => r.samples));
if (poll) console.log(`\npolling: blocked 2 s on a remote receive: ${poll.idle.cpuPercent.toFixed(1)} % of a core; 8 B latency between the nodes ${poll.latencyUs.toFixed(1)} µs (Open MPI osu_latency ${ompiLat.toFixed(2)} µs)`);
else if (!allreduceOnly) problems.push("the polling measurement printed nothing");
if (pollVariant) console.log(`polling with ${variant.join(",")}: blocked: ${pollVariant.idle.cpuPercent.toFixed(1)} % of a core; 8 B latency ${pollVariant.latencyUs.toFixed(1)} µs`);

mkdirSync(`${here}results`, { recursive: true });
writeFileSync(`${here}results/mpi-internode.json`, JSON.stringify({ machine: machineFacts(), openmpi: s.version, runs, reps, rows, allreduce: allreduceRows, steps: stepRows, poll, ...(variant.length ? { variant, pollVariant, oursVariant: Object.fromEntries(oursVariant) } : {}), ompiLatencyUs: ompiLat, problems, ours: Object.fromEntries(ours), theirs: Object.fromEntries(theirs) }, null, 2));
process.exit(problems.length ? 1 : 0);
