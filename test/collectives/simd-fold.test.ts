// Large reductions on real processes with the SIMD combine on (default) and off
// (ONECOPY_COLL_SIMD=0): the same values either way, the same bytes on every rank, and the
// documented fold order (order-sensitive float sums match a local recomputation).
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

interface Out {
  rank: number;
  cases: Record<string, { raw: string; norm: string }>;
  refMismatches: number;
}

async function fold(np: number, env: Record<string, string>): Promise<Out[]> {
  const r = await runJob(fixture(import.meta.url, "simd-fold.ts"), { np, env, timeoutMs: 150_000 });
  expect(r.ok, explain(r)).toBe(true);
  return r.results.map((x) => x[0] as Out);
}

describe("SIMD combine in large reductions", () => {
  for (const [np, env, label] of [
    [2, {}, "2 ranks"],
    [3, {}, "3 ranks"],
    [3, { ONECOPY_TEST_NOCMA_RANKS: "1" }, "3 ranks, rank 1 without CMA (message contributions)"],
  ] as const) {
    it(`gives the typed-array loop's results, the same on every rank, in fold order (${label})`, { timeout: 200_000 }, async () => {
      const simd = await fold(np, { ...env });
      const js = await fold(np, { ...env, ONECOPY_COLL_SIMD: "0" });
      for (const runs of [simd, js]) {
        for (const o of runs) expect(o.refMismatches, `rank ${o.rank}: f64 sums off the fold order`).toBe(0);
        // allreduce: bitwise the same bytes everywhere (each slice is combined once and copied).
        for (const name of Object.keys(runs[0]!.cases).filter((k) => k.startsWith("allreduce"))) {
          for (const o of runs) expect(o.cases[name]!.raw, `${name} on rank ${o.rank}`).toBe(runs[0]!.cases[name]!.raw);
        }
      }
      let compared = 0;
      for (const o of simd) {
        const other = js.find((x) => x.rank === o.rank)!;
        for (const [name, h] of Object.entries(o.cases)) {
          expect(h.norm, `${name} on rank ${o.rank}: SIMD vs JS loop`).toBe(other.cases[name]!.norm);
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(50);
    });
  }
});
