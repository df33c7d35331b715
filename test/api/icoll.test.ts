// Non-blocking collectives over real ranks.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

describe("non-blocking collectives", () => {
  for (const np of [1, 3, 4]) {
    it(`several in flight complete with the blocking results (np=${np})`, async () => {
      const r = await runJob(fixture(import.meta.url, "icoll.ts"), { np });
      expect(r.exitCode, explain(r)).toBe(0);
      for (const [rep] of r.results as Array<Array<Record<string, unknown>>>) {
        const me = rep!.rank as number;
        expect(rep).toEqual({ rank: me, sum: true, bcast: true, gather: Array.from({ length: np }, (_, i) => i * 3), scan: ((me + 1) * (me + 2)) / 2, polled: true, bad: "ERR_INVALID_ARG" });
      }
    });
  }
});
