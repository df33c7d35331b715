// Reduce to a root. Small: contributions ride in the descriptor exchange and the root folds
// them in rank order. Large: the result is split into n slices and rank i builds slice i,
// reading slice i of every contribution in cache-sized chunks (shifted order: one reader per
// source per step) and combining as it goes; the root builds its slice in place, the others
// write each finished chunk straight into the root's receive buffer (process_vm_writev).
// Reads (n-1)·B and writes (n-1)/n·B bytes, all ranks working in parallel.
import { ErrorCode, type CollectiveTransport, type Request } from "@onecopy/rendezvous";
import { checkRoot, type CollBuffer, type InPlace } from "./datatypes.js";
import { exchange, KIND } from "./descriptors.js";
import { finishDirect, serveRead, serveWrite, settleAll, shifted, takeTags, writeTo } from "./moves.js";
import type { ReduceOp } from "./ops.js";
import { chunkBytes, combineOrder, foldPayloads, reduceSlice, slices, sourcesOf } from "./reduce-core.js";
import { redAgree, redArgs, redRecord, type RedArgs } from "./reduction.js";
import { checkHead, decodeHead, encodeHead, others, poisonError, poisonHead, type Head } from "./eager-rooted.js";
import { tuning } from "./tuning.js";
import type { Tags } from "./moves.js";

/**
 * The opt-in small path without the exchange (see eager-rooted.ts): every rank sends a header
 * to the root, with its contribution when small; the root checks them all and folds in rank
 * order. "done" when the reduction is over (or, at a small non-root, handed off), "large" when
 * every rank must go on with the exchange-based path.
 */
async function eagerReduce(t: CollectiveTransport, tags: Tags, send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, op: ReduceOp, root: number): Promise<"done" | "large"> {
  const n = t.size;
  const me = t.rank;
  let a: RedArgs | null = null;
  let err: unknown = null;
  try {
    checkRoot(root, n, "reduce");
    a = redArgs("reduce", send, recv, op, me === root, (c) => c, me === root);
  } catch (e) {
    err = e;
  }
  if (err && (err as { code?: string }).code === ErrorCode.INVALID_RANK) {
    // We do not know the root: tell everyone (the root, whoever it is, is listening).
    const p = poisonHead(me, err, false);
    await settleAll(others(t).map((j) => t.isend([p], p.byteLength, j, tags.h)));
    throw err;
  }
  // Per message: only the root receives n-1 of them (the exchange's bound is on the total).
  const small = a ? a.input.bytes.byteLength <= tuning.inlineMax : false;
  const mine = a ? { kind: KIND.reduce, dtype: a.input.dtype, count: a.input.count, op: a.op.code, root, small } : null;
  if (me !== root) {
    const msg = err ? poisonHead(me, err, false) : encodeHead(me, mine!, small ? a!.input.bytes : null);
    await t.isend([msg], msg.byteLength, root, tags.h).wait();
    if (err) throw err;
    if (small) return "done";
    // Large: the root's verdict says whether everyone goes on with the exchange.
    const got = await t.irecv(null, 0, root, tags.h).wait();
    const v = decodeHead(got.data);
    if (v.error) throw poisonError("reduce", v);
    return "large";
  }
  const heads: Head[] = new Array(n);
  await Promise.all(others(t).map(async (j) => {
    const got = await t.irecv(null, 0, j, tags.h).wait();
    heads[j] = decodeHead(got.data);
  }));
  let failure: unknown = err;
  for (let j = 0; j < n && !failure; j++) {
    if (j === me) continue;
    const h = heads[j]!;
    failure = h.error ? poisonError("reduce", h) : checkHead("reduce", me, h, mine!, ["root", "dtype", "count", "op", "small"]);
  }
  if (failure) {
    // Ranks that went large wait for our verdict; the small ones are done already.
    const p = poisonHead(me, failure, failure !== err);
    await settleAll(others(t).filter((j) => !heads[j]!.error && !heads[j]!.small).map((j) => t.isend([p], p.byteLength, j, tags.h)));
    throw failure;
  }
  if (!small) {
    const go = encodeHead(me, mine!, null);
    await settleAll(others(t).map((j) => t.isend([go], go.byteLength, j, tags.h)));
    return "large";
  }
  const own = a!.inPlace ? a!.input.bytes.slice() : a!.input.bytes;
  const payloads = Array.from({ length: n }, (_, j) => (j === me ? own : heads[j]!.payload!));
  foldPayloads(a!.input.dtype, a!.op.kernel, payloads, 0, a!.input.bytes.byteLength, a!.out!.bytes);
  return "done";
}

/** Combine every rank's `send` with `op` into `recv` at the root (`recv` ignored elsewhere). */
export async function reduce(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, op: ReduceOp, root: number): Promise<void> {
  const tags = takeTags(t);
  const n = t.size;
  const me = t.rank;
  if (tuning.rootedEager && n > 1 && (await eagerReduce(t, tags, send, recv, op, root)) === "done") return;
  let a!: RedArgs;
  const recs = await exchange(t, tags.x, "reduce", KIND.reduce, () => {
    checkRoot(root, n, "reduce");
    a = redArgs("reduce", send, recv, op, me === root, (c) => c, me === root);
    return redRecord(t, KIND.reduce, a, root);
  });
  const small = redAgree(recs, "reduce", true);
  const { input, op: rop } = a;
  const size = input.size;
  if (small) {
    if (me === root) foldPayloads(input.dtype, rop.kernel, recs.map((r) => r.payload!), 0, input.bytes.byteLength, a.out!.bytes);
    return;
  }
  if (n === 1) {
    if (!a.inPlace) a.out!.bytes.set(input.bytes);
    return;
  }
  const lo = slices(input.count, n, size).map((e) => e * size);
  const sl = (v: Uint8Array, i: number) => v.subarray(lo[i]!, lo[i + 1]!);
  const bytes = lo[me + 1]! - lo[me]!;
  // Fallback pairs: my slice j goes to rank j as a message; the root receives non-writable slices chunk by chunk.
  const reqs: Array<Request<unknown> | null> = shifted(t).map((j) => serveRead(t, j, sl(input.bytes, j), tags.d1));
  if (me === root) {
    for (const i of shifted(t)) {
      const dst = sl(a.out!.bytes, i);
      const step = chunkBytes(dst.byteLength);
      for (let off = 0; off < dst.byteLength; off += step) reqs.push(serveWrite(t, i, dst.subarray(off, off + step), tags.d2));
    }
  }
  const destIsMine = me === root && a.inPlace;
  const order = combineOrder(me, recs.map((r) => r.rank), shifted(t), rop.commutative, destIsMine);
  const sources = sourcesOf(t, order, sl(input.bytes, me), (j) => recs[j]!.s[0]! + lo[me]!, bytes, tags.d1);
  const rootAddr = recs[root]!.r[0]! + lo[me]!;
  await reduceSlice(t, {
    dtype: input.dtype,
    kernel: rop.kernel,
    bytes,
    order: sources,
    dest: me === root ? sl(a.out!.bytes, me) : null,
    destIsMine,
    sink: me === root ? undefined : (off, c) => writeTo(t, root, c, rootAddr, off, tags.d2),
  });
  await settleAll(reqs);
  await finishDirect(t, tags.fin);
}
