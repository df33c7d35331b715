// Collectives under `{ signal, timeout }`: a collective that gives up cannot be withdrawn (its
// peers may have moved on, or may still copy into its buffers), so it breaks its communicator's
// collectives (ERR_COMM_BROKEN) and its buffers stay reachable; point-to-point is unaffected.
import type { CollectiveTransport } from "./transport.js";
import { checkWaitOptions, within, type WaitOptions } from "./wait-options.js";

/** Run collective `what` (`run` starts it) bounded by `opts`; `keep` is what it exposes to peers. */
export function boundedCollective<T>(t: CollectiveTransport, what: string, run: () => Promise<T>, opts: WaitOptions | undefined, keep: unknown): Promise<T> {
  const o = opts === undefined ? undefined : checkWaitOptions(opts, what);
  if (!o) return run();
  return within(run(), o, what, (err) => {
    t.abandon(err, keep);
    return true;
  }, t.rank);
}
