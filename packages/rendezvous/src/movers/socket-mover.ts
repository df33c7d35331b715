// The socket stream: the receiver asks with PULL, the sender writes the message as one DATA frame
// whose payload is read straight into the receive's views. ONECOPY_TRANSPORT=socket, and pairs
// for which neither CMA nor shared memory works.
import { T, type Data } from "../frames.js";
import type { PayloadSink } from "../frame-reader.js";
import { ViewWriter } from "../buffers.js";
import type { PeerLink } from "../link.js";
import { count, type ProtocolHost } from "../protocol/host.js";
import type { Announced, Mover, OutgoingMessage, PullTarget } from "./mover.js";
import type { PendingPulls } from "./pending-pulls.js";

const DISCARD: PayloadSink = { write() {}, end() {} };

export class SocketMover implements Mover {
  readonly path = "socket" as const;

  constructor(
    private readonly host: ProtocolHost,
    private readonly pulls: PendingPulls,
  ) {}

  receive(link: PeerLink, m: Announced, t: PullTarget): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pulls.add(m.src, m.id, { views: t.views, bytes: t.bytes, finish: resolve, fail: reject });
      this.host.control(link, { t: T.PULL, i: m.id });
    });
  }

  serve(link: PeerLink, s: OutgoingMessage): void {
    link.send({ t: T.DATA, i: s.id, n: s.bytes }, s.views, (err) => s.done(err ?? undefined));
  }

  /** A DATA frame: its payload goes into the receive that pulled it. */
  onData(link: PeerLink, f: Data): PayloadSink {
    const t = this.pulls.take(link.rank, f.i);
    if (!t) return DISCARD;
    const w = new ViewWriter(t.views);
    return {
      write: (c) => w.write(c),
      end: () => {
        count(this.host.counters.fallback, f.n);
        t.finish();
      },
      fail: () => t.fail(this.host.errors.lost(link.rank, `receive from rank ${link.rank}`)),
    };
  }
}
