// What the reduction collectives share: argument checks, the record they exchange, and the
// agreement checks on it.
import type { CollectiveTransport } from "@onecopy/rendezvous";
import { argError, dataOf, IN_PLACE, type CollBuffer, type Data, type InPlace } from "./datatypes.js";
import { F_IN_PLACE, type Contribution, type Rec } from "./descriptors.js";
import { expose } from "./moves.js";
import { checkPairs, resolveOp, type ResolvedOp } from "./ops.js";
import { tuning } from "./tuning.js";
import { agree, AGREE } from "./validate.js";

/** A reduction's local arguments. */
export interface RedArgs {
  /** This rank's contribution (send, or recv when in place). */
  input: Data;
  /** Where the result goes (null where it is ignored). */
  out: Data | null;
  inPlace: boolean;
  op: ResolvedOp;
}

/**
 * Resolve `send`/`recv`/`op`. `count` (elements of the input) is checked against the receive
 * buffer with `outLen(count)` where the result goes; `wantsOut` says whether this rank has one.
 */
export function redArgs(what: string, send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, op: unknown, wantsOut: boolean, outCount: (inCount: number) => number, inPlaceOk = true): RedArgs {
  const inPlace = send === IN_PLACE;
  if (inPlace && !inPlaceOk) throw argError(what, "IN_PLACE is only valid at the root");
  const out = wantsOut || inPlace ? dataOf(recv, `${what} receive buffer`) : null;
  const input = inPlace ? out! : dataOf(send, `${what} send buffer`);
  if (out && !inPlace) {
    if (out.dtype !== input.dtype) throw argError(what, "the send and receive buffers have different element types");
    const want = outCount(input.count);
    if (out.count !== want) throw argError(what, `the receive buffer has ${out.count} elements; it must have ${want}`);
  }
  const rop = resolveOp(op, input.dtype, what);
  checkPairs(rop, input.count, what);
  return { input, out, inPlace, op: rop };
}

/** The record of a reduction: type, count, operator; the input's address; inline data when small. */
export function redRecord(t: CollectiveTransport, kind: number, a: RedArgs, root = 0, extra: number[] = []): Contribution {
  const inline = a.input.bytes.byteLength * t.size <= tuning.inlineMax;
  return {
    kind,
    dtype: a.input.dtype,
    count: a.input.count,
    op: a.op.code,
    root,
    flags: a.inPlace ? F_IN_PLACE : 0,
    s: expose(t, a.input.bytes),
    r: expose(t, a.out?.bytes ?? null),
    extra,
    payload: inline ? a.input.bytes : null,
  };
}

/** Same type, count and operator everywhere; true when every contribution rode inline. */
export function redAgree(recs: readonly Rec[], what: string, withRoot = false): boolean {
  agree(recs, what, withRoot ? AGREE.rootDtypeCountOp : AGREE.dtypeCountOp);
  for (let i = 0; i < recs.length; i++) if (recs[i]!.payload === null) return false;
  return true;
}
