// Synchronous-mode sends (MPI_Ssend/MPI_Issend): complete only once the receiver has matched.
//
// A rendezvous send already behaves so: its request resolves on FIN (the receiver copied) or when
// the pulled bytes are out (the receiver matched and asked for them). So a synchronous send of an
// eager size goes through the rendezvous protocol too (an RTS instead of EAGER). RTS and EAGER
// frames of one pair share one socket and are matched in arrival order, so MPI's non-overtaking
// order between ssend and ordinary sends of one sender on one communicator holds, and receivers
// need not know which kind of send they match. A send to self is queued by reference (as a large one is) and completes when received.
import type { Engine } from "./engine.js";
import { selectMover } from "./path.js";
import type { Request } from "./request.js";

/** Send `views` to world rank `dest` on `ctx`; the request completes once a receive has matched it. */
export function issendWorld(engine: Engine, ctx: string, dest: number, tag: number, views: Uint8Array[], bytes: number): Request<void> {
  const link = engine.link(dest);
  const self = dest === engine.rank;
  if (bytes > engine.tunables.eagerLimit || engine.closed || (!self && (!link || link.state !== "up"))) {
    return engine.isend(ctx, dest, tag, views, bytes); // already synchronous, or fails as a send does
  }
  const req = engine.newRequest<void>();
  engine.counters.sent.messages++;
  engine.counters.sent.bytes += bytes;
  if (self) {
    // As a large send to self: the receive copies from our views, then completes us.
    engine.arrive({ kind: "self", src: engine.rank, ctx, tag, bytes, selfViews: views, selfReq: req });
    return req;
  }
  const mover = selectMover({ transport: engine.transport, eagerLimit: engine.tunables.eagerLimit, receiverCanRead: engine.singleCopy(dest).canBeRead, shmUsable: true });
  engine.rendezvous.send(link!, ctx, tag, views, bytes, req, mover === "single-copy");
  return req;
}
