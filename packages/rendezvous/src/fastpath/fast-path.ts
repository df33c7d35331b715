// A link's shared-memory control plane: our frame ring towards the peer (we create and fill it)
// and the peer's ring towards us (we map and drain it). The two directions are independent.
//
// Set-up, per direction, on the socket (after the handshake, when the engine adopts the link):
//   producer: create the segment, send RING MAP ─► consumer: map it, unlink the name, RING MAPPED
//   producer: on MAPPED ok, send RING ON, and from then on send every ring frame through the ring
//   consumer: drain the ring only once it has read ON from the socket
// ON is the switch point in the socket's stream: every frame sent before it went by the socket
// and was read before ON, every frame after it is in the ring, so none overtakes another.
//
// Order from then on: a frame goes into the ring at once, or — when the ring is full, or frames
// are queued already — into a local queue that is flushed in order as the consumer frees space
// (it rings our doorbell when it frees space while we wait). A send's callback runs once its last
// byte is in the ring. BYE stays on the socket, sent only once the queue is empty, and the
// consumer drains the ring before it acts on a BYE or on the socket's close: BYE comes after
// every frame sent before it.
//
// Doorbells: after publishing, a producer whose consumer's flag says SLEEPING claims it and sends
// a 4-byte frame on the socket; the consumer, on reading it, drains. See frame-ring.ts for the
// lost-wake-up argument.
import { createShmSegment, unlinkShmSegment, unmapShmSegment, type ShmSegment } from "@onecopy/cma";
import { ErrorCode, MessagingError } from "../errors.js";
import { FrameReader, MAX_HEADER, type FrameHandler } from "../frame-reader.js";
import { RING_OP, T, type DataFrame, type Eager, type RingFrame } from "../frames.js";
import { BinaryDecoder, BinaryEncoder } from "./binary-frames.js";
import { FrameRingReader, FrameRingWriter, ringSegmentBytes } from "./frame-ring.js";
import { trackName, untrackName } from "../shm/segment-names.js";
import { mapOffered } from "../shm/map-offered.js";

/** What a fast path needs from its link and engine. */
export interface FastPathHooks {
  /** Where drained frames go (the link's handler). */
  readonly deliver: FrameHandler;
  /** Send a RING control frame on the socket. */
  control(f: RingFrame): void;
  /** Ring the peer's doorbell now. */
  bell(): void;
  /** Whether the link has stopped reading (backpressure). */
  paused(): boolean;
  /** The inbound stream is corrupt: drop the link. */
  corrupt(err: Error): void;
  /** A doorbell was handled while operations are pending: progress may poll. */
  woken(): void;
  /** The ring cannot be used (printed once per process by the owner). */
  unusable(reason: string): void;
  readonly counters: { frames: number; bells: number };
  /** The fast path closed for good. */
  closed(): void;
}

export interface FastPathOptions {
  rank: number;
  peer: number;
  /** Name of our segment towards the peer, and of the peer's towards us. */
  outName: string;
  inName: string;
  capacity: number;
}

/** Bytes of an EAGER record and of a CTX record before it, but for the context's name (binary-frames.ts). */
const MAX_HOT_HEADER = 4 + 24 + 4 + 8;

interface Queued {
  bytes: Uint8Array;
  cb?: (err?: Error | null) => void;
}

type OutState = "none" | "offered" | "on" | "broken";

export class FastPath {
  private outState: OutState = "none";
  private out: FrameRingWriter | null = null;
  private outSeg: ShmSegment | null = null;
  private inRing: FrameRingReader | null = null;
  private inSeg: ShmSegment | null = null;
  /** The peer's ON was read: its ring holds its frames. */
  private inOn = false;
  private readonly encoder = new BinaryEncoder();
  private readonly reader: FrameReader;
  private readonly queue: Queued[] = [];
  private qHead = 0;
  private draining = false;
  private closed = false;
  private settleOut!: () => void;
  /** Resolves once our direction is decided: frames go through the ring, or stay on the socket. */
  readonly decided = new Promise<void>((resolve) => (this.settleOut = resolve));

  constructor(
    private readonly opts: FastPathOptions,
    private readonly hooks: FastPathHooks,
  ) {
    this.reader = new FrameReader(hooks.deliver, { maxHeader: MAX_HEADER, decode: new BinaryDecoder().decode });
  }

  /** Frames go through the ring now. */
  get sending(): boolean {
    return this.outState === "on";
  }

  /** Create our ring towards the peer and offer it. */
  start(): void {
    try {
      this.outSeg = createShmSegment(this.opts.outName, ringSegmentBytes(this.opts.capacity));
    } catch (err) {
      this.outState = "broken";
      this.hooks.unusable(`cannot create a frame ring for rank ${this.opts.peer}: ${(err as Error).message}`);
      this.settleOut();
      return;
    }
    trackName(this.opts.outName);
    this.out = new FrameRingWriter(this.outSeg, this.opts.capacity);
    this.outState = "offered";
    this.hooks.control({ t: T.RING, o: RING_OP.MAP, p: this.opts.outName, z: this.opts.capacity });
  }

  /** A RING frame from the peer (the socket). */
  onControl(f: RingFrame): void {
    if (this.closed) return;
    switch (f.o) {
      case RING_OP.BELL:
        this.poll();
        this.settle();
        this.hooks.woken();
        return;
      case RING_OP.MAP:
        this.onMap(f.p, f.z);
        return;
      case RING_OP.MAPPED:
        this.onMapped(f.ok);
        return;
      case RING_OP.ON:
        this.inOn = this.inRing !== null;
        this.poll();
        this.settle();
        return;
    }
  }

  private onMap(name: string, capacity: number): void {
    const refused = capacity !== this.opts.capacity ? `ring of ${capacity} bytes, expected ${this.opts.capacity} (ONECOPY_FASTPATH_RING differs between ranks)` : null;
    const m = mapOffered(name, this.opts.inName, ringSegmentBytes(capacity), refused, (seg) => FrameRingReader.validate(seg, capacity));
    if (m.seg) {
      this.inSeg = m.seg;
      this.inRing = new FrameRingReader(m.seg, capacity);
      this.hooks.control({ t: T.RING, o: RING_OP.MAPPED, ok: true });
      return;
    }
    this.hooks.control({ t: T.RING, o: RING_OP.MAPPED, ok: false, r: m.reason });
    this.hooks.unusable(`cannot map rank ${this.opts.peer}'s frame ring: ${m.reason}`);
  }

  private onMapped(ok: boolean): void {
    if (this.outState !== "offered") return;
    unlinkShmSegment(this.opts.outName); // the consumer unlinked it; this covers one that failed
    untrackName(this.opts.outName);
    if (!ok) {
      this.outState = "broken"; // the peer printed why
      this.dropOut();
      this.settleOut();
      return;
    }
    this.hooks.control({ t: T.RING, o: RING_OP.ON }); // the switch point: nothing after it uses the socket
    this.outState = "on";
    this.settleOut();
  }

  // ---- sending ---------------------------------------------------------------------------

  /** Put `f` (and its payload) into the ring, or queue it behind frames still waiting for space. Only while {@link sending}. */
  send(f: DataFrame, payload: readonly Uint8Array[] | undefined, cb?: (err?: Error | null) => void): void {
    const w = this.out!;
    const head = this.encoder.encode(f);
    this.hooks.counters.frames++;
    const parts = payload?.length ?? 0;
    if (this.qHead < this.queue.length) {
      // Behind earlier frames: queue it whole. The header is copied (the encoder reuses its buffer).
      this.enqueue(Buffer.from(head), parts ? undefined : cb);
      this.enqueueParts(payload, 0, cb);
      return;
    }
    const n = w.write(head);
    if (n < head.byteLength) {
      this.enqueue(Buffer.from(head.subarray(n)), parts ? undefined : cb);
      this.enqueueParts(payload, 0, cb);
    } else {
      for (let k = 0; k < parts; k++) {
        const v = payload![k]!;
        const m = w.write(v);
        if (m < v.byteLength) {
          this.enqueue(v.subarray(m), k === parts - 1 ? cb : undefined);
          this.enqueueParts(payload, k + 1, cb);
          break;
        }
      }
    }
    if (w.publish()) this.bell();
    if (this.qHead === this.queue.length) cb?.();
    else this.waitForSpace();
  }

  /**
   * Put `f` and its `bytes` of payload into the ring now if nothing is queued and all of it fits:
   * true when done (published, the doorbell rung if needed). False, with nothing written or
   * encoded, otherwise: the caller uses {@link send}. The hot eager send: no callback, no queue.
   */
  trySend(f: Eager, payload: readonly Uint8Array[], bytes: number): boolean {
    const w = this.out!;
    // The header's size bound, before encoding (which may announce the context once, for good).
    if (this.qHead < this.queue.length || !w.fits(bytes + MAX_HOT_HEADER + 3 * f.c.length)) return false;
    const head = this.encoder.encode(f);
    this.hooks.counters.frames++;
    w.write(head);
    for (let k = 0; k < payload.length; k++) w.write(payload[k]!);
    if (w.publish()) this.bell();
    return true;
  }

  /** Queue payload views `from…` (the last one carries `cb`). */
  private enqueueParts(payload: readonly Uint8Array[] | undefined, from: number, cb?: (err?: Error | null) => void): void {
    const parts = payload?.length ?? 0;
    for (let j = from; j < parts; j++) this.enqueue(payload![j]!, j === parts - 1 ? cb : undefined);
  }

  /** Run `cb` once every frame queued so far is in the ring (at once if none is queued). */
  whenSent(cb: () => void): void {
    if (this.qHead === this.queue.length || this.outState !== "on") cb();
    else this.enqueue(new Uint8Array(0), cb);
  }

  private enqueue(bytes: Uint8Array, cb?: (err?: Error | null) => void): void {
    this.queue.push({ bytes, cb });
  }

  /** Move queued frames into the freed space; returns whether anything moved. */
  private flushQueue(): boolean {
    const w = this.out;
    if (!w || this.qHead === this.queue.length) return false;
    let moved = false;
    while (this.qHead < this.queue.length) {
      const q = this.queue[this.qHead]!;
      const n = w.write(q.bytes);
      if (n > 0) moved = true;
      if (n < q.bytes.byteLength) {
        q.bytes = q.bytes.subarray(n);
        break;
      }
      this.queue[this.qHead++] = undefined as unknown as Queued;
      q.cb?.();
    }
    if (this.qHead === this.queue.length) {
      this.queue.length = 0;
      this.qHead = 0;
    } else if (this.qHead >= 1024) {
      this.queue.splice(0, this.qHead);
      this.qHead = 0;
    }
    if (moved && w.publish()) this.bell();
    return moved;
  }

  /** Ask the consumer for a doorbell while frames wait for space (re-checking the space after asking). */
  private waitForSpace(): void {
    const w = this.out;
    if (!w) return;
    while (this.qHead < this.queue.length) {
      if (w.waitForSpace()) return;
      this.flushQueue();
    }
    w.stopWaiting();
  }

  private bell(): void {
    if (this.closed) return;
    this.hooks.counters.bells++;
    this.hooks.bell();
  }

  // ---- receiving and progress ------------------------------------------------------------

  /** Progress is about to poll: producers need not ring us. */
  wake(): void {
    if (this.inOn) this.inRing!.wake();
  }

  /** Drain the inbound ring and flush the outbound queue once; returns whether anything moved. */
  poll(): boolean {
    if (this.closed) return false;
    let moved = this.flushQueue();
    if (moved) this.waitForSpace();
    if (this.inOn && !this.hooks.paused()) moved = this.drain() || moved;
    return moved;
  }

  /** Going back to the event loop: publish SLEEPING, and drain what that re-check reveals. */
  settle(): void {
    if (this.closed || !this.inOn) return;
    while (!this.hooks.paused() && !this.inRing!.sleep()) {
      if (!this.drain() || this.closed) break;
    }
  }

  /** Feed what the peer published to the frame reader. */
  private drain(): boolean {
    const r = this.inRing;
    if (!r || this.draining || this.closed) return false;
    this.draining = true;
    let moved = false;
    try {
      for (let n = r.available(); n > 0; n = r.available()) {
        // The frames' payloads are copied out by their sinks before push returns.
        const at = r.at;
        const first = Math.min(n, r.capacity - at);
        this.reader.pushRange(r.area, at, at + first);
        if (n > first && !this.closed) this.reader.pushRange(r.area, 0, n - first);
        moved = true;
        if (this.closed) break;
        if (r.release(n)) this.bell();
        if (this.hooks.paused()) break;
      }
    } catch (err) {
      this.hooks.corrupt(err as Error);
    } finally {
      this.draining = false;
    }
    return moved;
  }

  /** Before a BYE or the socket's close is acted on: take in every frame the peer sent before it. */
  drainAll(): void {
    if (this.closed || !this.inOn) return;
    this.drain();
  }

  // ---- teardown --------------------------------------------------------------------------

  private dropOut(): void {
    if (this.outSeg) unmapShmSegment(this.outSeg);
    this.outSeg = null;
    this.out = null;
  }

  /**
   * The link is gone: fail what is still queued, remove both names (a peer that died before
   * mapping ours, or after creating its own, leaves them behind) and unmap. Nothing touches the
   * mappings afterwards.
   */
  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    const e = err ?? new MessagingError(ErrorCode.PEER_LOST, `the connection to rank ${this.opts.peer} closed`);
    const pending = this.queue.slice(this.qHead);
    this.queue.length = 0;
    this.qHead = 0;
    this.reader.abort(e);
    unlinkShmSegment(this.opts.outName);
    unlinkShmSegment(this.opts.inName);
    untrackName(this.opts.outName);
    this.dropOut();
    if (this.inSeg) unmapShmSegment(this.inSeg);
    this.inSeg = null;
    this.inRing = null;
    this.inOn = false;
    this.hooks.closed();
    this.settleOut();
    for (const q of pending) q.cb?.(e);
  }
}

