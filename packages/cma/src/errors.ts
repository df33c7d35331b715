/**
 * The one error class of onecopy. Every layer throws an `OnecopyError` (or a subclass) with a
 * stable `code`; match on `code`, never on the message text.
 */
export class OnecopyError extends Error {
  /** Stable machine-readable code, e.g. `ERR_TRUNCATE`, `ERR_PEER_LOST`, `EPERM`. */
  readonly code: ErrorCodeValue | (string & {});

  constructor(code: ErrorCodeValue | (string & {}), message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OnecopyError";
    this.code = code;
  }
}

/**
 * Every stable code a user of onecopy can see, of every layer, in one enum. Syscall failures keep
 * their errno names (as Node's own errors do); onecopy's own conditions are `ERR_*`.
 */
export const ErrorCode = {
  // ---- the copy core: errno of process_vm_readv/writev, and onecopy's own CMA conditions ----
  /** The kernel denied access to the peer's memory (ptrace rules, user namespaces). */
  EPERM: "EPERM",
  /** The peer process does not exist (it died). */
  ESRCH: "ESRCH",
  /** An address range is not mapped in one of the two processes. */
  EFAULT: "EFAULT",
  EINVAL: "EINVAL",
  ENOMEM: "ENOMEM",
  /** The kernel has no process_vm_readv/writev. */
  ENOSYS: "ENOSYS",
  /** Single copy was switched off (ONECOPY_CMA=0, --no-cma, disableCma()). */
  CMA_DISABLED: "ERR_CMA_DISABLED",
  /** This platform has no CMA (not Linux, or koffi cannot load). */
  CMA_UNSUPPORTED: "ERR_CMA_UNSUPPORTED",
  /** The kernel moved fewer bytes than asked and made no further progress. */
  SHORT_COPY: "ERR_SHORT_COPY",
  /** A probe read returned other bytes than the peer published: the pid names another process. */
  PROBE_MISMATCH: "ERR_PROBE_MISMATCH",
  // ---- shared-memory segments ------------------------------------------------------------
  SHM_UNAVAILABLE: "ERR_SHM_UNAVAILABLE",
  SHM_MAP: "ERR_SHM_MAP",
  SHM_CREATE: "ERR_SHM_CREATE",
  SHM_OPEN: "ERR_SHM_OPEN",
  SHM_SIZE: "ERR_SHM_SIZE",
  /** errno names passed through from the file system when a segment cannot be created or opened. */
  ENOSPC: "ENOSPC",
  EEXIST: "EEXIST",
  EACCES: "EACCES",
  EROFS: "EROFS",
  ENOENT: "ENOENT",
  // ---- messaging -------------------------------------------------------------------------
  /** A rank outside 0 … size-1 (or not ANY_SOURCE where that is allowed). */
  INVALID_RANK: "ERR_INVALID_RANK",
  /** A tag that is not an integer in 0 … TAG_UB (or ANY_TAG where that is allowed). */
  INVALID_TAG: "ERR_INVALID_TAG",
  /** A data argument that is not a buffer, typed array, DataView or array of those. */
  INVALID_BUFFER: "ERR_INVALID_BUFFER",
  /** Another argument is wrong (type, range). */
  INVALID_ARG: "ERR_INVALID_ARG",
  /** status.count(type): the message's bytes are not a whole number of elements of that type (MPI_UNDEFINED). */
  COUNT: "ERR_COUNT",
  /** An io list (a descriptor of remote or local memory) that is not [address, length, …] of non-negative integers. */
  INVALID_IOLIST: "ERR_INVALID_IOLIST",
  /** The message was longer than the receive buffer; nothing was written, the message is consumed. */
  TRUNCATE: "ERR_TRUNCATE",
  /** The peer process died or left the job while the operation needed it. */
  PEER_LOST: "ERR_PEER_LOST",
  /** The communicator (or the whole runtime) was closed. */
  CLOSED: "ERR_CLOSED",
  /** A wait given `{ timeout }` expired first. A receive that timed out before it matched was withdrawn (its message stays for the next receive); a send goes on, its buffer held until the peer is done. */
  TIMEOUT: "ERR_TIMEOUT",
  /** The operation was cancelled with `req.cancel()` before it matched. */
  CANCELLED: "ERR_CANCELLED",
  /** A collective on this communicator gave up (timeout or abort): its collectives can no longer complete; point-to-point on it still works. */
  COMM_BROKEN: "ERR_COMM_BROKEN",
  /** A wait given `{ signal }` was aborted (the error's `name` is "AbortError" and its `cause` the signal's reason, as in Node's APIs). */
  ABORT_ERR: "ABORT_ERR",
  /** Start-up failed: a rank did not come up, or presented a wrong job token. */
  INIT: "ERR_INIT",
  /** Started by mpirun/srun, but no usable MPI library could be loaded (install one, or set ONECOPY_LIBMPI). */
  MPI_UNAVAILABLE: "ERR_MPI_UNAVAILABLE",
  /** An MPI call failed (its MPI error string is in the message). */
  MPI: "ERR_MPI",
  /**
   * Memory for a matched message could not be allocated (the size its sender announced is more
   * than this process can allocate). The receive fails; the message is consumed and its sender
   * released, as with ERR_TRUNCATE.
   */
  NO_MEMORY: "ERR_NO_MEMORY",
  /**
   * A one-sided operation names bytes outside the target's window (offset + length beyond the
   * size that rank exposed, a negative or fractional offset). Nothing was transferred; check
   * the offset against the window's size on that rank (`win.sizes[target]`).
   */
  RMA_RANGE: "ERR_RMA_RANGE",
  /**
   * A one-sided operation outside an access epoch (no fence, lock or lockAll covers the
   * target), or a synchronization call out of order (unlock without lock, lock twice, flush
   * outside a passive epoch). Open an epoch first: `win.fence()` on every rank, or
   * `win.lock(target)` / `win.lockAll()`.
   */
  RMA_SYNC: "ERR_RMA_SYNC",
  /** The peers disagree about a collective operation (type, length, op, root). */
  MISMATCH: "ERR_MISMATCH",
  /** CPU binding (--bind-to) is not possible here. */
  AFFINITY_UNSUPPORTED: "ERR_AFFINITY_UNSUPPORTED",
  /** A .ts program was to run but tsx is not installed (it is an optional peer of onecopy). */
  TSX_NOT_FOUND: "ERR_TSX_NOT_FOUND",
  /** A peer broke the wire protocol (an unexpected frame); its connection is dropped. */
  PROTOCOL: "ERR_PROTOCOL",
  /** A frame header longer than allowed (before the handshake: 4 KiB); the connection is dropped. */
  FRAME_TOO_LARGE: "ERR_FRAME_TOO_LARGE",
  /** A frame header that is not valid msgpack or lacks its fields; the connection is dropped. */
  FRAME_CORRUPT: "ERR_FRAME_CORRUPT",
} as const;

/** One of the stable codes. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** errno names that a Cross Memory Attach call can fail with, plus onecopy's own CMA codes. */
export type CmaErrorCode =
  | typeof ErrorCode.EPERM
  | typeof ErrorCode.ESRCH
  | typeof ErrorCode.EFAULT
  | typeof ErrorCode.EINVAL
  | typeof ErrorCode.ENOMEM
  | typeof ErrorCode.ENOSYS
  | typeof ErrorCode.CMA_DISABLED
  | typeof ErrorCode.CMA_UNSUPPORTED
  | typeof ErrorCode.SHORT_COPY;

/** A failed `process_vm_readv`/`process_vm_writev`, with what was asked and what was done. */
export class CmaError extends OnecopyError {
  declare readonly code: CmaErrorCode;
  /** The raw errno, or 0 when the error is onecopy's own (disabled, short copy). */
  readonly errno: number;
  /** The peer process whose memory was being accessed. */
  readonly pid: number;
  /** `process_vm_readv` or `process_vm_writev`. */
  readonly syscall: string;
  /** Bytes the whole transfer asked for. */
  readonly expected: number;
  /** Bytes moved before the failure. */
  readonly done: number;

  constructor(
    code: CmaErrorCode,
    message: string,
    ctx: { errno?: number; pid?: number; syscall?: string; expected?: number; done?: number; cause?: unknown } = {},
  ) {
    super(code, message, { cause: ctx.cause });
    this.name = "CmaError";
    this.errno = ctx.errno ?? 0;
    this.pid = ctx.pid ?? 0;
    this.syscall = ctx.syscall ?? "";
    this.expected = ctx.expected ?? 0;
    this.done = ctx.done ?? 0;
  }
}

/** A bad argument, caught before anything happened: `code` says which kind (ERR_INVALID_ARG, ERR_INVALID_BUFFER, ERR_INVALID_IOLIST). */
export function invalid(code: typeof ErrorCode.INVALID_ARG | typeof ErrorCode.INVALID_BUFFER | typeof ErrorCode.INVALID_IOLIST, message: string): OnecopyError {
  return new OnecopyError(code, message);
}
