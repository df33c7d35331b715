// Layout of one ring segment (one direction of one rank pair), shared by its producer (the
// sending rank, which creates it) and its consumer (the receiving rank, which maps it).
//
//   byte 0     header (Int32): magic, version, cells, cellSize    — written once by the creator
//   byte 128   head      cells published by the producer (wrapping int32)
//   byte 256   tail      cells released by the consumer (wrapping int32)
//   byte 384   consWait  1 while the consumer sleeps: the producer rings the doorbell
//   byte 512   prodWait  1 while the producer waits for a free cell: the consumer rings
//   byte 1024  cell headers, 16 bytes each: message id (low 32 bits), bytes in the cell,
//              last-cell flag, message id (high bits)
//   byte 4096  cells, `cellSize` bytes each (page multiples, so each cell is page aligned)
//
// Each counter sits on its own 128-byte line (two 64-byte lines: adjacent-line prefetch), so
// the producer's and the consumer's stores never share a cache line.
import { createHash } from "node:crypto";

export const MAGIC = 0x6f637368; // "ocsh"
export const VERSION = 1;

/** Int32 indexes into the segment. */
export const I = {
  magic: 0,
  version: 1,
  cells: 2,
  cellSize: 3,
  head: 128 / 4,
  tail: 256 / 4,
  consWait: 384 / 4,
  prodWait: 512 / 4,
  cellHeaders: 1024 / 4,
} as const;

/** Int32s per cell header: [id low, bytes, last, id high]. */
export const CELL_HEADER_INTS = 4;
export const DATA_OFFSET = 4096;
/** Most cells a segment can describe (header area 1024 … 4096). */
export const MAX_CELLS = (DATA_OFFSET - 1024) / (CELL_HEADER_INTS * 4);
const PAGE = 4096;

/** Ring shape: cell count and cell size in bytes. */
export interface Geometry {
  cells: number;
  cellSize: number;
}

/** Clamp tunables into a valid geometry: 2 … MAX_CELLS cells, cells a page multiple of at most 64 MiB. */
export function geometryOf(cells: number, cellSize: number): Geometry {
  const c = Math.min(MAX_CELLS, Math.max(2, Math.floor(cells)));
  const z = Math.min(64 << 20, Math.max(PAGE, Math.ceil(cellSize / PAGE) * PAGE));
  return { cells: c, cellSize: z };
}

export function segmentBytes(g: Geometry): number {
  return DATA_OFFSET + g.cells * g.cellSize;
}

/**
 * A per-job key for segment names: the job token's hash (the token itself stays secret; the
 * names in /dev/shm are visible to every user). All ranks of a job derive the same key.
 */
export function jobKeyOf(token: string): string {
  return createHash("sha256").update(`onecopy-shm:${token}`).digest("hex").slice(0, 16);
}

/** Name (under /dev/shm) of the ring carrying data from rank `from` to rank `to`. */
export function segmentName(jobKey: string, from: number, to: number): string {
  return `onecopy-${jobKey}-${from}-${to}`;
}

/** Prefix shared by every segment of a job: `onecopy-<key>-`. */
export function segmentPrefix(jobKey: string): string {
  return `onecopy-${jobKey}-`;
}
