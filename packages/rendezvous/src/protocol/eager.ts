// Eager: a message up to the eager limit travels inline, its payload right behind its EAGER
// header, and the sender's request completes once the socket has taken the bytes. The receiver
// streams the payload straight into a posted receive, or gathers it for the unexpected queue.
import { T, type Eager } from "../frames.js";
import type { PayloadSink } from "../frame-reader.js";
import { ViewWriter } from "../buffers.js";
import type { PeerLink } from "../link.js";
import type { Incoming } from "../matching.js";
import type { Request } from "../request.js";
import { count, type ProtocolHost } from "./host.js";

const DISCARD: PayloadSink = { write() {}, end() {} };

export class EagerProtocol {
  /** Sends whose bytes the socket has not taken yet, by link: close() waits for them, loss fails them. */
  private readonly writing = new Map<PeerLink, Set<Request<void>>>();

  constructor(private readonly host: ProtocolHost) {}

  send(link: PeerLink, ctx: string, tag: number, views: readonly Uint8Array[], bytes: number, req: Request<void>): void {
    let w = this.writing.get(link);
    if (!w) this.writing.set(link, (w = new Set()));
    w.add(req);
    link.send({ t: T.EAGER, c: ctx, g: tag, n: bytes }, views, (err) => {
      w.delete(req);
      if (err) req.reject(this.host.errors.lost(link.rank, `send to rank ${link.rank}`, err));
      else req.resolve();
    });
  }

  /** An EAGER frame: where its payload goes. */
  onEager(link: PeerLink, f: Eager): PayloadSink {
    const host = this.host;
    const n = f.n;
    const m: Incoming = { kind: "eager", src: link.rank, ctx: f.c, tag: f.g, bytes: n };
    const lost = () => host.errors.lost(link.rank, `receive from rank ${link.rank}`);
    const p = host.takePosted(m.ctx, m.src, m.tag);
    if (!p) {
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
      p.req.reject(host.errors.truncate(m, p.capacity));
      return DISCARD;
    }
    let views: Uint8Array[];
    try {
      views = p.views ?? [new Uint8Array(n)];
    } catch (err) {
      p.req.reject(host.errors.noMemory(m, err));
      return DISCARD;
    }
    const w = new ViewWriter(views);
    return {
      write: (c) => w.write(c),
      end: () => {
        count(host.counters.eager, n);
        p.req.resolve({ source: m.src, tag: m.tag, bytes: n, data: p.views ? undefined : views[0] });
      },
      fail: () => p.req.reject(lost()),
    };
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
