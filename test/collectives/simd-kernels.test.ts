// In-process units of the WebAssembly SIMD combine kernels (wasm-kernels.ts): for every
// (operator, element type) that has one, the SIMD result must equal the typed-array loop's
// (ops.ts) element by element — odd lengths (the tail runs the JS loop), integer wrap-around,
// and for floats NaN, -0/+0, infinities and subnormals (the same NaN-ness and the same signed
// zeros as Math.min/Math.max and + / ×).
import { describe, expect, it } from "vitest";
import { builtinKernel, BUILTIN_OPS, type BuiltinOp } from "../../packages/collectives/src/ops.js";
import { DTYPES, typed } from "../../packages/collectives/src/datatypes.js";
import { combineIn, giveArena, hasSimd, SIMD_STEP, takeArena } from "../../packages/collectives/src/wasm-kernels.js";
import { rng } from "./fixtures/reference.js";

const SPECIAL = [NaN, -0, 0, Infinity, -Infinity, 5e-324, -5e-324, 1e-310, Number.MAX_VALUE, -Number.MAX_VALUE, 1, -1, 0.1, 3.4028234663852886e38, 1.401298464324817e-45];

/** Random bytes for integers (any bits); for floats a mix of ordinary values and the special ones. */
function fill(bytes: Uint8Array, dtype: number, r: () => number): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  const d = DTYPES[dtype]!;
  if (d.kind !== "float") return;
  const v = typed(dtype, bytes) as Float32Array | Float64Array;
  for (let i = 0; i < v.length; i++) {
    const u = r();
    v[i] = u < 0.3 ? SPECIAL[Math.floor(r() * SPECIAL.length)]! : u < 0.6 ? (r() - 0.5) * 1e6 : (r() - 0.5) * 10 ** Math.floor(r() * 600 - 300);
  }
}

function same(dtype: number, got: ArrayLike<number | bigint>, want: ArrayLike<number | bigint>): string | null {
  const float = DTYPES[dtype]!.kind === "float";
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const ok = float ? Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)) : g === w;
    if (!ok) return `element ${i}: SIMD ${String(g)}, JS ${String(w)}`;
  }
  return null;
}

const ops = (dtype: number) => BUILTIN_OPS.filter((op) => hasSimd(op, dtype));

describe("WebAssembly SIMD combine kernels", () => {
  it("exist where the typed-array loop is slowest: sum/prod/min/max on f32 and f64, sum/prod/min/max/bitwise on 32-bit integers", () => {
    const name = (dt: number) => DTYPES[dt]!.name;
    const table = Object.fromEntries(DTYPES.map((_, dt) => [name(dt), ops(dt)]));
    expect(table.float64).toEqual(["sum", "prod", "min", "max"]);
    expect(table.float32).toEqual(["sum", "prod", "min", "max"]);
    expect(table.int32).toEqual(["sum", "prod", "min", "max", "band", "bor", "bxor"]);
    expect(table.uint32).toEqual(["sum", "prod", "min", "max", "band", "bor", "bxor"]);
    // The loop stays where SIMD would change the result or has no instruction.
    expect(table.uint8clamped).not.toContain("sum");
    expect(table.int8).not.toContain("prod");
    expect(table.bigint64).not.toContain("min");
    for (const dt of DTYPES.keys()) for (const op of ["land", "lor", "lxor", "maxloc", "minloc"]) expect(hasSimd(op, dt)).toBe(false);
  });

  it("give the typed-array loop's result for every operator and element type, at odd lengths", () => {
    const chunk = 4096;
    const arena = takeArena(2 * chunk)!;
    expect(arena).not.toBeNull();
    const r = rng(7);
    let checked = 0;
    try {
      for (const [dtype, d] of DTYPES.entries()) {
        for (const op of ops(dtype)) {
          const simd = arena.kernel(op as BuiltinOp, dtype)!;
          const js = builtinKernel(op as BuiltinOp, dtype);
          // Whole steps, a step and a bit, one element, a tail only, a full chunk minus one element.
          const lengths = [SIMD_STEP, 3 * SIMD_STEP + d.size, d.size, SIMD_STEP - d.size, chunk - d.size, chunk, 17 * d.size];
          for (const len of lengths) {
            const acc = arena.bytes.subarray(0, len);
            const inp = arena.bytes.subarray(chunk, chunk + len);
            fill(acc, dtype, r);
            fill(inp, dtype, r);
            const want = typed(dtype, acc.slice());
            js(want, typed(dtype, inp.slice()));
            const before = arena.bytes.slice(len, chunk); // bytes after the accumulator must not change
            combineIn(arena, simd, js, dtype, 0, chunk, len);
            const bad = same(dtype, typed(dtype, acc) as ArrayLike<number | bigint>, want as ArrayLike<number | bigint>);
            expect(bad, `${op} on ${d.name}, ${len} bytes: ${bad}`).toBeNull();
            expect(Buffer.from(arena.bytes.subarray(len, chunk)).equals(Buffer.from(before)), `${op} on ${d.name}: wrote past ${len} bytes`).toBe(true);
            checked++;
          }
        }
      }
    } finally {
      giveArena(arena);
    }
    expect(checked).toBeGreaterThan(300);
  });

  it("order -0 below +0 and propagate NaN in min/max exactly as Math.min/Math.max", () => {
    const arena = takeArena(256)!;
    try {
      for (const dtype of [7, 8]) {
        for (const op of ["min", "max"] as const) {
          const C = DTYPES[dtype]!.ctor as Float64ArrayConstructor;
          const xs = [-0, 0, NaN, 1, -0, NaN, -Infinity, 0];
          const ys = [0, -0, 1, NaN, -0, NaN, Infinity, 0];
          const a = new C(arena.bytes.buffer, 0, 8);
          const b = new C(arena.bytes.buffer, 128, 8);
          a.set(xs);
          b.set(ys);
          combineIn(arena, arena.kernel(op, dtype)!, builtinKernel(op, dtype), dtype, 0, 128, SIMD_STEP);
          const f = op === "min" ? Math.min : Math.max;
          const want = xs.map((x, i) => f(x, ys[i]!));
          for (let i = 0; i < 8; i++) expect(Object.is(a[i], want[i]) || (Number.isNaN(a[i]) && Number.isNaN(want[i])), `${op} f${DTYPES[dtype]!.size * 8} (${xs[i]}, ${ys[i]})`).toBe(true);
        }
      }
    } finally {
      giveArena(arena);
    }
  });
});
