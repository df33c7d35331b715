// Encoding of values for sendObject/recvObject. Large typed arrays inside a value are not
// encoded: they are cut out (the "blobs"), replaced by references, and sent as one gathered
// message of their own, so they travel like any large buffer — with a single copy.
import { addExtension, Packr } from "msgpackr";
import { ErrorCode, OnecopyError } from "@onecopy/cma";

/** Stands for the i-th blob inside an encoded skeleton. */
class BlobRef {
  constructor(readonly i: number) {}
}
addExtension({ Class: BlobRef, type: 0x4f, write: (r: BlobRef) => r.i, read: (i: number) => new BlobRef(i) });

// Records keep plain objects apart from Maps (msgpack has one map type); every message carries
// its own record definitions, so no state is shared between sender and receiver.
// structuredClone: cycles and shared references survive; moreTypes: typed arrays keep their type.
const OPTIONS = { structuredClone: true, moreTypes: true, mapsAsObjects: false } as const;
const encoder = new Packr(OPTIONS);
const decoder = new Packr(OPTIONS);

/** A blob's element type and length, so the receiver can allocate it before the bytes arrive. */
export type BlobSpec = [type: string, length: number];

export interface EncodedObject {
  bytes: Uint8Array;
  blobs: ArrayBufferView[];
}

const TYPED: Record<string, new (n: number) => ArrayBufferView> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

function isContainer(v: unknown): v is object {
  if (v === null || typeof v !== "object") return false;
  if (Array.isArray(v) || v instanceof Map || v instanceof Set) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function isBlob(v: unknown, threshold: number): v is ArrayBufferView {
  return ArrayBuffer.isView(v) && !(v instanceof DataView) && v.byteLength >= threshold && v.constructor.name in TYPED && !Buffer.isBuffer(v);
}

function hasBlob(v: unknown, threshold: number, seen: Set<object>): boolean {
  if (isBlob(v, threshold)) return true;
  if (!isContainer(v) || seen.has(v)) return false;
  seen.add(v);
  const items = v instanceof Map ? [...v.keys(), ...v.values()] : v instanceof Set ? [...v] : Array.isArray(v) ? v : Object.values(v);
  return items.some((x) => hasBlob(x, threshold, seen));
}

/** A copy of the containers of `v` with blobs replaced by references (the user's value is untouched). */
function cut(v: unknown, threshold: number, blobs: ArrayBufferView[], copies: Map<object, unknown>): unknown {
  if (isBlob(v, threshold)) {
    const at = blobs.indexOf(v);
    return new BlobRef(at >= 0 ? at : blobs.push(v) - 1);
  }
  if (!isContainer(v)) return v;
  const done = copies.get(v);
  if (done !== undefined) return done;
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    copies.set(v, out);
    for (const x of v) out.push(cut(x, threshold, blobs, copies));
    return out;
  }
  if (v instanceof Map) {
    const out = new Map();
    copies.set(v, out);
    for (const [k, x] of v) out.set(cut(k, threshold, blobs, copies), cut(x, threshold, blobs, copies));
    return out;
  }
  if (v instanceof Set) {
    const out = new Set();
    copies.set(v, out);
    for (const x of v) out.add(cut(x, threshold, blobs, copies));
    return out;
  }
  const out: Record<string, unknown> = Object.getPrototypeOf(v) === null ? Object.create(null) : {};
  copies.set(v, out);
  for (const [k, x] of Object.entries(v)) out[k] = cut(x, threshold, blobs, copies);
  return out;
}

/** Encode `value`; typed arrays of at least `threshold` bytes come back as blobs. */
export function encodeObject(value: unknown, threshold = Infinity): EncodedObject {
  if (threshold === Infinity || !hasBlob(value, threshold, new Set())) {
    return { bytes: encoder.pack({ v: value }), blobs: [] };
  }
  const blobs: ArrayBufferView[] = [];
  const skeleton = cut(value, threshold, blobs, new Map());
  const specs: BlobSpec[] = blobs.map((b) => [b.constructor.name, (b as unknown as { length: number }).length]);
  return { bytes: encoder.pack({ v: skeleton, b: specs }), blobs };
}

export interface DecodedSkeleton {
  value: unknown;
  /** Arrays to receive the blobs into (empty when there are none); call `fill` once they hold the bytes. */
  blobs: ArrayBufferView[];
}

/** Decode a skeleton; `alloc(bytes)` provides the memory for each blob. */
export function decodeObject(bytes: Uint8Array, alloc: (bytes: number) => ArrayBuffer = (n) => new ArrayBuffer(n)): DecodedSkeleton {
  const msg = decoder.unpack(bytes) as { v: unknown; b?: BlobSpec[] };
  if (!msg.b?.length) return { value: msg.v, blobs: [] };
  const blobs = msg.b.map(([type, length]) => {
    const Ctor = TYPED[type] as unknown as { new (b: ArrayBuffer, o: number, n: number): ArrayBufferView; BYTES_PER_ELEMENT: number };
    if (!Ctor) throw new OnecopyError(ErrorCode.PROTOCOL, `unknown typed array type ${type} in a received object`);
    return new Ctor(alloc(length * Ctor.BYTES_PER_ELEMENT), 0, length);
  });
  return { value: patch(msg.v, blobs, new Set()), blobs };
}

/** Whether a skeleton announces blobs (a second message with their bytes follows it). False if it does not decode. */
export function announcesBlobs(bytes: Uint8Array): boolean {
  try {
    return ((decoder.unpack(bytes) as { b?: BlobSpec[] }).b?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

/** Replace references by the blobs, in place (the decoded value is ours). */
function patch(v: unknown, blobs: ArrayBufferView[], seen: Set<object>): unknown {
  if (v instanceof BlobRef) return blobs[v.i];
  if (!isContainer(v) || seen.has(v)) return v;
  seen.add(v);
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) v[i] = patch(v[i], blobs, seen);
  else if (v instanceof Map) {
    for (const [k, x] of [...v]) {
      const nk = patch(k, blobs, seen);
      if (nk !== k) v.delete(k);
      v.set(nk, patch(x, blobs, seen));
    }
  } else if (v instanceof Set) {
    for (const x of [...v]) {
      const nx = patch(x, blobs, seen);
      if (nx !== x) {
        v.delete(x);
        v.add(nx);
      }
    }
  } else for (const k of Object.keys(v)) (v as Record<string, unknown>)[k] = patch((v as Record<string, unknown>)[k], blobs, seen);
  return v;
}
