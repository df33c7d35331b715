// Layout of a communicator's collective slot segment: one slot per member rank, each written by
// that rank only (single writer) and read by every other member.
//
//   byte 0           header (Int32): magic, version, members, capacity  — written once by the creator
//   slot r at 256 + r × stride, stride = 256 + 2 × capacity:
//     +0    seq[0], len[0], seq[1], len[1], fin, note   written by rank r only
//     +128  sleep                                  rank r's waiting state (asleep until rank j
//                                                  publishes its record: 1 + j, its fin:
//                                                  -2 - j, or a note: NOTE_SLEEP + j); j claims it (RUNG)
//     +256  record area of parity 0, then of parity 1 (capacity bytes each)
//
// A collective is named by its id (its exchange tag + 1: agreed by every member, never 0). The
// writer alternates its two areas (its own count of slot exchanges), copies its record in
// (plain stores; or encodes it there in place), stores len (−1: larger than the area, the record goes by messages), then
// Atomics.stores seq = id. A reader looks for the id in either seq and copies the record out, so
// readers never depend on the writer's parity. `fin` = id says "done with every peer's memory for
// that collective and all before it" (the FIN messages of the message path). `note` is the
// owner's progress inside its running collective (the "your data is there" / "mine is ready"
// messages of the message path): a single-writer sequence counter, (id mod 2^23) << 8 | step
// with step 1 … 255 rising, in one store; a fin of the collective (or a later one) implies every
// note of it, so a reader never needs the word once the writer has moved on. The owner-written
// words and the sleep word sit on separate 128-byte lines.
import type { ShmSegment } from "@onecopy/cma";

export const SLOT_MAGIC = 0x6f63636c; // "occl"
export const SLOT_VERSION = 3;
const HEADER = 256;
const CONTROL = 256;
const LINE = 128;

/** Sleep-word values: RUNNING, RUNG (a writer claimed the sleep and rings), or sleepingOn(j, what). */
export const RUNNING = 0;
export const RUNG = -1;
const NOTE_SLEEP = 0x1000000;
/** Highest step a note carries. */
export const NOTE_MAX = 255;

/** What a rank waits for of a member: its record, its fin, or a note (a fin satisfies a note too). */
export type SlotEvent = "record" | "fin" | "note";

/**
 * The owner sleeps until rank `j` publishes its record, its fin or a note; only j rings it, and
 * only for that event (a fin never wakes a record waiter: one doorbell per sleep).
 */
export function sleepingOn(j: number, what: SlotEvent): number {
  return what === "fin" ? -2 - j : what === "note" ? NOTE_SLEEP + j : 1 + j;
}

function noteWord(id: number, step: number): number {
  return ((id & 0x7fffff) << 8) | step;
}

/** A record area size from the knob: a multiple of 128 bytes, at least 1 KiB. */
export function slotCapacity(bytes: number): number {
  return Math.max(1024, Math.ceil(bytes / LINE) * LINE);
}

export function slotSegmentBytes(members: number, capacity: number): number {
  return HEADER + members * (CONTROL + 2 * capacity);
}

/** A mapped slot segment (creator's or reader's view; every member maps the same bytes). */
export class SlotSegment {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly stride: number;
  /** Every record area as bytes and as doubles, by 2 × rank + parity (made once). */
  private readonly areaU8: Uint8Array[] = [];
  private readonly areaF64: Float64Array[] = [];

  constructor(
    readonly segment: ShmSegment,
    readonly members: number,
    readonly capacity: number,
  ) {
    this.i32 = new Int32Array(segment.buffer, 0, segment.bytes >> 2);
    this.u8 = new Uint8Array(segment.buffer, 0, segment.bytes);
    this.stride = CONTROL + 2 * capacity;
    for (let r = 0; r < members; r++) {
      for (let p = 0; p < 2; p++) {
        const at = this.base(r) + CONTROL + p * capacity; // a multiple of 128
        this.areaU8.push(new Uint8Array(segment.buffer, at, capacity));
        this.areaF64.push(new Float64Array(segment.buffer, at, capacity >> 3));
      }
    }
  }

  /** Write the header of a freshly created (zero-filled) segment. */
  init(): void {
    const h = this.i32;
    h[1] = SLOT_VERSION;
    h[2] = this.members;
    h[3] = this.capacity;
    Atomics.store(h, 0, SLOT_MAGIC);
  }

  /** Why a mapped segment is not the one announced, or null. */
  static validate(seg: ShmSegment, members: number, capacity: number): string | null {
    const h = new Int32Array(seg.buffer, 0, 4);
    if (Atomics.load(h, 0) !== SLOT_MAGIC || h[1] !== SLOT_VERSION) return "collective slot segment has the wrong magic/version";
    if (h[2] !== members || h[3] !== capacity) return `collective slot segment is for ${h[2]} ranks × ${h[3]} bytes, expected ${members} × ${capacity}`;
    return null;
  }

  private base(r: number): number {
    return HEADER + r * this.stride;
  }

  /** Int32 index of rank r's word `w` (0 seq0, 1 len0, 2 seq1, 3 len1, 4 fin, 5 note). */
  private word(r: number, w: number): number {
    return (this.base(r) >> 2) + w;
  }

  private sleepIndex(r: number): number {
    return (this.base(r) + LINE) >> 2;
  }

  /** Rank r's record area `parity` as doubles (a view made once; records are encoded straight into it). */
  areaDoubles(r: number, parity: number): Float64Array {
    return this.areaF64[2 * r + parity]!;
  }

  /** The same area as bytes. */
  areaBytes(r: number, parity: number): Uint8Array {
    return this.areaU8[2 * r + parity]!;
  }

  /** Publish my record of collective `id` in my area `parity`: `record` is copied in, or `len` bytes already are there (−1: too large, it goes by messages). */
  publish(me: number, parity: number, id: number, record: Uint8Array | null, len = record ? record.byteLength : -1): void {
    if (record) this.u8.set(record, this.base(me) + CONTROL + parity * this.capacity);
    this.i32[this.word(me, 2 * parity + 1)] = len;
    Atomics.store(this.i32, this.word(me, 2 * parity), id);
  }

  /** Rank r's record area holding collective `id` (published), as doubles over the whole area. */
  recordF64(r: number, id: number): Float64Array {
    return this.areaF64[2 * r + this.areaOf(r, id)]!;
  }

  /** The area (0, 1) holding rank r's record of collective `id`, or −1 while it is not published. */
  private areaOf(r: number, id: number): number {
    if (Atomics.load(this.i32, this.word(r, 0)) === id) return 0;
    if (Atomics.load(this.i32, this.word(r, 2)) === id) return 1;
    return -1;
  }

  /** Rank r's record length for collective `id` (−1: by messages), or null while it is not published. */
  published(r: number, id: number): number | null {
    const p = this.areaOf(r, id);
    return p < 0 ? null : this.i32[this.word(r, 2 * p + 1)]!;
  }

  setFin(me: number, id: number): void {
    Atomics.store(this.i32, this.word(me, 4), id);
  }

  /** Rank r has said it is done with collective `id` or a later one (ids count modulo 2^30, from 1). */
  finished(r: number, id: number): boolean {
    const fin = Atomics.load(this.i32, this.word(r, 4));
    return fin !== 0 && ((fin - id) & 0x3fffffff) < 0x20000000;
  }

  /** Publish step `step` (1 … NOTE_MAX, rising within a collective) of my collective `id`. */
  setNote(me: number, id: number, step: number): void {
    Atomics.store(this.i32, this.word(me, 5), noteWord(id, step));
  }

  /** Rank r has reached step `step` of collective `id` (or said it is done with it). */
  noted(r: number, id: number, step: number): boolean {
    const v = Atomics.load(this.i32, this.word(r, 5));
    if (v >>> 8 === (id & 0x7fffff) && (v & 0xff) >= step) return true;
    return this.finished(r, id);
  }

  setSleep(me: number, v: number): void {
    Atomics.store(this.i32, this.sleepIndex(me), v);
  }

  /** Rank r sleeps until rank `me` publishes `what`: claim its doorbell (true: ring it, once). */
  claimSleeper(r: number, me: number, what: SlotEvent): boolean {
    const i = this.sleepIndex(r);
    const on = sleepingOn(me, what);
    return Atomics.load(this.i32, i) === on && Atomics.compareExchange(this.i32, i, on, RUNG) === on;
  }
}
