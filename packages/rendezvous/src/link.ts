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
//
// Once the engine attaches a fast path (fastpath/fast-path.ts), the hot frames (EAGER, RTS, FIN,
// PULL) go through the pair's shared-memory frame ring instead of the socket; the socket keeps
// RING set-up frames and doorbells, DATA, SHM, BYE and the connection's liveness.
//
// A link's socket reads into one buffer of the link's own (connectLink, acceptLink), not a new
// Buffer per read: see ownReadBuffer.
import { createConnection, Socket, type OnReadOpts, type SocketConstructorOpts } from "node:net";
import { ErrorCode, MessagingError } from "./errors.js";
import { BELL_BYTES, encodeFrame, RING_OP, T, type DataFrame, type Eager, type Frame } from "./frames.js";
import { FrameReader, MAX_HANDSHAKE_HEADER, MAX_HEADER, type PayloadSink } from "./frame-reader.js";
import { ringCarries } from "./fastpath/binary-frames.js";
import type { FastPath } from "./fastpath/fast-path.js";

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
  /** The shared-memory control plane, once the engine attached one. */
  private fast: FastPath | null = null;

  constructor(
    readonly socket: Socket,
    private handler: LinkHandler,
  ) {
    socket.setNoDelay?.(true);
    this.reader = new FrameReader(this.onSocketFrame, { maxHeader: MAX_HANDSHAKE_HEADER });
    socket.on("data", this.received); // not emitted for a socket reading into its own buffer (connectLink, acceptLink)
    const closed = (err?: Error) => {
      if (this.closedOnce) return;
      this.closedOnce = true;
      this.fast?.drainAll(); // frames the peer put in its ring before it went come first
      this.handler.gone(this, err);
      this.fast?.close(err);
      this.reader.abort(err ?? new MessagingError(ErrorCode.PEER_LOST, `the connection to rank ${this.rank} closed`)); // a payload still arriving fails
    };
    socket.on("close", () => closed());
    socket.on("error", (err) => closed(err));
  }

  /** Bytes from the socket, valid only during the call (the reader copies what it keeps). */
  readonly received = (chunk: Buffer): void => {
    try {
      this.reader.push(chunk);
    } catch (err) {
      this.socket.destroy(err as Error); // a malformed stream: drop the connection
    }
  };

  /** A frame from the socket: RING frames are the fast path's; a BYE comes after the ring's frames. */
  private readonly onSocketFrame = (f: Frame): PayloadSink | null => {
    if (f.t === T.RING) {
      if (this.fast) this.fast.onControl(f);
      else if (f.o === RING_OP.MAP) this.send({ t: T.RING, o: RING_OP.MAPPED, ok: false, r: "the fast path is off here" });
      return null;
    }
    if (f.t === T.BYE) this.fast?.drainAll();
    return this.handler.frame(this, f);
  };

  /** Frames from the ring go where socket frames go. */
  readonly deliver = (f: Frame): PayloadSink | null => this.handler.frame(this, f);

  /** From now on the hot frames may take `fast` (the engine's, after handOver). */
  attachFastPath(fast: FastPath): void {
    this.fast = fast;
  }

  /** Ring the peer's doorbell now (not at the end of the tick: we may poll meanwhile). */
  bell(): void {
    if (this.socket.destroyed) return;
    this.socket.write(BELL_BYTES);
    this.flush();
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
    if (this.fast?.sending && ringCarries(f.t)) {
      this.fast.send(f as DataFrame, payload, cb);
      return;
    }
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

  /**
   * Send EAGER frame `f` with `payload` (`bytes` in all) at once if the fast path can take all of
   * it now: true when it did (every byte is in the ring). False, with nothing sent, otherwise:
   * use {@link send}.
   */
  trySend(f: Eager, payload: readonly Uint8Array[], bytes: number): boolean {
    const fast = this.fast;
    return fast !== null && fast.sending && fast.trySend(f, payload, bytes);
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
    const fast = this.fast;
    if (fast) queueMicrotask(() => {
      fast.poll();
      fast.settle();
    });
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
      // BYE leaves on the socket once every frame before it is in the ring (the peer drains the
      // ring before it acts on BYE).
      const end = () => {
        if (this.socket.destroyed) return resolve();
        this.flush();
        this.socket.end(encodeFrame({ t: T.BYE } satisfies DataFrame), () => resolve());
      };
      if (this.fast) this.fast.whenSent(end);
      else end();
    });
  }

  /** Tear the connection down at once. */
  destroy(err?: Error): void {
    this.socket.destroy(err);
  }
}

/** Bytes a link reads at a time (libuv's read size for a stream). */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Socket options that read into one buffer of the link's own, reused for every read, instead of
 * a new 64 KiB Buffer per read: a large DATA frame streamed through a link otherwise allocates
 * its whole size again in short-lived external memory, which drives the receiver's garbage
 * collector (scavenges and, once V8's external-memory heuristics trip, a full mark-compact
 * every few tens of milliseconds). The frame reader copies every byte it keeps (headers,
 * payloads into their sinks) before it returns, so the buffer can be reused.
 */
function ownReadBuffer(): { onread: OnReadOpts; bind(link: PeerLink): void } {
  let link: PeerLink | null = null;
  return {
    onread: {
      buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback: (n: number, buf: Uint8Array) => {
        link!.received((buf as Buffer).subarray(0, n));
        return true;
      },
    },
    bind: (l) => (link = l),
  };
}

/** Connect to the Unix socket at `path` and make the link over it (reading into its own buffer). */
export function connectLink(path: string, handler: LinkHandler): PeerLink {
  const r = ownReadBuffer();
  const link = new PeerLink(createConnection({ path, onread: r.onread }), handler);
  r.bind(link);
  return link;
}

/**
 * The link over a socket a server accepted. net.Server has no `onread` option, so the accepted
 * connection's handle moves into a socket that reads into the link's own buffer, as
 * {@link connectLink}'s does. The server must be created with `pauseOnConnect` (the accepted
 * socket has read nothing); the accepted socket is left without a handle and is never used
 * again. Without a handle to move (not a Node that has one), the accepted socket is used as it is.
 */
export function acceptLink(accepted: Socket, handler: LinkHandler): PeerLink {
  const handle = (accepted as unknown as { _handle?: object | null })._handle;
  if (!handle) {
    accepted.resume();
    return new PeerLink(accepted, handler);
  }
  const r = ownReadBuffer();
  (accepted as unknown as { _handle: object | null })._handle = null;
  const socket = new Socket({ handle, readable: true, writable: true, onread: r.onread } as SocketConstructorOpts);
  const link = new PeerLink(socket, handler);
  r.bind(link);
  return link;
}
