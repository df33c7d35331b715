// The calls this rank is blocked in, for the launcher's hang report. A public blocking call
// registers one small record when it actually has to wait (not when its request was already
// done) and drops it when it settles (userFacing's `finally`). No syscall, no timer: the launcher
// asks (a query byte on the lifeline) and `hangAnswer` reads the registry then.
import type { Engine } from "./engine.js";

/** The communicator side of a record: its matching context and its members' world ranks. */
export interface BlockedComm {
  readonly ctx: string;
  readonly group: readonly number[];
}

/** No peer: a collective, or a wait on a request whose peer is not known here. */
export const NO_PEER = -3;

/** The communicator of a record whose communicator is not known (an awaited request). */
export const NO_COMM: BlockedComm = { ctx: "", group: [] };

/**
 * One call this rank is blocked in. The records form an intrusive doubly-linked list: adding and
 * removing one costs a few stores (a Set costs several times more on the ping-pong hot path).
 */
export class BlockedCall {
  /** Date.now() when it started to wait. */
  readonly since = Date.now();
  /** @internal */ prev: BlockedCall | null = null;
  /** @internal */ next: BlockedCall | null = null;
  /** @internal */ listed = true;
  constructor(
    /** recv, send, ssend, probe, sendrecv, sendObject, recvObject, "await …", or a collective's name. */
    readonly call: string,
    readonly comm: BlockedComm,
    /** Communicator rank of the peer, ANY_SOURCE, or NO_PEER. */
    readonly peer: number,
    readonly tag: number,
    /** For a collective: its number among this communicator's blocking collectives (1, 2, …); else 0. */
    readonly seq: number,
    /** An awaited request: `call` is read as "await <its label>" when asked (the label is built then, not per call). */
    readonly request: { readonly label: string | null } | null = null,
  ) {}

  /** The call's name as reported. */
  get name(): string {
    const label = this.request?.label;
    return label ? `await ${label}` : this.call;
  }
}

let head: BlockedCall | null = null;
let settled = 0;
const collectiveCount = new WeakMap<BlockedComm, number>();

/** Register a blocked call; pass the record to `userFacing` (or {@link unblock}) to drop it when it settles. */
export function block(call: string, comm: BlockedComm, peer: number, tag: number, seq = 0, request: BlockedCall["request"] = null): BlockedCall {
  const rec = new BlockedCall(call, comm, peer, tag, seq, request);
  rec.next = head;
  if (head) head.prev = rec;
  head = rec;
  return rec;
}

/** The record's call has settled. */
export function unblock(rec: BlockedCall): void {
  if (!rec.listed) return;
  rec.listed = false;
  settled++;
  if (rec.prev) rec.prev.next = rec.next;
  else head = rec.next;
  if (rec.next) rec.next.prev = rec.prev;
  rec.prev = rec.next = null;
}

/** The number of the next blocking collective on `comm` (1, 2, …), in call order. */
export function nextCollective(comm: BlockedComm): number {
  const n = (collectiveCount.get(comm) ?? 0) + 1;
  collectiveCount.set(comm, n);
  return n;
}

/** A blocked call as the launcher reads it (one entry of {@link HangAnswer}.blocked). */
export interface BlockedCallInfo {
  call: string;
  /** Matching context of the communicator ("w" is the world). */
  comm: string;
  /** World ranks of the communicator's members, by communicator rank. */
  group: number[];
  /** Communicator rank of the peer, -1 for ANY_SOURCE, -3 when none. */
  peer: number;
  /** World rank of the peer (-1 ANY_SOURCE, -3 none). */
  peerWorld: number;
  tag: number;
  seq: number;
  /** How long it has been waiting, in milliseconds. */
  ms: number;
}

/** What a rank says when the launcher asks (one JSON line on the lifeline). */
export interface HangAnswer {
  rank: number;
  blocked: BlockedCallInfo[];
  /** Blocked calls beyond those listed (a program awaiting thousands of requests at once). */
  more?: number;
  /** Grows whenever this rank completes an operation or moves a message or a frame. */
  progress: number;
  /** Bytes are waiting to be written to a peer's socket. */
  inFlight: boolean;
}

/** Blocked calls listed in one hang answer (the most recent ones); the rest are counted in `more`. */
const MAX_LISTED = 32;

/** This rank's answer now; `engine` is the world's (absent before init() finished). */
export function hangAnswer(rank: number, engine: Engine | undefined): HangAnswer {
  const now = Date.now();
  const out: BlockedCallInfo[] = [];
  let more = 0;
  for (let b = head; b; b = b.next) {
    // The answer is one short line on the lifeline: thousands of awaited requests are counted, not listed.
    if (out.length === MAX_LISTED) {
      more++;
      continue;
    }
    const peerWorld = b.peer >= 0 ? (b.comm.group[b.peer] ?? NO_PEER) : b.peer;
    out.push({ call: b.name, comm: b.comm.ctx, group: [...b.comm.group], peer: b.peer, peerWorld, tag: b.tag, seq: b.seq, ms: now - b.since });
  }
  let progress = settled;
  let inFlight = false;
  if (engine) {
    const s = engine.stats();
    progress += s.sent.messages + s.eager.messages + s.fallback.messages + s.shm.messages + s.shm.cells + s.singleCopy.calls + s.self.messages + s.control.messages;
    for (const l of engine.links) if (l && l.socket.writableLength > 0) inFlight = true;
  }
  return more > 0 ? { rank, blocked: out.reverse(), more, progress, inFlight } : { rank, blocked: out.reverse(), progress, inFlight };
}
