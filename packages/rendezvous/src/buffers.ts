// User data as byte views: validated once at the API edge, then used for socket writes,
// in-process copies and (through their addresses) single-copy transfers.
import { addressOf, isBufferLike, type BufferLike, type BufferSlice } from "@onecopy/cma";
import { ErrorCode, MessagingError } from "./errors.js";

/** What send/recv accept: a buffer, typed array, DataView, `{ buffer, offset?, length? }`, or an array of those (gathered/scattered in order). */
export type MessageData = BufferLike | BufferSlice | ReadonlyArray<BufferLike | BufferSlice>;

/** Validated message data. */
export interface DataViews {
  views: Uint8Array[];
  bytes: number;
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (x === undefined) return "undefined";
  if (typeof x === "object") return `a ${(x as object).constructor?.name ?? "object"}`;
  return `a ${typeof x}`;
}

function viewOf(item: unknown, index: number, what: string): Uint8Array {
  if (ArrayBuffer.isView(item)) return new Uint8Array(item.buffer, item.byteOffset, item.byteLength);
  if (isBufferLike(item)) return new Uint8Array(item as ArrayBuffer);
  if (item !== null && typeof item === "object" && isBufferLike((item as BufferSlice).buffer)) {
    const s = item as BufferSlice;
    // One view per slice, straight onto the backing store (lists can hold thousands of slices).
    const b = s.buffer;
    const isView = ArrayBuffer.isView(b);
    const start = isView ? b.byteOffset : 0;
    const size = b.byteLength;
    const offset = s.offset ?? 0;
    const length = s.length ?? size - offset;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new MessagingError(
        ErrorCode.INVALID_BUFFER,
        `${what}: piece ${index} asks for ${length} bytes at offset ${offset} of a ${size}-byte buffer`,
      );
    }
    return new Uint8Array(isView ? b.buffer : (b as ArrayBuffer), start + offset, length);
  }
  throw new MessagingError(
    ErrorCode.INVALID_BUFFER,
    `${what}: got ${describe(item)}; pass an ArrayBuffer, SharedArrayBuffer, typed array, Buffer, DataView, { buffer, offset, length } or an array of those (use sendObject/recvObject for other values)`,
  );
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

/** Copies consecutive chunks into a list of views, in order. */
export class ViewWriter {
  private index = 0;
  private offset = 0;
  written = 0;

  constructor(private readonly views: readonly Uint8Array[]) {}

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
}

/** Copy all of `src` views into `dst` views (dst must be at least as large). */
export function copyViews(src: readonly Uint8Array[], dst: readonly Uint8Array[]): void {
  const w = new ViewWriter(dst);
  for (const v of src) w.write(v);
}
