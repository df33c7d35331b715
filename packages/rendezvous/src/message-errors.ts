// The errors a rank's operations fail with, worded once: which peer, what happened, what to do.
import { ErrorCode, MessagingError } from "./errors.js";
import type { PeerLink } from "./link.js";

/** The fields of a message that its errors name. */
export interface MessageFacts {
  src: number;
  tag: number;
  bytes: number;
}

export class MessageErrors {
  constructor(
    private readonly rank: number,
    private readonly links: ReadonlyArray<PeerLink | null>,
  ) {}

  /** `peer` is gone (it left, or it died): `what` cannot complete. */
  lost(peer: number, what: string, cause?: unknown): MessagingError {
    const p = this.links[peer];
    const how =
      p?.state === "left"
        ? `rank ${peer} has already left the job (it closed its communicator or exited)`
        : `rank ${peer}${p?.pid ? ` (pid ${p.pid})` : ""} died or dropped its connection`;
    return new MessagingError(ErrorCode.PEER_LOST, `${what}: ${how}. Check that rank's output for its error.`, { rank: this.rank, peer, cause });
  }

  closed(what: string): MessagingError {
    return new MessagingError(ErrorCode.CLOSED, `${what}: the communicator was closed with close(); no further operations are possible`, { rank: this.rank });
  }

  /** A matched message that could not be served: the memory for it could not be allocated. */
  noMemory(m: MessageFacts, cause: unknown): MessagingError {
    const why = cause instanceof Error ? cause.message : String(cause);
    return new MessagingError(
      ErrorCode.NO_MEMORY,
      `message of ${m.bytes} bytes from rank ${m.src} (tag ${m.tag}) cannot be received: allocating memory for it failed (${why}); the message was consumed. Receive it into a buffer of your own, or check the size the sender announces.`,
      { rank: this.rank, peer: m.src, tag: m.tag, actual: m.bytes, cause },
    );
  }

  truncate(m: MessageFacts, capacity: number): MessagingError {
    return new MessagingError(
      ErrorCode.TRUNCATE,
      `message of ${m.bytes} bytes from rank ${m.src} (tag ${m.tag}) does not fit the ${capacity}-byte receive buffer; nothing was written and the message was consumed. Post a larger buffer, or use probe() to learn the size first.`,
      { rank: this.rank, peer: m.src, tag: m.tag, expected: capacity, actual: m.bytes },
    );
  }
}
