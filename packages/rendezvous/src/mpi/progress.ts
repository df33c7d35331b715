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
// engine, where an MPI_Test per request would run it once each). The requests live in one array
// that MPI writes into when they are posted and that MPI_Testsome reads as it is: posting or
// polling allocates and copies nothing per request.
//
// Progress is adaptive: while MPI requests are pending it polls on every event-loop turn
// (setImmediate); for a short spin window after an operation is posted or an MPI event it does
// the same; while onecopy operations are pending and the host's ranks fit its CPUs (the spinning
// rule) it keeps doing so (with a sched_yield after each poll that found nothing: on a loaded
// host the peer we wait for may be queued for our CPU), because MPI has no doorbell: a timer between polls is the latency of
// every message from another node (a 2 ms window then 1–4 ms timers gave 6.5 ms per half round
// trip). Otherwise it backs off to timers (1 ms doubling to 4 ms while onecopy operations are
// pending — oversubscribed ranks must not take a CPU a peer needs — to 50 ms when idle, unref'd). An MPI error (MPI_ERRORS_RETURN) fails the request's
// owner, who turns it into ERR_PEER_LOST.
import { performance } from "node:perf_hooks";
import { addressOf, readKnob, yieldCpu } from "@onecopy/cma";
import { ErrorCode, MessagingError } from "../errors.js";
import type { Handle, LibMpi } from "./binding.js";
import { postWithType } from "./datatype.js";

/** The tag of the control stream. */
export const CONTROL_TAG = 0;

/** What a pending request's owner learns when it completes. */
type Done = (err?: Error) => void;

/** A posted request, at the same index in `ops` as its handle in the request array. */
export interface PendingOp {
  /** Memory the request reads or writes: kept reachable until it completes. */
  keep: unknown;
  done: Done;
  /** Its owner gave up on it (the peer left without receiving it): drain() does not wait for it. */
  abandoned: boolean;
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
  /** sched_yield after a poll that found nothing, before polling again (ONECOPY_MPI_YIELD, default on). */
  yieldWhenIdle?: boolean;
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
  private readonly yieldWhenIdle: boolean;
  private stopped = false;

  /** The pending requests' handles, ops[i]'s at i (MPI writes them when posting). */
  private requests = Buffer.alloc(0);
  private requestsAt = 0;
  private indices = new Int32Array(0);
  private statuses = Buffer.alloc(0);

  constructor(private readonly o: MpiProgressOptions) {
    this.status = Buffer.alloc(o.mpi.abi.statusBytes);
    this.message = o.mpi.handleSlot();
    this.spinMs = (o.spinUs ?? readKnob("mpiSpinUs")) / 1000;
    this.yieldWhenIdle = o.yieldWhenIdle ?? readKnob("mpiYield");
    this.reserve(64);
  }

  get pending(): number {
    return this.ops.length;
  }

  /**
   * Post MPI_Isend of the io list `iov` (absolute addresses) to `dest` with `tag`; MPI_Issend
   * when `synchronous` (it completes only once the receive matched, even below MPI's eager limit).
   */
  isend(dest: number, tag: number, iov: readonly number[], bytes: number, keep: unknown, done: Done, synchronous = false): PendingOp | null {
    const { fn } = this.o.mpi;
    const call = synchronous ? fn.MPI_Issend : fn.MPI_Isend;
    const slot = this.nextSlot();
    const rc = postWithType(this.o.mpi, iov, (buf, count, type) => call(buf, count, type, dest, tag, this.o.comm, slot));
    if (rc !== 0) {
      done(this.failure(synchronous ? "MPI_Issend" : "MPI_Isend", rc));
      return null;
    }
    this.o.counters.sentBytes += bytes;
    return this.track(keep, done);
  }

  /** Post MPI_Irecv into the io list `iov` from `src` with `tag`. */
  irecv(src: number, tag: number, iov: readonly number[], keep: unknown, done: Done): void {
    const { fn } = this.o.mpi;
    const slot = this.nextSlot();
    const rc = postWithType(this.o.mpi, iov, (buf, count, type) => fn.MPI_Irecv(buf, count, type, src, tag, this.o.comm, slot));
    if (rc !== 0) return done(this.failure("MPI_Irecv", rc));
    this.track(keep, done);
  }

  /** Post any non-blocking MPI call: `post(requestSlot)` returns its code; `done` runs when it completes. */
  request(call: string, post: (slot: Buffer) => number, keep: unknown, done: Done): void {
    this.nextSlot();
    const hb = this.o.mpi.abi.handleBytes;
    const at = this.ops.length * hb;
    const rc = post(this.requests.subarray(at, at + hb));
    if (rc !== 0) return done(this.failure(call, rc));
    this.track(keep, done);
  }

  /** Send one control message (its bytes are ours: copied already). */
  sendControl(dest: number, bytes: Buffer, done: Done): void {
    const { fn, abi } = this.o.mpi;
    const slot = this.nextSlot();
    const rc = fn.MPI_Isend(bytes.length ? bytes : null, bytes.length, abi.BYTE, dest, CONTROL_TAG, this.o.comm, slot);
    if (rc !== 0) return done(this.failure("MPI_Isend", rc));
    this.o.counters.sentBytes += bytes.length;
    this.track(bytes, done);
  }

  /** Give up waiting for `op` (its request stays with MPI; drain() no longer waits for it; its owner is not told). */
  abandon(op: PendingOp): void {
    op.abandoned = true;
    op.done = () => {};
  }

  /** The address of the request slot the next post writes (room is made for it). */
  private nextSlot(): number {
    this.reserve(this.ops.length + 1);
    return this.requestsAt + this.ops.length * this.o.mpi.abi.handleBytes;
  }

  private track(keep: unknown, done: Done): PendingOp {
    const op: PendingOp = { keep, done, abandoned: false };
    this.ops.push(op);
    this.kick();
    return op;
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
      // Nothing came: let a runnable peer (or anyone) have this CPU before the next poll. On a
      // loaded host our peer may be queued for the CPU we spin on, and nothing comes until it runs.
      if (events === 0 && this.yieldWhenIdle) yieldCpu();
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
    return events + this.test();
  }

  /**
   * One MPI_Testsome over every pending request; completed ones leave the array and their owners
   * are told. Returns the requests completed. Safe to call from a control message's handler.
   */
  test(): number {
    const ops = this.ops;
    const n = ops.length;
    if (n === 0) return 0;
    const { fn, abi } = this.o.mpi;
    const hb = abi.handleBytes;
    const sb = abi.statusSize;
    const rc = fn.MPI_Testsome(n, this.requestsAt, this.count, this.indices, this.statuses);
    const out = this.count[0]!;
    if (out === abi.UNDEFINED || out === 0) {
      if (rc !== 0) {
        // No request was named (a failure of the call itself): every pending one fails.
        const err = this.failure("MPI_Testsome", rc);
        for (const op of ops.splice(0)) op.done(err);
        return n;
      }
      return 0;
    }
    const finished: Array<[PendingOp, Error | undefined]> = [];
    const done = new Uint8Array(n);
    for (let k = 0; k < out; k++) {
      const i = this.indices[k]!;
      done[i] = 1;
      const code = rc === 0 ? 0 : this.statuses.readInt32LE(k * sb + abi.statusError);
      finished.push([ops[i]!, code === 0 ? undefined : this.failure("MPI request", code)]);
    }
    // Close the gaps, in the request array as in `ops` (order kept: MPI tests them in order).
    let kept = 0;
    for (let i = 0; i < n; i++) {
      if (done[i]) continue;
      if (kept !== i) {
        ops[kept] = ops[i]!;
        this.requests.copyWithin(kept * hb, i * hb, (i + 1) * hb);
      }
      kept++;
    }
    ops.length = kept;
    for (const [op, err] of finished) op.done(err);
    return out;
  }

  /** Room for `n` requests in the request array and the Testsome arrays (pending handles kept). */
  private reserve(n: number): void {
    if (this.indices.length >= n) return;
    const cap = Math.max(64, 2 ** Math.ceil(Math.log2(n)));
    const { handleBytes, statusSize } = this.o.mpi.abi;
    const requests = Buffer.alloc(cap * handleBytes);
    this.requests.copy(requests, 0, 0, this.ops.length * handleBytes);
    this.requests = requests;
    this.requestsAt = addressOf(requests);
    this.indices = new Int32Array(cap);
    this.statuses = Buffer.alloc(cap * statusSize);
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
    while (this.ops.some((op) => !op.abandoned) && performance.now() < end) this.poll();
  }
}
