// Peer loss in collectives (ULFM-like): a collective cannot complete once a member of its
// communicator is lost, so the loss of any member breaks the communicator's collectives.
// Everything pending on the collective context fails with ERR_PEER_LOST, whichever rank it
// waits for (a survivor must not wait for another survivor that has already failed out), and
// every later collective fails at once. A peer that said goodbye (BYE: it finished its part) is
// no loss; one that leaves in the middle of a copy is.
import type { Engine } from "./engine.js";
import { ErrorCode, MessagingError } from "./errors.js";
import type { Request } from "./request.js";

/**
 * What collectives that gave up (timeout, abort) had exposed to their peers: kept reachable for
 * the rest of the process, since a peer may still copy into or out of them.
 */
const abandoned: unknown[] = [];

/** A member of the communicator whose loss broke its collectives. */
interface Loss {
  world: number;
  rank: number;
  pid: number;
  /** It said goodbye (closed its communicator or exited) instead of dying. */
  left: boolean;
}

/** The collective context of one communicator: its pending requests, and whether it is broken. */
export class CollectiveState {
  loss: Loss | null = null;
  broken: MessagingError | null = null;
  private gaveUp = "";
  private readonly pending = new Set<Request<unknown>>();
  private sweepAt = 64;

  constructor(
    private readonly engine: Engine,
    private readonly ctx: string,
    private readonly group: readonly number[],
  ) {}

  /** Communicator rank of world rank `w`, or -1 when `w` is not a member. */
  rankOf(w: number): number {
    return this.group.indexOf(w);
  }

  track<T>(req: Request<T>): Request<T> {
    if (req.done) return req;
    this.pending.add(req);
    if (this.pending.size >= this.sweepAt) {
      for (const r of this.pending) if (r.done) this.pending.delete(r);
      this.sweepAt = Math.max(64, 2 * this.pending.size);
    }
    return req;
  }

  /** The error of an operation on this context once it is broken. */
  lossError(what: string, cause?: unknown): MessagingError {
    const l = this.loss;
    if (!l) {
      return new MessagingError(
        ErrorCode.COMM_BROKEN,
        `${what}: an earlier collective on this communicator gave up (${this.gaveUp}); no collective on it can complete any more. Point-to-point on it still works; use another communicator (e.g. a dup() made before) for collectives.`,
        { rank: this.engine.rank, cause },
      );
    }
    const who = `rank ${l.rank}${l.world !== l.rank ? ` (world rank ${l.world})` : ""}${l.pid ? ` (pid ${l.pid})` : ""}`;
    const how = l.left ? "left the job in the middle of a collective" : "died or dropped its connection";
    return new MessagingError(
      ErrorCode.PEER_LOST,
      `${what}: ${who} of this communicator ${how}; no collective on this communicator can complete any more. Check that rank's output for its error.`,
      { rank: this.engine.rank, peer: l.world, cause },
    );
  }

  /** Member `world` is lost: fail everything pending on the collective context, and what comes later. */
  lose(world: number, cause?: unknown): void {
    if (this.broken) return;
    const rank = this.rankOf(world);
    if (rank < 0) return;
    const link = this.engine.link(world);
    this.loss = { world, rank, pid: link?.pid ?? 0, left: link?.state === "left" };
    this.broken = this.lossError("collective operation", cause);
    // Posted receives go too: a late message must not land in a buffer its owner has taken back.
    this.engine.contexts.q(this.ctx).posted.removeWhere(() => true);
    const reqs = [...this.pending];
    this.pending.clear();
    for (const r of reqs) r.reject(this.broken);
  }

  /**
   * A collective gave up waiting (`why`: its ERR_TIMEOUT or AbortError): its peers may be at
   * another point of their collective sequence now, so this communicator's collectives are over.
   * What is pending fails with ERR_COMM_BROKEN; `keep` (its buffers) stays reachable for good.
   */
  abandon(why: Error, keep: unknown): void {
    abandoned.push(keep);
    if (this.broken) return;
    this.gaveUp = why.message;
    this.broken = this.lossError("collective operation", why);
    this.engine.contexts.q(this.ctx).posted.removeWhere(() => true);
    const reqs = [...this.pending];
    this.pending.clear();
    for (const r of reqs) r.reject(this.broken);
  }

  /** Break on the first member already lost when the context is made. */
  checkMembers(): void {
    for (const w of this.group) {
      if (this.engine.link(w)?.state === "lost") return this.lose(w);
    }
  }
}


/** A collective state for `ctx` that breaks when a member is lost (held weakly by the engine's listener). */
export function collectiveState(engine: Engine, ctx: string, group: readonly number[]): CollectiveState {
  const state = new CollectiveState(engine, ctx, group);
  const ref = new WeakRef(state);
  const stop = engine.onPeerLost((w) => {
    const s = ref.deref();
    if (s) s.lose(w);
    else stop(); // the communicator was dropped by the program
  });
  state.checkMembers();
  return state;
}
