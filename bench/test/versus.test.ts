// The versus-ompi benchmark's two programs measure what they claim: every cell's data arrives
// intact, the counters see single copies exactly where they happen, and the driver without
// Open MPI explains how to install it and exits 0. The osu_coll case runs only where Open MPI
// is installed (skipped otherwise: the default tests never need it).
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { launch } from "onecopy/launcher";
import { cellsArg, type CellResult, type CellSpec } from "../lib/osu-cells.js";
import { buildOsuProgram, ompiCommand, runMpiJson, setupOpenMpi } from "../openmpi.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const rank = fileURLToPath(new URL("../lib/versus-rank.ts", import.meta.url));
const CELLS: CellSpec[] = [
  { op: "latency", size: 1, skip: 2, iters: 10 },
  { op: "latency", size: 64 * KiB, skip: 1, iters: 5 },
  { op: "barrier", size: 0, skip: 2, iters: 10 },
  { op: "allreduce", size: 8, skip: 2, iters: 5 },
  { op: "allreduce", size: 1 * MiB, skip: 1, iters: 3 },
  { op: "bcast", size: 64 * KiB, skip: 1, iters: 3 },
  { op: "alltoall", size: 64 * KiB, skip: 1, iters: 3 },
  { op: "reduce", size: 64 * KiB, skip: 1, iters: 3 },
  { op: "gather", size: 64 * KiB, skip: 1, iters: 3 },
  { op: "allgather", size: 8, skip: 2, iters: 5 },
  { op: "allgather", size: 64 * KiB, skip: 1, iters: 3 },
  { op: "rate", size: 8, skip: 1, iters: 3 },
  { op: "bw", size: 1 * MiB, skip: 1, iters: 2 },
];
const args = ["--cells", cellsArg(CELLS), "--reps", "2", "--window", "4"];

async function onecopy(env: Record<string, string> = {}): Promise<CellResult[]> {
  const r = await launch({ np: 2, script: rank, args, env, timeoutMs: 90_000, handleSignals: false });
  const line = r.ranks[0]!.stdout.split("\n").find((l) => l.startsWith("@@RESULT "));
  expect(r.ok && line, r.ranks.map((x) => x.stderr).join("\n")).toBeTruthy();
  return (JSON.parse(line!.slice(9)) as { results: CellResult[] }).results;
}

function expectSound(results: CellResult[]): void {
  expect(results.map((x) => `${x.op}:${x.size}`)).toEqual(CELLS.map((c) => `${c.op}:${c.size}`));
  for (const x of results) {
    expect(x.dataOk, `${x.op} ${x.size}`).toBe(true);
    expect(x.samples).toHaveLength(2);
    for (const v of [...x.samples, ...x.cpuUs]) expect(v).toBeGreaterThan(0);
    // CPU time / wall time of one process; its helper threads can push it a little above 1.
    for (const u of x.cpuUtil) expect(u).toBeGreaterThan(0), expect(u).toBeLessThan(4);
  }
}

const large = (x: CellResult) => x.op !== "barrier" && x.size >= 64 * KiB;

describe("versus-ompi: onecopy side (bench/lib/versus-rank.ts)", () => {
  it("checks every cell's data and counts the single copies of the large cells", async () => {
    const results = await onecopy();
    expectSound(results);
    for (const x of results.filter(large)) expect(x.copyCalls, `${x.op} ${x.size}`).toBeGreaterThan(0);
    for (const x of results.filter((y) => !large(y))) expect(x.copyCalls, `${x.op} ${x.size}`).toBe(0);
  });

  it("sees no single copy with CMA off, and the data still arrives", async () => {
    const results = await onecopy({ ONECOPY_CMA: "0" });
    expectSound(results);
    for (const x of results) expect(x.copyCalls, `${x.op} ${x.size}`).toBe(0);
  });
});

describe("versus-ompi: driver and Open MPI side", () => {
  it("without Open MPI prints how to install it and exits 0", () => {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
    const r = spawnSync(process.execPath, ["--import", tsx, fileURLToPath(new URL("../versus-ompi.ts", import.meta.url)), "--quick"], {
      encoding: "utf8",
      env: { ...process.env, ONECOPY_BENCH_MPIRUN: "/nonexistent/mpirun" },
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("Open MPI comparison skipped: mpirun (/nonexistent/mpirun) not found");
    expect(r.stdout).toContain("apt-get install openmpi-bin libopenmpi-dev");
  });

  const setup = setupOpenMpi();
  it.skipIf(!setup.available)("osu_coll under mpirun checks the same cells and counts CMA only in the CMA mode", async () => {
    if (!setup.available) return;
    const built = buildOsuProgram(setup.mpicc, setup.version, "osu_coll");
    expect(built.ok, built.ok ? "" : built.reason).toBe(true);
    if (!built.ok) return;
    for (const mode of setup.modes) {
      const x = await runMpiJson(ompiCommand(setup, mode, args, { np: 2, binary: built.binary }), 60_000);
      expect(x.code, x.stderr).toBe(0);
      const results = x.objects.filter((o) => o.type === "result") as unknown as CellResult[];
      expectSound(results);
      const calls = results.filter(large).reduce((a, r) => a + r.copyCalls, 0);
      if (mode.singleCopy) expect(calls).toBeGreaterThan(0);
      else expect(calls).toBe(0);
    }
  });
});
