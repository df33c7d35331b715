// The fused copy-and-combine at the heart of every large reduction: a slice of the result is
// built chunk by chunk; each peer's part of the chunk is read with one copy into a small
// scratch area (cache-sized) and combined into the destination while still in cache. No
// staging of whole contributions, no second copy.
import type { CollectiveTransport, Request } from "@onecopy/rendezvous";
import { typed } from "./datatypes.js";
import { giveScratch, takeScratch } from "./moves.js";
import { builtinOf, type Kernel } from "./ops.js";
import { tuning } from "./tuning.js";
import { combineIn, giveArena, hasSimd, takeArena, type SimdArena, type SimdKernel } from "./wasm-kernels.js";

/** One contribution to a slice, in combine order. */
export interface Source {
  rank: number;
  /** This rank's own contribution (a local view of the slice). */
  local?: Uint8Array;
  /** Address of the slice in `rank`'s memory (single-copy read). */
  addr?: number;
  /** Where the pair cannot copy: the slice, received as a message. */
  message?: { buf: Uint8Array; req: Request<unknown> };
}

export interface SliceJob {
  dtype: number;
  kernel: Kernel;
  /** Bytes of the slice. */
  bytes: number;
  /** Contributions in combine order (the first one is copied, the others combined into it). */
  order: Source[];
  /** Local destination of the whole slice, or null to build each chunk in scratch (and pass it to `sink`). */
  dest: Uint8Array | null;
  /** The destination already holds this rank's own contribution (in-place). */
  destIsMine: boolean;
  /** Receives each finished chunk (once it is in `dest`, if there is one) while it is still in cache. */
  sink?: (off: number, chunk: Uint8Array) => Promise<void>;
}

/** Element-aligned split of `count` elements over `n` parts; boundaries on 64-byte multiples. */
export function slices(count: number, n: number, size: number): number[] {
  const align = Math.max(1, 64 / size);
  const lo: number[] = [];
  for (let i = 0; i < n; i++) lo.push(Math.min(count, Math.floor((count * i) / n / align) * align));
  lo.push(count);
  return lo;
}

/** Chunk size of a fused reduction over a slice of `bytes` (the same on every rank); a multiple of 16 so that chunks hold whole (value, index) pairs. */
export function chunkBytes(bytes: number): number {
  return Math.max(16, Math.min(bytes, tuning.chunk - (tuning.chunk % 16)));
}

/** Post the message receives of a job's fallback sources (before any peer waits on them). */
export function postFallback(t: CollectiveTransport, src: Source, bytes: number, tag: number): void {
  if (src.local || t.canRead(src.rank) || bytes === 0) return;
  const buf = new Uint8Array(bytes);
  src.message = { buf, req: t.irecv([buf], bytes, src.rank, tag) };
}

/** Build one slice of a reduction (see {@link SliceJob}). */
export async function reduceSlice(t: CollectiveTransport, job: SliceJob): Promise<void> {
  const { bytes, order, dest, kernel, dtype } = job;
  if (bytes === 0 || order.length === 0) return;
  for (const s of order) if (s.message) await s.message.req;
  const chunk = chunkBytes(bytes);
  const op = builtinOf(kernel);
  if (order.length > 1 && op !== undefined && tuning.simd && hasSimd(op, dtype)) {
    const arena = takeArena(2 * chunk);
    if (arena) {
      try {
        return await reduceSliceSimd(t, job, chunk, arena, arena.kernel(op, dtype)!);
      } finally {
        giveArena(arena);
      }
    }
  }
  const scratch = takeScratch(chunk * (dest ? 2 : 3));
  const inbuf = new Uint8Array(scratch, 0, chunk);
  const saved = new Uint8Array(scratch, chunk, chunk);
  const acc = dest ? null : new Uint8Array(scratch, 2 * chunk, chunk);
  const mineFirst = order[0]!.local !== undefined;
  try {
    for (let off = 0; off < bytes; off += chunk) {
      const len = Math.min(chunk, bytes - off);
      const out = dest ? dest.subarray(off, off + len) : acc!.subarray(0, len);
      let mine: Uint8Array | null = null;
      for (const s of order) {
        if (s.local) {
          mine = s.local.subarray(off, off + len);
          // In place, a later contribution is read into the destination first: save ours.
          if (job.destIsMine && !mineFirst) {
            mine = saved.subarray(0, len);
            mine.set(s.local.subarray(off, off + len));
          }
        }
      }
      let first = true;
      for (const s of order) {
        let part: Uint8Array;
        if (s.local) part = mine!;
        else if (s.message) part = s.message.buf.subarray(off, off + len);
        else {
          part = first ? out : inbuf.subarray(0, len);
          await t.read(s.rank, [part], [s.addr! + off, len]);
        }
        if (first) {
          if (part !== out && !(s.local && job.destIsMine)) out.set(part);
          first = false;
        } else {
          kernel(typed(dtype, out), typed(dtype, part));
        }
      }
      if (job.sink) await job.sink(off, out);
    }
  } finally {
    giveScratch(scratch);
  }
}

/**
 * {@link reduceSlice} with a SIMD kernel. The kernel sees only its own memory, so each chunk is
 * built there: the first contribution is read (or copied) into the accumulator, every later
 * one into the input area and combined, and the finished chunk is copied out to the
 * destination and handed to the sink. Same combine order as the JS path, so the same bits.
 * A copied contribution costs one pass through the cache; the SIMD combine alone is 4-100x
 * the typed-array loop on a chunk in cache (bench/collectives.ts --kernels), and with the
 * copies a 16 MiB f64 sum allreduce at np 2 still takes 16% less CPU than with the loop.
 */
async function reduceSliceSimd(t: CollectiveTransport, job: SliceJob, chunk: number, arena: SimdArena, simd: SimdKernel): Promise<void> {
  const { bytes, order, dest, kernel, dtype } = job;
  const mem = arena.bytes;
  const IN = chunk;
  for (let off = 0; off < bytes; off += chunk) {
    const len = Math.min(chunk, bytes - off);
    const acc = mem.subarray(0, len);
    const inp = mem.subarray(IN, IN + len);
    let first = true;
    for (const s of order) {
      const into = first ? acc : inp;
      if (s.local) into.set(s.local.subarray(off, off + len));
      else if (s.message) into.set(s.message.buf.subarray(off, off + len));
      else await t.read(s.rank, [into], [s.addr! + off, len]);
      if (!first) combineIn(arena, simd, kernel, dtype, 0, IN, len);
      first = false;
    }
    if (dest) dest.set(acc, off);
    if (job.sink) await job.sink(off, acc);
  }
}

/**
 * Combine order of a slice. A user operator (maybe not commutative) takes the contributors in
 * rank order. Built-in operators take the peers in `preferred` order (chosen so each source
 * has one reader per step), with this rank's own contribution first when it already sits in
 * the destination (in place), else last (so the first peer is read straight into place).
 */
export function combineOrder(me: number, contributors: readonly number[], preferred: readonly number[], commutative: boolean, destIsMine: boolean): number[] {
  if (!commutative) return [...contributors].sort((a, b) => a - b);
  const set = new Set(contributors);
  const peers = preferred.filter((j) => j !== me && set.has(j));
  if (!set.has(me)) return peers;
  return destIsMine ? [me, ...peers] : [...peers, me];
}

/** Sources of a slice: this rank's local view, or a peer's slice at `addrOf(j)` (with the fallback receive posted). */
export function sourcesOf(t: CollectiveTransport, order: readonly number[], mine: Uint8Array, addrOf: (j: number) => number, bytes: number, tag: number): Source[] {
  return order.map((j) => {
    if (j === t.rank) return { rank: j, local: mine };
    const s: Source = { rank: j, addr: addrOf(j) };
    postFallback(t, s, bytes, tag);
    return s;
  });
}

/** Small path: fold the inline payloads of `order` (rank order) at byte range [from, to) into `out`. */
export function foldPayloads(dtype: number, kernel: Kernel, payloads: ReadonlyArray<Uint8Array>, from: number, to: number, out: Uint8Array): void {
  if (to <= from || payloads.length === 0) return;
  out.set(payloads[0]!.subarray(from, to));
  const o = typed(dtype, out);
  for (let i = 1; i < payloads.length; i++) kernel(o, typed(dtype, payloads[i]!.subarray(from, to)));
}
