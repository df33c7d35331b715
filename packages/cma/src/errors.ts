/**
 * The one error class of onecopy. Every layer throws an `OnecopyError` (or a subclass) with a
 * stable `code`; match on `code`, never on the message text.
 */
export class OnecopyError extends Error {
  /** Stable machine-readable code, e.g. `ERR_TRUNCATE`, `ERR_PEER_LOST`, `EPERM`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OnecopyError";
    this.code = code;
  }
}

/** errno names that a Cross Memory Attach call can fail with, plus onecopy's own CMA codes. */
export type CmaErrorCode =
  | "EPERM"
  | "ESRCH"
  | "EFAULT"
  | "EINVAL"
  | "ENOMEM"
  | "ENOSYS"
  | "ERR_CMA_DISABLED"
  | "ERR_CMA_UNSUPPORTED"
  | "ERR_SHORT_COPY";

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
