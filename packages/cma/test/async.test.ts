// The asynchronous path: copies above asyncDefaults.threshold run on koffi worker threads,
// optionally split into streams, and the event loop keeps turning meanwhile.
import { afterAll, beforeAll, describe as group, expect, it } from "vitest";
import { asyncDefaults, ioListOf, read, transfer, write } from "../src/index.js";
import { fillPattern, hashPieces, split } from "./fixtures/pattern.js";
import { filePeer, type RemoteRegion } from "./peer.js";

const MiB = 1024 * 1024;

const peer = filePeer();

/** Run `fn` with a 1 ms interval ticking; return its result and how often the interval fired. */
async function ticking<T>(fn: () => Promise<T>): Promise<{ value: T; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const value = await fn();
    return { value, ticks };
  } finally {
    clearInterval(timer);
  }
}

group("async copies above the threshold", () => {
  const big = 256 * MiB;
  let local: Uint8Array;
  let r: RemoteRegion;

  beforeAll(async () => {
    expect(big).toBeGreaterThanOrEqual(asyncDefaults.threshold);
    r = await peer.region({ bytes: big, seed: 41 });
    local = new Uint8Array(big);
    local.fill(1); // pre-touched
  });
  afterAll(async () => {
    await peer.call("free", { name: r.name });
  });

  for (const streams of [1, 2]) {
    it(`read() of 256 MiB with streams=${streams} keeps the event loop turning`, async () => {
      local.fill(streams);
      const { value, ticks } = await ticking(() => read(peer.pid, local, r.iov, { streams }));
      expect(value).toBe(big);
      expect(hashPieces([local])).toBe(r.hash);
      console.log(`read() 256 MiB streams=${streams}: ${ticks} interval ticks during the copy`);
      expect(ticks).toBeGreaterThan(0); // a synchronous 256 MiB copy would give exactly 0
    });
  }

  for (const streams of [1, 2]) {
    it(`write() of 64 MiB with streams=${streams} lands in the peer`, async () => {
      const w = await peer.region({ bytes: 64 * MiB, seed: null });
      const src = new Uint8Array(64 * MiB);
      fillPattern(src, 50 + streams);
      expect(await write(peer.pid, src, w.iov, { streams })).toBe(64 * MiB);
      expect((await peer.call("hash", { name: w.name })).hash).toBe(hashPieces([src]));
      await peer.call("free", { name: w.name });
    });
  }

  it("transfer() with 2 streams splits scattered lists mid-piece correctly (3000 remote, 5 local pieces)", async () => {
    const lengths = Array.from({ length: 3000 }, (_, i) => 4096 + ((i * 131) % 4099));
    const total = lengths.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(8 * MiB); // two streams of at least minStreamBytes
    const s = await peer.region({ lengths, gap: 9, seed: 43 });
    const backing = new Uint8Array(total);
    const q = Math.floor(total / 5);
    const locals = split(backing, [q + 1, q - 1, q + 17, q - 17, total - 4 * q]);
    expect(await transfer("read", peer.pid, ioListOf(locals), s.iov, { streams: 2 })).toBe(total);
    expect(hashPieces(locals)).toBe(s.hash);
    await peer.call("free", { name: s.name });
  });

  it("below the threshold read() copies synchronously, inside the call", async () => {
    // Below the threshold read() copies synchronously inside the call: the data is there before
    // the promise is awaited.
    const small = await peer.region({ bytes: 4096, seed: 44 });
    const dst = new Uint8Array(4096);
    const p = read(peer.pid, dst, small.iov);
    expect(hashPieces([dst])).toBe(small.hash);
    expect(await p).toBe(4096);
  });
});

group("forcing the worker path for small copies", () => {
  it("threshold 0 sends even 1-byte and 4 KiB copies to a worker, with correct data", async () => {
    const saved = asyncDefaults.threshold;
    asyncDefaults.threshold = 0;
    try {
      for (const size of [1, 4096, 65536 + 3]) {
        const s = await peer.region({ bytes: size, seed: 45 + size });
        const dst = new Uint8Array(size);
        expect(await read(peer.pid, dst, s.iov)).toBe(size);
        expect(hashPieces([dst])).toBe(s.hash);
      }
    } finally {
      asyncDefaults.threshold = saved;
    }
  });
});
