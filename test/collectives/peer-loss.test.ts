// A rank SIGKILLed in the middle of large collectives (issue #17): on every survivor the
// collective fails with ERR_PEER_LOST naming the dead rank — never a raw CMA errno (ESRCH,
// EFAULT) — and so do the collectives after it, at once; no survivor waits for another
// survivor that has already failed out. The launcher's grace period is long (20 s), so the
// survivors have to get there by themselves.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

interface Outcome {
  what: string;
  code: string | null;
  peer?: number;
  cause?: string;
  ms: number;
  message?: string;
}

interface Report {
  rank: number;
  hung?: string;
  completed: number;
  bad: string | null;
  first: Outcome | null;
  next: Outcome[];
}

const VICTIM = 3;

async function killOne(op: string, seed: number, mib: number): Promise<void> {
  const t0 = Date.now();
  const r = await runJob(fixture(import.meta.url, "peer-loss.ts"), { np: 4, args: [op, String(seed), String(mib)], failGraceMs: 20_000, timeoutMs: 60_000 });
  const why = explain(r);
  expect(r.ranks[VICTIM]!.signal, why).toBe("SIGKILL");
  for (const rk of r.ranks) {
    if (rk.rank === VICTIM) continue;
    const rep = r.results[rk.rank]![0] as Report | undefined;
    expect(rep, `rank ${rk.rank} printed no RESULT\n${why}`).toBeDefined();
    expect(rep!.hung, `rank ${rk.rank} stalled in ${rep!.hung}\n${why}`).toBeUndefined();
    expect(rep!.bad, why).toBe(null);
    const first = rep!.first;
    expect(first, `rank ${rk.rank}: no collective failed\n${why}`).not.toBe(null);
    expect({ rank: rk.rank, what: first!.what, code: first!.code, peer: first!.peer }, first!.message).toEqual({ rank: rk.rank, what: first!.what, code: "ERR_PEER_LOST", peer: VICTIM });
    for (const o of rep!.next) {
      expect({ rank: rk.rank, what: o.what, code: o.code, peer: o.peer }, o.message).toEqual({ rank: rk.rank, what: o.what, code: "ERR_PEER_LOST", peer: VICTIM });
      // On a communicator that lost a member, collectives fail at once (generous bound for a loaded machine).
      expect(o.ms, `${o.what} on rank ${rk.rank} took ${o.ms} ms to fail`).toBeLessThan(3000);
    }
    // Exited by itself (exit code 1), long before the launcher's 20 s grace would have killed it.
    expect({ rank: rk.rank, code: rk.code, signal: rk.signal }, why).toEqual({ rank: rk.rank, code: 1, signal: null });
  }
  expect(Date.now() - t0).toBeLessThan(20_000);
}

describe("a rank killed inside a large collective", () => {
  // Several kill points: the victim dies at a different iteration and offset each time.
  for (const seed of [1, 2, 3]) {
    it(`allreduce of 16 MiB (kill point ${seed}): every survivor fails with ERR_PEER_LOST, then fails fast`, { timeout: 40_000 }, () => killOne("allreduce", seed, 16));
  }
  it("alltoall of 16 MiB", { timeout: 40_000 }, () => killOne("alltoall", 5, 16));
  it("bcast of 16 MiB", { timeout: 40_000 }, () => killOne("bcast", 7, 16));
});

describe("a failed single copy of a live peer", () => {
  it("keeps its own code (EFAULT) and does not break the communicator", { timeout: 30_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "bad-address.ts"), { np: 2 });
    const why = explain(r);
    expect(r.ok, why).toBe(true);
    const [a, b] = r.results.map((x) => x[0] as { canRead: boolean; read: { code: string | null; message?: string } | null; broken: string | null; sum: number });
    expect(a!.canRead, `this test needs CMA between the ranks\n${why}`).toBe(true);
    expect(a!.read?.code, a!.read?.message).toBe("EFAULT");
    for (const x of [a!, b!]) expect({ broken: x.broken, sum: x.sum }).toEqual({ broken: null, sum: 3 });
  });
});
