// Arguments are checked before any syscall: a bad call throws a coded OnecopyError
// (ERR_INVALID_ARG, ERR_INVALID_BUFFER, ERR_INVALID_IOLIST) and leaves the peer's memory untouched.
import { afterAll, beforeAll, describe as group, expect, it } from "vitest";
import { describe, ioListBytes, read, readSync, sliceIoList, transfer, transferSync, write, writeSync } from "../src/index.js";
import { hashPieces } from "./fixtures/pattern.js";
import { closeAll, startPeer, type Peer } from "./peer.js";

const code = (c: string) => expect.objectContaining({ code: c });

let peer: Peer;
let remote: { iov: number[]; bytes: number; hash: string };
const SIZE = 4096;

beforeAll(async () => {
  peer = await startPeer();
  remote = await peer.call("alloc", { name: "v", bytes: SIZE, seed: 71 });
});
afterAll(async () => {
  // Nothing any test below did may have reached the peer's memory.
  if (peer && remote) expect((await peer.call("hash", { name: "v" })).hash).toBe(remote.hash);
  await closeAll([peer]);
});

const src = () => new Uint8Array(SIZE).fill(0xee);

group("pid", () => {
  for (const pid of [-1, 0, 1.5, "12", NaN, 2 ** 31, null, undefined]) {
    it(`${JSON.stringify(pid) ?? String(pid)} is ERR_INVALID_ARG everywhere`, async () => {
      const bad = pid as unknown as number;
      expect(() => writeSync(bad, src(), remote.iov)).toThrow(code("ERR_INVALID_ARG"));
      expect(() => readSync(bad, src(), remote.iov)).toThrow(code("ERR_INVALID_ARG"));
      expect(() => transferSync("write", bad, describe(src()).iov, remote.iov)).toThrow(code("ERR_INVALID_ARG"));
      await expect(write(bad, src(), remote.iov)).rejects.toThrow(code("ERR_INVALID_ARG"));
      await expect(read(bad, src(), remote.iov)).rejects.toThrow(code("ERR_INVALID_ARG"));
      await expect(transfer("write", bad, describe(src()).iov, remote.iov)).rejects.toThrow(code("ERR_INVALID_ARG"));
    });
  }
});

group("local data", () => {
  for (const [label, local] of [
    ["a string", "abc"],
    ["a number", 42],
    ["null", null],
    ["a plain object", { length: 4 }],
    ["a slice whose buffer is not a buffer", { buffer: "nope", length: 4 }],
    ["an array holding a non-buffer", [new Uint8Array(SIZE - 1), 1]],
  ] as Array<[string, unknown]>) {
    it(`${label} is ERR_INVALID_BUFFER`, async () => {
      expect(() => writeSync(peer.pid, local as any, remote.iov)).toThrow(code("ERR_INVALID_BUFFER"));
      await expect(write(peer.pid, local as any, remote.iov)).rejects.toThrow(code("ERR_INVALID_BUFFER"));
      expect(() => describe(local as any)).toThrow(code("ERR_INVALID_BUFFER"));
    });
  }

  const ab = new ArrayBuffer(SIZE);
  for (const [label, slice] of [
    ["a slice running past the end of its buffer", { buffer: ab, offset: 8, length: SIZE }],
    ["a slice starting past the end", { buffer: ab, offset: SIZE + 1, length: 0 }],
    ["a negative offset", { buffer: ab, offset: -1, length: 8 }],
    ["a fractional length", { buffer: ab, offset: 0, length: 1.5 }],
    ["a negative length", { buffer: ab, offset: 8, length: -8 }],
  ] as Array<[string, unknown]>) {
    it(`${label} is ERR_INVALID_BUFFER`, () => {
      expect(() => writeSync(peer.pid, slice as any, remote.iov)).toThrow(code("ERR_INVALID_BUFFER"));
      expect(() => writeSync(peer.pid, [new Uint8Array(0), slice as any], remote.iov)).toThrow(/piece 1/);
    });
  }

  it("a local total different from the remote total is a RangeError (both ways)", async () => {
    expect(() => writeSync(peer.pid, new Uint8Array(SIZE + 1).fill(1), remote.iov)).toThrow(code("ERR_INVALID_ARG"));
    expect(() => writeSync(peer.pid, new Uint8Array(SIZE - 1).fill(1), remote.iov)).toThrow(/both sides/);
    await expect(write(peer.pid, new Uint8Array(2 * SIZE).fill(1), remote.iov)).rejects.toThrow(code("ERR_INVALID_ARG"));
    expect(() => readSync(peer.pid, new Uint8Array(1), [])).toThrow(code("ERR_INVALID_ARG"));
  });
});

group("io lists", () => {
  it("an odd-length list is a RangeError", () => {
    expect(() => writeSync(peer.pid, src(), [remote.iov[0]!, SIZE, 16])).toThrow(code("ERR_INVALID_IOLIST"));
    expect(() => transferSync("write", peer.pid, [1, 2, 3], remote.iov)).toThrow(/odd number/);
    expect(() => ioListBytes([1])).toThrow(code("ERR_INVALID_IOLIST"));
  });

  it("negative, fractional or non-numeric addresses and lengths are RangeErrors", () => {
    for (const list of [
      [-16, SIZE],
      [remote.iov[0]! + 0.5, SIZE],
      [remote.iov[0]!, -SIZE],
      [NaN, SIZE],
      [remote.iov[0]!, Infinity],
      ["16", SIZE],
      [2 ** 53, SIZE],
    ]) {
      expect(() => writeSync(peer.pid, src(), list as any)).toThrow(code("ERR_INVALID_IOLIST"));
    }
  });

  it("a list that is not an array is a TypeError", () => {
    expect(() => writeSync(peer.pid, src(), "1,2" as any)).toThrow(code("ERR_INVALID_IOLIST"));
    expect(() => writeSync(peer.pid, src(), { 0: 1, 1: 2, length: 2 } as any)).toThrow(code("ERR_INVALID_IOLIST"));
    expect(() => transferSync("write", peer.pid, null as any, remote.iov)).toThrow(code("ERR_INVALID_IOLIST"));
  });

  it("sliceIoList cuts mid-piece and refuses to run past the end", () => {
    const list = [1000, 10, 5000, 0, 2000, 20];
    expect(sliceIoList(list, 5, 10)).toEqual([1005, 5, 2000, 5]);
    expect(sliceIoList(list, 10, 20)).toEqual([2000, 20]);
    expect(sliceIoList(list, 0, 0)).toEqual([]);
    expect(() => sliceIoList(list, 25, 6)).toThrow(code("ERR_INVALID_IOLIST"));
  });

  it("Float64Array io lists are accepted", async () => {
    const dst = new Uint8Array(SIZE);
    const local = new Float64Array(describe(dst).iov);
    expect(transferSync("read", peer.pid, local, new Float64Array(remote.iov))).toBe(SIZE);
    expect(hashPieces([dst])).toBe(remote.hash);
  });
});
