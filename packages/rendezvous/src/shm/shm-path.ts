// The double-copy shared-memory path as the engine sees it: which path a large message takes,
// one ShmChannel per peer (created on first use), and the T.SHM frames.
//
// Path choice (receiver side, when an RTS matches): `cma` transport (the default) reads with
// CMA where the probe allowed it and pulls through shared memory where it did not; `shm` pulls
// every large message through shared memory; `socket` pulls over the socket (DATA frames).
// A pair whose segment cannot be created or mapped (no /dev/shm, a full tmpfs, ranks in
// different mount namespaces) falls back to the socket, with one warning per process.
import { readdirSync } from "node:fs";
import { SHM_DIR, shmUnavailableReason, unlinkShmSegment } from "@onecopy/cma";
import type { Peer } from "../endpoint.js";
import { ErrorCode, MessagingError } from "../errors.js";
import type { TransportStats } from "../stats.js";
import type { TransportName, Tunables } from "../tunables.js";
import { ShmChannel, type ShmRecvTarget, type ShmSend } from "./channel.js";

export type { ShmSend, ShmRecvTarget };
import { jobKeyOf, segmentPrefix } from "./segment-layout.js";
import { T } from "../wire.js";

/** What the shm path needs from the engine. */
export interface ShmPathHooks {
  /** Send a frame to `peer` at once (not batched to the end of the tick; the engine counts control frames). */
  frame(peer: Peer, fields: Record<string, unknown>): void;
  /** Take the receive waiting for message `id` from `peer` out of the engine's table. */
  take(peer: Peer, id: number): ShmRecvTarget | undefined;
  /** Stream a message over the socket (DATA) instead. */
  socket(peer: Peer, s: ShmSend): void;
  /** Print a warning. */
  warn(msg: string): void;
}

/** Time slice of one progress call before it yields to the event loop, in ms. */
const SLICE_MS = 2;

export class ShmPath {
  private readonly channels = new Map<number, ShmChannel>();
  /** Why shared memory is unusable in this process, or null. */
  readonly unavailable: string | null;
  private readonly jobKey: string;
  private warned = false;

  constructor(
    private readonly rank: number,
    readonly transport: TransportName,
    private readonly tunables: Tunables,
    private readonly counters: TransportStats,
    private readonly hooks: ShmPathHooks,
    token: string,
  ) {
    this.jobKey = jobKeyOf(token);
    this.unavailable = transport === "socket" ? "ONECOPY_TRANSPORT=socket" : shmUnavailableReason();
  }

  /** Copy a large message from `peer` with CMA (else pull it). */
  useCma(peer: Peer): boolean {
    return this.transport === "cma" && peer.canRead;
  }

  /**
   * Whether to ask `peer` to send a message we pull through shared memory (PULL with s: 1; else
   * over the socket). True also records that one more message is expected through the ring.
   */
  requestShm(peer: Peer): boolean {
    if (this.unavailable !== null) return false;
    const ch = this.channel(peer);
    if (ch.inBroken) return false;
    ch.expect();
    return true;
  }

  private channel(peer: Peer): ShmChannel {
    let ch = this.channels.get(peer.rank);
    if (!ch) {
      const t = this.tunables;
      ch = new ShmChannel(
        { rank: this.rank, peer: peer.rank, jobKey: this.jobKey, cells: t.shmCells, cellSize: t.shmCellSize, spinUs: t.shmSpinUs, sliceMs: SLICE_MS },
        {
          frame: (f) => this.hooks.frame(peer, { t: T.SHM, ...f }),
          take: (id) => this.hooks.take(peer, id),
          socket: (s) => this.hooks.socket(peer, s),
          received: (bytes) => {
            this.counters.shm.messages++;
            this.counters.shm.bytes += bytes;
          },
          cellDrained: () => this.counters.shm.cells++,
          bellSent: () => this.counters.shm.bells++,
          unusable: (reason) => this.warnOnce(reason),
        },
      );
      this.channels.set(peer.rank, ch);
    }
    return ch;
  }

  /** Send a message `peer` pulled with `s: 1`: through shared memory if possible. */
  send(peer: Peer, s: ShmSend): void {
    if (this.unavailable !== null) {
      this.hooks.socket(peer, s);
      return;
    }
    this.channel(peer).send(s);
  }

  /** A T.SHM frame from `peer`. */
  onFrame(peer: Peer, h: Record<string, unknown>): void {
    this.channel(peer).onFrame(h);
  }

  /** `peer` left or died: fail its transfers, remove its segments' names, unmap. */
  peerGone(peer: Peer, err: Error): void {
    const ch = this.channels.get(peer.rank);
    if (ch) ch.close(err);
  }

  /** Tear everything down (the engine is shutting down); what is still in flight fails with ERR_CLOSED. */
  dispose(): void {
    const closed = new MessagingError(ErrorCode.CLOSED, "transfer: the communicator was closed with close() while the message was in flight", { rank: this.rank });
    for (const ch of this.channels.values()) ch.close(closed);
    this.channels.clear();
  }

  private warnOnce(reason: string): void {
    if (this.warned) return;
    this.warned = true;
    this.hooks.warn(`onecopy: rank ${this.rank}: shared-memory transport unusable (${reason}); large messages for that pair go over the socket.`);
  }
}

/**
 * Remove every segment file the job with `token` left in /dev/shm and return their names. Ranks
 * unlink their segments as soon as the peer has mapped them, and a surviving peer removes the
 * names of a dead one; a file remains only if both ranks of a pair died (SIGKILL, or SIGTERM
 * without an exit handler) between creating and mapping it. For the launcher, after all ranks
 * exited. Never throws.
 */
export function removeJobSegments(token: string): string[] {
  const prefix = segmentPrefix(jobKeyOf(token));
  let names: string[];
  try {
    names = readdirSync(SHM_DIR).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
  return names.filter((n) => unlinkShmSegment(n));
}
