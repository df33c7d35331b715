// A byte stream that is not a sequence of valid frames. The connection it came on is dropped.
import { ErrorCode, OnecopyError } from "@onecopy/cma";

/** Stable codes of {@link FrameError}. */
export type FrameErrorCode = typeof ErrorCode.FRAME_TOO_LARGE | typeof ErrorCode.FRAME_CORRUPT;

/** A malformed or oversized frame from a peer (or from a process that is not one). */
export class FrameError extends OnecopyError {
  declare readonly code: FrameErrorCode;
  constructor(code: FrameErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
