// Cartesian communicators over real ranks: coordinates and shifts checked against an independent
// row-major computation, neighbour collectives against a reference (in the fixture), large
// blocks by single copy, sub-grids, dup, and coded errors for bad arguments.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

const PROC_NULL = -2;

/** Row-major coordinates of `r` in `dims`. */
function coordsOf(r: number, dims: number[]): number[] {
  const c = new Array<number>(dims.length);
  for (let i = dims.length - 1; i >= 0; i--) {
    c[i] = r % dims[i]!;
    r = Math.floor(r / dims[i]!);
  }
  return c;
}
function rankAt(c: number[], dims: number[], periods: boolean[]): number {
  let r = 0;
  for (let i = 0; i < dims.length; i++) {
    let x = c[i]!;
    if (x < 0 || x >= dims[i]!) {
      if (!periods[i]) return PROC_NULL;
      x = ((x % dims[i]!) + dims[i]!) % dims[i]!;
    }
    r = r * dims[i]! + x;
  }
  return r;
}

interface GridReport {
  dims: number[];
  periods: boolean[];
  rank: number;
  coords: number[];
  back: number;
  shifts: Array<{ source: number; dest: number }>;
  errs: string[];
  singleCopyBytes: number;
}

describe("Cartesian communicators", () => {
  for (const np of [1, 2, 3, 4]) {
    it(`coords, shifts, neighbour collectives, sub and dup (np=${np})`, async () => {
      const r = await runJob(fixture(import.meta.url, "cart.ts"), { np, timeoutMs: 40_000 });
      expect(r.exitCode, explain(r)).toBe(0);
      const out = r.results.map((x) => x[0] as Record<string, any>);
      expect(out).toHaveLength(np);
      for (const [rank, o] of out.entries()) {
        for (const g of o.grids as GridReport[]) {
          const what = `rank ${rank} dims [${g.dims}] periods [${g.periods}]`;
          expect(g.dims.reduce((a, b) => a * b, 1), what).toBe(np);
          expect(g.rank, what).toBe(rank);
          expect(g.coords, what).toEqual(coordsOf(rank, g.dims));
          expect(g.back, what).toBe(rank);
          const want = g.dims.map((_, d) => {
            const c = coordsOf(rank, g.dims);
            const at = (by: number) => rankAt(c.map((x, i) => (i === d ? x + by : x)), g.dims, g.periods);
            return { source: at(-1), dest: at(1) };
          });
          expect(g.shifts, what).toEqual(want);
          expect(g.errs, what).toEqual([]);
          // Each large block (40 000 doubles) to another rank was received by single copy, twice (allgather, alltoall).
          const others = want.flatMap((s) => [s.source, s.dest]).filter((n) => n !== PROC_NULL && n !== rank).length;
          expect(g.singleCopyBytes, what).toBe(others * 2 * 320_000);
        }
        const [d0, d1] = (o.grids as GridReport[])[2]!.dims as [number, number];
        const [c0, c1] = coordsOf(rank, [d0, d1]);
        expect(o.sub.rows[0]).toEqual([d1]);
        expect(o.sub.rows.slice(1)).toEqual([c1, d1, Array.from({ length: d1 }, (_, j) => c0! * d1 + j).reduce((a, b) => a + b, 0)]);
        expect(o.sub.cols).toEqual([[d0], c0, d0]);
        expect(o.sub.none).toBe(1);
        expect(o.dup).toEqual([true, [d0, d1], [c0, c1], "congruent"]);
        expect(o.small).toEqual(rank < Math.max(1, np - 1) ? [Math.max(1, np - 1), rank] : null);
        expect(o.bad).toEqual({
          tooBig: "ERR_INVALID_ARG",
          periods: "ERR_INVALID_ARG",
          zero: "ERR_INVALID_ARG",
          outside: "ERR_INVALID_RANK",
          allgather: "ERR_INVALID_ARG",
          alltoall: "ERR_INVALID_ARG",
          buffer: "ERR_INVALID_BUFFER",
          sub: "ERR_INVALID_ARG",
          shift: "ERR_INVALID_ARG",
        });
      }
    });
  }
});
