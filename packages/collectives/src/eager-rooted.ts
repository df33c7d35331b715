// Rooted collectives without the descriptor exchange (opt-in: tuning.rootedEager).
// bcast / scatter(v): the root sends one eager message (header + data or block) to every rank.
// reduce / gather(v): every rank sends one eager message (header + data, or for a large gather
// block its address) to the root, which folds (in rank order) or places them. Linear,
// not a tree: with more ranks than cores (8 ranks on 2 cores) a rank that forwards has to be
// scheduled before its subtree can proceed, and the measured linear fan-out/fan-in wins (see
// tuning.ts).
//
// The header (kind, element type, count, operator, root, small/large) is checked by the side
// that receives it. The small/large decision is local (the bytes of this rank's buffer), so two
// ranks whose counts disagree may choose differently; the protocol still ends everywhere:
// - bcast: the root's header always comes first and says which path it took. A rank that gets
//   "large" joins the exchange-based path whatever its own arguments, and the exchange fails
//   every rank on a mismatch. A rank that gets "small" data that does not match its arguments
//   throws ERR_MISMATCH; the root and the other ranks complete.
// - reduce: every non-root sends its header first. A "small" non-root is done once it is sent;
//   a "large" one waits for the root's verdict ("go": everyone runs the exchange-based path, or
//   the root's ERR_MISMATCH). The root checks every header; on a mismatch it throws
//   ERR_MISMATCH (and tells the waiting ranks); the small non-roots complete.
// - scatter(v) as bcast; gather(v) as reduce, except that the root moves the large blocks itself
//   (single-copy reads, or messages where the pair cannot copy) instead of running the exchange.
// What this path cannot detect: ranks that disagree about the root, or call another collective,
// wait for messages that never come (as in MPI). That is why it is opt-in.
import { ErrorCode, MessagingError, type CollectiveTransport, type ErrorCodeValue } from "@onecopy/rendezvous";
import { dtypeName } from "./datatypes.js";
import { KIND, mismatch } from "./descriptors.js";
import { opName } from "./ops.js";

const HEAD = 8;
const HEAD_BYTES = 8 * HEAD;
const POISON = -1;
/** Flag bits of a header. */
const H_SMALL = 1;
/** A poison header carrying a verdict (its text is the whole error message). */
const H_VERDICT = 2;

export interface Head {
  from: number;
  kind: number;
  dtype: number;
  count: number;
  op: number;
  root: number;
  small: boolean;
  /** Payload (small data), aligned to 8 bytes. */
  payload: Uint8Array | null;
  /** Set for a poison header: the error it carries. */
  error: { code: ErrorCodeValue; message: string; verdict: boolean } | null;
}

export interface HeadFields {
  kind: number;
  dtype: number;
  count: number;
  op?: number;
  root: number;
  small: boolean;
}

export function encodeHead(from: number, h: HeadFields, payload: Uint8Array | null): Uint8Array {
  const len = payload ? payload.byteLength : 0;
  const out = new Uint8Array(HEAD_BYTES + len);
  const f = new Float64Array(out.buffer, 0, HEAD);
  f[0] = h.kind;
  f[1] = h.dtype;
  f[2] = h.count;
  f[3] = h.op ?? 0;
  f[4] = h.root;
  f[5] = h.small ? H_SMALL : 0;
  f[6] = len;
  f[7] = from;
  if (payload) out.set(payload, HEAD_BYTES);
  return out;
}

/** A header that carries an error: this rank's own invalid arguments, or the root's verdict. */
export function poisonHead(from: number, err: unknown, verdict: boolean): Uint8Array {
  const code = (err as { code?: string }).code ?? ErrorCode.INVALID_ARG;
  const text = new TextEncoder().encode(`${code}\n${(err as Error)?.message ?? String(err)}`);
  const out = encodeHead(from, { kind: POISON, dtype: 0, count: 0, root: 0, small: false }, text);
  new Float64Array(out.buffer, 0, HEAD)[5] = verdict ? H_VERDICT : 0;
  return out;
}

export function decodeHead(msg: Uint8Array | null | undefined): Head {
  const raw = msg ?? new Uint8Array(0);
  const bytes = raw.byteOffset % 8 === 0 && raw.byteLength >= HEAD_BYTES ? raw : (() => {
    const c = new Uint8Array(Math.max(HEAD_BYTES, raw.byteLength));
    c.set(raw);
    return c;
  })();
  const f = new Float64Array(bytes.buffer, bytes.byteOffset, HEAD);
  const len = f[6]!;
  const payload = len > 0 || f[0] !== POISON ? new Uint8Array(bytes.buffer, bytes.byteOffset + HEAD_BYTES, len) : null;
  let error: Head["error"] = null;
  if (f[0] === POISON) {
    const [code, ...rest] = new TextDecoder().decode(payload!).split("\n");
    error = { code: code as ErrorCodeValue, message: rest.join("\n"), verdict: (f[5]! & H_VERDICT) !== 0 };
  }
  return { from: f[7]!, kind: f[0]!, dtype: f[1]!, count: f[2]!, op: f[3]!, root: f[4]!, small: (f[5]! & H_SMALL) !== 0, payload, error };
}

/** The error a poison header stands for, as thrown on the rank that receives it. */
export function poisonError(what: string, h: Head): MessagingError {
  const e = h.error!;
  if (e.verdict) return new MessagingError(e.code, e.message);
  return new MessagingError(e.code, `${what}: rank ${h.from} was called with invalid arguments: ${e.message}`, { peer: h.from });
}

const KIND_NAME = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k])) as Record<number, string>;

/**
 * Compare a received header with this rank's own arguments; the ERR_MISMATCH error (naming both
 * ranks and both values) or null.
 */
export function checkHead(what: string, me: number, h: Head, mine: HeadFields, fields: ReadonlyArray<"dtype" | "count" | "op" | "root" | "small">): MessagingError | null {
  if (h.kind !== mine.kind) {
    return mismatch(what, `rank ${h.from} called ${KIND_NAME[h.kind] ?? `collective #${h.kind}`} while rank ${me} called ${KIND_NAME[mine.kind]}; every rank must call the same collectives in the same order`);
  }
  for (const f of fields) {
    const theirs = h[f];
    const ours = f === "small" ? mine.small : f === "op" ? (mine.op ?? 0) : mine[f];
    if (theirs === ours) continue;
    const label = { dtype: "element type", count: "element count", op: "operator", root: "root", small: "size class" }[f];
    const show = (v: number | boolean) => (f === "dtype" ? dtypeName(v as number) : f === "op" ? opName(v as number) : f === "small" ? (v ? "small" : "large") : String(v));
    return mismatch(what, `rank ${h.from} has ${label} ${show(theirs)} but rank ${me} has ${show(ours)}; every rank must pass the same ${label}`);
  }
  return null;
}

/** Ranks other than me (any order). */
export function others(t: CollectiveTransport): number[] {
  const out: number[] = [];
  for (let k = 1; k < t.size; k++) out.push((t.rank + k) % t.size);
  return out;
}
