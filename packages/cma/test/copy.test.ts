// readv/writev between the vitest worker and a real peer process, checked by sha256.
import { describe as group, expect, it } from "vitest";
import { IOV_MAX, MAX_BYTES_PER_CALL, allocBuffer, readSync, transferSync, writeSync, ioListOf } from "../src/index.js";
import { fillPattern, hashPieces, split } from "./fixtures/pattern.js";
import { filePeer } from "./peer.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const HUGE_TEST = process.env.ONECOPY_TEST_HUGE === "1";

const peer = filePeer();

function patterned(bytes: number, seed: number): Uint8Array {
  const u8 = new Uint8Array(bytes);
  fillPattern(u8, seed);
  return u8;
}

const SIZES = [0, 1, 4 * KiB, 64 * KiB, 1 * MiB, 64 * MiB];

group("readv/writev of one contiguous buffer", () => {
  for (const size of SIZES) {
    it(`readSync ${size} B matches the peer's checksum`, async () => {
      const r = await peer.region({ bytes: size, seed: 1000 + size });
      expect(r.bytes).toBe(size);
      expect(r.pid).toBe(peer.pid);
      const local = patterned(size, 7); // different content, so a no-op copy cannot pass
      if (size > 0) expect(hashPieces([local])).not.toBe(r.hash);
      expect(readSync(peer.pid, local, r.iov)).toBe(size);
      expect(hashPieces([local])).toBe(r.hash);
      await peer.call("free", { name: r.name });
    });

    it(`writeSync ${size} B: the peer reports the written checksum`, async () => {
      const r = await peer.region({ bytes: size, seed: 2000 + size });
      const local = patterned(size, 3000 + size);
      const want = hashPieces([local]);
      if (size > 0) expect(r.hash).not.toBe(want);
      expect(writeSync(peer.pid, local, r.iov)).toBe(size);
      expect((await peer.call("hash", { name: r.name })).hash).toBe(want);
      await peer.call("free", { name: r.name });
    });
  }
});

group("scatter/gather with different piece layouts", () => {
  // 7 odd-sized remote pieces, one of them empty, 3 bytes apart in the peer's memory.
  const remoteLengths = [1, 4095, 13, 65537, 0, 777, 300001];
  const total = remoteLengths.reduce((a, b) => a + b, 0);
  const localLengths = [100003, 0, total - 100003 - 5000, 5000];

  it("reads 7 remote pieces into 3 (+1 empty) local pieces in separate buffers", async () => {
    const r = await peer.region({ lengths: remoteLengths, gap: 3, seed: 11 });
    expect(r.iov.length).toBe(2 * 6); // describe() drops the empty piece
    const locals = localLengths.map((len, i) => patterned(len, 50 + i));
    expect(readSync(peer.pid, locals, r.iov)).toBe(total);
    expect(hashPieces(locals)).toBe(r.hash);
  });

  it("reads into { buffer, offset, length } slices of one buffer, out of order in memory", async () => {
    const r = await peer.region({ lengths: remoteLengths, gap: 5, seed: 12 });
    const backing = new ArrayBuffer(total + 64);
    // Local piece 0 sits after piece 1 in memory: the logical order is the list order.
    const a = { buffer: backing, offset: 40 + 200000, length: total - 200000 };
    const b = { buffer: backing, offset: 20, length: 200000 };
    expect(readSync(peer.pid, [b, a], r.iov)).toBe(total);
    const u8 = new Uint8Array(backing);
    expect(hashPieces([u8.subarray(20, 20 + 200000), u8.subarray(40 + 200000, 40 + total)])).toBe(r.hash);
  });

  it("writes 3 local pieces into 7 remote pieces", async () => {
    const r = await peer.region({ lengths: remoteLengths, gap: 3, seed: 13 });
    const locals = localLengths.map((len, i) => patterned(len, 60 + i));
    expect(writeSync(peer.pid, locals, r.iov)).toBe(total);
    expect((await peer.call("hash", { name: r.name })).hash).toBe(hashPieces(locals));
  });

  it("skips zero-length pieces even when their addresses are not mapped", async () => {
    const r = await peer.region({ lengths: [5000, 7000], gap: 100, seed: 14 });
    // Interleave empty pieces at bogus addresses on both sides.
    const remote = [16, 0, r.iov[0]!, r.iov[1]!, 0x1000, 0, r.iov[2]!, r.iov[3]!, 8, 0];
    const local = patterned(12000, 1);
    const localList = [32, 0, ...ioListOf(local), 64, 0];
    expect(transferSync("read", peer.pid, localList, remote)).toBe(12000);
    expect(hashPieces([local])).toBe(r.hash);
  });

  it("moves nothing for empty lists and lists of empty pieces", async () => {
    const r = await peer.region({ lengths: [64], seed: 15 });
    expect(readSync(peer.pid, [], [])).toBe(0);
    expect(writeSync(peer.pid, [], [])).toBe(0);
    expect(readSync(peer.pid, new Uint8Array(0), [r.iov[0]!, 0])).toBe(0);
    expect(transferSync("write", peer.pid, [], [r.iov[0]!, 0, 16, 0])).toBe(0);
    const empty = new ArrayBuffer(4);
    expect(writeSync(peer.pid, [{ buffer: empty, offset: 4 }, { buffer: empty, length: 0 }], [])).toBe(0);
    expect((await peer.call("hash", { name: r.name })).hash).toBe(r.hash); // untouched
  });
});

group(`more than IOV_MAX (${IOV_MAX}) iovecs on one side`, () => {
  const many = Array.from({ length: 3000 }, (_, i) => 1000 + ((i * 37) % 101)); // uneven lengths
  const total = many.reduce((a, b) => a + b, 0);

  it("reads 3000 scattered remote pieces into one local buffer", async () => {
    const r = await peer.region({ lengths: many, gap: 1, seed: 21 });
    expect(r.iov.length / 2).toBe(3000);
    const local = patterned(total, 2);
    expect(readSync(peer.pid, local, r.iov)).toBe(total);
    expect(hashPieces([local])).toBe(r.hash);
  });

  it("writes 3000 local pieces into one remote buffer", async () => {
    const r = await peer.region({ bytes: total, seed: 22 });
    const backing = patterned(total + 3000, 3);
    const locals: Uint8Array[] = [];
    let off = 0;
    for (const len of many) {
      locals.push(backing.subarray(off, off + len));
      off += len + 1; // one byte gap: pieces are not contiguous
    }
    expect(writeSync(peer.pid, locals, r.iov)).toBe(total);
    expect((await peer.call("hash", { name: r.name })).hash).toBe(hashPieces(locals));
  });

  it("reads 3000 remote pieces into 2500 local pieces of other lengths (cuts fall mid-piece)", async () => {
    const r = await peer.region({ lengths: many, gap: 2, seed: 23 });
    const localLengths = Array.from({ length: 2500 }, () => Math.floor(total / 2500));
    localLengths[2499]! += total - localLengths.reduce((a, b) => a + b, 0);
    const backing = new Uint8Array(total);
    const locals = split(backing, localLengths);
    expect(readSync(peer.pid, locals, r.iov)).toBe(total);
    expect(hashPieces(locals)).toBe(r.hash);
  });

  it("handles 3000 one-byte pieces on both sides", async () => {
    const ones = new Array<number>(3000).fill(1);
    const r = await peer.region({ lengths: ones, gap: 7, seed: 24 });
    const backing = new Uint8Array(6000);
    const locals = Array.from({ length: 3000 }, (_, i) => backing.subarray(2 * i, 2 * i + 1));
    expect(readSync(peer.pid, locals, r.iov)).toBe(3000);
    expect(hashPieces(locals)).toBe(r.hash);
  });
});

group(`the ${MAX_BYTES_PER_CALL.toString(16)}-byte per-call cap`, () => {
  // A single > 2 GiB copy is the only way to hit the kernel's cap; it needs ~5 GiB of RAM and
  // ~10 s, so it runs only with ONECOPY_TEST_HUGE=1.
  const bytes = MAX_BYTES_PER_CALL + 300 * MiB + 12345;

  it.skipIf(!HUGE_TEST)(`reads and writes ${bytes} bytes (> 2 GiB) in one call${HUGE_TEST ? "" : " — skipped: set ONECOPY_TEST_HUGE=1"}`, async () => {
    const r = await peer.region({ bytes, seed: 31, kind: "huge" });
    const local = new Uint8Array(allocBuffer(bytes));
    expect(readSync(peer.pid, local, r.iov)).toBe(bytes);
    expect(hashPieces([local])).toBe(r.hash);
    fillPattern(local, 32);
    expect(writeSync(peer.pid, local, r.iov)).toBe(bytes);
    expect((await peer.call("hash", { name: r.name })).hash).toBe(hashPieces([local]));
    await peer.call("free", { name: r.name });
  }, 300_000);
});
