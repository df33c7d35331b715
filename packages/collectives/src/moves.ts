// Data movement between ranks for the single-copy algorithms, with the per-pair fallback.
// A pair (a, b) either may copy directly (a.canRead(b) === b.canBeRead(a): both sides know the
// same answer) or exchanges point-to-point messages instead; every helper here comes in two
// halves, one for each side of the pair, and each side picks the same path.
import type { CollectiveTransport, Request } from "@onecopy/rendezvous";
import { exchange, type Contribution, type Rec } from "./descriptors.js";
import { tuning } from "./tuning.js";

/** Tags of one collective call: every collective takes exactly these, in this order. */
export interface Tags {
  /** Descriptor exchange. */
  x: number;
  /** Notifications ("your data is there", "mine is ready"). */
  a: number;
  /** Completion ("I no longer touch your memory"). */
  fin: number;
  /** Fallback data, first and second phase. */
  d1: number;
  d2: number;
  /** Eager headers of the rooted small paths (tuning.rootedEager). */
  h: number;
}

export function takeTags(t: CollectiveTransport): Tags {
  return { x: t.nextTag(), a: t.nextTag(), fin: t.nextTag(), d1: t.nextTag(), d2: t.nextTag(), h: t.nextTag() };
}

/**
 * Take a call's tags and run its descriptor exchange, with this rank's arguments checked by
 * `plan` inside it (a rank whose arguments are bad still takes part, with a poison record) and
 * its record made from the plan by `contribute`.
 */
export async function planAndExchange<P>(
  t: CollectiveTransport,
  what: string,
  kind: number,
  plan: () => P,
  contribute: (p: P) => Contribution,
): Promise<{ tags: Tags; recs: Rec[]; p: P }> {
  const tags = takeTags(t);
  let p!: P;
  const recs = await exchange(t, tags.x, what, kind, () => contribute((p = plan())));
  return { tags, recs, p };
}

/** Remote region `[addr + off, len]` as an io list (empty when len is 0). */
export function region(addr: number, off: number, len: number): number[] {
  return len > 0 ? [addr + off, len] : [];
}

/** `[address, length]` of a local view (what a record carries). */
export function expose(t: CollectiveTransport, v: Uint8Array | null): number[] {
  if (!v || v.byteLength === 0) return [0, 0];
  const l = t.ioList([v], v.byteLength);
  return [l[0]!, v.byteLength];
}

const EMPTY: Uint8Array[] = [];

/**
 * Reader side: copy `len` bytes at `addr + off` in rank `j` into `local` (its whole length), by
 * a single-copy read, or by receiving what {@link serveRead} sends where the pair cannot read.
 */
export async function readFrom(t: CollectiveTransport, j: number, local: Uint8Array, addr: number, off: number, tag: number): Promise<void> {
  if (local.byteLength === 0) return;
  if (t.canRead(j)) await t.read(j, [local], [addr + off, local.byteLength]);
  else await t.irecv([local], local.byteLength, j, tag);
}

/** Owner side of {@link readFrom}: where `reader` cannot read us, send it `view`. */
export function serveRead(t: CollectiveTransport, reader: number, view: Uint8Array, tag: number): Request<void> | null {
  if (view.byteLength === 0 || t.canBeRead(reader)) return null;
  return t.isend([view], view.byteLength, reader, tag);
}

/** Writer side: copy `local` into `addr + off` in rank `j` (single copy, or a message). */
export async function writeTo(t: CollectiveTransport, j: number, local: Uint8Array, addr: number, off: number, tag: number): Promise<void> {
  if (local.byteLength === 0) return;
  if (t.canRead(j)) await t.write(j, [local], [addr + off, local.byteLength]);
  else await t.isend([local], local.byteLength, j, tag);
}

/** Target side of {@link writeTo}: where `writer` cannot write into us, receive into `view`. */
export function serveWrite(t: CollectiveTransport, writer: number, view: Uint8Array, tag: number): Request<unknown> | null {
  if (view.byteLength === 0 || t.canBeRead(writer)) return null;
  return t.irecv([view], view.byteLength, writer, tag);
}

/** A zero-byte notification to `j`. */
export function notify(t: CollectiveTransport, j: number, tag: number): Request<void> {
  return t.isend(EMPTY, 0, j, tag);
}

/** Wait for a notification from `j`. */
export function expect(t: CollectiveTransport, j: number, tag: number): Request<unknown> {
  return t.irecv(EMPTY, 0, j, tag);
}

/** Highest step {@link tell} carries through the slots (their note word holds 8 bits). */
const NOTE_MAX = 255;

/** Notifications of this collective go through its slots (notes): it made its exchange there, and the knob is on. */
export function notesInSlots(t: CollectiveTransport): boolean {
  return tuning.notes !== 0 && t.slots?.inSlotCollective === true;
}

/**
 * Tell that this rank reached step `step` (1, 2, … rising within the call; at most 255): in the
 * slots one store that every member may read; else a zero-byte message on `tag` to each rank
 * of `to`. The other half is {@link heard}: a receiver hears at most one message per sender
 * and tag, so with messages a step goes to the ranks that wait for exactly that step.
 */
export function tell(t: CollectiveTransport, tag: number, to: readonly number[], step = 1): Array<Request<void>> | null {
  if (notesInSlots(t) && step <= NOTE_MAX) {
    t.slots!.note(step);
    return null;
  }
  return to.map((j) => notify(t, j, tag));
}

/** Wait until rank `from` has told step `step` ({@link tell}); null when it has. */
export function heard(t: CollectiveTransport, tag: number, from: number, step = 1): PromiseLike<unknown> | null {
  return heardAll(t, tag, [from], step);
}

/** Wait until every rank of `from` has told step `step` (the slots hold one wait at a time: one call for all). */
export function heardAll(t: CollectiveTransport, tag: number, from: readonly number[], step = 1): PromiseLike<unknown> | null {
  if (notesInSlots(t) && step <= NOTE_MAX) return t.slots!.awaitNote(from, step);
  return settleAll(from.map((j) => expect(t, j, tag)));
}

/**
 * Closing handshake: tell every rank in `touched` that we no longer access its memory, and wait
 * until every rank in `touchedBy` has said the same to us. Afterwards the caller's buffers are
 * its own again. Only ranks that copy directly are involved (message paths complete by themselves).
 */
export async function finish(t: CollectiveTransport, tag: number, touched: Iterable<number>, touchedBy: Iterable<number>): Promise<void> {
  // A collective whose exchange went through the slots says "done" there: one counter, no messages.
  const slots = t.slots;
  if (slots?.inSlotCollective) {
    const wait = slots.finish(Array.isArray(touchedBy) ? touchedBy : [...touchedBy]);
    if (wait) await wait;
    return;
  }
  const reqs: Array<Request<unknown>> = [];
  for (const j of touchedBy) reqs.push(expect(t, j, tag));
  for (const j of touched) reqs.push(notify(t, j, tag));
  await settleAll(reqs);
}

/**
 * Closing handshake with every peer of `among` that copies directly with us, in either
 * direction (the two directions of a pair may differ).
 */
export function finishDirect(t: CollectiveTransport, tag: number, among: readonly number[] = shifted(t)): Promise<void> {
  return finish(t, tag, among.filter((j) => t.canRead(j)), among.filter((j) => t.canBeRead(j)));
}

/** Every other rank, in the order me+1, me+2, … (wrapping): each step has one reader per source. */
export function shifted(t: CollectiveTransport): number[] {
  const out: number[] = [];
  for (let k = 1; k < t.size; k++) out.push((t.rank + k) % t.size);
  return out;
}

/** Peers this rank may copy from and into directly. */
export function directPeers(t: CollectiveTransport, among: Iterable<number> = shifted(t)): number[] {
  const out: number[] = [];
  for (const j of among) if (j !== t.rank && t.canRead(j)) out.push(j);
  return out;
}

/** Await every request/promise; rethrow the first failure once all have settled. */
export async function settleAll(reqs: Iterable<PromiseLike<unknown> | null>): Promise<void> {
  const list: Array<PromiseLike<unknown>> = [];
  for (const r of reqs) if (r) list.push(r);
  if (list.length === 0) return;
  const res = await Promise.allSettled(list.map((r) => Promise.resolve(r)));
  for (const r of res) if (r.status === "rejected") throw r.reason;
}

/** Run `jobs` with at most `limit` in flight, in order. */
export async function bounded(limit: number, jobs: Array<() => Promise<void>>): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const lane = async (): Promise<void> => {
    while (next < jobs.length && failure === null) {
      const job = jobs[next++]!;
      try {
        await job();
      } catch (e) {
        failure ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, lane));
  if (failure !== null) throw failure;
}

// ---- scratch ---------------------------------------------------------------------------

const pool: ArrayBuffer[] = [];

/** A scratch area of at least `bytes` (reused across calls: its pages are already touched). */
export function takeScratch(bytes: number): ArrayBuffer {
  for (let i = 0; i < pool.length; i++) {
    if (pool[i]!.byteLength >= bytes) return pool.splice(i, 1)[0]!;
  }
  return new ArrayBuffer(bytes);
}

export function giveScratch(buf: ArrayBuffer): void {
  if (pool.length < 4) pool.push(buf);
}
