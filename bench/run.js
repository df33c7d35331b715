#!/usr/bin/env node
// Benchmark dispatcher: `node bench/run.js [name ...] [--quick] [--flag value ...] [--list]`.
// Every bench/<name>.ts is a benchmark; it runs in its own Node process under tsx, with the
// remaining flags passed through. Without a name, all benchmarks run one after another.
// (`pnpm bench` builds the workspace first: benchmarks import the compiled packages.)
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const available = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
  .map((f) => f.slice(0, -3))
  .sort();

// Runnable by name, but not part of a run of everything: p2p-suite runs them itself
// (openmpi with --ompi).
// (p2p.ts is its rank program; alone it runs one transport. ipc-baseline is one of its columns.)
// versus-ompi is the Open MPI comparison: optional, like --ompi.
const notInAll = new Set(["p2p", "ipc-baseline", "openmpi", "versus-ompi", "mpi-internode"]);

// A word right after a flag is that flag's value (`--np 4`, `--runs 2`) unless it names a
// benchmark; every other word is a benchmark name.
const args = process.argv.slice(2);
const names = [];
const flags = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a.startsWith("-") || (i > 0 && args[i - 1].startsWith("-") && !available.includes(a))) flags.push(a);
  else names.push(a);
}

if (flags.includes("--list") || flags.includes("--help")) {
  console.log(`usage: node bench/run.js [name ...] [--quick]\nbenchmarks: ${available.join(", ")}`);
  process.exit(0);
}
const unknown = names.filter((n) => !available.includes(n));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; available: ${available.join(", ")}`);
  process.exit(2);
}

let failed = 0;
for (const name of names.length > 0 ? names : available.filter((n) => !notInAll.has(n))) {
  console.log(`\n=== ${name} ${flags.join(" ")}`);
  const r = spawnSync(process.execPath, ["--import", tsx, `${here}${name}.ts`, ...flags], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`${name} failed (${r.signal ?? `exit ${r.status}`})`);
    failed++;
  }
}
process.exit(failed > 0 ? 1 : 0);
