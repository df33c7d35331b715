// The mpirun options of `onecopy run`, each with real ranks: oversubscription, CPU binding (read
// back from /proc), -x, node flags, stdin to rank 0, output files, Open MPI's tag format.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { getCpuAffinity, setCpuAffinity } from "@onecopy/cma";
import { launch, type LaunchOptions } from "../../src/launcher/index.js";
import { CLI, FIXTURES, cleanup, fixture, runCli, tempDir, track, type CliRun } from "./helpers.js";

afterEach(cleanup);

interface Parity {
  rank: number;
  pid: number;
  lang: "js" | "ts";
  argv: string[];
  execArgv: string[];
  preloaded: boolean;
  binding: string | null;
  cpus: string;
  threads: string[];
  env: Record<string, string | null>;
  stdinBytes?: number;
  stdinSha256?: string;
}

/** The PARITY lines of a run, by rank. */
function parity(stdout: string): Parity[] {
  const out: Parity[] = [];
  for (const line of stdout.split("\n")) {
    const at = line.indexOf("PARITY ");
    if (at !== -1) {
      const p = JSON.parse(line.slice(at + 7)) as Parity;
      out[p.rank] = p;
    }
  }
  return out;
}

/** `Cpus_allowed_list` of a process or thread, read from outside. */
function cpusAllowed(path: string): string {
  return /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync(path, "utf8"))![1]!;
}

/** `0-2,5` → [0, 1, 2, 5], parsed here, independently of the code under test. */
function cpuList(text: string): number[] {
  return text.split(",").flatMap((part) => {
    const [lo, hi = lo] = part.split("-").map(Number);
    return Array.from({ length: hi! - lo! + 1 }, (_, i) => lo! + i);
  });
}

/** This process's allowed CPUs, as the kernel lists them. */
const allowedHere = (): number[] => cpuList(cpusAllowed("/proc/self/status"));

/** Run the CLI with stdin from `input` (a pipe), optionally with the spawning thread pinned to `cpus`. */
function runCliWithInput(args: string[], input: Buffer | null, opts: { cpus?: number[]; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  const saved = opts.cpus ? getCpuAffinity() : undefined;
  if (opts.cpus) setCpuAffinity(opts.cpus); // the CLI inherits it: a launcher that may use only these CPUs
  let child;
  try {
    child = spawn(process.execPath, [CLI, ...args], {
      cwd: FIXTURES,
      env: { ...process.env, ...opts.env },
      stdio: [input ? "pipe" : "ignore", "pipe", "pipe"],
    });
  } finally {
    if (saved) setCpuAffinity(saved);
  }
  track(child.pid);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  if (input) {
    child.stdin!.on("error", () => {});
    child.stdin!.end(input);
  }
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
}

describe("--oversubscribe and the oversubscription warning", () => {
  it("more ranks than the launcher's CPUs: one warning that says what it costs; --oversubscribe silences it", async () => {
    const one = [allowedHere()[0]!];
    const warned = await runCliWithInput(["run", "-n", "2", "parity.js", "report"], null, { cpus: one });
    expect(warned.code, warned.stderr).toBe(0);
    const warnings = warned.stderr.split("\n").filter((l) => l.startsWith("onecopy: warning:"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/2 ranks on 1 CPU \(.*oversubscribed.*up to 2x slower.*--oversubscribe/);
    expect(parity(warned.stdout).map((p) => p.cpus)).toEqual([String(one[0]), String(one[0])]);

    const quiet = await runCliWithInput(["run", "-n", "2", "--oversubscribe", "parity.js", "report"], null, { cpus: one });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe("");
    expect(parity(quiet.stdout)).toHaveLength(2);
  });

  it("as many ranks as CPUs: no warning", async () => {
    const r = await runCliWithInput(["run", "-n", "1", "parity.js", "report"], null, { cpus: [allowedHere()[0]!] });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
  });
});

describe("--bind-to / --map-by pin every thread of every rank (sched_setaffinity)", () => {
  /** Launch `np` holding ranks, read each one's affinity from /proc while it lives, then release it. */
  async function pinned(np: number, extra: Partial<LaunchOptions>) {
    const seen = new Map<number, { main: string; threads: string[] }>();
    const r = await launch({
      np,
      script: fixture("parity.js"),
      args: ["hold"],
      oversubscribe: true,
      handleSignals: false,
      timeoutMs: 30_000,
      ...extra,
      onOutput: ({ line }) => {
        if (!line.startsWith("PARITY ")) return;
        const { rank, pid } = JSON.parse(line.slice(7)) as Parity;
        const threads = readdirSync(`/proc/${pid}/task`).map((tid) => cpusAllowed(`/proc/${pid}/task/${tid}/status`));
        seen.set(rank, { main: cpusAllowed(`/proc/${pid}/status`), threads });
        process.kill(pid, "SIGUSR2");
      },
    });
    expect(r.exitCode, r.ranks.map((x) => x.stderr).join("\n")).toBe(0);
    return { r, seen, reported: parity(r.ranks.map((x) => x.stdout).join("\n")) };
  }

  it("--bind-to core: each rank on its own core, all its threads too, as ONECOPY_BINDING says; the launcher keeps its mask", async () => {
    const before = cpusAllowed("/proc/thread-self/status");
    const { r, seen, reported } = await pinned(2, { bindTo: "core" });
    expect(cpusAllowed("/proc/thread-self/status")).toBe(before);
    const allowed = allowedHere();
    for (let rank = 0; rank < 2; rank++) {
      const { main, threads } = seen.get(rank)!;
      const cpus = cpuList(main);
      expect(cpus.every((c) => allowed.includes(c))).toBe(true);
      expect(threads.length).toBeGreaterThan(1); // V8's and libuv's threads, not only the main thread
      expect(new Set(threads)).toEqual(new Set([main]));
      expect(r.ranks[rank]!.cpus).toEqual(cpus);
      expect(reported[rank]!.binding).toBe(`core:${main}`);
    }
    if (allowed.length >= 2) {
      const [a, b] = [cpuList(seen.get(0)!.main), cpuList(seen.get(1)!.main)];
      expect(a.some((c) => b.includes(c))).toBe(false); // different cores
    }
  });

  it("--map-by slot --bind-to hwthread: rank r on the r-th allowed CPU, alone", async () => {
    const allowed = allowedHere();
    const np = Math.min(2, allowed.length);
    const { seen } = await pinned(np, { bindTo: "hwthread", mapBy: "slot" });
    for (let rank = 0; rank < np; rank++) expect(seen.get(rank)!.main).toBe(String(allowed[rank]));
  });

  it("--map-by alone binds to cores; without --bind-to a rank may use every CPU the launcher may", async () => {
    const mapped = await pinned(1, { mapBy: "core" });
    expect(mapped.reported[0]!.binding).toMatch(/^core:/);
    const free = await pinned(1, {});
    expect(free.seen.get(0)!.main).toBe(cpusAllowed("/proc/self/status"));
    expect(free.reported[0]!.binding).toBeNull();
    expect(free.r.ranks[0]!.cpus).toBeUndefined();
  });

  it("the CLI flags, --report-bindings, and onecopy info inside a bound rank", async () => {
    const r = await runCli(["run", "-n", "2", "--bind-to", "core", "--map-by", "core", "--report-bindings", "parity.js", "report"]);
    expect(r.code, r.stderr).toBe(0);
    const reported = parity(r.stdout);
    for (let rank = 0; rank < 2; rank++) {
      expect(r.stderr).toContain(`onecopy: rank ${rank} (pid ${reported[rank]!.pid}) bound to core `);
      expect(reported[rank]!.binding).toBe(`core:${reported[rank]!.cpus}`);
    }
    const info = await runCli(["run", "-n", "1", "-bind-to", "core", CLI, "info"]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/bound by launcher: +core, CPUs \d+ \(ONECOPY_BINDING=core:\d+\)/);
  });
});

describe("-x, node options, --node-arg", () => {
  it("-x VAR exports the launcher's value, -x VAR=VALUE sets one", async () => {
    const r = await runCliWithInput(
      ["run", "-n", "2", "-x", "PARITY_A", "-x", "PARITY_B=set=here", "-x", "PARITY_UNSET", "parity.js", "report"],
      null,
      { env: { PARITY_A: "from launcher", PARITY_ENV: "PARITY_A,PARITY_B,PARITY_UNSET" } },
    );
    expect(r.code, r.stderr).toBe(0);
    for (const p of parity(r.stdout)) expect(p.env).toEqual({ PARITY_A: "from launcher", PARITY_B: "set=here", PARITY_UNSET: null });
  });

  it("onecopy run -n N node [node options] app.js [args] and app.ts; --node-arg", async () => {
    for (const script of ["parity.js", "parity-ts.ts"]) {
      const r = await runCli([
        "run", "-n", "2", "--node-arg=--stack-size=900", "node", "--require", "./parity-pre.cjs", "--max-old-space-size=200",
        script, "report", "a", "--b",
      ]);
      expect(r.code, r.stderr).toBe(0);
      const reps = parity(r.stdout);
      expect(reps).toHaveLength(2);
      for (const p of reps) {
        expect(p.lang).toBe(script.endsWith(".ts") ? "ts" : "js");
        expect(p.execArgv).toEqual(["--stack-size=900", "--require", "./parity-pre.cjs", "--max-old-space-size=200"]);
        expect(p.preloaded).toBe(true);
        expect(p.argv).toEqual(["a", "--b"]);
      }
    }
  });

  it("node with an explicit path, and node -e refused", async () => {
    const r = await runCli(["run", "-n", "1", process.execPath, "parity.js", "report"]);
    expect(r.code, r.stderr).toBe(0);
    expect(parity(r.stdout)).toHaveLength(1);
    const e = await runCli(["run", "-n", "1", "node", "-e", "1"]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/not a rank program/);
  });
});

describe("stdin goes to rank 0, as with mpirun", () => {
  it("every byte reaches rank 0; the others read nothing; --stdin all and none", async () => {
    const input = randomBytes(3 << 20); // more than a pipe holds: exercises backpressure
    const sha = createHash("sha256").update(input).digest("hex");
    const r = await runCliWithInput(["run", "-n", "2", "parity.js", "stdin"], input);
    expect(r.code, r.stderr).toBe(0);
    const [r0, r1] = parity(r.stdout);
    expect([r0!.stdinBytes, r0!.stdinSha256]).toEqual([input.length, sha]);
    expect(r1!.stdinBytes).toBe(0);

    const all = await runCliWithInput(["run", "-n", "2", "--stdin", "all", "parity.js", "stdin"], input.subarray(0, 70_000));
    expect(all.code, all.stderr).toBe(0);
    expect(parity(all.stdout).map((p) => p.stdinBytes)).toEqual([70_000, 70_000]);

    const none = await runCliWithInput(["run", "-n", "2", "--stdin=none", "parity.js", "stdin"], input.subarray(0, 1000));
    expect(none.code, none.stderr).toBe(0);
    expect(parity(none.stdout).map((p) => p.stdinBytes)).toEqual([0, 0]);

    const one = await runCliWithInput(["run", "-n", "2", "--stdin", "1", "parity.js", "stdin"], input.subarray(0, 10));
    expect(parity(one.stdout).map((p) => p.stdinBytes)).toEqual([0, 10]);
  });

  // A pseudo-terminal from util-linux `script`, and an interactive shell that puts the launcher in
  // the background: reading the terminal there would stop the launcher (SIGTTIN) for good.
  const haveScript = spawnSync("script", ["--version"]).status === 0;
  it.skipIf(!haveScript)("a launcher in the background of a terminal does not read it (and is not stopped)", () => {
    const job = `set -m; ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} run -n 1 parity.js stdin & wait; echo bg-rc=$?`;
    const r = spawnSync("script", ["-qc", `bash --norc -ic ${JSON.stringify(job).replace(/\$/g, "\\$")}`, "/dev/null"], {
      cwd: FIXTURES, encoding: "utf8", timeout: 20_000, stdio: ["ignore", "pipe", "pipe"],
    });
    const out = r.stdout.replace(/\r/g, "");
    expect(out, out + r.stderr).toContain("bg-rc=0");
    expect(parity(out)[0]!.stdinBytes).toBe(0);
  });

  it("launch({ input }) feeds rank 0", async () => {
    const r = await launch({ np: 2, script: fixture("parity.js"), args: ["stdin"], input: "héllo\n", handleSignals: false });
    expect(r.exitCode).toBe(0);
    expect(parity(r.ranks.map((x) => x.stdout).join("\n")).map((p) => p.stdinBytes)).toEqual([7, 0]);
  });
});

describe("--output-filename and --tag-format", () => {
  const expectedOut = (rank: number): string => `out ${rank} 0\nout ${rank} 1\nout ${rank} 2\ntail ${rank} without newline`;

  it("writes DIR/1/rank.R/stdout and stderr, byte for byte, and still forwards", async () => {
    const dir = tempDir();
    const r = await runCli(["run", "-n", "2", "--output-filename", join(dir, "logs"), "parity.js", "output"]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(dir, "logs", "1")).sort()).toEqual(["rank.0", "rank.1"]);
    for (const rank of [0, 1]) {
      expect(readFileSync(join(dir, "logs", "1", `rank.${rank}`, "stdout"), "utf8")).toBe(expectedOut(rank));
      expect(readFileSync(join(dir, "logs", "1", `rank.${rank}`, "stderr"), "utf8")).toBe(`err ${rank}\n`);
      expect(r.stdout).toContain(`out ${rank} 2\n`);
    }
  });

  it(":nocopy writes files only; :nojobid drops the job level; relative to the working directory", async () => {
    const dir = tempDir();
    const r = await runCli(["run", "-n", "2", "--tag-output", "--output-filename=out:nocopy,nojobid", join(FIXTURES, "parity.js"), "output"], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("");
    expect(existsSync(join(dir, "out", "1"))).toBe(false);
    for (const rank of [0, 1]) expect(readFileSync(join(dir, "out", `rank.${rank}`, "stdout"), "utf8")).toBe(expectedOut(rank));
  });

  it("a directory that cannot be created: exit 1, the reason, nothing started", async () => {
    const dir = tempDir();
    const r = await runCli(["run", "-n", "1", "--output-filename", join(FIXTURES, "parity.js", "sub"), join(FIXTURES, "parity.js"), "output"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^onecopy: .*(ENOTDIR|EEXIST)/);
    expect(r.stdout).toBe("");
  });

  it("--tag-format ompi prefixes like Open MPI's --tag-output: [1,R]<stdout>: and <stderr>:", async () => {
    const r = await runCli(["run", "-n", "2", "--tag-format", "ompi", "parity.js", "output"]);
    expect(r.code, r.stderr).toBe(0);
    for (const rank of [0, 1]) {
      expect(r.stdout).toContain(`[1,${rank}]<stdout>:out ${rank} 1\n`);
      expect(r.stdout).toContain(`[1,${rank}]<stdout>:tail ${rank} without newline\n`);
      expect(r.stderr).toContain(`[1,${rank}]<stderr>:err ${rank}\n`);
    }
    const plain = await runCli(["run", "-n", "1", "--tag-output", "parity.js", "output"]);
    expect(plain.stdout.split("\n")[0]).toBe("[0] out 0 0");
  });
});

describe("--help", () => {
  it("is grouped, shows examples and every mpirun option", async () => {
    const r = await runCli(["run", "--help"]);
    expect(r.code).toBe(0);
    for (const heading of ["Job:", "Placement:", "Environment and Node:", "Input and output:", "Transfers:", "Examples:"]) {
      expect(r.stdout).toMatch(new RegExp(`^${heading}$`, "m"));
    }
    for (const word of ["--oversubscribe", "--bind-to", "--map-by", "--report-bindings", "-x <VAR>", "--node-arg", "--stdin", "--tag-format", "--output-filename", "node [node options]"]) {
      expect(r.stdout).toContain(word);
    }
    expect(r.stdout).toMatch(/^ {2}onecopy run -n 2 node /m);
  });
});
