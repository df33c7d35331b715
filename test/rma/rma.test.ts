// One-sided communication (issue #15) on real processes through the launcher: put/get/
// accumulate against references at 1–4 ranks (0 B … 1 MiB, and one 64 MiB case), exact sums of
// concurrent accumulates, fetchAndOp tickets, a compareAndSwap spin lock, fence ordering,
// sharedQuery visibility, a passive-target epoch against a target in a 2 s busy loop, every
// error code, a killed rank, and the target-side fallback under --no-cma.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob, type JobOptions } from "../kit/job.js";

interface Battery {
  rank: number;
  mode: string;
  /** win.stats().targetProgress: the targets must turn their event loop. */
  progress: boolean | null;
  failures: string[];
}

async function battery(np: number, kind: string, opts: Partial<JobOptions> = {}, extra: string[] = []): Promise<Battery[]> {
  const r = await runJob(fixture(import.meta.url, "battery.ts"), { np, args: [kind, ...extra], timeoutMs: 60_000, ...opts });
  const why = explain(r);
  expect(r.exitCode, why).toBe(0);
  const out = r.results.map((x) => x[0] as Battery);
  expect(out.length, why).toBe(np);
  for (const b of out) expect(b.failures, why).toEqual([]);
  return out;
}

const winSegments = () => readdirSync("/dev/shm").filter((n) => n.includes("-win-"));

describe("RMA windows: data movement against references", () => {
  for (const np of [1, 2, 4]) {
    it(`winAllocate on ${np} rank(s): single copy`, async () => {
      const out = await battery(np, "allocate");
      expect(out.every((b) => b.mode === "cma" && b.progress === false)).toBe(true);
    });
  }
  it("winCreate over unaligned user memory on 3 ranks", async () => {
    await battery(3, "create");
  });
  for (const np of [2, 3]) {
    it(`winAllocateShared on ${np} ranks: atomics and sharedQuery`, async () => {
      const out = await battery(np, "shared");
      expect(out.every((b) => b.mode === "shared")).toBe(true);
    });
  }
  it("a 64 MiB put/get/fence case on 2 ranks", async () => {
    await battery(2, "allocate", {}, ["--big"]);
  });
});

describe("RMA windows on a sub-communicator", () => {
  it("ranks, offsets and locks are the sub-communicator's (split into reversed halves of 4)", async () => {
    const r = await runJob(fixture(import.meta.url, "sub-comm.ts"), { np: 4, timeoutMs: 30_000 });
    const why = explain(r);
    expect(r.exitCode, why).toBe(0);
    for (let rk = 0; rk < 4; rk++) expect((r.results[rk]![0] as { ok: boolean }).ok, why).toBe(true);
  });
});

describe("RMA windows without single copy (--no-cma)", () => {
  it("winAllocate falls back to target-side application, same results, and says so", async () => {
    const out = await battery(3, "allocate", { noCma: true });
    expect(out.every((b) => b.mode === "target-side" && b.progress === true)).toBe(true);
  });
  it("winAllocateShared needs no CMA: still shared atomics", async () => {
    const out = await battery(2, "shared", { noCma: true });
    expect(out.every((b) => b.mode === "shared")).toBe(true);
  });
});

describe("RMA windows: passive target", () => {
  for (const kind of ["allocate", "shared"]) {
    it(`${kind}: lock/get/accumulate/put/unlock complete while the target busy-loops 2 s`, async () => {
      const r = await runJob(fixture(import.meta.url, "busy-target.ts"), { np: 2, args: [kind], timeoutMs: 30_000 });
      const why = explain(r);
      expect(r.exitCode, why).toBe(0);
      const origin = r.results[0]![0] as { start: number; gotAt: number; doneAt: number; bad: number };
      const target = r.results[1]![0] as { loopStart: number; loopEnd: number; first: number; tail: number[] };
      expect(origin.bad, why).toBe(-1);
      // Rank 0 began inside the loop, and its whole epoch ended well before the loop did.
      expect(origin.start, why).toBeGreaterThanOrEqual(target.loopStart);
      expect(origin.doneAt, why).toBeLessThan(target.loopEnd - 1000);
      expect(target.first, why).toBe(1.5 + 2.25);
      expect(target.tail, why).toEqual([9, 8, 7, 6]);
    });
  }
});

describe("RMA windows: memory lifetime", () => {
  it("views kept after free() stay readable; freed windows' segments are unmapped once unreachable", async () => {
    const r = await runJob(fixture(import.meta.url, "lifetime.ts"), { np: 2, env: { NODE_OPTIONS: "--expose-gc" }, timeoutMs: 30_000 });
    const why = explain(r);
    expect(r.exitCode, why).toBe(0);
    for (const rk of [0, 1]) {
      const rep = r.results[rk]![0] as { kept: boolean; mappedAfterGc: number };
      expect(rep.kept, why).toBe(true);
      expect(rep.mappedAfterGc, why).toBeLessThan(8); // 41 windows were made; only the kept one (and stragglers) may stay
    }
  });
});

describe("RMA windows: errors", () => {
  it("ERR_RMA_SYNC, ERR_RMA_RANGE (nothing moved), ERR_CLOSED and argument errors on every rank", async () => {
    const r = await runJob(fixture(import.meta.url, "errors.ts"), { np: 2, timeoutMs: 30_000 });
    const why = explain(r);
    expect(r.exitCode, why).toBe(0);
    for (const rk of [0, 1]) {
      const { codes, untouched } = r.results[rk]![0] as { codes: Record<string, string>; untouched: boolean };
      expect(untouched, why).toBe(true);
      for (const k of ["put outside an epoch", "get outside an epoch", "accumulate outside an epoch", "unlock without lock", "flush without lock", "unlockAll without lockAll", "lock twice", "lockAll while locked", "fence while locked"]) {
        expect(codes[k], k).toBe("ERR_RMA_SYNC");
      }
      for (const k of ["put past the end", "get past the end", "put at a negative offset", "accumulate past the end", "compareAndSwap past the end"]) expect(codes[k], k).toBe("ERR_RMA_RANGE");
      for (const k of ["put after free", "fence after free", "free twice"]) expect(codes[k], k).toBe("ERR_CLOSED");
      expect(codes["rank out of range"]).toBe("ERR_INVALID_RANK");
      for (const k of ["bad op", "bitwise op on floats", "sharedQuery of a non-shared window", "winAllocate(-1)"]) expect(codes[k], k).toBe("ERR_INVALID_ARG");
    }
  });

  it("a rank killed while holding a lock: ERR_PEER_LOST on every survivor, no hang, no segment left", async () => {
    const before = winSegments();
    const r = await runJob(fixture(import.meta.url, "peer-lost.ts"), { np: 3, timeoutMs: 30_000, failGraceMs: 20_000 });
    const why = explain(r);
    expect(r.ranks[2]!.signal, why).toBe("SIGKILL");
    for (const rk of [0, 1]) {
      const rep = r.results[rk]![0] as { hung?: string; codes: Record<string, string | null> };
      expect(rep?.hung, why).toBeUndefined();
      expect(rep.codes.get, why).toBe("ERR_PEER_LOST");
      expect(rep.codes.lock, why).toBe("ERR_PEER_LOST");
      expect(rep.codes.free, why).toBe("ERR_PEER_LOST");
    }
    expect(winSegments().filter((n) => !before.includes(n))).toEqual([]);
  });
});
