// Single copy: the receiver copies straight from the sender's buffers into its own
// (process_vm_readv through the peer's single-copy endpoint), then sends FIN so the sender may
// reuse them. The sender takes no part beyond holding its buffers until FIN.
//
// Both processes copy (ONECOPY_SPLIT_MIN): a large message is split. The receiver sends PUT with
// the descriptor of its buffers' tail (bytes `o`…) and reads the head itself while the sender
// writes the tail with process_vm_writev and answers WROTE. The receive settles once both are
// done, and FIN follows as before, so the send still completes on FIN. The receive buffers named
// in PUT stay held (in `writes`) until WROTE or the sender's loss, whatever the read did meanwhile.
// A sender that cannot write (EPERM, CMA off its way, any errno) says so in WROTE: the receiver
// then reads the tail too, warns once, and stops splitting that peer's messages.
import { sliceIoList } from "@onecopy/cma";
import { ioListOfViews, viewsRange } from "../buffers.js";
import { ErrorCode, MessagingError, type ErrorCodeValue } from "../errors.js";
import { T, type Put, type Wrote } from "../frames.js";
import type { PeerLink } from "../link.js";
import type { ProtocolHost } from "../protocol/host.js";
import type { Announced, Mover, OutgoingMessage, PullTarget } from "./mover.js";
import { PendingPulls } from "./pending-pulls.js";

/** Split points fall on this boundary of the message (page-aligned buffers stay page-aligned). */
const SPLIT_ALIGN = 4096;

/** A send as the sender holds it until FIN. */
export interface HeldSend {
  link: PeerLink;
  views: readonly Uint8Array[];
  bytes: number;
}

export class SingleCopyMover implements Mover {
  readonly path = "single-copy" as const;
  /** Split receives waiting for the sender's WROTE (their tail buffers are the sender's until then). */
  private readonly writes = new PendingPulls();
  /** Senders that could not write into us: their messages are read whole from now on. */
  private readonly noSplit = new Set<number>();
  private warned = false;
  /** WROTE frames waiting for the end of the PUTs being handled. */
  private answers: Array<[PeerLink, Wrote]> = [];

  constructor(private readonly host: ProtocolHost) {}

  async receive(link: PeerLink, m: Announced, t: PullTarget): Promise<void> {
    if (!m.iov) throw new MessagingError(ErrorCode.PROTOCOL, `message ${m.id} from rank ${m.src} has no descriptor to copy from`); // selectPath rules it out
    const theirs = this.senderShare(m);
    if (theirs > 0) await this.receiveSplit(link, m, m.iov, t, theirs);
    else await this.host.singleCopy(m.src).read(t.views, m.iov, m.bytes);
    void t.views; // held until here: the kernel wrote into them
    if (link.state === "up") this.host.control(link, { t: T.FIN, i: m.id });
  }

  serve(link: PeerLink, s: OutgoingMessage): void {
    s.done(new MessagingError(ErrorCode.PROTOCOL, `rank ${link.rank} asked to be sent message ${s.id} by single copy, which the receiver does itself`)); // no PULL names it
  }

  /** Bytes of message `m` the sender should write (0: the receiver reads it all). */
  private senderShare(m: Announced): number {
    const { splitMin, splitShare } = this.host.tunables;
    if (splitMin === 0 || m.bytes < splitMin || this.noSplit.has(m.src) || !this.host.singleCopy(m.src).canBeRead) return 0;
    const head = Math.floor((m.bytes * (100 - splitShare)) / 100 / SPLIT_ALIGN) * SPLIT_ALIGN;
    return head > 0 && head < m.bytes ? m.bytes - head : 0;
  }

  private async receiveSplit(link: PeerLink, m: Announced, iov: number[], t: PullTarget, theirs: number): Promise<void> {
    const ep = this.host.singleCopy(m.src);
    const o = m.bytes - theirs;
    const tail = viewsRange(t.views, o, theirs);
    const put: Put = { t: T.PUT, i: m.id, o, v: ioListOfViews(tail, theirs) };
    const head = viewsRange(t.views, 0, o);
    const from = sliceIoList(iov, 0, o); // throws before PUT leaves (a descriptor shorter than its message)
    const written = new Promise<void>((resolve, reject) => this.writes.add(m.src, m.id, { views: tail, bytes: theirs, finish: resolve, fail: reject }));
    this.host.control(link, put);
    link.flush(); // the sender starts now, not at the end of this tick's reads
    const [read, wrote] = await Promise.allSettled([ep.read(head, from, o), written]);
    // Only now does the sender no longer touch `tail`: the receive may settle either way.
    void tail;
    if (read.status === "rejected") throw read.reason;
    if (wrote.status === "rejected") {
      const err = wrote.reason as Error & { code?: string };
      if (err.code === ErrorCode.PEER_LOST) throw err;
      this.writeFailed(m.src, err);
      await ep.read(tail, sliceIoList(iov, o, theirs), theirs);
    }
  }

  /** A WROTE frame: the sender is done with the share PUT gave it. */
  onWrote(link: PeerLink, f: Wrote): void {
    const w = this.writes.take(link.rank, f.i);
    if (!w) return;
    if (f.e === undefined) w.finish();
    else w.fail(new MessagingError(f.e as ErrorCodeValue, `rank ${link.rank} could not write its share of message ${f.i}: ${f.m ?? f.e}`, { peer: link.rank }));
  }

  /**
   * Sender side: a PUT for message `f.i` (`s`, held until FIN, or undefined if no such send to
   * `link` is pending). Write our share, then answer WROTE, with the error if the write failed.
   */
  put(link: PeerLink, f: Put, s: HeldSend | undefined): void {
    const answer = (err?: Error & { code?: string }) => {
      if (err?.code === ErrorCode.PEER_LOST) return; // the peer's loss fails the send
      this.answer(link, err ? { t: T.WROTE, i: f.i, e: err.code ?? ErrorCode.PROTOCOL, m: err.message } : { t: T.WROTE, i: f.i });
    };
    let moving: number | Promise<number>;
    try {
      if (!s || s.link !== link) throw new MessagingError(ErrorCode.PROTOCOL, `rank ${link.rank} asked for a share of message ${f.i}, which is not being sent to it`);
      if (f.o >= s.bytes) throw new MessagingError(ErrorCode.PROTOCOL, `rank ${link.rank} asked for bytes ${f.o}… of message ${f.i}, which has ${s.bytes}`);
      const ep = this.host.singleCopy(link.rank);
      if (!ep.canRead) throw new MessagingError(ErrorCode.CMA_DISABLED, `this rank may not write into rank ${link.rank}: ${ep.reason}`);
      const n = s.bytes - f.o;
      moving = ep.writeNow(viewsRange(s.views, f.o, n), f.v, n);
    } catch (err) {
      answer(err as Error); // a descriptor the copy refuses outright (its length, its pieces)
      return;
    }
    if (typeof moving === "number") answer();
    else moving.then(() => answer(), answer);
  }

  /**
   * Send WROTE once the PUTs that arrived with this one are written too: one doorbell for the
   * batch, not one per message (a sleeping receiver would wake, and we would ring, per message).
   */
  private answer(link: PeerLink, f: Wrote): void {
    this.answers.push([link, f]);
    if (this.answers.length === 1) queueMicrotask(this.sendAnswers);
  }

  private readonly sendAnswers = (): void => {
    const all = this.answers;
    this.answers = [];
    for (const [link, f] of all) if (link.state === "up") this.host.control(link, f);
    for (const [link] of all) link.flush();
  };

  /** `rank` is gone: split receives waiting for its WROTE fail (it writes no more). */
  peerGone(rank: number, err: Error): void {
    this.writes.failFrom(rank, err);
  }

  private writeFailed(src: number, err: Error & { code?: string }): void {
    this.noSplit.add(src);
    if (this.warned) return;
    this.warned = true;
    this.host.warn(
      `onecopy: rank ${this.host.rank}: rank ${src} could not write its share of a split message into this rank (${err.code ?? err.name}); this rank read it itself, and reads that rank's messages whole from now on. ${err.message}`,
    );
  }
}
