// The per-process messaging engine: eager and rendezvous protocols over the peers' sockets,
// MPI matching, single-copy reads, the socket fallback, peer loss and liveness.
//
// Rendezvous (receiver pull, as Open MPI and MPICH do it): the sender sends RTS with the io
// list of its buffers; when a receive matches, the receiver copies straight from the sender's
// buffers into its own with process_vm_readv, then sends FIN; the sender's operation completes
// only on FIN, and until then the engine holds the sender's buffers. Where the receiver may not
// read the sender (probe failed, kill switch, a run-time CMA error) it sends PULL instead and
// the sender streams the bytes through the pair's shared-memory ring (shm/, PULL with s: 1), or
// over the socket (DATA) when ONECOPY_TRANSPORT=socket or shared memory is unusable.
import { allocBuffer, transfer, type CmaError } from "@onecopy/cma";
import { ANY_SOURCE } from "./constants.js";
import { copyViews, ioListOfViews, ViewWriter } from "./buffers.js";
import type { Peer } from "./endpoint.js";
import { ErrorCode, MessagingError, OnecopyError } from "./errors.js";
import { ContextQueues, matches, type Incoming, type PostedRecv, type RecvResult } from "./matching.js";
import { Request } from "./request.js";
import { cloneStats, emptyStats, type TransportStats } from "./stats.js";
import { readTransport, type Tunables } from "./tunables.js";
import { ENV } from "./env.js";
import { ShmPath, type ShmSend } from "./shm/shm-path.js";
import { T, type Header, type PayloadSink } from "./wire.js";

interface PendingSend {
  peer: Peer;
  views: Uint8Array[];
  bytes: number;
  req: Request<void>;
}

interface PendingPull {
  src: number;
  views: Uint8Array[];
  bytes: number;
  finish(): void;
  fail(err: Error): void;
}

const DISCARD: PayloadSink = { write() {}, end() {} };

/**
 * What one queued unexpected message costs beyond its payload bytes, counted against the
 * unexpected cap: the message's record, its node in the matching queue and the typed array
 * holding its payload (about 210 bytes alone for a tiny one). Measured on Node 20 x64 with
 * 200 000 queued 8-byte eager messages: 520 bytes of heap (660 of RSS) per message.
 */
export const UNEXPECTED_OVERHEAD = 512;

/** Allocation for receives that take the message's own size (objects, probe-then-recv). */
function allocFor(bytes: number): Uint8Array {
  // Large ones on populated huge pages: the kernel copies into them at full speed.
  return bytes >= 2 * 1024 * 1024 ? new Uint8Array(allocBuffer(bytes)) : new Uint8Array(bytes);
}

/** Memory an unexpected message holds while queued. */
function unexpectedCost(m: Incoming): number {
  return UNEXPECTED_OVERHEAD + (m.data?.byteLength ?? 0) + (m.iov ? m.iov.length * 8 : 0);
}

export class Engine {
  readonly peers: Array<Peer | null>;
  private readonly queues = new Map<string, ContextQueues>();
  /** World ranks of each context's group (absent: the whole world). */
  private readonly groups = new Map<string, readonly number[]>();
  private readonly sends = new Map<number, PendingSend>();
  /** Eager sends whose bytes are not all written to the socket yet, by peer. */
  private readonly writing = new Map<Peer, Set<Request<void>>>();
  private readonly pulls = new Map<string, PendingPull>();
  private nextId = 1;
  private unexpectedBytes = 0;
  private pending = 0;
  private readonly keepAlive: NodeJS.Timeout;
  private cmaWarned = false;
  closed = false;
  readonly counters: TransportStats = emptyStats();
  /** Called once for the first run-time CMA failure that made a message fall back. */
  onCmaFallback: ((msg: string) => void) | null = null;
  /** The shared-memory double-copy path and the choice of path for large messages. */
  readonly shm: ShmPath;

  constructor(
    readonly rank: number,
    readonly size: number,
    readonly tunables: Tunables,
  ) {
    this.peers = new Array<Peer | null>(size).fill(null);
    this.shm = new ShmPath(rank, readTransport(), tunables, this.counters, {
      frame: (peer, h) => {
        this.control(peer, h as Header);
        peer.flush(); // a doorbell leaves now, not at the end of the tick: the ring is in use meanwhile
      },
      take: (peer, id) => this.takePull(peer.rank, id),
      socket: (peer, s) => this.sendData(peer, s),
      warn: (m) => this.onCmaFallback?.(m),
    }, process.env[ENV.token] ?? "");
    // One timer holds the event loop open exactly while operations are pending; sockets are
    // unref'd, so a rank whose program is done exits on its own.
    this.keepAlive = setInterval(() => {}, 1 << 30);
    this.keepAlive.unref();
  }

  // ---- liveness -------------------------------------------------------------------------

  private track<T>(req: Request<T>): Request<T> {
    if (this.pending++ === 0) this.keepAlive.ref();
    return req;
  }

  private untrack = (): void => {
    if (--this.pending === 0) this.keepAlive.unref();
  };

  newRequest<T>(): Request<T> {
    return this.track(new Request<T>(this.untrack));
  }

  /** Operations not yet complete. */
  get pendingOperations(): number {
    return this.pending;
  }

  // ---- contexts -------------------------------------------------------------------------

  q(ctx: string): ContextQueues {
    let q = this.queues.get(ctx);
    if (!q) this.queues.set(ctx, (q = new ContextQueues()));
    return q;
  }

  registerGroup(ctx: string, worldRanks: readonly number[] | null): void {
    if (worldRanks) this.groups.set(ctx, worldRanks);
  }

  private inGroup(ctx: string, worldRank: number): boolean {
    const g = this.groups.get(ctx);
    return !g || g.includes(worldRank);
  }

  stats(): TransportStats {
    return cloneStats(this.counters);
  }

  // ---- errors ---------------------------------------------------------------------------

  private lostError(peer: number, what: string): MessagingError {
    const p = this.peers[peer];
    const how =
      p?.state === "left"
        ? `rank ${peer} has already left the job (it closed its communicator or exited)`
        : `rank ${peer}${p?.pid ? ` (pid ${p.pid})` : ""} died or dropped its connection`;
    return new MessagingError(ErrorCode.PEER_LOST, `${what}: ${how}. Check that rank's output for its error.`, {
      rank: this.rank,
      peer,
    });
  }

  private closedError(what: string): MessagingError {
    return new MessagingError(ErrorCode.CLOSED, `${what}: the communicator was closed with close(); no further operations are possible`, {
      rank: this.rank,
    });
  }

  /** A matched message that could not be served: the memory for it could not be allocated. */
  private noMemoryError(m: { src: number; tag: number; bytes: number }, cause: unknown): MessagingError {
    const why = cause instanceof Error ? cause.message : String(cause);
    return new MessagingError(
      ErrorCode.NO_MEMORY,
      `message of ${m.bytes} bytes from rank ${m.src} (tag ${m.tag}) cannot be received: allocating memory for it failed (${why}); the message was consumed. Receive it into a buffer of your own, or check the size the sender announces.`,
      { rank: this.rank, peer: m.src, tag: m.tag, actual: m.bytes, cause },
    );
  }

  private truncateError(m: Incoming, capacity: number): MessagingError {
    return new MessagingError(
      ErrorCode.TRUNCATE,
      `message of ${m.bytes} bytes from rank ${m.src} (tag ${m.tag}) does not fit the ${capacity}-byte receive buffer; nothing was written and the message was consumed. Post a larger buffer, or use probe() to learn the size first.`,
      { rank: this.rank, peer: m.src, tag: m.tag, expected: capacity, actual: m.bytes },
    );
  }

  // ---- sending --------------------------------------------------------------------------

  /** Send `views` (`bytes` in all) to world rank `dest`. */
  isend(ctx: string, dest: number, tag: number, views: Uint8Array[], bytes: number): Request<void> {
    const req = this.newRequest<void>();
    if (this.closed) {
      req.reject(this.closedError("send"));
      return req;
    }
    this.counters.sent.messages++;
    this.counters.sent.bytes += bytes;
    if (dest === this.rank) {
      this.sendToSelf(ctx, tag, views, bytes, req);
      return req;
    }
    const peer = this.peers[dest]!;
    if (peer.state !== "up") {
      req.reject(this.lostError(dest, `send to rank ${dest}`));
      return req;
    }
    if (bytes <= this.tunables.eagerLimit) {
      // Tracked until the socket has taken the bytes: close() waits for them, peer loss fails them.
      let w = this.writing.get(peer);
      if (!w) this.writing.set(peer, (w = new Set()));
      w.add(req);
      peer.send({ t: T.EAGER, c: ctx, g: tag, n: bytes }, views, (err) => {
        w.delete(req);
        if (err) req.reject(this.lostError(dest, `send to rank ${dest}`));
        else req.resolve();
      });
      return req;
    }
    const id = this.nextId++;
    this.sends.set(id, { peer, views, bytes, req });
    const h: Header = { t: T.RTS, c: ctx, g: tag, n: bytes, i: id };
    if (peer.peerCanRead) h.v = ioListOfViews(views, bytes);
    peer.send(h);
    this.counters.control.messages++;
    return req;
  }

  private sendToSelf(ctx: string, tag: number, views: Uint8Array[], bytes: number, req: Request<void>): void {
    const m: Incoming = { kind: "self", src: this.rank, ctx, tag, bytes };
    if (bytes <= this.tunables.eagerLimit) {
      // Like an eager send: buffered now, the sender may reuse its buffer at once.
      const data = new Uint8Array(bytes);
      copyViews(views, [data]);
      m.kind = "eager";
      m.data = data;
      this.arrive(m);
      req.resolve();
      return;
    }
    m.selfViews = views;
    m.selfReq = req;
    this.arrive(m);
  }

  // ---- receiving ------------------------------------------------------------------------

  /**
   * Post a receive on `ctx` from world rank `src` (or ANY_SOURCE). `views === null` allocates
   * the message's exact size on match and returns it as `data`.
   */
  irecv(ctx: string, src: number, tag: number, views: Uint8Array[] | null, capacity: number): Request<RecvResult> {
    const req = this.newRequest<RecvResult>();
    if (this.closed) {
      req.reject(this.closedError("receive"));
      return req;
    }
    const p: PostedRecv = { ctx, src, tag, views, capacity, req };
    const q = this.q(ctx);
    const m = q.unexpected.take(src, tag);
    if (m) {
      this.releaseUnexpected(m);
      this.deliver(m, p);
      return req;
    }
    const unreachable = this.unreachableSource(ctx, src);
    if (unreachable !== null) {
      req.reject(this.lostError(unreachable, `receive from ${src === ANY_SOURCE ? "any rank" : `rank ${src}`}`));
      return req;
    }
    q.posted.push(p);
    return req;
  }

  /** A rank whose loss makes a receive from `src` on `ctx` impossible, or null. */
  private unreachableSource(ctx: string, src: number): number | null {
    if (src !== ANY_SOURCE) {
      const p = this.peers[src];
      return p && (p.state === "lost" || p.state === "left") ? src : null;
    }
    for (const p of this.peers) {
      if (p && p.state === "lost" && this.inGroup(ctx, p.rank)) return p.rank;
    }
    return null;
  }

  /** Non-blocking probe: the first matching message waiting on `ctx`, without receiving it. */
  iprobe(ctx: string, src: number, tag: number): Incoming | null {
    return this.queues.get(ctx)?.unexpected.peek(src, tag) ?? null;
  }

  /** Wait until a matching message is waiting on `ctx`; it stays queued. */
  probe(ctx: string, src: number, tag: number): Request<Incoming> {
    const req = this.newRequest<Incoming>();
    if (this.closed) {
      req.reject(this.closedError("probe"));
      return req;
    }
    const found = this.iprobe(ctx, src, tag);
    if (found) {
      req.resolve(found);
      return req;
    }
    const unreachable = this.unreachableSource(ctx, src);
    if (unreachable !== null) {
      req.reject(this.lostError(unreachable, "probe"));
      return req;
    }
    this.q(ctx).probes.push({ ctx, src, tag, resolve: (m) => req.resolve(m), reject: (e) => req.reject(e) });
    return req;
  }

  /** A complete message (or RTS) is here: match it or queue it as unexpected. */
  arrive(m: Incoming): void {
    const q = this.q(m.ctx);
    const p = q.posted.take(m.src, m.tag);
    if (p) {
      this.deliver(m, p);
      return;
    }
    q.unexpected.push(m);
    this.holdUnexpected(m);
    if (q.probes.length) {
      const probes = q.probes;
      for (let i = 0; i < probes.length; i++) {
        const w = probes[i]!;
        if (matches(w.src, w.tag, m.src, m.tag)) {
          probes.splice(i--, 1);
          w.resolve(m);
        }
      }
    }
  }

  /** Serve receive `p` with message `m`. Whatever goes wrong, `p` settles and `m`'s sender is released. */
  private deliver(m: Incoming, p: PostedRecv): void {
    try {
      this.deliverNow(m, p);
    } catch (err) {
      // Only allocation throws here in practice (a size the sender announced that we cannot hold).
      p.req.reject(err instanceof OnecopyError ? err : this.noMemoryError(m, err));
      this.release(m);
    }
  }

  /** The sender of a message that will not be copied may go on (as after truncation). */
  private release(m: Incoming): void {
    if (m.kind === "self") m.selfReq?.resolve();
    if (m.kind !== "rts") return;
    const peer = this.peers[m.src];
    if (peer?.state === "up") this.control(peer, { t: T.FIN, i: m.id });
  }

  private deliverNow(m: Incoming, p: PostedRecv): void {
    if (m.kind === "rts") {
      this.startRendezvous(m, p);
      return;
    }
    if (p.views && m.bytes > p.capacity) {
      p.req.reject(this.truncateError(m, p.capacity));
      m.selfReq?.resolve();
      return;
    }
    if (m.error) {
      p.req.reject(m.error);
      return;
    }
    const src = m.kind === "self" ? m.selfViews! : [m.data!];
    let data: Uint8Array | undefined;
    if (p.views) copyViews(src, p.views);
    else if (m.kind === "eager") data = m.data!;
    else copyViews(src, [(data = allocFor(m.bytes))]);
    this.count(m.src === this.rank ? this.counters.self : this.counters.eager, m.bytes);
    m.selfReq?.resolve();
    p.req.resolve({ source: m.src, tag: m.tag, bytes: m.bytes, data });
  }

  // ---- rendezvous, receiver side --------------------------------------------------------

  private startRendezvous(m: Incoming, p: PostedRecv): void {
    const peer = this.peers[m.src]!;
    if (p.views && m.bytes > p.capacity) {
      p.req.reject(this.truncateError(m, p.capacity));
      this.control(peer, { t: T.FIN, i: m.id });
      return;
    }
    if (peer.state !== "up") {
      p.req.reject(this.lostError(m.src, `receive from rank ${m.src}`));
      return;
    }
    const views = p.views ?? [allocFor(m.bytes)]; // may throw: deliver() fails the receive and sends FIN
    const data = p.views ? undefined : views[0];
    const done = (): void => p.req.resolve({ source: m.src, tag: m.tag, bytes: m.bytes, data });
    if (!this.shm.useCma(peer) || !m.iov) {
      this.pull(peer, m, views, done, p);
      return;
    }
    const local = ioListOfViews(views, m.bytes);
    let copied: Promise<number>;
    try {
      copied = transfer("read", peer.pid, local, m.iov);
    } catch (err) {
      copied = Promise.reject(err); // an io list the copy refuses outright: pull the bytes instead
    }
    copied.then(
      () => {
        this.counters.singleCopy.messages++;
        this.counters.singleCopy.bytes += m.bytes;
        this.counters.singleCopy.calls++;
        if (peer.state === "up") this.control(peer, { t: T.FIN, i: m.id });
        done();
        void views; // held until here: the kernel wrote into them
      },
      (err: CmaError) => {
        if (peer.state !== "up" || err.code === "ESRCH") {
          p.req.reject(this.lostError(m.src, `receive from rank ${m.src}`));
          return;
        }
        this.cmaRuntimeFailure(peer, err, this.pull(peer, m, views, done, p));
      },
    );
  }

  /** A single-copy read failed at run time; the message was pulled through `path` instead. */
  private cmaRuntimeFailure(peer: Peer, err: CmaError, path: string): void {
    if (err.code === "EPERM" || err.code === "ERR_CMA_DISABLED") {
      peer.canRead = false;
      peer.readFailure = err.message;
    }
    if (!this.cmaWarned) {
      this.cmaWarned = true;
      this.onCmaFallback?.(
        `onecopy: rank ${this.rank}: a single-copy read from rank ${peer.rank} failed (${err.code ?? err.name}); that message went by the ${path} instead, and so do later ones whose read fails. ${err.message}`,
      );
    }
  }

  /** Ask the sender to push the message to us; returns the path it will take. */
  private pull(peer: Peer, m: Incoming, views: Uint8Array[], finish: () => void, p: PostedRecv): string {
    this.pulls.set(`${m.src}:${m.id}`, {
      src: m.src,
      views,
      bytes: m.bytes,
      finish,
      fail: (e) => p.req.reject(e),
    });
    const viaShm = this.shm.requestShm(peer);
    this.control(peer, viaShm ? { t: T.PULL, i: m.id, s: 1 } : { t: T.PULL, i: m.id });
    return viaShm ? "shared-memory double copy" : "socket";
  }

  /** The pulled receive waiting for message `id` from `src`, taken out of the table. */
  private takePull(src: number, id: number): PendingPull | undefined {
    const key = `${src}:${id}`;
    const pl = this.pulls.get(key);
    if (pl) this.pulls.delete(key);
    return pl;
  }

  /** Stream a pulled message over the socket. */
  private sendData(peer: Peer, s: ShmSend): void {
    peer.send({ t: T.DATA, i: s.id, n: s.bytes }, s.views, (err) => s.done(err ?? undefined));
  }

  /**
   * Count a delivered message. Bytes are counted when they reach a receive, not when their
   * frame arrives: one socket read can carry the next operation's frames too, and counting
   * them early would charge them to the wrong operation.
   */
  private count(path: { messages: number; bytes: number }, bytes: number): void {
    path.messages++;
    path.bytes += bytes;
  }

  private control(peer: Peer, h: Header): void {
    this.counters.control.messages++;
    peer.send(h);
  }

  // ---- frames from a peer ---------------------------------------------------------------

  /** Handle one data-plane frame from `peer`; returns where its payload goes. */
  onFrame(peer: Peer, h: Header): PayloadSink | null {
    switch (h.t) {
      case T.EAGER:
        return this.onEager(peer, h);
      case T.RTS:
        this.arrive({ kind: "rts", src: peer.rank, ctx: h.c!, tag: h.g!, bytes: h.n!, id: h.i!, iov: h.v });
        return null; // an RTS names the message size but carries no payload
      case T.FIN: {
        const s = this.sends.get(h.i!);
        if (s) {
          this.sends.delete(h.i!);
          s.req.resolve();
        }
        return null;
      }
      case T.PULL: {
        const id = h.i!;
        const s = this.sends.get(id);
        if (s) {
          // Held in `sends` until the bytes are out, so drainSends and peerGone see it.
          const done = (err?: Error) => {
            this.sends.delete(id);
            if (err) s.req.reject(this.lostError(peer.rank, `send to rank ${peer.rank}`));
            else s.req.resolve();
          };
          const job: ShmSend = { id, views: s.views, bytes: s.bytes, done };
          if (h.s === 1) this.shm.send(peer, job);
          else this.sendData(peer, job);
        }
        return null;
      }
      case T.SHM:
        this.shm.onFrame(peer, h);
        return null;
      case T.DATA:
        return this.onData(peer, h);
      case T.BYE:
        this.peerGone(peer, "left");
        return null;
      default:
        throw new Error(`unknown frame type ${h.t} from rank ${peer.rank}`);
    }
  }

  private onEager(peer: Peer, h: Header): PayloadSink {
    const n = h.n!;
    const m: Incoming = { kind: "eager", src: peer.rank, ctx: h.c!, tag: h.g!, bytes: n };
    const p = this.q(m.ctx).posted.take(m.src, m.tag);
    if (!p) {
      // Unexpected: gather the payload, then match again (a receive may be posted meanwhile).
      let data: Uint8Array;
      try {
        data = new Uint8Array(n);
      } catch (err) {
        // Queued all the same, so that the receive that matches it fails instead of waiting.
        m.error = this.noMemoryError(m, err);
        this.arrive(m);
        return DISCARD;
      }
      let at = 0;
      return {
        write: (c) => {
          data.set(c, at);
          at += c.byteLength;
        },
        end: () => {
          m.data = data;
          this.arrive(m);
        },
      };
    }
    if (p.views && n > p.capacity) {
      p.req.reject(this.truncateError(m, p.capacity));
      return DISCARD;
    }
    let views: Uint8Array[];
    try {
      views = p.views ?? [new Uint8Array(n)];
    } catch (err) {
      p.req.reject(this.noMemoryError(m, err));
      return DISCARD;
    }
    return this.streamInto(peer, views, p, () => {
      this.count(this.counters.eager, n);
      p.req.resolve({ source: m.src, tag: m.tag, bytes: n, data: p.views ? undefined : views[0] });
    });
  }

  private onData(peer: Peer, h: Header): PayloadSink {
    const key = `${peer.rank}:${h.i}`;
    const pl = this.pulls.get(key);
    if (!pl) return DISCARD;
    this.pulls.delete(key);
    return this.streamInto(peer, pl.views, { req: { reject: pl.fail } }, () => {
      this.count(this.counters.fallback, h.n!);
      pl.finish();
    });
  }

  /** A sink writing a payload into `views`; if the peer is lost midway, `p` is rejected. */
  private streamInto(peer: Peer, views: Uint8Array[], p: { req: { reject(e: Error): void } }, finish: () => void): PayloadSink {
    const w = new ViewWriter(views);
    peer.streaming = { fail: (e) => p.req.reject(e) };
    return {
      write: (c) => w.write(c),
      end: () => {
        peer.streaming = null;
        finish();
      },
    };
  }

  // ---- unexpected-data backpressure -----------------------------------------------------

  private holdUnexpected(m: Incoming): void {
    this.unexpectedBytes += unexpectedCost(m);
    if (this.unexpectedBytes > this.tunables.unexpectedLimit) {
      const peer = this.peers[m.src];
      if (peer && !peer.paused && peer.state === "up") {
        peer.paused = true;
        peer.socket.pause();
      }
    }
  }

  private releaseUnexpected(m: Incoming): void {
    this.unexpectedBytes -= unexpectedCost(m);
    if (this.unexpectedBytes <= this.tunables.unexpectedLimit / 2) {
      for (const peer of this.peers) {
        if (peer?.paused) {
          peer.paused = false;
          peer.socket.resume();
        }
      }
    }
  }

  // ---- peer loss ------------------------------------------------------------------------

  /**
   * `peer` left gracefully (BYE) or was lost (connection dropped without BYE). Every pending
   * operation that needs it fails now with ERR_PEER_LOST instead of waiting forever.
   */
  peerGone(peer: Peer, how: "left" | "lost"): void {
    if (peer.state === "lost" || peer.state === "left") return;
    peer.state = how;
    const r = peer.rank;
    const err = (what: string) => this.lostError(r, what);
    if (peer.streaming) {
      peer.streaming.fail(err(`receive from rank ${r}`));
      peer.streaming = null;
    }
    this.shm.peerGone(peer, err(`receive from rank ${r}`));
    for (const [id, s] of this.sends) {
      if (s.peer === peer) {
        this.sends.delete(id);
        s.req.reject(err(`send to rank ${r}`));
      }
    }
    const writes = this.writing.get(peer);
    if (writes) {
      this.writing.delete(peer);
      for (const req of writes) req.reject(err(`send to rank ${r}`));
    }
    for (const [key, pl] of this.pulls) {
      if (pl.src === r) {
        this.pulls.delete(key);
        pl.fail(err(`receive from rank ${r}`));
      }
    }
    for (const [ctx, q] of this.queues) {
      // Announced messages whose data lives in the gone process can never be copied.
      for (const m of q.unexpected.removeWhere((x) => x.kind === "rts", r)) this.releaseUnexpected(m);
      const dead = (src: number) => src === r || (how === "lost" && src === ANY_SOURCE && this.inGroup(ctx, r));
      for (const p of q.posted.removeWhere(dead)) {
        p.req.reject(err(`receive from ${p.src === ANY_SOURCE ? "any rank" : `rank ${r}`}`));
      }
      for (let i = 0; i < q.probes.length; i++) {
        const w = q.probes[i]!;
        if (dead(w.src)) {
          q.probes.splice(i--, 1);
          w.reject(err("probe"));
        }
      }
    }
  }

  // ---- shutdown -------------------------------------------------------------------------

  /** Reject what can no longer complete; used by close(). Messages nobody received are dropped. */
  failAllPending(): void {
    const e = this.closedError("pending operation");
    for (const q of this.queues.values()) {
      for (const p of q.posted.removeWhere(() => true)) p.req.reject(e);
      for (const w of q.probes.splice(0)) w.reject(e);
      for (const m of q.unexpected.removeWhere(() => true)) {
        this.releaseUnexpected(m);
        m.selfReq?.reject(this.closedError("send to self (never received)"));
      }
    }
    for (const pl of this.pulls.values()) pl.fail(e);
    this.pulls.clear();
  }

  /**
   * Settles when every send posted so far has completed or failed: rendezvous sends on FIN (or
   * peer loss), eager ones once the socket has taken all their bytes.
   */
  async drainSends(): Promise<void> {
    for (;;) {
      const reqs: Array<Request<void>> = [...this.sends.values()].map((s) => s.req);
      for (const w of this.writing.values()) reqs.push(...w);
      if (reqs.length === 0) return;
      await Promise.all(reqs.map((r) => r.wait().catch(() => {})));
    }
  }

  /** What drainSends still waits for, by peer, in words ("" when nothing). */
  describePendingSends(): string {
    const parts: string[] = [];
    for (const peer of this.peers) {
      if (!peer) continue;
      let large = 0;
      for (const s of this.sends.values()) if (s.peer === peer) large++;
      const small = this.writing.get(peer)?.size ?? 0;
      if (large + small === 0) continue;
      const what = [
        large ? `${large} large message${large > 1 ? "s" : ""} rank ${peer.rank} has not finished receiving` : "",
        small ? `${small} small message${small > 1 ? "s" : ""} rank ${peer.rank} has not read from the socket yet` : "",
      ].filter(Boolean);
      parts.push(`${large + small} send${large + small > 1 ? "s" : ""} to rank ${peer.rank} (${what.join(", ")})`);
    }
    return parts.join("; ");
  }

  dispose(): void {
    this.shm.dispose();
    clearInterval(this.keepAlive);
  }
}
