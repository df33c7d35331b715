// Requests: the handle of a non-blocking operation. Awaitable, and pollable with test().
// The promise is created only when someone awaits, so an un-awaited request that fails does
// not become an unhandled rejection (as with MPI, its error surfaces at test()/wait()).

import { ANY_SOURCE, ANY_TAG } from "./constants.js";
import { ErrorCode, MessagingError } from "./errors.js";
import { failedUnobserved } from "./unobserved.js";
import { userFacing } from "./user-stack.js";
import { block, NO_COMM, NO_PEER, unblock, type BlockedCall } from "./blocked-calls.js";
import { checkWaitOptions, within, type WaitOptions } from "./wait-options.js";

/** A typed-array class (Float64Array, Int32Array, …) or anything with BYTES_PER_ELEMENT. */
export interface ElementType {
  readonly BYTES_PER_ELEMENT: number;
  readonly name?: string;
}

/** Result of a completed receive or probe. */
export class Status {
  constructor(
    /** Rank (in the receiving communicator) that sent the message. */
    readonly source: number,
    readonly tag: number,
    /** Bytes received (or, for a probe, announced). */
    readonly bytes: number,
  ) {}

  /**
   * Elements of `type` the message holds (MPI_Get_count), e.g. `status.count(Float64Array)`.
   * Throws `ERR_COUNT` when the bytes are not a whole number of elements.
   */
  count(type: ElementType): number {
    const size = (type as { BYTES_PER_ELEMENT?: unknown } | null)?.BYTES_PER_ELEMENT;
    if (typeof size !== "number" || !Number.isInteger(size) || size <= 0) {
      throw new MessagingError(ErrorCode.INVALID_ARG, `status.count: pass a typed-array class such as Float64Array (something with a positive BYTES_PER_ELEMENT)`);
    }
    if (this.bytes % size !== 0) {
      throw new MessagingError(ErrorCode.COUNT, `status.count: ${this.bytes} bytes are not a whole number of ${type.name ?? `${size}-byte`} elements (${size} bytes each)`, { actual: this.bytes });
    }
    return this.bytes / size;
  }
}

type Settle<T> = { ok: true; value: T } | { ok: false; error: Error };

/** A pending operation. `await req` gives its result; `req.test()` polls without blocking. */
export class Request<T = void> implements PromiseLike<T> {
  // Stored untyped so that a Request<Sub> is usable where a Request<Super> is expected.
  private outcome: Settle<unknown> | null = null;
  /** Made on the first waiter beyond the first promise's: most requests of a ping-pong have none. */
  private waiters: Array<(s: Settle<unknown>) => void> | null = null;
  /** The first promise's resolve and reject (a ping-pong's one waiter: no closure, no array). */
  private res: ((v: unknown) => void) | null = null;
  private rej: ((e: Error) => void) | null = null;
  private onSettle: (() => void) | null;
  /** Applied to the value on resolve (see {@link retype}): maps without a second request. */
  private transform: ((v: never) => unknown) | null = null;
  /**
   * @internal Set on receives and probes while they can be withdrawn: takes the operation out of
   * matching and rejects the request with `err` if it has not matched yet (true), else false.
   */
  withdraw: ((err: Error) => boolean) | null = null;
  /** @internal Someone asked for its outcome (wait(), await, or test() that threw). */
  observed = false;
  private text: string | null = null;
  /** What the program started, as `describe` parts: the label is built only when it is read. */
  private op: string | null = null;
  private opPeer = 0;
  private opTag = 0;

  /** @internal What the program started (e.g. "isend to rank 1, tag 5"), set on requests handed to it; reported if it fails unobserved. */
  get label(): string | null {
    return this.text ?? (this.op === null ? null : describeOp(this.op, this.opPeer, this.opTag));
  }

  set label(text: string | null) {
    this.text = text;
    this.op = null;
  }

  /** @internal Label it as {@link describeOp}(op, peer, tag) would, without building the string now. */
  labelAs(op: string, peer: number, tag: number): this {
    this.op = op;
    this.opPeer = peer;
    this.opTag = tag;
    return this;
  }

  private get labelled(): boolean {
    return this.text !== null || this.op !== null;
  }

  /** @internal */
  constructor(onSettle: (() => void) | null = null) {
    this.onSettle = onSettle;
  }

  /** True once the operation completed; throws the operation's error if it failed. */
  test(): boolean {
    if (!this.outcome) return false;
    if (!this.outcome.ok) {
      this.observed = true;
      throw this.outcome.error;
    }
    return true;
  }

  /** The result, once {@link test} returned true (undefined before). */
  get result(): T | undefined {
    return this.outcome?.ok ? (this.outcome.value as T) : undefined;
  }

  /** Whether the operation has finished, successfully or not. */
  get done(): boolean {
    return this.outcome !== null;
  }

  /** @internal Its error, once it failed. */
  get failure(): Error | undefined {
    return this.outcome && !this.outcome.ok ? this.outcome.error : undefined;
  }

  /** @internal Whether it settled successfully (false while pending). */
  get succeeded(): boolean {
    return this.outcome?.ok === true;
  }

  /** @internal Call `cb` once it has settled (at once if it has), without making a promise. */
  whenSettled(cb: () => void): void {
    if (this.outcome) cb();
    else (this.waiters ??= []).push(cb);
  }

  /**
   * A promise of the result. With `{ timeout }` (ms) or `{ signal }` the wait is bounded: it
   * rejects with ERR_TIMEOUT, or an AbortError (code ABORT_ERR). A receive that had not matched
   * yet is then withdrawn (the request fails with that error and its message stays for the next
   * receive); one that had matched completes as usual. Any other operation (a send, a
   * collective) goes on: only this promise gives up, the buffers stay held until it is done.
   */
  wait(opts?: WaitOptions): Promise<T> {
    this.observed = true;
    const done = this.outcome;
    if (done) return done.ok ? Promise.resolve(done.value as T) : Promise.reject(done.error);
    const p = new Promise<T>((resolve, reject) => {
      if (this.res === null) {
        this.res = resolve as (v: unknown) => void;
        this.rej = reject;
      } else (this.waiters ??= []).push((s: Settle<unknown>) => (s.ok ? resolve(s.value as T) : reject(s.error)));
    });
    if (opts === undefined) return p;
    let o: WaitOptions | undefined;
    try {
      o = checkWaitOptions(opts, "wait");
    } catch (err) {
      p.catch(() => {});
      return Promise.reject(err);
    }
    return o ? userFacing(this.bounded(p, o, "wait")) : p;
  }

  /** @internal `p` (this request's promise) bounded by `o`; `what` names the call in errors. */
  bounded(p: Promise<T>, o: WaitOptions, what: string): Promise<T> {
    return within(p, o, what, (err) => {
      if (!this.withdraw) return true; // the operation goes on; only this wait gives up
      this.withdraw(err); // withdrawn: the request now fails with err; matched: it completes
      return false;
    });
  }

  /**
   * Cancel a receive (or probe) that has not matched yet (MPI_Cancel): returns true and the
   * request fails with ERR_CANCELLED, its message left for the next receive. Returns false when
   * it has already matched or completed, and always for sends (a send cannot be taken back once
   * posted; it completes or fails on its own).
   */
  cancel(): boolean {
    if (this.outcome || !this.withdraw) return false;
    return this.withdraw(new MessagingError(ErrorCode.CANCELLED, "receive cancelled with req.cancel() before it matched"));
  }

  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    // Done and succeeded: nothing to wait for, nothing to re-stack (no registry record, no async hop).
    if (this.outcome?.ok) return Promise.resolve(this.outcome.value as T).then(onfulfilled, onrejected);
    const blocked = this.done ? undefined : block("await request", NO_COMM, NO_PEER, -1, 0, this);
    return userFacing(this.wait(), blocked).then(onfulfilled, onrejected);
  }

  /**
   * @internal This request, its value mapped by `f` (which must not throw) when it resolves: the
   * cheap form of {@link mapRequest} for a request nobody else reads the value of.
   */
  retype<B>(f: (v: T) => B): Request<B> {
    const self = this as unknown as Request<B>;
    if (this.outcome) {
      if (this.outcome.ok) this.outcome = { ok: true, value: f(this.outcome.value as T) };
      return self;
    }
    self.transform = f as (v: never) => unknown;
    return self;
  }

  /** @internal */
  resolve(value: T): void {
    const f = this.transform;
    if (f === null) this.settle({ ok: true, value });
    else {
      this.transform = null;
      this.settle({ ok: true, value: (f as (v: T) => unknown)(value) });
    }
  }

  /** @internal */
  reject(error: Error): void {
    this.settle({ ok: false, error });
  }

  private settle(s: Settle<unknown>): void {
    if (this.outcome) return;
    this.outcome = s;
    this.withdraw = null;
    this.transform = null;
    if (!s.ok && this.labelled && !this.observed) failedUnobserved(this);
    const res = this.res;
    if (res !== null) {
      const rej = this.rej!;
      this.res = this.rej = null;
      if (s.ok) res(s.value);
      else rej(s.error);
    }
    const ws = this.waiters;
    if (ws !== null) {
      this.waiters = null;
      for (let i = 0; i < ws.length; i++) ws[i]!(s);
    }
    const cb = this.onSettle;
    this.onSettle = null;
    cb?.();
  }
}

/** Wait for every request; rejects with the first failure after all have settled. */
export function waitAll<T>(reqs: Iterable<Request<T> | PromiseLike<T>>): Promise<T[]> {
  const list = Array.from(reqs);
  for (let i = 0; i < list.length; i++) if (!(list[i] instanceof Request)) return waitAllSettled(list);
  return waitAllRequests(list as Array<Request<T>>);
}

/**
 * Requests only (the common case): no promise per request. Each one still pending is listed in
 * the hang registry as an awaited request (as `await req` lists it) until it settles.
 */
function waitAllRequests<T>(list: Array<Request<T>>): Promise<T[]> {
  let left = 0;
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    r.observed = true;
    if (!r.done) left++;
  }
  if (left === 0) return outcomes(list);
  return userFacing(
    new Promise<T[]>((resolve, reject) => {
      const one = (rec: BlockedCall) => () => {
        unblock(rec);
        if (--left === 0) outcomes(list).then(resolve, reject);
      };
      for (let i = 0; i < list.length; i++) {
        const r = list[i]!;
        if (!r.done) r.whenSettled(one(block("await request", NO_COMM, NO_PEER, -1, 0, r)));
      }
    }),
  );
}

/** The values of settled requests `list`, or the first one's error. */
function outcomes<T>(list: ReadonlyArray<Request<T>>): Promise<T[]> {
  const out = new Array<T>(list.length);
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    const e = r.failure;
    if (e !== undefined) return userFacing(Promise.reject(e));
    out[i] = r.result as T;
  }
  return Promise.resolve(out);
}

async function waitAllSettled<T>(list: Array<Request<T> | PromiseLike<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(list.map((r) => Promise.resolve(r)));
  const failed = settled.find((s) => s.status === "rejected") as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

// ---- request sets (MPI_Waitany, MPI_Testany, MPI_Waitsome, MPI_Testall) ----------------------
//
// A request whose outcome one of these functions reported (its value, or its error) is replaced
// by `null` in the caller's array — MPI_REQUEST_NULL, as mpi4py does — so later calls on the
// same array never report it again. `null` entries are skipped. testAll reports no values and
// leaves the array as it is (read each value with `await req` or `req.result`).

/** A request's position in the array it was given in, and its result. */
export interface Completed<T> {
  index: number;
  value: T;
}

/** Index returned by {@link waitAny} when the array holds no active request (MPI_UNDEFINED). */
export const UNDEFINED = -1;

type Slot<T> = Request<T> | null | undefined;

function checkArray(reqs: unknown, what: string): void {
  if (!Array.isArray(reqs)) throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: expected an array of requests (null entries allowed), got ${reqs === null ? "null" : typeof reqs}`);
  for (let i = 0; i < reqs.length; i++) {
    const r = reqs[i] as unknown;
    if (r !== null && r !== undefined && !(r instanceof Request)) throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: entry ${i} is not a Request (nor null)`);
  }
}

/** Take the outcome of done request `i` out of the array: its value, or throw its error. */
function report<T>(reqs: Array<Slot<T>>, i: number): Completed<T> {
  const r = reqs[i]!;
  reqs[i] = null;
  r.test(); // throws the operation's error
  return { index: i, value: r.result as T };
}

function firstDone<T>(reqs: ReadonlyArray<Slot<T>>): number {
  for (let i = 0; i < reqs.length; i++) if (reqs[i]?.done) return i;
  return UNDEFINED;
}

/** Resolve once any active request of `reqs` has settled. */
function anySettled<T>(reqs: ReadonlyArray<Slot<T>>): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const r of reqs) r?.whenSettled(resolve);
  });
}

/**
 * Wait until one of `reqs` completes and report it (MPI_Waitany): the lowest index among those
 * done. Its slot becomes `null`. Rejects with the request's error if it failed (its slot is
 * cleared too). With no active request it resolves at once with `index` {@link UNDEFINED}.
 */
export async function waitAny<T>(reqs: Array<Request<T> | null>): Promise<Completed<T>> {
  checkArray(reqs, "waitAny");
  if (!reqs.some((r) => r)) return { index: UNDEFINED, value: undefined as T };
  let i = firstDone(reqs);
  if (i === UNDEFINED) {
    await anySettled(reqs);
    i = firstDone(reqs);
  }
  return report(reqs, i);
}

/** The first (lowest-index) completed request of `reqs`, reported and cleared, or null if none is done (MPI_Testany). Throws a failed one's error. */
export function testAny<T>(reqs: Array<Request<T> | null>): Completed<T> | null {
  checkArray(reqs, "testAny");
  const i = firstDone(reqs);
  return i === UNDEFINED ? null : report(reqs, i);
}

/**
 * Wait until at least one of `reqs` completes, then report every one that is done, in index
 * order (MPI_Waitsome); their slots become `null`. If one of them failed, rejects with the
 * first failure's error and clears only that one (the others are reported by the next call).
 * With no active request it resolves with an empty array.
 */
export async function waitSome<T>(reqs: Array<Request<T> | null>): Promise<Array<Completed<T>>> {
  checkArray(reqs, "waitSome");
  if (!reqs.some((r) => r)) return [];
  if (firstDone(reqs) === UNDEFINED) await anySettled(reqs);
  return reportDone(reqs);
}

/** Like {@link waitSome} without waiting: what is done now (possibly nothing). */
export function testSome<T>(reqs: Array<Request<T> | null>): Array<Completed<T>> {
  checkArray(reqs, "testSome");
  return reportDone(reqs);
}

function reportDone<T>(reqs: Array<Slot<T>>): Array<Completed<T>> {
  const failed = reqs.findIndex((r) => r?.done && !r.succeeded);
  if (failed >= 0) report(reqs, failed); // throws
  const out: Array<Completed<T>> = [];
  for (let i = 0; i < reqs.length; i++) if (reqs[i]?.done) out.push(report(reqs, i));
  return out;
}

/**
 * True when every active request of `reqs` has completed (MPI_Testall); throws the error of the
 * first that failed. Reports no values and leaves the array unchanged.
 */
export function testAll(reqs: ReadonlyArray<Request<unknown> | null>): boolean {
  checkArray(reqs, "testAll");
  let all = true;
  for (const r of reqs) if (r && !r.test()) all = false;
  return all;
}

/** @internal A request settling as `inner` does, with its value mapped by `f` (no promise made). */
export function mapRequest<A, B>(inner: Request<A>, f: (a: A) => B): Request<B> {
  const out = new Request<B>();
  if (inner.withdraw) out.withdraw = (err) => inner.withdraw!(err);
  inner.whenSettled(() => {
    try {
      inner.test();
      out.resolve(f(inner.result as A));
    } catch (e) {
      out.reject(e as Error);
    }
  });
  return out;
}

/** A label such as "isend to rank 1, tag 5" or "irecv from any rank, tag any". */
export function describeOp(op: string, peer: number, tag: number): string {
  const towards = op === "isend" || op === "issend" || op === "send" || op === "ssend" ? "to" : op === "probe" ? "for" : "from";
  const who = peer === ANY_SOURCE ? "any rank" : `rank ${peer}`;
  return `${op} ${towards} ${who}, tag ${tag === ANY_TAG ? "any" : tag}`;
}
