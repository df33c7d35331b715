// The registration cache of the single-copy path: what onecopy does to the memory of a large
// message's buffers before the kernel copies between them, remembered per ArrayBuffer in a
// WeakMap (a buffer the program drops takes its entry with it). Two levers, each with its knob:
//
//   collapse  (ONECOPY_COLLAPSE_MIN) the second time a buffer of at least that many bytes takes
//             part in a single copy, its range is collapsed onto 2 MiB pages (MADV_COLLAPSE) on
//             a koffi worker, not awaited: that message still copies from small pages, later
//             ones find huge ones. The kernel pins a CMA copy's pages one per page, so this
//             roughly doubles the copy rate of ordinary buffers when glibc did not already put
//             them on huge pages (ONECOPY_THP=0, or a program started without the launcher).
//   populate  (ONECOPY_POPULATE_MIN, off by default: it did not measure faster) a receive buffer of at least that many bytes whose pages
//             are not faulted in yet (mincore on a sample) is populated writable
//             (MADV_POPULATE_WRITE) before the copy: the kernel otherwise faults its pages in one
//             by one inside the copy.
//
// Buffers from allocBuffer() are on populated huge pages already and are left alone.
import { bufferBacking, transparentHugePages } from "./hugepages.js";
import { addressOf } from "./iolist.js";
import { readKnob } from "./knobs.js";
import { collapseRangeAsync, looksResident, populateRange, type AdviceResult } from "./madvise.js";

interface Entry {
  uses: number;
  /** The range last collapsed (byte offsets in the buffer), or null. */
  lo: number;
  hi: number;
  pending: boolean;
  failures: number;
}

/** Tries before the cache stops asking the kernel to collapse a buffer. */
const MAX_COLLAPSE_FAILURES = 3;

const entries = new WeakMap<ArrayBufferLike, Entry>();
/** Buffers whose collapse is running on a worker: kept alive until it returns. */
const inFlight = new Set<ArrayBufferLike>();

/** What the registration cache did in this process (for stats, tests and `onecopy info`). */
export interface RegistrationStats {
  collapses: number;
  collapsedBytes: number;
  collapseFailures: number;
  populates: number;
  populatedBytes: number;
}

const counters: RegistrationStats = { collapses: 0, collapsedBytes: 0, collapseFailures: 0, populates: 0, populatedBytes: 0 };

/** A snapshot of what the registration cache did so far. */
export function registrationStats(): RegistrationStats {
  return { ...counters };
}

/** The thresholds, read once per process (0 turns a lever off). */
export const registrationDefaults = {
  collapseMin: readKnob("collapseMin"),
  populateMin: readKnob("populateMin"),
};

let thpUsable: boolean | undefined;
function collapseUsable(): boolean {
  if (thpUsable === undefined) {
    const mode = transparentHugePages();
    thpUsable = mode !== null && mode !== "never";
  }
  return thpUsable;
}

/** Collapses still running on workers (tests wait for them). */
export function collapsesInFlight(): number {
  return inFlight.size;
}

/**
 * Get local views ready for a single copy: `destination` views are written by the copy,
 * `source` views read by it (by us or by the peer). Cheap when there is nothing to do (a WeakMap
 * look-up per large view); never throws, never changes the bytes.
 */
export function prepareForCopy(views: readonly Uint8Array[], role: "source" | "destination"): void {
  const { collapseMin, populateMin } = registrationDefaults;
  if (collapseMin === 0 && populateMin === 0) return;
  for (const v of views) {
    const n = v.byteLength;
    if (n < (collapseMin || Infinity) && n < (populateMin || Infinity)) continue;
    const ab = v.buffer;
    if (ab instanceof ArrayBuffer && bufferBacking(ab) !== null) continue; // allocBuffer: populated huge pages already
    let e = entries.get(ab);
    const first = e === undefined;
    if (!e) {
      e = { uses: 0, lo: 0, hi: 0, pending: false, failures: 0 };
      entries.set(ab, e);
    }
    e.uses++;
    if (first && role === "destination" && populateMin > 0 && n >= populateMin) populate(v);
    if (collapseMin > 0 && n >= collapseMin && e.uses >= 2) collapse(ab, v, e);
  }
}

function populate(v: Uint8Array): void {
  const addr = addressOf(v);
  if (looksResident(addr, v.byteLength) !== false) return;
  const r = populateRange(addr, v.byteLength);
  if (r.ok) {
    counters.populates++;
    counters.populatedBytes += r.bytes;
  }
}

function collapse(ab: ArrayBufferLike, v: Uint8Array, e: Entry): void {
  const lo = v.byteOffset;
  const hi = lo + v.byteLength;
  if (e.pending || e.failures >= MAX_COLLAPSE_FAILURES || (lo >= e.lo && hi <= e.hi) || !collapseUsable()) return;
  const started = collapseRangeAsync(addressOf(v), v.byteLength, (r: AdviceResult) => {
    inFlight.delete(ab);
    e.pending = false;
    if (r.ok) {
      counters.collapses++;
      counters.collapsedBytes += r.bytes;
      // Grow the remembered range when the new one touches it, else remember the new one.
      if (hi >= e.lo && lo <= e.hi && e.hi > e.lo) [e.lo, e.hi] = [Math.min(lo, e.lo), Math.max(hi, e.hi)];
      else [e.lo, e.hi] = [lo, hi];
    } else {
      counters.collapseFailures++;
      e.failures++;
    }
  });
  if (started) {
    e.pending = true;
    inFlight.add(ab);
  } else {
    e.failures = MAX_COLLAPSE_FAILURES; // no aligned interior or no libc: never again
  }
}
