// Address/length lists ("io lists") on the JS side: a flat array [addr0, len0, addr1, len1, ...]
// of plain numbers. User-space addresses on 64-bit Linux are below 2^47, so they are exact as
// doubles; this keeps BigInt allocation out of the hot path and makes lists serialize anywhere.
import { libc } from "./libc.js";
import { CmaError, ErrorCode, invalid } from "./errors.js";

/** Memory onecopy can name by address. */
export type BufferLike = ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

/** A part of a buffer: `length` bytes from `offset` (both default to the whole buffer). */
export interface BufferSlice {
  buffer: BufferLike;
  offset?: number;
  length?: number;
}

/** One or more buffers, or slices of them, making up one logical byte range in order. */
export type LocalData = BufferLike | BufferSlice | ReadonlyArray<BufferLike | BufferSlice>;

/** Flat address/length pairs: `[addr0, len0, addr1, len1, ...]`. */
export type IoList = ReadonlyArray<number> | Float64Array;

/** True for the buffer kinds onecopy accepts. */
export function isBufferLike(x: unknown): x is BufferLike {
  return ArrayBuffer.isView(x) || x instanceof ArrayBuffer || isSharedArrayBuffer(x);
}

function isSharedArrayBuffer(x: unknown): x is SharedArrayBuffer {
  return typeof SharedArrayBuffer !== "undefined" && x instanceof SharedArrayBuffer;
}

function describeValue(x: unknown): string {
  if (x === null) return "null";
  if (x === undefined) return "undefined";
  if (typeof x === "object") return `a ${(x as object).constructor?.name ?? "object"}`;
  return `a ${typeof x}`;
}

/** Byte length of a buffer-like. */
export function byteLengthOf(buf: BufferLike): number {
  return buf.byteLength;
}

/**
 * The address of the first byte of `buf`'s memory as a number.
 *
 * Asking for the address pins a small on-heap typed array off-heap for good, so the address
 * stays valid while `buf` (or its ArrayBuffer) is reachable. Callers that hand the address to
 * another process must keep a strong reference to `buf` until that process is done with it.
 */
export function addressOf(buf: BufferLike): number {
  if (ArrayBuffer.isView(buf)) {
    if (buf.byteLength === 0) return 0;
    return baseAddress(buf.buffer) + buf.byteOffset;
  }
  return buf.byteLength === 0 ? 0 : baseAddress(buf);
}

// An ArrayBuffer's backing store never moves once it is off the V8 heap, and taking its address
// (or a view's `.buffer`) puts it there for good; so one koffi.address call per buffer serves
// every later view into it (≈ 0.64 µs saved per piece of an io list).
const bases = new WeakMap<ArrayBufferLike, number>();

function baseAddress(ab: ArrayBufferLike): number {
  let base = bases.get(ab);
  if (base === undefined) {
    const lib = libc();
    if (!lib) throw new CmaError(ErrorCode.CMA_UNSUPPORTED, "buffer addresses need koffi on Linux");
    // koffi.address refuses a bare SharedArrayBuffer; a view over it has the same address.
    base = Number(lib.koffi.address(isSharedArrayBuffer(ab) ? new Uint8Array(ab) : ab));
    bases.set(ab, base);
  }
  return base;
}

/** Where one piece of local data lives: its backing store and a byte range of it. */
export interface PieceSpan {
  ab: ArrayBufferLike;
  start: number;
  length: number;
}

/**
 * The one buffer normaliser of onecopy: check piece `index` of some data (a buffer, typed array,
 * DataView, or `{ buffer, offset?, length? }`) and write where it lives into `out` (no view is
 * made, so lists of thousands of pieces cost no allocation). `what` names the argument in the
 * error; `hint` ends it (e.g. where to go for other values).
 * @throws OnecopyError ERR_INVALID_BUFFER
 */
export function locatePiece(item: unknown, index: number, what: string, out: PieceSpan, hint = ""): PieceSpan {
  if (ArrayBuffer.isView(item)) {
    out.ab = item.buffer;
    out.start = item.byteOffset;
    out.length = item.byteLength;
    return out;
  }
  if (item instanceof ArrayBuffer || isSharedArrayBuffer(item)) {
    out.ab = item;
    out.start = 0;
    out.length = item.byteLength;
    return out;
  }
  const b = item !== null && typeof item === "object" ? (item as BufferSlice).buffer : undefined;
  if (!isBufferLike(b)) {
    throw invalid(
      ErrorCode.INVALID_BUFFER,
      `${what}: piece ${index} is ${describeValue(item)}; pass an ArrayBuffer, SharedArrayBuffer, typed array, Buffer, DataView, { buffer, offset, length } or an array of those${hint}`,
    );
  }
  const s = item as BufferSlice;
  const size = b.byteLength;
  const offset = s.offset ?? 0;
  const length = s.length ?? size - offset;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw invalid(ErrorCode.INVALID_BUFFER, `${what}: piece ${index} asks for ${String(length)} bytes at offset ${String(offset)} of a ${size}-byte buffer`);
  }
  const isView = ArrayBuffer.isView(b);
  out.ab = isView ? b.buffer : (b as ArrayBufferLike);
  out.start = (isView ? b.byteOffset : 0) + offset;
  out.length = length;
  return out;
}

const NOTHING = new ArrayBuffer(0);
/** Scratch for the loops below; emptied after each, so it never keeps a caller's buffer reachable. */
const scratch: PieceSpan = { ab: NOTHING, start: 0, length: 0 };

/** Normalise `data` to a list of its pieces (buffers or slices), validating every one. */
export function piecesOf(data: LocalData): Array<BufferLike | BufferSlice> {
  if (Array.isArray(data)) return data as Array<BufferLike | BufferSlice>;
  return [data as BufferLike | BufferSlice];
}

/** The io list of local data: validates every piece and takes its address. */
export function ioListOf(data: LocalData): number[] {
  const pieces = piecesOf(data);
  const out: number[] = [];
  try {
    for (let i = 0; i < pieces.length; i++) {
      const { ab, start, length } = locatePiece(pieces[i], i, "local data", scratch);
      if (length === 0) continue;
      out.push(baseAddress(ab) + start, length);
    }
  } finally {
    scratch.ab = NOTHING;
  }
  return out;
}

/** Total bytes of local data, validating every piece. */
export function totalBytesOf(data: LocalData): number {
  const pieces = piecesOf(data);
  let total = 0;
  try {
    for (let i = 0; i < pieces.length; i++) total += locatePiece(pieces[i], i, "local data", scratch).length;
  } finally {
    scratch.ab = NOTHING;
  }
  return total;
}

/** Sum of the lengths of an io list; throws `RangeError`/`TypeError` for a malformed list. */
export function ioListBytes(list: IoList, side = "io list"): number {
  if (!Array.isArray(list) && !(list instanceof Float64Array)) {
    throw invalid(ErrorCode.INVALID_IOLIST, `${side} must be an array of [address, length, ...] numbers, got ${describeValue(list)}`);
  }
  if (list.length % 2 !== 0) throw invalid(ErrorCode.INVALID_IOLIST, `${side} has an odd number of entries (${list.length}); expected address/length pairs`);
  let total = 0;
  for (let i = 0; i < list.length; i += 2) {
    const addr = list[i]!;
    const len = list[i + 1]!;
    if (!Number.isSafeInteger(addr) || addr < 0) throw invalid(ErrorCode.INVALID_IOLIST, `${side} piece ${i / 2}: address ${addr} is not a non-negative integer`);
    if (!Number.isSafeInteger(len) || len < 0) throw invalid(ErrorCode.INVALID_IOLIST, `${side} piece ${i / 2}: length ${len} is not a non-negative integer`);
    total += len;
  }
  if (!Number.isSafeInteger(total)) throw invalid(ErrorCode.INVALID_IOLIST, `${side} totals more bytes than can be counted exactly`);
  return total;
}

/** The sub-list covering `length` bytes starting `offset` bytes into `list`. */
export function sliceIoList(list: IoList, offset: number, length: number): number[] {
  const out: number[] = [];
  let skip = offset;
  let want = length;
  for (let i = 0; i < list.length && want > 0; i += 2) {
    const len = list[i + 1]!;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    const take = Math.min(len - skip, want);
    out.push(list[i]! + skip, take);
    want -= take;
    skip = 0;
  }
  if (want > 0) throw invalid(ErrorCode.INVALID_IOLIST, `io list has fewer than ${offset + length} bytes`);
  return out;
}
