// Single copy: the receiver copies straight from the sender's buffers into its own
// (process_vm_readv through the peer's single-copy endpoint), then sends FIN so the sender may
// reuse them. The sender takes no part beyond holding its buffers until FIN.
import { ErrorCode, MessagingError } from "../errors.js";
import { T } from "../frames.js";
import type { PeerLink } from "../link.js";
import type { ProtocolHost } from "../protocol/host.js";
import type { Announced, Mover, OutgoingMessage, PullTarget } from "./mover.js";

export class SingleCopyMover implements Mover {
  readonly path = "single-copy" as const;

  constructor(private readonly host: ProtocolHost) {}

  async receive(link: PeerLink, m: Announced, t: PullTarget): Promise<void> {
    if (!m.iov) throw new MessagingError(ErrorCode.PROTOCOL, `message ${m.id} from rank ${m.src} has no descriptor to copy from`); // selectPath rules it out
    await this.host.singleCopy(m.src).read(t.views, m.iov, m.bytes);
    void t.views; // held until here: the kernel wrote into them
    if (link.state === "up") this.host.control(link, { t: T.FIN, i: m.id });
  }

  serve(link: PeerLink, s: OutgoingMessage): void {
    s.done(new MessagingError(ErrorCode.PROTOCOL, `rank ${link.rank} asked to be sent message ${s.id} by single copy, which the receiver does itself`)); // no PULL names it
  }
}
