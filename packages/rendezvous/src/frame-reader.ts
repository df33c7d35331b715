// Incremental frame reader over socket chunks: frames out of a byte stream, payloads streamed
// to where they belong (straight into a posted receive's buffers when there is one). Every byte
// is copied at most once however finely the stream is split, and a header's size is capped as
// soon as its length prefix is known, so a process that has not shown the job token cannot make
// a rank buffer much.
import { decodeFrame, payloadBytes, type Frame } from "./frames.js";
import { FrameError } from "./frame-error.js";

/** Where the payload bytes of a frame go. */
export interface PayloadSink {
  /** Copy `chunk` (the next bytes, in order) to their destination. */
  write(chunk: Uint8Array): void;
  /** All `n` bytes have arrived. */
  end(): void;
  /** The connection broke before all `n` bytes arrived. */
  fail?(err: Error): void;
  /** As `write(buf.subarray(start, end))`, without making the subarray (used when present). */
  writeRange?(buf: Uint8Array, start: number, end: number): void;
}

/** Decides, for each frame, where its payload (if any) goes. */
export type FrameHandler = (f: Frame) => PayloadSink | null;

/** Turns a header's bytes into a frame (null: a record that only updates the decoder's state). */
export type FrameDecoder = (bytes: Uint8Array) => Frame | null;

/** Largest header an authenticated peer may send (an RTS can list many iovecs). */
export const MAX_HEADER = 16 * 1024 * 1024;

/**
 * Largest header accepted before the handshake completes. HELLO, WELCOME and REJECT are a few
 * hundred bytes; a bigger length prefix from a process that has not shown the job token is
 * refused at once, before any of it is buffered.
 */
export const MAX_HANDSHAKE_HEADER = 4 * 1024;

export interface FrameReaderOptions {
  /** Largest header accepted, in bytes (default {@link MAX_HEADER}); may be changed later through `maxHeader`. */
  maxHeader?: number;
  /** The header encoding (default: the socket's msgpack, {@link decodeFrame}). */
  decode?: FrameDecoder;
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
  private readonly decode: FrameDecoder;

  constructor(
    private readonly onFrame: FrameHandler,
    options: FrameReaderOptions = {},
  ) {
    this.maxHeader = options.maxHeader ?? MAX_HEADER;
    this.decode = options.decode ?? decodeFrame;
  }

  push(chunk: Buffer): void {
    this.pushRange(chunk, 0, chunk.length);
  }

  /** As `push(buf.subarray(start, end))`, without making the subarray (the fast path's ring). */
  pushRange(chunk: Buffer, start: number, end: number): void {
    let off = start;
    if (this.prefixHave > 0 || this.body) {
      off = this.fillPartial(chunk, start, end);
      if (this.body === null || this.bodyHave < this.body.length) return; // chunk used up
      const body = this.body;
      this.body = null;
      this.bodyHave = 0;
      this.dispatch(this.decode(body));
    }
    while (off < end) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, end - off);
        const sink = this.sink!;
        if (sink.writeRange !== undefined) sink.writeRange(chunk, off, off + take);
        else sink.write(chunk.subarray(off, off + take));
        off += take;
        this.remaining -= take;
        if (this.remaining === 0) this.finishPayload();
        continue;
      }
      if (end - off < 4) {
        chunk.copy(this.prefix, 0, off, end);
        this.prefixHave = end - off;
        return;
      }
      const len = chunk.readUInt32LE(off);
      this.checkLength(len);
      if (end - off - 4 < len) {
        this.body = Buffer.allocUnsafe(len);
        this.bodyHave = chunk.copy(this.body, 0, off + 4, end);
        return;
      }
      const h = this.decode(chunk.subarray(off + 4, off + 4 + len));
      off += 4 + len;
      this.dispatch(h);
    }
  }

  /** Continue an incomplete prefix/header with `chunk[start, end)`; returns the offset after the bytes used. */
  private fillPartial(chunk: Buffer, start: number, end: number): number {
    let off = start;
    if (this.body === null) {
      const take = Math.min(4 - this.prefixHave, end - off);
      chunk.copy(this.prefix, this.prefixHave, off, off + take);
      this.prefixHave += take;
      off += take;
      if (this.prefixHave < 4) return off;
      this.prefixHave = 0;
      const len = this.prefix.readUInt32LE(0);
      this.checkLength(len);
      this.body = Buffer.allocUnsafe(len);
      this.bodyHave = 0;
    }
    const take = Math.min(this.body.length - this.bodyHave, end - off);
    chunk.copy(this.body, this.bodyHave, off, off + take);
    this.bodyHave += take;
    return off + take;
  }

  private checkLength(len: number): void {
    if (len > this.maxHeader) {
      throw new FrameError("ERR_FRAME_TOO_LARGE", `frame header of ${len} bytes exceeds the limit of ${this.maxHeader} bytes`);
    }
  }

  /** Hand a decoded frame to the handler (which may change `maxHeader` for the next frame). */
  private dispatch(f: Frame | null): void {
    if (f === null) return;
    const sink = this.onFrame(f);
    if (sink) {
      this.sink = sink;
      this.remaining = payloadBytes(f);
      if (this.remaining === 0) this.finishPayload();
    }
  }

  /** The stream ended: a payload still arriving will not be completed. */
  abort(err: Error): void {
    const s = this.sink;
    this.sink = null;
    this.remaining = 0;
    s?.fail?.(err);
  }

  private finishPayload(): void {
    const s = this.sink!;
    this.sink = null;
    s.end();
  }
}

