// One connection to a peer rank, and the only owner of its socket: the frame reader, cork and
// flush, backpressure, and the connection's states (undici's client-h1 is the model).
//
//   handshake ──(bootstrap: identified, probed both ways)──► up ──► left  (BYE, or our close())
//                                                               └─► lost  (dropped without BYE)
//
// Bootstrap owns a link while it is in the handshake (its handler sees HELLO…PROBED), then
// hands it to the engine with handOver(): from then on every frame goes to the engine's handler
// and the header cap rises from the handshake's 4 KiB to MAX_HEADER. Nothing else touches the
// socket.
import type { Socket } from "node:net";
import { ErrorCode, MessagingError } from "./errors.js";
import { encodeFrame, T, type DataFrame, type Frame } from "./frames.js";
import { FrameReader, MAX_HANDSHAKE_HEADER, MAX_HEADER, type PayloadSink } from "./frame-reader.js";

export type LinkState = "handshake" | "up" | "left" | "lost";

/** Who reads a link's frames: bootstrap during the handshake, the engine afterwards. */
export interface LinkHandler {
  /** A frame arrived: return where its payload goes (null: it has none). */
  frame(link: PeerLink, f: Frame): PayloadSink | null;
  /** The connection closed (peer gone, error, or our own end); `err` when it broke. */
  gone(link: PeerLink, err?: Error): void;
}

export class PeerLink {
  state: LinkState = "handshake";
  /** The peer's world rank (-1 until the handshake names it). */
  rank = -1;
  /** The peer's pid, as the handshake told it. */
  pid = 0;
  private readonly reader: FrameReader;
  private corked = false;
  private paused = false;
  private closedOnce = false;

  constructor(
    readonly socket: Socket,
    private handler: LinkHandler,
  ) {
    socket.setNoDelay?.(true);
    this.reader = new FrameReader((f) => this.handler.frame(this, f), { maxHeader: MAX_HANDSHAKE_HEADER });
    socket.on("data", (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        socket.destroy(err as Error); // a malformed stream: drop the connection
      }
    });
    const closed = (err?: Error) => {
      if (this.closedOnce) return;
      this.closedOnce = true;
      this.handler.gone(this, err);
      this.reader.abort(err ?? new MessagingError(ErrorCode.PEER_LOST, `the connection to rank ${this.rank} closed`)); // a payload still arriving fails
    };
    socket.on("close", () => closed());
    socket.on("error", (err) => closed(err));
  }

  /** Name the peer (the handshake's answer). */
  identify(rank: number, pid: number): void {
    this.rank = rank;
    this.pid = pid;
  }

  /** The handshake is over: the engine reads every frame from now on. */
  handOver(handler: LinkHandler): void {
    this.handler = handler;
    this.state = "up";
    this.reader.maxHeader = MAX_HEADER;
  }

  /**
   * Send one frame: its header, then payload views written as they are (no concatenation).
   * Frames sent in the same tick leave in one writev: the socket is corked until the next tick,
   * so a burst of RTS or FIN frames costs one syscall instead of one each. `cb` runs once the
   * socket has taken the last byte (or with the error if it cannot).
   */
  send(f: Frame, payload?: readonly Uint8Array[], cb?: (err?: Error | null) => void): void {
    const s = this.socket;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      process.nextTick(this.flush);
    }
    const head = encodeFrame(f);
    if (!payload || payload.length === 0) {
      s.write(head, cb);
      return;
    }
    s.write(head);
    for (let i = 0; i < payload.length; i++) s.write(payload[i]!, i === payload.length - 1 ? cb : undefined);
  }

  /** Write out what this tick has queued now (a shm doorbell must not wait for the tick's end). */
  readonly flush = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  };

  /** Stop reading from the peer (backpressure: too much unexpected data is buffered). */
  pause(): void {
    if (this.paused || this.state !== "up") return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Say goodbye and end the connection; resolves once every byte written before the BYE is out
   * (or the peer is gone). The socket is destroyed only then: bytes already handed to it are
   * never thrown away while the peer is alive.
   */
  leave(): Promise<void> {
    this.state = "left";
    return new Promise<void>((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once("close", () => resolve());
      this.flush();
      this.socket.end(encodeFrame({ t: T.BYE } satisfies DataFrame), () => resolve());
    });
  }

  /** Tear the connection down at once. */
  destroy(err?: Error): void {
    this.socket.destroy(err);
  }
}
