// The shared-memory path to one peer: our ring towards it (we create and fill it) and its ring
// towards us (we map and drain it), driven by one progress loop.
//
// Progress: copy as much as the rings allow in both directions; while a ring is stalled and the
// peer is working on it right now (its flag says RUNNING, or RUNG: woken, starting), poll the
// counters for at most `spinUs`; otherwise (or then) set our flags to SLEEPING and return to the
// event loop — the peer rings the doorbell (a T.SHM frame on the pair's socket) when it moves a
// counter we sleep on. Ranks may outnumber cores, so no loop here polls for longer than that.
// A long transfer yields to the event loop every `sliceMs` so other peers and timers are served.
// Frames (PULLs, doorbells) only schedule progress in a microtask, so all frames of one socket
// read are taken in before the copying starts. Doorbells leave at once (the owner flushes T.SHM
// frames instead of batching them to the end of the tick): we keep copying or polling meanwhile,
// and a doorbell held back until then makes the two sides take turns instead of overlapping.
import { createShmSegment, unlinkShmSegment, unmapShmSegment, yieldCpu, type ShmSegment } from "@onecopy/cma";
import { performance } from "node:perf_hooks";
import { ViewWriter } from "../buffers.js";
import { ErrorCode, MessagingError } from "../errors.js";
import { SHM_OP, T, type ShmFrame } from "../frames.js";
import { IDLE, RUNNING, RingReader, RingWriter } from "./ring.js";
import { geometryOf, segmentBytes, segmentName, type Geometry } from "./segment-layout.js";

/** A message to stream through our ring (done when its last byte is in a cell), and where a received one goes. */
export type { OutgoingMessage as ShmSend, PullTarget as ShmRecvTarget } from "../movers/mover.js";
import type { OutgoingMessage as ShmSend, PullTarget as ShmRecvTarget } from "../movers/mover.js";
import { trackName, untrackName } from "./segment-names.js";
import { mapOffered } from "./map-offered.js";

/** What a channel needs from its owner. */
export interface ChannelHooks {
  /** Send a control frame to the peer at once. */
  frame(f: ShmFrame): void;
  /** The receive waiting for message `id` from the peer (removed from the owner's table). */
  take(id: number): ShmRecvTarget | undefined;
  /** Send a message over the socket instead (the ring cannot be used). */
  socket(s: ShmSend): void;
  /** Bytes of one message fully received through the ring; `cells` cells drained since last call. */
  received(bytes: number): void;
  cellDrained(): void;
  bellSent(): void;
  /** Report why the ring in one direction is unusable (called at most once per direction). */
  unusable(reason: string): void;
}

export interface ChannelOptions {
  rank: number;
  peer: number;
  jobKey: string;
  cells: number;
  cellSize: number;
  spinUs: number;
  sliceMs: number;
}

type OutState = "none" | "offered" | "ready" | "broken";

const DISCARD: ShmRecvTarget = { views: [], bytes: 0, finish() {}, fail() {} };

export class ShmChannel {
  private outState: OutState = "none";
  private out: RingWriter | null = null;
  private outSeg: ShmSegment | null = null;
  private inRing: RingReader | null = null;
  private inSeg: ShmSegment | null = null;
  /** The peer's ring could not be mapped: ask for socket transfers instead. */
  inBroken = false;
  /** Messages we asked the peer to send through its ring that have not fully arrived. */
  private expected = 0;
  private readonly queue: ShmSend[] = [];
  private qHead = 0;
  /** Copy cursor into queue[qHead]. */
  private piece = 0;
  private pieceOff = 0;
  private left = 0;
  /** The message being received, and the writer into its views. */
  private cur: ShmRecvTarget | null = null;
  private curId = 0;
  private curBytes = 0;
  private writer: ViewWriter | null = null;
  private busy = false;
  private yieldScheduled = false;
  private kickQueued = false;
  private closed = false;
  private readonly geometry: Geometry;

  constructor(
    private readonly opts: ChannelOptions,
    private readonly hooks: ChannelHooks,
  ) {
    this.geometry = geometryOf(opts.cells, opts.cellSize);
  }

  private get outName(): string {
    return segmentName(this.opts.jobKey, this.opts.rank, this.opts.peer);
  }

  private get inName(): string {
    return segmentName(this.opts.jobKey, this.opts.peer, this.opts.rank);
  }

  // ---- sending ---------------------------------------------------------------------------

  /** Stream `s` to the peer through our ring (set up on first use), or over the socket if the ring is unusable. */
  send(s: ShmSend): void {
    if (this.closed) {
      s.done(new MessagingError(ErrorCode.CLOSED, `send to rank ${this.opts.peer}: the shared-memory channel is closed`, { rank: this.opts.rank, peer: this.opts.peer }));
      return;
    }
    if (this.outState === "none") this.offer();
    if (this.outState === "broken") {
      this.hooks.socket(s);
      return;
    }
    this.queue.push(s);
    if (this.queue.length - this.qHead === 1) this.startJob();
    if (this.outState === "ready") this.kick();
  }

  private offer(): void {
    const g = this.geometry;
    try {
      this.outSeg = createShmSegment(this.outName, segmentBytes(g));
    } catch (err) {
      this.outState = "broken";
      this.hooks.unusable(`cannot create a shared-memory segment for rank ${this.opts.peer}: ${(err as Error).message}`);
      return;
    }
    trackName(this.outName);
    this.out = new RingWriter(this.outSeg, g);
    this.outState = "offered";
    this.hooks.frame({ t: T.SHM, o: SHM_OP.MAP, p: this.outName, k: g.cells, z: g.cellSize });
  }

  private onMapped(ok: boolean): void {
    if (this.outState !== "offered") return;
    // The consumer unlinks after mapping; unlinking again here covers a consumer that failed.
    unlinkShmSegment(this.outName);
    untrackName(this.outName);
    if (ok) {
      this.outState = "ready";
      this.kick();
      return;
    }
    this.outState = "broken";
    this.dropOut(); // the peer, which failed to map it, printed why
    const pending = this.queue.slice(this.qHead);
    this.queue.length = 0;
    this.qHead = 0;
    for (const s of pending) this.hooks.socket(s);
  }

  private startJob(): void {
    const s = this.queue[this.qHead]!;
    this.piece = 0;
    this.pieceOff = 0;
    this.left = s.bytes;
  }

  /** Fill free cells from the queue; returns cells published. */
  private produce(): number {
    const w = this.out;
    if (this.outState !== "ready" || !w) return 0;
    let n = 0;
    while (this.qHead < this.queue.length && w.space() > 0) {
      const s = this.queue[this.qHead]!;
      const cell = w.next();
      let at = 0;
      while (this.left > 0 && at < cell.byteLength) {
        const v = s.views[this.piece]!;
        const take = Math.min(v.byteLength - this.pieceOff, cell.byteLength - at, this.left);
        cell.set(this.pieceOff === 0 && take === v.byteLength ? v : v.subarray(this.pieceOff, this.pieceOff + take), at);
        at += take;
        this.left -= take;
        this.pieceOff += take;
        if (this.pieceOff === v.byteLength) {
          this.piece++;
          this.pieceOff = 0;
        }
      }
      const last = this.left === 0;
      if (w.publish(s.id, at, last)) this.bell();
      n++;
      if (last) {
        this.queue[this.qHead++] = undefined as unknown as ShmSend;
        if (this.qHead === this.queue.length) {
          this.queue.length = 0;
          this.qHead = 0;
        } else {
          if (this.qHead >= 1024) {
            this.queue.splice(0, this.qHead);
            this.qHead = 0;
          }
          this.startJob();
        }
        s.done();
      }
    }
    return n;
  }

  // ---- receiving -------------------------------------------------------------------------

  /**
   * We asked the peer (PULL with s: 1) to send one more message through its ring. Progress runs
   * once the current frames are handled: the first cells are about one socket hop away, and
   * polling for them (at most spinUs) saves the doorbell's wake-up.
   */
  expect(): void {
    this.expected++;
    if (this.inRing) this.kick();
  }

  private onMap(name: string, g: Geometry): void {
    const refused = sameGeometry(g, geometryOf(g.cells, g.cellSize)) ? null : `invalid geometry ${g.cells}×${g.cellSize}`;
    const m = mapOffered(name, this.inName, segmentBytes(g), refused, (seg) => RingReader.validate(seg, g));
    if (m.seg) {
      this.inSeg = m.seg;
      this.inRing = new RingReader(m.seg, g);
      this.hooks.frame({ t: T.SHM, o: SHM_OP.MAPPED, ok: true });
      return;
    }
    this.inBroken = true;
    this.hooks.frame({ t: T.SHM, o: SHM_OP.MAPPED, ok: false, r: m.reason });
    this.hooks.unusable(`cannot map rank ${this.opts.peer}'s shared-memory segment: ${m.reason}`);
  }

  /** Drain published cells into the receives they belong to; returns cells consumed. */
  private consume(): number {
    const r = this.inRing;
    if (!r) return 0;
    let n = 0;
    while (r.available() > 0) {
      const c = r.peek();
      if (this.cur === null || this.curId !== c.id) {
        this.cur = this.hooks.take(c.id) ?? DISCARD;
        this.curId = c.id;
        this.curBytes = 0;
        this.writer = this.cur === DISCARD ? null : new ViewWriter(this.cur.views);
      }
      if (this.writer && c.bytes > 0) this.writer.write(c.bytes === c.data.byteLength ? c.data : c.data.subarray(0, c.bytes));
      this.curBytes += c.bytes;
      const last = c.last;
      if (r.release()) this.bell();
      this.hooks.cellDrained();
      n++;
      if (last) {
        if (this.expected > 0) this.expected--;
        const t = this.cur;
        this.cur = null;
        this.writer = null;
        if (t !== DISCARD) {
          this.hooks.received(this.curBytes);
          t.finish();
        }
      }
    }
    return n;
  }

  // ---- progress --------------------------------------------------------------------------

  private bell(): void {
    if (this.closed) return;
    this.hooks.bellSent();
    this.hooks.frame({ t: T.SHM, o: SHM_OP.BELL });
  }

  /** Whether a stall is worth polling for: the peer is mid-transfer with us. */
  private sending(): boolean {
    return this.outState === "ready" && this.qHead < this.queue.length;
  }

  /**
   * Whether a stall is worth polling for: the peer is in its loop (or was just rung and is about
   * to be), so it will move the counter we wait on within microseconds. Polling a rung peer too
   * keeps both sides copying at once; without it they fall into lock-step (fill the ring, sleep,
   * drain it, sleep), paying a wake-up per ring.
   */
  private peerWorking(): boolean {
    if (this.sending() && this.out!.consumerAwake()) return true;
    return this.inRing !== null && this.inRing.producerAwake(this.expected > 0);
  }

  /** Run progress soon (after the frames of the current socket read are taken in). */
  private kick(): void {
    if (this.kickQueued) return;
    this.kickQueued = true;
    queueMicrotask(() => {
      this.kickQueued = false;
      this.progress();
    });
  }

  /** Move what can be moved now; see the file comment. */
  progress(): void {
    if (this.busy || this.closed) return;
    this.busy = true;
    try {
      this.inRing?.wake();
      if (this.outState === "ready") this.out!.setState(this.sending() ? RUNNING : IDLE);
      const start = performance.now();
      const spinMs = this.opts.spinUs / 1000;
      let idleSince = -1;
      for (;;) {
        const moved = this.produce() + this.consume();
        if (this.closed) return;
        const now = performance.now();
        if (moved > 0) {
          idleSince = -1;
          if (now - start > this.opts.sliceMs) {
            this.yieldSoon();
            return;
          }
          continue;
        }
        if (spinMs > 0 && this.peerWorking()) {
          if (idleSince < 0) idleSince = now;
          if (now - idleSince < spinMs) {
            yieldCpu(); // the peer we just woke may be queued on this CPU
            continue;
          }
        }
        // Going to sleep: publish it; if that reveals work, keep going.
        const inSleeps = this.inRing ? this.inRing.sleep() : true;
        let outSleeps = true;
        if (this.outState === "ready") {
          if (this.sending()) outSleeps = this.out!.sleep();
          else this.out!.setState(IDLE);
        }
        if (inSleeps && outSleeps) return;
        idleSince = -1;
      }
    } finally {
      this.busy = false;
    }
  }

  private yieldSoon(): void {
    if (this.yieldScheduled) return;
    this.yieldScheduled = true;
    setImmediate(() => {
      this.yieldScheduled = false;
      this.progress();
    });
  }

  /** Handle a T.SHM frame from the peer. */
  onFrame(f: ShmFrame): void {
    if (this.closed) return;
    switch (f.o) {
      case SHM_OP.BELL:
        this.kick();
        return;
      case SHM_OP.MAP:
        this.onMap(f.p, { cells: f.k, cellSize: f.z });
        return;
      case SHM_OP.MAPPED:
        this.onMapped(f.ok);
        return;
    }
  }

  // ---- teardown --------------------------------------------------------------------------

  private dropOut(): void {
    if (this.outSeg) unmapShmSegment(this.outSeg);
    this.outSeg = null;
    this.out = null;
  }

  /**
   * Stop for good: fail what is in flight with `err`, remove both segment names
   * (a peer that died before mapping ours, or after creating its own, leaves them behind) and
   * unmap. Nothing touches the mappings afterwards.
   */
  close(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    // A peer that left completed its sends when their last byte was in a cell: take in what
    // its ring still holds (our mapping outlives the peer) before failing what is incomplete.
    this.consume();
    const pending = this.queue.slice(this.qHead);
    this.queue.length = 0;
    this.qHead = 0;
    const cur = this.cur;
    this.cur = null;
    this.writer = null;
    unlinkShmSegment(this.outName);
    unlinkShmSegment(this.inName);
    untrackName(this.outName);
    this.dropOut();
    if (this.inSeg) unmapShmSegment(this.inSeg);
    this.inSeg = null;
    this.inRing = null;
    for (const s of pending) s.done(err);
    if (cur && cur !== DISCARD) cur.fail(err);
  }
}


function sameGeometry(a: Geometry, b: Geometry): boolean {
  return a.cells === b.cells && a.cellSize === b.cellSize;
}
