// maxloc / minloc reductions over real ranks.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

describe("maxloc and minloc", () => {
  for (const np of [1, 3, 4]) {
    it(`reduce, allreduce, scan and reduceScatter keep the winning pair, ties to the lower index (np=${np})`, async () => {
      const r = await runJob(fixture(import.meta.url, "loc-ops.ts"), { np });
      expect(r.exitCode, explain(r)).toBe(0);
      for (const [rep] of r.results as Array<Array<{ checks: Record<string, boolean>; odd: string; oddCounts: string }>>) {
        const failed = Object.entries(rep!.checks).filter(([, ok]) => !ok).map(([k]) => k);
        expect(failed).toEqual([]);
        expect(Object.keys(rep!.checks).length).toBeGreaterThanOrEqual(24);
        expect(rep!.odd).toBe("ERR_INVALID_ARG");
        expect(rep!.oddCounts).toBe("ERR_INVALID_ARG");
      }
    });
  }
});
