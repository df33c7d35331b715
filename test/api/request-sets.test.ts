// Request sets (waitAny, waitSome, testAny) and Status.count over real ranks.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

const lenOf = (r: number) => (r === 1 ? 300_000 : 3 + r);

describe("request sets between ranks", () => {
  for (const np of [1, 3, 4]) {
    it(`reports every receive exactly once with its count (np=${np})`, async () => {
      const r = await runJob(fixture(import.meta.url, "request-sets.ts"), { np });
      expect(r.exitCode, explain(r)).toBe(0);
      const root = r.results[0]![0] as Record<string, { seen: number[][]; intact: boolean; after: boolean }>;
      const want = Array.from({ length: np }, (_, i) => [i, i, lenOf(i)]);
      for (const mode of ["waitAny", "waitSome", "testAny"]) {
        expect(root[mode], mode).toEqual({ seen: want, intact: true, after: true });
      }
    });
  }
});
