// Error codes of the messaging layer. Every error is an OnecopyError with a stable `code`.
import { OnecopyError } from "@onecopy/cma";

export { OnecopyError };

/** Stable codes thrown or rejected by the messaging layer. */
export const ErrorCode = {
  /** A rank outside 0 … size-1 (or not ANY_SOURCE where that is allowed). */
  INVALID_RANK: "ERR_INVALID_RANK",
  /** A tag that is not an integer in 0 … TAG_UB (or ANY_TAG where that is allowed). */
  INVALID_TAG: "ERR_INVALID_TAG",
  /** A data argument that is not a buffer, typed array, DataView or array of those. */
  INVALID_BUFFER: "ERR_INVALID_BUFFER",
  /** Another argument is wrong (type, range). */
  INVALID_ARG: "ERR_INVALID_ARG",
  /** The message was longer than the receive buffer; nothing was written, the message is consumed. */
  TRUNCATE: "ERR_TRUNCATE",
  /** The peer process died or left the job while the operation needed it. */
  PEER_LOST: "ERR_PEER_LOST",
  /** The communicator (or the whole runtime) was closed. */
  CLOSED: "ERR_CLOSED",
  /** Start-up failed: a rank did not come up, or presented a wrong job token. */
  INIT: "ERR_INIT",
  /**
   * Memory for a matched message could not be allocated (the size its sender announced is more
   * than this process can allocate). The receive fails; the message is consumed and its sender
   * released, as with ERR_TRUNCATE.
   */
  NO_MEMORY: "ERR_NO_MEMORY",
  /** The peers disagree about a collective operation (type, length, op, root). */
  MISMATCH: "ERR_MISMATCH",
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Context fields attached to messaging errors. */
export interface MessagingErrorContext {
  rank?: number;
  peer?: number;
  tag?: number;
  expected?: number;
  actual?: number;
  cause?: unknown;
}

/** An OnecopyError from the messaging layer, with the ranks and sizes involved. */
export class MessagingError extends OnecopyError {
  readonly rank?: number;
  readonly peer?: number;
  readonly tag?: number;
  readonly expected?: number;
  readonly actual?: number;

  constructor(code: ErrorCodeValue, message: string, ctx: MessagingErrorContext = {}) {
    super(code, message, { cause: ctx.cause });
    this.name = "OnecopyError";
    this.rank = ctx.rank;
    this.peer = ctx.peer;
    this.tag = ctx.tag;
    this.expected = ctx.expected;
    this.actual = ctx.actual;
  }
}
