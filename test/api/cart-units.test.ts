// In-process units of dimsCreate and the Cartesian coordinate arithmetic (coords, rankOf, shift,
// neighbour order, sub-grid keys), checked against a brute-force enumeration of the grid.
import { describe, expect, it } from "vitest";
import { dimsCreate, PROC_NULL } from "onecopy";
import { CartGrid } from "../../packages/onecopy/src/topology/cart-grid.js";

const codeOf = (f: () => unknown): string => {
  try {
    f();
    return "none";
  } catch (e) {
    return (e as { code?: string }).code ?? `uncoded: ${(e as Error).message}`;
  }
};

describe("dimsCreate", () => {
  it("fills zeros with balanced, non-increasing factors and keeps fixed entries", () => {
    expect(dimsCreate(6, [0, 0])).toEqual([3, 2]);
    expect(dimsCreate(7, [0, 0])).toEqual([7, 1]);
    expect(dimsCreate(12, [0, 0])).toEqual([4, 3]);
    expect(dimsCreate(16, [0, 0, 0])).toEqual([4, 2, 2]);
    expect(dimsCreate(72, [0, 0])).toEqual([9, 8]); // greedy prime assignment would give 12 × 6
    expect(dimsCreate(12, [0, 3, 0])).toEqual([2, 3, 2]);
    expect(dimsCreate(1, [0, 0, 0])).toEqual([1, 1, 1]);
    expect(dimsCreate(24, [2, 3, 4])).toEqual([2, 3, 4]);
    expect(dimsCreate(5, [0])).toEqual([5]);
    for (let n = 1; n <= 64; n++) {
      for (const k of [1, 2, 3]) {
        const d = dimsCreate(n, new Array(k).fill(0));
        expect(d.reduce((a, b) => a * b, 1)).toBe(n);
        expect([...d].sort((a, b) => b - a)).toEqual(d);
      }
    }
  });

  it("refuses impossible requests with ERR_INVALID_ARG", () => {
    expect(codeOf(() => dimsCreate(10, [3, 0]))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => dimsCreate(8, [2, 2]))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => dimsCreate(0, [0]))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => dimsCreate(4, [-1, 0]))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => dimsCreate(4, "2" as never))).toBe("ERR_INVALID_ARG");
  });
});

/** Every coordinate tuple of `dims` in row-major order (the last varies fastest). */
function allCoords(dims: number[]): number[][] {
  let out: number[][] = [[]];
  for (const d of dims) out = out.flatMap((c) => Array.from({ length: d }, (_, i) => [...c, i]));
  return out;
}

describe("Cartesian grid arithmetic", () => {
  const cases: Array<[number[], boolean[]]> = [
    [[5], [false]],
    [[5], [true]],
    [[1], [true]],
    [[2], [true]],
    [[3, 4], [false, true]],
    [[2, 3, 2], [true, false, true]],
    [[2, 2, 3], [false, false, false]],
  ];
  for (const [dims, periods] of cases) {
    it(`coords/rankOf/shift agree with enumeration on [${dims}] periods [${periods}]`, () => {
      const g = new CartGrid(dims, periods);
      const coords = allCoords(dims);
      expect(g.size).toBe(coords.length);
      coords.forEach((c, r) => {
        expect(g.coords(r)).toEqual(c);
        expect(g.rankOf(c)).toBe(r);
      });
      const at = (c: number[]) => {
        const w = c.map((x, i) => (periods[i] ? ((x % dims[i]!) + dims[i]!) % dims[i]! : x));
        return w.every((x, i) => x >= 0 && x < dims[i]!) ? coords.findIndex((q) => q.every((y, i) => y === w[i])) : PROC_NULL;
      };
      for (let r = 0; r < g.size; r++) {
        const nb: number[] = [];
        for (let d = 0; d < dims.length; d++) {
          for (const disp of [1, 2, -1, 0]) {
            const c = g.coords(r);
            const up = [...c];
            up[d]! += disp;
            const down = [...c];
            down[d]! -= disp;
            expect(g.shift(r, d, disp), `rank ${r} dim ${d} disp ${disp}`).toEqual({ source: at(down), dest: at(up) });
          }
          const c = g.coords(r);
          nb.push(at(c.map((x, i) => (i === d ? x - 1 : x))), at(c.map((x, i) => (i === d ? x + 1 : x))));
        }
        expect(g.neighbors(r)).toEqual(nb);
      }
    });
  }

  it("periodic coordinates wrap; outside a non-periodic dimension is ERR_INVALID_RANK", () => {
    const g = new CartGrid([3, 4], [false, true]);
    expect(g.rankOf([1, -1])).toBe(g.rankOf([1, 3]));
    expect(g.rankOf([2, 9])).toBe(g.rankOf([2, 1]));
    expect(codeOf(() => g.rankOf([3, 0]))).toBe("ERR_INVALID_RANK");
    expect(codeOf(() => g.rankOf([-1, 0]))).toBe("ERR_INVALID_RANK");
    expect(codeOf(() => g.rankOf([0]))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => g.coords(12))).toBe("ERR_INVALID_RANK");
    expect(codeOf(() => g.shift(0, 2, 1))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => g.shift(0, 0, 0.5))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => CartGrid.of([2, 0], [true, true], "createCart"))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => CartGrid.of([2, 2], [true], "createCart"))).toBe("ERR_INVALID_ARG");
  });

  it("sub-grid keys: color over dropped dimensions, key over kept ones", () => {
    const g = new CartGrid([2, 3, 2], [false, false, false]);
    const r = g.rankOf([1, 2, 0]);
    expect(g.subKeys(r, [false, true, false])).toEqual({ color: 1 * 2 + 0, key: 2 });
    expect(g.subKeys(r, [true, false, true])).toEqual({ color: 2, key: 1 * 2 + 0 });
    expect(g.subKeys(r, [true, true, true])).toEqual({ color: 0, key: r });
  });
});
