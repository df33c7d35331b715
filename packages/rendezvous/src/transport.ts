// What collective algorithms see of a communicator: point-to-point on a context of their own,
// and the single-copy primitives, in communicator ranks. Collectives never touch sockets or
// syscalls directly (the UCX ucp/uct split).
//
// Peer loss (ULFM-like): a collective cannot complete once a member of its communicator is
// lost, so the loss of any member breaks the communicator's collectives. Everything pending on
// the collective context fails with ERR_PEER_LOST, whichever rank it waits for — a survivor
// must not wait for another survivor that has already failed out — and every later collective
// fails at once. A single-copy read or write of a dead peer's memory fails the same way,
// never with the raw errno.
import { readFileSync } from "node:fs";
import { cmaDisabledReason, transfer } from "@onecopy/cma";
import { ioListOfViews } from "./buffers.js";
import type { Peer } from "./endpoint.js";
import type { Engine } from "./engine.js";
import { ErrorCode, MessagingError } from "./errors.js";
import type { RecvResult } from "./matching.js";
import { Request } from "./request.js";

/** Point-to-point and single-copy primitives for collective algorithms. Ranks are communicator ranks. */
export interface CollectiveTransport {
  readonly rank: number;
  readonly size: number;
  /** Largest message the eager path carries. */
  readonly eagerLimit: number;
  /** Send on the collective context (never matched by user receives). */
  isend(views: Uint8Array[], bytes: number, dest: number, tag: number): Request<void>;
  /**
   * Receive on the collective context from communicator rank `source` (no wildcards);
   * `views === null` allocates the message's size and returns it as `data`.
   */
  irecv(views: Uint8Array[] | null, capacity: number, source: number, tag: number): Request<RecvResult>;
  /** This process may copy straight from (and into) `rank`'s memory. Both sides of a pair agree: see {@link canBeRead}. */
  canRead(rank: number): boolean;
  /** `rank` may copy straight from (and into) this process's memory (what `rank`'s canRead(this rank) says). */
  canBeRead(rank: number): boolean;
  /** Io list of the first `bytes` bytes of local views, to hand to a peer. Keep the views alive until the peer is done. */
  ioList(views: readonly Uint8Array[], bytes: number): number[];
  /**
   * Copy `remote` (an io list in `rank`'s memory) into local views with one copy. Counted as
   * single-copy bytes. Fails with ERR_PEER_LOST when `rank` (or another member) is lost.
   */
  read(rank: number, local: readonly Uint8Array[], remote: number[]): Promise<number>;
  /** Copy local views into `remote` (in `rank`'s memory) with one copy. Counted as single-copy bytes. Fails like {@link read}. */
  write(rank: number, local: readonly Uint8Array[], remote: number[]): Promise<number>;
  /** A fresh tag for the next collective call (every rank calls collectives in the same order). */
  nextTag(): number;
  /**
   * Run one collective call. On a communicator that has lost a member it fails at once with
   * ERR_PEER_LOST without taking part; if `body` fails with ERR_PEER_LOST, the communicator's
   * collectives are broken from then on (what is still pending fails too).
   */
  collective<T>(body: () => Promise<T>): Promise<T>;
  /** Why collectives on this communicator can no longer complete, or null while they can. */
  readonly broken: MessagingError | null;
}

/** How long a failed single copy of a peer that still looks alive waits to learn that it is dying. */
const LIVENESS_WAIT_MS = 200;
const LIVENESS_POLL_MS = 10;

/** The process is gone: no such pid, or only its zombie is left (its memory is gone either way). */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
  try {
    // "pid (comm) S …": the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return false; // no /proc here: trust kill()
  }
}

/** A member of the communicator whose loss broke its collectives. */
interface Loss {
  world: number;
  rank: number;
  pid: number;
  /** It said goodbye (closed its communicator or exited) instead of dying. */
  left: boolean;
}

/** The collective context of one communicator: its pending requests, and whether it is broken. */
class CollectiveState {
  loss: Loss | null = null;
  broken: MessagingError | null = null;
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
    const l = this.loss!;
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
    const peer = this.engine.peers[world];
    this.loss = { world, rank, pid: peer?.pid ?? 0, left: peer?.state === "left" };
    this.broken = this.lossError("collective operation", cause);
    // Posted receives go too: a late message must not land in a buffer its owner has taken back.
    this.engine.q(this.ctx).posted.removeWhere(() => true);
    const reqs = [...this.pending];
    this.pending.clear();
    for (const r of reqs) r.reject(this.broken);
  }

  /** Break on the first member already lost when the context is made. */
  checkMembers(): void {
    for (const w of this.group) {
      if (this.engine.peers[w]?.state === "lost") return this.lose(w);
    }
  }
}

// One socket watch per peer and engine tells every collective context of the loss of a member.
// Contexts are held weakly: a communicator dropped by the program is not kept alive by it.
const contexts = new WeakMap<Engine, Set<WeakRef<CollectiveState>>>();

function watch(engine: Engine, s: CollectiveState): void {
  let set = contexts.get(engine);
  if (!set) {
    const all = (set = new Set());
    contexts.set(engine, all);
    for (const p of engine.peers) {
      if (!p || p.rank === engine.rank) continue;
      // A peer that said goodbye (BYE: it finished its part) is no loss; our own close() is none either.
      p.socket.once("close", () => {
        if (!engine.closed && p.state !== "left") memberLost(engine, p.rank);
      });
    }
  }
  set.add(new WeakRef(s));
}

function memberLost(engine: Engine, world: number, cause?: unknown): void {
  const set = contexts.get(engine);
  if (!set) return;
  for (const ref of set) {
    const s = ref.deref();
    if (s) s.lose(world, cause);
    else set.delete(ref);
  }
}

/** @internal */
export function makeTransport(engine: Engine, ctx: string, group: readonly number[], rank: number): CollectiveTransport {
  let seq = 0;
  const cma = engine.shm.transport === "cma";
  const world = (r: number) => group[r]!;
  const state = new CollectiveState(engine, ctx, group);
  watch(engine, state);
  state.checkMembers();

  const failed = <T>(err: MessagingError): Request<T> => {
    const req = new Request<T>();
    req.reject(err);
    return req;
  };

  /** What a failed single copy of `peer`'s memory means: its loss (or an earlier one), or a real error. */
  const diagnose = async (err: unknown, peer: Peer, pid: number, what: string): Promise<unknown> => {
    const dead = () => peer.state === "lost" || peer.state === "left" || processGone(pid);
    // A peer that looks alive may be exiting right now: give its socket a moment to close.
    for (let waited = 0; !state.broken && !dead() && waited < LIVENESS_WAIT_MS; waited += LIVENESS_POLL_MS) {
      await new Promise((r) => setTimeout(r, LIVENESS_POLL_MS));
    }
    if (!state.broken && peer.state === "left") state.lose(peer.rank, err); // gone in the middle of this collective
    else if (!state.broken && dead()) {
      // Dead: every operation that needs it fails now, on every communicator it belongs to.
      if (peer.state === "up") engine.peerGone(peer, "lost");
      memberLost(engine, peer.rank, err);
    }
    // EFAULT and the like from a live peer, with every member alive: a real bug, keep its code.
    return state.broken ? state.lossError(what, err) : err;
  };

  const move = async (dir: "read" | "write", r: number, views: readonly Uint8Array[], remote: number[]) => {
    const what = `single-copy ${dir} ${dir === "read" ? "from" : "into"} rank ${r}`;
    if (state.broken) throw state.lossError(what);
    const w = world(r);
    const peer = engine.peers[w];
    const pid = w === engine.rank ? process.pid : peer?.pid;
    if (!pid) throw new Error(`rank ${r} is not connected`);
    let bytes = 0;
    for (let i = 1; i < remote.length; i += 2) bytes += remote[i]!;
    try {
      const n = await transfer(dir, pid, ioListOfViews(views, bytes), remote);
      engine.counters.singleCopy.messages++;
      engine.counters.singleCopy.bytes += n;
      engine.counters.singleCopy.calls++;
      return n;
    } catch (err) {
      throw peer ? await diagnose(err, peer, pid, what) : err;
    }
  };

  return {
    rank,
    size: group.length,
    eagerLimit: engine.tunables.eagerLimit,
    isend: (views, bytes, dest, tag) =>
      state.broken ? failed(state.lossError(`send to rank ${dest}`)) : state.track(engine.isend(ctx, world(dest), tag, views, bytes)),
    irecv: (views, capacity, source, tag) =>
      state.broken ? failed(state.lossError(`receive from rank ${source}`)) : state.track(engine.irecv(ctx, world(source), tag, views, capacity)),
    // Only the cma transport copies directly; --transport shm|socket is honoured here too. The
    // transport is job-wide, so both sides of a pair still agree.
    canRead: (r) => cma && (r === rank ? cmaDisabledReason() === null : (engine.peers[world(r)]?.canRead ?? false)),
    canBeRead: (r) => cma && (r === rank ? cmaDisabledReason() === null : (engine.peers[world(r)]?.peerCanRead ?? false)),
    ioList: (views, bytes) => ioListOfViews(views, bytes),
    read: (r, views, remote) => move("read", r, views, remote),
    write: (r, views, remote) => move("write", r, views, remote),
    nextTag: () => (seq = (seq + 1) & 0x3fffffff),
    collective: async (body) => {
      if (state.broken) throw state.lossError("collective operation");
      try {
        return await body();
      } catch (err) {
        const e = err as { code?: string; peer?: number };
        // Lost, or left before taking part: either way this communicator's collectives are over.
        if (e.code === ErrorCode.PEER_LOST && typeof e.peer === "number") state.lose(e.peer, err);
        throw err;
      }
    },
    get broken() {
      return state.broken;
    },
  };
}
