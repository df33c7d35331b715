// Point-to-point messaging between real rank processes started by the real launcher.
import { describe, expect, it } from "vitest";
import { TUNABLES } from "onecopy";
import { alive, existsSync, explain, fixture, runJob } from "../kit/job.js";
import { expectMatchingSemantics } from "./matching-checks.js";

const script = (name: string) => fixture(import.meta.url, name);

interface SizeReport {
  rank: number;
  checks: Array<{ dir: string; size: number; ok: boolean; bytes: number }>;
  singleCopy: number;
  eager: number;
  fallback: number;
  shm: number;
}

const EAGER = TUNABLES.eagerLimit.default;
// Bytes a receiver takes by rendezvous in sizes.ts: eager+1, 1 MiB, 64 MiB; plus the 3 MiB
// gathered message for rank 1.
const LARGE = (1 << 20) + (64 << 20);
const RNDV_RANK0 = EAGER + 1 + LARGE;
const RNDV_RANK1 = RNDV_RANK0 + (3 << 20);

describe("point-to-point sizes", () => {
  it("moves every size intact, large ones by single copy", async () => {
    const r = await runJob(script("sizes.ts"), { np: 2 });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a, b] = r.results.map((x) => x[0] as SizeReport);
    for (const rep of [a!, b!]) for (const c of rep.checks) expect(c, `${c.dir} ${c.size}`).toMatchObject({ ok: true });
    expect(a!.checks.length + b!.checks.length).toBe(19);
    expect(a!.singleCopy).toBe(RNDV_RANK0);
    // Rank 1 also takes the packed 40 000-byte strided column by single copy.
    expect(b!.singleCopy).toBe(RNDV_RANK1 + 40_000);
    expect(a!.fallback + b!.fallback).toBe(0);
    // eager bytes received by rank 0: sizes ≤ eager limit (0,1,4096,eager-1,eager) — plus
    // nothing large.
    expect(a!.eager).toBeLessThan(EAGER * 3);
  });

  it("moves the same bytes through the fallback path with CMA disabled", async () => {
    const r = await runJob(script("sizes.ts"), { np: 2, noCma: true });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a, b] = r.results.map((x) => x[0] as SizeReport);
    for (const rep of [a!, b!]) for (const c of rep.checks) expect(c, `${c.dir} ${c.size}`).toMatchObject({ ok: true });
    expect(a!.singleCopy + b!.singleCopy).toBe(0);
    expect(a!.fallback + a!.shm).toBe(RNDV_RANK0);
    expect(b!.fallback + b!.shm).toBe(RNDV_RANK1 + 40_000);
    // Disabled on purpose: no warning.
    expect(r.ranks[0]!.stderr).not.toMatch(/warning/);
  });

  it("honours a lower eager limit", async () => {
    const r = await runJob(script("sizes.ts"), { np: 2, eagerLimit: 4096 });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a] = r.results.map((x) => x[0] as SizeReport);
    for (const c of a!.checks) expect(c.ok, `${c.dir} ${c.size}`).toBe(true);
    // Now 4095 (eager-1), 4096 (eager) are eager and 4097 + 1 MiB + 64 MiB by single copy.
    expect(a!.singleCopy).toBe(4097 + LARGE);
  });
});

describe.each([
  ["single copy", false],
  ["CMA disabled", true],
])("matching semantics (%s)", (_name, noCma) => {
  it("wildcards, order, unexpected, 10k outstanding, isolation, split, self, objects", async () => {
    const r = await runJob(script("matching.ts"), { np: 4, noCma });
    expect(r.exitCode, explain(r)).toBe(0);
    expectMatchingSemantics(r.results.map((x) => x[0] as Record<string, any>));
  });
});

describe.each([
  ["single copy", false],
  ["CMA disabled", true],
])("errors (%s)", (_name, noCma) => {
  it("rejects bad arguments with codes and handles truncation without corruption", async () => {
    const r = await runJob(script("errors.ts"), { np: 2, noCma });
    expect(r.exitCode, explain(r)).toBe(0);
    for (const x of r.results.map((y) => y[0] as Record<string, any>)) {
      expect(x.badArgs).toEqual({
        rank: "ERR_INVALID_RANK",
        rankNeg: "ERR_INVALID_RANK",
        rankFloat: "ERR_INVALID_RANK",
        tagNeg: "ERR_INVALID_TAG",
        tagBig: "ERR_INVALID_TAG",
        tagFloat: "ERR_INVALID_TAG",
        notBuffer: "ERR_INVALID_BUFFER",
        notBufferRecv: "ERR_INVALID_BUFFER",
        sliceOut: "ERR_INVALID_BUFFER",
        isendThrows: "ERR_INVALID_RANK",
      });
      expect(x.closedDup).toBe("ERR_CLOSED");
      expect(x.closed).toBe("ERR_CLOSED");
      expect(x.closedRecv).toBe("ERR_CLOSED");
      if (x.rank === 0) {
        for (const size of [100, 1 << 20]) {
          const t = x[`truncate${size}`];
          expect(t).toMatchObject({ code: "ERR_TRUNCATE", untouched: true, next: true });
          expect(t.message).toMatch(new RegExp(`message of ${size} bytes from rank 1.*${size / 2}-byte receive buffer`));
        }
      }
    }
  });
});

describe.each([
  ["single copy", false],
  ["CMA disabled: shared-memory fallback", true],
])("peer loss (%s)", (_name, noCma) => {
  it("fails pending operations fast with ERR_PEER_LOST when a rank is SIGKILLed", async () => {
    const t0 = Date.now();
    const r = await runJob(script("peer-lost.ts"), { np: 3, failGraceMs: 5000, noCma });
    expect(r.ok).toBe(false);
    expect(r.exitCode).not.toBe(0);
    expect(r.ranks[1]!.signal, explain(r)).toBe("SIGKILL");
    const [a, , c] = r.results.map((x) => x[0] as { codes: Record<string, string>; ms: number; pid: number });
    expect(a!.codes.specific).toBe("ERR_PEER_LOST");
    expect(a!.codes.any).toBe("ERR_PEER_LOST");
    expect(["none", "ERR_PEER_LOST"]).toContain(a!.codes.big);
    expect(c!.codes).toEqual({ specific: "ERR_PEER_LOST", any: "ERR_PEER_LOST", sendAfter: "ERR_PEER_LOST" });
    // They noticed on their own, well before the launcher's 5 s grace ran out.
    expect(Math.max(a!.ms, c!.ms)).toBeLessThan(4000);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(existsSync(r.jobDir)).toBe(false);
    for (const rk of r.ranks) expect(alive(rk.pid)).toBe(false);
  });
});
