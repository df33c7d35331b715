// Issue #12 part 5: the hang report. Real jobs through the `onecopy` binary: deliberate
// deadlocks are detected with --hang-report 1 and reported with their cycle (and ended, exit
// code 125, with --hang-exit); ranks that compute or sleep are not hangs; SIGUSR1 prints the
// report at any time.
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, startCli, waitFor } from "../../packages/onecopy/test/launcher/helpers.js";
import { fixture } from "../kit/job.js";

afterEach(cleanup);

const HANG = fixture(import.meta.url, "hang.ts");
const run = (np: number, flags: string[], ...args: string[]) => startCli(["run", "-n", String(np), "--oversubscribe", "--timeout", "40", ...flags, HANG, ...args]);

describe("hang report", () => {
  it("2 ranks both receiving first: detected, reported with its cycle, exit 125", { timeout: 60_000 }, async () => {
    const t0 = Date.now();
    const r = await run(2, ["--hang-report", "1", "--hang-exit"], "pair").done;
    expect(r.code, r.stderr).toBe(125);
    expect(r.stderr).toContain("onecopy: hang report: every live rank has been blocked for 1 s");
    expect(r.stderr).toMatch(/rank 0: recv\(source 1, tag 5\) \d+\.\d s ← rank 1: recv\(source 0, tag 5\) \d+\.\d s — deadlock: 0 → 1 → 0/);
    expect(r.stderr).toContain("the job hung");
    expect(r.stderr.match(/onecopy: hang report:/g)).toHaveLength(1); // once
    expect(Date.now() - t0).toBeLessThan(35_000); // well before --timeout 40
  });

  it("awaited requests are named by their labels (built only when the launcher asks)", { timeout: 60_000 }, async () => {
    const r = await run(2, ["--hang-report", "1", "--hang-exit"], "awaited").done;
    expect(r.code, r.stderr).toBe(125);
    expect(r.stderr).toMatch(/rank 0: await irecv from rank 1, tag 6 \d+\.\d s/);
    expect(r.stderr).toMatch(/await irecv from rank 1, tag 7 \d+\.\d s/); // waitAll lists each pending request
    expect(r.stderr).toMatch(/rank 1: await irecv from rank 0, tag 6 \d+\.\d s/);
    expect(r.stderr).not.toMatch(/await i(send|recv)[^\n]*tag 4/); // the requests that completed left no record
  });

  it("a 3-rank ring of receives: cycle 0 → 1 → 2 → 0", { timeout: 60_000 }, async () => {
    const r = await run(3, ["--hang-report", "1", "--hang-exit"], "ring").done;
    expect(r.code, r.stderr).toBe(125);
    expect(r.stderr).toContain("wait-for graph: 0 → 1; 1 → 2; 2 → 0");
    expect(r.stderr).toContain("— deadlock: 0 → 1 → 2 → 0");
  });

  it("collectives called in different orders: who is in which, and the cycle", { timeout: 60_000 }, async () => {
    const r = await run(3, ["--hang-report", "1", "--hang-exit"], "collective").done;
    expect(r.code, r.stderr).toBe(125);
    expect(r.stderr).toContain("collectives out of step: rank 0 is in bcast #1 on comm w.1; ranks 1,2 are in allreduce #1");
    expect(r.stderr).toContain("wait-for graph: 0 → 1,2; 1 → 0; 2 → 0");
    expect(r.stderr).toContain("— deadlock: 0 → 1 → 0");
  });

  it("a rank computing synchronously or awaiting a timer is no hang", { timeout: 60_000 }, async () => {
    for (const scenario of ["compute", "sleep"]) {
      const r = await run(2, ["--hang-report", "1", "--hang-exit"], scenario, "3500").done;
      expect(r.code, `${scenario}: ${r.stderr}`).toBe(0);
      expect(r.stderr, scenario).not.toContain("hang report");
      expect(r.stdout.match(/"done":true/g), scenario).toHaveLength(2);
    }
  });

  it("SIGUSR1 prints the current report: a deadlock with detection off, and a healthy job", { timeout: 60_000 }, async () => {
    const stuck = run(2, ["--hang-report", "0"], "pair");
    expect(await waitFor(() => (stuck.output().stdout.match(/READY/g) ?? []).length === 2, 20_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // let both ranks post their receives
    stuck.child.kill("SIGUSR1");
    expect(await waitFor(() => stuck.output().stderr.includes("deadlock: 0 → 1 → 0"), 10_000), stuck.output().stderr).toBe(true);
    expect(stuck.output().stderr).toContain("onecopy: hang report: on SIGUSR1");
    stuck.child.kill("SIGTERM");
    expect((await stuck.done).code).toBe(143);

    const healthy = run(2, [], "healthy", "3000");
    expect(await waitFor(() => (healthy.output().stdout.match(/READY/g) ?? []).length === 2, 20_000)).toBe(true);
    healthy.child.kill("SIGUSR1");
    const r = await healthy.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("onecopy: hang report: on SIGUSR1");
    expect(r.stderr).not.toContain("deadlock");
    expect(r.stdout.match(/"done":true/g)).toHaveLength(2);
  });
});
