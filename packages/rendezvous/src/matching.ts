// MPI matching: posted receives and unexpected messages per communicator context, matched on
// (source, tag) with wildcards, in O(1) per message whatever the depth of the queues.
//
// Unexpected messages sit in four arrival-ordered lanes at once (all, by source, by tag, by
// source and tag), so every receive pattern finds its earliest match at the head of one lane,
// and taking it unlinks it from all four. Posted receives sit in one FIFO per pattern (wildcards
// included) with a posting number: an arriving message looks at the heads of the (at most four)
// patterns it matches and takes the earliest posted. Both give MPI's non-overtaking order.
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
  /** rts: the sender already posted the bytes through MPI (Rts.m). */
  mpiPosted?: boolean;
  /** self: the sender's views and request (completed when the receive copies). */
  selfViews?: Uint8Array[];
  selfReq?: Request<void>;
  /** Why this message cannot be delivered (its memory could not be allocated); a receive that matches it fails with this. */
  error?: Error;
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
  /** Posting order within the context (set when it is posted). */
  seq?: number;
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

// ---- unexpected messages: one node in four lanes --------------------------------------------

const ALL = 0;
const BY_SRC = 1;
const BY_TAG = 2;
const BY_PAIR = 3;

class Node {
  readonly prev: Array<Node | null> = [null, null, null, null];
  readonly next: Array<Node | null> = [null, null, null, null];
  constructor(readonly m: Incoming) {}
}

/** One arrival-ordered doubly linked list through the nodes' links number `k`. */
class Lane {
  head: Node | null = null;
  tail: Node | null = null;
  size = 0;
  constructor(private readonly k: number) {}

  push(n: Node): void {
    const k = this.k;
    n.prev[k] = this.tail;
    n.next[k] = null;
    if (this.tail) this.tail.next[k] = n;
    else this.head = n;
    this.tail = n;
    this.size++;
  }

  unlink(n: Node): void {
    const k = this.k;
    const p = n.prev[k]!;
    const q = n.next[k]!;
    if (p) p.next[k] = q;
    else this.head = q;
    if (q) q.prev[k] = p;
    else this.tail = p;
    n.prev[k] = n.next[k] = null;
    this.size--;
  }
}

function laneOf<K>(map: Map<K, Lane>, key: K, k: number): Lane {
  let l = map.get(key);
  if (!l) map.set(key, (l = new Lane(k)));
  return l;
}

/** Unexpected messages of one context, in arrival order, findable by any receive pattern in O(1). */
export class UnexpectedQueue {
  private readonly all = new Lane(ALL);
  private readonly bySrc = new Map<number, Lane>();
  private readonly byTag = new Map<number, Lane>();
  private readonly byPair = new Map<number, Map<number, Lane>>();

  get size(): number {
    return this.all.size;
  }

  push(m: Incoming): void {
    const n = new Node(m);
    this.all.push(n);
    laneOf(this.bySrc, m.src, BY_SRC).push(n);
    laneOf(this.byTag, m.tag, BY_TAG).push(n);
    let tags = this.byPair.get(m.src);
    if (!tags) this.byPair.set(m.src, (tags = new Map()));
    laneOf(tags, m.tag, BY_PAIR).push(n);
  }

  /** The lane a receive for (src, tag) takes its messages from, in arrival order. */
  private laneFor(src: number, tag: number): Lane | undefined {
    if (src === ANY_SOURCE) return tag === ANY_TAG ? this.all : this.byTag.get(tag);
    return tag === ANY_TAG ? this.bySrc.get(src) : this.byPair.get(src)?.get(tag);
  }

  /** The earliest-arrived message a receive for (src, tag) matches, left queued. */
  peek(src: number, tag: number): Incoming | undefined {
    return this.laneFor(src, tag)?.head?.m;
  }

  /** Remove and return the earliest-arrived message a receive for (src, tag) matches. */
  take(src: number, tag: number): Incoming | undefined {
    const n = this.laneFor(src, tag)?.head;
    if (!n) return undefined;
    this.remove(n);
    return n.m;
  }

  private remove(n: Node): void {
    const { src, tag } = n.m;
    this.all.unlink(n);
    const s = this.bySrc.get(src)!;
    s.unlink(n);
    if (s.size === 0) this.bySrc.delete(src);
    const t = this.byTag.get(tag)!;
    t.unlink(n);
    if (t.size === 0) this.byTag.delete(tag);
    const tags = this.byPair.get(src)!;
    const pr = tags.get(tag)!;
    pr.unlink(n);
    if (pr.size === 0) {
      tags.delete(tag);
      if (tags.size === 0) this.byPair.delete(src);
    }
  }

  /** Remove and return, in arrival order, the messages from `src` (every source if omitted) that `which` selects. */
  removeWhere(which: (m: Incoming) => boolean, src?: number): Incoming[] {
    const out: Incoming[] = [];
    const lane = src === undefined ? this.all : this.bySrc.get(src);
    const k = src === undefined ? ALL : BY_SRC;
    for (let n = lane?.head ?? null; n; ) {
      const next = n.next[k]!;
      if (which(n.m)) {
        this.remove(n);
        out.push(n.m);
      }
      n = next;
    }
    return out;
  }
}

// ---- posted receives: one FIFO per pattern ----------------------------------------------------

/** A FIFO array with O(1) amortized shift; keeps its storage when it empties (no allocation per push in steady use). */
class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  private tail = 0;

  get size(): number {
    return this.tail - this.head;
  }

  push(x: T): void {
    this.items[this.tail++] = x;
  }

  peek(): T | undefined {
    return this.head < this.tail ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.tail) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined; // no reference kept to what left
    if (this.head === this.tail) this.head = this.tail = 0;
    else if (this.head >= 1024 && this.head * 2 >= this.tail) {
      this.items.copyWithin(0, this.head, this.tail);
      this.items.fill(undefined, this.tail - this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    return x;
  }

  /** Remove the first item `which` selects (O(n)); whether one was. */
  remove(which: (x: T) => boolean): boolean {
    for (let i = this.head; i < this.tail; i++) {
      if (!which(this.items[i]!)) continue;
      if (i === this.head) this.shift();
      else {
        this.items.copyWithin(i, i + 1, this.tail);
        this.items[--this.tail] = undefined;
      }
      return true;
    }
    return false;
  }

  toArray(): T[] {
    return this.items.slice(this.head, this.tail) as T[];
  }

  clear(): void {
    this.items = [];
    this.head = this.tail = 0;
  }
}

/** Empty FIFOs kept for their pattern (a ping-pong re-posts the same one at once) before they are swept out. */
const KEEP_EMPTY = 64;

/** Posted receives of one context; an arriving message takes the earliest-posted receive it matches. */
export class PostedQueue {
  /** By source pattern, then tag pattern (ANY_SOURCE / ANY_TAG are patterns too). Empty FIFOs stay a while: see KEEP_EMPTY. */
  private readonly buckets = new Map<number, Map<number, Fifo<PostedRecv>>>();
  private seq = 0;
  private count = 0;
  private empty = 0;

  get size(): number {
    return this.count;
  }

  push(p: PostedRecv): void {
    let tags = this.buckets.get(p.src);
    if (!tags) this.buckets.set(p.src, (tags = new Map()));
    let f = tags.get(p.tag);
    if (!f) tags.set(p.tag, (f = new Fifo()));
    else if (f.size === 0) this.empty--;
    p.seq = this.seq++;
    f.push(p);
    this.count++;
  }

  private head(src: number, tag: number): Fifo<PostedRecv> | undefined {
    const f = this.buckets.get(src)?.get(tag);
    return f !== undefined && f.size > 0 ? f : undefined;
  }

  /** Remove and return the earliest-posted receive that a message from `src` with `tag` matches. */
  take(src: number, tag: number): PostedRecv | undefined {
    if (this.count === 0) return undefined;
    let best = this.head(src, tag);
    let f = this.head(src, ANY_TAG);
    if (f && (!best || f.peek()!.seq! < best.peek()!.seq!)) best = f;
    f = this.head(ANY_SOURCE, tag);
    if (f && (!best || f.peek()!.seq! < best.peek()!.seq!)) best = f;
    f = this.head(ANY_SOURCE, ANY_TAG);
    if (f && (!best || f.peek()!.seq! < best.peek()!.seq!)) best = f;
    if (!best) return undefined;
    const p = best.shift()!;
    this.count--;
    if (best.size === 0) this.emptied();
    return p;
  }

  /** A FIFO became empty: keep it, unless too many are kept (then drop every empty one). */
  private emptied(): void {
    if (++this.empty <= KEEP_EMPTY) return;
    for (const [src, tags] of this.buckets) {
      for (const [tag, f] of tags) if (f.size === 0) tags.delete(tag);
      if (tags.size === 0) this.buckets.delete(src);
    }
    this.empty = 0;
  }

  /**
   * Withdraw posted receive `p` (found by its request, in the FIFO of its own pattern: O(n) in
   * the receives posted with that same source and tag). False if it is no longer posted.
   */
  remove(p: Pick<PostedRecv, "src" | "tag" | "req">): boolean {
    const f = this.buckets.get(p.src)?.get(p.tag);
    if (!f || !f.remove((x) => x.req === p.req)) return false;
    this.count--;
    if (f.size === 0) this.emptied();
    return true;
  }

  /** Remove and return, in posting order, the receives whose source pattern `which` selects. */
  removeWhere(which: (src: number) => boolean): PostedRecv[] {
    const out: PostedRecv[] = [];
    for (const [src, tags] of this.buckets) {
      if (!which(src)) continue;
      for (const f of tags.values()) {
        if (f.size === 0) this.empty--;
        out.push(...f.toArray());
        f.clear();
      }
      this.buckets.delete(src);
    }
    this.count -= out.length;
    return out.sort((a, b) => a.seq! - b.seq!);
  }
}

/** The queues of one communicator context. */
export class ContextQueues {
  readonly posted = new PostedQueue();
  readonly unexpected = new UnexpectedQueue();
  readonly probes: ProbeWaiter[] = [];
}
