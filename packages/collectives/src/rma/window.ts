// A window of one-sided communication (MPI_Win): every rank's exposed memory, reachable from
// every other rank by put/get/accumulate without the target's help.
//
// How each access moves, by the window's mode:
//   "cma"         put = process_vm_writev into the target's memory, get = process_vm_readv;
//                 accumulates take the target's accumulate lock (in the window's shared
//                 segment), read, combine, write back, release. The target does nothing.
//   "shared"      (winAllocateShared) every part is in one shared segment: put/get are plain
//                 copies, accumulates are Atomics on the memory (see accumulate-ops.ts).
//   "target-side" some pair cannot copy directly: operations travel as requests and the
//                 target applies them (target-side.ts); the target must make progress.
// Locks are atomics in the shared segment in every mode, so lock/unlock never need the target.
//
// Why accumulates on non-shared windows take the lock and copy instead of asking the target:
// measured (np 2, 8 B fetchAndOp, a loaded 2-vCPU VM), shared-window Atomics 2.1 µs, lock +
// process_vm_readv + process_vm_writev 10.5 µs, a target-side request 35 µs with an idle
// target, and never while the target computes.
//
// Completion: an operation's promise resolves when the origin's buffers may be reused; it is
// complete at the target at the next flush, unlock or fence (in the "cma" and "shared" modes it
// already is when its promise resolves).
import type { ShmSegment } from "@onecopy/cma";
import { ErrorCode, MessagingError, viewsOf, type CollectiveTransport, type MessageData } from "@onecopy/rendezvous";
import { dataOf, DTYPES, typed, type AnyTyped } from "../datatypes.js";
import { barrier } from "../barrier.js";
import { accumulateKernel, applyAtomic, applyLocked, casAtomic, casLocked, lockFree, type AccumulateOp } from "./accumulate-ops.js";
import { Epochs, type LockType } from "./epochs.js";
import { WindowLocks } from "./locks.js";
import { ACC_OPS, LocalTarget, typedAt } from "./local-target.js";
import { serveTargetSide, TargetSideClient, type Handed, type TargetSideTags } from "./target-side.js";

export type WindowMode = "cma" | "shared" | "target-side";

/** Counters and the mechanism of a window, from {@link Win.stats}. */
export interface WindowStats {
  mode: WindowMode;
  /** The targets must make progress (turn their event loop) for operations to complete: true in the "target-side" mode only. */
  targetProgress: boolean;
  puts: number;
  gets: number;
  accumulates: number;
  /** Bytes moved by put, get and accumulates, at this origin. */
  bytes: number;
}

/** What creation hands to a window. */
export interface WindowParts {
  t: CollectiveTransport;
  mode: WindowMode;
  memory: Uint8Array;
  /** The memory behind `memory`, kept alive and unmoved until free(). */
  keep: unknown;
  sizes: number[];
  addresses: number[];
  seg: ShmSegment;
  locks: WindowLocks;
  /** Every rank's part of a shared window, by rank (views of `seg`); empty otherwise. */
  parts: Uint8Array[];
  tags: TargetSideTags;
}

const bytesOf = (a: AnyTyped) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * A window of one-sided communication, from `comm.winCreate`, `comm.winAllocate` or
 * `comm.winAllocateShared`. Offsets are in bytes into the target's part of the window.
 * Errors: ERR_RMA_RANGE (outside the target's part; nothing moved), ERR_RMA_SYNC (no epoch
 * covers the target, or synchronization out of order), ERR_PEER_LOST (a member of the window
 * died), ERR_CLOSED (after free()).
 */
export class Win {
  /** This rank's part of the window (for winCreate, a view of the buffer it was given). */
  readonly memory: Uint8Array;
  /** Bytes of every rank's part, by rank. */
  readonly sizes: readonly number[];
  readonly mode: WindowMode;
  private readonly t: CollectiveTransport;
  private readonly epochs: Epochs;
  private readonly pending = new Map<number, Set<Promise<unknown>>>();
  private readonly self: LocalTarget;
  private readonly client: TargetSideClient | null;
  private readonly servers: Promise<void>[] = [];
  private freed = false;
  private readonly counts = { puts: 0, gets: 0, accumulates: 0, bytes: 0 };

  /** @internal Use comm.winCreate / winAllocate / winAllocateShared. */
  constructor(private readonly p: WindowParts) {
    this.t = p.t;
    this.memory = p.memory;
    this.sizes = p.sizes;
    this.mode = p.mode;
    this.epochs = new Epochs(p.t.rank);
    const me = p.t.rank;
    const lock = p.mode === "cma" ? { take: () => p.locks.accumulate(me), release: () => p.locks.releaseAccumulate(me) } : null;
    this.self = new LocalTarget(p.memory, lock);
    this.client = p.mode === "target-side" ? new TargetSideClient(p.t, p.tags) : null;
    if (this.client) {
      for (let r = 0; r < p.t.size; r++) if (r !== me) this.servers.push(serveTargetSide(p.t, p.tags, r, this.self));
    }
  }

  /** This rank in the window's communicator. */
  get rank(): number {
    return this.t.rank;
  }

  /** How the window moves data, and its counters. */
  stats(): WindowStats {
    return { mode: this.mode, targetProgress: this.mode === "target-side", ...this.counts };
  }

  /** A direct load/store view of `rank`'s part of a shared window (winAllocateShared); nothing is copied. */
  sharedQuery(rank: number): Uint8Array {
    this.open("win.sharedQuery");
    this.checkRank("win.sharedQuery", rank);
    if (this.mode !== "shared") throw new MessagingError(ErrorCode.INVALID_ARG, "win.sharedQuery: this window was not made by winAllocateShared", { rank: this.rank });
    return this.p.parts[rank]!;
  }

  // ---- data movement -------------------------------------------------------------------

  /** Copy `origin` into `target`'s part at `targetOffset`. Resolves when `origin` may be reused. */
  async put(origin: MessageData, target: number, targetOffset: number): Promise<void> {
    const { views, bytes } = this.begin("win.put", origin, target, targetOffset);
    this.counts.puts++;
    this.counts.bytes += bytes;
    if (bytes === 0) return;
    if (target === this.rank) return this.self.put(targetOffset, views);
    if (this.mode === "shared") return new LocalTarget(this.p.parts[target]!, null).put(targetOffset, views);
    if (this.client) return this.handed(target, this.client.put(target, targetOffset, views, bytes));
    return this.direct(target, this.t.write(target, views, [this.p.addresses[target]! + targetOffset, bytes]));
  }

  /** Copy `target`'s part at `targetOffset` into `origin`. Resolves when the data is in `origin`. */
  async get(origin: MessageData, target: number, targetOffset: number): Promise<void> {
    const { views, bytes } = this.begin("win.get", origin, target, targetOffset);
    this.counts.gets++;
    this.counts.bytes += bytes;
    if (bytes === 0) return;
    if (target === this.rank) return this.self.get(targetOffset, views);
    if (this.mode === "shared") return new LocalTarget(this.p.parts[target]!, null).get(targetOffset, views);
    if (this.client) return this.handed(target, this.client.get(target, targetOffset, views, bytes));
    return this.direct(target, this.t.read(target, views, [this.p.addresses[target]! + targetOffset, bytes]));
  }

  /**
   * Combine `origin` (a typed array) element by element into `target`'s part at `targetOffset`
   * with a builtin operator, or `"replace"`. Atomic per element against other accumulates.
   */
  accumulate(origin: ArrayBufferView, target: number, targetOffset: number, op: AccumulateOp): Promise<void> {
    return this.acc("win.accumulate", origin, null, target, targetOffset, op);
  }

  /** Like {@link accumulate}, with the target's old values in `result` (same type and length); `op` may be `"noOp"` (an atomic read). */
  getAccumulate(origin: ArrayBufferView | null, result: ArrayBufferView, target: number, targetOffset: number, op: AccumulateOp): Promise<void> {
    return this.acc("win.getAccumulate", origin, result, target, targetOffset, op);
  }

  /** One element: `result[0]` = the target's old value, then the target's element = old ⊕ `value` (a bigint for 64-bit integer types). */
  fetchAndOp(value: number | bigint, result: ArrayBufferView, target: number, targetOffset: number, op: AccumulateOp): Promise<void> {
    const r = this.oneElement("win.fetchAndOp", result);
    const origin = new (DTYPES[r.dtype]!.ctor)(1);
    if (op !== "noOp") origin[0] = value as never;
    return this.acc("win.fetchAndOp", op === "noOp" ? null : origin, r.view, target, targetOffset, op);
  }

  /** One element: `result[0]` = the target's old value; it becomes `value` if it equalled `compare` (compared bitwise). 4- and 8-byte types. */
  async compareAndSwap(value: number | bigint, compare: number | bigint, result: ArrayBufferView, target: number, targetOffset: number): Promise<void> {
    const what = "win.compareAndSwap";
    const r = this.oneElement(what, result);
    const d = DTYPES[r.dtype]!;
    if (d.size !== 4 && d.size !== 8) throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: result is ${d.name}; compareAndSwap works on 4- and 8-byte integers and floats`, { rank: this.rank });
    this.ready(what, target, targetOffset, d.size, d.size);
    const v = new d.ctor(1);
    const c = new d.ctor(1);
    v[0] = value as never;
    c[0] = compare as never;
    this.counts.accumulates++;
    this.counts.bytes += d.size;
    if (this.mode === "shared") {
      const part = this.p.parts[target]!;
      return casAtomic(r.dtype, typed(r.dtype, part.subarray(targetOffset, targetOffset + d.size)), v, c, r.view);
    }
    if (target === this.rank) return this.self.compareAndSwap(targetOffset, r.dtype, v, c, r.view);
    if (this.client) return this.handed(target, this.client.compareAndSwap(target, targetOffset, r.dtype, v, c, r.view));
    await this.remoteUpdate(target, targetOffset, d.size, (old) => casLocked(r.dtype, typed(r.dtype, old), v, c, r.view));
  }

  // ---- synchronization -----------------------------------------------------------------

  /** Active-target synchronization (collective): completes every operation of the epoch, at origins and targets, and opens the next. */
  async fence(): Promise<void> {
    this.open("win.fence");
    this.epochs.noPassive("win.fence");
    // A failed operation of the epoch fails this fence, after the barrier: the other ranks
    // must not wait for this one.
    const failed = await this.completeAll().then(() => null, (e: unknown) => e);
    await this.t.collective(() => barrier(this.t));
    this.epochs.fenced = true;
    if (failed) throw failed;
  }

  /** Start a passive-target epoch at `target` (the target takes no part). */
  async lock(target: number, type: LockType = "exclusive"): Promise<void> {
    this.open("win.lock");
    this.checkRank("win.lock", target);
    if (type !== "exclusive" && type !== "shared") throw new MessagingError(ErrorCode.INVALID_ARG, `win.lock: lock type ${JSON.stringify(type)} is not "exclusive" or "shared"`);
    this.epochs.lock(target);
    if (this.epochs.fenced) {
      await this.complete(null); // a lock ends the fence epoch, and its operations with it
      this.epochs.fenced = false;
    }
    this.epochs.locks.set(target, type);
    try {
      await (type === "exclusive" ? this.p.locks.exclusive(target) : this.p.locks.shared(target));
    } catch (err) {
      this.epochs.locks.delete(target);
      throw err;
    }
  }

  /** Complete every operation towards `target` (at the target too) and release its lock. */
  async unlock(target: number): Promise<void> {
    this.open("win.unlock");
    this.checkRank("win.unlock", target);
    this.epochs.unlock(target);
    try {
      await this.complete(target);
    } finally {
      const type = this.epochs.locks.get(target);
      this.epochs.locks.delete(target);
      if (type === "exclusive") this.p.locks.releaseExclusive(target);
      else this.p.locks.releaseShared(target);
    }
  }

  /** A shared lock of every rank (MPI_Win_lock_all). */
  async lockAll(): Promise<void> {
    this.open("win.lockAll");
    this.epochs.lockAll();
    if (this.epochs.fenced) {
      await this.complete(null);
      this.epochs.fenced = false;
    }
    const taken: number[] = [];
    try {
      for (let r = 0; r < this.t.size; r++) {
        await this.p.locks.shared(r);
        taken.push(r);
      }
    } catch (err) {
      for (const r of taken) this.p.locks.releaseShared(r);
      throw err;
    }
    this.epochs.lockedAll = true;
  }

  async unlockAll(): Promise<void> {
    this.open("win.unlockAll");
    this.epochs.unlockAll();
    try {
      await this.complete(null);
    } finally {
      this.epochs.lockedAll = false;
      for (let r = 0; r < this.t.size; r++) this.p.locks.releaseShared(r);
    }
  }

  /** Complete every operation towards `target`, at the target too, within a passive epoch. */
  async flush(target: number): Promise<void> {
    this.open("win.flush");
    this.checkRank("win.flush", target);
    this.epochs.flush("win.flush", target);
    await this.complete(target);
  }

  /** Complete every operation of this rank, at their targets too, within a passive epoch. */
  async flushAll(): Promise<void> {
    this.open("win.flushAll");
    this.epochs.flush("win.flushAll", null);
    await this.complete(null);
  }

  /**
   * Free the window (collective). Every rank's memory stays exposed and unmoved until every
   * rank has called free() and its operations are complete. Later calls on the window fail
   * with ERR_CLOSED. `memory` and `sharedQuery` views stay readable afterwards: the shared
   * segment is unmapped once nothing references it any more (garbage collection).
   */
  async free(): Promise<void> {
    this.open("win.free");
    this.epochs.noPassive("win.free");
    this.freed = true;
    try {
      const failed = await this.completeAll().then(() => null, (e: unknown) => e); // reported after the barrier
      if (this.client) {
        for (let r = 0; r < this.t.size; r++) if (r !== this.rank) void this.client.end(r).catch(() => {});
        await Promise.all(this.servers);
      }
      await this.t.collective(() => barrier(this.t));
      if (failed) throw failed;
    } finally {
      this.p.locks.close(); // a lock still being waited for fails with ERR_CLOSED
      this.p.keep = null;
    }
  }

  // ---- internals -----------------------------------------------------------------------

  private open(what: string): void {
    if (this.freed) throw new MessagingError(ErrorCode.CLOSED, `${what}: the window was freed with free()`, { rank: this.rank });
  }

  private checkRank(what: string, r: number): void {
    if (typeof r !== "number" || !Number.isInteger(r) || r < 0 || r >= this.t.size) {
      throw new MessagingError(ErrorCode.INVALID_RANK, `${what}: rank ${String(r)} is not in this window (valid: 0 … ${this.t.size - 1})`, { rank: this.rank });
    }
  }

  /** Checks of every access, in order: freed, rank, epoch, range; then the communicator's health. */
  private ready(what: string, target: number, offset: number, bytes: number, align: number): void {
    this.open(what);
    this.checkRank(what, target);
    this.epochs.access(what, target);
    const size = this.sizes[target]!;
    if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0 || offset + bytes > size) {
      throw new MessagingError(ErrorCode.RMA_RANGE, `${what}: ${bytes} bytes at offset ${String(offset)} are outside rank ${target}'s part of the window (${size} bytes); nothing was transferred`, { rank: this.rank, peer: target });
    }
    if (offset % align !== 0) {
      throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: offset ${offset} is not a multiple of the element size (${align} bytes)`, { rank: this.rank, peer: target });
    }
    const broken = this.t.broken;
    if (broken) throw broken;
  }

  private begin(what: string, origin: MessageData, target: number, offset: number): { views: Uint8Array[]; bytes: number } {
    const d = viewsOf(origin, what);
    this.ready(what, target, offset, d.bytes, 1);
    return d;
  }

  private oneElement(what: string, result: ArrayBufferView): { dtype: number; view: AnyTyped } {
    const r = dataOf(result, `${what} result`);
    if (r.count < 1) throw new MessagingError(ErrorCode.INVALID_BUFFER, `${what}: result must hold at least one element`, { rank: this.rank });
    return { dtype: r.dtype, view: typedAt(r.dtype, r.bytes.subarray(0, r.size)).view };
  }

  private async acc(what: string, origin: ArrayBufferView | null, result: ArrayBufferView | null, target: number, offset: number, op: AccumulateOp): Promise<void> {
    this.open(what);
    const o = origin ? dataOf(origin, `${what} origin`) : null;
    const r = result ? dataOf(result, `${what} result`) : null;
    const d = (o ?? r)!;
    if (!d) throw new MessagingError(ErrorCode.INVALID_BUFFER, `${what}: pass an origin buffer`, { rank: this.rank });
    if (o && r && (o.dtype !== r.dtype || o.count !== r.count)) {
      throw new MessagingError(ErrorCode.INVALID_BUFFER, `${what}: origin and result must have the same type and length`, { rank: this.rank });
    }
    if (!o && op !== "noOp") throw new MessagingError(ErrorCode.INVALID_BUFFER, `${what}: an origin buffer is needed unless op is "noOp"`, { rank: this.rank });
    const kernel = accumulateKernel(op, d.dtype, what, result !== null);
    this.ready(what, target, offset, d.bytes.byteLength, d.size);
    this.counts.accumulates++;
    this.counts.bytes += d.bytes.byteLength;
    if (d.count === 0) return;
    const ov = o ? typedAt(o.dtype, o.bytes).view : null;
    const rt = r ? typedAt(r.dtype, r.bytes) : null;
    const rv = rt ? rt.view : null;
    const bytes = d.bytes.byteLength;
    try {
      if (this.mode === "shared") {
        const tv = typed(d.dtype, this.p.parts[target]!.subarray(offset, offset + bytes));
        if (lockFree(op, d.dtype)) return applyAtomic(kernel, op, d.dtype, tv, ov, rv);
        const wait = this.p.locks.accumulate(target);
        if (wait) await wait;
        try {
          return applyLocked(kernel, op, tv, ov, rv);
        } finally {
          this.p.locks.releaseAccumulate(target);
        }
      }
      if (target === this.rank) return await this.self.accumulate(offset, d.dtype, op, ov, rv);
      if (this.client) return await this.handed(target, this.client.accumulate(target, offset, d.dtype, ACC_OPS.indexOf(op), ov, rv));
      await this.remoteUpdate(target, offset, bytes, (old) => applyLocked(kernel, op, typed(d.dtype, old), ov, rv));
    } finally {
      rt?.done();
    }
  }

  /** Read-modify-write of `target`'s bytes under its accumulate lock, by single copy. */
  private async remoteUpdate(target: number, offset: number, bytes: number, update: (old: Uint8Array) => void): Promise<void> {
    const wait = this.p.locks.accumulate(target);
    if (wait) await wait;
    const run = (async () => {
      try {
        const remote = [this.p.addresses[target]! + offset, bytes];
        const buf = new Uint8Array(bytes);
        await this.t.read(target, [buf], remote);
        update(buf);
        await this.t.write(target, [buf], remote);
      } finally {
        this.p.locks.releaseAccumulate(target);
      }
    })();
    return this.direct(target, run);
  }

  /** A single-copy operation: locally and remotely complete together. */
  private direct(target: number, p: Promise<unknown>): Promise<void> {
    this.track(target, p);
    return p.then(() => {});
  }

  private handed(target: number, h: Handed): Promise<void> {
    this.track(target, h.remote);
    return h.local.then(() => {});
  }

  private track(target: number, p: Promise<unknown>): void {
    let set = this.pending.get(target);
    if (!set) this.pending.set(target, (set = new Set()));
    const s = set;
    s.add(p);
    p.then(
      () => s.delete(p),
      () => {}, // kept: flush reports the failure
    );
  }

  /** Wait for the operations towards `target` (null: all); fail with the first failure among them. */
  private async complete(target: number | null): Promise<void> {
    const sets = target === null ? [...this.pending.values()] : [this.pending.get(target) ?? new Set<Promise<unknown>>()];
    const all = sets.flatMap((s) => [...s]);
    for (const s of sets) s.clear();
    if (all.length === 0) return;
    const settled = await Promise.allSettled(all);
    const bad = settled.find((x) => x.status === "rejected");
    if (bad) throw (bad as PromiseRejectedResult).reason;
  }

  private completeAll(): Promise<void> {
    return this.complete(null);
  }
}
