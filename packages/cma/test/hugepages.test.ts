// allocBuffer(): zero-filled, 2 MiB-aligned, THP-backed buffers that peers can copy to and from.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe as group, expect, it } from "vitest";
import { addressOf, allocBuffer, bufferBacking, describe, readSync, transparentHugePages, writeSync } from "../src/index.js";
import { fillPattern, hashPieces } from "./fixtures/pattern.js";
import { closeAll, startPeer, type Peer } from "./peer.js";

const code = (c: string) => expect.objectContaining({ code: c });

const MiB = 1024 * 1024;
const HUGE = 2 * MiB;
const thp = transparentHugePages();
const thpOn = thp !== null && thp !== "never";

/** AnonHugePages (kB) of the mapping that contains `addr`, from /proc/self/smaps. */
function anonHugeKb(addr: number): number | null {
  const lines = readFileSync("/proc/self/smaps", "utf8").split("\n");
  let inside = false;
  for (const line of lines) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) {
      inside = addr >= parseInt(m[1]!, 16) && addr < parseInt(m[2]!, 16);
      continue;
    }
    if (inside && line.startsWith("AnonHugePages:")) return Number(/(\d+)/.exec(line)![1]);
  }
  return null;
}

function allZero(u8: Uint8Array): boolean {
  const w = new Uint32Array(u8.buffer, u8.byteOffset, u8.byteLength >>> 2);
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) return false;
  for (let i = w.length * 4; i < u8.byteLength; i++) if (u8[i] !== 0) return false;
  return true;
}

group("allocBuffer in this process", () => {
  it("returns a zero-filled, writable ArrayBuffer of the requested size", () => {
    const bytes = 5 * MiB + 123;
    const ab = allocBuffer(bytes);
    expect(ab).toBeInstanceOf(ArrayBuffer);
    expect(ab.byteLength).toBe(bytes);
    const u8 = new Uint8Array(ab);
    expect(allZero(u8)).toBe(true);
    fillPattern(u8, 5);
    const ref = new Uint8Array(bytes);
    fillPattern(ref, 5);
    expect(hashPieces([u8])).toBe(hashPieces([ref]));
    expect(u8[bytes - 1]).toBe(ref[bytes - 1]);
  });

  it(`is backed by huge pages, 2 MiB aligned, when THP is not [never] (here: ${thp})`, () => {
    const ab = allocBuffer(8 * MiB);
    const backing = bufferBacking(ab);
    expect(backing).not.toBeNull();
    expect(backing!.populated).toBe(true);
    if (!thpOn) {
      expect(backing!.kind).toBe("heap");
      return;
    }
    expect(backing!.kind).toBe("hugepages");
    const addr = addressOf(ab);
    expect(addr % HUGE).toBe(0);
    // The kernel actually gave huge pages (populated up front, so they are there now).
    expect(anonHugeKb(addr)).toBeGreaterThanOrEqual(2048);
    // bufferBacking also answers for views of the buffer.
    expect(bufferBacking(new Uint8Array(ab, 10))).toEqual(backing);
  });

  it("honours hugePages:false and populate:false", () => {
    const plain = allocBuffer(3 * MiB, { hugePages: false });
    expect(bufferBacking(plain)).toEqual({ kind: "heap", populated: true });
    const lazy = allocBuffer(3 * MiB, { populate: false });
    expect(bufferBacking(lazy)!.populated).toBe(false);
    expect(allZero(new Uint8Array(lazy))).toBe(true);
  });

  it("allocBuffer(0) works; bad sizes are RangeErrors; foreign buffers have no backing info", () => {
    const z = allocBuffer(0);
    expect(z).toBeInstanceOf(ArrayBuffer);
    expect(z.byteLength).toBe(0);
    expect(bufferBacking(z)!.kind).toBe("heap");
    expect(describe(z)).toEqual({ pid: process.pid, iov: [], bytes: 0 });
    for (const bad of [-1, 1.5, NaN, "8"]) expect(() => allocBuffer(bad as number)).toThrow(code("ERR_INVALID_ARG"));
    expect(bufferBacking(new ArrayBuffer(8))).toBeNull();
  });
});

group("allocBuffer across processes", () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer();
  });
  afterAll(async () => {
    await closeAll([peer]);
  });

  it("a huge-page buffer allocated in the peer is readable here via its descriptor", async () => {
    const bytes = 6 * MiB + 7;
    const r = await peer.call("alloc", { name: "h", bytes, seed: 81, kind: "huge" });
    expect(r.backing.kind).toBe(thpOn ? "hugepages" : "heap");
    if (thpOn) expect(r.base % HUGE).toBe(0);
    expect(r.iov).toEqual([r.base, bytes]);
    const local = new Uint8Array(allocBuffer(bytes)); // huge pages on this side too
    expect(readSync(peer.pid, local, r.iov)).toBe(bytes);
    expect(hashPieces([local])).toBe(r.hash);
  });

  it("the peer reads a huge-page buffer of this process, and this process writes into the peer's", async () => {
    const bytes = 4 * MiB;
    const mine = new Uint8Array(allocBuffer(bytes));
    fillPattern(mine, 82);
    const d = describe(mine);
    expect(d.bytes).toBe(bytes);
    const got = await peer.call("read", { pid: process.pid, iov: d.iov, bytes });
    expect(got).toEqual({ moved: bytes, hash: hashPieces([mine]) });

    const r = await peer.call("alloc", { name: "w", bytes, seed: null, kind: "huge" });
    expect(writeSync(peer.pid, mine, r.iov)).toBe(bytes);
    expect((await peer.call("hash", { name: "w" })).hash).toBe(hashPieces([mine]));
  });
});
