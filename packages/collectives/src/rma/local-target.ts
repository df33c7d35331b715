// Operations applied by the target itself to its own part of the window: what this rank does
// for operations aimed at itself, and what the target-side fallback applies for its peers.
// Accumulates on the JS thread are atomic against each other by construction (one thread);
// where other ranks accumulate into this memory by single copy, `lock` takes the target's
// accumulate lock around each read-modify-write too.
import { DTYPES, typed, type AnyTyped } from "../datatypes.js";
import { accumulateKernel, applyLocked, casLocked, type AccumulateOp } from "./accumulate-ops.js";

/** Accumulate operators by wire code. */
export const ACC_OPS: readonly AccumulateOp[] = ["replace", "noOp", "sum", "prod", "min", "max", "band", "bor", "bxor", "land", "lor", "lxor", "maxloc", "minloc"];

/** A typed view of `bytes`, or of an aligned copy that `done` writes back. */
export function typedAt(dtype: number, bytes: Uint8Array): { view: AnyTyped; done: () => void } {
  const size = DTYPES[dtype]!.size;
  if (bytes.byteOffset % size === 0) return { view: typed(dtype, bytes), done: () => {} };
  const copy = bytes.slice();
  return { view: typed(dtype, copy), done: () => bytes.set(copy) };
}

export interface AccumulateLock {
  take(): Promise<void> | null;
  release(): void;
}

export class LocalTarget {
  constructor(
    readonly memory: Uint8Array,
    private readonly lock: AccumulateLock | null,
  ) {}

  put(offset: number, src: readonly Uint8Array[]): void {
    let at = offset;
    for (const v of src) {
      this.memory.set(v, at);
      at += v.byteLength;
    }
  }

  get(offset: number, dst: readonly Uint8Array[]): void {
    let at = offset;
    for (const v of dst) {
      v.set(this.memory.subarray(at, at + v.byteLength));
      at += v.byteLength;
    }
  }

  /** Combine `origin` into the memory at `offset`; the old values go to `result` (if given). */
  async accumulate(offset: number, dtype: number, op: AccumulateOp, origin: AnyTyped | null, result: AnyTyped | null): Promise<void> {
    const bytes = (origin ?? result)!.byteLength;
    const kernel = accumulateKernel(op, dtype, "accumulate", true);
    const wait = this.lock?.take();
    if (wait) await wait;
    try {
      const t = typedAt(dtype, this.memory.subarray(offset, offset + bytes));
      applyLocked(kernel, op, t.view, origin, result);
      t.done();
    } finally {
      this.lock?.release();
    }
  }

  async compareAndSwap(offset: number, dtype: number, value: AnyTyped, compare: AnyTyped, result: AnyTyped): Promise<void> {
    const wait = this.lock?.take();
    if (wait) await wait;
    try {
      const t = typedAt(dtype, this.memory.subarray(offset, offset + DTYPES[dtype]!.size));
      casLocked(dtype, t.view, value, compare, result);
      t.done();
    } finally {
      this.lock?.release();
    }
  }
}
