// What the protocols (eager, rendezvous) and the movers need of the engine: the peers, matching,
// counting and the wording of errors. The engine implements it; nothing here owns state.
import type { TransportName } from "@onecopy/cma";
import type { DataFrame } from "../frames.js";
import type { PeerLink } from "../link.js";
import type { Incoming, PostedRecv } from "../matching.js";
import type { MessageErrors } from "../message-errors.js";
import type { SingleCopyEndpoint } from "../single-copy.js";
import type { TransportStats } from "../stats.js";
import type { Tunables } from "../tunables.js";

export interface ProtocolHost {
  readonly rank: number;
  readonly tunables: Tunables;
  readonly transport: TransportName;
  readonly counters: TransportStats;
  readonly errors: MessageErrors;
  /** The link to world rank `rank` (null for this rank). */
  link(rank: number): PeerLink | null;
  /** World rank `rank` is on another node (only MPI connects us). */
  isRemote(rank: number): boolean;
  /** The single-copy endpoint of world rank `rank`. */
  singleCopy(rank: number): SingleCopyEndpoint;
  /** A complete message (or an RTS) is here: match it or queue it as unexpected. */
  arrive(m: Incoming): void;
  /** The earliest posted receive on `ctx` that a message from `src` with `tag` matches, taken out of its queue. */
  takePosted(ctx: string, src: number, tag: number): PostedRecv | undefined;
  /** Send a control frame (no payload), counted as one. */
  control(link: PeerLink, f: DataFrame): void;
  /** Print a warning (once-per-job policies are the caller's). */
  warn(message: string): void;
}

/**
 * Count a delivered message. Bytes are counted when they reach a receive, not when their frame
 * arrives: one socket read can carry the next operation's frames too, and counting them early
 * would charge them to the wrong operation.
 */
export function count(path: { messages: number; bytes: number }, bytes: number): void {
  path.messages++;
  path.bytes += bytes;
}
