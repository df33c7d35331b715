// Collectives of values (bcastObject, gatherObject, …) over real ranks.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

describe("object collectives", () => {
  for (const np of [1, 3, 4]) {
    it(`carry values by rank, large arrays by single copy, errors everywhere (np=${np})`, async () => {
      const r = await runJob(fixture(import.meta.url, "object-collectives.ts"), { np });
      expect(r.exitCode, explain(r)).toBe(0);
      const ranks = Array.from({ length: np }, (_, i) => i);
      const last = np - 1;
      for (const [rep] of r.results as Array<Array<Record<string, unknown>>>) {
        const me = rep!.rank as number;
        expect(rep!.bcast).toEqual({ k: "7", s: "hi", len: 250_000, ok: true });
        // Every receiver took the 2 MB array with one copy; the root copies nothing.
        expect(rep!.bcastSingleCopy).toBe(me === last ? 0 : 2_000_000);
        expect(rep!.gather).toEqual(me === 0 ? ranks.map((i) => ({ r: i, sq: [i, i * i] })) : null);
        expect(rep!.allgather).toEqual(ranks.map((i) => `r${i}`));
        expect(rep!.scatter).toEqual({ to: me, sum: me === 1 ? 300_000 : null });
        expect(rep!.alltoall).toEqual(ranks.map((j) => `${j}->${me}`));
        expect(rep!.reduce).toBe(me === last ? ranks.join("") : null);
        expect(rep!.allreduce).toBe(ranks.join(""));
        expect(rep!.sum).toBe((np * (np + 1)) / 2);
        expect(rep!.bigmax).toBe(String(BigInt(last) * 10n ** 20n));
        expect(rep!.min).toBe(me === 0 ? 0.5 : null);
        expect(rep!.badRoot).toBe("ERR_INVALID_RANK");
        expect(rep!.badOp).toBe("ERR_INVALID_ARG");
        expect(rep!.notNumber).toBe("ERR_INVALID_ARG");
        expect(rep!.badScatter).toBe(np === 1 ? "none" : "ERR_INVALID_ARG"); // [1] is the right length for one rank
        expect(rep!.oneBadOp).toBe("ERR_INVALID_ARG");
        // With one rank there is nothing to combine: the op is never called.
        expect(rep!.opThrows).toBe(np === 1 ? "none" : "ERR_MISMATCH");
        expect(rep!.after).toEqual(ranks);
      }
    });
  }
});
