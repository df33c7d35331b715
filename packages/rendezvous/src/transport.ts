// What collective algorithms see of a communicator: point-to-point on a context of their own,
// and the single-copy primitives, in communicator ranks. Collectives never touch sockets or
// syscalls directly (the UCX ucp/uct split).
import { cmaDisabledReason, transfer, type CmaError } from "@onecopy/cma";
import { ioListOfViews } from "./buffers.js";
import type { Engine } from "./engine.js";
import type { RecvResult } from "./matching.js";
import type { Request } from "./request.js";

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
  /** Copy `remote` (an io list in `rank`'s memory) into local views with one copy. Counted as single-copy bytes. */
  read(rank: number, local: readonly Uint8Array[], remote: number[]): Promise<number>;
  /** Copy local views into `remote` (in `rank`'s memory) with one copy. Counted as single-copy bytes. */
  write(rank: number, local: readonly Uint8Array[], remote: number[]): Promise<number>;
  /** A fresh tag for the next collective call (every rank calls collectives in the same order). */
  nextTag(): number;
}

/** @internal */
export function makeTransport(engine: Engine, ctx: string, group: readonly number[], rank: number): CollectiveTransport {
  let seq = 0;
  const cma = engine.shm.transport === "cma";
  const world = (r: number) => group[r]!;
  const move = async (dir: "read" | "write", r: number, views: readonly Uint8Array[], remote: number[]) => {
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
      if ((err as CmaError).code === "ESRCH" && peer) engine.peerGone(peer, "lost");
      throw err;
    }
  };
  return {
    rank,
    size: group.length,
    eagerLimit: engine.tunables.eagerLimit,
    isend: (views, bytes, dest, tag) => engine.isend(ctx, world(dest), tag, views, bytes),
    irecv: (views, capacity, source, tag) => engine.irecv(ctx, world(source), tag, views, capacity),
    // Only the cma transport copies directly; --transport shm|socket is honoured here too. The
    // transport is job-wide, so both sides of a pair still agree.
    canRead: (r) => cma && (r === rank ? cmaDisabledReason() === null : (engine.peers[world(r)]?.canRead ?? false)),
    canBeRead: (r) => cma && (r === rank ? cmaDisabledReason() === null : (engine.peers[world(r)]?.peerCanRead ?? false)),
    ioList: (views, bytes) => ioListOfViews(views, bytes),
    read: (r, views, remote) => move("read", r, views, remote),
    write: (r, views, remote) => move("write", r, views, remote),
    nextTag: () => (seq = (seq + 1) & 0x3fffffff),
  };
}
