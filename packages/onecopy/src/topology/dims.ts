// MPI_Dims_create: a balanced factorisation of a number of ranks over the dimensions of a grid.
import { ErrorCode, OnecopyError } from "@onecopy/rendezvous";

const bad = (why: string) => new OnecopyError(ErrorCode.INVALID_ARG, `dimsCreate: ${why}`);

/**
 * Fill in the zeros of `dims` so that the product of all entries is `n` (MPI_Dims_create):
 * the filled-in sizes are as close to each other as possible and non-increasing; nonzero
 * entries are kept. E.g. `dimsCreate(12, [0, 0])` → `[4, 3]`, `dimsCreate(12, [0, 3, 0])` →
 * `[2, 3, 2]`. Throws `ERR_INVALID_ARG` when `n` is not a multiple of the fixed entries' product
 * (or, with no zeros, not equal to it).
 */
export function dimsCreate(n: number, dims: readonly number[]): number[] {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) throw bad(`the number of ranks ${String(n)} must be a positive integer`);
  if (!Array.isArray(dims)) throw bad("dims must be an array (0 for each size to choose)");
  for (const d of dims as unknown[]) {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0) throw bad(`dimension ${String(d)} must be a non-negative integer (0: choose it)`);
  }
  const fixed = dims.reduce((p, d) => (d > 0 ? p * d : p), 1);
  const free = dims.filter((d) => d === 0).length;
  if (n % fixed !== 0 || (free === 0 && fixed !== n)) {
    throw bad(`${n} ranks cannot fill a grid of dims [${dims.join(", ")}] (the fixed sizes multiply to ${fixed})`);
  }
  const chosen = free ? balanced(n / fixed, free) : [];
  let i = 0;
  return dims.map((d) => (d > 0 ? d : chosen[i++]!));
}

/** `k` non-increasing factors of `m` whose largest and smallest differ least. */
function balanced(m: number, k: number): number[] {
  let best: number[] | null = null;
  const walk = (rest: number, left: number, max: number, acc: number[]): void => {
    if (left === 1) {
      if (rest > max) return;
      const cand = [...acc, rest];
      if (!best || cand[0]! - rest < best[0]! - best[best.length - 1]!) best = cand;
      return;
    }
    // the next factor d is at least the left-th root of what remains (later ones are ≤ d)
    for (let d = Math.min(max, rest); d >= 1; d--) {
      if (rest % d !== 0) continue;
      if (d ** left < rest) break;
      walk(rest / d, left - 1, d, [...acc, d]);
    }
  };
  walk(m, k, m, []);
  return best!;
}
