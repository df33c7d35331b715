// Window locks as atomics in the window's shared segment: the target takes no part, so a
// passive-target epoch works while its event loop is busy. Exclusive and shared locks follow a
// Dekker-style protocol (both sides store, then load the other's word; Atomics are
// sequentially consistent, so at least one sees the other): an exclusive locker claims the
// target's exclusive word and then waits for the shared flags to drain; a shared locker raises
// its flag and backs off while the exclusive word is held.
//
// A waiter never spins the event loop to a halt: after a few immediate retries it yields to
// other tasks (the holder may be this very process, in another pending operation), then sleeps
// a millisecond between polls. Every poll checks `lost()`, so a lock held by a rank that died
// fails with that rank's loss instead of waiting forever.
import { yieldCpu } from "@onecopy/cma";
import { ErrorCode, MessagingError } from "@onecopy/rendezvous";
import { accumulateWord, exclusiveWord, sharedWord, type WindowLayout } from "./layout.js";

/** Throws (the loss error) when a member of the window was lost. */
export type LossCheck = () => void;

const SPINS = 16;
const IMMEDIATES = 200;

async function until(ready: () => boolean, lost: LossCheck): Promise<void> {
  for (let i = 0; ; i++) {
    if (ready()) return;
    lost();
    if (i < SPINS) yieldCpu();
    else if (i < SPINS + IMMEDIATES) await new Promise((r) => setImmediate(r));
    else await new Promise((r) => setTimeout(r, 1));
  }
}

/** The lock words of one window. */
export class WindowLocks {
  private closed = false;
  private readonly lost: LossCheck;

  constructor(
    private readonly words: Int32Array,
    private readonly layout: WindowLayout,
    private readonly me: number,
    lost: LossCheck,
  ) {
    this.lost = () => {
      if (this.closed) throw new MessagingError(ErrorCode.CLOSED, "window lock: the window was freed while this lock was awaited", { rank: me });
      lost();
    };
  }

  /** The window was freed: waits end with ERR_CLOSED. */
  close(): void {
    this.closed = true;
  }

  async exclusive(t: number): Promise<void> {
    const w = this.words;
    const ex = exclusiveWord(this.layout, t);
    await until(() => Atomics.compareExchange(w, ex, 0, this.me + 1) === 0, this.lost);
    const first = sharedWord(this.layout, t, 0);
    const n = this.layout.ranks;
    await until(() => {
      for (let o = 0; o < n; o++) if (Atomics.load(w, first + o) !== 0) return false;
      return true;
    }, this.lost);
  }

  releaseExclusive(t: number): void {
    Atomics.store(this.words, exclusiveWord(this.layout, t), 0);
  }

  async shared(t: number): Promise<void> {
    const w = this.words;
    const ex = exclusiveWord(this.layout, t);
    const mine = sharedWord(this.layout, t, this.me);
    await until(() => {
      Atomics.store(w, mine, 1);
      if (Atomics.load(w, ex) === 0) return true;
      Atomics.store(w, mine, 0);
      return false;
    }, this.lost);
  }

  releaseShared(t: number): void {
    Atomics.store(this.words, sharedWord(this.layout, t, this.me), 0);
  }

  /** Take target `t`'s accumulate lock (held across one read-modify-write of its memory). */
  accumulate(t: number): Promise<void> | null {
    const w = this.words;
    const acc = accumulateWord(this.layout, t);
    if (Atomics.compareExchange(w, acc, 0, this.me + 1) === 0) return null; // the common case: no wait, no promise
    return until(() => Atomics.compareExchange(w, acc, 0, this.me + 1) === 0, this.lost);
  }

  releaseAccumulate(t: number): void {
    Atomics.store(this.words, accumulateWord(this.layout, t), 0);
  }
}
