// Groups and communicators from groups over real ranks.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

describe("groups and create/compare/splitType", () => {
  for (const np of [1, 2, 3, 4]) {
    it(`create() follows the group's order; compare and splitType (np=${np})`, async () => {
      const r = await runJob(fixture(import.meta.url, "groups.ts"), { np, timeoutMs: 30_000 });
      expect(r.exitCode, explain(r)).toBe(0);
      const out = r.results.map((x) => x[0] as Record<string, unknown>);
      const all = Array.from({ length: np }, (_, i) => i);
      const evenSum = all.filter((i) => i % 2 === 0).reduce((a, b) => a + b, 0);
      for (const [rank, o] of out.entries()) {
        expect(o.group).toEqual([np, rank]);
        expect(o.translate).toEqual(all.map((i) => np - 1 - i));
        if (rank % 2 === 0) {
          expect(o.evens).toEqual([rank / 2, Math.ceil(np / 2), evenSum]);
          expect(o.evenVsWorld).toBe(np === 1 ? "congruent" : "unequal");
          expect(o.createOutside).toBe(np > 1 ? "ERR_INVALID_ARG" : "n/a");
        } else expect(o.evens).toBeNull();
        expect(o.reversed).toEqual([np - 1 - rank, (rank + 1) % np]);
        expect(o.compare).toEqual(["ident", "congruent", np > 1 ? "similar" : "congruent"]);
        expect(o.shared).toEqual([rank, np, np, "congruent"]);
        expect(o.badCreate).toBe("ERR_INVALID_ARG");
        expect(o.badType).toBe("ERR_INVALID_ARG");
        expect(o.badIncl).toBe("ERR_INVALID_RANK");
        expect(o.badCompare).toBe("ERR_INVALID_ARG");
      }
    });
  }
});
