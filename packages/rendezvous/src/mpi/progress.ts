// Everything onecopy does with MPI point-to-point, on its own communicator (a dup of
// MPI_COMM_WORLD with MPI_ERRORS_RETURN), from the main thread (MPI_THREAD_FUNNELED):
//
//   control stream   each remote peer's frames travel as MPI messages on CONTROL_TAG, in order
//                    (MPI never reorders messages of one pair, tag and communicator, so
//                    non-overtaking holds); they are found with MPI_Improbe(ANY_SOURCE) and
//                    received with MPI_Mrecv at their exact size.
//   data             a large message moves with one MPI_Isend from the sender's buffers into one
//                    MPI_Irecv posted on the receiver's buffers (no copy by onecopy), on a tag
//                    of its own (dataTag).
//
// Completion: one MPI_Testsome over every pending request (one pass of the library's progress
// engine, where an MPI_Test per request would run it once each).
//
// Progress is adaptive: while MPI requests are pending it polls on every event-loop turn
// (setImmediate); for a short spin window after an operation is posted or an MPI event it does
// the same; while onecopy operations are pending and the host's ranks fit its CPUs (the spinning
// rule) it keeps doing so, because MPI has no doorbell: a timer between polls is the latency of
// every message from another node (a 2 ms window then 1–4 ms timers gave 6.5 ms per half round
// trip). Otherwise it backs off to timers (1 ms doubling to 4 ms while onecopy operations are
// pending — oversubscribed ranks must not take a CPU a peer needs — to 50 ms when idle, unref'd). An MPI error (MPI_ERRORS_RETURN) fails the request's
// owner, who turns it into ERR_PEER_LOST.
import { performance } from "node:perf_hooks";
import { readKnob } from "@onecopy/cma";
import { ErrorCode, MessagingError } from "../errors.js";
import type { Handle, LibMpi } from "./binding.js";
import { postWithType } from "./datatype.js";

/** The tag of the control stream. */
export const CONTROL_TAG = 0;

/** What a pending request's owner learns when it completes. */
type Done = (err?: Error) => void;

interface PendingOp {
  slot: Buffer;
  /** Memory the request reads or writes: kept reachable until it completes. */
  keep: unknown;
  done: Done;
}

/** Counters of what went through libmpi. */
export interface MpiCounters {
  controlMessages: number;
  controlBytes: number;
  sentBytes: number;
  collectiveBytes: number;
}

export interface MpiProgressOptions {
  mpi: LibMpi;
  comm: Handle;
  /** Operations of the engine still pending (progress keeps polling quickly while there are). */
  busy(): boolean;
  counters: MpiCounters;
  /** A control message (its bytes) arrived from `src`. */
  control(src: number, bytes: Buffer): void;
  /** Improbe itself failed: nothing more can be received. */
  broken(err: Error): void;
  /** Spin window after a kick, in µs (ONECOPY_MPI_SPIN_US, default 2000). */
  spinUs?: number;
  /** Poll on every turn while busy(): this host's ranks fit its CPUs. */
  spinWhileBusy?: boolean;
}

const BUSY_BACKOFF_MAX_MS = 4;
const IDLE_BACKOFF_MAX_MS = 50;
const EMPTY = Buffer.alloc(0);

export class MpiProgress {
  private readonly ops: PendingOp[] = [];
  private readonly flag = new Int32Array(1);
  private readonly count = new Int32Array(1);
  private readonly status: Buffer;
  private readonly message: Buffer;
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private backoffMs = 1;
  private spinUntil = 0;
  private readonly spinMs: number;
  private stopped = false;

  constructor(private readonly o: MpiProgressOptions) {
    this.status = Buffer.alloc(o.mpi.abi.statusBytes);
    this.message = o.mpi.handleSlot();
    this.spinMs = (o.spinUs ?? readKnob("mpiSpinUs")) / 1000;
  }

  get pending(): number {
    return this.ops.length;
  }

  /** Post MPI_Isend of the io list `iov` (absolute addresses) to `dest` with `tag`. */
  isend(dest: number, tag: number, iov: readonly number[], bytes: number, keep: unknown, done: Done): void {
    const { fn } = this.o.mpi;
    const slot = this.o.mpi.handleSlot();
    const rc = postWithType(this.o.mpi, iov, (buf, count, type) => fn.MPI_Isend(buf, count, type, dest, tag, this.o.comm, slot));
    if (rc !== 0) return done(this.failure("MPI_Isend", rc));
    this.o.counters.sentBytes += bytes;
    this.track({ slot, keep, done });
  }

  /** Post MPI_Irecv into the io list `iov` from `src` with `tag`. */
  irecv(src: number, tag: number, iov: readonly number[], keep: unknown, done: Done): void {
    const { fn } = this.o.mpi;
    const slot = this.o.mpi.handleSlot();
    const rc = postWithType(this.o.mpi, iov, (buf, count, type) => fn.MPI_Irecv(buf, count, type, src, tag, this.o.comm, slot));
    if (rc !== 0) return done(this.failure("MPI_Irecv", rc));
    this.track({ slot, keep, done });
  }

  /** Post any non-blocking MPI call: `post(requestSlot)` returns its code; `done` runs when it completes. */
  request(call: string, post: (slot: Buffer) => number, keep: unknown, done: Done): void {
    const slot = this.o.mpi.handleSlot();
    const rc = post(slot);
    if (rc !== 0) return done(this.failure(call, rc));
    this.track({ slot, keep, done });
  }

  /** Send one control message (its bytes are ours: copied already). */
  sendControl(dest: number, bytes: Buffer, done: Done): void {
    const { fn, abi } = this.o.mpi;
    const slot = this.o.mpi.handleSlot();
    const rc = fn.MPI_Isend(bytes.length ? bytes : null, bytes.length, abi.BYTE, dest, CONTROL_TAG, this.o.comm, slot);
    if (rc !== 0) return done(this.failure("MPI_Isend", rc));
    this.o.counters.sentBytes += bytes.length;
    this.track({ slot, keep: bytes, done });
  }

  private track(op: PendingOp): void {
    this.ops.push(op);
    this.kick();
  }

  private failure(call: string, rc: number): MessagingError {
    return new MessagingError(ErrorCode.MPI, `${call} failed: ${this.o.mpi.errorString(rc)} (MPI error ${rc})`);
  }

  /** Poll soon and keep polling quickly for the spin window (an operation was posted). */
  kick(): void {
    if (this.stopped) return;
    this.spinUntil = performance.now() + this.spinMs;
    this.backoffMs = 1;
    if (this.immediate) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.immediate = setImmediate(this.tick);
  }

  private readonly tick = (): void => {
    this.immediate = null;
    this.timer = null;
    if (this.stopped) return;
    const events = this.poll();
    const now = performance.now();
    if (events > 0) this.spinUntil = now + this.spinMs;
    if (this.ops.length > 0 || now < this.spinUntil || (this.o.spinWhileBusy && this.o.busy())) {
      this.backoffMs = 1;
      this.immediate = setImmediate(this.tick);
      return;
    }
    const cap = this.o.busy() ? BUSY_BACKOFF_MAX_MS : IDLE_BACKOFF_MAX_MS;
    this.backoffMs = Math.min(this.backoffMs * 2, cap);
    this.timer = setTimeout(this.tick, this.backoffMs);
    this.timer.unref();
  };

  /** One round: receive every control message that is here, test every request. Returns the events seen. */
  poll(): number {
    const { fn, abi } = this.o.mpi;
    let events = 0;
    for (;;) {
      const rc = fn.MPI_Improbe(abi.ANY_SOURCE, CONTROL_TAG, this.o.comm, this.flag, this.message, this.status);
      if (rc !== 0) {
        this.stop();
        this.o.broken(this.failure("MPI_Improbe", rc));
        return events;
      }
      if (this.flag[0] === 0) break;
      const src = this.status.readInt32LE(abi.statusSource);
      fn.MPI_Get_count(this.status, abi.BYTE, this.count);
      const n = this.count[0]!;
      const buf = n > 0 ? Buffer.allocUnsafe(n) : EMPTY;
      const mrc = fn.MPI_Mrecv(n > 0 ? buf : null, n, abi.BYTE, this.message, this.status);
      if (mrc !== 0) {
        this.stop();
        this.o.broken(this.failure("MPI_Mrecv", mrc));
        return events;
      }
      this.o.counters.controlMessages++;
      this.o.counters.controlBytes += n;
      events++;
      this.o.control(src, buf);
    }
    const ops = this.ops;
    const n = ops.length;
    if (n === 0) return events;
    const hb = abi.handleBytes;
    const sb = abi.statusSize;
    this.reserve(n);
    for (let i = 0; i < n; i++) ops[i]!.slot.copy(this.requests, i * hb, 0, hb);
    const rc = fn.MPI_Testsome(n, this.requests, this.count, this.indices, this.statuses);
    const out = this.count[0]!;
    if (out === abi.UNDEFINED || out === 0) {
      if (rc !== 0) {
        // No request was named (a failure of the call itself): every pending one fails.
        const err = this.failure("MPI_Testsome", rc);
        for (const op of ops.splice(0)) op.done(err);
        return events + n;
      }
      return events;
    }
    const finished: Array<[PendingOp, Error | undefined]> = [];
    const done = new Uint8Array(n);
    for (let k = 0; k < out; k++) {
      const i = this.indices[k]!;
      done[i] = 1;
      const code = rc === 0 ? 0 : this.statuses.readInt32LE(k * sb + abi.statusError);
      finished.push([ops[i]!, code === 0 ? undefined : this.failure("MPI request", code)]);
    }
    let kept = 0;
    for (let i = 0; i < n; i++) if (!done[i]) ops[kept++] = ops[i]!;
    ops.length = kept;
    for (const [op, err] of finished) {
      events++;
      op.done(err);
    }
    return events;
  }

  private requests = Buffer.alloc(0);
  private indices = new Int32Array(0);
  private statuses = Buffer.alloc(0);

  /** Room for `n` requests in the Testsome arrays. */
  private reserve(n: number): void {
    if (this.indices.length >= n) return;
    const cap = Math.max(64, 1 << Math.ceil(Math.log2(n)));
    this.requests = Buffer.alloc(cap * this.o.mpi.abi.handleBytes);
    this.indices = new Int32Array(cap);
    this.statuses = Buffer.alloc(cap * this.o.mpi.abi.statusSize);
  }

  /** Stop polling (before MPI_Finalize). */
  stop(): void {
    this.stopped = true;
    if (this.immediate) clearImmediate(this.immediate);
    if (this.timer) clearTimeout(this.timer);
    this.immediate = null;
    this.timer = null;
  }

  /** Poll until no request is pending or `ms` passed (the last control messages before MPI_Finalize). */
  drain(ms: number): void {
    const end = performance.now() + ms;
    while (this.ops.length > 0 && performance.now() < end) this.poll();
  }
}
