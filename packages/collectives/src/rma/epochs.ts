// The origin's side of MPI's synchronization rules: which targets an access epoch covers, and
// which synchronization calls are legal now. Breaking a rule is ERR_RMA_SYNC, raised before
// anything is transferred.
import { ErrorCode, MessagingError } from "@onecopy/rendezvous";

export type LockType = "exclusive" | "shared";

export class Epochs {
  /** A fence opened an active-target epoch (it lasts until the next lock or lockAll). */
  fenced = false;
  /** Passive-target locks this rank holds, by target. */
  readonly locks = new Map<number, LockType>();
  lockedAll = false;

  constructor(private readonly me: number) {}

  private fail(what: string, why: string): never {
    throw new MessagingError(ErrorCode.RMA_SYNC, `${what}: ${why}`, { rank: this.me });
  }

  /** An access to `target` needs a fence epoch, a lock of the target, or lockAll. */
  access(what: string, target: number): void {
    if (this.fenced || this.lockedAll || this.locks.has(target)) return;
    this.fail(what, `no access epoch covers rank ${target}; call win.fence() on every rank, or win.lock(${target}) / win.lockAll() first`);
  }

  lock(target: number): void {
    if (this.lockedAll) this.fail("win.lock", "this rank holds lockAll(); unlockAll() first");
    if (this.locks.has(target)) this.fail("win.lock", `this rank already holds a lock of rank ${target}; unlock(${target}) first`);
  }

  unlock(target: number): void {
    if (!this.locks.has(target)) this.fail("win.unlock", `this rank holds no lock of rank ${target}`);
  }

  lockAll(): void {
    if (this.lockedAll) this.fail("win.lockAll", "this rank already holds lockAll()");
    if (this.locks.size > 0) this.fail("win.lockAll", `this rank holds locks of rank(s) ${[...this.locks.keys()].join(", ")}; unlock them first`);
  }

  unlockAll(): void {
    if (!this.lockedAll) this.fail("win.unlockAll", "this rank holds no lockAll()");
  }

  flush(what: string, target: number | null): void {
    if (this.lockedAll || (target === null ? this.locks.size > 0 : this.locks.has(target))) return;
    this.fail(what, `flush is for passive-target epochs and this rank holds no lock${target === null ? "" : ` of rank ${target}`}; lock() or lockAll() first (fence() completes a fence epoch)`);
  }

  /** fence() and free() need no passive epoch open at this rank. */
  noPassive(what: string): void {
    if (this.lockedAll || this.locks.size > 0) this.fail(what, "this rank still holds a lock of the window; unlock()/unlockAll() first");
  }
}
