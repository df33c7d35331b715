// Reduction operators and their kernels: one generated loop per (operator, element type), so
// every kernel stays monomorphic (a single typed-array class and a single expression).
import { ErrorCode, MessagingError } from "@onecopy/rendezvous";
import { DTYPES, dtypeName, type AnyTyped } from "./datatypes.js";

/**
 * Built-in reduction operators. `maxloc`/`minloc` (MPI_MAXLOC/MPI_MINLOC) work on buffers of
 * interleaved (value, index) pairs, e.g. a Float64Array `[v0, i0, v1, i1, …]` or an Int32Array
 * (MPI_2DOUBLE_PRECISION, MPI_2INT): each pair keeps the larger (smaller) value and its index;
 * on equal values, the lower index.
 */
export const BUILTIN_OPS = ["sum", "prod", "min", "max", "band", "bor", "bxor", "land", "lor", "lxor", "maxloc", "minloc"] as const;
export type BuiltinOp = (typeof BUILTIN_OPS)[number];

/**
 * A user reduction: combine `input` into `inout` element by element, `inout[i] = inout[i] ⊕ input[i]`.
 * Both are typed arrays of the buffers' type and equal length (chunks of the data, so the
 * function may be called many times per collective). ⊕ must be associative; it need not be
 * commutative: onecopy always passes the lower ranks' partial result as `inout` and combines
 * contributions in rank order (that ordering costs some parallelism, so built-in operators,
 * which are commutative, use contention-free orders instead).
 */
export type ReduceFn = (inout: AnyTyped, input: AnyTyped) => void;

/** A built-in operator name or a user function. */
export type ReduceOp = BuiltinOp | ReduceFn;

/** Wire code of a user function. */
export const USER_OP = 255;

/** A combine kernel: `a[i] = a[i] ⊕ b[i]` over the whole of `a`. */
export type Kernel = (a: AnyTyped, b: AnyTyped) => void;

/** Expression for `x ⊕ y` per operator and element kind; null where the operator is invalid. */
function expr(op: Exclude<BuiltinOp, PairOp>, kind: "int" | "float" | "bigint", size: number): string | null {
  const big = kind === "bigint";
  const z = big ? "0n" : "0";
  const one = big ? "1n" : "1";
  switch (op) {
    case "sum":
      return "x + y";
    case "prod":
      // 32-bit products exceed 2^53 in a double: Math.imul gives the exact low 32 bits.
      return kind === "int" && size === 4 ? "Math.imul(x, y)" : "x * y";
    case "min":
      return kind === "float" ? "Math.min(x, y)" : "(x < y ? x : y)";
    case "max":
      return kind === "float" ? "Math.max(x, y)" : "(x > y ? x : y)";
    case "band":
      return kind === "float" ? null : "x & y";
    case "bor":
      return kind === "float" ? null : "x | y";
    case "bxor":
      return kind === "float" ? null : "x ^ y";
    case "land":
      return `(x !== ${z} && y !== ${z} ? ${one} : ${z})`;
    case "lor":
      return `(x !== ${z} || y !== ${z} ? ${one} : ${z})`;
    case "lxor":
      return `((x !== ${z}) !== (y !== ${z}) ? ${one} : ${z})`;
  }
}

/** Kernels and resolved operators by {@link opKey} (a number: no string built per call). */
const kernels: Array<Kernel | undefined> = [];
const resolved: Array<ResolvedOp | undefined> = [];
const opKey = (code: number, dtype: number) => code * 64 + dtype;
const builtins = new WeakMap<Kernel, BuiltinOp>();

/** The built-in operator a kernel computes (undefined for user functions). */
export function builtinOf(k: Kernel): BuiltinOp | undefined {
  return builtins.get(k);
}

/** The kernel of built-in `op` over element type `dtype` (generated once, then cached). */
export function builtinKernel(op: BuiltinOp, dtype: number, what = "reduction"): Kernel {
  const key = opKey(BUILTIN_OPS.indexOf(op), dtype);
  let k = kernels[key];
  if (k) return k;
  const d = DTYPES[dtype]!;
  if (op === "maxloc" || op === "minloc") {
    k = pairKernel(op === "maxloc" ? ">" : "<");
    kernels[key] = k;
    builtins.set(k, op);
    return k;
  }
  const e = expr(op, d.kind, d.size);
  if (e === null) {
    throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: operator '${op}' is bitwise and not defined for ${dtypeName(dtype)} data; use an integer or BigInt typed array, or a function`);
  }
  // A fresh function per (op, type): its inline caches only ever see one typed-array class.
  // Unrolled by four: 20-35% faster than the plain loop in V8 (f64 sum 8.1 vs 6.1 GB/s in cache).
  const step = (i: string) => `{ const x = a[${i}], y = b[${i}]; a[${i}] = ${e}; }`;
  k = new Function(
    "a",
    "b",
    `"use strict"; const n = a.length; let i = 0; for (; i + 4 <= n; i += 4) { ${step("i")} ${step("i + 1")} ${step("i + 2")} ${step("i + 3")} } for (; i < n; i++) ${step("i")}`,
  ) as Kernel;
  kernels[key] = k;
  builtins.set(k, op);
  return k;
}

/** The operators over (value, index) pairs. */
export type PairOp = "maxloc" | "minloc";

/** A pair kernel: keep the pair whose value wins by `cmp`; on a tie, the lower index. */
function pairKernel(cmp: ">" | "<"): Kernel {
  return new Function(
    "a",
    "b",
    `"use strict"; const n = a.length; for (let i = 0; i < n; i += 2) { const x = a[i], y = b[i]; if (y ${cmp} x || (y === x && b[i + 1] < a[i + 1])) { a[i] = y; a[i + 1] = b[i + 1]; } }`,
  ) as Kernel;
}

/** `maxloc`/`minloc` need whole (value, index) pairs: an even element count. */
export function checkPairs(op: ResolvedOp, count: number, what: string): void {
  if ((op.name === "maxloc" || op.name === "minloc") && count % 2 !== 0) {
    throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: '${op.name}' combines (value, index) pairs; the buffer has ${count} elements, an odd number`);
  }
}

/** A resolved operator: its wire code, whether it commutes, and its kernel for the data type. */
export interface ResolvedOp {
  readonly code: number;
  readonly name: string;
  readonly commutative: boolean;
  readonly kernel: Kernel;
}

/** Validate `op` for element type `dtype`. */
export function resolveOp(op: unknown, dtype: number, what: string): ResolvedOp {
  if (typeof op === "function") return { code: USER_OP, name: "function", commutative: false, kernel: op as Kernel };
  const code = BUILTIN_OPS.indexOf(op as BuiltinOp);
  if (code < 0) {
    throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: operator ${JSON.stringify(op)} is not one of ${BUILTIN_OPS.join(", ")}, nor a function`);
  }
  // Resolved once per (operator, type): a small collective's call builds no key and no object.
  return (resolved[opKey(code, dtype)] ??= { code, name: op as string, commutative: true, kernel: builtinKernel(op as BuiltinOp, dtype, what) });
}

export function opName(code: number): string {
  return code === USER_OP ? "a user function" : (BUILTIN_OPS[code] ?? `op #${code}`);
}
