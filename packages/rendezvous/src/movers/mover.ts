// The movers of a rendezvous message's bytes, behind one small interface. Which one a message
// takes is chosen by selectPath (path.ts); a new mover is a new Path, a module here, and an entry
// in the protocol's table of movers.
//
//   single-copy   the receiver reads the sender's buffers (CMA) and sends FIN
//   shm           the receiver sends PULL (s: 1); the sender streams through the pair's ring
//   socket        the receiver sends PULL; the sender streams DATA frames over the socket
import type { PeerLink } from "../link.js";
import type { MoverPath } from "../path.js";

/** A rendezvous message as the receiver knows it from its RTS. */
export interface Announced {
  src: number;
  tag: number;
  id: number;
  bytes: number;
  /** The sender's descriptor, when it let the receiver read it. */
  iov?: number[];
  /** The sender already posted the bytes (the mpi mover, sender first). */
  posted?: boolean;
}

/** Where an announced message's bytes go on the receiving side, and how the receive settles. */
export interface PullTarget {
  views: Uint8Array[];
  bytes: number;
  finish(): void;
  fail(err: Error): void;
}

/** A message the sender streams itself, once the receiver has asked for it. Done when its last byte is out. */
export interface OutgoingMessage {
  id: number;
  views: readonly Uint8Array[];
  bytes: number;
  done(err?: Error): void;
}

export interface Mover {
  readonly path: MoverPath;
  /**
   * Receiver side: bring message `m` from `link`'s rank into `t.views`. Resolves once the bytes
   * are there (the mover has told the sender whatever it must); rejects with the reason it could
   * not (ERR_PEER_LOST, or an error of the mechanism, which the protocol may answer with another path).
   */
  receive(link: PeerLink, m: Announced, t: PullTarget): Promise<void>;
  /** Sender side: the receiver asked for message `s` through this mover. */
  serve(link: PeerLink, s: OutgoingMessage): void;
}

/** A mover whose sender posts the bytes right after its RTS (the mpi mover): MPI's own rendezvous holds them until the receive is posted. */
export interface SenderFirstMover extends Mover {
  /** Sender side: post message `s` now; `s.done` runs when the transport completes it. */
  post(link: PeerLink, s: OutgoingMessage): void;
  /** Receiver side: take message `m`'s bytes and drop them (a refused or truncated receive), so that its sender completes. */
  discard(link: PeerLink, m: Announced): void;
  /**
   * `rank` left or was lost: when it left, first let the transport report the sends it already
   * completed; then stop waiting for the rest (the protocol fails their owners).
   */
  peerGone(rank: number, how: "left" | "lost"): void;
}
