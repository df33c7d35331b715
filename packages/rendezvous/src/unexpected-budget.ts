// The memory budget of unexpected messages (ONECOPY_UNEXPECTED_LIMIT): past it, the rank stops
// reading from the peer whose message went over (backpressure), and reads again once receives
// have drained the queue to half the budget.
import type { PeerLink } from "./link.js";
import type { Incoming } from "./matching.js";

/**
 * What one queued unexpected message costs beyond its payload bytes, counted against the
 * budget: the message's record, its node in the matching queue and the typed array holding its
 * payload (about 210 bytes alone for a tiny one). Measured on Node 20 x64 with 200 000 queued
 * 8-byte eager messages: 520 bytes of heap (660 of RSS) per message.
 */
export const UNEXPECTED_OVERHEAD = 512;

/** Memory an unexpected message holds while queued. */
function costOf(m: Incoming): number {
  return UNEXPECTED_OVERHEAD + (m.data?.byteLength ?? 0) + (m.iov ? m.iov.length * 8 : 0);
}

export class UnexpectedBudget {
  private held = 0;

  constructor(
    private readonly limit: number,
    private readonly links: ReadonlyArray<PeerLink | null>,
  ) {}

  /** `m` was queued as unexpected. */
  hold(m: Incoming): void {
    this.held += costOf(m);
    if (this.held > this.limit) this.links[m.src]?.pause();
  }

  /** `m` left the queue (matched, or dropped). */
  release(m: Incoming): void {
    this.held -= costOf(m);
    if (this.held <= this.limit / 2) for (const l of this.links) l?.resume();
  }
}
