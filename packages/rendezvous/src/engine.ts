// The per-process messaging engine: communicator contexts and MPI matching, the lifecycle of
// requests, the links to the peers, what happens when a peer is lost, and close(). It moves no
// bytes itself: the eager and rendezvous protocols (protocol/) and the movers they pick through
// path.ts do. PROTOCOL.md beside this file describes the frames and who holds which buffer.
//
// One receive, from the socket to the user's buffer: link (frame) → engine.frame (dispatch) →
// protocol (eager sink, or RTS → arrive) → matching (posted receive found) → protocol.receive
// → mover (single copy, shm ring or socket) → the receive's request resolves.
import { readKnob, type TransportName } from "@onecopy/cma";
import { ANY_SOURCE } from "./constants.js";
import { ErrorCode, MessagingError, OnecopyError } from "./errors.js";
import { T, type DataFrame, type Frame } from "./frames.js";
import type { PayloadSink } from "./frame-reader.js";
import type { LinkHandler, PeerLink } from "./link.js";
import { Contexts } from "./contexts.js";
import type { Incoming, PostedRecv, RecvResult } from "./matching.js";
import { MessageErrors } from "./message-errors.js";
import { selectPath } from "./path.js";
import { FastPaths } from "./fastpath/fast-paths.js";
import { EagerProtocol } from "./protocol/eager.js";
import { deliverBuffered, sendToSelf } from "./protocol/buffered.js";
import type { ProtocolHost } from "./protocol/host.js";
import { RendezvousProtocol } from "./protocol/rendezvous.js";
import { Request } from "./request.js";
import { closeEngine } from "./shutdown.js";
import { SingleCopyEndpoint, type ReadPermission } from "./single-copy.js";
import { cloneStats, emptyStats, type TransportStats } from "./stats.js";
import type { Tunables } from "./tunables.js";
import type { LeaderCollectives } from "./mpi/leaders.js";

/** What the engine is made with. */
export interface EngineOptions {
  rank: number;
  size: number;
  tunables: Tunables;
  /** The job token (names the job's shared-memory segments). */
  token: string;
  /** Where warnings go. */
  warn: (message: string) => void;
  /** ONECOPY_TRANSPORT (default: from the environment). */
  transport?: TransportName;
  /** ONECOPY_FASTPATH (default: from the environment). */
  fastpath?: boolean;
}

export class Engine implements ProtocolHost, LinkHandler {
  readonly rank: number;
  readonly size: number;
  readonly tunables: Tunables;
  readonly transport: TransportName;
  readonly counters: TransportStats = emptyStats();
  /** The link to each peer, by world rank (null for this rank, and until it is up). */
  readonly links: Array<PeerLink | null>;
  readonly errors: MessageErrors;
  readonly warn: (message: string) => void;
  readonly eager: EagerProtocol;
  readonly rendezvous: RendezvousProtocol;
  private readonly endpoints: Array<SingleCopyEndpoint | null>;
  /** Matching: the queues of every communicator context. */
  readonly contexts: Contexts;
  private readonly lossListeners = new Set<(rank: number) => void>();
  private pending = 0;
  private done = 0;
  /** The shared-memory control planes of the links, and adaptive progress over them. */
  readonly fast: FastPaths;
  private readonly keepAlive: NodeJS.Timeout;
  private closing: Promise<void> | null = null;
  private isClosed = false;
  /** World ranks on other nodes (links over MPI, mpi/): never single copy, shared memory or fast path. */
  private readonly remote = new Set<number>();
  /** Under mpirun/srun with more than one node: the MPI collectives among the node leaders. */
  leaders: LeaderCollectives | null = null;
  /** Called whenever an operation is posted (MPI progress polls soon after). */
  onOperation: (() => void) | null = null;

  constructor(o: EngineOptions) {
    this.rank = o.rank;
    this.size = o.size;
    this.tunables = o.tunables;
    this.warn = o.warn;
    this.transport = o.transport ?? readKnob("transport");
    this.links = new Array<PeerLink | null>(o.size).fill(null);
    this.endpoints = new Array<SingleCopyEndpoint | null>(o.size).fill(null);
    this.endpoints[o.rank] = SingleCopyEndpoint.own(o.rank, this.counters);
    this.errors = new MessageErrors(o.rank, this.links);
    this.contexts = new Contexts(o.tunables.unexpectedLimit, this.links);
    this.eager = new EagerProtocol(this);
    this.rendezvous = new RendezvousProtocol(this, o.token);
    this.fast = new FastPaths(
      { rank: o.rank, size: o.size, token: o.token, ringBytes: o.tunables.fastpathRing, spinUs: o.tunables.spinUs, counters: this.counters, warn: o.warn, enabled: o.fastpath },
      this,
    );
    // One timer holds the event loop open exactly while operations are pending; sockets are
    // unref'd, so a rank whose program is done exits on its own.
    this.keepAlive = setInterval(() => {}, 1 << 30);
    this.keepAlive.unref();
  }

  /**
   * Bootstrap hands over a link that is identified and probed both ways: `read` is what our probe
   * of the peer found, `peerCanRead` what the peer's probe of us found.
   */
  adopt(link: PeerLink, read: ReadPermission, peerCanRead: boolean, remote = false): void {
    const r = link.rank;
    if (remote) this.remote.add(r);
    const status = { get gone() { return link.state !== "up"; }, lose: () => this.loseRank(r) };
    this.links[r] = link;
    this.endpoints[r] = new SingleCopyEndpoint(r, link.pid, read, peerCanRead, this.counters, status, this.rank);
    link.handOver(this);
    if (!remote) this.fast.attach(link);
  }

  /** World rank `rank` is on another node (its link runs over MPI). */
  isRemote(rank: number): boolean {
    return this.remote.has(rank);
  }

  link(rank: number): PeerLink | null {
    return this.links[rank] ?? null;
  }

  singleCopy(rank: number): SingleCopyEndpoint {
    return this.endpoints[rank]!;
  }

  /** close() has begun: no new operations. */
  get closed(): boolean {
    return this.isClosed;
  }

  // ---- requests ---------------------------------------------------------------------------

  newRequest<T>(): Request<T> {
    if (this.pending++ === 0) this.keepAlive.ref();
    this.fast.progress.kick();
    this.onOperation?.();
    return new Request<T>(this.untrack);
  }

  private untrack = (): void => {
    this.done++;
    if (--this.pending === 0) this.keepAlive.unref();
  };

  /** Operations completed so far (progress stops polling when this moves). */
  get completions(): number {
    return this.done;
  }

  /** Operations not yet complete. */
  get pendingOperations(): number {
    return this.pending;
  }

  // ---- contexts ---------------------------------------------------------------------------

  takePosted(ctx: string, src: number, tag: number): PostedRecv | undefined {
    return this.contexts.takePosted(ctx, src, tag);
  }

  stats(): TransportStats {
    return cloneStats(this.counters);
  }

  control(link: PeerLink, f: DataFrame): void {
    this.counters.control.messages++;
    link.send(f);
  }

  // ---- sending ----------------------------------------------------------------------------

  /**
   * Send `views` (`bytes` in all) to world rank `dest`. A synchronous send completes only once
   * the receiver has matched it, whatever its size (MPI_Issend).
   */
  isend(ctx: string, dest: number, tag: number, views: Uint8Array[], bytes: number, synchronous = false): Request<void> {
    const req = this.newRequest<void>();
    if (this.isClosed) {
      req.reject(this.errors.closed("send"));
      return req;
    }
    this.counters.sent.messages++;
    this.counters.sent.bytes += bytes;
    if (dest === this.rank) {
      sendToSelf(this, ctx, tag, views, bytes, req, synchronous);
      return req;
    }
    const link = this.links[dest]!;
    if (link.state !== "up") {
      req.reject(this.errors.lost(dest, `send to rank ${dest}`));
      return req;
    }
    if (bytes <= this.tunables.eagerLimit && !synchronous) {
      this.eager.send(link, ctx, tag, views, bytes, req); // selectPath's "inline", without building its facts
      return req;
    }
    // The path as the receiver will see it: it may read us only if its probe of us succeeded.
    const path = selectPath(
      { transport: this.transport, eagerLimit: this.tunables.eagerLimit, receiverCanRead: this.endpoints[dest]!.canBeRead, shmUsable: true, synchronous, remote: this.remote.has(dest) },
      bytes,
    );
    if (path === "inline") this.eager.send(link, ctx, tag, views, bytes, req);
    else this.rendezvous.send(link, ctx, tag, views, bytes, req, path === "single-copy");
    return req;
  }

  // ---- receiving --------------------------------------------------------------------------

  /**
   * Post a receive on `ctx` from world rank `src` (or ANY_SOURCE). `views === null` allocates
   * the message's exact size on match and returns it as `data`.
   */
  irecv(ctx: string, src: number, tag: number, views: Uint8Array[] | null, capacity: number): Request<RecvResult> {
    const req = this.newRequest<RecvResult>();
    if (this.isClosed) {
      req.reject(this.errors.closed("receive"));
      return req;
    }
    const p: PostedRecv = { ctx, src, tag, views, capacity, req, seq: 0 };
    const m = this.contexts.takeUnexpected(ctx, src, tag);
    if (m) {
      this.deliver(m, p);
      return req;
    }
    const unreachable = this.departedSource(ctx, src);
    if (unreachable !== null) {
      req.reject(this.errors.lost(unreachable, `receive from ${src === ANY_SOURCE ? "any rank" : `rank ${src}`}`));
      return req;
    }
    this.contexts.post(p);
    return req;
  }

  /**
   * The world rank whose departure means nothing matching (`ctx`, `src`) can ever arrive, or
   * null: `src` itself once it left or was lost; for ANY_SOURCE a lost member of the context's
   * group (PROTOCOL.md, "Loss and close"). Receives, probes and matched probes follow it.
   */
  departedSource(ctx: string, src: number): number | null {
    if (src !== ANY_SOURCE) {
      const l = this.links[src];
      return l && (l.state === "lost" || l.state === "left") ? src : null;
    }
    for (const l of this.links) {
      if (l && l.state === "lost" && this.contexts.inGroup(ctx, l.rank)) return l.rank;
    }
    return null;
  }


  /** Non-blocking probe: the first matching message waiting on `ctx`, without receiving it. */
  iprobe(ctx: string, src: number, tag: number): Incoming | null {
    return this.contexts.peek(ctx, src, tag);
  }

  /** Wait until a matching message is waiting on `ctx`; it stays queued. */
  probe(ctx: string, src: number, tag: number): Request<Incoming> {
    const req = this.newRequest<Incoming>();
    if (this.isClosed) {
      req.reject(this.errors.closed("probe"));
      return req;
    }
    const found = this.iprobe(ctx, src, tag);
    if (found) {
      req.resolve(found);
      return req;
    }
    const unreachable = this.departedSource(ctx, src);
    if (unreachable !== null) {
      req.reject(this.errors.lost(unreachable, "probe"));
      return req;
    }
    this.contexts.wait({ ctx, src, tag, resolve: (m) => req.resolve(m), reject: (e) => req.reject(e) });
    return req;
  }

  arrive(m: Incoming): void {
    const p = this.contexts.takePosted(m.ctx, m.src, m.tag);
    if (p) this.deliver(m, p);
    else this.contexts.queueUnexpected(m);
  }

  /**
   * Serve receive `p` with message `m` (matched here, or claimed earlier by a matched probe).
   * Whatever goes wrong, `p` settles and `m`'s sender is released.
   */
  deliver(m: Incoming, p: PostedRecv): void {
    try {
      if (m.kind === "rts") this.rendezvous.receive(m, p);
      else deliverBuffered(this, m, p);
    } catch (err) {
      // Only allocation throws here in practice (a size the sender announced that we cannot hold).
      p.req.reject(err instanceof OnecopyError ? err : this.errors.noMemory(m, err));
      if (m.kind === "rts") this.rendezvous.release(m);
      else m.selfReq?.resolve();
    }
  }

  // ---- frames from a link -----------------------------------------------------------------

  frame(link: PeerLink, f: Frame): PayloadSink | null {
    switch (f.t) {
      case T.EAGER:
        return this.eager.onEager(link, f);
      case T.RTS:
        this.rendezvous.onRts(link, f);
        return null;
      case T.FIN:
        this.rendezvous.onFin(link, f);
        return null;
      case T.PULL:
        this.rendezvous.onPull(link, f);
        return null;
      case T.PUT:
        this.rendezvous.onPut(link, f);
        return null;
      case T.WROTE:
        this.rendezvous.onWrote(link, f);
        return null;
      case T.DATA:
        return this.rendezvous.onData(link, f);
      case T.SHM:
        this.rendezvous.onShm(link, f);
        return null;
      case T.BYE:
        this.peerGone(link, "left");
        return null;
      default:
        link.destroy(new MessagingError(ErrorCode.PROTOCOL, `rank ${link.rank} sent a handshake frame (type ${f.t}) on an established link`));
        return null;
    }
  }

  gone(link: PeerLink): void {
    this.peerGone(link, "lost");
  }

  // ---- peer loss --------------------------------------------------------------------------

  /** Call `listener(worldRank)` whenever a peer is lost (dropped without BYE). Returns a function that stops it. */
  onPeerLost(listener: (rank: number) => void): () => void {
    this.lossListeners.add(listener);
    return () => this.lossListeners.delete(listener);
  }

  /**
   * `link`'s rank left gracefully (BYE) or was lost (connection dropped without BYE, or its
   * process found gone). Every pending operation that needs it fails now with ERR_PEER_LOST
   * instead of waiting forever.
   */
  peerGone(link: PeerLink, how: "left" | "lost"): void {
    if (link.state === "lost" || link.state === "left") return;
    link.state = how;
    const r = link.rank;
    const err = (what: string) => this.errors.lost(r, what);
    this.eager.peerGone(link, err, how);
    this.rendezvous.peerGone(link, err, how);
    this.contexts.peerGone(r, how, err);
    if (how === "lost" && !this.isClosed) for (const l of [...this.lossListeners]) l(r);
  }

  /** A peer whose process is gone before its socket closed (a failed copy found it): lose it now. */
  loseRank(rank: number): void {
    const l = this.links[rank];
    if (l && l.state === "up") this.peerGone(l, "lost");
  }

  // ---- close ------------------------------------------------------------------------------

  /**
   * Close the world (MPI_Finalize): finish every send already posted, fail what can no longer
   * complete with ERR_CLOSED, say BYE to every peer and wait until each link has flushed.
   */
  close(): Promise<void> {
    this.closing ??= closeEngine(this, () => this.stopAccepting());
    return this.closing;
  }

  private stopAccepting(): void {
    this.isClosed = true;
    const e = this.errors.closed("pending operation");
    this.contexts.failAll(e, this.errors.closed("send to self (never received)"));
    this.rendezvous.failPulls(e);
  }

  /** Release the engine's resources (after close()). */
  dispose(): void {
    this.rendezvous.dispose();
    clearInterval(this.keepAlive);
  }
}
