// Taking a receive or probe back out of matching before it matched (timeouts, aborts and
// req.cancel()): the message it would have matched stays for the next receive.
import type { Engine } from "./engine.js";
import type { Incoming, RecvResult } from "./matching.js";
import type { Request } from "./request.js";

/** Make posted receive `req` (as returned by engine.irecv with these ctx/src/tag) withdrawable. */
export function withdrawable(engine: Engine, ctx: string, src: number, tag: number, req: Request<RecvResult>): Request<RecvResult> {
  if (req.done) return req;
  req.withdraw = (err) => {
    if (!engine.contexts.q(ctx).posted.remove({ src, tag, req })) return false;
    req.reject(err);
    return true;
  };
  return req;
}

/** As engine.probe (wait until a matching message is queued on `ctx`), but withdrawable. */
export function withdrawableProbe(engine: Engine, ctx: string, src: number, tag: number): Request<Incoming> {
  const req = engine.probe(ctx, src, tag);
  if (req.done) return req;
  // engine.probe has just queued its waiter last (contexts.wait): that is the one to take out.
  const probes = engine.contexts.q(ctx).probes;
  const w = probes[probes.length - 1]!;
  req.withdraw = (err) => {
    const i = probes.indexOf(w);
    if (i < 0) return false;
    probes.splice(i, 1);
    req.reject(err);
    return true;
  };
  return req;
}
