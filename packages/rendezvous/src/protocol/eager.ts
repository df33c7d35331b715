// Eager: a message up to the eager limit travels inline, its payload right behind its EAGER
// header, and the sender's request completes once the socket has taken the bytes. The receiver
// streams the payload straight into a posted receive, or gathers it for the unexpected queue.
//
// The hot path allocates nothing of its own: a send that the fast path's ring takes at once
// completes there (one frame object serves every send: the encoders read it before send
// returns), and a payload for a posted receive goes through a reused sink.
import { ViewWriter } from "../buffers.js";
import { T, type Eager } from "../frames.js";
import type { PayloadSink } from "../frame-reader.js";
import type { PeerLink } from "../link.js";
import type { Incoming, PostedRecv } from "../matching.js";
import type { Request } from "../request.js";
import { count, type ProtocolHost } from "./host.js";

const DISCARD: PayloadSink = { write() {}, end() {} };

/** Sinks kept for reuse (a link streams one payload at a time; more only while several links deliver at once). */
const SPARE_SINKS = 16;

export class EagerProtocol {
  /** Sends whose bytes the socket has not taken yet, by link: close() waits for them, loss fails them. */
  private readonly writing = new Map<PeerLink, Set<Request<void>>>();
  private readonly frame: Eager = { t: T.EAGER, c: "", g: 0, n: 0 };
  private readonly spare: PostedSink[] = [];

  constructor(private readonly host: ProtocolHost) {}

  send(link: PeerLink, ctx: string, tag: number, views: readonly Uint8Array[], bytes: number, req: Request<void>): void {
    const f = this.frame;
    f.c = ctx;
    f.g = tag;
    f.n = bytes;
    // Into the ring at once: nothing to track, no callback.
    if (link.trySend(f, views, bytes)) {
      req.resolve();
      return;
    }
    let w = this.writing.get(link);
    if (!w) this.writing.set(link, (w = new Set()));
    w.add(req);
    link.send(f, views, (err) => {
      w.delete(req);
      if (err) req.reject(this.host.errors.lost(link.rank, `send to rank ${link.rank}`, err));
      else req.resolve();
    });
  }

  /** An EAGER frame: where its payload goes. */
  onEager(link: PeerLink, f: Eager): PayloadSink {
    const host = this.host;
    const n = f.n;
    const src = link.rank;
    const p = host.takePosted(f.c, src, f.g);
    if (!p) {
      const m: Incoming = { kind: "eager", src, ctx: f.c, tag: f.g, bytes: n };
      // Unexpected: gather the payload, then match again (a receive may be posted meanwhile).
      let data: Uint8Array;
      try {
        data = new Uint8Array(n);
      } catch (err) {
        // Queued all the same, so that the receive that matches it fails instead of waiting.
        m.error = host.errors.noMemory(m, err);
        host.arrive(m);
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
          host.arrive(m);
        },
      };
    }
    if (p.views && n > p.capacity) {
      p.req.reject(host.errors.truncate({ src, tag: f.g, bytes: n }, p.capacity));
      return DISCARD;
    }
    let views: Uint8Array[];
    try {
      views = p.views ?? [new Uint8Array(n)];
    } catch (err) {
      p.req.reject(host.errors.noMemory({ src, tag: f.g, bytes: n }, err));
      return DISCARD;
    }
    return (this.spare.pop() ?? new PostedSink(this)).start(src, f.g, p, views, n);
  }

  /** @internal A posted receive's payload is complete. */
  delivered(p: PostedRecv, views: readonly Uint8Array[], src: number, tag: number, n: number): void {
    count(this.host.counters.eager, n);
    p.req.resolve({ source: src, tag, bytes: n, data: p.views ? undefined : views[0] });
  }

  /** @internal The link broke before a posted receive's payload was complete. */
  lostDuring(p: PostedRecv, src: number): void {
    p.req.reject(this.host.errors.lost(src, `receive from rank ${src}`));
  }

  /** @internal A sink the frame reader is done with (it drops its reference before end/fail). */
  release(s: PostedSink): void {
    if (this.spare.length < SPARE_SINKS) this.spare.push(s);
  }

  /** Sends to `link`'s rank not yet taken by the socket. */
  pendingTo(link: PeerLink): ReadonlySet<Request<void>> {
    return this.writing.get(link) ?? new Set();
  }

  /** Every send not yet taken by a socket. */
  *pending(): Iterable<Request<void>> {
    for (const w of this.writing.values()) yield* w;
  }

  /**
   * `link`'s rank was lost: its unwritten sends fail. One that left (BYE) may still have read
   * them all (its BYE can be read before our write callbacks run): they settle by their callbacks.
   */
  peerGone(link: PeerLink, err: (what: string) => Error, how: "left" | "lost"): void {
    if (how === "left") return;
    const w = this.writing.get(link);
    if (!w) return;
    this.writing.delete(link);
    for (const req of w) req.reject(err(`send to rank ${link.rank}`));
  }
}

const NO_VIEWS: readonly Uint8Array[] = [];

/** Streams an EAGER payload into a posted receive's views (one reused ViewWriter), then completes it. */
class PostedSink implements PayloadSink {
  private p: PostedRecv | null = null;
  private views: readonly Uint8Array[] = NO_VIEWS;
  private src = 0;
  private tag = 0;
  private n = 0;
  private readonly out = new ViewWriter(NO_VIEWS);

  constructor(private readonly owner: EagerProtocol) {}

  start(src: number, tag: number, p: PostedRecv, views: Uint8Array[], n: number): this {
    this.p = p;
    this.views = views;
    this.src = src;
    this.tag = tag;
    this.n = n;
    this.out.reset(views);
    return this;
  }

  write(chunk: Uint8Array): void {
    this.out.write(chunk);
  }

  writeRange(buf: Uint8Array, start: number, end: number): void {
    this.out.writeRange(buf, start, end);
  }

  end(): void {
    const { p, views, src, tag, n } = this;
    this.done();
    this.owner.delivered(p!, views, src, tag, n);
  }

  fail(): void {
    const { p, src } = this;
    this.done();
    this.owner.lostDuring(p!, src);
  }

  private done(): void {
    this.p = null;
    this.views = NO_VIEWS;
    this.out.reset(NO_VIEWS); // the finished receive's views are not kept alive here
    this.owner.release(this);
  }
}
