// Synchronous-mode sends (issend/ssend) over real ranks.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

describe("synchronous sends", () => {
  for (const np of [1, 2, 3]) {
    for (const transport of np === 2 ? (["cma", "socket"] as const) : (["cma"] as const)) {
      it(`complete only after the receiver matched, in order with plain sends (np=${np}, ${transport})`, async () => {
        const r = await runJob(fixture(import.meta.url, "ssend.ts"), { np, transport });
        expect(r.exitCode, explain(r)).toBe(0);
        const [a, b] = r.results.map((x) => x[0] as Record<string, unknown>);
        for (const n of [0, 8, 4096, 200_000]) {
          // With one rank, the receive is posted only after the check too: a send to self.
          expect(a![`n${n}`], `n=${n}`).toEqual({ pendingBefore: true, plainDone: true });
          if (np > 1) expect(b![`n${n}`], `n=${n}`).toEqual({ bytes: n, ok: true });
        }
        if (np > 1) expect(b!.order).toEqual([[8, 1], [16, 2], [100_000, 3], [24, 4]]);
        for (const rep of [a, b].filter(Boolean)) {
          expect(rep!.badDest).toBe("ERR_INVALID_RANK");
          expect(rep!.badTag).toBe("ERR_INVALID_TAG");
        }
      });
    }
  }
});
