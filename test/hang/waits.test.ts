// Issue #12, part 1 and 2: every blocking call takes { signal, timeout }; a receive that gave up
// is withdrawn (its message goes to the next receive), a send that gave up goes on, a collective
// that gave up breaks its communicator's collectives (ERR_COMM_BROKEN) but not point-to-point;
// req.cancel() withdraws an unmatched receive.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

type F = { code: string | null; name: string; cause?: unknown; ms: number };

describe("bounded waits and cancel", () => {
  it("time out, abort and cancel without losing a message", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "waits.ts"), { np: 2, timeoutMs: 45_000 });
    const why = explain(r);
    expect(r.ok, why).toBe(true);
    const a = r.results[0]![0] as Record<string, any>;
    const b = r.results[1]![0] as Record<string, any>;
    const timedOut = (f: F, least: number) => {
      expect(f, why).toMatchObject({ code: "ERR_TIMEOUT", name: "OnecopyError" });
      expect(f.ms, why).toBeGreaterThanOrEqual(least - 20);
      expect(f.ms, why).toBeLessThan(10_000);
    };
    timedOut(b.recvTimeout, 300);
    expect(b.recvAbort, why).toMatchObject({ code: "ABORT_ERR", name: "AbortError", cause: "stop" });
    expect(b.preAborted, why).toMatchObject({ code: "ABORT_ERR", name: "AbortError", cause: "early" });
    timedOut(b.waitTimeout, 200);
    expect(b.reqAfter.done, why).toBe(true);
    expect(b.reqAfter.code, why).toMatchObject({ code: "ERR_TIMEOUT" });
    for (const k of ["probeTimeout", "bigTimeout", "objTimeout", "sendrecvTimeout", "sendTimeout", "ssendTimeout"]) timedOut(b[k], 200);
    expect(b.badTimeout, why).toMatchObject({ code: "ERR_INVALID_ARG" });
    expect(b.cancelBefore, why).toMatchObject({ cancelled: true, again: false, outcome: { code: "ERR_CANCELLED" } });
    // Every message the withdrawn receives would have matched went to the later receives.
    expect(b.later, why).toEqual({ probed: 8, small: 8, smallSum: a.sent.small, big: 1 << 20, bigSum: a.sent.big, obj: { hello: [1, 2, 3] }, tag6: 4 });
    expect(a.sendrecvSendArrived, why).toBe(4);
    expect(b.cancelAfter, why).toEqual({ cancelled: false, done: true });
    expect(b.cancelSend, why).toBe(false);
    // Sends that gave up still delivered their bytes.
    expect(a.late.bigSum, why).toBe(a.late.expectBig);
    expect(a.late.smallSum, why).toBe(a.late.expectSmall);
    // A collective that gave up breaks that communicator's collectives, not its point-to-point.
    timedOut(b.collTimeout, 300);
    expect(b.collAfter, why).toMatchObject({ code: "ERR_COMM_BROKEN" });
    expect(b.collAfter.ms, why).toBeLessThan(3000);
    expect(b.objAfter, why).toMatchObject({ code: "ERR_COMM_BROKEN" });
    expect(b.collAbort, why).toMatchObject({ code: "ABORT_ERR", name: "AbortError", cause: "enough" });
    expect(b.p2pOnBroken, why).toEqual([4, 3, 2, 1]);
    expect(a.p2pEcho, why).toEqual([4, 3, 2, 1]);
  });
});
