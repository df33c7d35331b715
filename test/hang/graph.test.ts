// The hang report's wait-for graph, in process: edges of receives, sends, ANY_SOURCE and
// collectives; the cycles found; the text printed.
import { describe, expect, it } from "vitest";
import type { BlockedCallInfo } from "@onecopy/rendezvous";
import { collectivesOutOfStep, describeCall, findCycles, formatHangReport, waitForGraph, type RankView } from "../../packages/onecopy/src/launcher/hang-graph.js";

const world = (n: number) => Array.from({ length: n }, (_, i) => i);
const recv = (peer: number, tag = 5, group = world(2), comm = "w"): BlockedCallInfo => ({ call: "recv", comm, group, peer, peerWorld: peer >= 0 ? group[peer]! : peer, tag, seq: 0, ms: 12_000 });
const coll = (call: string, seq: number, group: number[], comm = "w"): BlockedCallInfo => ({ call, comm, group, peer: -3, peerWorld: -3, tag: -1, seq, ms: 3_000 });
const at = (rank: number, ...blocked: BlockedCallInfo[]): RankView => ({ rank, state: "answered", blocked });
const graphOf = (views: RankView[]) => Object.fromEntries(waitForGraph(views));

describe("wait-for graph", () => {
  it("two ranks receiving from each other: one cycle 0 → 1 → 0", () => {
    const views = [at(0, recv(1)), at(1, recv(0))];
    expect(graphOf(views)).toEqual({ 0: [1], 1: [0] });
    expect(findCycles(waitForGraph(views))).toEqual([[0, 1]]);
    const text = formatHangReport(views, "test");
    expect(text).toContain("  rank 0: recv(source 1, tag 5) 12.0 s ← rank 1: recv(source 0, tag 5) 12.0 s — deadlock: 0 → 1 → 0");
  });

  it("a ring of three, and a chain into a rank that is not blocked has no cycle", () => {
    const g = world(3);
    const ring = [at(0, recv(1, 7, g)), at(1, recv(2, 7, g)), at(2, recv(0, 7, g))];
    expect(findCycles(waitForGraph(ring))).toEqual([[0, 1, 2]]);
    const chain = [at(0, recv(1, 7, g)), at(1, recv(2, 7, g)), { rank: 2, state: "busy", blocked: [] } as RankView];
    expect(findCycles(waitForGraph(chain))).toEqual([]);
    const text = formatHangReport(chain, "test");
    expect(text).toContain("rank 2: not blocked (busy");
    expect(text).toContain("no cycle");
    expect(text).not.toContain("deadlock");
  });

  it("two separate cycles are both found, each from its lowest rank", () => {
    const g = world(5);
    const views = [at(0, recv(1, 0, g)), at(1, recv(0, 0, g)), at(2, recv(4, 0, g)), at(3, recv(2, 0, g)), at(4, recv(3, 0, g))];
    expect(findCycles(waitForGraph(views))).toEqual([[0, 1], [2, 4, 3]]);
  });

  it("ANY_SOURCE waits for every other rank of its communicator", () => {
    const g = world(3);
    const views = [at(0, recv(-1, -1, g)), at(1, recv(0, 1, g)), { rank: 2, state: "answered", blocked: [] } as RankView];
    expect(graphOf(views)).toEqual({ 0: [1, 2], 1: [0] });
    expect(findCycles(waitForGraph(views))).toEqual([[0, 1]]);
    expect(describeCall(recv(-1, -1, g))).toBe("recv(source any, tag any)");
  });

  it("peers on a sub-communicator are world ranks in the graph, named both ways in the text", () => {
    const sub = [1, 3];
    const views = [at(1, recv(1, 2, sub, "w.1:0")), at(3, recv(0, 2, sub, "w.1:0"))];
    expect(graphOf(views)).toEqual({ 1: [3], 3: [1] });
    expect(describeCall(recv(1, 2, sub, "w.1:0"))).toBe("recv(source 1 = world 3, tag 2) on comm w.1:0");
  });

  it("a collective waits for the ranks of its communicator that are not in the same call", () => {
    const g = world(4);
    const views = [at(0, coll("bcast", 14, g)), at(1, coll("bcast", 14, g)), at(2, coll("allreduce", 14, g)), at(3, coll("bcast", 14, g))];
    expect(graphOf(views)).toEqual({ 0: [2], 1: [2], 2: [0, 1, 3], 3: [2] });
    expect(findCycles(waitForGraph(views))).toEqual([[0, 2]]);
    expect(collectivesOutOfStep(views)).toBe("rank 2 is in allreduce #14; ranks 0,1,3 are in bcast #14");
    // All in the same call (some rank still on its way): no edges between them.
    const same = [at(0, coll("allreduce", 3, g)), at(1, coll("allreduce", 3, g)), at(2, coll("allreduce", 3, g)), at(3)];
    expect(graphOf(same)).toEqual({ 0: [3], 1: [3], 2: [3] });
    expect(collectivesOutOfStep(same)).toBeUndefined();
    expect(findCycles(waitForGraph(same))).toEqual([]);
  });

  it("an awaited request with no known peer has no edge; nothing blocked says so", () => {
    const unknown: BlockedCallInfo = { call: "await irecv from rank 1, tag 5", comm: "", group: [], peer: -3, peerWorld: -3, tag: -1, seq: 0, ms: 1000 };
    expect(waitForGraph([at(0, unknown)]).size).toBe(0);
    expect(formatHangReport([at(0, unknown)], "t")).toContain("rank 0: await irecv from rank 1, tag 5 1.0 s");
    expect(formatHangReport([at(0), at(1)], "t")).toContain("no rank is blocked");
  });

  it("a cycle through a rank that is making progress is not called a deadlock", () => {
    const views = [at(0, recv(1)), { ...at(1, recv(0)), progressing: true }];
    const text = formatHangReport(views, "t");
    expect(text).toContain("cycle, but its ranks are making progress: 0 → 1 → 0");
    expect(text).not.toContain("deadlock");
  });
});

describe("--hang-report / --hang-exit", () => {
  it("parse into hangReportSeconds / hangExit; bad values are usage errors", async () => {
    const { parseCommandLine } = await import("../../packages/onecopy/src/launcher/index.js");
    expect(parseCommandLine(["run", "-n", "2", "--hang-report", "1.5", "--hang-exit", "a.js"])).toMatchObject({ options: { hangReportSeconds: 1.5, hangExit: true } });
    expect(parseCommandLine(["run", "-n", "2", "--hang-report=0", "a.js"])).toMatchObject({ options: { hangReportSeconds: 0 } });
    expect(() => parseCommandLine(["run", "-n", "2", "--hang-report", "-1", "a.js"])).toThrow(/--hang-report expects/);
    expect(() => parseCommandLine(["run", "-n", "2", "--hang-exit=1", "a.js"])).toThrow(/takes no value/);
  });
});
