// How a job ends, as seen from its ranks and their children: nothing outlives a SIGKILLed
// launcher (not even a rank stuck in a synchronous loop, nor what it started), a rank that
// leaves before joining fails the job at once and is named, and lingering children of a job
// that ended normally are killed.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { launch } from "../../src/launcher/index.js";
import { cleanup, exists, fixture, readRecords, startCli, tempDir, track, waitFor, waitGone } from "./helpers.js";

afterEach(cleanup);

/** How long the kernel and the job guardian may take to clear a job whose launcher was SIGKILLed. */
// Generous: the full suite keeps both cores busy, and a loaded guardian notices late (2 s failed once).
const GONE_WITHIN_MS = 5000;

/** Pids of the job guardians (guardian.ts) of the job in `jobDir`: it is on their command line. */
function guardiansOf(jobDir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      if (argv.includes("onecopy-guardian") && argv.includes(jobDir)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe("a SIGKILLed launcher takes the whole job with it", () => {
  it.each([
    ["a rank spinning in a synchronous loop after init()", "init-busy", false],
    ["a rank spinning in a synchronous loop that never calls init()", "busy", false],
    ["a busy rank and the child it started", "init-busy:child", true],
    ["an idle rank and the child it started", "init-idle:child", true],
  ])("%s", async (_what, action, hasChild) => {
    const dir = tempDir();
    const cli = startCli(["run", "-n", "2", "lifecycle.js", `*=${action}`], { env: { FIXTURE_DIR: dir } });
    expect(await waitFor(() => readRecords(dir).size === 2, 20_000)).toBe(true);
    const recs = [...readRecords(dir).values()];
    const pids = recs.flatMap((x) => (x.grandchild ? [x.pid, x.grandchild] : [x.pid]));
    expect(pids).toHaveLength(hasChild ? 4 : 2);
    expect(exists(recs[0].jobDir)).toBe(true);

    cli.child.kill("SIGKILL");
    const r = await cli.done;
    expect(r.signal).toBe("SIGKILL");
    // measured from the launcher's death, not from the test's start: a loaded machine is fine
    expect(await waitGone(pids, GONE_WITHIN_MS)).toEqual([]);
    expect(await waitFor(() => !exists(recs[0].jobDir), GONE_WITHIN_MS)).toBe(true);
    expect(await waitFor(() => guardiansOf(recs[0].jobDir).length === 0, GONE_WITHIN_MS)).toBe(true);
  }, 40_000);

  it("the kernel kills a busy rank even when the job guardian is gone too (parent-death signal)", async () => {
    const dir = tempDir();
    const cli = startCli(["run", "-n", "2", "lifecycle.js", "*=busy"], { env: { FIXTURE_DIR: dir } });
    expect(await waitFor(() => readRecords(dir).size === 2, 20_000)).toBe(true);
    const recs = [...readRecords(dir).values()];
    const guardians = guardiansOf(recs[0].jobDir);
    expect(guardians).toHaveLength(1);
    process.kill(guardians[0], "SIGKILL");
    expect(await waitGone(guardians)).toEqual([]);

    cli.child.kill("SIGKILL");
    await cli.done;
    expect(await waitGone(recs.map((x) => x.pid), GONE_WITHIN_MS)).toEqual([]);
  }, 40_000);
});

describe("watchLauncher() without a parent-death signal", () => {
  it("takes the rank's process group with it when the lifeline closes", async () => {
    // Not started by the launcher: this test holds the lifeline (fd 3), as a launcher would.
    const proc = spawn(process.execPath, [fixture("watch-group.js")], {
      stdio: ["ignore", "pipe", "inherit", "pipe"],
      detached: true,
      env: { ...process.env, ONECOPY_LAUNCHER_PID: String(process.pid), ONECOPY_RANK: "0" },
    });
    track(proc.pid);
    const line = await new Promise<string>((resolve) => proc.stdout!.setEncoding("utf8").once("data", resolve));
    const { pid, grandchild } = JSON.parse(line) as { pid: number; grandchild: number };
    track(grandchild);
    expect(pid).toBe(proc.pid);
    (proc.stdio[3] as Readable).destroy(); // the "launcher" is gone
    expect(await waitGone([pid, grandchild], GONE_WITHIN_MS)).toEqual([]);
  });
});

describe("a rank that leaves before joining", () => {
  it.each([
    ["exits at once, before rank 0 has started init()", "1=exit0", /\(it never called init\(\)\)$/],
    ["exits while rank 0 waits in init()", "1=exit0:1500", /\(it never called init\(\)\)$/],
    ["calls init() and exits before it finishes", "1=init-quit", /\(it called init\(\) but exited before init\(\) finished\)$/],
  ])("fails the job within seconds and is named when it %s", async (_what, spec, why) => {
    const t0 = Date.now();
    const r = await launch({
      np: 2,
      script: fixture("lifecycle.js"),
      args: [spec, "0=init-wait"],
      timeoutMs: 20_000,
      failGraceMs: 300,
      killGraceMs: 500,
    });
    for (const x of r.ranks) track(x.pid);
    expect(r.timedOut).toBe(false);
    expect(r.ok).toBe(false);
    expect(r.exitCode).toBe(1);
    expect(r.failedRank).toBe(1);
    expect(r.message).toMatch(/^onecopy: rank 1 exited with code 0 before joining the job /);
    expect(r.message).toMatch(why);
    expect(r.ranks[1]).toMatchObject({ code: 0, signal: null });
    expect(r.ranks[0].signal).toBe("SIGTERM"); // it was still waiting for rank 1
    expect(Date.now() - t0).toBeLessThan(10_000); // the start-up timeout alone is 60 s
    expect(exists(r.jobDir)).toBe(false);
  }, 40_000);

  it("is fine in a job of plain scripts that never call init(), whatever the order of exits", async () => {
    const r = await launch({ np: 3, script: fixture("lifecycle.js"), args: ["0=exit0", "1=exit0:800", "2=exit0:400"] });
    expect(r.message).toBeUndefined();
    expect(r).toMatchObject({ ok: true, exitCode: 0 });
    expect(r.ranks.map((x) => x.code)).toEqual([0, 0, 0]);
  });
});

describe("a job that ends normally", () => {
  it("kills the children its ranks left behind", async () => {
    const dir = tempDir();
    const r = await launch({ np: 2, script: fixture("lifecycle.js"), args: ["*=linger"], env: { FIXTURE_DIR: dir } });
    expect(r).toMatchObject({ ok: true, exitCode: 0 });
    const recs = [...readRecords(dir).values()];
    expect(recs).toHaveLength(2);
    expect(await waitGone(recs.map((x) => x.grandchild!))).toEqual([]);
  });
});
