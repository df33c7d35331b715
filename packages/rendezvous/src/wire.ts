// Frames on the socket: [u32 LE header length][msgpack header][payload of header.n bytes, if any].
// Payload bytes are written straight from the caller's buffers (no concatenation) and read
// straight into the receiver's buffers when a receive is already posted.
import { Packr } from "msgpackr";

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

const MAX_HEADER = 16 * 1024 * 1024;

/** Incremental frame parser over socket chunks. */
export class FrameReader {
  /** Bytes of an incomplete length/header, kept until the next chunk (never payload). */
  private pending: Buffer | null = null;
  private sink: PayloadSink | null = null;
  private remaining = 0;

  constructor(private readonly onHeader: HeaderHandler) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let off = 0;
    while (off < buf.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, buf.length - off);
        this.sink!.write(buf.subarray(off, off + take));
        off += take;
        this.remaining -= take;
        if (this.remaining === 0) this.finishPayload();
        continue;
      }
      if (buf.length - off < 4) break;
      const len = buf.readUInt32LE(off);
      if (len > MAX_HEADER) throw new Error(`corrupt frame: header of ${len} bytes`);
      if (buf.length - off - 4 < len) break;
      const h = packr.unpack(buf.subarray(off + 4, off + 4 + len)) as Header;
      off += 4 + len;
      const sink = this.onHeader(h);
      if (sink) {
        this.sink = sink;
        this.remaining = h.n ?? 0;
        if (this.remaining === 0) this.finishPayload();
      }
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }

  private finishPayload(): void {
    const s = this.sink!;
    this.sink = null;
    s.end();
  }
}
