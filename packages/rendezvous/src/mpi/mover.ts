// The mpi mover: a large message between ranks on different nodes. On matching the RTS the
// receiver posts MPI_Irecv straight into the receive's buffers, on the message's own tag, and
// only then sends PULL (s: 2), so the sender's MPI_Isend from its own buffers always finds it
// posted; neither side copies. The receive resolves when its MPI request completes; the send
// when its request does (PROTOCOL.md: the sender's views are held until then).
import { ioListOfViews } from "../buffers.js";
import { T } from "../frames.js";
import type { PeerLink } from "../link.js";
import { count, type ProtocolHost } from "../protocol/host.js";
import type { Announced, Mover, OutgoingMessage, PullTarget } from "../movers/mover.js";
import type { MpiProgress } from "./progress.js";

/**
 * The MPI tag of rendezvous message `id` of one sender. Message ids grow per sender, and a
 * receiver has at most one receive posted per id, so tags only repeat after `span` messages of
 * one pair, far more than can be in flight at once.
 */
export function dataTag(id: number, span: number): number {
  return 1 + (id % span);
}

export class MpiMover implements Mover {
  readonly path = "mpi" as const;

  constructor(
    private readonly host: ProtocolHost,
    private readonly progress: MpiProgress,
    /** Distinct data tags (MPI_TAG_UB of the communicator, less the control tag). */
    private readonly tagSpan: number,
  ) {}

  receive(link: PeerLink, m: Announced, t: PullTarget): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const iov = ioListOfViews(t.views, t.bytes);
      let posted = true;
      this.progress.irecv(m.src, dataTag(m.id, this.tagSpan), iov, t.views, (err) => {
        if (err) {
          posted = false;
          return reject(this.host.errors.lost(m.src, `receive from rank ${m.src}`, err));
        }
        count(this.host.counters.mpi, t.bytes);
        resolve();
      });
      if (posted) this.host.control(link, { t: T.PULL, i: m.id, s: 2 });
    });
  }

  serve(link: PeerLink, s: OutgoingMessage): void {
    const iov = ioListOfViews(s.views, s.bytes);
    this.progress.isend(link.rank, dataTag(s.id, this.tagSpan), iov, s.bytes, s.views, (err) => s.done(err));
  }
}
