// The two madvise(2) advices the single-copy path uses on memory users already have (ordinary
// ArrayBuffers, not allocBuffer()):
//
//   MADV_COLLAPSE (25, Linux >= 6.1)        turn the 2 MiB-aligned interior of a range into
//                                           transparent huge pages now, contents kept. The kernel
//                                           pins pages one by one during a CMA copy, so a buffer
//                                           on 2 MiB pages copies 2-3x faster than on 4 KiB ones.
//   MADV_POPULATE_WRITE (23, Linux >= 5.14) fault every page of a range in, writable, contents
//                                           kept: a copy into untouched memory otherwise takes a
//                                           page fault per page inside the kernel (5-7x slower).
//
// Both are best effort: they return what the kernel said and never throw on its refusal
// (EINVAL on an old kernel or on memory that is not anonymous/not yet touched, ENOMEM, EAGAIN
// when the huge page could not be had). Callers pass ranges of memory they own.
import { readFileSync } from "node:fs";
import { libc, lastErrno } from "./libc.js";

export const MADV_POPULATE_WRITE = 23;
export const MADV_COLLAPSE = 25;
const PAGE = 4096;
/** The size of a PMD-mapped transparent huge page on x86-64 and arm64 (4 KiB base pages). */
export const HUGE_PAGE = 2 * 1024 * 1024;

/** The largest `align`-aligned range inside [addr, addr + len), or null if none is. */
export function alignedInterior(addr: number, len: number, align: number): { addr: number; len: number } | null {
  const start = Math.ceil(addr / align) * align;
  const end = Math.floor((addr + len) / align) * align;
  return end > start ? { addr: start, len: end - start } : null;
}

/** What one madvise call did: `ok`, or the errno the kernel refused it with. */
export interface AdviceResult {
  ok: boolean;
  errno: number;
  /** Bytes of the aligned range the advice was given for (0: the range had no aligned interior, nothing was called). */
  bytes: number;
}

function advise(addr: number, len: number, align: number, advice: number): AdviceResult {
  const lib = libc();
  const r = alignedInterior(addr, len, align);
  if (!lib || !r) return { ok: false, errno: 0, bytes: 0 };
  const ret = lib.madvise(BigInt(r.addr), r.len, advice) as number;
  return { ok: ret === 0, errno: ret === 0 ? 0 : lastErrno(), bytes: r.len };
}

/**
 * Collapse the 2 MiB-aligned interior of [addr, addr + len) into transparent huge pages
 * (MADV_COLLAPSE), keeping its contents. Synchronous: it costs about 24 ms per 64 MiB here
 * (the kernel copies the small pages into fresh huge ones).
 */
export function collapseRange(addr: number, len: number): AdviceResult {
  return advise(addr, len, HUGE_PAGE, MADV_COLLAPSE);
}

/** Fault in, writable, every whole page of [addr, addr + len) (MADV_POPULATE_WRITE), keeping its contents. */
export function populateRange(addr: number, len: number): AdviceResult {
  return advise(addr, len, PAGE, MADV_POPULATE_WRITE);
}

/**
 * Collapse like {@link collapseRange}, on a koffi worker thread, so the event loop keeps turning
 * while the kernel copies the small pages (copies from and into the range may go on meanwhile:
 * the kernel keeps the contents; pages pinned by a copy at that moment stay small, and the
 * result says EAGAIN). The caller keeps the memory alive until `done` runs.
 */
export function collapseRangeAsync(addr: number, len: number, done: (r: AdviceResult) => void): boolean {
  const lib = libc();
  const r = alignedInterior(addr, len, HUGE_PAGE);
  if (!lib || !r) return false;
  lib.madvise.async(BigInt(r.addr), r.len, MADV_COLLAPSE, (err: unknown, ret: number) => {
    done({ ok: !err && ret === 0, errno: !err && ret !== 0 ? lastErrno() : 0, bytes: r.len });
  });
  return true;
}

const residency = new Uint8Array(1);

/**
 * Whether the pages of [addr, addr + len) that a cheap sample looks at (the first, middle and last
 * whole page) are all resident (mincore). Untouched anonymous memory is not; memory the program
 * wrote (or read) is. null if it cannot tell (no libc, or the range holds no whole page).
 */
export function looksResident(addr: number, len: number): boolean | null {
  const lib = libc();
  const r = alignedInterior(addr, len, PAGE);
  if (!lib || !r) return null;
  const pages = r.len / PAGE;
  for (const k of new Set([0, Math.floor(pages / 2), pages - 1])) {
    if ((lib.mincore(BigInt(r.addr + k * PAGE), PAGE, residency) as number) !== 0) return null;
    if ((residency[0]! & 1) === 0) return false;
  }
  return true;
}

/**
 * Bytes of [addr, addr + len) that this process has on transparent huge pages, from
 * /proc/self/smaps (AnonHugePages of the mappings the range overlaps, clipped to the range by
 * assuming huge pages cover the overlap first — exact when the range is one mapping's
 * aligned interior). null without /proc. For diagnostics and tests: it reads the whole file.
 */
export function hugePageBytes(addr: number, len: number): number | null {
  let text: string;
  try {
    text = readFileSync("/proc/self/smaps", "utf8");
  } catch {
    return null;
  }
  let overlap = 0;
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) {
      const lo = parseInt(m[1]!, 16);
      const hi = parseInt(m[2]!, 16);
      overlap = Math.max(0, Math.min(hi, addr + len) - Math.max(lo, addr));
      continue;
    }
    if (overlap > 0 && line.startsWith("AnonHugePages:")) {
      const kb = Number(/(\d+)/.exec(line)?.[1] ?? 0);
      total += Math.min(kb * 1024, overlap);
    }
  }
  return total;
}
