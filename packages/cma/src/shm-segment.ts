// POSIX shared memory the portable way: a file in /dev/shm (what shm_open does under the hood)
// mapped MAP_SHARED into both processes and exposed to JS with koffi.view. The creator fills
// the file with real pages (write, not ftruncate) so a full tmpfs fails here with ENOSPC
// instead of killing a process with SIGBUS on first touch of a hole.
//
// Lifetime: unlink the name as soon as the peer has mapped it. The mappings stay valid after
// unlink and the kernel frees the pages when the last mapping goes away, so nothing leaks even
// when a process is SIGKILLed afterwards.
import { closeSync, fstatSync, openSync, statSync, unlinkSync, writeSync, constants as fsc } from "node:fs";
import { join } from "node:path";
import { ErrorCode, OnecopyError, invalid } from "./errors.js";
import { libc, libcError } from "./libc.js";

/** Where segments live: the tmpfs behind POSIX shm_open on Linux. */
export const SHM_DIR = "/dev/shm";

const PROT_RW = 0x1 | 0x2;
const MAP_SHARED = 0x01;
const MAP_POPULATE = 0x8000;
const ZEROS = Buffer.alloc(1 << 20);

/** A mapped shared-memory segment. `buffer` is the mapping itself (no copy). */
export interface ShmSegment {
  /** Full path of the file (it may already be unlinked). */
  readonly path: string;
  readonly bytes: number;
  /** Address of the mapping in this process. */
  readonly address: bigint;
  /** The mapping as an ArrayBuffer (koffi.view). Never touch it after {@link unmapShmSegment}. */
  readonly buffer: ArrayBuffer;
}

function isFailure(p: unknown): boolean {
  return p === null || p === undefined || BigInt(p as bigint) === 0xffffffffffffffffn || BigInt(p as bigint) === -1n;
}

function shmError(code: string, message: string, cause?: unknown): OnecopyError {
  return new OnecopyError(code, message, { cause });
}

/** Why shared-memory segments cannot be used here, or null when they can. */
export function shmUnavailableReason(): string | null {
  if (!libc()) return libcError();
  try {
    if (!statSync(SHM_DIR).isDirectory()) return `${SHM_DIR} is not a directory`;
  } catch (err) {
    return `${SHM_DIR} is missing (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
  return null;
}

function checkName(name: string): string {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(name)) throw invalid(ErrorCode.INVALID_ARG, `shared-memory segment name '${name}' must be 1-200 characters of [A-Za-z0-9._-]`);
  return join(SHM_DIR, name);
}

function mapFd(fd: number, path: string, bytes: number): ShmSegment {
  const lib = libc();
  if (!lib) throw shmError(ErrorCode.SHM_UNAVAILABLE, `cannot map ${path}: ${libcError()}`);
  const p = lib.mmap(null, bytes, PROT_RW, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (isFailure(p)) throw shmError(ErrorCode.SHM_MAP, `mmap of ${path} (${bytes} bytes) failed, errno ${lib.koffi.errno()}`);
  const address = BigInt(p);
  return { path, bytes, address, buffer: lib.koffi.view(address, bytes) as ArrayBuffer };
}

/**
 * Create `/dev/shm/<name>` (exclusively, mode 0600) holding `bytes` zero bytes, and map it.
 * Throws an OnecopyError (`EEXIST`, `ENOSPC`, `ERR_SHM_MAP`, …) and leaves no file behind.
 */
export function createShmSegment(name: string, bytes: number): ShmSegment {
  const path = checkName(name);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw invalid(ErrorCode.INVALID_ARG, `segment size ${bytes} is not a positive byte count`);
  let fd = -1;
  try {
    fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    for (let at = 0; at < bytes; ) at += writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, bytes - at), at);
    return mapFd(fd, path, bytes);
  } catch (err) {
    if (fd >= 0) unlinkShmPath(path);
    if (err instanceof OnecopyError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw shmError(e.code ?? ErrorCode.SHM_CREATE, `cannot create shared-memory segment ${path} (${bytes} bytes): ${e.message}`, err);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Map an existing `/dev/shm/<name>` of exactly `bytes` bytes. Throws an OnecopyError. */
export function openShmSegment(name: string, bytes: number): ShmSegment {
  const path = checkName(name);
  let fd = -1;
  try {
    fd = openSync(path, fsc.O_RDWR);
    const size = fstatSync(fd).size;
    if (size !== bytes) throw shmError(ErrorCode.SHM_SIZE, `shared-memory segment ${path} holds ${size} bytes, expected ${bytes}`);
    return mapFd(fd, path, bytes);
  } catch (err) {
    if (err instanceof OnecopyError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw shmError(e.code ?? ErrorCode.SHM_OPEN, `cannot open shared-memory segment ${path}: ${e.message}`, err);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function unlinkShmPath(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Remove `/dev/shm/<name>` if it exists (mappings stay valid). True if a file was removed. Never throws. */
export function unlinkShmSegment(name: string): boolean {
  return unlinkShmPath(join(SHM_DIR, name));
}

/**
 * Give the CPU to another runnable thread, if there is one (sched_yield). For polling loops: a
 * process woken by our doorbell may have been queued on our CPU, and would otherwise wait for
 * our poll to end. Costs about a microsecond when nobody is waiting.
 */
export function yieldCpu(): void {
  libc()?.sched_yield();
}

/** Unmap a segment. Every view of `seg.buffer` becomes invalid: touching one afterwards crashes the process. */
export function unmapShmSegment(seg: ShmSegment): void {
  libc()?.munmap(seg.address, seg.bytes);
}
