// Values on the wire (sendObject/recvObject): the skeleton travels as one message on the
// communicator's context, and typed arrays above the eager limit inside it as one gathered
// message of their own on `<ctx>|o`, issued right after it, so that they move with a single copy
// like any large buffer. The receiver takes the body next from the same sender and tag.
import { allocMessage, viewsOf } from "./buffers.js";
import type { Engine } from "./engine.js";
import { ErrorCode, MessagingError } from "./errors.js";
import type { RecvResult } from "./matching.js";
import { announcesBlobs, decodeObject, encodeObject } from "./object-codec.js";
import { Request } from "./request.js";

/** Send `value` to world rank `dest`; the request completes when the skeleton and every large array may be reused. */
export function sendValue(engine: Engine, ctx: string, dest: number, tag: number, value: unknown): Request<void> {
  const { bytes, blobs } = encodeObject(value, engine.tunables.eagerLimit + 1);
  const head = engine.isend(ctx, dest, tag, [bytes], bytes.byteLength);
  if (blobs.length === 0) return head;
  const { views, bytes: n } = viewsOf(blobs, "sendObject");
  const body = engine.isend(`${ctx}|o`, dest, tag, views, n);
  const both = new Request<void>();
  Promise.all([head.wait(), body.wait()]).then(
    () => both.resolve(),
    (e: Error) => both.reject(e),
  );
  return both;
}

/** Decode the skeleton `r` received on `ctx` and take its large arrays; `who` names the sender in errors. */
export async function receiveValue(engine: Engine, ctx: string, r: RecvResult, who: { rank: number; peer: number }): Promise<unknown> {
  let decoded: ReturnType<typeof decodeObject>;
  try {
    decoded = decodeObject(r.data!, (n) => allocMessage(n).buffer as ArrayBuffer);
  } catch (err) {
    // The typed arrays it announces cannot be allocated (or the skeleton is not one): refuse
    // the body too, with a receive of no room (ERR_TRUNCATE, FIN), so that the sender finishes.
    if (announcesBlobs(r.data!)) await engine.irecv(`${ctx}|o`, r.source, r.tag, [], 0).wait().catch(() => {});
    throw new MessagingError(
      // An impossible size: the allocation itself (RangeError) or its argument check refused it.
      err instanceof RangeError || (err as { code?: string }).code === ErrorCode.INVALID_ARG ? ErrorCode.NO_MEMORY : ErrorCode.PROTOCOL,
      `recvObject: the object from rank ${who.peer} (tag ${r.tag}) cannot be decoded: ${(err as Error).message}; it was consumed`,
      { rank: who.rank, peer: who.peer, tag: r.tag, cause: err },
    );
  }
  const { value, blobs } = decoded;
  if (blobs.length) {
    const { views, bytes } = viewsOf(blobs, "recvObject");
    await engine.irecv(`${ctx}|o`, r.source, r.tag, views, bytes).wait();
  }
  return value;
}
