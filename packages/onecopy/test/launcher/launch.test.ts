// launch() with real rank processes: the env contract, exit statuses, failure teardown,
// timeouts, orphans, output handling and job directory cleanup.
import { afterEach, describe, expect, it } from "vitest";
import { launch, TIMEOUT_EXIT_CODE, type LaunchResult, type OutputLine } from "../../src/launcher/index.js";
import { cleanup, exists, fixture, readRecords, tempDir, track, waitGone } from "./helpers.js";

afterEach(cleanup);

const FAST = { failGraceMs: 300, killGraceMs: 500 } as const;

interface EnvReport {
  lang: string;
  rank: string;
  size: string;
  jobDir: string;
  token: string;
  cma?: string;
  eagerLimit?: string;
  transport?: string;
  launcherPid: string;
  custom?: string;
  jobDirMode: number;
  pid: number;
  ppid: number;
  cwd: string;
  argv: string[];
  fd3Socket: boolean;
}

function reports(r: LaunchResult): EnvReport[] {
  for (const x of r.ranks) track(x.pid);
  return r.ranks.map((x) => JSON.parse(x.stdout) as EnvReport);
}

describe("env contract", () => {
  it("gives every rank its rank, the size, one private job dir and one token (.js)", async () => {
    const r = await launch({ np: 3, script: fixture("env.js"), args: ["a", "--b", "c d"] });
    expect(r.ok).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(r.timedOut).toBe(false);
    expect(r.failedRank).toBeUndefined();
    const reps = reports(r);
    expect(reps.map((x) => x.rank)).toEqual(["0", "1", "2"]);
    expect(r.ranks.map((x) => x.rank)).toEqual([0, 1, 2]);
    for (const [i, rep] of reps.entries()) {
      expect(rep.lang).toBe("js");
      expect(rep.size).toBe("3");
      expect(rep.jobDir).toBe(r.jobDir);
      expect(rep.jobDirMode).toBe(0o700);
      expect(rep.token).toMatch(/^[0-9a-f]{32}$/);
      expect(rep.token).toBe(reps[0].token);
      expect(rep.launcherPid).toBe(String(process.pid));
      expect(rep.ppid).toBe(process.pid);
      expect(rep.pid).toBe(r.ranks[i].pid);
      expect(rep.fd3Socket).toBe(true);
      expect(rep.cma).toBe("1");
      expect(rep.transport).toBeUndefined();
      expect(rep.argv).toEqual(["a", "--b", "c d"]);
    }
    expect(new Set(reps.map((x) => x.pid)).size).toBe(3);
    expect(r.jobDir).toMatch(/\/onecopy-[^/]+$/);
    expect(exists(r.jobDir)).toBe(false);
    expect(r.durationMs).toBeGreaterThan(0);
  });

  it("runs .ts entry points through tsx, from any cwd, with distinct job dirs and tokens per job", async () => {
    const cwd = tempDir();
    const [a, b] = await Promise.all([
      launch({ np: 2, script: fixture("env.ts"), cwd }),
      launch({ np: 1, script: fixture("env.js"), cwd }),
    ]);
    expect(a.exitCode).toBe(0);
    expect(b.exitCode).toBe(0);
    const ra = reports(a);
    const rb = reports(b);
    expect(ra.map((x) => x.lang)).toEqual(["ts", "ts"]);
    expect(ra[0].cwd).toBe(cwd);
    expect(a.jobDir).not.toBe(b.jobDir);
    expect(ra[0].token).not.toBe(rb[0].token);
    expect(exists(a.jobDir) || exists(b.jobDir)).toBe(false);
  });

  it("passes --no-cma, eager limit, transport and extra env; per-rank variables cannot be overridden", async () => {
    const r = await launch({
      np: 2,
      script: fixture("env.js"),
      noCma: true,
      eagerLimit: "64KiB",
      transport: "socket",
      env: { FIXTURE_CUSTOM: "x=y", ONECOPY_RANK: "7", ONECOPY_SIZE: "99" },
    });
    for (const [i, rep] of reports(r).entries()) {
      expect(rep.cma).toBe("0");
      expect(rep.eagerLimit).toBe("65536");
      expect(rep.transport).toBe("socket");
      expect(rep.custom).toBe("x=y");
      expect(rep.rank).toBe(String(i));
      expect(rep.size).toBe("2");
    }
  });

  it("resolves a relative script against cwd", async () => {
    const r = await launch({ np: 1, script: "env.js", cwd: fixture(".") });
    expect(r.exitCode).toBe(0);
    expect(reports(r)[0].rank).toBe("0");
  });
});

describe("exit status", () => {
  it("one rank exiting 3 stops the sleeping others; exit code 3, message names the rank", async () => {
    const dir = tempDir();
    const t0 = Date.now();
    const r = await launch({ np: 3, script: fixture("rank.js"), args: ["1=exit:3", "*=sleep"], env: { FIXTURE_DIR: dir }, ...FAST });
    expect(r.ok).toBe(false);
    expect(r.exitCode).toBe(3);
    expect(r.failedRank).toBe(1);
    expect(r.message).toBe("onecopy: rank 1 exited with code 3");
    expect(r.ranks[1]).toMatchObject({ code: 3, signal: null });
    expect(r.ranks[1].stderr).toContain("rank 1 exiting with 3");
    expect(r.ranks[0].signal).toBe("SIGTERM");
    expect(r.ranks[2].signal).toBe("SIGTERM");
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(exists(r.jobDir)).toBe(false);
    const pids = [...readRecords(dir).values()].map((x) => x.pid);
    expect(pids).toHaveLength(3);
    expect(await waitGone(pids)).toEqual([]);
  });

  it("reports a rank killed by SIGKILL as a signal death, exit code 137", async () => {
    const r = await launch({ np: 2, script: fixture("rank.js"), args: ["0=selfkill:SIGKILL", "*=sleep"], ...FAST });
    expect(r.exitCode).toBe(128 + 9);
    expect(r.failedRank).toBe(0);
    expect(r.ranks[0]).toMatchObject({ code: null, signal: "SIGKILL" });
    expect(r.message).toBe("onecopy: rank 0 was killed by signal SIGKILL");
    expect(exists(r.jobDir)).toBe(false);
  });

  it("escalates to SIGKILL for ranks that ignore SIGTERM", async () => {
    const r = await launch({ np: 2, script: fixture("rank.js"), args: ["0=exit:5", "*=ignore-term"], failGraceMs: 100, killGraceMs: 300 });
    expect(r.exitCode).toBe(5);
    expect(r.ranks[1].signal).toBe("SIGKILL");
    expect(r.ranks[1].stdout).toContain("rank 1 ignores SIGTERM");
  });

  it("all ranks exiting 0 -> exit code 0 even when they finish at different times", async () => {
    const r = await launch({ np: 4, script: fixture("rank.js"), args: ["2=exit:0", "*=ok"] });
    expect(r).toMatchObject({ ok: true, exitCode: 0 });
    expect(r.ranks.map((x) => x.code)).toEqual([0, 0, 0, 0]);
    expect(r.ranks[3].stdout).toBe("hello from 3\n");
  });
});

describe("timeout and orphans", () => {
  it("kills a hung job after timeoutMs and says so", async () => {
    const dir = tempDir();
    const r = await launch({ np: 2, script: fixture("rank.js"), args: ["*=sleep"], timeoutMs: 700, env: { FIXTURE_DIR: dir }, ...FAST });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBe(TIMEOUT_EXIT_CODE);
    expect(r.message).toBe("onecopy: job timed out after 0.7 s");
    expect(r.failedRank).toBeUndefined();
    expect(r.ranks.every((x) => x.signal === "SIGTERM")).toBe(true);
    expect(r.durationMs).toBeGreaterThanOrEqual(650);
    expect(r.durationMs).toBeLessThan(5000);
    expect(exists(r.jobDir)).toBe(false);
  });

  it("leaves no orphans: grandchildren die with a failed job and with a rank that exits", async () => {
    const dir = tempDir();
    const r = await launch({
      np: 3,
      script: fixture("rank.js"),
      args: ["0=grandchild-exit:4", "*=grandchild"],
      env: { FIXTURE_DIR: dir },
      ...FAST,
    });
    expect(r.exitCode).toBe(4);
    const recs = [...readRecords(dir).values()];
    expect(recs).toHaveLength(3);
    const grandchildren = recs.map((x) => x.grandchild!);
    expect(grandchildren.every((p) => typeof p === "number" && p > 0)).toBe(true);
    expect(await waitGone([...grandchildren, ...recs.map((x) => x.pid)])).toEqual([]);
    expect(exists(r.jobDir)).toBe(false);
  });

  it("leaves no orphans on timeout either", async () => {
    const dir = tempDir();
    const r = await launch({ np: 2, script: fixture("rank.js"), args: ["*=grandchild"], timeoutMs: 800, env: { FIXTURE_DIR: dir }, ...FAST });
    expect(r.timedOut).toBe(true);
    const recs = [...readRecords(dir).values()];
    expect(recs).toHaveLength(2);
    expect(await waitGone(recs.flatMap((x) => [x.pid, x.grandchild!]))).toEqual([]);
  });
});

describe("output", () => {
  it("collects output, calls onOutput per line and never splits lines under concurrency", async () => {
    const lines: OutputLine[] = [];
    const r = await launch({ np: 4, script: fixture("rank.js"), args: ["*=lines:300"], onOutput: (l) => lines.push(l) });
    expect(r.exitCode).toBe(0);
    for (const rank of [0, 1, 2, 3]) {
      const mine = lines.filter((l) => l.rank === rank);
      expect(mine).toHaveLength(300);
      mine.forEach((l, i) => {
        expect(l.stream).toBe("stdout");
        expect(l.line).toBe(`rank ${rank} line ${i} ${"x".repeat(40)}`);
      });
      expect(r.ranks[rank].stdout.split("\n")).toHaveLength(301);
    }
  });

  it("flushes a final line without newline", async () => {
    const lines: OutputLine[] = [];
    const r = await launch({ np: 1, script: fixture("rank.js"), args: ["*=partial"], onOutput: (l) => lines.push(l) });
    expect(r.ranks[0].stdout).toBe("partial line");
    expect(lines).toEqual([{ rank: 0, stream: "stdout", line: "partial line" }]);
  });

  it("can skip collecting output", async () => {
    const r = await launch({ np: 2, script: fixture("rank.js"), collectOutput: false });
    expect(r.exitCode).toBe(0);
    expect(r.ranks.map((x) => x.stdout)).toEqual(["", ""]);
  });
});

describe("scale", () => {
  it("starts 64 ranks concurrently", async () => {
    const r = await launch({ np: 64, script: fixture("env.js") });
    expect(r.exitCode).toBe(0);
    const reps = reports(r);
    expect(reps.map((x) => Number(x.rank))).toEqual([...Array(64).keys()]);
    expect(new Set(reps.map((x) => x.pid)).size).toBe(64);
    expect(exists(r.jobDir)).toBe(false);
  }, 60_000);
});

describe("validation", () => {
  it.each([
    [{ np: 0 }, /np must be an integer from 1 to 1024/],
    [{ np: 1.5 }, /np/],
    [{ np: 1025 }, /np/],
    [{ np: "2" }, /np must be a number/],
    [{ np: 2, script: "" }, /script/],
    [{ np: 2, eagerLimit: "lots" }, /eagerLimit/],
    [{ np: 2, eagerLimit: -1 }, /eagerLimit/],
    [{ np: 2, transport: "tcp" }, /transport must be one of cma, shm, socket/],
    [{ np: 2, timeoutMs: 0 }, /timeoutMs/],
    [{ np: 2, failGraceMs: -1 }, /failGraceMs/],
    [{ np: 2, env: { "BAD-NAME": "1" } }, /BAD-NAME/],
  ])("rejects %o with ERR_INVALID_ARG", async (opts, msg) => {
    const p = launch({ script: fixture("env.js"), ...(opts as object) } as never);
    await expect(p).rejects.toMatchObject({ code: "ERR_INVALID_ARG" });
    await expect(p).rejects.toThrow(msg);
  });

  it("rejects a missing script with ENOENT before starting anything", async () => {
    await expect(launch({ np: 2, script: fixture("nope.js") })).rejects.toMatchObject({ code: "ENOENT" });
  });
});
