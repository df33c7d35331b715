// Frames: every kind round-trips through its encoding, and a header whose fields do not check
// out is refused with ERR_FRAME_CORRUPT before any handler trusts it.
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { decodeFrame, encodeFrame, payloadBytes, SHM_OP, T, type Frame } from "../src/frames.js";

const body = (f: Buffer) => f.subarray(4, 4 + f.readUInt32LE(0));
const raw = (h: unknown) => new Packr({ useRecords: false, moreTypes: false }).pack(h);
const corrupt = expect.objectContaining({ code: "ERR_FRAME_CORRUPT" });

describe("frames", () => {
  const all: Frame[] = [
    { t: T.HELLO, token: "ab".repeat(16), rank: 3, size: 4, pid: 1234, probe: null },
    { t: T.WELCOME, rank: 0, pid: 99, probe: null },
    { t: T.REJECT, code: "REJECT_TOKEN", reason: "wrong token" },
    { t: T.PROBED, ok: true },
    { t: T.EAGER, c: "w.1", g: 7, n: 5 },
    { t: T.RTS, c: "w|c", g: 0, n: 1 << 26, i: 12, v: [140000000000, 4096, 140000008192, 100] },
    { t: T.RTS, c: "w", g: 3, n: 40000, i: 13 },
    { t: T.FIN, i: 12 },
    { t: T.PULL, i: 13, s: 1 },
    { t: T.DATA, i: 13, n: 40000 },
    { t: T.PUT, i: 12, o: 4096, v: [140000000000, 4096] },
    { t: T.WROTE, i: 12, e: "EPERM", m: "no" },
    { t: T.BYE },
    { t: T.SHM, o: SHM_OP.MAP, p: "oc-abc-0-1", k: 8, z: 131072 },
    { t: T.SHM, o: SHM_OP.MAPPED, ok: false, r: "ENOSPC" },
    { t: T.SHM, o: SHM_OP.BELL },
  ];

  it("round-trips every kind of frame", () => {
    for (const f of all) expect(decodeFrame(body(encodeFrame(f)))).toEqual(f);
  });

  it("says which frames carry payload bytes on the socket", () => {
    expect(all.map(payloadBytes)).toEqual([0, 0, 0, 0, 5, 0, 0, 0, 0, 40000, 0, 0, 0, 0, 0, 0]);
  });

  it("refuses headers whose fields are missing or of the wrong kind", () => {
    const bad = [
      { t: T.EAGER, c: "w", g: 1 }, // no n
      { t: T.EAGER, c: 1, g: 1, n: 1 },
      { t: T.EAGER, c: "w", g: 1, n: -1 },
      { t: T.RTS, c: "w", g: 1, n: 10 }, // no id
      { t: T.RTS, c: "w", g: 1, n: 10, i: 1, v: [1, 2, 3] }, // odd descriptor
      { t: T.RTS, c: "w", g: 1, n: 10, i: 1, v: [1, -2] },
      { t: T.FIN },
      { t: T.PULL, i: 1, s: 3 },
      { t: T.DATA, i: 1 },
      { t: T.PUT, i: 1, o: 0 }, // no descriptor
      { t: T.WROTE, i: 1, e: 5 },
      { t: T.SHM, o: 9 },
      { t: T.HELLO, token: "x", rank: 1, size: 2 }, // no pid
      { t: 99 },
      { x: 1 },
    ];
    for (const h of bad) expect(() => decodeFrame(raw(h)), JSON.stringify(h)).toThrow(corrupt);
    expect(() => decodeFrame(new Uint8Array([0xc1]))).toThrow(corrupt); // not msgpack
  });
});
