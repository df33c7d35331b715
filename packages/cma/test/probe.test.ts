// probe(): a real 8-byte read between two processes decides whether CMA works for the pair.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe as group, expect, it } from "vitest";
import { cmaAvailability, describe, probe, publishProbeToken, readSync, userNamespaceOf, type ProbeToken } from "../src/index.js";
import { hashPieces } from "./fixtures/pattern.js";
import { AS_NOBODY, IN_USERNS, PeerError, canWrap, closeAll, startPeer, type Peer } from "./peer.js";

const nobody = canWrap(AS_NOBODY);
const userns = canWrap(IN_USERNS);

const peers: Peer[] = [];
async function peerWith(opts: Parameters<typeof startPeer>[0] = {}): Promise<Peer> {
  const p = await startPeer(opts);
  peers.push(p);
  return p;
}
afterAll(async () => {
  await closeAll(peers);
});

let mine: ProbeToken;
beforeAll(() => {
  mine = publishProbeToken();
});

group("probe between normal peers", () => {
  it("is usable in both directions", async () => {
    const p = await peerWith();
    const theirs = await p.call<ProbeToken>("publishProbe");
    expect(theirs.pid).toBe(p.pid);
    expect(theirs.addr).toBeGreaterThan(0);
    expect(theirs.token).toMatch(/^[0-9a-f]{16}$/);
    expect(probe(theirs)).toEqual({ usable: true });
    expect(await p.call("probe", { token: mine })).toEqual({ usable: true });
    // Publishing is idempotent.
    expect(await p.call("publishProbe")).toEqual(theirs);
    expect(publishProbeToken()).toBe(mine);
  });

  it("reports a mismatch when the bytes read are not the published ones", async () => {
    const p = await peerWith();
    const theirs = await p.call<ProbeToken>("publishProbe");
    const wrong = { ...theirs, token: theirs.token === "0".repeat(16) ? "1".repeat(16) : "0".repeat(16) };
    const res = probe(wrong);
    expect(res.usable).toBe(false);
    expect(res).toMatchObject({ code: "ERR_PROBE_MISMATCH" });
  });

  it("reports ESRCH for a peer that has exited", async () => {
    const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
    await new Promise((resolve) => child.on("exit", resolve));
    const res = probe({ ...mine, pid: child.pid! });
    expect(res).toMatchObject({ usable: false, code: "ESRCH" });
  });

  it("reports not usable for a token without an address", () => {
    expect(probe({ ...mine, addr: 0 })).toMatchObject({ usable: false });
  });
});

group("probe across privilege boundaries", () => {
  it.skipIf(!userns.ok)(`a peer in another user namespace cannot probe this process${userns.ok ? "" : ` — skipped: ${userns.why}`}`, async () => {
    const p = await peerWith({ wrap: IN_USERNS });
    expect(p.userns).not.toBe(userNamespaceOf());
    const res = await p.call("probe", { token: mine });
    expect(res.usable).toBe(false);
    expect(res.code).toBe("EPERM");
    expect(res.reason).toContain("user namespace");
    expect(res.reason).toContain(mine.userns!);
    expect(res.reason).toContain("EPERM");
  });

  it.skipIf(!nobody.ok)(`a peer running as uid 65534 cannot probe a root process${nobody.ok ? "" : ` — skipped: ${nobody.why}`}`, async () => {
    const p = await peerWith({ wrap: AS_NOBODY });
    expect(p.uid).toBe(65534);
    const res = await p.call("probe", { token: mine });
    expect(res.usable).toBe(false);
    expect(res.code).toBe("EPERM");
    expect(res.reason).toContain("EPERM");
    expect(res.reason).toContain("same user");
  });

  it.skipIf(!nobody.ok)(`two uid-65534 peers can probe each other (the denial above is about the pair)${nobody.ok ? "" : ` — skipped: ${nobody.why}`}`, async () => {
    const [a, b] = await Promise.all([peerWith({ wrap: AS_NOBODY }), peerWith({ wrap: AS_NOBODY })]);
    const tb = await b.call<ProbeToken>("publishProbe");
    expect(await a.call("probe", { token: tb })).toEqual({ usable: true });
  });
});

group("kill switch ONECOPY_CMA=0", () => {
  let off: Peer;
  beforeAll(async () => {
    off = await peerWith({ env: { ONECOPY_CMA: "0" } });
  });

  it("makes cmaAvailability() report unavailable, mentioning the switch (here it is available)", async () => {
    expect(cmaAvailability().available).toBe(true);
    const a = await off.call("availability");
    expect(a.available).toBe(false);
    expect(a.reason).toContain("ONECOPY_CMA=0");
  });

  it("makes every transfer throw ERR_CMA_DISABLED", async () => {
    const src = new Uint8Array(4096).fill(7);
    const d = describe(src);
    await expect(off.call("read", { pid: process.pid, iov: d.iov, bytes: d.bytes })).rejects.toMatchObject({ name: "CmaError", code: "ERR_CMA_DISABLED" });
    await expect(off.call("read", { pid: process.pid, iov: d.iov, bytes: d.bytes, async: true })).rejects.toMatchObject({ code: "ERR_CMA_DISABLED" });
    await expect(off.call("write", { pid: process.pid, iov: d.iov, bytes: d.bytes, seed: 3 })).rejects.toBeInstanceOf(PeerError);
    expect(src.every((b) => b === 7)).toBe(true);
  });

  it("makes probe() say disabled on both sides", async () => {
    const res = await off.call("probe", { token: mine });
    expect(res).toMatchObject({ usable: false, code: "ERR_CMA_DISABLED" });
    expect(res.reason).toContain("ONECOPY_CMA=0");
    const theirs = await off.call<ProbeToken>("publishProbe");
    expect(theirs.addr).toBe(0);
    expect(probe(theirs)).toMatchObject({ usable: false, code: "ERR_CMA_DISABLED" });
  });

  it("does not stop the normal process from copying out of the disabled one", async () => {
    const r = await off.call("alloc", { name: "x", bytes: 1000, seed: 8 });
    const dst = new Uint8Array(1000);
    expect(readSync(off.pid, dst, r.iov)).toBe(1000);
    expect(hashPieces([dst])).toBe(r.hash);
  });
});
