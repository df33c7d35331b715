// Reduction kernels, element types and slicing, in process (no ranks needed).
import { describe, expect, it } from "vitest";
import { DTYPES, dataOf, IN_PLACE } from "../src/datatypes.js";
import { BUILTIN_OPS, builtinKernel, checkPairs, resolveOp, USER_OP } from "../src/ops.js";
import { slices } from "../src/reduce-core.js";
import { fold, makeData, firstDiff, isFloat } from "../../../test/collectives/fixtures/reference.js";

describe("reduction kernels", () => {
  for (let d = 0; d < DTYPES.length; d++) {
    const C = DTYPES[d]!.ctor;
    for (const op of BUILTIN_OPS) {
      if (op === "maxloc" || op === "minloc") continue; // pair operators: below
      const bitwise = op === "band" || op === "bor" || op === "bxor";
      if (isFloat(C as never) && bitwise) {
        it(`${op} on ${C.name} is refused with ERR_INVALID_ARG`, () => {
          expect(() => builtinKernel(op, d)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
        });
        continue;
      }
      it(`${op} on ${C.name} matches the element-by-element reference`, () => {
        const xs = [0, 1, 2].map((r) => makeData(C as never, 257, 99, r, op));
        const acc = xs[0]!.slice() as never as Float64Array;
        const k = builtinKernel(op, d);
        k(acc as never, xs[1] as never);
        k(acc as never, xs[2] as never);
        const want = fold(C as never, op, xs);
        expect(firstDiff(acc, want)).toBe(-1);
      });
    }
  }
  for (const d of [5, 8, 7, 9]) {
    const C = DTYPES[d]!.ctor as unknown as new (xs: number[]) => ArrayLike<number>;
    const conv = DTYPES[d]!.kind === "bigint" ? (xs: number[]) => new (C as never as BigInt64ArrayConstructor)(xs.map(BigInt)) : (xs: number[]) => new C(xs);
    it(`maxloc/minloc on ${DTYPES[d]!.name} keep the winning (value, index) pair, ties to the lower index`, () => {
      const a = conv([1, 4, 5, 2, 3, 9, 7, 0]);
      const b = conv([2, 1, 5, 1, 3, 8, 6, 3]);
      const max = (a as Int32Array).slice();
      builtinKernel("maxloc", d)(max as never, b as never);
      expect(Array.from(max as Int32Array, Number)).toEqual([2, 1, 5, 1, 3, 8, 7, 0]);
      const min = (a as Int32Array).slice();
      builtinKernel("minloc", d)(min as never, b as never);
      expect(Array.from(min as Int32Array, Number)).toEqual([1, 4, 5, 1, 3, 8, 6, 3]);
      // Commutative: combining the other way round gives the same pairs.
      const rev = (b as Int32Array).slice();
      builtinKernel("maxloc", d)(rev as never, a as never);
      expect(Array.from(rev as Int32Array, Number)).toEqual(Array.from(max as Int32Array, Number));
    });
  }
  it("maxloc/minloc refuse an odd element count", () => {
    const op = resolveOp("maxloc", 8, "allreduce");
    expect(() => checkPairs(op, 3, "allreduce")).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
    expect(() => checkPairs(op, 4, "allreduce")).not.toThrow();
    expect(() => checkPairs(resolveOp("sum", 8, "x"), 3, "x")).not.toThrow();
  });
  it("32-bit products wrap exactly (no double rounding)", () => {
    const a = new Uint32Array([0xffffffff, 123456789]);
    builtinKernel("prod", 6)(a, new Uint32Array([0xfffffffe, 987654321]));
    expect(Array.from(a)).toEqual([Number(BigInt.asUintN(32, 0xffffffffn * 0xfffffffen)), Number(BigInt.asUintN(32, 123456789n * 987654321n))]);
  });
  it("user functions are taken as not commutative; unknown names are refused", () => {
    expect(resolveOp(() => {}, 8, "x").code).toBe(USER_OP);
    expect(resolveOp(() => {}, 8, "x").commutative).toBe(false);
    expect(() => resolveOp("avg", 8, "allreduce")).toThrow(/allreduce: operator "avg"/);
  });
});

describe("element types", () => {
  it("typed arrays keep their type; bytes otherwise", () => {
    expect(dataOf(new Float32Array(3), "x")).toMatchObject({ dtype: 7, size: 4, count: 3 });
    expect(dataOf(Buffer.alloc(5), "x")).toMatchObject({ dtype: 1, size: 1, count: 5 });
    expect(dataOf(new ArrayBuffer(6), "x")).toMatchObject({ dtype: 1, count: 6 });
    expect(dataOf(new DataView(new ArrayBuffer(8), 2), "x")).toMatchObject({ dtype: 1, count: 6 });
    expect(dataOf(new BigInt64Array(2), "x")).toMatchObject({ dtype: 9, size: 8, count: 2 });
    expect(() => dataOf(IN_PLACE, "bcast buffer")).toThrow(/IN_PLACE is not allowed here/);
    expect(() => dataOf([1, 2], "x")).toThrow(expect.objectContaining({ code: "ERR_INVALID_BUFFER" }));
  });
});

describe("slices", () => {
  it("cover the range in order, on 64-byte boundaries", () => {
    for (const [count, n, size] of [[0, 3, 8], [1, 4, 1], [1000, 3, 8], [12345, 7, 4], [5, 8, 2]] as const) {
      const lo = slices(count, n, size);
      expect(lo.length).toBe(n + 1);
      expect(lo[0]).toBe(0);
      expect(lo[n]).toBe(count);
      for (let i = 0; i < n; i++) {
        expect(lo[i + 1]!).toBeGreaterThanOrEqual(lo[i]!);
        if (i > 0 && lo[i]! < count) expect((lo[i]! * size) % 64).toBe(0);
      }
    }
  });
});
