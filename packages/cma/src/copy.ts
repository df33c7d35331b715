// The copy itself: process_vm_readv / process_vm_writev over io lists on both sides, looping
// on partial transfers, splitting at IOV_MAX and at the kernel's per-call byte cap.
import { readKnob } from "./knobs.js";
import { libc, lastErrno, type NativeFn } from "./libc.js";
import { CmaError, ErrorCode, invalid } from "./errors.js";
import { ioListBytes, ioListOf, sliceIoList, type IoList, type LocalData } from "./iolist.js";
import { cmaDisabledReason } from "./switch.js";
import { errorForErrno } from "./diagnose.js";

/** Most iovecs one call takes (Linux UIO_MAXIOV). */
export const IOV_MAX = 1024;
/** Most bytes one call moves: the kernel silently caps a call at MAX_RW_COUNT. */
export const MAX_BYTES_PER_CALL = 0x7ffff000;

/** `read` pulls from the peer into local memory; `write` pushes local memory into the peer. */
export type Direction = "read" | "write";

const SYSCALL: Record<Direction, "process_vm_readv" | "process_vm_writev"> = {
  read: "process_vm_readv",
  write: "process_vm_writev",
};

function fnFor(dir: Direction): NativeFn {
  const reason = cmaDisabledReason();
  if (reason) throw new CmaError(reason.code, reason.message);
  return libc()![SYSCALL[dir]];
}

/** Reusable iovec tables for the synchronous path (one call at a time on the JS thread). */
const syncLocal = new Uint32Array(IOV_MAX * 4);
const syncRemote = new Uint32Array(IOV_MAX * 4);

const TWO32 = 4294967296;

/** A cursor over an io list: which piece, and how far into it. */
interface Cursor {
  piece: number; // index of the address entry (even)
  offset: number;
}

/**
 * Fill `table` with up to IOV_MAX iovecs from `list` starting at `cur`, at most `budget` bytes.
 * Zero-length pieces are skipped. Returns [iovec count, bytes].
 */
function fill(table: Uint32Array, list: IoList, cur: Cursor, budget: number): [number, number] {
  let n = 0;
  let bytes = 0;
  let off = cur.offset;
  for (let i = cur.piece; i < list.length && n < IOV_MAX && bytes < budget; i += 2) {
    const len = list[i + 1]! - off;
    if (len <= 0) {
      off = 0;
      continue;
    }
    const take = Math.min(len, budget - bytes);
    const addr = list[i]! + off;
    const k = n * 4;
    table[k] = addr % TWO32;
    table[k + 1] = Math.floor(addr / TWO32);
    table[k + 2] = take % TWO32;
    table[k + 3] = Math.floor(take / TWO32);
    n++;
    bytes += take;
    off = 0;
  }
  return [n, bytes];
}

function advance(list: IoList, cur: Cursor, bytes: number): void {
  let left = bytes;
  while (left > 0 && cur.piece < list.length) {
    const remain = list[cur.piece + 1]! - cur.offset;
    if (left < remain) {
      cur.offset += left;
      return;
    }
    left -= remain;
    cur.piece += 2;
    cur.offset = 0;
  }
  // Skip trailing zero-length pieces so the cursor sits on real data.
  while (cur.piece < list.length && list[cur.piece + 1]! - cur.offset === 0) {
    cur.piece += 2;
    cur.offset = 0;
  }
}

function checkPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x7fffffff) {
    throw invalid(ErrorCode.INVALID_ARG, `pid ${String(pid)} is not a positive integer process id`);
  }
}

/** Validate both lists; returns the byte count they agree on. */
function prepare(pid: number, local: IoList, remote: IoList): number {
  checkPid(pid);
  const l = ioListBytes(local, "local io list");
  const r = ioListBytes(remote, "remote io list");
  if (l !== r) {
    throw invalid(ErrorCode.INVALID_ARG, `local pieces total ${l} bytes but remote pieces total ${r}; both sides must name the same number of bytes`);
  }
  return l;
}

/** One transfer in progress: both cursors, the iovec tables of the next call, bytes done. */
class Progress {
  private readonly lc: Cursor = { piece: 0, offset: 0 };
  private readonly rc: Cursor = { piece: 0, offset: 0 };
  /** Bytes moved so far. */
  done = 0;
  /** iovec counts of the next call. */
  ln = 0;
  rn = 0;
  private rb = 0;

  constructor(
    private readonly dir: Direction,
    private readonly pid: number,
    private readonly local: IoList,
    private readonly remote: IoList,
    readonly total: number,
    readonly lt: Uint32Array,
    readonly rt: Uint32Array,
  ) {}

  /** Fill the tables for the next call: at most IOV_MAX pieces and MAX_BYTES_PER_CALL bytes. */
  next(): void {
    const budget = Math.min(this.total - this.done, MAX_BYTES_PER_CALL);
    let lb: number;
    [this.ln, lb] = fill(this.lt, this.local, this.lc, budget);
    [this.rn, this.rb] = fill(this.rt, this.remote, this.rc, Math.min(budget, lb));
  }

  /** Account for a call that returned `ret` (and set `errno` when it failed). */
  settle(ret: number, errno: number): void {
    if (ret <= 0) {
      const { dir, pid, total, done, local, remote, lc, rc } = this;
      throw errorForErrno(ret < 0 ? errno : 0, { dir, pid, expected: total, done, local, remote, lc, rc });
    }
    if (ret > this.rb) throw new CmaError(ErrorCode.SHORT_COPY, `kernel reported ${ret} bytes for a ${this.rb}-byte call`, { pid: this.pid });
    advance(this.local, this.lc, ret);
    advance(this.remote, this.rc, ret);
    this.done += ret;
  }
}

/**
 * Copy between this process and `pid` synchronously, blocking the JS thread for the copy.
 * `local` and `remote` are io lists of equal total length; their piece counts and lengths may
 * differ. Returns the bytes moved (always the full total) or throws a {@link CmaError}.
 */
export function transferSync(dir: Direction, pid: number, local: IoList, remote: IoList): number {
  const total = prepare(pid, local, remote);
  if (total === 0) return 0;
  const fn = fnFor(dir);
  const p = new Progress(dir, pid, local, remote, total, syncLocal, syncRemote);
  while (p.done < total) {
    p.next();
    const ret = fn(pid, p.lt, p.ln, p.rt, p.rn, 0) as number;
    p.settle(ret, ret < 0 ? lastErrno() : 0);
  }
  return p.done;
}

function callAsync(fn: NativeFn, pid: number, p: Progress): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    fn.async(pid, p.lt, p.ln, p.rt, p.rn, 0, (err: unknown, ret: number) => {
      if (err) reject(err);
      else resolve([ret, ret < 0 ? lastErrno() : 0]);
    });
  });
}

/** Like {@link transferSync} but each syscall runs on a koffi worker thread. */
async function transferOnWorker(dir: Direction, pid: number, local: IoList, remote: IoList, total: number): Promise<number> {
  const fn = fnFor(dir);
  // Tables of our own: other transfers may run on the JS thread or on other workers meanwhile.
  const lt = new Uint32Array(Math.min(local.length / 2, IOV_MAX) * 4 || 4);
  const rt = new Uint32Array(Math.min(remote.length / 2, IOV_MAX) * 4 || 4);
  const p = new Progress(dir, pid, local, remote, total, lt, rt);
  while (p.done < total) {
    p.next();
    const [ret, errno] = await callAsync(fn, pid, p);
    p.settle(ret, errno);
  }
  return p.done;
}

/** Tuning of the asynchronous path. */
export interface AsyncOptions {
  /** Split the copy into this many concurrent worker calls (default: {@link asyncDefaults}). */
  streams?: number;
}

/**
 * Defaults for {@link transfer}: below `threshold` bytes the copy runs synchronously (≈1.5 µs
 * per call); at or above it, on koffi worker threads so the event loop keeps turning, split into
 * `streams` concurrent calls of at least `minStreamBytes` each. Read once from
 * `ONECOPY_CMA_ASYNC_MIN`, `ONECOPY_CMA_STREAMS`.
 */
export const asyncDefaults = {
  // The reasons for both defaults are in the knob table (knobs.ts).
  threshold: readKnob("cmaAsyncMin"),
  streams: readKnob("cmaStreams"),
  minStreamBytes: 4 << 20,
};


/**
 * Copy between this process and `pid` without freezing the event loop: synchronous below
 * `asyncDefaults.threshold` bytes, on worker threads above it (optionally split in streams).
 * Local buffers named by `local` must stay reachable until the promise settles — pass them as
 * `keepAlive` when the caller does not hold them otherwise.
 */
export async function transfer(
  dir: Direction,
  pid: number,
  local: IoList,
  remote: IoList,
  opts: AsyncOptions & { keepAlive?: unknown } = {},
): Promise<number> {
  const total = prepare(pid, local, remote);
  if (total < asyncDefaults.threshold) return transferSync(dir, pid, local, remote);
  const streams = Math.max(1, Math.min(opts.streams ?? asyncDefaults.streams, Math.floor(total / asyncDefaults.minStreamBytes) || 1));
  try {
    if (streams === 1) return await transferOnWorker(dir, pid, local, remote, total);
    const parts: Array<Promise<number>> = [];
    const chunk = Math.ceil(total / streams / 4096) * 4096;
    for (let off = 0; off < total; off += chunk) {
      const len = Math.min(chunk, total - off);
      parts.push(transferOnWorker(dir, pid, sliceIoList(local, off, len), sliceIoList(remote, off, len), len));
    }
    const moved = await Promise.allSettled(parts);
    let sum = 0;
    for (const r of moved) {
      if (r.status === "rejected") throw r.reason;
      sum += r.value;
    }
    return sum;
  } finally {
    void opts.keepAlive;
  }
}

/** Synchronously read `remote` (in process `pid`) into local buffers. */
export function readSync(pid: number, local: LocalData, remote: IoList): number {
  return transferSync("read", pid, ioListOf(local), remote);
}

/** Synchronously write local buffers into `remote` (in process `pid`). */
export function writeSync(pid: number, local: LocalData, remote: IoList): number {
  return transferSync("write", pid, ioListOf(local), remote);
}

/** Read `remote` (in process `pid`) into local buffers; large copies run off the event loop. */
export async function read(pid: number, local: LocalData, remote: IoList, opts?: AsyncOptions): Promise<number> {
  return transfer("read", pid, ioListOf(local), remote, { ...opts, keepAlive: local });
}

/** Write local buffers into `remote` (in process `pid`); large copies run off the event loop. */
export async function write(pid: number, local: LocalData, remote: IoList, opts?: AsyncOptions): Promise<number> {
  return transfer("write", pid, ioListOf(local), remote, { ...opts, keepAlive: local });
}
