// WebAssembly SIMD combine kernels. V8's typed-array loops run at 2-3 GB/s on this CPU (one
// scalar element per iteration, bounds-checked); a 128-bit SIMD loop over the same data runs
// at memory speed. The module is assembled here from its opcodes (no toolchain, no
// dependency): one function per (operation, lane type), `f(d, a, b, n)` computes
// `d[i] = a[i] ⊕ b[i]` over `n` bytes (a multiple of 64) of the module's memory, four vectors
// per iteration. Its memory is separate from the user's buffers, so callers combine in
// scratch areas inside it (see reduce-core.ts).
//
// Each lane operation has exactly the JS kernel's result (ops.ts): integer add/mul wrap as
// the typed-array store does; f32 add/mul of two floats computed in double and rounded once
// more give the float result (double rounding is innocuous for + and ×); f32x4/f64x2 min/max
// return NaN if either lane is NaN and order -0 below +0, as Math.min/Math.max.
import { typed } from "./datatypes.js";
import type { BuiltinOp, Kernel } from "./ops.js";

// The WebAssembly JS API (not in the ES lib this package compiles against).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum?: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}
const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** A SIMD kernel over bytes of the kernel memory: `d = a ⊕ b`, `n` a multiple of {@link SIMD_STEP}. */
export type SimdKernel = (d: number, a: number, b: number, n: number) => void;

/** Bytes one loop iteration takes (four 16-byte vectors): kernels cover multiples of it. */
export const SIMD_STEP = 64;

// SIMD opcodes (prefix 0xfd), by lane type. dtype codes are datatypes.ts' DTYPES indices.
const I8 = { sum: 0x6e, min_s: 0x76, min_u: 0x77, max_s: 0x78, max_u: 0x79 };
const I16 = { sum: 0x8e, prod: 0x95, min_s: 0x96, min_u: 0x97, max_s: 0x98, max_u: 0x99 };
const I32 = { sum: 0xae, prod: 0xb5, min_s: 0xb6, min_u: 0xb7, max_s: 0xb8, max_u: 0xb9 };
const I64 = { sum: 0xce, prod: 0xd5 };
const F32 = { sum: 0xe4, prod: 0xe6, min: 0xe8, max: 0xe9 };
const F64 = { sum: 0xf0, prod: 0xf2, min: 0xf4, max: 0xf5 };
const BITS = { band: 0x4e, bor: 0x50, bxor: 0x51 };

type Table = Partial<Record<BuiltinOp, number>>;
const signed = (t: { min_s: number; max_s: number }): Table => ({ min: t.min_s, max: t.max_s });
const unsigned = (t: { min_u: number; max_u: number }): Table => ({ min: t.min_u, max: t.max_u });

/**
 * Operations with a SIMD kernel, per dtype. Not here (the JS loop stays): int8/uint8 products
 * (no i8x16.mul), uint8clamped sums and products (the store saturates), 64-bit min/max, the
 * logical operators and the (value, index) pairs.
 */
const OPCODES: ReadonlyArray<Table> = [
  /* int8 */ { sum: I8.sum, ...signed(I8), ...BITS },
  /* uint8 */ { sum: I8.sum, ...unsigned(I8), ...BITS },
  /* uint8clamped */ { ...unsigned(I8), ...BITS },
  /* int16 */ { sum: I16.sum, prod: I16.prod, ...signed(I16), ...BITS },
  /* uint16 */ { sum: I16.sum, prod: I16.prod, ...unsigned(I16), ...BITS },
  /* int32 */ { sum: I32.sum, prod: I32.prod, ...signed(I32), ...BITS },
  /* uint32 */ { sum: I32.sum, prod: I32.prod, ...unsigned(I32), ...BITS },
  /* float32 */ { ...F32 },
  /* float64 */ { ...F64 },
  /* bigint64 */ { ...I64, ...BITS },
  /* biguint64 */ { ...I64, ...BITS },
];

// ---- assembling the module ------------------------------------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const I32_EQZ = 0x45;
const SIMD = 0xfd;
const V128_LOAD = 0x00;
const V128_STORE = 0x0b;
const [D, A, B, N] = [0, 1, 2, 3];

/** The body of `f(d, a, b, n)`: while n ≠ 0, four vectors of d = a ⊕ b, advance by 64. */
function body(op: number): number[] {
  const mem = (off: number) => [4, ...uleb(off)]; // align 2^4, offset
  const lane = (off: number) => [
    LOCAL_GET, D,
    LOCAL_GET, A, SIMD, ...uleb(V128_LOAD), ...mem(off),
    LOCAL_GET, B, SIMD, ...uleb(V128_LOAD), ...mem(off),
    SIMD, ...uleb(op),
    SIMD, ...uleb(V128_STORE), ...mem(off),
  ];
  const bump = (l: number) => [LOCAL_GET, l, I32_CONST, ...sleb(SIMD_STEP), I32_ADD, LOCAL_SET, l];
  const code = [
    0x02, 0x40, // block
    LOCAL_GET, N, I32_EQZ, 0x0d, 0, // br_if 0 (nothing to do)
    0x03, 0x40, // loop
    ...lane(0), ...lane(16), ...lane(32), ...lane(48),
    ...bump(D), ...bump(A), ...bump(B),
    LOCAL_GET, N, I32_CONST, ...sleb(SIMD_STEP), I32_SUB, LOCAL_TEE, N,
    0x0d, 0, // br_if 0 (continue while n ≠ 0)
    0x0b, // end loop
    0x0b, // end block
    0x0b, // end function
  ];
  return [...uleb(code.length + 1), 0x00 /* no locals */, ...code];
}

/** The module: memory imported as "m"."m"; one export per distinct opcode, named by it. */
export function assemble(opcodes: readonly number[]): Uint8Array {
  const I32 = 0x7f;
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), 0x00]])),
    ...section(2, vec([[...name("m"), ...name("m"), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec(opcodes.map(() => [0]))),
    ...section(7, vec(opcodes.map((op, i) => [...name(`k${op}`), 0x00, ...uleb(i)]))),
    ...section(10, vec(opcodes.map((op) => body(op)))),
  ];
  return Uint8Array.from(bytes);
}

// ---- arenas ------------------------------------------------------------------------------

const PAGE = 65536;

/** A kernel memory of its own (exclusive to one reduction at a time) and the kernels over it. */
export interface SimdArena {
  /** The memory's bytes: scratch to read into and combine in. */
  bytes: Uint8Array;
  /** The kernel of (op, dtype) over this memory, or null where the JS loop stays. */
  kernel(op: BuiltinOp, dtype: number): SimdKernel | null;
}

const OPS = [...new Set(OPCODES.flatMap((t) => Object.values(t) as number[]))].sort((a, b) => a - b);
let compiled: object | null | undefined;
const arenas: SimdArena[] = [];

function module(): object | null {
  if (compiled !== undefined) return compiled;
  const code = assemble(OPS);
  compiled = wasm && wasm.validate(code) ? new wasm.Module(code) : null;
  return compiled;
}

/**
 * A kernel arena of at least `bytes` (reused across calls: its pages are touched), or null
 * where WebAssembly SIMD is unavailable. Its memory never grows (growing would detach the
 * views and move the pages that single-copy reads target). Give it back with {@link giveArena}.
 */
export function takeArena(bytes: number): SimdArena | null {
  for (let i = 0; i < arenas.length; i++) if (arenas[i]!.bytes.byteLength >= bytes) return arenas.splice(i, 1)[0]!;
  const mod = module();
  if (!mod || !wasm) return null;
  const pages = Math.max(1, Math.ceil(bytes / PAGE));
  const memory = new wasm.Memory({ initial: pages, maximum: pages });
  const exports = new wasm.Instance(mod, { m: { m: memory } }).exports;
  const view = new Uint8Array(memory.buffer);
  // Touch every page once: the first single-copy read into it must not pay the faults.
  view.fill(0);
  return {
    bytes: view,
    kernel(op, dtype) {
      const code = OPCODES[dtype]?.[op];
      return code === undefined ? null : ((exports[`k${code}`] as SimdKernel | undefined) ?? null);
    },
  };
}

/**
 * `acc ⊕= inp` for `len` bytes at byte offsets `acc` and `inp` of the arena: the SIMD kernel
 * over the whole 64-byte steps, the JS kernel `tail` over the rest (element-aligned offsets).
 */
export function combineIn(arena: SimdArena, simd: SimdKernel, tail: Kernel, dtype: number, acc: number, inp: number, len: number): void {
  const body = len - (len % SIMD_STEP);
  if (body > 0) simd(acc, acc, inp, body);
  if (body < len) {
    const m = arena.bytes;
    tail(typed(dtype, m.subarray(acc + body, acc + len)), typed(dtype, m.subarray(inp + body, inp + len)));
  }
}

export function giveArena(a: SimdArena): void {
  if (arenas.length < 4) arenas.push(a);
}

/** Whether (op, dtype) has a SIMD kernel on this runtime. */
export function hasSimd(op: string, dtype: number): boolean {
  return OPCODES[dtype]?.[op as BuiltinOp] !== undefined && module() !== null;
}
