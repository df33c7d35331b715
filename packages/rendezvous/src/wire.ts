// Frames on the socket: [u32 LE header length][msgpack header][payload of header.n bytes, if any].
// Payload bytes are written straight from the caller's buffers (no concatenation) and read
// straight into the receiver's buffers when a receive is already posted.
import { Packr } from "msgpackr";
import { OnecopyError } from "@onecopy/cma";

/** Frame types. Numbers keep the hot headers small. */
export const T = {
  HELLO: 10,
  WELCOME: 11,
  REJECT: 12,
  PROBED: 13,
  EAGER: 1,
  RTS: 2,
  FIN: 3,
  PULL: 4,
  DATA: 5,
  BYE: 6,
  /** Shared-memory ring control: map offer/answer and doorbell (sub-op in `o`; shm/channel.ts). */
  SHM: 7,
} as const;

/** A decoded header. Short keys: t type, c context, g tag, n payload/message bytes, i id. */
export interface Header {
  t: number;
  c?: string;
  g?: number;
  n?: number;
  i?: number;
  v?: number[];
  [k: string]: unknown;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

/** Encode a header as a complete frame prefix (length + msgpack). */
export function encodeHeader(h: Header): Buffer {
  const body = packr.pack(h);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32LE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

/** Where the payload bytes of a frame go. */
export interface PayloadSink {
  /** Copy `chunk` (the next bytes, in order) to their destination. */
  write(chunk: Uint8Array): void;
  /** All `n` bytes have arrived. */
  end(): void;
}

/** Decides, for each header, whether payload follows and where it goes. */
export type HeaderHandler = (h: Header) => PayloadSink | null;

/** Largest header an authenticated peer may send (an RTS can list many iovecs). */
export const MAX_HEADER = 16 * 1024 * 1024;

/**
 * Largest header accepted before the handshake completes. HELLO, WELCOME and REJECT are a few
 * hundred bytes; a bigger length prefix from a process that has not shown the job token is
 * refused at once, before any of it is buffered.
 */
export const MAX_HANDSHAKE_HEADER = 4 * 1024;

/** Stable codes of {@link FrameError}. */
export type FrameErrorCode = "ERR_FRAME_TOO_LARGE" | "ERR_FRAME_CORRUPT";

/** A byte stream that is not a sequence of valid frames. The connection must be dropped. */
export class FrameError extends OnecopyError {
  declare readonly code: FrameErrorCode;
  constructor(code: FrameErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export interface FrameReaderOptions {
  /** Largest header accepted, in bytes (default {@link MAX_HEADER}); may be changed later through `maxHeader`. */
  maxHeader?: number;
}

/**
 * Incremental frame parser over socket chunks. Headers that arrive whole inside a chunk are
 * decoded in place; an incomplete one is copied into a buffer of its final size (known from its
 * length prefix) so every byte is copied at most once, however finely it is split.
 */
export class FrameReader {
  /** Largest header length accepted; checked as soon as the 4-byte prefix is known. */
  maxHeader: number;
  /** The length prefix while it is incomplete. */
  private readonly prefix = Buffer.alloc(4);
  private prefixHave = 0;
  /** The header body while it is incomplete (allocated once its length is known). */
  private body: Buffer | null = null;
  private bodyHave = 0;
  private sink: PayloadSink | null = null;
  private remaining = 0;

  constructor(
    private readonly onHeader: HeaderHandler,
    options: FrameReaderOptions = {},
  ) {
    this.maxHeader = options.maxHeader ?? MAX_HEADER;
  }

  push(chunk: Buffer): void {
    let off = 0;
    if (this.prefixHave > 0 || this.body) {
      off = this.fillPartial(chunk);
      if (this.body === null || this.bodyHave < this.body.length) return; // chunk used up
      const body = this.body;
      this.body = null;
      this.bodyHave = 0;
      this.dispatch(decode(body));
    }
    while (off < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - off);
        this.sink!.write(chunk.subarray(off, off + take));
        off += take;
        this.remaining -= take;
        if (this.remaining === 0) this.finishPayload();
        continue;
      }
      if (chunk.length - off < 4) {
        chunk.copy(this.prefix, 0, off);
        this.prefixHave = chunk.length - off;
        return;
      }
      const len = chunk.readUInt32LE(off);
      this.checkLength(len);
      if (chunk.length - off - 4 < len) {
        this.body = Buffer.allocUnsafe(len);
        this.bodyHave = chunk.copy(this.body, 0, off + 4);
        return;
      }
      const h = decode(chunk.subarray(off + 4, off + 4 + len));
      off += 4 + len;
      this.dispatch(h);
    }
  }

  /** Continue an incomplete prefix/header with `chunk`; returns how many of its bytes were used. */
  private fillPartial(chunk: Buffer): number {
    let off = 0;
    if (this.body === null) {
      const take = Math.min(4 - this.prefixHave, chunk.length);
      chunk.copy(this.prefix, this.prefixHave, 0, take);
      this.prefixHave += take;
      off = take;
      if (this.prefixHave < 4) return off;
      this.prefixHave = 0;
      const len = this.prefix.readUInt32LE(0);
      this.checkLength(len);
      this.body = Buffer.allocUnsafe(len);
      this.bodyHave = 0;
    }
    const take = Math.min(this.body.length - this.bodyHave, chunk.length - off);
    chunk.copy(this.body, this.bodyHave, off, off + take);
    this.bodyHave += take;
    return off + take;
  }

  private checkLength(len: number): void {
    if (len > this.maxHeader) {
      throw new FrameError("ERR_FRAME_TOO_LARGE", `frame header of ${len} bytes exceeds the limit of ${this.maxHeader} bytes`);
    }
  }

  /** Hand a decoded header to the handler (which may change `maxHeader` for the next frame). */
  private dispatch(h: Header): void {
    const sink = this.onHeader(h);
    if (sink) {
      this.sink = sink;
      this.remaining = h.n ?? 0;
      if (this.remaining === 0) this.finishPayload();
    }
  }

  private finishPayload(): void {
    const s = this.sink!;
    this.sink = null;
    s.end();
  }
}

function decode(bytes: Uint8Array): Header {
  let h: unknown;
  try {
    h = packr.unpack(bytes);
  } catch (err) {
    throw new FrameError("ERR_FRAME_CORRUPT", `frame header of ${bytes.length} bytes is not valid msgpack`, { cause: err });
  }
  if (typeof h !== "object" || h === null || typeof (h as Header).t !== "number") {
    throw new FrameError("ERR_FRAME_CORRUPT", "frame header is not a map with a numeric type");
  }
  return h as Header;
}
