// The matching state of every communicator context: posted receives, unexpected messages and
// waiting probes (matching.ts keeps one context's queues in order), the groups that say which
// ranks a context's wildcards can hear from, and the unexpected-memory budget.
import { ANY_SOURCE } from "./constants.js";
import type { PeerLink } from "./link.js";
import { ContextQueues, matches, type Incoming, type PostedRecv, type ProbeWaiter } from "./matching.js";
import { UnexpectedBudget } from "./unexpected-budget.js";

/** Something waiting outside the queues (a collective slot wait) that must hear of departures and close(). */
export interface DepartureWatcher {
  peerGone(worldRank: number): void;
  closed(e: Error): void;
}

export class Contexts {
  /** Waits outside the queues, told of what fails the queues' receives. */
  readonly watchers = new Set<DepartureWatcher>();
  private readonly queues = new Map<string, ContextQueues>();
  /** World ranks of each context's group (absent: the whole world). */
  private readonly groups = new Map<string, readonly number[]>();
  private readonly budget: UnexpectedBudget;

  constructor(unexpectedLimit: number, links: ReadonlyArray<PeerLink | null>) {
    this.budget = new UnexpectedBudget(unexpectedLimit, links);
  }

  /** The queues of `ctx` (made on first use). */
  q(ctx: string): ContextQueues {
    let q = this.queues.get(ctx);
    if (!q) this.queues.set(ctx, (q = new ContextQueues()));
    return q;
  }

  registerGroup(ctx: string, worldRanks: readonly number[] | null): void {
    if (worldRanks) this.groups.set(ctx, worldRanks);
  }

  inGroup(ctx: string, worldRank: number): boolean {
    const g = this.groups.get(ctx);
    return !g || g.includes(worldRank);
  }

  takePosted(ctx: string, src: number, tag: number): PostedRecv | undefined {
    return this.queues.get(ctx)?.posted.take(src, tag);
  }

  /** The earliest unexpected message a (src, tag) receive matches, taken out of its queue. */
  takeUnexpected(ctx: string, src: number, tag: number): Incoming | undefined {
    const m = this.queues.get(ctx)?.unexpected.take(src, tag);
    if (m) this.budget.release(m);
    return m;
  }

  peek(ctx: string, src: number, tag: number): Incoming | null {
    return this.queues.get(ctx)?.unexpected.peek(src, tag) ?? null;
  }

  post(p: PostedRecv): void {
    this.q(p.ctx).posted.push(p);
  }

  wait(w: ProbeWaiter): void {
    this.q(w.ctx).probes.push(w);
  }

  /** `m` matched no posted receive: queue it, and tell the probes that wait for it. */
  queueUnexpected(m: Incoming): void {
    const q = this.q(m.ctx);
    q.unexpected.push(m);
    this.budget.hold(m);
    const probes = q.probes;
    for (let i = 0; i < probes.length; i++) {
      const w = probes[i]!;
      if (!matches(w.src, w.tag, m.src, m.tag)) continue;
      probes.splice(i--, 1);
      w.resolve(m);
    }
  }

  /**
   * World rank `r` is gone: its announced messages can never be copied, and receives and probes
   * that can only be served by it fail (ANY_SOURCE ones too when it was lost, not when it left).
   */
  peerGone(r: number, how: "left" | "lost", err: (what: string) => Error): void {
    for (const [ctx, q] of this.queues) {
      for (const m of q.unexpected.removeWhere((x) => x.kind === "rts", r)) this.budget.release(m);
      const dead = (src: number) => src === r || (how === "lost" && src === ANY_SOURCE && this.inGroup(ctx, r));
      for (const p of q.posted.removeWhere(dead)) p.req.reject(err(`receive from ${p.src === ANY_SOURCE ? "any rank" : `rank ${r}`}`));
      for (let i = 0; i < q.probes.length; i++) {
        const w = q.probes[i]!;
        if (!dead(w.src)) continue;
        q.probes.splice(i--, 1);
        w.reject(err("probe"));
      }
    }
    for (const w of [...this.watchers]) w.peerGone(r);
  }

  /** close(): what is posted or waiting fails with `e`; messages nobody received are dropped (a self-send's with `selfErr`). */
  failAll(e: Error, selfErr: Error): void {
    for (const q of this.queues.values()) {
      for (const p of q.posted.removeWhere(() => true)) p.req.reject(e);
      for (const w of q.probes.splice(0)) w.reject(e);
      for (const m of q.unexpected.removeWhere(() => true)) {
        this.budget.release(m);
        m.selfReq?.reject(selfErr);
      }
    }
    for (const w of [...this.watchers]) w.closed(e);
  }
}
