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
// progress stops spinning for BACKOFF_WAITS waits, then tries again with an eighth.
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

/** Waits without spinning, once the budget fell below an eighth, before it tries again. */
const BACKOFF_WAITS = 64;

export class Progress {
  /** The current spin budget (adapts between 0 and spinMs). */
  private budgetMs: number;
  private backoff = 0;
  private readonly paths = new Set<Pollable>();
  private queued = false;
  private running = false;
  private settleQueued = false;
  private readonly spinMs: number;

  constructor(
    private readonly host: ProgressHost,
    spinUs: number,
  ) {
    this.spinMs = spinUs / 1000;
    this.budgetMs = this.spinMs;
  }

  add(p: Pollable): void {
    this.paths.add(p);
  }

  remove(p: Pollable): void {
    this.paths.delete(p);
  }

  /** Poll soon (after the current synchronous code), if an operation is pending then. */
  kick(): void {
    if (this.queued || this.paths.size === 0) return;
    this.queued = true;
    queueMicrotask(this.run);
  }

  private readonly run = (): void => {
    this.queued = false;
    if (this.running || this.host.pendingOperations === 0) return;
    this.running = true;
    try {
      const done = this.host.completions;
      for (const p of this.paths) p.wake();
      let spinMs = this.budgetMs;
      if (this.backoff > 0 && --this.backoff === 0) spinMs = this.budgetMs = this.spinMs / 8;
      else if (this.backoff > 0) spinMs = 0;
      const start = spinMs > 0 ? performance.now() : 0;
      for (let spun = false; ; spun = true) {
        for (const p of this.paths) p.poll();
        if (this.host.completions !== done || this.host.pendingOperations === 0) {
          if (spun) this.budgetMs = Math.min(this.spinMs, this.budgetMs * 2);
          break;
        }
        if (spinMs <= 0) break;
        if (performance.now() - start >= spinMs) {
          this.budgetMs /= 2;
          if (this.budgetMs < this.spinMs / 8) {
            this.budgetMs = 0;
            this.backoff = BACKOFF_WAITS;
          }
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
