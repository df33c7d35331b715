// Real failures from the kernel, mapped to CmaError codes with actionable messages.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe as group, expect, it } from "vitest";
import { CmaError, asyncDefaults, describe, read, readSync, transferSync, writeSync, ioListOf } from "../src/index.js";
import { fillPattern, hashPieces } from "./fixtures/pattern.js";
import { AS_NOBODY, IN_USERNS, PeerError, canWrap, closeAll, startPeer, type Peer } from "./peer.js";

let peer: Peer;
beforeAll(async () => {
  peer = await startPeer();
});
afterAll(async () => {
  await closeAll([peer]);
});

/** The error `fn` throws (fails the test if it does not throw). */
function thrown(fn: () => unknown): any {
  try {
    fn();
  } catch (err) {
    return err;
  }
  expect.fail("expected a throw");
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
  const pid = child.pid!;
  await new Promise((resolve) => child.on("exit", resolve)); // exited and reaped
  return pid;
}

group("ESRCH", () => {
  it("reading from a process that has exited throws ESRCH (sync and on a worker)", async () => {
    const pid = await deadPid();
    const buf = new Uint8Array(64);
    const e = thrown(() => readSync(pid, buf, [0x10000, 64]));
    expect(e).toBeInstanceOf(CmaError);
    expect(e.code).toBe("ESRCH");
    expect(e.errno).toBe(3);
    expect(e.pid).toBe(pid);
    expect(e.syscall).toBe("process_vm_readv");
    expect(e.message).toContain(String(pid));
    expect(thrown(() => writeSync(pid, buf, [0x10000, 64])).code).toBe("ESRCH");

    const saved = asyncDefaults.threshold;
    asyncDefaults.threshold = 0; // force the koffi worker path: errno must survive the hop
    try {
      await expect(read(pid, buf, [0x10000, 64])).rejects.toMatchObject({ code: "ESRCH", errno: 3 });
    } finally {
      asyncDefaults.threshold = saved;
    }
  });
});

group("EFAULT", () => {
  it("an unmapped remote address (16) throws EFAULT naming the range", async () => {
    const buf = new Uint8Array(8);
    const e = thrown(() => readSync(peer.pid, buf, [16, 8]));
    expect(e).toBeInstanceOf(CmaError);
    expect(e.code).toBe("EFAULT");
    expect(e.errno).toBe(14);
    expect(e.done).toBe(0);
    expect(e.message).toContain("0x10");
    expect(thrown(() => writeSync(peer.pid, buf, [16, 8])).code).toBe("EFAULT");
  });

  it("an unmapped local address throws EFAULT", async () => {
    const r = await peer.call("alloc", { name: "lf", bytes: 8, seed: 1 });
    expect(thrown(() => transferSync("read", peer.pid, [16, 8], r.iov)).code).toBe("EFAULT");
  });

  it("a fault after valid pieces reports the bytes done, and those bytes did arrive", async () => {
    const r = await peer.call("alloc", { name: "pf", bytes: 4096, seed: 2 });
    const dst = new Uint8Array(4096 + 8);
    const e = thrown(() => readSync(peer.pid, dst, [...r.iov, 16, 8]));
    expect(e.code).toBe("EFAULT");
    expect(e.done).toBe(4096);
    expect(e.expected).toBe(4104);
    expect(hashPieces([dst.subarray(0, 4096)])).toBe(r.hash);
  });

  it("an async read of an unmapped range rejects with EFAULT", async () => {
    const saved = asyncDefaults.threshold;
    asyncDefaults.threshold = 0;
    try {
      await expect(read(peer.pid, new Uint8Array(8), [16, 8])).rejects.toMatchObject({ code: "EFAULT", errno: 14 });
    } finally {
      asyncDefaults.threshold = saved;
    }
  });
});

// EPERM for real: a peer that is not allowed to access this (root) process tries to.
const nobody = canWrap(AS_NOBODY);
const userns = canWrap(IN_USERNS);

group("EPERM", () => {
  const secret = new Uint8Array(4096);
  fillPattern(secret, 99);
  const target = new Uint8Array(4096); // what the peer would overwrite
  let peers: Peer[] = [];

  afterAll(async () => {
    await closeAll(peers);
  });

  async function expectEperm(p: Peer): Promise<void> {
    const d = describe(secret);
    let err: PeerError | undefined;
    try {
      await p.call("read", { pid: process.pid, iov: d.iov, bytes: d.bytes });
    } catch (e) {
      err = e as PeerError;
    }
    expect(err).toBeInstanceOf(PeerError);
    expect(err!.name).toBe("CmaError");
    expect(err!.code).toBe("EPERM");
    expect(err!.errno).toBe(1);
    expect(err!.message).toContain("ptrace_scope");
    expect(err!.message).toContain("ONECOPY_CMA");
    expect(err!.message).toContain(String(process.pid));

    const before = hashPieces([target]);
    await expect(p.call("write", { pid: process.pid, iov: ioListOf(target), bytes: 4096, seed: 5 })).rejects.toMatchObject({ code: "EPERM" });
    expect(hashPieces([target])).toBe(before);
  }

  it.skipIf(!nobody.ok)(`a peer running as uid 65534 gets EPERM reading/writing a root process${nobody.ok ? "" : ` — skipped: ${nobody.why}`}`, async () => {
    const p = await startPeer({ wrap: AS_NOBODY });
    peers.push(p);
    expect(p.uid).toBe(65534);
    await expectEperm(p);
  });

  it.skipIf(!userns.ok)(`a peer in its own user namespace (unshare -U -r) gets EPERM${userns.ok ? "" : ` — skipped: ${userns.why}`}`, async () => {
    const p = await startPeer({ wrap: IN_USERNS });
    peers.push(p);
    expect(p.userns).not.toBe(peer.userns);
    await expectEperm(p);
  });
});
