// User data as byte views: validated once at the API edge, then used for socket writes,
// in-process copies and (through their addresses) single-copy transfers.
import { addressOf, allocBuffer, locatePiece, type BufferLike, type BufferSlice, type PieceSpan } from "@onecopy/cma";

/** What send/recv accept: a buffer, typed array, DataView, `{ buffer, offset?, length? }`, or an array of those (gathered/scattered in order). */
export type MessageData = BufferLike | BufferSlice | ReadonlyArray<BufferLike | BufferSlice>;

/** Validated message data. */
export interface DataViews {
  views: Uint8Array[];
  bytes: number;
}

const NOTHING = new ArrayBuffer(0);

/**
 * Where one piece lives: its backing store and byte range. Module scratch, so that walking a
 * list of thousands of pieces allocates nothing; every walk ends with {@link forget}, so the
 * last buffer seen does not stay reachable from here (it may be gigabytes).
 */
const span: PieceSpan = { ab: NOTHING, start: 0, length: 0 };

function forget(): void {
  span.ab = NOTHING;
}

const OTHER_VALUES = " (use sendObject/recvObject for other values)";

/** A view of piece `index` of message data, checked by the one normaliser. */
function viewOf(item: unknown, index: number, what: string): Uint8Array {
  const s = locatePiece(item, index, what, span, OTHER_VALUES);
  const v = new Uint8Array(s.ab, s.start, s.length);
  forget();
  return v;
}

/** Validate `data` and return its byte views (zero-length pieces dropped). */
export function viewsOf(data: unknown, what: string): DataViews {
  const items = Array.isArray(data) ? data : [data];
  const views: Uint8Array[] = [];
  let bytes = 0;
  for (let i = 0; i < items.length; i++) {
    const v = viewOf(items[i], i, what);
    if (v.byteLength === 0) continue;
    views.push(v);
    bytes += v.byteLength;
  }
  return { views, bytes };
}

const NO_VIEWS: Uint8Array[] = [];

/**
 * The views of message data that is one typed array, Buffer or DataView (the common case: no
 * list to walk, no second check), as {@link viewsOf} would give them; null for anything else.
 * A Uint8Array is used as it is. Do not modify the returned array.
 */
export function soleViews(data: unknown): Uint8Array[] | null {
  if (!ArrayBuffer.isView(data)) return null;
  if (data.byteLength === 0) return NO_VIEWS;
  return [data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)];
}

/** Memory for a receive that takes the message's own size (objects, probe-then-receive). May throw (an impossible size). */
export function allocMessage(bytes: number): Uint8Array {
  // Large ones on populated huge pages: the kernel copies into them at full speed.
  return bytes >= 2 * 1024 * 1024 ? new Uint8Array(allocBuffer(bytes)) : new Uint8Array(bytes);
}

/** Io list ([addr, len, ...]) of the first `bytes` bytes of `views`. */
export function ioListOfViews(views: readonly Uint8Array[], bytes: number): number[] {
  const out: number[] = [];
  let left = bytes;
  for (const v of views) {
    if (left <= 0) break;
    const take = Math.min(v.byteLength, left);
    out.push(addressOf(v), take);
    left -= take;
  }
  return out;
}

/** Views of bytes `offset`… `offset + length` of the concatenation of `views` (subarrays: no copy). */
export function viewsRange(views: readonly Uint8Array[], offset: number, length: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = offset;
  let want = length;
  for (let i = 0; i < views.length && want > 0; i++) {
    const v = views[i]!;
    if (skip >= v.byteLength) {
      skip -= v.byteLength;
      continue;
    }
    const take = Math.min(v.byteLength - skip, want);
    out.push(v.subarray(skip, skip + take));
    want -= take;
    skip = 0;
  }
  return out;
}

/** Copies consecutive chunks into a list of views, in order. */
export class ViewWriter {
  private index = 0;
  private offset = 0;
  written = 0;

  constructor(private views: readonly Uint8Array[]) {}

  /** Start again at the beginning of `views` (a reused writer allocates nothing per message). */
  reset(views: readonly Uint8Array[]): this {
    this.views = views;
    this.index = 0;
    this.offset = 0;
    this.written = 0;
    return this;
  }

  write(chunk: Uint8Array): void {
    let src = 0;
    const n = chunk.byteLength;
    while (src < n) {
      const dst = this.views[this.index]!;
      const take = Math.min(dst.byteLength - this.offset, n - src);
      if (take === n) dst.set(chunk, this.offset); // the whole chunk: no subarray needed
      else if (take <= 64) for (let i = 0; i < take; i++) dst[this.offset + i] = chunk[src + i]!; // tiny pieces: no allocation
      else dst.set(chunk.subarray(src, src + take), this.offset);
      src += take;
      this.offset += take;
      this.written += take;
      if (this.offset === dst.byteLength) {
        this.index++;
        this.offset = 0;
      }
    }
  }
  /** `buf[start, end)`: a small piece within the current view is copied without a subarray. */
  writeRange(buf: Uint8Array, start: number, end: number): void {
    const len = end - start;
    const dst = this.views[this.index];
    if (len <= 64 && dst !== undefined && dst.byteLength - this.offset >= len) {
      const at = this.offset;
      for (let k = 0; k < len; k++) dst[at + k] = buf[start + k]!;
      this.offset += len;
      this.written += len;
      if (this.offset === dst.byteLength) {
        this.index++;
        this.offset = 0;
      }
      return;
    }
    this.write(buf.subarray(start, end));
  }

}

/** Copy all of `src` views into `dst` views (dst must be at least as large). */
export function copyViews(src: readonly Uint8Array[], dst: readonly Uint8Array[]): void {
  const w = new ViewWriter(dst);
  for (const v of src) w.write(v);
}

// ---- lists of tiny pieces: measured, packed and unpacked without building a view per piece ----

/** Resolve piece `item` into `span` (the one normaliser's checks and errors). */
function locate(item: unknown, index: number, what: string): void {
  locatePiece(item, index, what, span, OTHER_VALUES);
}

/** Non-empty pieces and total bytes of message data, validated, without building views. */
export function measure(data: unknown, what: string): { pieces: number; bytes: number } {
  const items = Array.isArray(data) ? data : [data];
  let pieces = 0;
  let bytes = 0;
  try {
    for (let i = 0; i < items.length; i++) {
      locate(items[i], i, what);
      if (span.length > 0) pieces++;
      bytes += span.length;
    }
  } finally {
    forget();
  }
  return { pieces, bytes };
}

const wholes = new WeakMap<ArrayBufferLike, Uint8Array>();
function whole(ab: ArrayBufferLike): Uint8Array {
  let w = wholes.get(ab);
  if (!w) wholes.set(ab, (w = new Uint8Array(ab)));
  return w;
}

/** Copy `length` bytes between two byte arrays; tiny runs without allocating a subarray. */
function move(dst: Uint8Array, at: number, src: Uint8Array, from: number, length: number): void {
  if (length <= 64) for (let k = 0; k < length; k++) dst[at + k] = src[from + k]!;
  else dst.set(src.subarray(from, from + length), at);
}

/** The pieces of `data`, in order, copied into one new buffer of `bytes` bytes. */
export function packPieces(data: unknown, bytes: number, what: string): Uint8Array {
  const out = new Uint8Array(bytes);
  const items = Array.isArray(data) ? data : [data];
  let at = 0;
  try {
    for (let i = 0; i < items.length; i++) {
      locate(items[i], i, what);
      move(out, at, whole(span.ab), span.start, span.length);
      at += span.length;
    }
  } finally {
    forget();
  }
  return out;
}

/** Scatter the first `bytes` bytes of `src` over the pieces of `data`, in order. */
export function unpackPieces(src: Uint8Array, bytes: number, data: unknown, what: string): void {
  const items = Array.isArray(data) ? data : [data];
  let from = 0;
  try {
    for (let i = 0; i < items.length && from < bytes; i++) {
      locate(items[i], i, what);
      const n = Math.min(span.length, bytes - from);
      move(whole(span.ab), span.start, src, from, n);
      from += n;
    }
  } finally {
    forget();
  }
}
