// Every frame two ranks exchange, as one discriminated union, with its encoding and a decoder
// that checks each frame's fields. On the socket a frame is [u32 LE header length][msgpack
// header][payload of `n` bytes for EAGER and DATA]; the same frames (less the payload) are what
// the shared-memory control plane will carry. PROTOCOL.md beside this file says who sends which
// frame when, and who holds which buffer until when.
import { Packr } from "msgpackr";
import type { ProbeToken } from "@onecopy/cma";
import { FrameError } from "./frame-error.js";

/** Frame types. Numbers keep the hot headers small. */
export const T = {
  EAGER: 1,
  RTS: 2,
  FIN: 3,
  PULL: 4,
  DATA: 5,
  BYE: 6,
  SHM: 7,
  RING: 8,
  PUT: 9,
  WROTE: 14,
  HELLO: 10,
  WELCOME: 11,
  REJECT: 12,
  PROBED: 13,
} as const;

/**
 * The one descriptor shape: an io list `[addr0, len0, addr1, len1, …]` of buffer pieces in the
 * owner's address space. The RTS carries one; the collectives' records carry them; the copy core
 * takes them as the remote side of a copy. The owner keeps the pieces alive and unmoved until the
 * peer says it is done (FIN, or the collective's completion message).
 */
export type Descriptor = number[];

/** Sub-operations of the SHM frame (the shared-memory ring's own control). */
export const SHM_OP = {
  /** Producer → consumer: map segment `p` of geometry `k` cells × `z` bytes. */
  MAP: 0,
  /** Consumer → producer: mapped (`ok: true`, the name is unlinked) or not (`r`: reason). */
  MAPPED: 1,
  /** Doorbell: a counter you wait on moved. */
  BELL: 2,
} as const;

/** Sub-operations of the RING frame (the fast path's set-up and doorbell, on the socket). */
export const RING_OP = {
  /** Producer → consumer: map frame ring `p` of `z` bytes. */
  MAP: 0,
  /** Consumer → producer: mapped (`ok: true`, the name is unlinked) or not (`r`: reason). */
  MAPPED: 1,
  /** Producer → consumer: every frame I send after this one goes through the ring. */
  ON: 2,
  /** Doorbell: look at the rings (encoded as a zero-length header, 4 bytes on the wire). */
  BELL: 3,
} as const;

// ---- start-up -----------------------------------------------------------------------------

/** Connecting rank → accepting rank: who I am. */
export interface Hello { t: typeof T.HELLO; token: string; rank: number; size: number; pid: number; probe: ProbeToken | null }
/** Accepting rank → connecting rank: accepted, and who I am. */
export interface Welcome { t: typeof T.WELCOME; rank: number; pid: number; probe: ProbeToken | null }
/** Accepting rank → connecting rank: refused (a RejectCode and a sentence). */
export interface Reject { t: typeof T.REJECT; code?: string; reason: string }
/** Each side, once: whether my probe read of your memory succeeded. */
export interface Probed { t: typeof T.PROBED; ok: boolean }

// ---- messages -----------------------------------------------------------------------------

/** A message of `n` bytes inline: the payload follows the header. `c` context, `g` tag. */
export interface Eager { t: typeof T.EAGER; c: string; g: number; n: number }
/**
 * Ready to send: message `i` of `n` bytes on context `c` with tag `g`. `v`, the descriptor, is
 * the io list of the sender's buffers, present when the receiver may read the sender directly.
 * `m: 1` (ranks on different nodes): the sender has already posted the bytes with MPI_Issend on
 * the message's data tag; the receiver receives them (into scratch when it refuses them), and
 * sends neither PULL nor FIN: the send completes when MPI completes it.
 */
export interface Rts { t: typeof T.RTS; c: string; g: number; n: number; i: number; v?: Descriptor; m?: 1 }
/** Receiver → sender: done with message `i` (copied, or refused); the sender's buffers are free. */
export interface Fin { t: typeof T.FIN; i: number }
/** Receiver → sender: send message `i` yourself, through the shared-memory ring (`s: 1`), by MPI_Isend (`s: 2`, its receive is posted) or as DATA. */
export interface Pull { t: typeof T.PULL; i: number; s?: 1 | 2 }
/**
 * Receiver → sender, for a split single copy: write bytes `o`… of message `i` yourself into `v`,
 * the descriptor of the receive buffers' share (the receiver reads bytes 0…`o`). The receiver
 * keeps those buffers alive and unmoved until WROTE.
 */
export interface Put { t: typeof T.PUT; i: number; o: number; v: Descriptor }
/**
 * Sender → receiver: done writing the share of message `i` that PUT asked for: written, or not
 * (`e` the error's code, `m` its message); either way the sender no longer touches those buffers.
 */
export interface Wrote { t: typeof T.WROTE; i: number; e?: string; m?: string }
/** Sender → receiver: the `n` bytes of pulled message `i` follow. */
export interface Data { t: typeof T.DATA; i: number; n: number }
/** Goodbye: this rank closed its world; nothing follows. */
export interface Bye { t: typeof T.BYE }

// ---- the shared-memory ring's control -------------------------------------------------------

export interface ShmMap { t: typeof T.SHM; o: typeof SHM_OP.MAP; p: string; k: number; z: number }
export interface ShmMapped { t: typeof T.SHM; o: typeof SHM_OP.MAPPED; ok: boolean; r?: string | null }
export interface ShmBell { t: typeof T.SHM; o: typeof SHM_OP.BELL }
export type ShmFrame = ShmMap | ShmMapped | ShmBell;

// ---- the fast path's control (always on the socket) ----------------------------------------

export interface RingMap { t: typeof T.RING; o: typeof RING_OP.MAP; p: string; z: number }
export interface RingMapped { t: typeof T.RING; o: typeof RING_OP.MAPPED; ok: boolean; r?: string | null }
export interface RingOn { t: typeof T.RING; o: typeof RING_OP.ON }
export interface RingBell { t: typeof T.RING; o: typeof RING_OP.BELL }
export type RingFrame = RingMap | RingMapped | RingOn | RingBell;

/** The doorbell as it is decoded (a zero-length header). */
export const BELL_FRAME: RingBell = Object.freeze({ t: T.RING, o: RING_OP.BELL });
/** The doorbell on the wire: a zero length prefix and nothing else. */
export const BELL_BYTES: Buffer = Buffer.alloc(4);

/** Frames of the handshake. */
export type HandshakeFrame = Hello | Welcome | Reject | Probed;
/** Frames of an established link. */
export type DataFrame = Eager | Rts | Fin | Pull | Put | Wrote | Data | Bye | ShmFrame | RingFrame;
/** Any frame. */
export type Frame = HandshakeFrame | DataFrame;

/** The payload bytes that follow a frame's header. */
export function payloadBytes(f: Frame): number {
  return f.t === T.EAGER || f.t === T.DATA ? f.n : 0;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

/** Encode a frame's header as a complete frame prefix (length + msgpack); the payload, if any, follows it. */
export function encodeFrame(f: Frame): Buffer {
  const body = packr.pack(f);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, 4);
  return out;
}

const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x);

function isDescriptor(x: unknown): x is Descriptor {
  if (!Array.isArray(x) || x.length % 2 !== 0) return false;
  for (let i = 0; i < x.length; i++) if (!isCount(x[i])) return false;
  return true;
}

/** The reason a decoded header is not a valid frame, or null. */
function invalid(h: Record<string, unknown>): string | null {
  switch (h.t) {
    case T.EAGER:
      return typeof h.c === "string" && isInt(h.g) && isCount(h.n) ? null : "EAGER needs c, g, n";
    case T.RTS:
      return typeof h.c === "string" && isInt(h.g) && isCount(h.n) && isCount(h.i) && (h.v === undefined || isDescriptor(h.v)) && (h.m === undefined || h.m === 1) ? null : "RTS needs c, g, n, i, an io list v and m 1 or absent";
    case T.FIN:
      return isCount(h.i) ? null : "FIN needs i";
    case T.PULL:
      return isCount(h.i) && (h.s === undefined || h.s === 1 || h.s === 2) ? null : "PULL needs i";
    case T.PUT:
      return isCount(h.i) && isCount(h.o) && isDescriptor(h.v) ? null : "PUT needs i, o and an io list v";
    case T.WROTE:
      return isCount(h.i) && (h.e === undefined || typeof h.e === "string") && (h.m === undefined || typeof h.m === "string") ? null : "WROTE needs i";
    case T.DATA:
      return isCount(h.i) && isCount(h.n) ? null : "DATA needs i, n";
    case T.BYE:
      return null;
    case T.SHM:
      if (h.o === SHM_OP.BELL) return null;
      if (h.o === SHM_OP.MAP) return typeof h.p === "string" && isCount(h.k) && isCount(h.z) ? null : "SHM MAP needs p, k, z";
      if (h.o === SHM_OP.MAPPED) return typeof h.ok === "boolean" ? null : "SHM MAPPED needs ok";
      return `unknown SHM op ${String(h.o)}`;
    case T.RING:
      if (h.o === RING_OP.ON) return null;
      if (h.o === RING_OP.MAP) return typeof h.p === "string" && isCount(h.z) ? null : "RING MAP needs p, z";
      if (h.o === RING_OP.MAPPED) return typeof h.ok === "boolean" ? null : "RING MAPPED needs ok";
      return `unknown RING op ${String(h.o)}`;
    case T.HELLO:
      return typeof h.token === "string" && isInt(h.rank) && isInt(h.size) && isCount(h.pid) ? null : "HELLO needs token, rank, size, pid";
    case T.WELCOME:
      return isInt(h.rank) && isCount(h.pid) ? null : "WELCOME needs rank, pid";
    case T.REJECT:
      return typeof h.reason === "string" ? null : "REJECT needs a reason";
    case T.PROBED:
      return typeof h.ok === "boolean" ? null : "PROBED needs ok";
    default:
      return `unknown frame type ${String(h.t)}`;
  }
}

/** Decode and check one frame header. @throws FrameError (ERR_FRAME_CORRUPT) */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length === 0) return BELL_FRAME;
  let h: unknown;
  try {
    h = packr.unpack(bytes);
  } catch (err) {
    throw new FrameError("ERR_FRAME_CORRUPT", `frame header of ${bytes.length} bytes is not valid msgpack`, { cause: err });
  }
  if (typeof h !== "object" || h === null || typeof (h as { t?: unknown }).t !== "number") {
    throw new FrameError("ERR_FRAME_CORRUPT", "frame header is not a map with a numeric type");
  }
  const why = invalid(h as Record<string, unknown>);
  if (why !== null) throw new FrameError("ERR_FRAME_CORRUPT", `malformed frame: ${why}`);
  return h as Frame;
}
