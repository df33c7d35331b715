// Every collective on real processes, n = 1 … 8 ranks (oversubscribed on small machines):
// a randomized battery per job, checked element by element against a local reference, with
// single-copy byte accounting; the same battery with CMA switched off; mismatch detection.
import { describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { launch } from "onecopy/launcher";

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Summary {
  rank: number;
  size: number;
  cases: number;
  failures: string[];
  stats: Array<{ c: number; op: string; big: boolean; single: number; eager: number; fallback: number; shm: number; expect: number }>;
}

async function battery(np: number, seed: number, cases: number, env: Record<string, string> = {}): Promise<Summary[]> {
  const r = await launch({ np, script: fixture("battery.ts"), args: [String(seed), String(cases), "--stats"], env, timeoutMs: 150_000 });
  const out: Summary[] = [];
  for (const rk of r.ranks) {
    const line = rk.stdout.trim().split("\n").find((l) => l.startsWith("{"));
    if (!line) throw new Error(`rank ${rk.rank} printed no summary (code ${rk.code}, signal ${rk.signal}):\n${rk.stdout}\n${rk.stderr}`);
    out.push(JSON.parse(line) as Summary);
  }
  expect(r.ok, r.ranks.map((x) => x.stderr).join("\n")).toBe(true);
  return out;
}

/** Sum per-case byte counters over ranks and check the single-copy accounting. */
function checkAccounting(all: Summary[], cma: boolean): void {
  const cases = all[0]!.stats.length;
  let checked = 0;
  const np = all.length;
  for (let i = 0; i < cases; i++) {
    const rows = all.map((s) => s.stats[i]!);
    const single = rows.reduce((a, r) => a + r.single, 0);
    const eager = rows.reduce((a, r) => a + r.eager, 0);
    const fallback = rows.reduce((a, r) => a + r.fallback, 0);
    const shm = rows.reduce((a, r) => a + (r.shm ?? 0), 0);
    const row = rows[0]!;
    const label = `case ${row.c} ${row.op} on ${np} ranks`;
    if (cma) {
      expect(fallback, `${label}: fallback bytes`).toBe(0);
      expect(shm, `${label}: shared-memory (double copy) bytes`).toBe(0);
      if (row.big) {
        checked++;
        expect(single, `${label}: single-copy bytes`).toBe(row.expect);
        // Only descriptor records and zero-byte notifications travel eagerly.
        expect(eager, `${label}: eager bytes`).toBeLessThanOrEqual(np * np * 1024);
      }
    } else {
      expect(single, `${label}: single-copy bytes with CMA off`).toBe(0);
    }
  }
  // The battery must have exercised the single-copy path, not only the inline one.
  if (cma && np > 1) expect(checked).toBeGreaterThan(3);
}

describe("collectives battery", () => {
  for (const np of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`all operations, dtypes and ops on ${np} rank${np > 1 ? "s" : ""}`, { timeout: 160_000 }, async () => {
      const all = await battery(np, 100 + np, np >= 5 ? 64 : 96);
      expect(all.flatMap((s) => s.failures)).toEqual([]);
      checkAccounting(all, true);
    });
  }
  for (const np of [3, 4]) {
    it(`the same battery with CMA off (ONECOPY_CMA=0) on ${np} ranks`, { timeout: 160_000 }, async () => {
      const all = await battery(np, 200 + np, 64, { ONECOPY_CMA: "0" });
      expect(all.flatMap((s) => s.failures)).toEqual([]);
      checkAccounting(all, false);
    });
  }

  it("honours --transport shm: no single copy even where CMA is allowed, same results", { timeout: 160_000 }, async () => {
    const all = await battery(3, 270, 32, { ONECOPY_TRANSPORT: "shm" });
    expect(all.flatMap((s) => s.failures)).toEqual([]);
    checkAccounting(all, false);
  });

  it("the battery over the socket fallback (ONECOPY_CMA=0, ONECOPY_TRANSPORT=socket) on 3 ranks", { timeout: 160_000 }, async () => {
    const all = await battery(3, 250, 64, { ONECOPY_CMA: "0", ONECOPY_TRANSPORT: "socket" });
    expect(all.flatMap((s) => s.failures)).toEqual([]);
    checkAccounting(all, false);
  });

  it("a mixed job: rank 1 without CMA (its pairs use messages), the other pairs copy directly", { timeout: 160_000 }, async () => {
    const all = await battery(4, 300, 96, { ONECOPY_TEST_NOCMA_RANKS: "1" });
    expect(all.flatMap((s) => s.failures)).toEqual([]);
    expect(all[1]!.stats.reduce((a, r) => a + r.single, 0)).toBe(0);
    expect(all[0]!.stats.reduce((a, r) => a + r.single, 0)).toBeGreaterThan(0);
  });
});

describe("collective argument mismatches", () => {
  it("fail with ERR_MISMATCH (or the bad rank's own error) on every rank, and nobody hangs", { timeout: 60_000 }, async () => {
    const r = await launch({ np: 3, script: fixture("mismatch.ts"), timeoutMs: 50_000 });
    const outs = r.ranks.map((rk) => {
      const line = rk.stdout.trim().split("\n").find((l) => l.startsWith("{"));
      if (!line) throw new Error(`rank ${rk.rank}: ${rk.stdout}\n${rk.stderr}`);
      return JSON.parse(line) as { rank: number; results: Array<{ name: string; code: string | null; message: string }> };
    });
    expect(r.ok).toBe(true);
    for (const o of outs) {
      for (const res of o.results) {
        if (res.name.startsWith("ok:")) expect(res.code, `${res.name} on rank ${o.rank}: ${res.message}`).toBe(null);
        else expect(["ERR_MISMATCH", "ERR_INVALID_ARG", "ERR_INVALID_BUFFER", "ERR_INVALID_RANK"], `${res.name} on rank ${o.rank}: ${res.message}`).toContain(res.code);
      }
    }
    // The pure mismatches report ERR_MISMATCH on every rank.
    for (const name of ["count", "dtype", "op", "root", "kind", "gatherv counts", "alltoallv counts", "allgatherv counts"]) {
      for (const o of outs) expect(o.results.find((x) => x.name === name)?.code, `${name} on rank ${o.rank}`).toBe("ERR_MISMATCH");
    }
  });
});

// Opt-in rooted path (ONECOPY_COLL_ROOTED_EAGER=1): bcast, reduce, gather and scatter skip the
// descriptor exchange. Results must be the same; a count/type/operator mismatch fails where it is
// seen (ERR_MISMATCH) while the other ranks complete; nobody hangs.
describe("rooted small collectives without the exchange (ONECOPY_COLL_ROOTED_EAGER=1)", () => {
  for (const np of [2, 3, 5, 8]) {
    it(`the battery on ${np} ranks`, { timeout: 160_000 }, async () => {
      const all = await battery(np, 400 + np, 64, { ONECOPY_COLL_ROOTED_EAGER: "1" });
      expect(all.flatMap((s) => s.failures)).toEqual([]);
      checkAccounting(all, true);
    });
  }
  it("the battery with CMA off on 4 ranks", { timeout: 160_000 }, async () => {
    const all = await battery(4, 450, 64, { ONECOPY_COLL_ROOTED_EAGER: "1", ONECOPY_CMA: "0" });
    expect(all.flatMap((s) => s.failures)).toEqual([]);
    checkAccounting(all, false);
  });
  it("a mixed job: rank 1 without CMA", { timeout: 160_000 }, async () => {
    const all = await battery(4, 460, 96, { ONECOPY_COLL_ROOTED_EAGER: "1", ONECOPY_TEST_NOCMA_RANKS: "1" });
    expect(all.flatMap((s) => s.failures)).toEqual([]);
    expect(all[1]!.stats.reduce((a, r) => a + r.single, 0)).toBe(0);
  });
  for (const np of [3, 8]) {
    it(`mismatches on ${np} ranks: ERR_MISMATCH where seen, completion elsewhere, no hang`, { timeout: 60_000 }, async () => {
      const r = await launch({ np, script: fixture("mismatch-eager.ts"), env: { ONECOPY_COLL_ROOTED_EAGER: "1" }, timeoutMs: 50_000 });
      expect(r.timedOut, "a rank hung").toBe(false);
      const outs = r.ranks.map((rk) => {
        const line = rk.stdout.trim().split("\n").find((l) => l.startsWith("{"));
        if (!line) throw new Error(`rank ${rk.rank}: ${rk.stdout}\n${rk.stderr}`);
        return JSON.parse(line) as { rank: number; results: Array<{ name: string; code: string | null; message: string }> };
      });
      expect(r.ok).toBe(true);
      const code = (name: string, rank: number) => outs[rank]!.results.find((x) => x.name === name)?.code;
      for (const o of outs) {
        for (const res of o.results) {
          if (res.name.startsWith("ok:")) expect(res.code, `${res.name} on rank ${o.rank}: ${res.message}`).toBe(null);
          else if (res.name.startsWith("reduce bad") || res.name.includes("in-place")) expect([null, "ERR_INVALID_BUFFER", "ERR_INVALID_RANK", "ERR_INVALID_ARG"], `${res.name} on rank ${o.rank}: ${res.message}`).toContain(res.code);
          else expect([null, "ERR_MISMATCH"], `${res.name} on rank ${o.rank}: ${res.message}`).toContain(res.code);
        }
      }
      // Who must see each mismatch: the receiver of bad data (bcast), the root (reduce), everyone
      // when the root's large header sends all ranks through the exchange.
      expect(code("bcast count", 2)).toBe("ERR_MISMATCH");
      expect(code("bcast dtype", 2)).toBe("ERR_MISMATCH");
      expect(code("bcast root small, rank large", 2)).toBe("ERR_MISMATCH");
      for (let k = 0; k < np; k++) expect(code("bcast root large, rank small", k)).toBe("ERR_MISMATCH");
      expect(code("reduce dtype", 0)).toBe("ERR_MISMATCH");
      expect(code("reduce count", 1)).toBe("ERR_MISMATCH");
      expect(code("reduce op", 0)).toBe("ERR_MISMATCH");
      expect(code("reduce rank large", 0)).toBe("ERR_MISMATCH");
      expect(code("reduce rank large", 1)).toBe("ERR_MISMATCH");
      expect(code("reduce root large", 0)).toBe("ERR_MISMATCH");
      expect(code("reduce bad send", 0)).toBe("ERR_INVALID_BUFFER");
      expect(code("reduce bad root", 0)).toBe("ERR_INVALID_RANK");
      expect(code("reduce bad root", 1)).toBe("ERR_INVALID_RANK");
      expect(code("scatter block", 2)).toBe("ERR_MISMATCH");
      expect(code("scatterv fits", 2)).toBe(null);
      expect(code("gather block", 1)).toBe("ERR_MISMATCH");
      expect(code("gather large block", 0)).toBe("ERR_MISMATCH");
      expect(code("gather large block", 2)).toBe("ERR_MISMATCH");
      expect(code("gather dtype", 0)).toBe("ERR_MISMATCH");
      expect(code("gather in-place off root", 0)).toBe("ERR_INVALID_ARG");
      expect(code("gather in-place off root", 1)).toBe("ERR_INVALID_ARG");
    });
  }
});
