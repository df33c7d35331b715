// Messages whose bytes are already in this process when a receive matches them: an eager
// message that arrived before its receive (its payload gathered), and a send to self. A self-send
// up to the eager limit is buffered at once, like an eager send; a larger one keeps the sender's
// views until the receive copies from them, and its request completes then.
import { allocMessage, copyViews } from "../buffers.js";
import type { Incoming, PostedRecv } from "../matching.js";
import type { Request } from "../request.js";
import { count, type ProtocolHost } from "./host.js";

/** Send `views` to this rank itself (a synchronous send completes only when received). */
export function sendToSelf(host: ProtocolHost, ctx: string, tag: number, views: Uint8Array[], bytes: number, req: Request<void>, synchronous = false): void {
  const m: Incoming = { kind: "self", src: host.rank, ctx, tag, bytes };
  if (bytes <= host.tunables.eagerLimit && !synchronous) {
    const data = new Uint8Array(bytes);
    copyViews(views, [data]);
    m.kind = "eager";
    m.data = data;
    host.arrive(m);
    req.resolve();
    return;
  }
  m.selfViews = views;
  m.selfReq = req;
  host.arrive(m);
}

/** Serve receive `p` with buffered message `m` (an eager payload, or a self-send's views). May throw (allocation). */
export function deliverBuffered(host: ProtocolHost, m: Incoming, p: PostedRecv): void {
  if (p.views && m.bytes > p.capacity) {
    p.req.reject(host.errors.truncate(m, p.capacity));
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
  else copyViews(src, [(data = allocMessage(m.bytes))]);
  count(m.src === host.rank ? host.counters.self : host.counters.eager, m.bytes);
  m.selfReq?.resolve();
  p.req.resolve({ source: m.src, tag: m.tag, bytes: m.bytes, data });
}
