// Errors of the messaging layer: an OnecopyError with a stable `code` from the one enum
// (@onecopy/cma's ErrorCode) and the ranks and sizes involved.
import { ErrorCode, OnecopyError, type ErrorCodeValue } from "@onecopy/cma";

export { ErrorCode, OnecopyError, type ErrorCodeValue };

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
