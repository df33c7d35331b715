// Issue #12, part 3: liveness. A departed rank makes iprobe/probe naming it fail; init() twice
// is one world; "peerlost" events; un-awaited failures are listed at exit; comm.abort(code)
// ends the job at once with that code.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

describe("liveness", () => {
  it("iprobe/probe of departed ranks, init twice, peerlost, the exit warning", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "liveness.ts"), { np: 3, failGraceMs: 30_000, timeoutMs: 45_000 });
    const why = explain(r);
    const res = r.results[0]![0] as Record<string, unknown> | undefined;
    expect(res, why).toBeDefined();
    expect(res, why).toEqual({
      rank: 0,
      same: true,
      left: "ERR_PEER_LOST",
      probeLeft: "ERR_PEER_LOST",
      events: [[2, "ERR_PEER_LOST"]],
      lost: "ERR_PEER_LOST",
      probeLost: "ERR_PEER_LOST",
      anyLost: "ERR_PEER_LOST",
    });
    expect(r.ranks[0]!.code, why).toBe(0);
    expect(r.ranks[1]!.code, why).toBe(0);
    expect(r.ranks[0]!.stderr, why).toMatch(/1 operation failed and was never awaited[^\n]*\n\s+irecv from rank 2, tag 9: ERR_PEER_LOST/);
  });

  it("comm.abort(7) stops every rank at once; the launcher exits 7 and names the rank", { timeout: 60_000 }, async () => {
    const t0 = Date.now();
    const r = await runJob(fixture(import.meta.url, "abort.ts"), { np: 3, failGraceMs: 30_000, timeoutMs: 45_000 });
    const why = explain(r);
    expect({ exitCode: r.exitCode, failedRank: r.failedRank }, why).toEqual({ exitCode: 7, failedRank: 1 });
    expect(r.message, why).toMatch(/rank 1 called abort\(7\)/);
    // Long before the 30 s grace a failure would otherwise give the other ranks.
    expect(Date.now() - t0, why).toBeLessThan(20_000);
  });
});

describe("exiting without closing the world", () => {
  it("fails the job and names the rank that exited 0 without close() while others still ran", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "exit-unclosed.ts"), { np: 2, failGraceMs: 10_000, timeoutMs: 45_000 });
    const why = explain(r);
    expect(r.results[0]![0], why).toEqual({ got: "ERR_PEER_LOST" });
    expect({ exitCode: r.exitCode, failedRank: r.failedRank }, why).toEqual({ exitCode: 1, failedRank: 1 });
    expect(r.message, why).toMatch(/rank 1 exited with code 0 without closing its world/);
    // What the launcher read from that rank's lifeline: init() started ("S") and joined ("J"), no "C".
    expect(r.message, why).toMatch(/Its lifeline said "SJ"$/);
  });

  it("lets a rank that closed, then exited, go: the job succeeds", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "exit-unclosed.ts"), { np: 2, env: { FIXTURE_CLOSE: "1" }, timeoutMs: 45_000 });
    const why = explain(r);
    expect(r.results[0]![0], why).toEqual({ got: "ERR_PEER_LOST" });
    expect(r.exitCode, why).toBe(0);
  });
});
