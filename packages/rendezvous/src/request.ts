// Requests: the handle of a non-blocking operation. Awaitable, and pollable with test().
// The promise is created only when someone awaits, so an un-awaited request that fails does
// not become an unhandled rejection (as with MPI, its error surfaces at test()/wait()).

/** Result of a completed receive. */
export interface Status {
  /** Rank (in the receiving communicator) that sent the message. */
  source: number;
  tag: number;
  /** Bytes received. */
  bytes: number;
}

type Settle<T> = { ok: true; value: T } | { ok: false; error: Error };

/** A pending operation. `await req` gives its result; `req.test()` polls without blocking. */
export class Request<T = void> implements PromiseLike<T> {
  // Stored untyped so that a Request<Sub> is usable where a Request<Super> is expected.
  private outcome: Settle<unknown> | null = null;
  private waiters: Array<(s: Settle<unknown>) => void> = [];
  private onSettle: (() => void) | null;

  /** @internal */
  constructor(onSettle: (() => void) | null = null) {
    this.onSettle = onSettle;
  }

  /** True once the operation completed; throws the operation's error if it failed. */
  test(): boolean {
    if (!this.outcome) return false;
    if (!this.outcome.ok) throw this.outcome.error;
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

  /** A promise of the result. */
  wait(): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const deliver = (s: Settle<unknown>) => (s.ok ? resolve(s.value as T) : reject(s.error));
      if (this.outcome) deliver(this.outcome);
      else this.waiters.push(deliver);
    });
  }

  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: any) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.wait().then(onfulfilled, onrejected);
  }

  /** @internal */
  resolve(value: T): void {
    this.settle({ ok: true, value });
  }

  /** @internal */
  reject(error: Error): void {
    this.settle({ ok: false, error });
  }

  private settle(s: Settle<unknown>): void {
    if (this.outcome) return;
    this.outcome = s;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w(s);
    const cb = this.onSettle;
    this.onSettle = null;
    cb?.();
  }
}

/** Wait for every request; rejects with the first failure after all have settled. */
export async function waitAll<T>(reqs: Iterable<Request<T> | PromiseLike<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(Array.from(reqs, (r) => Promise.resolve(r)));
  const failed = settled.find((s) => s.status === "rejected") as PromiseRejectedResult | undefined;
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
