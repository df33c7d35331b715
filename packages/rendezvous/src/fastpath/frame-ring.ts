// One direction of a rank pair's control plane: a single-producer single-consumer byte ring in a
// shared segment. The producer (the sending rank, which created the segment) appends the bytes of
// whole frames — as a byte stream, so a frame may wrap around the end or be split across two
// publishes — and the consumer reads the stream with the same incremental frame reader as a
// socket. Unlike the cell ring of shm/ring.ts there are no cells: a 1-byte message costs its
// header's few bytes, not a page.
//
//   byte 0     magic, version, capacity                 — written once by the creator
//   byte 128   head      bytes published by the producer (wrapping int32)
//   byte 256   tail      bytes released by the consumer (wrapping int32)
//   byte 384   consWait  the consumer's state: RUNNING (polling) or SLEEPING (ring my doorbell)
//   byte 512   prodWait  the producer's state: WAITING (frames queued, ring my doorbell when you
//                        free space) or RUNNING
//   byte 4096  the data, `capacity` bytes (a power of two, so offsets are `counter & mask`)
//
// Each counter sits on its own 128-byte line (two 64-byte lines: adjacent-line prefetch), so
// the producer's and the consumer's stores never share a cache line.
//
// Memory ordering: the data bytes are plain stores (TypedArray.set), the counters Atomics
// (sequentially consistent; the mapping is not a SharedArrayBuffer, but Atomics.load/store/
// compareExchange work on any Int32Array — only Atomics.wait needs shared memory). The producer
// copies the bytes, then Atomics.stores `head`; the consumer Atomics.loads `head`, then reads
// the bytes, and Atomics.stores `tail` only after it has copied them out. x86 is TSO and V8
// does not move plain stores after a seq_cst store, so a consumer never sees unwritten bytes
// below `head`, and a producer never overwrites bytes below `tail` that are still being read.
//
// Sleeping without losing a wake-up (Dekker with the socket as the futex): a side that stops
// polling first stores SLEEPING (or WAITING), then re-reads the other side's counter; the other
// side first stores its counter, then reads the flag and, if it says sleeping, claims it
// (compareExchange → RUNG) and rings the doorbell. With sequentially consistent Atomics one of
// the two always sees the other's store, and the claim makes one doorbell per sleep.
import type { ShmSegment } from "@onecopy/cma";

export const RING_MAGIC = 0x6f636672; // "ocfr"
export const RING_VERSION = 1;
export const RING_DATA_OFFSET = 4096;
const MIN_CAPACITY = 64 * 1024;
const MAX_CAPACITY = 1 << 30;

/** Int32 indexes into the segment. */
const I = { magic: 0, version: 1, capacity: 2, head: 128 / 4, tail: 256 / 4, consWait: 384 / 4, prodWait: 512 / 4 } as const;

/** Flag values. */
export const RUNNING = 0;
export const SLEEPING = 1;
export const RUNG = 2;

/** A ring capacity from the knob: a power of two in 64 KiB … 1 GiB. */
export function ringCapacity(bytes: number): number {
  let c = MIN_CAPACITY;
  while (c < bytes && c < MAX_CAPACITY) c *= 2;
  return c;
}

/** Bytes of a segment holding a ring of `capacity`. */
export function ringSegmentBytes(capacity: number): number {
  return RING_DATA_OFFSET + capacity;
}

abstract class RingSide {
  protected readonly ctl: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly mask: number;

  constructor(
    readonly segment: ShmSegment,
    readonly capacity: number,
  ) {
    this.ctl = new Int32Array(segment.buffer, 0, RING_DATA_OFFSET / 4);
    this.data = new Uint8Array(segment.buffer, RING_DATA_OFFSET, capacity);
    this.mask = capacity - 1;
  }
}

/** The producer's side. */
export class FrameRingWriter extends RingSide {
  /** Bytes copied in so far (wrapping int32); published up to here by {@link publish}. */
  private head = 0;
  /** Free bytes as last read: the consumer only ever frees more, so `tail` is re-read only when this runs short. */
  private free: number;

  /** Initialize a freshly created segment; the consumer starts asleep. */
  constructor(segment: ShmSegment, capacity: number) {
    super(segment, capacity);
    const c = this.ctl;
    c[I.magic] = RING_MAGIC;
    c[I.version] = RING_VERSION;
    c[I.capacity] = capacity;
    Atomics.store(c, I.head, 0);
    Atomics.store(c, I.tail, 0);
    Atomics.store(c, I.consWait, SLEEPING);
    Atomics.store(c, I.prodWait, RUNNING);
    this.free = capacity;
  }

  /** Free bytes right now. */
  space(): number {
    return this.capacity - ((this.head - Atomics.load(this.ctl, I.tail)) | 0);
  }

  /** Whether `n` more bytes fit now (re-reading `tail` only when the free space last read runs short). */
  fits(n: number): boolean {
    if (this.free < n) this.free = this.space();
    return this.free >= n;
  }

  /** Copy as much of `src` as fits (not yet visible to the consumer); returns the bytes taken. */
  write(src: Uint8Array): number {
    const len = src.byteLength;
    if (this.free < len) this.free = this.space();
    const n = Math.min(len, this.free);
    if (n === 0) return 0;
    const at = this.head & this.mask;
    const first = Math.min(n, this.capacity - at);
    const d = this.data;
    if (first === n && n <= 64) {
      for (let k = 0; k < n; k++) d[at + k] = src[k]!; // a header or a tiny payload: cheaper than set()
    } else {
      d.set(first === len ? src : src.subarray(0, first), at);
      if (n > first) d.set(src.subarray(first, n), 0);
    }
    this.head = (this.head + n) | 0;
    this.free -= n;
    return n;
  }

  /** Make everything written visible; true when the consumer sleeps and must be woken (the flag is claimed). */
  publish(): boolean {
    const c = this.ctl;
    Atomics.store(c, I.head, this.head);
    return Atomics.load(c, I.consWait) === SLEEPING && Atomics.compareExchange(c, I.consWait, SLEEPING, RUNG) === SLEEPING;
  }

  /** Frames are queued: ask for a doorbell when space is freed. False (and not waiting) if there is space already. */
  waitForSpace(): boolean {
    Atomics.store(this.ctl, I.prodWait, SLEEPING);
    if (this.space() > 0) {
      Atomics.store(this.ctl, I.prodWait, RUNNING);
      return false;
    }
    return true;
  }

  /** Nothing queued any more: no doorbell needed for space. */
  stopWaiting(): void {
    Atomics.store(this.ctl, I.prodWait, RUNNING);
  }
}

/** The consumer's side. */
export class FrameRingReader extends RingSide {
  private tail = 0;
  private readonly bytes: Buffer;

  constructor(segment: ShmSegment, capacity: number) {
    super(segment, capacity);
    this.bytes = Buffer.from(segment.buffer, RING_DATA_OFFSET, capacity);
  }

  /** Why a mapped segment is not a ring of `capacity` made by a compatible producer, or null. */
  static validate(segment: ShmSegment, capacity: number): string | null {
    const c = new Int32Array(segment.buffer, 0, 4);
    if (c[I.magic] !== RING_MAGIC || c[I.version] !== RING_VERSION) return "frame ring header has the wrong magic/version";
    if (c[I.capacity] !== capacity) return `frame ring capacity ${c[I.capacity]} differs from the announced ${capacity}`;
    return null;
  }

  /** Published bytes not yet released. */
  available(): number {
    return (Atomics.load(this.ctl, I.head) - this.tail) | 0;
  }

  /** The whole data area (offsets {@link at} on), for reading ranges without a subarray each. */
  get area(): Buffer {
    return this.bytes;
  }

  /** Offset in {@link data} of the first unread byte; the unread bytes run to the end of the area and wrap to 0. */
  get at(): number {
    return this.tail & this.mask;
  }

  /** The first `n` unread bytes as up to two Buffers over the ring (valid until {@link release}). */
  chunks(n: number): Buffer[] {
    const at = this.tail & this.mask;
    const first = Math.min(n, this.capacity - at);
    const a = this.bytes.subarray(at, at + first);
    return n > first ? [a, this.bytes.subarray(0, n - first)] : [a];
  }

  /** The consumer is done with `n` bytes; true when the producer waits for space and must be woken. */
  release(n: number): boolean {
    this.tail = (this.tail + n) | 0;
    const c = this.ctl;
    Atomics.store(c, I.tail, this.tail);
    return Atomics.load(c, I.prodWait) === SLEEPING && Atomics.compareExchange(c, I.prodWait, SLEEPING, RUNG) === SLEEPING;
  }

  /** The consumer polls: producers need not ring. */
  wake(): void {
    Atomics.store(this.ctl, I.consWait, RUNNING);
  }

  /** The consumer goes back to the event loop. False (and RUNNING) if bytes are waiting already. */
  sleep(): boolean {
    Atomics.store(this.ctl, I.consWait, SLEEPING);
    if (this.available() > 0) {
      Atomics.store(this.ctl, I.consWait, RUNNING);
      return false;
    }
    return true;
  }
}
