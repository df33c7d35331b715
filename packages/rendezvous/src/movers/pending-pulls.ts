// Receives waiting for a sender to stream their message (PULL sent, bytes not all here), by
// sender and message id: the shared-memory ring and DATA frames both deliver into them.
import type { PullTarget } from "./mover.js";

export class PendingPulls {
  private readonly bySender = new Map<number, Map<number, PullTarget>>();

  add(src: number, id: number, t: PullTarget): void {
    let m = this.bySender.get(src);
    if (!m) this.bySender.set(src, (m = new Map()));
    m.set(id, t);
  }

  /** The receive waiting for message `id` from `src`, taken out of the table. */
  take(src: number, id: number): PullTarget | undefined {
    const m = this.bySender.get(src);
    const t = m?.get(id);
    if (t) m!.delete(id);
    return t;
  }

  /** Fail every receive waiting on `src` (it is gone). */
  failFrom(src: number, err: Error): void {
    const m = this.bySender.get(src);
    if (!m) return;
    this.bySender.delete(src);
    for (const t of m.values()) t.fail(err);
  }

  failAll(err: Error): void {
    for (const src of [...this.bySender.keys()]) this.failFrom(src, err);
  }
}
