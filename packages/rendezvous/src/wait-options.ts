// Bounded waits: every blocking call and Request.wait() take `{ signal, timeout }` as their last
// argument. What happens to the operation when the wait gives up is the caller's choice (see
// `within`): a receive still unmatched is withdrawn, a send goes on holding its buffer.
import { ErrorCode, MessagingError } from "./errors.js";

/** How long a blocking call may wait: `timeout` in milliseconds, and/or an AbortSignal. */
export interface WaitOptions {
  /** Abort the wait when this signal fires: the call rejects with an AbortError (code ABORT_ERR). */
  signal?: AbortSignal;
  /** Give up after this many milliseconds: the call rejects with ERR_TIMEOUT. */
  timeout?: number;
}

/** An abort, shaped as Node's own (`name` "AbortError", `code` ABORT_ERR, `cause` the signal's reason). */
export class AbortError extends MessagingError {
  constructor(message: string, cause: unknown, rank?: number) {
    super(ErrorCode.ABORT_ERR, message, { cause, rank });
    this.name = "AbortError";
  }
}

/** `o` checked: undefined, or options with a valid signal and timeout; throws ERR_INVALID_ARG. */
export function checkWaitOptions(o: unknown, what: string): WaitOptions | undefined {
  if (o === undefined || o === null) return undefined;
  if (typeof o !== "object") throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: the last argument must be { signal?, timeout? } (got ${typeof o})`);
  const { signal, timeout } = o as WaitOptions;
  if (timeout !== undefined && (typeof timeout !== "number" || !(timeout >= 0) || timeout > 2 ** 31 - 1)) {
    throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: timeout ${String(timeout)} must be a number of milliseconds from 0 to ${2 ** 31 - 1}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: signal must be an AbortSignal`);
  }
  if (timeout === undefined && signal === undefined) return undefined;
  return o as WaitOptions;
}

export function timeoutError(what: string, ms: number, rank?: number): MessagingError {
  return new MessagingError(ErrorCode.TIMEOUT, `${what}: timed out after ${ms} ms`, { rank });
}

export function abortError(what: string, signal: AbortSignal, rank?: number): AbortError {
  return new AbortError(`${what}: the operation was aborted`, signal.reason, rank);
}

/**
 * `settled` bounded by `opts`. When the wait expires or is aborted, `giveUp(err)` decides: true
 * rejects the caller's promise with `err` now; false keeps following `settled` (e.g. a receive
 * that had already matched completes, or `giveUp` settled it itself).
 */
export function within<T>(settled: Promise<T>, opts: WaitOptions, what: string, giveUp: (err: Error) => boolean, rank?: number): Promise<T> {
  const { signal, timeout } = opts;
  if (signal?.aborted) {
    const err = abortError(what, signal, rank);
    return giveUp(err) ? Promise.reject(err) : settled;
  }
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let over = false;
    const finish = () => {
      over = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const expire = (err: Error) => {
      if (over) return;
      finish();
      if (giveUp(err)) reject(err);
      else settled.then(resolve, reject);
    };
    const onAbort = () => expire(abortError(what, signal!, rank));
    if (timeout !== undefined) timer = setTimeout(() => expire(timeoutError(what, timeout, rank)), timeout);
    signal?.addEventListener("abort", onAbort, { once: true });
    settled.then(
      (v) => {
        if (over) return;
        finish();
        resolve(v);
      },
      (e: unknown) => {
        if (over) return;
        finish();
        reject(e);
      },
    );
  });
}
