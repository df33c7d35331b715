// waitAll over requests without a promise per request (issue #10's message-rate path): the same
// results, order, failure and observed-ness as before.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

describe("waitAll", () => {
  it("gives values in order, rejects with the first failure only after all settled, and counts failures as observed", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "wait-all.ts"), { np: 2, timeoutMs: 45_000 });
    const why = explain(r);
    expect(r.exitCode, why).toBe(0);
    expect(r.results[0]![0], why).toEqual({ rank: 0, sent: 64, inOrder: true, failure: "ERR_CANCELLED", settledFirst: true });
    expect(r.results[1]![0], why).toEqual({ rank: 1, sent: 64, inOrder: true, failure: "none", settledFirst: false });
    for (const rk of r.ranks) expect(rk.stderr, why).not.toContain("never awaited");
  });
});
