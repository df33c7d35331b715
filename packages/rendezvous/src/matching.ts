// MPI matching: posted receives and unexpected messages per communicator context, each in
// order, matched on (source, tag) with wildcards. Arrival order per source is preserved, so
// messages between one pair on one communicator never overtake each other.
import { ANY_SOURCE, ANY_TAG } from "./constants.js";
import type { Request } from "./request.js";

/** A message that has arrived (or, for self-sends, been posted) and waits for a receive. */
export interface Incoming {
  kind: "eager" | "rts" | "self";
  src: number; // world rank
  ctx: string;
  tag: number;
  bytes: number;
  /** eager: the complete payload. */
  data?: Uint8Array;
  /** rts: the sender's message id and, when we may read it, its io list. */
  id?: number;
  iov?: number[];
  /** self: the sender's views and request (completed when the receive copies). */
  selfViews?: Uint8Array[];
  selfReq?: Request<void>;
}

/** What a completed receive produced (the communicator turns it into a public Status). */
export interface RecvResult {
  source: number; // world rank
  tag: number;
  bytes: number;
  /** Set for receives that allocate on match (objects, probe-then-receive). */
  data?: Uint8Array;
}

/** A posted receive. `views === null` means "allocate exactly the message size on match". */
export interface PostedRecv {
  ctx: string;
  src: number;
  tag: number;
  views: Uint8Array[] | null;
  capacity: number;
  req: Request<RecvResult>;
}

export interface ProbeWaiter {
  ctx: string;
  src: number;
  tag: number;
  resolve(m: Incoming): void;
  reject(err: Error): void;
}

export function matches(wantSrc: number, wantTag: number, src: number, tag: number): boolean {
  return (wantSrc === ANY_SOURCE || wantSrc === src) && (wantTag === ANY_TAG || wantTag === tag);
}

/** The queues of one communicator context. */
export class ContextQueues {
  readonly posted: PostedRecv[] = [];
  readonly unexpected: Incoming[] = [];
  readonly probes: ProbeWaiter[] = [];

  /** Remove and return the first posted receive that `m` matches. */
  takePosted(src: number, tag: number): PostedRecv | undefined {
    const list = this.posted;
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      if (matches(p.src, p.tag, src, tag)) {
        if (i === 0) list.shift();
        else list.splice(i, 1);
        return p;
      }
    }
    return undefined;
  }

  /** Index of the first unexpected message a (src, tag) receive matches, or -1. */
  findUnexpected(src: number, tag: number): number {
    const list = this.unexpected;
    for (let i = 0; i < list.length; i++) {
      const m = list[i]!;
      if (matches(src, tag, m.src, m.tag)) return i;
    }
    return -1;
  }

  takeUnexpected(i: number): Incoming {
    return i === 0 ? this.unexpected.shift()! : this.unexpected.splice(i, 1)[0]!;
  }

  get idle(): boolean {
    return this.posted.length === 0 && this.unexpected.length === 0 && this.probes.length === 0;
  }
}
