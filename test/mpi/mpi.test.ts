// onecopy started by Open MPI's real mpirun, its ranks split over simulated nodes with
// ONECOPY_NODE_ID: traffic between nodes must go through libmpi (stats prove it), node-local
// pairs keep single copy, and the MPI semantics we check elsewhere hold across the nodes.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { fixture, mpirunMissing, runMpi } from "./kit.js";
import { expectMatchingSemantics } from "../p2p/matching-checks.js";

const here = (name: string) => fixture(import.meta.url, name);
const p2pFixture = (name: string) => fileURLToPath(new URL(`../p2p/fixtures/${name}`, import.meta.url));
const apiFixture = (name: string) => fileURLToPath(new URL(`../api/fixtures/${name}`, import.meta.url));
const collFixture = (name: string) => fileURLToPath(new URL(`../collectives/fixtures/${name}`, import.meta.url));
const MiB = 1 << 20;

describe("started by mpirun without a usable libmpi", () => {
  it("fails init() with ERR_MPI_UNAVAILABLE saying what to install", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", here("no-libmpi.ts")], {
      encoding: "utf8",
      env: { ...process.env, OMPI_COMM_WORLD_RANK: "0", OMPI_COMM_WORLD_SIZE: "2", ONECOPY_LIBMPI: "/nonexistent/libmpi.so.40", ONECOPY_RANK: undefined },
      timeout: 30_000,
    });
    const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
    expect(line, r.stdout + r.stderr).toBeDefined();
    const res = JSON.parse(line!.slice(7)) as { code: string; message: string };
    expect(res.code).toBe("ERR_MPI_UNAVAILABLE");
    expect(res.message).toMatch(/apt-get install openmpi-bin libopenmpi-dev/);
    expect(res.message).toMatch(/ONECOPY_LIBMPI/);
  });
});

describe.skipIf(mpirunMissing !== null)(`under mpirun${mpirunMissing ? ` (skipped: ${mpirunMissing})` : ""}`, () => {
  it("point-to-point across two simulated nodes: tags, ANY_SOURCE, order, truncation, probe, ssend, 16 MiB, sub-communicators", { timeout: 120_000 }, async () => {
    const r = await runMpi(here("p2p.ts"), { nodes: ["a", "a", "b", "b"] });
    expect(r.code, r.output).toBe(0);
    const res = r.results.map((x) => x[0] as Record<string, any>);
    const r0 = res[0]!;
    expect(r0.tags).toEqual([66, 6, 55, 5]);
    expect(r0.anySource).toEqual([
      [1, 1, true],
      [1, 2, true],
      [2, 1, true],
      [2, 2, true],
      [3, 1, true],
      [3, 2, true],
    ]);
    expect(r0.ordered).toBe(true);
    expect(r0.truncate100).toEqual({ code: "ERR_TRUNCATE", untouched: true, next: true });
    expect(r0.truncate1048576).toEqual({ code: "ERR_TRUNCATE", untouched: true, next: true });
    expect(r0.probe).toEqual({ source: 2, bytes: 2 * MiB, ok: true, iprobe: { source: 2, bytes: 100 } });
    expect(r0.ssend).toEqual({ completedEarly: false });
    expect(res[2]!.ssendValue).toBe(7);
    expect(res[1]!.big).toBe(true);
    expect(res[3]!.big).toBe(true);
    for (const x of res) {
      expect(x.subComms).toEqual({ node: 2, nodeSum: x.rank < 2 ? 3 : 7, across: 2, acrossSum: x.rank % 2 ? 6 : 4, bcast: true });
      expect(x.stats.shm, `rank ${x.rank}: shared-memory double copy`).toBe(0);
      expect(x.stats.fallback, `rank ${x.rank}: socket fallback`).toBe(0);
    }
    // The bytes from the other node came through libmpi: rank 0's 1 MiB from rank 2 and 3, the
    // 2 MiB probed one, the 100 KB ones of the ordered stream; rank 3's 16 MiB from rank 1.
    expect(r0.stats.mpiBytes).toBeGreaterThanOrEqual(2 * MiB + 2 * MiB);
    expect(r0.stats.mpiControl).toBeGreaterThan(2000 * 8); // the inline ones of the ordered stream
    expect(res[3]!.stats.mpiBytes).toBeGreaterThanOrEqual(16 * MiB);
    expect(res[1]!.stats.mpiSent).toBeGreaterThanOrEqual(16 * MiB);
    // ... and rank 1's 1 MiB to rank 0, on the same node, by single copy.
    expect(r0.stats.singleCopy).toBeGreaterThanOrEqual(MiB);
  });

  for (const senderFirst of [true, false]) {
    it(`large messages between nodes, ${senderFirst ? "sender first (MPI_Issend right after the RTS)" : "receiver first (ONECOPY_MPI_SENDER_FIRST=0: PULL, then MPI_Isend)"}: matching order, small/large order, ANY_SOURCE, truncation, ssend, an unreceived send`, { timeout: 90_000 }, async () => {
      const r = await runMpi(here("large-messages.ts"), { nodes: ["a", "b", "b"], env: { ONECOPY_MPI_SENDER_FIRST: senderFirst ? "1" : "0" } });
      expect(r.code, r.output).toBe(0);
      const [r0, r1, r2] = r.results.map((x) => x[0] as Record<string, any>);
      expect(r0!.reverse_unexpected).toBe(true);
      expect(r0!.reverse_posted).toBe(true);
      const inOrder = [0, 1, 2, 3, 4, 5].map((i) => [i, i % 2 === 0 ? 300 * 1024 : 16, true]);
      expect(r0!.order_posted).toEqual(inOrder);
      expect(r0!.order_unexpected).toEqual(inOrder);
      expect(r0!.anySource).toEqual({ ok: true, seen: { 1: [0, 1, 2, 3, 4, 5], 2: [0, 1, 2, 3, 4, 5] } });
      expect(r0!.truncate).toEqual({ code: "ERR_TRUNCATE", untouched: true, next: 41 });
      expect(r1!.truncatedSend).toBe("none"); // the sender of a truncated message completes normally
      expect(r0!.ssendEarly).toBe(false);
      expect(r1!.ssendOk).toBe(true);
      expect(r0!.burstOk).toBe(true);
      // Sender first, the receiver answers a burst of large messages with no frame per message
      // (receiver first, it sends a PULL for each).
      if (senderFirst) expect(r0!.framesBack).toBeLessThan(8);
      else expect(r0!.framesBack).toBeGreaterThanOrEqual(32);
      expect(r2!.unreceived).toBe("ERR_PEER_LOST");
    });
  }

  it("one node when no ONECOPY_NODE_ID is set: MPI_Comm_split_type puts both ranks together and they copy directly", { timeout: 60_000 }, async () => {
    const r = await runMpi(here("one-node.ts"), { nodes: ["", ""] });
    expect(r.code, r.output).toBe(0);
    for (const x of r.results.map((y) => y[0] as Record<string, any>)) {
      expect(x.size).toBe(2);
      expect(x.ok).toBe(true);
      expect(x.singleCopy).toBeGreaterThanOrEqual(4 * MiB);
      expect(x.mpi.bytes).toBe(0);
      expect(x.mpi.controlMessages).toBe(0);
    }
  });

  it("the p2p matching suite with ranks split over two nodes (wildcards, order, unexpected, 10k outstanding, split, objects)", { timeout: 120_000 }, async () => {
    const r = await runMpi(p2pFixture("matching.ts"), { nodes: ["a", "a", "b", "b"] });
    expect(r.code, r.output).toBe(0);
    expectMatchingSemantics(r.results.map((x) => x[0] as Record<string, any>));
  });

  it("every size, gathered and scattered buffers, between two ranks on two nodes", { timeout: 90_000 }, async () => {
    const r = await runMpi(p2pFixture("sizes.ts"), { nodes: ["a", "b"] });
    expect(r.code, r.output).toBe(0);
    for (const x of r.results.map((y) => y[0] as { checks: Array<{ ok: boolean }>; singleCopy: number; shm: number; fallback: number })) {
      expect(x.checks.length).toBeGreaterThanOrEqual(8);
      expect(x.checks.filter((c) => !c.ok)).toEqual([]);
      expect(x.singleCopy + x.shm + x.fallback).toBe(0); // nothing but MPI connects two nodes
    }
  });

  it("bad arguments and truncation keep their codes across nodes", { timeout: 60_000 }, async () => {
    const r = await runMpi(p2pFixture("errors.ts"), { nodes: ["a", "b"] });
    expect(r.code, r.output).toBe(0);
    const r0 = r.results[0]![0] as Record<string, any>;
    expect(r0.truncate100).toMatchObject({ code: "ERR_TRUNCATE", untouched: true, next: true });
    expect(r0.truncate1048576).toMatchObject({ code: "ERR_TRUNCATE", untouched: true, next: true });
    expect(r0.closed).toBe("ERR_CLOSED");
  });

  for (const [hierarchical, chunk] of [[true, 0], [true, 128 << 10], [false, 0]] as const) {
    it(`world allreduce/reduce/allgather/gather/bcast/barrier ${hierarchical ? `hierarchically (node → leaders over MPI → node${chunk ? ", allreduce pipelined in 128 KiB chunks" : ""})` : "flat (ONECOPY_HIERARCHICAL=0)"}: results, MPI bytes, cross-node mismatch`, { timeout: 60_000 }, async () => {
      // Interleaved nodes for the hierarchical run: allgather must put node-major blocks back in rank order.
      const nodes = hierarchical ? ["a", "b", "a", "b"] : ["a", "a", "b", "b"];
      const r = await runMpi(here("hierarchical.ts"), { nodes, env: hierarchical ? { ONECOPY_HIER_CHUNK: String(chunk) } : { ONECOPY_HIERARCHICAL: "0" } });
      expect(r.code, r.output).toBe(0);
      for (const x of r.results.map((y) => y[0] as Record<string, any>)) {
        expect(x).toMatchObject({ sum: true, minInPlace: true, max: true, fn: true, bcast: true, nonBlocking: true, mismatch: "ERR_MISMATCH" });
        expect(x.reduce).toEqual({ nonLeaderRoot: true, inPlace: true, leaderRoot: true });
        expect(x.allgather).toBe(true);
        expect([x.gather3, x.gather0, x.gatherInPlace]).toEqual([true, true, true]);
        const leader = hierarchical ? x.rank === 0 || x.rank === 1 : x.rank === 0 || x.rank === 2;
        // The leaders handed MPI the 1 MiB sum and reduce and the 4 MiB broadcast (and the small ones).
        if (hierarchical && leader) expect(x.collectiveBytes).toBeGreaterThanOrEqual((1 << 20) * 2 + (4 << 20));
        else expect(x.collectiveBytes).toBe(0);
      }
    });
  }

  for (const chunk of [0, 128 << 10]) {
    it(`ranks that choose different algorithms (op function, Uint8Array, IN_PLACE, bad root, a flat node) or whose node-local step fails: every rank of both nodes fails with ERR_MISMATCH, none hangs${chunk ? " (allreduce pipelined in 128 KiB chunks)" : ""}`, { timeout: 90_000 }, async () => {
      const r = await runMpi(here("hier-mismatch.ts"), { nodes: ["a", "a", "b", "b"], timeoutMs: 60_000, env: { ONECOPY_HIER_CHUNK: String(chunk) } });
      const cases = ["opFunction", "uint8OnOne", "nodeFlat", "nodeLocal", "reduceBadRoot", "bcastBuffer", "bcastBadRoot", "allgatherInPlace", "gatherNodeLocal", "chunkCount", "allFlat", "after"];
      const byRank = r.results.map((x) => Object.fromEntries((x as Array<{ case: string; code: string }>).map((y) => [y.case, y.code])));
      for (const got of byRank) expect(got, r.output.slice(-3000)).toEqual(Object.fromEntries(cases.map((c) => [c, c === "allFlat" || c === "after" ? "ok" : "ERR_MISMATCH"])));
      expect(r.code, r.output).toBe(0);
    });
  }

  it("matched probe across nodes (rank 1, the probed peer, on the other node): exclusivity, order, truncation, objects", { timeout: 90_000 }, async () => {
    const r = await runMpi(apiFixture("mprobe.ts"), { nodes: ["a", "b", "b", "a"] });
    expect(r.code, r.output).toBe(0);
    const out = r.results.map((x) => x[0] as Record<string, unknown>);
    const a = out[0]!;
    for (const n of [16, 300_000]) {
      expect(a[`n${n}`], `n=${n}`).toEqual({
        probed: [1, 1, n],
        iprobeAfter: true,
        wildcard: [2, 2],
        badBuffer: "ERR_INVALID_BUFFER",
        matched: [1, 1, n, 1],
        again: "ERR_INVALID_ARG",
        order: [3, 4],
        twoProbes: [5, 6],
        improbed: n * 2,
        truncated: "ERR_TRUNCATE",
        iprobeEnd: true,
      });
    }
    expect(a.objects).toEqual(["one", 50_000, true, "two", true, "three"]);
    expect(a.fanIn).toEqual([1, 2, 3].map((i) => [i, i * 1000, i]));
    for (const rk of r.results) expect(rk[1]).toEqual({ waiting: "ERR_CLOSED", after: "ERR_CLOSED", afterImprobe: "ERR_CLOSED" });
  });

  it("non-blocking and object collectives with every other rank on the other node", { timeout: 120_000 }, async () => {
    const nodes = ["a", "b", "a", "b"];
    const ic = await runMpi(apiFixture("icoll.ts"), { nodes });
    expect(ic.code, ic.output).toBe(0);
    for (const [rep] of ic.results as Array<Array<Record<string, unknown>>>) {
      const me = rep!.rank as number;
      expect(rep).toEqual({ rank: me, sum: true, bcast: true, gather: [0, 3, 6, 9], scan: ((me + 1) * (me + 2)) / 2, polled: true, bad: "ERR_INVALID_ARG" });
    }
    const oc = await runMpi(apiFixture("object-collectives.ts"), { nodes });
    expect(oc.code, oc.output).toBe(0);
    const ranks = [0, 1, 2, 3];
    for (const [rep] of oc.results as Array<Array<Record<string, unknown>>>) {
      const me = rep!.rank as number;
      expect(rep!.bcast).toEqual({ k: "7", s: "hi", len: 250_000, ok: true });
      expect(rep!.allgather).toEqual(ranks.map((i) => `r${i}`));
      expect(rep!.alltoall).toEqual(ranks.map((j) => `${j}->${me}`));
      expect(rep!.allreduce).toBe(ranks.join(""));
      expect(rep!.sum).toBe(10);
      expect(rep!.bigmax).toBe(String(3n * 10n ** 20n));
      expect(rep!.opThrows).toBe("ERR_MISMATCH");
      expect(rep!.after).toEqual(ranks);
    }
  });

  it("the collectives battery over three uneven nodes (a: 1 rank, b: 2, c: 1)", { timeout: 160_000 }, async () => {
    const r = await runMpi(collFixture("battery.ts"), { nodes: ["a", "b", "b", "c"], args: ["404", "48"], timeoutMs: 150_000 });
    expect(r.code, r.output).toBe(0);
    const summaries = r.output
      .split("\n")
      .map((l) => /^\[\d+,\d+\]<stdout>:(\{.*\})$/.exec(l)?.[1])
      .filter((l): l is string => l !== undefined)
      .map((l) => JSON.parse(l) as { size: number; cases: number; failures: string[] });
    expect(summaries.length).toBe(4);
    for (const s of summaries) {
      expect(s.size).toBe(4); // one job, not four singletons
      expect(s.cases).toBe(48);
      expect(s.failures).toEqual([]);
    }
  });
});
