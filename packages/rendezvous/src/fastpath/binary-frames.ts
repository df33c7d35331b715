// The fast path's encoding of the hot frames: a fixed binary layout instead of msgpack (a
// msgpack header costs ~250 ns each way; these cost tens). A record on the ring is
// [u32 LE header length][header][payload of `n` bytes for EAGER] — the socket's framing, so the
// same incremental FrameReader parses both. The header starts with a kind byte:
//
//   EAGER  1  [kind][0 0 0][u32 ctx id][f64 tag][f64 n]                                   24 B
//   RTS    2  [kind][has v][0 0][u32 ctx id][f64 tag][f64 n][f64 id][u32 pieces][0 0 0 0]
//             then 2 × pieces f64 (the descriptor's address/length pairs)           40 B + 16/piece
//   FIN    3  [kind][0 ×7][f64 id]                                                         16 B
//   PULL   4  [kind][s][0 ×6][f64 id]                                                      16 B
//   PUT    5  [kind][0 ×7][f64 id][f64 offset][u32 pieces][0 0 0 0]
//             then 2 × pieces f64 (the receive buffers' share)                       32 B + 16/piece
//   WROTE  6  [kind][0 ×7][f64 id]: the share is written (a WROTE with an error goes PACKED)  16 B
//   CTX   20  [kind][0 0 0][u32 ctx id][utf8 name]: ctx id names this context from now on
//   PACKED 21 [kind][msgpack frame]: any other frame
//
// Numbers are f64 (exact below 2^53, like the msgpack frames they replace). Contexts are strings
// ("w", "w.1", "w|c"); each direction of a link numbers them in the order they first appear and
// announces a number with CTX right before its first use, so the receiver's table is always
// complete when it is needed.
import { FrameError } from "../frame-error.js";
import { decodeFrame, encodeFrame, T, type DataFrame, type Descriptor, type Frame } from "../frames.js";

const K = { EAGER: 1, RTS: 2, FIN: 3, PULL: 4, PUT: 5, WROTE: 6, CTX: 20, PACKED: 21 } as const;

const corrupt = (why: string) => new FrameError("ERR_FRAME_CORRUPT", `malformed fast-path frame: ${why}`);

/** Frame types the fast path carries (the rest stay on the socket). */
export function ringCarries(t: number): boolean {
  return t === T.EAGER || t === T.RTS || t === T.FIN || t === T.PULL || t === T.PUT || t === T.WROTE;
}

/** Encodes one direction's frames; keeps the context numbering of that direction. */
export class BinaryEncoder {
  private readonly ctxIds = new Map<string, number>();
  private buf = Buffer.allocUnsafe(4096);
  private dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  private at = 0;
  /** Views of the first `at` bytes of `buf`, by length: a hot frame's records reuse one (no allocation per frame). */
  private views: Uint8Array[] = [];

  /** The records for `f` (a CTX record first if its context is new); valid until the next call. */
  encode(f: DataFrame): Uint8Array {
    this.at = 0;
    switch (f.t) {
      case T.EAGER: {
        const c = this.ctx(f.c);
        const h = this.record(24);
        this.dv.setUint8(h, K.EAGER);
        this.dv.setUint32(h + 4, c, true);
        this.dv.setFloat64(h + 8, f.g, true);
        this.dv.setFloat64(h + 16, f.n, true);
        break;
      }
      case T.RTS: {
        const c = this.ctx(f.c);
        const v = f.v;
        const pieces = v ? v.length / 2 : 0;
        const h = this.record(40 + pieces * 16);
        const dv = this.dv;
        dv.setUint8(h, K.RTS);
        dv.setUint8(h + 1, v ? 1 : 0);
        dv.setUint32(h + 4, c, true);
        dv.setFloat64(h + 8, f.g, true);
        dv.setFloat64(h + 16, f.n, true);
        dv.setFloat64(h + 24, f.i, true);
        dv.setUint32(h + 32, pieces, true);
        if (v) for (let k = 0; k < v.length; k++) dv.setFloat64(h + 40 + k * 8, v[k]!, true);
        break;
      }
      case T.FIN:
      case T.PULL: {
        const h = this.record(16);
        this.dv.setUint8(h, f.t === T.FIN ? K.FIN : K.PULL);
        this.dv.setUint8(h + 1, f.t === T.PULL && f.s === 1 ? 1 : 0);
        this.dv.setFloat64(h + 8, f.i, true);
        break;
      }
      case T.PUT: {
        const v = f.v;
        const h = this.record(32 + v.length * 8);
        const dv = this.dv;
        dv.setUint8(h, K.PUT);
        dv.setFloat64(h + 8, f.i, true);
        dv.setFloat64(h + 16, f.o, true);
        dv.setUint32(h + 24, v.length / 2, true);
        for (let k = 0; k < v.length; k++) dv.setFloat64(h + 32 + k * 8, v[k]!, true);
        break;
      }
      case T.WROTE: {
        if (f.e !== undefined) {
          this.packed(f); // an error is rare and carries text
          break;
        }
        const h = this.record(16);
        this.dv.setUint8(h, K.WROTE);
        this.dv.setFloat64(h + 8, f.i, true);
        break;
      }
      default:
        this.packed(f);
    }
    const at = this.at;
    return (this.views[at] ??= new Uint8Array(this.buf.buffer, this.buf.byteOffset, at));
  }

  /** A PACKED record: the frame's msgpack header. */
  private packed(f: DataFrame): void {
    const packed = encodeFrame(f).subarray(4);
    const h = this.record(1 + packed.length);
    this.dv.setUint8(h, K.PACKED);
    this.buf.set(packed, h + 1);
  }

  /** The number of context `name`, announcing it first if it is new. */
  private ctx(name: string): number {
    let id = this.ctxIds.get(name);
    if (id !== undefined) return id;
    id = this.ctxIds.size;
    this.ctxIds.set(name, id);
    const utf8 = Buffer.from(name, "utf8");
    const h = this.record(8 + utf8.length);
    this.dv.setUint8(h, K.CTX);
    this.dv.setUint32(h + 4, id, true);
    this.buf.set(utf8, h + 8);
    return id;
  }

  /** Reserve a record with a header of `len` bytes (zeroed); returns the header's offset. */
  private record(len: number): number {
    const need = this.at + 4 + len;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.at);
      this.buf = bigger;
      this.dv = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
      this.views = [];
    }
    this.dv.setUint32(this.at, len, true);
    const h = this.at + 4;
    const b = this.buf;
    for (let k = h, end = h + Math.min(len, 40); k < end; k++) b[k] = 0; // Buffer.fill costs ~100 ns at this size
    this.at = need;
    return h;
  }
}

const isCount = (x: number) => Number.isSafeInteger(x) && x >= 0;

/** Decodes one direction's records; CTX records update its table and yield no frame. */
export class BinaryDecoder {
  private readonly names: string[] = [];
  /** A view of the memory the last record lay in (the ring's, nearly always): no DataView per record. */
  private mem: ArrayBufferLike | null = null;
  private whole: DataView | null = null;

  /** Decode one record's header. @throws FrameError (ERR_FRAME_CORRUPT) */
  readonly decode = (b: Uint8Array): Frame | null => {
    if (b.byteLength < 1) throw corrupt("empty record");
    if (b.buffer !== this.mem) {
      this.mem = b.buffer;
      this.whole = new DataView(b.buffer);
    }
    const dv = new At(this.whole!, b.byteOffset);
    const kind = dv.getUint8(0);
    switch (kind) {
      case K.EAGER: {
        if (b.byteLength !== 24) throw corrupt(`EAGER of ${b.byteLength} bytes`);
        const g = dv.getFloat64(8, true);
        const n = dv.getFloat64(16, true);
        if (!Number.isSafeInteger(g) || !isCount(n)) throw corrupt("EAGER needs an integer tag and a byte count");
        return { t: T.EAGER, c: this.name(dv.getUint32(4, true)), g, n };
      }
      case K.RTS: {
        if (b.byteLength < 40) throw corrupt(`RTS of ${b.byteLength} bytes`);
        const pieces = dv.getUint32(32, true);
        if (b.byteLength !== 40 + pieces * 16) throw corrupt(`RTS of ${b.byteLength} bytes with ${pieces} pieces`);
        const g = dv.getFloat64(8, true);
        const n = dv.getFloat64(16, true);
        const i = dv.getFloat64(24, true);
        if (!Number.isSafeInteger(g) || !isCount(n) || !isCount(i)) throw corrupt("RTS needs an integer tag, a byte count and an id");
        const f: Frame = { t: T.RTS, c: this.name(dv.getUint32(4, true)), g, n, i };
        if (dv.getUint8(1) === 1) {
          const v: Descriptor = new Array<number>(pieces * 2);
          for (let k = 0; k < v.length; k++) {
            const x = dv.getFloat64(40 + k * 8, true);
            if (!isCount(x)) throw corrupt("RTS descriptor holds a negative or fractional number");
            v[k] = x;
          }
          f.v = v;
        }
        return f;
      }
      case K.FIN:
      case K.PULL: {
        if (b.byteLength !== 16) throw corrupt(`FIN/PULL of ${b.byteLength} bytes`);
        const i = dv.getFloat64(8, true);
        if (!isCount(i)) throw corrupt("FIN/PULL needs an id");
        if (kind === K.FIN) return { t: T.FIN, i };
        return dv.getUint8(1) === 1 ? { t: T.PULL, i, s: 1 } : { t: T.PULL, i };
      }
      case K.PUT: {
        if (b.byteLength < 32) throw corrupt(`PUT of ${b.byteLength} bytes`);
        const pieces = dv.getUint32(24, true);
        if (b.byteLength !== 32 + pieces * 16) throw corrupt(`PUT of ${b.byteLength} bytes with ${pieces} pieces`);
        const i = dv.getFloat64(8, true);
        const o = dv.getFloat64(16, true);
        if (!isCount(i) || !isCount(o)) throw corrupt("PUT needs an id and an offset");
        const v: Descriptor = new Array<number>(pieces * 2);
        for (let k = 0; k < v.length; k++) {
          const x = dv.getFloat64(32 + k * 8, true);
          if (!isCount(x)) throw corrupt("PUT descriptor holds a negative or fractional number");
          v[k] = x;
        }
        return { t: T.PUT, i, o, v };
      }
      case K.WROTE: {
        if (b.byteLength !== 16) throw corrupt(`WROTE of ${b.byteLength} bytes`);
        const i = dv.getFloat64(8, true);
        if (!isCount(i)) throw corrupt("WROTE needs an id");
        return { t: T.WROTE, i };
      }
      case K.CTX: {
        if (b.byteLength < 8) throw corrupt("CTX too short");
        const id = dv.getUint32(4, true);
        if (id !== this.names.length) throw corrupt(`CTX announces context ${id}, expected ${this.names.length}`);
        this.names.push(Buffer.from(b.buffer, b.byteOffset + 8, b.byteLength - 8).toString("utf8"));
        return null;
      }
      case K.PACKED:
        return decodeFrame(b.subarray(1));
      default:
        throw corrupt(`unknown record kind ${kind}`);
    }
  };

  private name(id: number): string {
    const n = this.names[id];
    if (n === undefined) throw corrupt(`context ${id} was never announced`);
    return n;
  }
}

/** DataView reads at an offset (inlined by V8: no allocation survives the decode). */
class At {
  constructor(
    private readonly dv: DataView,
    private readonly base: number,
  ) {}
  getUint8(i: number): number {
    return this.dv.getUint8(this.base + i);
  }
  getUint32(i: number, le: boolean): number {
    return this.dv.getUint32(this.base + i, le);
  }
  getFloat64(i: number, le: boolean): number {
    return this.dv.getFloat64(this.base + i, le);
  }
}
