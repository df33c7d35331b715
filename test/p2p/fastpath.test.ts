// The shared-memory fast path for point-to-point frames (issue #10): bytes and MPI order through
// the per-pair frame rings, counted in stats().fastpath, and the same program with it off.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob, type JobOptions } from "../kit/job.js";

interface Report {
  rank: number;
  ordered: boolean;
  sum: number;
  wildcardInOrder: boolean;
  pingPongOk: boolean;
  pingPongUs: number;
  stats: { sent: { messages: number }; eager: { messages: number }; fastpath: { frames: number; bells: number } };
}

async function run(opts: Partial<JobOptions>, seen?: (stderr: string[]) => void): Promise<[Report, Report]> {
  // On unless the case says otherwise, also when the suite runs with ONECOPY_FASTPATH=0.
  const r = await runJob(fixture(import.meta.url, "fastpath.ts"), { np: 2, ...opts, env: { ONECOPY_FASTPATH: "1", ...opts.env } });
  expect(r.exitCode, explain(r)).toBe(0);
  const reps = r.results.map((x) => x[0] as Report) as [Report, Report];
  for (const rep of reps) {
    expect(rep, explain(r)).toMatchObject({ ordered: true, wildcardInOrder: true, pingPongOk: true });
  }
  seen?.(r.ranks.map((rk) => rk.stderr));
  // Each rank checked every message against its expected bytes; the two directions differ.
  expect(reps[0].sum).not.toBe(reps[1].sum);
  return reps;
}

describe("shared-memory fast path", () => {
  it("carries every frame of an established pair through the rings, in order, both directions at once", async () => {
    const reps = await run({});
    for (const rep of reps) {
      // Every message sent (3000 + 100 + 500 + the barrier's) took the ring: at least one frame each.
      expect(rep.stats.fastpath.frames).toBeGreaterThanOrEqual(rep.stats.sent.messages);
      expect(rep.stats.sent.messages).toBeGreaterThan(3600);
    }
  });

  it("keeps order when frames queue behind a full ring and stream through it in pieces", async () => {
    // A 64 KiB ring and 300 000-byte eager messages: frames larger than the ring, queued in order.
    const reps = await run({ eagerLimit: "512KiB", env: { ONECOPY_FASTPATH_RING: "64k" } });
    for (const rep of reps) expect(rep.stats.fastpath.frames).toBeGreaterThanOrEqual(rep.stats.sent.messages);
  });

  it("wakes a sleeping receiver with doorbells when nobody spins", async () => {
    const reps = await run({ env: { ONECOPY_SPIN_US: "0" } });
    for (const rep of reps) {
      expect(rep.stats.fastpath.frames).toBeGreaterThanOrEqual(rep.stats.sent.messages);
      expect(rep.stats.fastpath.bells).toBeGreaterThan(0);
    }
  });

  it("stays on the socket, with one warning per rank, when a ring cannot be mapped", async () => {
    let stderr: string[] = [];
    const reps = await run({ env: { FASTPATH_TEST_RING_RANK1: "128k" } }, (s) => (stderr = s));
    for (const rep of reps) expect(rep.stats.fastpath).toEqual({ frames: 0, bells: 0 });
    for (const s of stderr) expect(s.match(/fast path unusable/g) ?? [], s).toHaveLength(1);
  });

  it("moves the same bytes over the socket with ONECOPY_FASTPATH=0", async () => {
    const reps = await run({ env: { ONECOPY_FASTPATH: "0" } });
    for (const rep of reps) expect(rep.stats.fastpath).toEqual({ frames: 0, bells: 0 });
  });
});
