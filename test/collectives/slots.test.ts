// Collectives through the per-communicator shared slots (issue #10 stage 2): the descriptor
// exchange and the closing handshake go through shared memory once a communicator's first two
// collectives have set the slots up. Real processes through the launcher; every result is
// checked element by element, and the stats prove which path the records took.
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

interface Battery {
  rank: number;
  failures: string[];
  slots: { exchanges: number; oversize: number; fins: number; notes: number; waits: number; bells: number };
}

async function battery(np: number, env: Record<string, string> = {}, args: string[] = []): Promise<Battery[]> {
  const r = await runJob(fixture(import.meta.url, "slots.ts"), { np, env, args, timeoutMs: 120_000 });
  const why = explain(r);
  expect(r.ok, why).toBe(true);
  return r.results.map((res, rank) => {
    expect(res.length, `rank ${rank} printed no RESULT\n${why}`).toBe(1);
    return res[0] as Battery;
  });
}

interface Notes {
  rank: number;
  root: number;
  halfSize: number;
  failures: string[];
  ops: Record<string, { sent: number; notes: number; copies: number; calls: number }>;
}

function leftInShm(prefix: string): string[] {
  return readdirSync("/dev/shm").filter((n) => n.startsWith(prefix));
}

describe("collectives through the collective slots", () => {
  for (const np of [2, 3, 4, 5]) {
    it(`every collective small and large, world and dup/split used concurrently, on ${np} ranks`, { timeout: 130_000 }, async () => {
      const all = await battery(np);
      expect(all.flatMap((b) => b.failures)).toEqual([]);
      for (const b of all) {
        // 4 rounds × 8 collectives on the world, 2 set-up exchanges by messages; then the dup.
        expect(b.slots.exchanges, `rank ${b.rank}`).toBeGreaterThanOrEqual(4 * 8 - 2 + 3 * 2 * 8 - 2);
        expect(b.slots.oversize, `rank ${b.rank}`).toBe(0);
        // The large rounds close their single-copy handshakes in the slots.
        expect(b.slots.fins, `rank ${b.rank}`).toBeGreaterThan(0);
      }
    });
  }

  it("records larger than a slot (ONECOPY_COLL_SLOTS=1k) go by messages, decided per writer, same results", { timeout: 130_000 }, async () => {
    const all = await battery(3, { ONECOPY_COLL_SLOTS: "1k" }, ["oversize"]);
    expect(all.flatMap((b) => b.failures)).toEqual([]);
    for (const b of all) {
      expect(b.slots.oversize, `rank ${b.rank}`).toBeGreaterThan(0);
      expect(b.slots.exchanges - b.slots.oversize, `rank ${b.rank}: small records still in the slot`).toBeGreaterThan(0);
    }
  });

  for (const env of [{ ONECOPY_COLL_SLOTS: "0" }, { ONECOPY_FASTPATH: "0" }] as Array<Record<string, string>>) {
    it(`${Object.entries(env)[0]!.join("=")}: the message path, same results`, { timeout: 130_000 }, async () => {
      const all = await battery(3, env);
      expect(all.flatMap((b) => b.failures)).toEqual([]);
      for (const b of all) expect(b.slots.exchanges, `rank ${b.rank}`).toBe(0);
    });
  }

  for (const [np, split] of [[2, 50], [3, 50], [3, 0]] as const) {
    it(`large allreduce and bcast tell "data there" / "done" by slot notes and fins, no messages (np ${np}, world and split, ONECOPY_COLL_BCAST_SPLIT=${split})`, { timeout: 60_000 }, async () => {
      const r = await runJob(fixture(import.meta.url, "slot-notes.ts"), { np, env: { ONECOPY_COLL_BCAST_SPLIT: String(split) }, timeoutMs: 50_000 });
      const why = explain(r);
      expect(r.ok, why).toBe(true);
      const reps = r.results.map((x) => x[0] as Notes);
      for (const rep of reps) {
        expect(rep.failures, why).toEqual([]);
        for (const [name, o] of Object.entries(rep.ops)) {
          if (name.endsWith(" split") && rep.halfSize === 1) continue;
          expect(o.sent, `rank ${rep.rank}, ${name}: messages sent in ${o.calls} calls`).toBe(0);
        }
        // Every non-root rank says its chunk is complete; with the split it first reads the tail of it from the root.
        if (rep.rank !== rep.root) {
          expect(rep.ops.bcast!.notes, `rank ${rep.rank}: bcast notes`).toBeGreaterThanOrEqual(rep.ops.bcast!.calls);
          if (split > 0) expect(rep.ops.bcast!.copies, `rank ${rep.rank}: bcast single copies`).toBeGreaterThanOrEqual(rep.ops.bcast!.calls);
        }
      }
    });
  }

  it("ONECOPY_COLL_NOTES=0, ONECOPY_COLL_BCAST_SPLIT=0: notifications by messages again, same results", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "slot-notes.ts"), { np: 3, env: { ONECOPY_COLL_NOTES: "0", ONECOPY_COLL_BCAST_SPLIT: "0" }, timeoutMs: 50_000 });
    const why = explain(r);
    expect(r.ok, why).toBe(true);
    for (const rep of r.results.map((x) => x[0] as Notes)) {
      expect(rep.failures, why).toEqual([]);
      expect(rep.ops.allreduce!.notes + rep.ops.bcast!.notes, `rank ${rep.rank}`).toBe(0);
      expect(rep.ops.allreduce!.sent, `rank ${rep.rank}: allreduce's "slice written" messages`).toBeGreaterThan(0);
    }
  });

  it("mismatches (kinds, counts, roots, types, ops) fail with ERR_MISMATCH on every rank through the slots", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "mismatch.ts"), { np: 3, args: ["warm"], timeoutMs: 50_000 });
    const outs = r.ranks.map((rk) => {
      const line = rk.stdout.trim().split("\n").find((l) => l.startsWith("{"));
      if (!line) throw new Error(explain(r));
      return JSON.parse(line) as { rank: number; slotExchanges: number; results: Array<{ name: string; code: string | null; message: string }> };
    });
    expect(r.ok, explain(r)).toBe(true);
    for (const o of outs) {
      // Every scenario and every check after it went through the slots.
      expect(o.slotExchanges, `rank ${o.rank}`).toBeGreaterThanOrEqual(o.results.length);
      for (const res of o.results) {
        if (res.name.startsWith("ok:")) expect(res.code, `${res.name} on rank ${o.rank}: ${res.message}`).toBe(null);
        else expect(["ERR_MISMATCH", "ERR_INVALID_ARG", "ERR_INVALID_BUFFER", "ERR_INVALID_RANK"], `${res.name} on rank ${o.rank}: ${res.message}`).toContain(res.code);
      }
    }
    for (const name of ["count", "count large", "dtype", "op", "root", "kind", "gatherv counts", "alltoallv counts", "allgatherv counts"]) {
      for (const o of outs) expect(o.results.find((x) => x.name === name)?.code, `${name} on rank ${o.rank}`).toBe("ERR_MISMATCH");
    }
  });

  for (const np of [2, 4]) {
    it(`a rank waiting in a slot for a late peer sleeps (np ${np}): CPU time well under the wait, one doorbell wakes it`, { timeout: 60_000 }, async () => {
      const r = await runJob(fixture(import.meta.url, "slot-wait.ts"), { np, args: ["late", "1500"], timeoutMs: 50_000 });
      const why = explain(r);
      expect(r.ok, why).toBe(true);
      const reps = r.results.map((x) => x[0] as { rank: number; prefix: string; leftover: string[]; wallMs: number; cpuMs: number; exchanges: number; waits: number; bells: number });
      for (const rep of reps) {
        expect(rep.exchanges, `rank ${rep.rank}`).toBe(1);
        expect(rep.leftover, `rank ${rep.rank}: segment names still in /dev/shm once set up`).toEqual([]);
        if (rep.rank === np - 1) continue;
        expect(rep.wallMs, `rank ${rep.rank} waited`).toBeGreaterThan(1000);
        expect(rep.waits, `rank ${rep.rank}`).toBe(1);
        // Sleeping, not polling: a spin would burn ~1500 ms of CPU here.
        expect(rep.cpuMs, `rank ${rep.rank} used ${rep.cpuMs} ms of CPU in a ${rep.wallMs} ms wait`).toBeLessThan(300);
      }
      expect(reps[np - 1]!.bells, "the late rank rang the sleepers' doorbells").toBeGreaterThanOrEqual(1);
      expect(leftInShm(reps[0]!.prefix)).toEqual([]);
    });
  }

  it("back-to-back small collectives, nobody spinning (ONECOPY_SPIN_US=0): one doorbell per sleep at most, a fin never rings a record waiter", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "slot-wait.ts"), { np: 2, args: ["pingpong", "1500"], env: { ONECOPY_SPIN_US: "0" }, timeoutMs: 50_000 });
    const why = explain(r);
    expect(r.ok, why).toBe(true);
    const reps = r.results.map((x) => x[0] as { rank: number; wrong: number; exchanges: number; waits: number; bells: number });
    let waits = 0;
    let bells = 0;
    for (const rep of reps) {
      expect(rep.wrong, `rank ${rep.rank}: wrong allreduce results`).toBe(0);
      expect(rep.exchanges, `rank ${rep.rank}`).toBe(3000);
      waits += rep.waits;
      bells += rep.bells;
    }
    // Every wait sleeps once; each sleep is rung only by the event it waits for (the peer's
    // record, or its fin), so the doorbells never outnumber the waits.
    expect(waits, "the ranks did wait for each other").toBeGreaterThan(500);
    expect(bells, `${bells} doorbells for ${waits} waits`).toBeLessThanOrEqual(waits);
  });

  it("a member killed while the others wait in a slot: ERR_PEER_LOST naming it on every survivor, no hang, nothing left in /dev/shm", { timeout: 60_000 }, async () => {
    const t0 = Date.now();
    const r = await runJob(fixture(import.meta.url, "slot-wait.ts"), { np: 4, args: ["kill"], failGraceMs: 20_000, timeoutMs: 50_000 });
    const why = explain(r);
    expect(r.ranks[3]!.signal, why).toBe("SIGKILL");
    for (const rank of [0, 1, 2]) {
      const rep = r.results[rank]![0] as { prefix: string; leftover: string[]; first: { code: string; peer?: number }; next: { code: string; peer?: number; ms: number }; waits: number } | undefined;
      expect(rep, `rank ${rank} printed no RESULT\n${why}`).toBeDefined();
      expect(rep!.waits, `rank ${rank} waited in the slot`).toBeGreaterThanOrEqual(1);
      expect({ code: rep!.first.code, peer: rep!.first.peer }, why).toEqual({ code: "ERR_PEER_LOST", peer: 3 });
      expect({ code: rep!.next.code, peer: rep!.next.peer }, why).toEqual({ code: "ERR_PEER_LOST", peer: 3 });
      expect(rep!.leftover).toEqual([]);
      expect(leftInShm(rep!.prefix)).toEqual([]);
    }
    expect(Date.now() - t0, "survivors got out by themselves, before the launcher's grace").toBeLessThan(20_000);
  });

  it("closing a communicator unmaps its slots: 200 × (dup, barriers, close) leave only the world's segment mapped", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "slot-wait.ts"), { np: 3, args: ["dups"], timeoutMs: 50_000 });
    expect(r.ok, explain(r)).toBe(true);
    for (const res of r.results) {
      const rep = res[0] as { rank: number; mapped: number; exchanges: number };
      expect(rep.exchanges, `rank ${rep.rank}: each dup's third barrier went through its slots`).toBeGreaterThanOrEqual(200);
      expect(rep.mapped, `rank ${rep.rank}: slot segments still mapped`).toBe(1);
    }
  });

  it("a member that closes its world instead of joining: the others' slot wait fails with ERR_PEER_LOST naming it, no hang", { timeout: 60_000 }, async () => {
    const r = await runJob(fixture(import.meta.url, "slot-wait.ts"), { np: 3, args: ["leave"], failGraceMs: 20_000, timeoutMs: 30_000 });
    const why = explain(r);
    for (const rank of [0, 1]) {
      const rep = r.results[rank]![0] as { first: { code: string; peer?: number; message?: string }; next: { code: string; peer?: number }; waits: number } | undefined;
      expect(rep, `rank ${rank} printed no RESULT\n${why}`).toBeDefined();
      expect(rep!.waits, `rank ${rank} waited in the slot`).toBeGreaterThanOrEqual(1);
      expect({ code: rep!.first.code, peer: rep!.first.peer }, why).toEqual({ code: "ERR_PEER_LOST", peer: 2 });
      expect(rep!.first.message).toMatch(/left the job in the middle of a collective/);
      expect({ code: rep!.next.code, peer: rep!.next.peer }, why).toEqual({ code: "ERR_PEER_LOST", peer: 2 });
    }
  });
});
