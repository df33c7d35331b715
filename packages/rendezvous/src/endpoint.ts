// One connected peer: its socket, frame reader, identity and what CMA can do between us.
import type { Socket } from "node:net";
import type { ProbeToken } from "@onecopy/cma";
import { encodeHeader, type Header } from "./wire.js";

export type PeerState = "connecting" | "up" | "left" | "lost";

export class Peer {
  state: PeerState = "connecting";
  pid = 0;
  probeToken: ProbeToken | null = null;
  /** This process may read the peer's memory (our probe of it succeeded). */
  canRead = false;
  /** The peer may read our memory (its probe of us succeeded, as it told us). */
  peerCanRead = false;
  /** Why we cannot read the peer, when we cannot. */
  readFailure = "";
  /** Our probe is done and the peer's PROBED frame has arrived. */
  probedUs = false;
  probedThem = false;
  /** Receive currently streaming an eager/DATA payload from this peer, if any. */
  streaming: { fail(err: Error): void } | null = null;
  paused = false;
  /** Counted once in start-up's tally of ready peers. */
  counted = false;

  constructor(
    readonly rank: number,
    readonly socket: Socket,
  ) {}

  /**
   * Send one frame: header, then payload views written as they are (no concatenation). Frames
   * sent in the same tick leave in one writev: the socket is corked until the next tick, so a
   * burst of RTS or FIN frames costs one syscall instead of one each.
   */
  send(h: Header, payload?: readonly Uint8Array[], cb?: (err?: Error | null) => void): void {
    const s = this.socket;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(this.flush);
    }
    const frame = encodeHeader(h);
    if (!payload || payload.length === 0) {
      s.write(frame, cb);
      return;
    }
    s.write(frame);
    for (let i = 0; i < payload.length; i++) s.write(payload[i]!, i === payload.length - 1 ? cb : undefined);
  }

  private corked = false;

  /** Write out what this tick has queued now (a shm doorbell must not wait for the tick's end). */
  readonly flush = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  };

  get ready(): boolean {
    return this.state === "up" && this.probedUs && this.probedThem;
  }
}
