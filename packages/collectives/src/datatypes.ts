// Element types of collective buffers: which typed array a buffer is, its element size, and
// byte views of user buffers. DataView, ArrayBuffer, SharedArrayBuffer and Buffer are bytes.
import { ErrorCode, MessagingError } from "@onecopy/rendezvous";

/** Marks an in-place collective: the data is taken from (and left in) the receive buffer. */
export const IN_PLACE: unique symbol = Symbol.for("onecopy.IN_PLACE") as never;
export type InPlace = typeof IN_PLACE;

/** What collectives accept as a buffer: any typed array, DataView, ArrayBuffer or SharedArrayBuffer. */
export type CollBuffer = ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

type TypedCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** A typed array of any element type (what reduction kernels and user ops receive). */
export type AnyTyped = InstanceType<TypedCtor>;

/** The element types, by their wire code (the index). */
export const DTYPES: ReadonlyArray<{ name: string; ctor: TypedCtor; size: number; kind: "int" | "float" | "bigint" }> = [
  { name: "int8", ctor: Int8Array, size: 1, kind: "int" },
  { name: "uint8", ctor: Uint8Array, size: 1, kind: "int" },
  { name: "uint8clamped", ctor: Uint8ClampedArray, size: 1, kind: "int" },
  { name: "int16", ctor: Int16Array, size: 2, kind: "int" },
  { name: "uint16", ctor: Uint16Array, size: 2, kind: "int" },
  { name: "int32", ctor: Int32Array, size: 4, kind: "int" },
  { name: "uint32", ctor: Uint32Array, size: 4, kind: "int" },
  { name: "float32", ctor: Float32Array, size: 4, kind: "float" },
  { name: "float64", ctor: Float64Array, size: 8, kind: "float" },
  { name: "bigint64", ctor: BigInt64Array, size: 8, kind: "bigint" },
  { name: "biguint64", ctor: BigUint64Array, size: 8, kind: "bigint" },
];
const UINT8 = 1;

/** A validated user buffer: its bytes, element type and element count. */
export interface Data {
  bytes: Uint8Array;
  dtype: number;
  /** Element size in bytes. */
  size: number;
  /** Elements. */
  count: number;
}

/** The element type of each built-in typed-array class, by its prototype (one lookup per call). */
const BY_PROTO = new Map<object, number>(DTYPES.map((d, i) => [d.ctor.prototype, i]));

function dtypeOf(x: ArrayBufferView): number {
  const direct = BY_PROTO.get(Object.getPrototypeOf(x) as object);
  if (direct !== undefined) return direct;
  if (x instanceof DataView) return UINT8;
  // Subclasses (Buffer is a Uint8Array): their prototype chain, through instanceof.
  for (let i = 0; i < DTYPES.length; i++) if (x instanceof DTYPES[i]!.ctor) return i;
  return UINT8;
}

export function argError(what: string, message: string): MessagingError {
  return new MessagingError(ErrorCode.INVALID_ARG, `${what}: ${message}`);
}

export function bufError(what: string, message: string): MessagingError {
  return new MessagingError(ErrorCode.INVALID_BUFFER, `${what}: ${message}`);
}

/** Validate a buffer argument and describe it. */
export function dataOf(x: unknown, what: string): Data {
  if (ArrayBuffer.isView(x)) {
    const dtype = dtypeOf(x);
    const size = DTYPES[dtype]!.size;
    return { bytes: new Uint8Array(x.buffer, x.byteOffset, x.byteLength), dtype, size, count: x.byteLength / size };
  }
  if (x instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && x instanceof SharedArrayBuffer)) {
    return { bytes: new Uint8Array(x), dtype: UINT8, size: 1, count: x.byteLength };
  }
  const got = x === null ? "null" : x === undefined ? "undefined" : typeof x === "symbol" ? "IN_PLACE" : typeof x === "object" ? `a ${(x as object).constructor?.name ?? "object"}` : `a ${typeof x}`;
  throw bufError(what, `got ${got}; pass a typed array, Buffer, DataView or ArrayBuffer${typeof x === "symbol" ? " (IN_PLACE is not allowed here)" : ""}`);
}

/** A typed array of element type `dtype` over `bytes` (which must be aligned to the element size). */
export function typed(dtype: number, bytes: Uint8Array): AnyTyped {
  const d = DTYPES[dtype]!;
  return new d.ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / d.size);
}

export function dtypeName(dtype: number): string {
  return DTYPES[dtype]?.name ?? `type #${dtype}`;
}

/** Validate an array of per-rank counts or displacements (non-negative integers, one per rank). */
export function intList(x: unknown, n: number, what: string): number[] {
  if (!Array.isArray(x) && !(ArrayBuffer.isView(x) && !(x instanceof DataView))) {
    throw argError(what, `must be an array of ${n} non-negative integers (one per rank)`);
  }
  const a = Array.from(x as ArrayLike<number>, Number);
  if (a.length !== n) throw argError(what, `has ${a.length} entries; it needs one per rank (${n})`);
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (!Number.isSafeInteger(v) || v < 0) throw argError(what, `entry ${i} is ${String(v)}; entries must be non-negative integers`);
  }
  return a;
}

/** Validate a root rank. */
export function checkRoot(root: unknown, n: number, what: string): number {
  if (typeof root !== "number" || !Number.isInteger(root) || root < 0 || root >= n) {
    throw new MessagingError(ErrorCode.INVALID_RANK, `${what}: root ${String(root)} is not a rank of this communicator (valid: 0 … ${n - 1})`);
  }
  return root;
}
