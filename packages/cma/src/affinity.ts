// CPU affinity: which CPUs a thread may run on (sched_getaffinity/sched_setaffinity through
// koffi). A process created by fork() starts with the mask of the thread that forked it, and every
// thread it creates inherits its creator's mask: that is how the launcher pins a whole rank,
// Node's own worker threads included (see the launcher's binding.ts).
import { constants as osConstants } from "node:os";
import { ErrorCode, OnecopyError } from "./errors.js";
import { lastErrno, libc, libcError, type NativeFn } from "./libc.js";

// The same names libc.ts tries: the handle it holds is private to it, and loading a library twice
// only takes another reference to it.
const LIBC_NAMES = ["libc.so.6", "libc.so", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

/** glibc's cpu_set_t holds 1024 CPUs; a machine with more needs a larger mask (EINVAL says so). */
const DEFAULT_MASK_BYTES = 128;
const MAX_MASK_BYTES = 1 << 16;
/** Highest CPU number accepted (the kernel's NR_CPUS is at most 8192). */
export const MAX_CPU = MAX_MASK_BYTES * 8 - 1;

interface AffinityCalls {
  get: NativeFn;
  set: NativeFn;
}

let calls: AffinityCalls | null | undefined;
let failure = "";

function bind(): AffinityCalls | null {
  if (calls !== undefined) return calls;
  calls = null;
  const lib = libc();
  if (!lib) {
    failure = libcError();
    return null;
  }
  for (const name of LIBC_NAMES) {
    try {
      const handle = lib.koffi.load(name);
      calls = {
        get: handle.func("int sched_getaffinity(int pid, size_t cpusetsize, void *mask)"),
        set: handle.func("int sched_setaffinity(int pid, size_t cpusetsize, void *mask)"),
      };
      return calls;
    } catch (err) {
      failure = `the C library has no sched_getaffinity/sched_setaffinity: ${(err as Error).message}`;
    }
  }
  return null;
}

/** Why CPU affinity can be neither read nor set here, or null when it can. */
export function cpuAffinityUnavailable(): string | null {
  return bind() ? null : failure || "CPU affinity is unavailable";
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

function affinityError(syscall: string, tid: number, errno: number): OnecopyError {
  const name = errnoName(errno);
  const who = tid === 0 ? "the calling thread" : `thread ${tid}`;
  const why =
    name === "ESRCH" ? "no such thread" : name === "EPERM" ? "not permitted" : name === "EINVAL" ? "no allowed CPU in the mask" : "";
  return new OnecopyError(name, `${syscall} for ${who} failed: ${name}${why ? ` (${why})` : ""}`);
}

function requireCalls(): AffinityCalls {
  const c = bind();
  if (!c) throw new OnecopyError(ErrorCode.AFFINITY_UNSUPPORTED, `CPU affinity is unavailable: ${failure}`);
  return c;
}

function checkTid(tid: number): void {
  if (!Number.isInteger(tid) || tid < 0) throw new OnecopyError(ErrorCode.INVALID_ARG, `tid must be a non-negative integer, got ${tid}`);
}

/**
 * The CPUs thread `tid` may run on, ascending. `tid` 0 (the default) is the calling thread; a
 * process id names that process's main thread. Linux only.
 * @throws OnecopyError `ERR_AFFINITY_UNSUPPORTED` where koffi or the call is missing; an errno name
 *   (`ESRCH`, `EPERM`) when the call fails.
 */
export function getCpuAffinity(tid = 0): number[] {
  checkTid(tid);
  const { get } = requireCalls();
  for (let bytes = DEFAULT_MASK_BYTES; bytes <= MAX_MASK_BYTES; bytes *= 2) {
    const mask = Buffer.alloc(bytes);
    if ((get(tid, bytes, mask) as number) === 0) return cpusOfMask(mask);
    const errno = lastErrno();
    if (errnoName(errno) !== "EINVAL") throw affinityError("sched_getaffinity", tid, errno);
    // EINVAL: the kernel's mask is larger than ours; try a larger one
  }
  throw new OnecopyError("EINVAL", `sched_getaffinity: this machine has more than ${MAX_CPU + 1} CPUs`);
}

/**
 * Let thread `tid` (0, the default: the calling thread) run only on `cpus`. Threads and processes
 * it creates afterwards inherit the mask; threads that already exist keep theirs.
 * @throws OnecopyError `ERR_INVALID_ARG` for an empty list or a CPU number out of range,
 *   `ERR_AFFINITY_UNSUPPORTED`, or the errno name (`EINVAL`: none of the CPUs is allowed here,
 *   `ESRCH`, `EPERM`).
 */
export function setCpuAffinity(cpus: readonly number[], tid = 0): void {
  checkTid(tid);
  if (!Array.isArray(cpus) || cpus.length === 0) throw new OnecopyError(ErrorCode.INVALID_ARG, "setCpuAffinity needs at least one CPU");
  let highest = 0;
  for (const cpu of cpus) {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu > MAX_CPU) {
      throw new OnecopyError(ErrorCode.INVALID_ARG, `CPU numbers are integers 0 … ${MAX_CPU}, got ${cpu}`);
    }
    highest = Math.max(highest, cpu);
  }
  const { set } = requireCalls();
  const bytes = Math.max(DEFAULT_MASK_BYTES, Math.ceil((highest + 1) / 64) * 8); // whole unsigned longs
  const mask = Buffer.alloc(bytes);
  for (const cpu of cpus) mask[cpu >> 3]! |= 1 << (cpu & 7);
  if ((set(tid, bytes, mask) as number) !== 0) throw affinityError("sched_setaffinity", tid, lastErrno());
}

function cpusOfMask(mask: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < mask.length; i++) {
    const byte = mask[i]!;
    if (byte === 0) continue;
    for (let bit = 0; bit < 8; bit++) if (byte & (1 << bit)) out.push(i * 8 + bit);
  }
  return out;
}

/** `[0, 1, 2, 5, 7, 8]` → `"0-2,5,7-8"` (the kernel's list format, as in `Cpus_allowed_list`). */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/** `"0-2,5"` → `[0, 1, 2, 5]`; the inverse of {@link formatCpuList}. @throws OnecopyError `ERR_INVALID_ARG` */
export function parseCpuList(list: string): number[] {
  const out = new Set<number>();
  const text = list.trim();
  if (text === "") return [];
  for (const part of text.split(",")) {
    const m = /^\s*(\d+)(?:\s*-\s*(\d+))?\s*$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || hi < lo || hi > MAX_CPU) throw new OnecopyError(ErrorCode.INVALID_ARG, `not a CPU list: '${list}'`);
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}
