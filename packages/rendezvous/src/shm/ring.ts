// One direction of a rank pair: a single-producer single-consumer ring of cells in a shared
// segment. The producer copies bytes into a cell and publishes it by advancing `head`; the
// consumer copies them out and frees the cell by advancing `tail`.
//
// Memory ordering: the counters and flags use Atomics (sequentially consistent; the mapping is
// not a SharedArrayBuffer, but Atomics.load/store/compareExchange work on any Int32Array, only
// Atomics.wait needs shared memory). A cell's bytes and header are written before the
// Atomics.store of `head` and read after the Atomics.load of it, so the consumer never sees a
// published cell half written (x86 TSO; V8 keeps plain stores before a seq_cst store).
//
// Each side publishes its state in a flag word: RUNNING (in its progress loop), SLEEPING (back
// in the event loop, wake me with the doorbell), RUNG (doorbell sent, not yet running) and, for
// the producer only, IDLE (nothing to send). A side polls a stalled ring only while the other
// side is RUNNING (polling a sleeping peer would only burn the core it needs).
//
// Sleeping without losing a wake-up (the futex/Dekker pattern, with the socket as the futex):
// a side that stops polling first sets its flag to SLEEPING, then re-reads the other side's
// counter; the other side first advances its counter, then reads the flag and, if SLEEPING,
// claims it (compareExchange SLEEPING → RUNG) and rings the doorbell. With sequentially
// consistent Atomics one of the two always sees the other's store.
import type { ShmSegment } from "@onecopy/cma";
import { CELL_HEADER_INTS, DATA_OFFSET, I, MAGIC, VERSION, type Geometry } from "./segment-layout.js";

/** Values of the consWait/prodWait flag words. */
export const RUNNING = 0;
export const SLEEPING = 1;
export const RUNG = 2;
export const IDLE = 3;

abstract class RingBase {
  protected readonly ctl: Int32Array;
  protected readonly cellViews: Uint8Array[] = [];
  readonly cells: number;
  readonly cellSize: number;

  constructor(readonly segment: ShmSegment, g: Geometry) {
    this.ctl = new Int32Array(segment.buffer, 0, DATA_OFFSET / 4);
    this.cells = g.cells;
    this.cellSize = g.cellSize;
    for (let k = 0; k < g.cells; k++) this.cellViews.push(new Uint8Array(segment.buffer, DATA_OFFSET + k * g.cellSize, g.cellSize));
  }
}

/** The producer's side (the sending rank, which created the segment). */
export class RingWriter extends RingBase {
  /** Cells published so far (exact, not wrapped). */
  private head = 0;

  /** Initialize a freshly created segment. The consumer starts asleep. */
  constructor(segment: ShmSegment, g: Geometry) {
    super(segment, g);
    const c = this.ctl;
    c[I.magic] = MAGIC;
    c[I.version] = VERSION;
    c[I.cells] = g.cells;
    c[I.cellSize] = g.cellSize;
    Atomics.store(c, I.head, 0);
    Atomics.store(c, I.tail, 0);
    Atomics.store(c, I.prodWait, IDLE);
    Atomics.store(c, I.consWait, SLEEPING);
  }

  /** Free cells right now. */
  space(): number {
    return this.cells - (((this.head | 0) - Atomics.load(this.ctl, I.tail)) | 0);
  }

  /** The next cell to fill (only valid while space() > 0). */
  next(): Uint8Array {
    return this.cellViews[this.head % this.cells]!;
  }

  /** Publish the cell from {@link next}; true when the consumer sleeps and must be woken. */
  publish(id: number, bytes: number, last: boolean): boolean {
    const h = I.cellHeaders + (this.head % this.cells) * CELL_HEADER_INTS;
    const c = this.ctl;
    c[h] = id | 0;
    c[h + 1] = bytes;
    c[h + 2] = last ? 1 : 0;
    c[h + 3] = Math.floor(id / 4294967296);
    this.head++;
    Atomics.store(c, I.head, this.head | 0);
    return Atomics.load(c, I.consWait) === SLEEPING && Atomics.compareExchange(c, I.consWait, SLEEPING, RUNG) === SLEEPING;
  }

  /** The consumer is in its progress loop, or about to be (doorbell rung): it will drain soon. */
  consumerAwake(): boolean {
    const s = Atomics.load(this.ctl, I.consWait);
    return s === RUNNING || s === RUNG;
  }

  /** Publish the producer's state: RUNNING (with data to send) or IDLE (nothing to send). */
  setState(state: typeof RUNNING | typeof IDLE): void {
    Atomics.store(this.ctl, I.prodWait, state);
  }

  /** Sleep until the consumer frees a cell. False (and RUNNING) if one is free already. */
  sleep(): boolean {
    Atomics.store(this.ctl, I.prodWait, SLEEPING);
    if (this.space() > 0) {
      Atomics.compareExchange(this.ctl, I.prodWait, SLEEPING, RUNNING);
      return false;
    }
    return true;
  }
}

/** A published cell, as the consumer sees it. */
export interface CellView {
  id: number;
  bytes: number;
  last: boolean;
  data: Uint8Array;
}

/** The consumer's side (the receiving rank, which mapped the peer's segment). */
export class RingReader extends RingBase {
  private tail = 0;
  private readonly view: CellView = { id: 0, bytes: 0, last: false, data: new Uint8Array(0) };

  /** Check that a mapped segment was initialized with the geometry the producer announced. */
  static validate(segment: ShmSegment, g: Geometry): string | null {
    const c = new Int32Array(segment.buffer, 0, 4);
    if (c[I.magic] !== MAGIC || c[I.version] !== VERSION) return "segment header has the wrong magic/version";
    if (c[I.cells] !== g.cells || c[I.cellSize] !== g.cellSize) return `segment geometry ${c[I.cells]}×${c[I.cellSize]} differs from the announced ${g.cells}×${g.cellSize}`;
    return null;
  }

  /** Published cells not yet consumed. */
  available(): number {
    return (Atomics.load(this.ctl, I.head) - (this.tail | 0)) | 0;
  }

  /** The oldest published cell (only valid while available() > 0); the object is reused. */
  peek(): CellView {
    const k = this.tail % this.cells;
    const h = I.cellHeaders + k * CELL_HEADER_INTS;
    const c = this.ctl;
    const v = this.view;
    v.id = (c[h + 3]! * 4294967296) + (c[h]! >>> 0);
    v.bytes = c[h + 1]!;
    v.last = c[h + 2] === 1;
    v.data = this.cellViews[k]!;
    return v;
  }

  /** Free the cell from {@link peek}; true when the producer waits for it and must be woken. */
  release(): boolean {
    this.tail++;
    const c = this.ctl;
    Atomics.store(c, I.tail, this.tail | 0);
    return Atomics.load(c, I.prodWait) === SLEEPING && Atomics.compareExchange(c, I.prodWait, SLEEPING, RUNG) === SLEEPING;
  }

  /**
   * More cells are coming soon: the producer is in its progress loop with data to send, or about
   * to be (doorbell rung) — or, with `between` set (we asked for more messages), it is IDLE: back
   * in its event loop between two messages, reading our next PULL.
   */
  producerAwake(between: boolean): boolean {
    const s = Atomics.load(this.ctl, I.prodWait);
    return s === RUNNING || s === RUNG || (between && s === IDLE);
  }

  /** The consumer entered its progress loop. */
  wake(): void {
    Atomics.store(this.ctl, I.consWait, RUNNING);
  }

  /** Sleep until the doorbell. False (and RUNNING) if a cell is ready already. */
  sleep(): boolean {
    Atomics.store(this.ctl, I.consWait, SLEEPING);
    if (this.available() > 0) {
      Atomics.compareExchange(this.ctl, I.consWait, SLEEPING, RUNNING);
      return false;
    }
    return true;
  }
}
