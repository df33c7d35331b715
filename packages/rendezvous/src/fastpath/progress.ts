// Adaptive progress, the spinning rule of onecopy: while this rank has a pending operation and
// the job's ranks fit the CPUs this process may run on, poll the inbound frame rings
// synchronously for up to the spin budget (ONECOPY_SPIN_US); then go back to the event loop
// and let the peers ring the doorbell. Oversubscribed ranks never spin: the peer we wait for may
// need this very CPU.
//
// A poll runs in a microtask after an operation is posted (so every operation of the current
// synchronous code is posted first) and after a doorbell. It stops as soon as an operation
// completes, so its promise continuation runs at once — no timer, no extra event-loop turn —
// and usually posts the next operation, which polls again.
//
// Between two polls the consumer flags stay RUNNING (peers need not ring us while we run JS);
// a setImmediate publishes SLEEPING before the event loop could block, re-checks the rings and
// drains what that reveals. setImmediate runs before the loop blocks in epoll (a pending
// immediate makes the poll phase not wait), so no wake-up is lost.
//
// The budget backs off: ranks that "fit" the CPUs may still share them with other work, and
// then a spin mostly times out (the peer is descheduled) while its CPU time pushes this rank
// back in the scheduler's queue. So the budget adapts: a spin that times out halves it, a spin
// that finds its completion doubles it (up to ONECOPY_SPIN_US); below an eighth of the maximum
// progress stops spinning for BACKOFF_WAITS waits, then tries once with the whole budget: found,
// it spins again; timed out, it backs off again at once. It tries only if the last wait it
// timed (from posting to completion, by doorbell) took at most twice the budget, i.e. a spin
// could have caught it: while a contended CPU makes waits long, it does not spin at all.
//
// Why the retry gets the whole budget: a rank that does not spin sleeps, so the peer's message
// to it rings its doorbell, and the answer comes a wake-up later (25-50 us on an idle VM). An
// eighth of the budget (12.5 us by default) never covers that, so a retry made while the peer
// backs off too always timed out, and the two ranks stayed on doorbells until their retries
// happened to coincide: the first few thousand iterations of a job (when cold code makes
// the first spins time out) cost 5-10x the steady state. The whole budget covers a wake-up, so
// one rank spinning again brings the other back with its next retry.
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";

/** What progress polls: a link's fast path, or a communicator's collective slots. */
export interface Pollable {
  /** Progress is about to poll: peers need not ring. */
  wake(): void;
  /** Look once; true when something moved. */
  poll(): boolean;
  /** Going back to the event loop: publish "sleeping", then re-check. */
  settle(): void;
}

/** What progress reads of the engine. */
export interface ProgressHost {
  readonly pendingOperations: number;
  /** Operations completed so far (any kind). */
  readonly completions: number;
}

/** The spinning rule's test: `ranks` processes sharing this host fit the CPUs this one may use. */
export function ranksFitCpus(ranks: number): boolean {
  return ranks <= availableParallelism();
}

/** The spin budget in µs for a job of `size` ranks: `spinUs` when they fit the CPUs, else 0. */
export function spinBudgetUs(size: number, spinUs: number): number {
  return ranksFitCpus(size) ? spinUs : 0;
}

const RESOLVED = Promise.resolve();

/** Waits without spinning, once the budget fell below an eighth, before it tries again. */
export const BACKOFF_WAITS = 64;

/** How long each wait may spin: the adaptive budget described above (no clock: the caller times the spin). */
export class SpinBudget {
  private budgetMs: number;
  private backoff = 0;
  /** The wait in progress is a retry after a backoff. */
  private retry = false;
  /** How long the last timed wait took (ms), while backing off. */
  private lastWaitMs = 0;

  constructor(private readonly maxMs: number) {
    this.budgetMs = maxMs;
  }

  /** A wait begins: milliseconds it may spin (0: poll once, then sleep). */
  next(): number {
    this.retry = false;
    if (this.backoff > 0) {
      if (--this.backoff > 0) return 0;
      if (this.lastWaitMs > 2 * this.maxMs) {
        this.backoff = BACKOFF_WAITS; // waits are long: a spin would not catch them
        return 0;
      }
      this.retry = true;
      this.budgetMs = this.maxMs;
    }
    return this.budgetMs;
  }

  /** Whether it is backing off (the caller then times its waits for {@link waited}). */
  get backingOff(): boolean {
    return this.backoff > 0;
  }

  /** A wait made without spinning took `ms` from its poll to its completion. */
  waited(ms: number): void {
    this.lastWaitMs = ms;
  }

  /** A spin found its completion. */
  found(): void {
    this.budgetMs = Math.min(this.maxMs, this.budgetMs * 2);
  }

  /** A spin used up its budget without a completion. */
  timedOut(): void {
    this.budgetMs /= 2;
    if (this.retry || this.budgetMs < this.maxMs / 8) {
      this.budgetMs = 0;
      this.backoff = BACKOFF_WAITS;
    }
  }
}

export class Progress {
  private readonly budget: SpinBudget;
  private readonly paths = new Set<Pollable>();
  private queued = false;
  private running = false;
  private settleQueued = false;
  /** While backing off: when the pending wait began (0: none timed), and the completions then. */
  private waitFrom = 0;
  private waitDone = 0;

  constructor(
    private readonly host: ProgressHost,
    spinUs: number,
  ) {
    this.budget = new SpinBudget(spinUs / 1000);
  }

  add(p: Pollable): void {
    this.paths.add(p);
  }

  remove(p: Pollable): void {
    this.paths.delete(p);
  }

  /** Poll soon (after the current synchronous code), if an operation is pending then. */
  kick(): void {
    this.timeWait(); // after a doorbell's poll (woken), the completion it brought is timed here
    if (this.queued || this.paths.size === 0) return;
    this.queued = true;
    // A microtask without Node's queueMicrotask, which makes an AsyncResource per call (~600
    // bytes, on every operation posted).
    void RESOLVED.then(this.run);
  }

  /** A timed wait (made while backing off) has completed: tell the budget how long it took. */
  private timeWait(): void {
    if (this.waitFrom > 0 && this.host.completions !== this.waitDone) {
      this.budget.waited(performance.now() - this.waitFrom);
      this.waitFrom = 0;
    }
  }

  private readonly run = (): void => {
    this.queued = false;
    if (this.running || this.host.pendingOperations === 0) return;
    this.running = true;
    try {
      const done = this.host.completions;
      this.timeWait();
      for (const p of this.paths) p.wake();
      const spinMs = this.budget.next();
      const start = spinMs > 0 ? performance.now() : 0;
      for (let spun = false; ; spun = true) {
        for (const p of this.paths) p.poll();
        if (this.host.completions !== done || this.host.pendingOperations === 0) {
          if (spun) this.budget.found();
          break;
        }
        if (spinMs <= 0) {
          if (this.waitFrom === 0 && this.budget.backingOff) {
            this.waitFrom = performance.now();
            this.waitDone = done;
          }
          break;
        }
        if (performance.now() - start >= spinMs) {
          this.budget.timedOut();
          break;
        }
      }
    } finally {
      this.running = false;
      this.settleSoon();
    }
  };

  private settleSoon(): void {
    if (this.settleQueued) return;
    this.settleQueued = true;
    setImmediate(this.settle);
  }

  private readonly settle = (): void => {
    this.settleQueued = false;
    for (const p of this.paths) p.settle();
  };
}
