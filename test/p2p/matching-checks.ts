// What the matching fixture (fixtures/matching.ts, 4 ranks) must report, wherever its ranks run:
// one job on one machine (p2p.test.ts) or split over simulated nodes under mpirun (mpi.test.ts).
import { expect } from "vitest";

/** Assert the fixture's per-rank results (index = rank). */
export function expectMatchingSemantics(res: Array<Record<string, any>>): void {
  const r0 = res[0]!;
  expect(r0.wildcard).toEqual([
    [1, 1, 100],
    [2, 2, 200],
    [3, 3, 300],
  ]);
  expect(r0.ordered).toBe(true);
  expect(r0.unexpected).toEqual({
    probe: { source: 2, tag: 51, bytes: 2 << 20 },
    iprobe: { source: 2, tag: 50, bytes: 100 },
    big: true,
    small: true,
  });
  expect(r0.outstanding).toEqual({ pendingBefore: 0, ok: true });
  expect(r0.isolation).toEqual([222, 111]);
  expect(r0.object).toEqual({ source: 1, tag: 5, bigBytes: 400_000, ok: true });
  // split(rank % 2, -rank): evens [2, 0], odds [3, 1].
  expect(res.map((x) => x.split)).toEqual([
    { rank: 1, size: 2, got: 2 },
    { rank: 1, size: 2, got: 3 },
    { rank: 0, size: 2, got: 0 },
    { rank: 0, size: 2, got: 1 },
  ]);
  for (const x of res) {
    expect(x.splitNone).toBe(true);
    expect(x.self).toBe(true);
    expect(x.ring).toEqual({ got: (x.rank + 3) % 4, source: (x.rank + 3) % 4, nullSource: -2 });
  }
}
