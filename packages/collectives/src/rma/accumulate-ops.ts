// The operators of accumulate-type calls and the two ways of applying them to a target range:
// under the target's accumulate lock (plain loads and stores, `applyLocked`), or lock-free with
// Atomics on a shared window (`applyAtomic`).
//
// Lock-free on shared windows (winAllocateShared), per element:
//   - int8 … uint32 and bigint64/biguint64 with sum, band, bor, bxor, replace: one atomic
//     read-modify-write instruction (Atomics.add/and/or/xor/exchange);
//   - every other builtin operator on those types, and every operator on float32/float64:
//     a compare-and-swap loop on the element's bits (floats through an integer view of the
//     same bytes), lock-free though not wait-free;
//   - noOp (getAccumulate) is an atomic load; compareAndSwap is Atomics.compareExchange.
// Under the accumulate lock: maxloc/minloc (a pair of elements) and uint8clamped (Atomics has
// no clamped view), and every accumulate on windows that are not shared.
import { ErrorCode, MessagingError } from "@onecopy/rendezvous";
import { DTYPES, type AnyTyped } from "../datatypes.js";
import { BUILTIN_OPS, builtinKernel, type BuiltinOp, type Kernel } from "../ops.js";

/** What accumulate calls accept: a builtin operator, `"replace"`, and for getAccumulate `"noOp"`. */
export type AccumulateOp = BuiltinOp | "replace" | "noOp";

const INT8 = 0;
const UINT8CLAMPED = 2;
const FLOAT32 = 7;
const FLOAT64 = 8;

/** Validate `op` for element type `dtype`; returns the combine kernel (null for replace and noOp). */
export function accumulateKernel(op: unknown, dtype: number, what: string, noOp: boolean): Kernel | null {
  if (op === "replace") return null;
  if (op === "noOp") {
    if (noOp) return null;
    throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: "noOp" is for getAccumulate and fetchAndOp only`);
  }
  if (!BUILTIN_OPS.includes(op as BuiltinOp)) {
    throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: operator ${JSON.stringify(op)} is not one of ${BUILTIN_OPS.join(", ")}, "replace"${noOp ? ', "noOp"' : ""} (one-sided operations take no user functions)`);
  }
  return builtinKernel(op as BuiltinOp, dtype, what);
}

/** Whether `op` on `dtype` is applied with Atomics on a shared window (no lock). */
export function lockFree(op: AccumulateOp, dtype: number): boolean {
  return dtype !== UINT8CLAMPED && op !== "maxloc" && op !== "minloc";
}

/**
 * `target[i] = target[i] ⊕ origin[i]` under the accumulate lock; the old values go to `result`
 * first (getAccumulate). `origin` is null for noOp.
 */
export function applyLocked(kernel: Kernel | null, op: AccumulateOp, target: AnyTyped, origin: AnyTyped | null, result: AnyTyped | null): void {
  if (result) result.set(target as never);
  if (op === "noOp") return;
  if (kernel === null) target.set(origin as never);
  else kernel(target, origin!);
}

type IntView = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** The integer view Atomics works on over the same bytes as `a`. */
function bitsOf(dtype: number, a: AnyTyped): IntView {
  if (dtype === FLOAT32) return new Int32Array(a.buffer, a.byteOffset, a.length);
  if (dtype === FLOAT64) return new BigInt64Array(a.buffer, a.byteOffset, a.length);
  return a as IntView;
}

/** Scratch of one element in both views: `value[0]`/`bits[0]` alias, `operand[0]` is the other input. */
interface Scratch {
  value: AnyTyped;
  operand: AnyTyped;
  bits: IntView;
}
const scratches = new Map<number, Scratch>();
function scratchOf(dtype: number): Scratch {
  let s = scratches.get(dtype);
  if (!s) {
    const d = DTYPES[dtype]!;
    const buf = new ArrayBuffer(16);
    const value = new d.ctor(buf, 0, 1);
    s = { value, operand: new d.ctor(buf, 8, 1), bits: bitsOf(dtype, value) };
    scratches.set(dtype, s);
  }
  return s;
}

/** Per-element atomic apply on a shared window's memory; the old values go to `result`. */
export function applyAtomic(kernel: Kernel | null, op: AccumulateOp, dtype: number, target: AnyTyped, origin: AnyTyped | null, result: AnyTyped | null): void {
  const bits = bitsOf(dtype, target);
  const n = target.length;
  const out = result ? bitsOf(dtype, result) : null;
  const float = dtype === FLOAT32 || dtype === FLOAT64;
  const a = bits as Int32Array; // one monomorphic name per call; the element type is the view's
  if (op === "noOp") {
    for (let i = 0; i < n; i++) out![i] = Atomics.load(a, i);
    return;
  }
  const direct = !float && dtype >= INT8 && (op === "sum" || op === "band" || op === "bor" || op === "bxor" || op === "replace");
  if (direct) {
    const o = origin as Int32Array;
    const f = op === "sum" ? Atomics.add : op === "band" ? Atomics.and : op === "bor" ? Atomics.or : op === "bxor" ? Atomics.xor : Atomics.exchange;
    if (out) for (let i = 0; i < n; i++) out[i] = f(a, i, o[i]!);
    else for (let i = 0; i < n; i++) f(a, i, o[i]!);
    return;
  }
  const s = scratchOf(dtype);
  const sb = s.bits as Int32Array;
  const ob = origin ? (bitsOf(dtype, origin) as Int32Array) : null;
  for (let i = 0; i < n; i++) {
    for (;;) {
      const old = Atomics.load(a, i);
      sb[0] = old;
      if (kernel === null) s.value[0] = origin![i]!;
      else {
        s.operand[0] = origin![i]!;
        kernel(s.value, s.operand);
      }
      if (Atomics.compareExchange(a, i, old, sb[0]!) === old) {
        if (out) out[i] = old;
        break;
      }
    }
  }
  void ob;
}

/** Atomic compare-and-swap of element 0 of `target` (bitwise for floats); the old value goes to `result[0]`. */
export function casAtomic(dtype: number, target: AnyTyped, value: AnyTyped, compare: AnyTyped, result: AnyTyped): void {
  const a = bitsOf(dtype, target) as Int32Array;
  const v = bitsOf(dtype, value) as Int32Array;
  const c = bitsOf(dtype, compare) as Int32Array;
  (bitsOf(dtype, result) as Int32Array)[0] = Atomics.compareExchange(a, 0, c[0]!, v[0]!);
}

/** Compare-and-swap under the accumulate lock: bitwise comparison, as {@link casAtomic}. */
export function casLocked(dtype: number, target: AnyTyped, value: AnyTyped, compare: AnyTyped, result: AnyTyped): void {
  const a = bitsOf(dtype, target) as Int32Array;
  const old = a[0]!;
  (bitsOf(dtype, result) as Int32Array)[0] = old;
  if (old === (bitsOf(dtype, compare) as Int32Array)[0]) a[0] = (bitsOf(dtype, value) as Int32Array)[0]!;
}
