// The fast path's pieces on their own: the binary hot frames (round trip, context announcements,
// corrupt records refused with a code) and the byte ring over a real /dev/shm segment (a stream
// that wraps around the end, a full ring, the consumer's sleep re-check).
import { randomBytes } from "node:crypto";
import { createShmSegment, unlinkShmSegment, unmapShmSegment } from "@onecopy/cma";
import { describe, expect, it } from "vitest";
import { BinaryDecoder, BinaryEncoder } from "../src/fastpath/binary-frames.js";
import { FrameRingReader, FrameRingWriter, ringCapacity, ringSegmentBytes } from "../src/fastpath/frame-ring.js";
import { FrameReader } from "../src/frame-reader.js";
import { T, type DataFrame, type Frame } from "../src/frames.js";

/** Encode `frames` with one encoder and parse the bytes back with one reader. */
function roundTrip(frames: DataFrame[]): Frame[] {
  const enc = new BinaryEncoder();
  const seen: Frame[] = [];
  const reader = new FrameReader((f) => (seen.push(f), null), { decode: new BinaryDecoder().decode });
  for (const f of frames) reader.push(Buffer.from(enc.encode(f)));
  return seen;
}

describe("binary hot frames", () => {
  it("decode to the frames that were encoded, contexts announced once", () => {
    const frames: DataFrame[] = [
      { t: T.EAGER, c: "w", g: 7, n: 0 },
      { t: T.EAGER, c: "w|c", g: -3, n: 32768 },
      { t: T.RTS, c: "w.1", g: 2 ** 40, n: 2 ** 33, i: 12, v: [140737488355328, 4096, 8192, 1] },
      { t: T.RTS, c: "w", g: 1, n: 100, i: 2 ** 52 },
      { t: T.FIN, i: 5 },
      { t: T.PULL, i: 6, s: 1 },
      { t: T.PULL, i: 7 },
      { t: T.PUT, i: 8, o: 4096 * 128, v: [140737488355328, 3, 4096, 2 ** 33] },
      { t: T.WROTE, i: 8 },
      { t: T.WROTE, i: 9, e: "EFAULT", m: "process_vm_writev: bad address" },
      { t: T.BYE },
    ];
    expect(roundTrip(frames)).toEqual(frames);
  });

  it("refuses a record naming a context that was never announced, with ERR_FRAME_CORRUPT", () => {
    const a = new BinaryEncoder();
    a.encode({ t: T.EAGER, c: "x", g: 0, n: 0 }); // announces "x" as 0 to a decoder we do not use
    const bytes = Buffer.from(a.encode({ t: T.EAGER, c: "x", g: 0, n: 0 }));
    const reader = new FrameReader(() => null, { decode: new BinaryDecoder().decode });
    expect(() => reader.push(bytes)).toThrow(expect.objectContaining({ code: "ERR_FRAME_CORRUPT" }));
  });

  it("refuses a truncated or unknown record", () => {
    const dec = new BinaryDecoder();
    expect(() => dec.decode(new Uint8Array([1, 0, 0]))).toThrow(expect.objectContaining({ code: "ERR_FRAME_CORRUPT" }));
    expect(() => dec.decode(new Uint8Array([99]))).toThrow(expect.objectContaining({ code: "ERR_FRAME_CORRUPT" }));
  });
});

describe("frame ring", () => {
  it("passes a byte stream that wraps around the end, and stops at a full ring", () => {
    const cap = ringCapacity(1);
    const name = `onecopy-test-ring-${process.pid}`;
    const seg = createShmSegment(name, ringSegmentBytes(cap));
    unlinkShmSegment(name);
    try {
      const w = new FrameRingWriter(seg, cap);
      const r = new FrameRingReader(seg, cap);
      expect(FrameRingReader.validate(seg, cap)).toBeNull();
      const src = randomBytes(cap * 5 + 123);
      const got: Buffer[] = [];
      let off = 0;
      let rounds = 0;
      while (off < src.length) {
        const n = w.write(src.subarray(off, off + 40_000 + (rounds % 7) * 3001));
        off += n;
        const bell = w.publish();
        if (rounds === 0) expect(bell).toBe(true); // the consumer starts asleep: the first publish rings
        else expect(bell).toBe(false); // claimed once (RUNG) until the consumer sleeps again
        const avail = r.available();
        for (const c of r.chunks(avail)) got.push(Buffer.from(c));
        r.release(avail);
        rounds++;
      }
      expect(Buffer.concat(got).equals(src)).toBe(true);
      // Full ring: the writer takes exactly the capacity, then nothing.
      expect(w.write(randomBytes(cap + 10))).toBe(cap);
      expect(w.write(new Uint8Array(1))).toBe(0);
      w.publish();
      expect(r.sleep()).toBe(false); // bytes wait: the consumer must not sleep
      r.release(r.available());
      expect(r.sleep()).toBe(true);
      expect(w.write(new Uint8Array(1))).toBe(1);
      expect(w.publish()).toBe(true); // it sleeps now: ring
    } finally {
      unmapShmSegment(seg);
    }
  });
});
