// Reliability defects found by fault injection (issue #17): close() with queued sends, the
// unexpected-message queue at scale, receives whose message cannot be allocated, buffers
// kept alive by the runtime, and the fallback warning naming the path really taken.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

const script = (name: string) => fixture(import.meta.url, name);

describe("close()", () => {
  it("delivers every queued eager send before leaving, even to a busy receiver", async () => {
    const r = await runJob(script("close-flush.ts"), { np: 2 });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a, b] = r.results.map((x) => x[0] as Record<string, any>);
    expect(b, explain(r)).toEqual({ rank: 1, got: 4096, bad: 0, error: "none" });
    expect(a).toMatchObject({ rank: 0, ok: 4096, pending: 0, errors: {} });
  });

  it("fails a send nobody receives with ERR_PEER_LOST once the peer leaves, warning while it waits", async () => {
    const r = await runJob(script("close-unmatched.ts"), { np: 2, env: { ONECOPY_CLOSE_WARN_MS: "300" } });
    expect(r.exitCode, explain(r)).toBe(0);
    const a = r.results[0]![0] as Record<string, any>;
    expect(a, explain(r)).toMatchObject({ rank: 0, done: true, code: "ERR_PEER_LOST" });
    // It waited for rank 1 (1.5 s), and said what for.
    expect(a.closeMs).toBeGreaterThan(700);
    expect(r.ranks[0]!.stderr).toMatch(/close\(\) is waiting for 1 send .*rank 1/);
  });
});

describe("unexpected messages at scale", () => {
  it("drains a queue of 200 000 in linear time, in order", async () => {
    // 4x the messages: linear is ~4x the time; quadratic is ~16x (measured before the fix:
    // 1.2 s, 17.5 s, 1.7 s; after it, quiet: 116, 259, 73 ms). Under the full suite's load the
    // big phase's GC and CPU contention once gave 149, 954, 81 ms, so the bound is against the
    // mean of the small phases, and a run that misses it is repeated once: a quadratic drain
    // misses it every time, a loaded machine rarely twice.
    const runs: number[][] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await runJob(script("unexpected-scale.ts"), { np: 2 });
      expect(r.exitCode, explain(r)).toBe(0);
      const a = r.results[0]![0] as { ms: number[]; ordered: boolean };
      expect(a.ordered).toBe(true);
      runs.push(a.ms);
      const [first, big, last] = a.ms as [number, number, number];
      if (big < 6 * ((first + last) / 2) + 300) return;
    }
    expect.fail(`the 200 000-message phase was not linear in two runs (ms per phase: ${JSON.stringify(runs)})`);
  });

  it("keeps MPI order with wildcards through deep unexpected and posted queues", async () => {
    const r = await runJob(script("unexpected-order.ts"), { np: 3 });
    expect(r.exitCode, explain(r)).toBe(0);
    const [p1, p2] = r.results[0] as Array<Record<string, any>>;
    expect(p1).toEqual({ part: 1, received: 6000, violations: 0, first: [], leftover: 0 });
    expect(p2).toEqual({ part: 2, violations: 0 });
  });

  it("counts the per-message cost of tiny messages against the unexpected cap", async () => {
    const r = await runJob(script("unexpected-cap.ts"), { np: 2 });
    expect(r.exitCode, explain(r)).toBe(0);
    // 200 000 x 8 B is 1.6 MB of payload, under the 4 MiB cap; with its real per-message cost
    // the queue is full long before the marker sent after them arrives.
    expect(r.results[0]![0], explain(r)).toEqual({ rank: 0, ok: true, markerArrived: false, paused: true });
  });
});

describe("messages whose size cannot be allocated", () => {
  it("fail the receive with ERR_NO_MEMORY, release the sender and keep the connection", async () => {
    const r = await runJob(script("bad-size.ts"), { np: 4, timeoutMs: 60_000 });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a, b] = r.results.map((x) => x[0] as Record<string, any>);
    expect(a, explain(r)).toEqual({
      rank: 0,
      rtsPosted: "ERR_NO_MEMORY",
      afterRts: "none",
      rtsUnexpected: "ERR_NO_MEMORY",
      blob: "ERR_NO_MEMORY",
      roundTrip: "none",
      eagerPosted: "ERR_NO_MEMORY",
      probed: 2 ** 52,
      eagerUnexpected: "ERR_NO_MEMORY",
    });
    expect(b).toEqual({ rank: 1, sends: { rts7: "none", rts8: "none", blob: "none" }, echo: true });
  });
});

describe("buffer references", () => {
  it("drops a large buffer once a send or receive of tiny pieces of it completes", async () => {
    const r = await runJob(script("piece-lifetime.ts"), { np: 2 });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.results[0]![0]).toEqual({ rank: 0, afterSend: true, afterRecv: true, control: true });
  });
});

describe("run-time CMA failure", () => {
  it("warns naming the shared-memory path that carried the message", async () => {
    const r = await runJob(script("efault-warning.ts"), { np: 2 });
    expect(r.exitCode, explain(r)).toBe(0);
    const a = r.results[0]![0] as Record<string, any>;
    expect(a).toMatchObject({ rank: 0, ok: true, shm: 4 << 20, fallback: 0 });
    const warning = r.ranks[0]!.stderr;
    expect(warning).toMatch(/single-copy read from rank 1 failed \(EFAULT\)/);
    expect(warning).toMatch(/shared-memory double copy/);
    expect(warning).not.toMatch(/socket/);
  });

  it("lets only a message's receiver settle its send (a FIN from another rank is ignored)", async () => {
    const r = await runJob(script("forged-fin.ts"), { np: 3 });
    expect(r.exitCode, explain(r)).toBe(0);
    expect(r.results[0]![0]).toEqual({ rank: 0, early: false, settled: true });
    expect(r.results[2]![0]).toEqual({ rank: 2, ok: true });
  });
});
