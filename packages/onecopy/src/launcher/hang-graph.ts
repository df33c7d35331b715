// The hang report: who waits for whom (the wait-for graph of the ranks' blocked calls), its
// cycles, and the text the launcher prints. Pure: the answers in, the graph and text out.
//
// Edges, in world ranks: a rank blocked in a receive (probe, sendrecv) from r, or a send to r,
// waits for r; ANY_SOURCE waits for every other rank of the communicator; a rank in a collective
// on communicator C waits for the ranks of C that are not in the same collective call (same
// communicator, same name, same number). A wait whose peer is unknown (an awaited request) has
// no edge. Every blocked call of a rank counts (a rank waiting for several requests needs all).
import type { BlockedCallInfo } from "@onecopy/rendezvous";

const ANY_SOURCE = -1;
const ANY_TAG = -1;

/** What the launcher knows about one rank when it draws the graph. */
export interface RankView {
  rank: number;
  /**
   * answered: it said what it is blocked in (possibly nothing); busy: it did not answer in
   * time (computing synchronously); exited: it is gone; starting: it has not joined the job yet.
   */
  state: "answered" | "busy" | "exited" | "starting";
  blocked: BlockedCallInfo[];
  /** Exit code or signal, for exited ranks. */
  end?: string;
  /** It completed operations or moved messages while it was being watched: a cycle through it is no deadlock (yet). */
  progressing?: boolean;
}

/** The wait-for graph: for each rank, the ranks it waits for (ascending). */
export function waitForGraph(views: readonly RankView[]): Map<number, number[]> {
  const byRank = new Map(views.map((v) => [v.rank, v]));
  const inSameCall = (r: number, c: BlockedCallInfo): boolean =>
    byRank.get(r)?.blocked.some((d) => d.seq === c.seq && d.comm === c.comm && d.call === c.call) ?? false;
  const graph = new Map<number, number[]>();
  for (const v of views) {
    const to = new Set<number>();
    for (const c of v.blocked) {
      if (c.comm === "") continue; // peer unknown
      if (c.seq > 0) {
        for (const m of c.group) if (m !== v.rank && !inSameCall(m, c)) to.add(m);
      } else if (c.peer === ANY_SOURCE) {
        for (const m of c.group) if (m !== v.rank) to.add(m);
      } else if (c.peerWorld >= 0) to.add(c.peerWorld);
    }
    if (to.size > 0) graph.set(v.rank, [...to].sort((a, b) => a - b));
  }
  return graph;
}

/**
 * The cycles of `graph`: one per strongly connected component that has one (the shortest cycle
 * through its lowest rank), each as the ranks in order from that rank, e.g. [0, 1] for 0 → 1 → 0.
 * Sorted by their first rank.
 */
export function findCycles(graph: ReadonlyMap<number, readonly number[]>): number[][] {
  const cycles: number[][] = [];
  for (const scc of stronglyConnected(graph)) {
    const start = Math.min(...scc);
    const members = new Set(scc);
    if (scc.length === 1 && !(graph.get(start) ?? []).includes(start)) continue;
    // BFS from start inside the component, back to start.
    const prev = new Map<number, number>();
    const queue = [start];
    let last: number | undefined;
    for (let i = 0; i < queue.length && last === undefined; i++) {
      const u = queue[i]!;
      for (const w of graph.get(u) ?? []) {
        if (!members.has(w)) continue;
        if (w === start) {
          last = u;
          break;
        }
        if (!prev.has(w)) {
          prev.set(w, u);
          queue.push(w);
        }
      }
    }
    const path: number[] = [];
    for (let u = last!; u !== start; u = prev.get(u)!) path.push(u);
    path.push(start);
    cycles.push(path.reverse());
  }
  return cycles.sort((a, b) => a[0]! - b[0]!);
}

/** Tarjan's algorithm, iterative enough for any job size we run (recursion depth ≤ np). */
function stronglyConnected(graph: ReadonlyMap<number, readonly number[]>): number[][] {
  let index = 0;
  const idx = new Map<number, number>();
  const low = new Map<number, number>();
  const onStack = new Set<number>();
  const stack: number[] = [];
  const out: number[][] = [];
  const visit = (v: number): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: number[] = [];
      let w: number;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      out.push(scc);
    }
  };
  for (const v of [...graph.keys()].sort((a, b) => a - b)) if (!idx.has(v)) visit(v);
  return out;
}

/** "world" or "comm w.1:0". */
function commName(ctx: string): string {
  return ctx === "w" ? "world" : `comm ${ctx}`;
}

const RECEIVES = new Set(["recv", "probe", "recvObject", "sendrecv"]);

/** One blocked call, e.g. `recv(source 1, tag 5)`, `allreduce #14`, `send(dest 2 = world 5, tag 0) on comm w.1`. */
export function describeCall(c: BlockedCallInfo): string {
  const on = c.comm === "w" || c.comm === "" ? "" : ` on ${commName(c.comm)}`;
  if (c.seq > 0) return `${c.call} #${c.seq}${on}`;
  if (c.comm === "") return c.call;
  const role = RECEIVES.has(c.call) ? "source" : "dest";
  const who = c.peer === ANY_SOURCE ? "any" : c.peerWorld >= 0 && c.peerWorld !== c.peer ? `${c.peer} = world ${c.peerWorld}` : String(c.peer);
  const tag = c.tag === ANY_TAG ? "any" : String(c.tag);
  return `${c.call}(${role} ${who}, tag ${tag})${on}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function describeRank(v: RankView): string {
  switch (v.state) {
    case "exited":
      return `exited${v.end ? ` (${v.end})` : ""}`;
    case "starting":
      return "not blocked (has not joined the job yet)";
    case "busy":
      return "not blocked (busy: did not answer, computing synchronously)";
    default:
      if (v.blocked.length === 0) return "not blocked";
      return v.blocked.map((c) => `${describeCall(c)} ${seconds(c.ms)}`).join("; ") + (v.progressing ? " (making progress)" : "");
  }
}

/** "rank 2" / "ranks 0,1,3". */
function ranksList(rs: readonly number[]): string {
  return rs.length === 1 ? `rank ${rs[0]}` : `ranks ${rs.join(",")}`;
}

/**
 * When the ranks blocked in collectives are not all in the same call: who is in which, e.g.
 * `rank 2 is in allreduce #14; ranks 0,1,3 are in bcast #14` (undefined when they agree).
 */
export function collectivesOutOfStep(views: readonly RankView[]): string | undefined {
  const calls = new Map<string, number[]>();
  for (const v of views) {
    for (const c of v.blocked) {
      if (c.seq <= 0) continue;
      const key = describeCall(c);
      calls.set(key, [...(calls.get(key) ?? []), v.rank]);
    }
  }
  if (calls.size < 2) return undefined;
  return [...calls]
    .sort((a, b) => a[1].length - b[1].length || a[1][0]! - b[1][0]!)
    .map(([call, rs]) => `${ranksList(rs)} ${rs.length === 1 ? "is" : "are"} in ${call}`)
    .join("; ");
}

/** The report as printed (several lines, no trailing newline). `headline` says why it is printed. */
export function formatHangReport(views: readonly RankView[], headline: string): string {
  const sorted = [...views].sort((a, b) => a.rank - b.rank);
  const byRank = new Map(sorted.map((v) => [v.rank, v]));
  const graph = waitForGraph(sorted);
  const cycles = findCycles(graph);
  const lines = [`onecopy: hang report: ${headline}`];
  for (const v of sorted) lines.push(`  rank ${v.rank}: ${describeRank(v)}`);
  const step = collectivesOutOfStep(sorted);
  if (step) lines.push(`  collectives out of step: ${step}`);
  if (graph.size === 0) lines.push(sorted.some((v) => v.blocked.length > 0) ? "  wait-for graph: no edge (the peers of the blocked calls are not known)" : "  no rank is blocked");
  else {
    lines.push(`  wait-for graph: ${[...graph].map(([r, to]) => `${r} → ${to.join(",")}`).join("; ")}`);
    if (cycles.length === 0) lines.push("  no cycle: the ranks wait for ranks that are not blocked (yet)");
  }
  for (const cyc of cycles) {
    const chain = cyc.map((r) => `rank ${r}: ${describeRank(byRank.get(r)!)}`).join(" ← ");
    const moving = cyc.some((r) => byRank.get(r)!.progressing);
    lines.push(`  ${chain} — ${moving ? "cycle, but its ranks are making progress" : "deadlock"}: ${[...cyc, cyc[0]].join(" → ")}`);
  }
  return lines.join("\n");
}
