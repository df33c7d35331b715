// Layout of a window's shared-memory segment (one per window, created by rank 0, mapped by
// every rank, unlinked once all have mapped it):
//
//   byte 0          header (Int32): magic, ranks
//   byte 128 + t·B  target t's block (B = 128 + 4·n rounded up to 128 bytes):
//                   +0   exclusive lock: 0, or holder rank + 1
//                   +64  accumulate lock: 0, or holder rank + 1
//                   +128 shared-lock flags, one Int32 per origin rank (1 while it holds one)
//   byte dataOffset every rank's part of a shared window (winAllocateShared), page aligned
//
// The two locks of a target sit on separate 64-byte lines so lock traffic and accumulate
// traffic of one target do not share a cache line.
export const MAGIC = 0x6f63726d; // "ocrm"
const PAGE = 4096;

const up = (x: number, to: number) => Math.ceil(x / to) * to;

export interface WindowLayout {
  ranks: number;
  /** Bytes of one target's block. */
  block: number;
  /** Byte offset of every rank's part (shared windows); -1 where the window is not shared. */
  parts: number[];
  /** Bytes of the whole segment. */
  bytes: number;
}

/** The layout for `sizes` (bytes per rank); `shared` puts the parts in the segment too. */
export function windowLayout(sizes: readonly number[], shared: boolean): WindowLayout {
  const ranks = sizes.length;
  const block = up(128 + 4 * ranks, 128);
  let at = up(128 + ranks * block, PAGE);
  const parts = sizes.map((s) => {
    if (!shared) return -1;
    const p = at;
    at += up(s, PAGE);
    return p;
  });
  return { ranks, block, parts, bytes: at };
}

/** Int32 index of target `t`'s exclusive lock word. */
export const exclusiveWord = (l: WindowLayout, t: number) => (128 + t * l.block) / 4;
/** Int32 index of target `t`'s accumulate lock word. */
export const accumulateWord = (l: WindowLayout, t: number) => (128 + t * l.block + 64) / 4;
/** Int32 index of origin `o`'s shared-lock flag at target `t`. */
export const sharedWord = (l: WindowLayout, t: number, o: number) => (128 + t * l.block + 128) / 4 + o;
