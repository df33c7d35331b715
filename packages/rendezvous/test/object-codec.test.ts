// The object codec in-process: values round-trip, large typed arrays are cut out as blobs (the
// user's value untouched), shared references and cycles survive, and blobs land where they were.
import { describe, expect, it } from "vitest";
import { decodeObject, encodeObject } from "../src/object-codec.js";

function roundTrip<T>(value: T, threshold = Infinity): { value: T; blobs: ArrayBufferView[]; sent: ArrayBufferView[] } {
  const enc = encodeObject(value, threshold);
  const dec = decodeObject(enc.bytes);
  // What the gathered blob message does: copy each sent blob's bytes into the receiving array.
  dec.blobs.forEach((b, i) => {
    const s = enc.blobs[i]!;
    new Uint8Array(b.buffer, b.byteOffset, b.byteLength).set(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
  });
  return { value: dec.value as T, blobs: dec.blobs, sent: enc.blobs };
}

describe("object codec", () => {
  it("round-trips plain values, Maps, Sets, Dates, BigInts and small typed arrays", () => {
    const v = {
      n: 1.5,
      s: "é",
      big: 2n ** 70n,
      when: new Date(86_400_000),
      m: new Map<unknown, unknown>([[1, "a"], ["k", [1, 2]]]),
      set: new Set([1, "x"]),
      f: new Float32Array([1, 2, 3]),
      nested: { deep: [null, true, { z: -1.25 }] },
    };
    const { value, sent } = roundTrip(v);
    expect(sent).toEqual([]);
    expect(value).toEqual(v);
    expect(value.m).toBeInstanceOf(Map);
    expect(value.f).toBeInstanceOf(Float32Array);
  });

  it("keeps plain objects apart from Maps with the same keys", () => {
    const { value } = roundTrip({ a: { x: 1 }, b: new Map([["x", 1]]) });
    expect(value.a).not.toBeInstanceOf(Map);
    expect(value.b).toBeInstanceOf(Map);
  });

  it("cuts typed arrays at or above the threshold out as blobs and puts them back in place", () => {
    const big = new Float64Array(4096).map((_, i) => i * 0.5);
    const small = new Int16Array([7, 8]);
    const v = { layer: { w: big, b: small }, list: [big], tag: "step" };
    const { value, blobs, sent } = roundTrip(v, 1024);
    expect(sent).toEqual([big]); // one blob, referenced twice
    expect(blobs).toHaveLength(1);
    expect(value.layer.w).toBeInstanceOf(Float64Array);
    expect(Array.from(value.layer.w)).toEqual(Array.from(big));
    expect(value.list[0]).toBe(value.layer.w); // the shared reference survives
    expect(Array.from(value.layer.b)).toEqual([7, 8]);
    expect(v.layer.w).toBe(big); // the user's value is not modified by cutting
  });

  it("survives cycles in the value, with and without blobs", () => {
    const a: { self?: unknown; data: Uint8Array } = { data: new Uint8Array(2048).fill(9) };
    a.self = a;
    for (const threshold of [Infinity, 1024]) {
      const { value } = roundTrip(a, threshold);
      expect(value.self).toBe(value);
      expect(value.data[2047]).toBe(9);
    }
  });

  it("allocates each blob through the caller's allocator, with the sent element type and length", () => {
    const enc = encodeObject({ x: new BigInt64Array(512) }, 1024);
    const sizes: number[] = [];
    const dec = decodeObject(enc.bytes, (n) => (sizes.push(n), new ArrayBuffer(n)));
    expect(sizes).toEqual([4096]);
    expect(dec.blobs[0]).toBeInstanceOf(BigInt64Array);
    expect((dec.blobs[0] as BigInt64Array).length).toBe(512);
  });
});
