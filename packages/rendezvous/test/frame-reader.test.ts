// The frame parser on its own: frames cut at every byte boundary, many frames in one chunk,
// payloads streamed to their sinks, the header size cap (checked from the length prefix alone),
// corrupt headers, and reassembly that stays linear when a header trickles in byte by byte.
import { performance } from "node:perf_hooks";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { FrameReader } from "../src/frame-reader.js";
import { encodeFrame, type Frame as WireFrame } from "../src/frames.js";

/** Headers as plain records: the reader's own tests send extra fields and odd frames too. */
type Header = { t: number; [k: string]: unknown };
const encodeHeader = (h: Header) => encodeFrame(h as unknown as WireFrame);
const asHeader = (f: WireFrame) => f as unknown as Header;

interface Frame {
  h: Header;
  payload?: Uint8Array;
}

/** What a reader delivered: each header, and the payload bytes its sink received. */
interface Seen {
  h: Header;
  payload: number[] | null;
  ended: boolean;
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255;
  return b;
}

function streamOf(frames: Frame[]): Buffer {
  return Buffer.concat(frames.flatMap((f) => (f.payload ? [encodeHeader(f.h), f.payload] : [encodeHeader(f.h)])));
}

/** A comparable account of what was delivered: headers, payload bytes (hex), whether each payload ended. */
function account(seen: Seen[]): string {
  return JSON.stringify(seen.map((x) => [x.h, x.payload && Buffer.from(x.payload).toString("hex"), x.ended]));
}

function expected(frames: Frame[]): string {
  return JSON.stringify(frames.map((f) => [f.h, f.payload ? Buffer.from(f.payload).toString("hex") : null, !!f.payload]));
}

function expectDelivered(seen: Seen[], frames: Frame[], where = ""): void {
  const want = expected(frames);
  const got = account(seen);
  if (got !== want) expect(got, where).toBe(want);
}

// Types 1 (eager) carry `n` payload bytes on the socket; the others carry none, even when
// they announce a size (an RTS names bytes the receiver will copy by CMA).
const frames: Frame[] = [
  { h: { t: 10, token: "ab".repeat(16), rank: 1, size: 2, pid: 4242 } },
  { h: { t: 1, c: "w", g: 7, n: 5 }, payload: bytes(5, 1) },
  { h: { t: 1, c: "w", g: 8, n: 0 }, payload: new Uint8Array(0) },
  { h: { t: 3, i: 9 } },
  { h: { t: 1, c: "w", g: 9, n: 300 }, payload: bytes(300, 2) },
  { h: { t: 2, c: "w", g: 1, n: 1 << 20, i: 3, v: [1, 2, 3, 4] } },
  { h: { t: 6, pad: "x".repeat(200) } },
];

function reader(): { reader: FrameReader; seen: Seen[] } {
  const seen: Seen[] = [];
  const r = new FrameReader((f) => {
    const h = asHeader(f);
    if (h.t !== 1) {
      seen.push({ h, payload: null, ended: false });
      return null;
    }
    const s: Seen = { h, payload: [], ended: false };
    seen.push(s);
    return { write: (c) => s.payload!.push(...c), end: () => (s.ended = true) };
  });
  return { reader: r, seen };
}

describe("FrameReader", () => {
  const stream = streamOf(frames);

  it("reassembles frames cut at every byte boundary", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { reader: r, seen } = reader();
      r.push(stream.subarray(0, cut));
      r.push(stream.subarray(cut));
      expectDelivered(seen, frames, `cut at ${cut}`);
    }
  });

  it("reassembles frames cut at every pair of byte boundaries", () => {
    // Short frames, so that a cut lands in a prefix, a header and a payload in every combination.
    const short: Frame[] = [
      { h: { t: 1, c: "w", g: 7, n: 5 }, payload: bytes(5, 3) },
      { h: { t: 3, i: 9 } },
      { h: { t: 1, c: "w", g: 8, n: 0 }, payload: new Uint8Array(0) },
      { h: { t: 1, c: "w", g: 9, n: 3 }, payload: bytes(3, 4) },
      { h: { t: 2, c: "w", g: 0, i: 1, n: 1 << 20, v: [1, 2] } },
    ];
    const s = streamOf(short);
    for (let a = 0; a <= s.length; a++) {
      for (let b = a; b <= s.length; b++) {
        const { reader: r, seen } = reader();
        r.push(s.subarray(0, a));
        r.push(s.subarray(a, b));
        r.push(s.subarray(b));
        expectDelivered(seen, short, `cut at ${a} and ${b}`);
      }
    }
  });

  it("reassembles a stream delivered one byte per chunk", () => {
    const { reader: r, seen } = reader();
    for (let i = 0; i < stream.length; i++) r.push(stream.subarray(i, i + 1));
    expectDelivered(seen, frames);
  });

  it("parses many frames in one chunk", () => {
    const many: Frame[] = [];
    for (let i = 0; i < 2000; i++) {
      many.push(i % 3 === 0 ? { h: { t: 1, c: "w", g: i, n: i % 17 }, payload: bytes(i % 17, i) } : { h: { t: 3, i } });
    }
    const { reader: r, seen } = reader();
    r.push(streamOf(many));
    expectDelivered(seen, many);
  });

  it("streams a payload that spans many chunks to its sink, in order", () => {
    const payload = bytes(100_000, 5);
    const fs: Frame[] = [{ h: { t: 1, c: "w", g: 0, n: payload.length }, payload }, { h: { t: 3, i: 1 } }];
    const s = streamOf(fs);
    const { reader: r, seen } = reader();
    for (let off = 0; off < s.length; off += 4093) r.push(s.subarray(off, off + 4093));
    expectDelivered(seen, fs);
  });

  it("rejects a header over its cap from the length prefix alone, even split", () => {
    const r = new FrameReader(() => null, { maxHeader: 4096 });
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(16 << 20, 0);
    r.push(prefix.subarray(0, 2));
    expect(() => r.push(prefix.subarray(2))).toThrow(expect.objectContaining({ code: "ERR_FRAME_TOO_LARGE" }));
  });

  it("accepts a header exactly at its cap and applies a raised cap to the next frame", () => {
    const packr = new Packr({ useRecords: false, moreTypes: false });
    // Pad a header until its msgpack body is exactly 4096 bytes.
    let pad = 4096 - packr.pack({ t: 11, rank: 0, pid: 1, pad: "" }).length;
    let h: Header = { t: 11, rank: 0, pid: 1, pad: "y".repeat(pad) };
    while (packr.pack(h).length > 4096) h = { t: 11, rank: 0, pid: 1, pad: "y".repeat(--pad) };
    expect(packr.pack(h).length).toBe(4096);
    const big: Header = { t: 3, i: 2, pad: "z".repeat(10_000) };
    const got: Header[] = [];
    const r = new FrameReader(
      (x) => {
        got.push(asHeader(x));
        if (x.t === 11) r.maxHeader = 1 << 20; // authenticated: larger headers allowed from now on
        return null;
      },
      { maxHeader: 4096 },
    );
    r.push(Buffer.concat([encodeHeader(h), encodeHeader(big)]));
    expect(got).toEqual([h, big]);

    const strict = new FrameReader(() => null, { maxHeader: 4096 });
    expect(() => strict.push(encodeHeader(big))).toThrow(expect.objectContaining({ code: "ERR_FRAME_TOO_LARGE" }));
  });

  it("rejects a header that is not a msgpack map with a numeric type", () => {
    const packr = new Packr({ useRecords: false, moreTypes: false });
    for (const body of [Buffer.from([0xc1]), packr.pack("hello"), packr.pack(null), packr.pack({ x: 1 })]) {
      const frame = Buffer.alloc(4 + body.length);
      frame.writeUInt32LE(body.length, 0);
      body.copy(frame, 4);
      const r = new FrameReader(() => null);
      expect(() => r.push(frame)).toThrow(expect.objectContaining({ code: "ERR_FRAME_CORRUPT" }));
    }
  });

  it("reassembles a header that trickles in byte by byte in linear time", () => {
    // 2 MiB of header in 1-byte chunks: linear reassembly copies each byte once (well under a
    // second); re-concatenating the pending bytes on every chunk copies ~2 TB. Deliver under a
    // budget far above the linear cost, so a loaded machine cannot fail it but the quadratic
    // parser cannot finish (it got through ~270 KiB of a header in 8 s).
    const h: Header = { t: 3, i: 4, pad: "q".repeat(2 << 20) };
    const frame = encodeHeader(h);
    const got: Header[] = [];
    const r = new FrameReader((x) => (got.push(asHeader(x)), null));
    const budgetMs = 8000;
    const t0 = performance.now();
    let i = 0;
    for (; i < frame.length; i++) {
      r.push(frame.subarray(i, i + 1));
      if ((i & 4095) === 0 && performance.now() - t0 > budgetMs) break;
    }
    const ms = performance.now() - t0;
    expect(i, `delivered ${i} of ${frame.length} bytes in ${ms.toFixed(0)} ms`).toBe(frame.length);
    expect(got).toHaveLength(1);
    expect(got[0]!.pad).toBe(h.pad);
  });
});
