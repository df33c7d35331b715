// The mpi mover: a large message between ranks on different nodes, from the user's buffers to
// the user's buffers by one MPI send and one MPI_Irecv on the message's own tag; neither side
// copies. Two orders:
//
//   sender first (Rts.m, the default)  the sender posts MPI_Issend right after its RTS; MPI's own
//       rendezvous keeps the bytes in the sender's buffers until the receiver, on matching the
//       RTS, posts MPI_Irecv (often the copy runs inside that very call). No PULL, no FIN: the
//       send completes when MPI completes it (after the receive matched: an Issend). A receive
//       that refuses the message (truncation, no memory) takes it into scratch, so the sender
//       completes.
//   receiver first (ONECOPY_MPI_SENDER_FIRST=0 on the sender)  the receiver posts MPI_Irecv on
//       matching and then sends PULL (s: 2); the sender posts MPI_Isend on PULL.
//
// The receive resolves when its MPI request completes; the send when its request does
// (PROTOCOL.md: the sender's views are held until then).
import { ioListOfViews } from "../buffers.js";
import { T } from "../frames.js";
import type { PeerLink } from "../link.js";
import { count, type ProtocolHost } from "../protocol/host.js";
import type { Announced, OutgoingMessage, PullTarget, SenderFirstMover } from "../movers/mover.js";
import type { MpiProgress, PendingOp } from "./progress.js";

/**
 * The MPI tag of rendezvous message `id` of one sender. Message ids grow per sender, and a
 * receiver has at most one receive posted per id, so tags only repeat after `span` messages of
 * one pair, far more than can be in flight at once.
 */
export function dataTag(id: number, span: number): number {
  return 1 + (id % span);
}

export class MpiMover implements SenderFirstMover {
  readonly path = "mpi" as const;
  /** Sends posted before their receiver asked, by destination rank: message id → request. */
  private readonly posted = new Map<number, Map<number, PendingOp>>();

  constructor(
    private readonly host: ProtocolHost,
    private readonly progress: MpiProgress,
    /** Distinct data tags (MPI_TAG_UB of the communicator, less the control tag). */
    private readonly tagSpan: number,
  ) {}

  receive(link: PeerLink, m: Announced, t: PullTarget): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let posted = true;
      this.progress.irecv(m.src, dataTag(m.id, this.tagSpan), ioListOfViews(t.views, t.bytes), t.views, (err) => {
        if (err) {
          posted = false;
          return reject(this.host.errors.lost(m.src, `receive from rank ${m.src}`, err));
        }
        count(this.host.counters.mpi, t.bytes);
        resolve();
      });
      if (posted && !m.posted) this.host.control(link, { t: T.PULL, i: m.id, s: 2 });
    });
  }

  serve(link: PeerLink, s: OutgoingMessage): void {
    this.progress.isend(link.rank, dataTag(s.id, this.tagSpan), ioListOfViews(s.views, s.bytes), s.bytes, s.views, (err) => s.done(err));
  }

  post(link: PeerLink, s: OutgoingMessage): void {
    const rank = link.rank;
    let mine = this.posted.get(rank);
    if (!mine) this.posted.set(rank, (mine = new Map()));
    const pending = mine;
    const op = this.progress.isend(
      rank,
      dataTag(s.id, this.tagSpan),
      ioListOfViews(s.views, s.bytes),
      s.bytes,
      s.views,
      (err) => {
        pending.delete(s.id);
        s.done(err);
      },
      true,
    );
    if (op) pending.set(s.id, op);
  }

  discard(_link: PeerLink, m: Announced): void {
    let scratch: Buffer | null = null;
    try {
      scratch = Buffer.allocUnsafeSlow(m.bytes);
    } catch {
      // No memory for it: a receive of no room still completes the sender (MPI reports the truncation here, to nobody).
    }
    this.progress.irecv(m.src, dataTag(m.id, this.tagSpan), scratch ? ioListOfViews([scratch], m.bytes) : [], scratch, () => {});
  }

  peerGone(rank: number, how: "left" | "lost"): void {
    const mine = this.posted.get(rank);
    if (!mine || mine.size === 0) return;
    if (how === "left") this.progress.test();
    for (const op of mine.values()) this.progress.abandon(op);
    mine.clear();
  }
}
