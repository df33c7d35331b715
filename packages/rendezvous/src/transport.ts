// What collective algorithms see of a communicator: point-to-point on a context of their own,
// and the single-copy primitives, in communicator ranks. Collectives never touch sockets or
// syscalls directly (the UCX ucp/uct split): copies go through the peers' single-copy
// endpoints (single-copy.ts), and peer loss breaks the context (collective-state.ts).
import { ioListOfViews } from "./buffers.js";
import { collectiveState } from "./collective-state.js";
import { CollSlots } from "./collslots/coll-slots.js";
import type { Engine } from "./engine.js";
import { ErrorCode, type MessagingError } from "./errors.js";
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
  /** A collective gave up (timeout, abort): break this communicator's collectives (ERR_COMM_BROKEN), keeping `keep` reachable. */
  abandon(why: Error, keep: unknown): void;
  /** Why collectives on this communicator can no longer complete, or null while they can. */
  readonly broken: MessagingError | null;
  /**
   * The communicator's collective slots (descriptor exchange and closing handshake through
   * shared memory), or absent. While they are active, collectives run one at a time per rank.
   */
  readonly slots?: CollSlots;
  /** The communicator was closed: release the slots once no collective of it runs any more. */
  release?(): void;
}

/** @internal */
export function makeTransport(engine: Engine, ctx: string, group: readonly number[], rank: number): CollectiveTransport {
  let seq = 0;
  const cma = engine.transport === "cma";
  const world = (r: number) => group[r]!;
  const state = collectiveState(engine, ctx, group);

  const failed = <T>(err: MessagingError): Request<T> => {
    const req = new Request<T>();
    req.reject(err);
    return req;
  };

  const move = async (dir: "read" | "write", r: number, views: readonly Uint8Array[], remote: number[]) => {
    const what = `single-copy ${dir} ${dir === "read" ? "from" : "into"} rank ${r}`;
    if (state.broken) throw state.lossError(what);
    let bytes = 0;
    for (let i = 1; i < remote.length; i += 2) bytes += remote[i]!;
    const ep = engine.singleCopy(world(r));
    try {
      return await (dir === "read" ? ep.read(views, remote, bytes) : ep.write(views, remote, bytes));
    } catch (err) {
      // The endpoint has told the engine of a loss, which broke this context; a live peer's
      // EFAULT and the like, with every member alive, is a real bug and keeps its code.
      if ((err as { code?: string }).code === ErrorCode.PEER_LOST) state.lose(world(r), err);
      throw state.broken ? state.lossError(what, err) : err;
    }
  };

  const isend = (views: Uint8Array[], bytes: number, dest: number, tag: number): Request<void> =>
    state.broken ? failed(state.lossError(`send to rank ${dest}`)) : state.track(engine.isend(ctx, world(dest), tag, views, bytes));
  const irecv = (views: Uint8Array[] | null, capacity: number, source: number, tag: number): Request<RecvResult> =>
    state.broken ? failed(state.lossError(`receive from rank ${source}`)) : state.track(engine.irecv(ctx, world(source), tag, views, capacity));
  const slots = new CollSlots(engine, state, { rank, group, isend, irecv }, ctx);

  // While the slots are (or may become) active, a rank runs its collectives on this communicator
  // one at a time, in call order (coll-slots.ts says why); the next waits only if one is running.
  let busy = false;
  let released = false;
  const queue: Array<() => void> = [];

  // One async layer per collective (this is on every small collective's path).
  const runOne = async <T>(body: () => Promise<T>, queued: boolean): Promise<T> => {
    if (queued) {
      if (busy) await new Promise<void>((go) => queue.push(go));
      busy = true;
    }
    try {
      if (state.broken) throw state.lossError("collective operation");
      slots.begin();
      try {
        return await body();
      } catch (err) {
        const e = err as { code?: string; peer?: number };
        // Lost, or left before taking part: either way this communicator's collectives are over.
        if (e.code === ErrorCode.PEER_LOST && typeof e.peer === "number") state.lose(e.peer, err);
        throw err;
      } finally {
        slots.end();
      }
    } finally {
      if (queued) {
        const next = queue.shift();
        if (next) next();
        else {
          busy = false;
          if (released) slots.dispose();
        }
      }
    }
  };

  return {
    rank,
    size: group.length,
    eagerLimit: engine.tunables.eagerLimit,
    isend,
    irecv,
    slots,
    // Only the cma transport copies directly; --transport shm|socket is honoured here too. The
    // transport is job-wide, so both sides of a pair still agree.
    canRead: (r) => cma && engine.singleCopy(world(r)).canRead,
    canBeRead: (r) => cma && engine.singleCopy(world(r)).canBeRead,
    ioList: (views, bytes) => ioListOfViews(views, bytes),
    read: (r, views, remote) => move("read", r, views, remote),
    write: (r, views, remote) => move("write", r, views, remote),
    nextTag: () => (seq = (seq + 1) & 0x3fffffff),
    collective: (body) => (state.broken ? Promise.reject(state.lossError("collective operation")) : runOne(body, slots.active || busy)),
    release: () => {
      released = true;
      if (!busy) slots.dispose();
    },
    abandon: (why, keep) => state.abandon(why, keep),
    get broken() {
      return state.broken;
    },
  };
}
