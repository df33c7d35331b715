// Every public collective runs under its transport's collective(): on a communicator that has
// lost a member it fails at once with ERR_PEER_LOST instead of taking part (its peers could
// wait for it forever), and a collective that fails because a peer was lost breaks the
// communicator's collectives for good (ULFM-like: no collective can complete after a loss).
import type { CollectiveTransport } from "@onecopy/rendezvous";

/** `f` run under `t.collective()`. */
export function guarded<A extends unknown[]>(f: (t: CollectiveTransport, ...args: A) => Promise<void>): (t: CollectiveTransport, ...args: A) => Promise<void> {
  return (t, ...args) => t.collective(() => f(t, ...args));
}
