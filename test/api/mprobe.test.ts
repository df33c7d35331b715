// Matched probe (mprobe/improbe) over real ranks: exclusivity against wildcard receives posted
// afterwards, MPI order against receives posted before, eager and rendezvous sizes, objects.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

describe("matched probe", () => {
  const runs = [[1, "cma"], [2, "cma"], [2, "socket"], [2, "shm"], [3, "cma"], [4, "cma"]] as const;
  for (const [np, transport] of runs) {
    it(`takes the message it finds so no other receive can (np=${np}, ${transport})`, async () => {
      const r = await runJob(fixture(import.meta.url, "mprobe.ts"), { np, transport, timeoutMs: 30_000 });
      expect(r.exitCode, explain(r)).toBe(0);
      const out = r.results.map((x) => x[0] as Record<string, unknown>);
      const a = out[0]!;
      const peer = np > 1 ? 1 : 0;
      for (const n of [16, 300_000]) {
        expect(a[`n${n}`], `n=${n}`).toEqual({
          probed: [peer, 1, n],
          iprobeAfter: true,
          wildcard: [2, 2], // the wildcard got B, never the mprobed A
          badBuffer: "ERR_INVALID_BUFFER",
          matched: [peer, 1, n, 1],
          again: "ERR_INVALID_ARG",
          order: [3, 4], // the receive posted first took C1, the mprobe C2
          twoProbes: [5, 6],
          improbed: n * 2,
          truncated: "ERR_TRUNCATE",
          iprobeEnd: true,
        });
      }
      expect(a.objects).toEqual(["one", 50_000, true, "two", true, "three"]);
      expect(a.fanIn).toEqual(Array.from({ length: np - 1 }, (_, i) => [i + 1, (i + 1) * 1000, i + 1]));
      for (const o of out) {
        expect(o.procNull).toEqual([-2, -2, 0, 0]);
        expect(o.badRank).toBe("ERR_INVALID_RANK");
        expect(o.badTag).toBe("ERR_INVALID_TAG");
        expect(o.badImprobe).toBe("ERR_INVALID_TAG");
      }
      for (const rk of r.results) expect(rk[1]).toEqual({ waiting: "ERR_CLOSED", after: "ERR_CLOSED", afterImprobe: "ERR_CLOSED" });
    });
  }
});

describe("matched probe and peer loss", () => {
  it("pending mprobes and the receive of a matched message fail with ERR_PEER_LOST when the sender dies", async () => {
    const r = await runJob(fixture(import.meta.url, "mprobe-lost.ts"), { np: 2, failGraceMs: 5000, timeoutMs: 30_000 });
    expect(r.ranks[1]!.signal, explain(r)).toBe("SIGKILL");
    expect(r.results[0]![0], explain(r)).toEqual({ byRank: "ERR_PEER_LOST", any: "ERR_PEER_LOST", recv: "ERR_PEER_LOST", after: "ERR_PEER_LOST", improbe: "ERR_PEER_LOST" });
  });
});
