// Issue #12, part 4: an error of a public call shows the caller's frame first.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

describe("user-facing stacks", () => {
  it("recv timeout, an awaited cancelled request and a collective timeout name the program's function first", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "stacks.ts"), { np: 2, timeoutMs: 45_000 });
    const why = explain(r);
    expect(r.ok, why).toBe(true);
    const b = r.results[1]![0] as Record<string, string>;
    expect(b.recv, why).toMatch(/^\s+at async receiveNothing \(.*stacks\.ts/);
    expect(b.req, why).toMatch(/^\s+at async awaitCancelled \(.*stacks\.ts/);
    expect(b.barrier, why).toMatch(/^\s+at async lonelyBarrier \(.*stacks\.ts/);
  });
});
