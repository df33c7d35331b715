// The shared-memory double copy: the receiver sends PULL with s: 1, and the sender streams the
// message through the pair's ring (shm/channel.ts), one ShmChannel per peer, made on first use.
// The default for pairs without CMA, and every large message with ONECOPY_TRANSPORT=shm. A pair
// whose segment cannot be created or mapped (no /dev/shm, a full tmpfs, ranks in different
// mount namespaces) falls back to the socket mover, with one warning per process.
import { shmUnavailableReason } from "@onecopy/cma";
import { ErrorCode, MessagingError } from "../errors.js";
import { T, type ShmFrame } from "../frames.js";
import type { PeerLink } from "../link.js";
import type { ProtocolHost } from "../protocol/host.js";
import { ShmChannel } from "../shm/channel.js";
import { jobKeyOf } from "../shm/segment-layout.js";
import type { Announced, Mover, OutgoingMessage, PullTarget } from "./mover.js";
import type { PendingPulls } from "./pending-pulls.js";
import type { SocketMover } from "./socket-mover.js";

/** Time slice of one progress call before it yields to the event loop, in ms. */
const SLICE_MS = 2;

export class ShmMover implements Mover {
  readonly path = "shm" as const;
  private readonly channels = new Map<number, ShmChannel>();
  /** Why shared memory is unusable in this process, or null. */
  readonly unavailable: string | null;
  private readonly jobKey: string;
  private warned = false;

  constructor(
    private readonly host: ProtocolHost,
    private readonly pulls: PendingPulls,
    private readonly socket: SocketMover,
    token: string,
  ) {
    this.jobKey = jobKeyOf(token);
    this.unavailable = host.transport === "socket" ? "ONECOPY_TRANSPORT=socket" : shmUnavailableReason();
  }

  /** Whether a message from `link`'s rank may come through its ring (shared memory works, and its ring to us is not broken). */
  usable(link: PeerLink): boolean {
    return this.unavailable === null && !this.channels.get(link.rank)?.inBroken;
  }

  receive(link: PeerLink, m: Announced, t: PullTarget): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pulls.add(m.src, m.id, { views: t.views, bytes: t.bytes, finish: resolve, fail: reject });
      this.channel(link).expect(); // one more message is expected through the ring
      this.host.control(link, { t: T.PULL, i: m.id, s: 1 });
    });
  }

  serve(link: PeerLink, s: OutgoingMessage): void {
    if (this.unavailable !== null) this.socket.serve(link, s);
    else this.channel(link).send(s);
  }

  /** A T.SHM frame from `link`'s rank. */
  onFrame(link: PeerLink, f: ShmFrame): void {
    this.channel(link).onFrame(f);
  }

  /** `link`'s rank left or died: fail its transfers, remove its segments' names, unmap. */
  peerGone(link: PeerLink, err: Error): void {
    this.channels.get(link.rank)?.close(err);
  }

  /** Tear everything down (the engine is shutting down); what is still in flight fails with ERR_CLOSED. */
  dispose(): void {
    const closed = new MessagingError(ErrorCode.CLOSED, "transfer: the communicator was closed with close() while the message was in flight", { rank: this.host.rank });
    for (const ch of this.channels.values()) ch.close(closed);
    this.channels.clear();
  }

  private channel(link: PeerLink): ShmChannel {
    let ch = this.channels.get(link.rank);
    if (ch) return ch;
    const t = this.host.tunables;
    const c = this.host.counters.shm;
    ch = new ShmChannel(
      { rank: this.host.rank, peer: link.rank, jobKey: this.jobKey, cells: t.shmCells, cellSize: t.shmCellSize, spinUs: t.shmSpinUs, sliceMs: SLICE_MS },
      {
        frame: (f) => {
          this.host.control(link, f);
          link.flush(); // a doorbell leaves now, not at the end of the tick: the ring is in use meanwhile
        },
        take: (id) => this.pulls.take(link.rank, id),
        socket: (s) => this.socket.serve(link, s),
        received: (bytes) => {
          c.messages++;
          c.bytes += bytes;
        },
        cellDrained: () => c.cells++,
        bellSent: () => c.bells++,
        unusable: (reason) => this.warnOnce(reason),
      },
    );
    this.channels.set(link.rank, ch);
    return ch;
  }

  private warnOnce(reason: string): void {
    if (this.warned) return;
    this.warned = true;
    this.host.warn(`onecopy: rank ${this.host.rank}: shared-memory transport unusable (${reason}); large messages for that pair go over the socket.`);
  }
}
