// The descriptor exchange every collective starts with: each rank contributes one record (what
// it was called with, the addresses of the buffers it exposes and, for small collectives, the
// data itself); one dissemination allgather (Bruck: ceil(log2 n) rounds of one small eager
// message per rank) gives every rank every record. Every rank then runs the same checks on the
// same records, so a mismatch fails on every rank in the same step and no rank hangs. A rank
// whose own arguments were invalid still takes part, with a "poison" record carrying its error.
// Once the communicator's collective slots are on (rendezvous collslots/), the records go
// through shared memory instead: each rank writes its record into its slot and copies the
// others' out of theirs; the checks are the same.
import { ErrorCode, MessagingError, type CollectiveTransport, type Descriptor, type ErrorCodeValue } from "@onecopy/rendezvous";

/** Collective kinds (wire codes): a rank calling another collective is a mismatch too. */
export const KIND = {
  barrier: 1, bcast: 2, reduce: 3, allreduce: 4, gather: 5, gatherv: 6, scatter: 7, scatterv: 8,
  allgather: 9, allgatherv: 10, alltoall: 11, alltoallv: 12, reduceScatterBlock: 13, reduceScatter: 14,
  scan: 15, exscan: 16,
} as const;
const KIND_NAME = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k])) as Record<number, string>;
const POISON = -1;

/** Flag bits of a record. */
export const F_IN_PLACE = 1;
export const F_INLINE = 2;

/** What this rank contributes. */
export interface Contribution {
  kind: number;
  dtype?: number;
  count?: number;
  op?: number;
  root?: number;
  flags?: number;
  /** Address and length of the buffer peers read from (send side). */
  s?: readonly number[];
  /** Address and length of the buffer peers read from or write into (receive side). */
  r?: readonly number[];
  /** Per-rank counts/displacements and the like. */
  extra?: readonly number[];
  /** Inline data (small collectives). */
  payload?: Uint8Array | null;
}

/** A record as received (also this rank's own). */
export interface Rec {
  rank: number;
  kind: number;
  dtype: number;
  count: number;
  op: number;
  root: number;
  flags: number;
  /** The buffer peers read from (send side), as the one descriptor shape: [address, length]. */
  s: Descriptor;
  /** The buffer peers read from or write into (receive side). */
  r: Descriptor;
  extra: Float64Array;
  payload: Uint8Array | null;
  /** The collective slots' set-up word (message-path exchanges only). */
  setup: number;
}

const HEAD = 15;
const NO_EXTRA = new Float64Array(0);

/** Length in doubles of the record of `c`. */
function recordDoubles(c: Contribution): number {
  const pl = c.payload;
  return HEAD + (c.extra?.length ?? 0) + (pl ? Math.ceil(pl.byteLength / 8) : 0);
}

/** Encode the record of `c` at the start of `f` (at least {@link recordDoubles} long). */
function encodeInto(f: Float64Array, rank: number, c: Contribution, setup: number): void {
  const extra = c.extra;
  const nExtra = extra ? extra.length : 0;
  const pl = c.payload ?? null;
  const plBytes = pl ? pl.byteLength : 0;
  const slots = HEAD + nExtra + Math.ceil(plBytes / 8);
  f[0] = slots;
  f[1] = rank;
  f[2] = c.kind;
  f[3] = c.dtype ?? 0;
  f[4] = c.count ?? 0;
  f[5] = c.op ?? 0;
  f[6] = c.root ?? 0;
  f[7] = (c.flags ?? 0) | (pl ? F_INLINE : 0);
  const s = c.s;
  const r = c.r;
  f[8] = s?.[0] ?? 0;
  f[9] = s?.[1] ?? 0;
  f[10] = r?.[0] ?? 0;
  f[11] = r?.[1] ?? 0;
  f[12] = nExtra;
  f[13] = pl ? plBytes : -1;
  f[14] = setup;
  if (extra) for (let i = 0; i < nExtra; i++) f[HEAD + i] = extra[i]!;
  if (pl && plBytes > 0) new Uint8Array(f.buffer, f.byteOffset + 8 * (HEAD + nExtra), plBytes).set(pl);
}

function encode(rank: number, c: Contribution, setup: number): Uint8Array {
  const f = new Float64Array(recordDoubles(c));
  encodeInto(f, rank, c, setup);
  return new Uint8Array(f.buffer);
}

/** Decode the record at double `at` of `f` into `into[rank]`; returns the index after it. Payload and extra are views of `f`. */
function decodeAt(f: Float64Array, at: number, into: Rec[]): number {
  const slots = f[at]!;
  const nExtra = f[at + 12]!;
  const plBytes = f[at + 13]!;
  const rank = f[at + 1]!;
  into[rank] = {
    rank,
    kind: f[at + 2]!,
    dtype: f[at + 3]!,
    count: f[at + 4]!,
    op: f[at + 5]!,
    root: f[at + 6]!,
    flags: f[at + 7]!,
    s: [f[at + 8]!, f[at + 9]!],
    r: [f[at + 10]!, f[at + 11]!],
    extra: nExtra === 0 ? NO_EXTRA : f.subarray(at + HEAD, at + HEAD + nExtra),
    payload: plBytes >= 0 ? new Uint8Array(f.buffer, f.byteOffset + 8 * (at + HEAD + nExtra), plBytes) : null,
    setup: f[at + 14]!,
  };
  return at + slots;
}

function decodeAll(msg: Uint8Array, into: Rec[]): void {
  const bytes = msg.byteOffset % 8 === 0 ? msg : msg.slice();
  const f = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 3);
  for (let at = 0; at < f.length; ) at = decodeAt(f, at, into);
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Dissemination allgather of encoded records: ceil(log2 n) rounds, one message per rank each. */
async function bruck(t: CollectiveTransport, tag: number, mine: Uint8Array): Promise<Rec[]> {
  const n = t.size;
  const me = t.rank;
  const recs: Rec[] = new Array(n);
  decodeAll(mine, recs);
  const have: Uint8Array[] = [mine]; // records of ranks me, me+1, … (mod n), in that order
  for (let dist = 1; dist < n; dist *= 2) {
    const cnt = Math.min(dist, n - dist);
    const rr = t.irecv(null, 0, (me + dist) % n, tag);
    const out = have.length === 1 && cnt === 1 ? have[0]! : concat(have.slice(0, cnt));
    const sr = t.isend([out], out.byteLength, (me - dist + n) % n, tag);
    const [got] = await Promise.all([rr.wait(), sr.wait()]);
    const data = got!.data ?? new Uint8Array(0);
    have.push(data);
    decodeAll(data, recs);
  }
  return recs;
}

/** The error every rank throws for a mismatch, with the same text on every rank. */
export function mismatch(what: string, message: string): MessagingError {
  return new MessagingError(ErrorCode.MISMATCH, `${what}: ${message}`);
}

/**
 * Exchange contributions. `build` validates this rank's arguments and returns its record; if it
 * throws, the rank still takes part (so nobody waits for it) and then rethrows. Ranks that see
 * a poison record, or a rank in another collective, fail with that error. The records come
 * back at once (no promise, no event-loop turn) when the slots already hold them all; callers
 * `await` either.
 */
export function exchange(t: CollectiveTransport, tag: number, what: string, kind: number, build: () => Contribution): Rec[] | Promise<Rec[]> {
  let c: Contribution | null = null;
  let err: unknown = null;
  try {
    c = build();
  } catch (e) {
    err = e;
  }
  const slots = t.slots;
  const n = t.size;
  const viaSlots = n > 1 && slots?.on === true;
  const setup = slots && !viaSlots && n > 1 ? slots.setupWord() : 0;
  const mineC = c ?? poison(err);
  if (!viaSlots) {
    const mine = encode(t.rank, mineC, setup);
    if (n === 1) {
      const recs: Rec[] = [];
      decodeAll(mine, recs);
      return verdict(t, what, kind, recs, err);
    }
    return bruck(t, tag, mine).then((recs) => {
      slots?.setupSeen(recs.map((r) => r.setup));
      return verdict(t, what, kind, recs, err);
    });
  }
  // Encoded straight into this rank's next slot area when it fits; peers' records are read in place.
  const recs: Rec[] = new Array(n);
  const bytes = 8 * recordDoubles(mineC);
  const area = slots.nextArea(bytes);
  let mine: Uint8Array | null = null;
  if (area) {
    encodeInto(area, t.rank, mineC, setup);
    decodeAt(area, 0, recs);
  } else {
    mine = encode(t.rank, mineC, setup);
    decodeAll(mine, recs);
  }
  const got = slots.exchange(mine, bytes, tag);
  if (Array.isArray(got)) return decodeParts(got, recs, t, what, kind, err); // no closure on the synchronous path
  return got.then((parts) => decodeParts(parts, recs, t, what, kind, err));
}

function decodeParts(parts: Float64Array[], recs: Rec[], t: CollectiveTransport, what: string, kind: number, err: unknown): Rec[] {
  for (let i = 0; i < parts.length; i++) decodeAt(parts[i]!, 0, recs);
  return verdict(t, what, kind, recs, err);
}

/** Every rank's records are in: this rank's own error, a poison record's, a kind mismatch, or the records. */
function verdict(t: CollectiveTransport, what: string, kind: number, recs: Rec[], err: unknown): Rec[] {
  if (err) throw err;
  const n = t.size;
  for (let i = 0; i < n; i++) {
    const r = recs[i]!;
    if (r.kind === POISON) {
      const [code, ...rest] = new TextDecoder().decode(r.payload!).split("\n");
      throw new MessagingError(code as ErrorCodeValue, `${what}: rank ${r.rank} was called with invalid arguments: ${rest.join("\n")}`, { peer: r.rank });
    }
  }
  for (let i = 0; i < n; i++) {
    const r = recs[i]!;
    if (r.kind !== kind) {
      throw mismatch(what, `rank ${r.rank} called ${KIND_NAME[r.kind] ?? `collective #${r.kind}`} while rank ${t.rank} called ${KIND_NAME[kind]}; every rank must call the same collectives in the same order`);
    }
  }
  return recs;
}

/** The record of a rank whose own arguments were invalid: its error, for every rank to throw. */
function poison(err: unknown): Contribution {
  const code = (err as { code?: string }).code ?? ErrorCode.INVALID_ARG;
  return { kind: POISON, payload: new TextEncoder().encode(`${code}\n${(err as Error)?.message ?? String(err)}`) };
}
