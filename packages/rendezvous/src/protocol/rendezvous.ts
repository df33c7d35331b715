// Rendezvous (receiver pull, as Open MPI and MPICH do it): the sender sends RTS, with its
// descriptor when the receiver may read it; when a receive matches, the receiver moves the bytes
// by the mover selectPath picks, and the sender's request completes only when the receiver is
// done with its buffers (FIN after a single copy; the last byte out for a pulled stream). Until
// then this module holds the sender's buffers. A single copy that fails for a reason other than
// the peer's loss (EFAULT, EPERM, ...) falls back to the next path, with one warning per process.
import { prepareForCopy } from "@onecopy/cma";
import { ErrorCode } from "../errors.js";
import { ioListOfViews, allocMessage } from "../buffers.js";
import { T, type Data, type Fin, type Pull, type Put, type Rts, type ShmFrame, type Wrote } from "../frames.js";
import type { PayloadSink } from "../frame-reader.js";
import type { PeerLink } from "../link.js";
import type { Incoming, PostedRecv } from "../matching.js";
import { selectMover, type MoverPath, type PathFacts } from "../path.js";
import type { Request } from "../request.js";
import type { Announced, Mover, OutgoingMessage, PullTarget, SenderFirstMover } from "../movers/mover.js";
import { PendingPulls } from "../movers/pending-pulls.js";
import { ShmMover } from "../movers/shm-mover.js";
import { SingleCopyMover } from "../movers/single-copy-mover.js";
import { SocketMover } from "../movers/socket-mover.js";
import type { ProtocolHost } from "./host.js";

interface PendingSend {
  link: PeerLink;
  views: readonly Uint8Array[];
  bytes: number;
  req: Request<void>;
  /** The receiver asked for it (PULL): it settles when its last byte is out (socket) or in a cell (ring). */
  streaming: boolean;
  /** Posted through MPI right after its RTS (Rts.m): it settles when MPI completes it. */
  mpiPosted: boolean;
}

const PATH_WORDS: Record<MoverPath, string> = {
  "single-copy": "single copy",
  shm: "shared-memory double copy",
  socket: "socket",
  mpi: "MPI",
};

export class RendezvousProtocol {
  /** Sends whose buffers the receiver may still touch, by message id. */
  private readonly sends = new Map<number, PendingSend>();
  private nextId = 1;
  private readonly pulls = new PendingPulls();
  readonly socket: SocketMover;
  readonly shm: ShmMover;
  private readonly singleCopy: SingleCopyMover;
  private readonly movers: Partial<Record<MoverPath, Mover>>;
  private fallbackWarned = false;
  /** The mpi mover, when its sender posts first (large messages to other nodes skip PULL). */
  private senderFirst: SenderFirstMover | null = null;

  constructor(
    private readonly host: ProtocolHost,
    token: string,
  ) {
    this.socket = new SocketMover(host, this.pulls);
    this.shm = new ShmMover(host, this.pulls, this.socket, token);
    this.singleCopy = new SingleCopyMover(host);
    this.movers = { "single-copy": this.singleCopy, shm: this.shm, socket: this.socket };
  }

  /**
   * Ranks on other nodes are reachable: large messages to and from them take `mover`. With
   * `senderFirst` our sends to them post their bytes right after the RTS (Rts.m); the receiver
   * follows what each RTS says.
   */
  useMpi(mover: SenderFirstMover, senderFirst: boolean): void {
    this.movers.mpi = mover;
    this.senderFirst = senderFirst ? mover : null;
  }

  // ---- sender -----------------------------------------------------------------------------

  /** Announce a message; `withDescriptor` lets the receiver read our buffers directly. */
  send(link: PeerLink, ctx: string, tag: number, views: readonly Uint8Array[], bytes: number, req: Request<void>, withDescriptor: boolean): void {
    const id = this.nextId++;
    const early = this.senderFirst !== null && this.host.isRemote(link.rank);
    const s: PendingSend = { link, views, bytes, req, streaming: early, mpiPosted: early };
    this.sends.set(id, s);
    const f: Rts = { t: T.RTS, c: ctx, g: tag, n: bytes, i: id };
    if (withDescriptor) {
      prepareForCopy(views, "source"); // the registration cache: a reused send buffer gets huge pages
      f.v = ioListOfViews(views, bytes);
    }
    if (early) f.m = 1;
    this.host.control(link, f);
    if (early) this.senderFirst!.post(link, this.outgoing(link, id, s));
  }

  /** Sent message `id` as its mover sees it; done settles it (once, while it is still ours). */
  private outgoing(link: PeerLink, id: number, s: PendingSend): OutgoingMessage {
    return {
      id,
      views: s.views,
      bytes: s.bytes,
      done: (err) => {
        if (this.sends.get(id) !== s) return; // failed already (its peer left or was lost)
        this.sends.delete(id);
        if (err) s.req.reject(this.host.errors.lost(link.rank, `send to rank ${link.rank}`, err));
        else s.req.resolve();
      },
    };
  }

  onFin(link: PeerLink, f: Fin): void {
    const s = this.sends.get(f.i);
    // Message ids are this rank's, shared by all its peers: only the receiver may settle a send.
    if (!s || s.mpiPosted || s.link !== link) return;
    this.sends.delete(f.i);
    s.req.resolve();
  }

  /** The receiver asks us to stream message `f.i` (s: 1 through shared memory, else over the socket). */
  onPull(link: PeerLink, f: Pull): void {
    const s = this.sends.get(f.i);
    if (!s || s.mpiPosted || s.link !== link) return;
    // Held in `sends` until the bytes are out, so close() and peer loss see it.
    s.streaming = true;
    this.movers[f.s === 1 ? "shm" : f.s === 2 ? "mpi" : "socket"]!.serve(link, this.outgoing(link, f.i, s));
  }

  /** The receiver of a split single copy asks us to write our share into its buffers. */
  onPut(link: PeerLink, f: Put): void {
    this.singleCopy.put(link, f, this.sends.get(f.i));
  }

  // ---- receiver ---------------------------------------------------------------------------

  onRts(link: PeerLink, f: Rts): void {
    this.host.arrive({ kind: "rts", src: link.rank, ctx: f.c, tag: f.g, bytes: f.n, id: f.i, iov: f.v, mpiPosted: f.m === 1 });
  }

  /** The sender of a split single copy wrote its share (or could not). */
  onWrote(link: PeerLink, f: Wrote): void {
    this.singleCopy.onWrote(link, f);
  }

  onData(link: PeerLink, f: Data): PayloadSink {
    return this.socket.onData(link, f);
  }

  onShm(link: PeerLink, f: ShmFrame): void {
    this.shm.onFrame(link, f);
  }

  /** Serve posted receive `p` with announced message `m`. May throw (allocation): the engine then fails `p` and calls {@link release}. */
  receive(m: Incoming, p: PostedRecv): void {
    const host = this.host;
    const link = host.link(m.src)!;
    if (p.views && m.bytes > p.capacity) {
      p.req.reject(host.errors.truncate(m, p.capacity));
      this.release(m);
      return;
    }
    if (link.state !== "up") {
      p.req.reject(host.errors.lost(m.src, `receive from rank ${m.src}`));
      return;
    }
    const views = p.views ?? [allocMessage(m.bytes)];
    const data = p.views ? undefined : views[0];
    const t: PullTarget = {
      views,
      bytes: m.bytes,
      finish: () => p.req.resolve({ source: m.src, tag: m.tag, bytes: m.bytes, data }),
      fail: (e) => p.req.reject(e),
    };
    const a: Announced = { src: m.src, tag: m.tag, id: m.id!, bytes: m.bytes, iov: m.iov, posted: m.mpiPosted };
    this.move(link, a, t, this.facts(link, a));
  }

  /** The sender of an announced message that will not be copied may go on (as after truncation). */
  release(m: Incoming): void {
    const link = this.host.link(m.src);
    if (link?.state !== "up") return;
    if (m.mpiPosted) (this.movers.mpi as SenderFirstMover).discard(link, { src: m.src, tag: m.tag, id: m.id!, bytes: m.bytes, posted: true });
    else this.host.control(link, { t: T.FIN, i: m.id! });
  }

  private facts(link: PeerLink, a: Announced): PathFacts {
    const h = this.host;
    return {
      transport: h.transport,
      eagerLimit: h.tunables.eagerLimit,
      receiverCanRead: a.iov !== undefined && h.singleCopy(a.src).canRead,
      shmUsable: this.shm.usable(link),
      remote: h.isRemote(a.src),
    };
  }

  private move(link: PeerLink, a: Announced, t: PullTarget, facts: PathFacts): void {
    const path = selectMover(facts);
    let moving: Promise<void>;
    try {
      moving = this.movers[path]!.receive(link, a, t);
    } catch (err) {
      moving = Promise.reject(err); // e.g. a descriptor the copy refuses outright
    }
    moving.then(t.finish, (err: Error & { code?: string }) => {
      if (err.code === ErrorCode.PEER_LOST || link.state !== "up") {
        t.fail(this.host.errors.lost(a.src, `receive from rank ${a.src}`, err));
        return;
      }
      if (path !== "single-copy") {
        t.fail(err);
        return;
      }
      const next = { ...facts, receiverCanRead: false, shmUsable: this.shm.usable(link) };
      this.warnFallback(a.src, err, selectMover(next));
      this.move(link, a, t, next);
    });
  }

  private warnFallback(src: number, err: Error & { code?: string }, path: MoverPath): void {
    if (this.fallbackWarned) return;
    this.fallbackWarned = true;
    this.host.warn(
      `onecopy: rank ${this.host.rank}: a single-copy read from rank ${src} failed (${err.code ?? err.name}); that message went by the ${PATH_WORDS[path]} instead, and so do later ones whose read fails. ${err.message}`,
    );
  }

  // ---- close and loss ---------------------------------------------------------------------

  /** Sends still waiting for their receiver. */
  *pending(): Iterable<Request<void>> {
    for (const s of this.sends.values()) yield s.req;
  }

  pendingTo(link: PeerLink): number {
    let n = 0;
    for (const s of this.sends.values()) if (s.link === link) n++;
    return n;
  }

  /**
   * `link`'s rank is gone: its sends and pulled receives fail, its ring is closed. A peer that
   * left (BYE) received all it was going to, so a send it pulled whose bytes are still going out
   * is left to its own completion: the peer may well have read them all (its BYE can be read
   * before our write callback runs); a ring it no longer drains fails it when the ring closes.
   */
  peerGone(link: PeerLink, err: (what: string) => Error, how: "left" | "lost"): void {
    const r = link.rank;
    this.shm.peerGone(link, err(`receive from rank ${r}`));
    this.singleCopy.peerGone(r, err(`receive from rank ${r}`));
    // MPI completes a posted send the peer received before its BYE arrives; what is still pending
    // then, it never matched.
    if (this.host.isRemote(r)) (this.movers.mpi as SenderFirstMover | undefined)?.peerGone(r, how);
    for (const [id, s] of this.sends) {
      if (s.link !== link || (how === "left" && s.streaming && !s.mpiPosted)) continue;
      this.sends.delete(id);
      s.req.reject(err(`send to rank ${r}`));
    }
    this.pulls.failFrom(r, err(`receive from rank ${r}`));
  }

  /** close(): pulled receives still waiting fail with `err`. */
  failPulls(err: Error): void {
    this.pulls.failAll(err);
  }

  dispose(): void {
    this.shm.dispose();
  }
}
