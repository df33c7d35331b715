// Reduce to a root. Small: contributions ride in the descriptor exchange and the root folds
// them in rank order. Large: the result is split into n slices and rank i builds slice i,
// reading slice i of every contribution in cache-sized chunks (shifted order: one reader per
// source per step) and combining as it goes; the root builds its slice in place, the others
// write each finished chunk straight into the root's receive buffer (process_vm_writev).
// Reads (n-1)·B and writes (n-1)/n·B bytes, all ranks working in parallel.
import type { CollectiveTransport, Request } from "@onecopy/rendezvous";
import { checkRoot, type CollBuffer, type InPlace } from "./datatypes.js";
import { exchange, KIND } from "./descriptors.js";
import { finishDirect, serveRead, serveWrite, settleAll, shifted, takeTags, writeTo } from "./moves.js";
import type { ReduceOp } from "./ops.js";
import { chunkBytes, combineOrder, foldPayloads, reduceSlice, slices, sourcesOf } from "./reduce-core.js";
import { redAgree, redArgs, redRecord, type RedArgs } from "./reduction.js";

/** Combine every rank's `send` with `op` into `recv` at the root (`recv` ignored elsewhere). */
export async function reduce(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, op: ReduceOp, root: number): Promise<void> {
  const tags = takeTags(t);
  const n = t.size;
  const me = t.rank;
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
  const sources = sourcesOf(t, order, sl(input.bytes, me), (j) => recs[j]!.sAddr + lo[me]!, bytes, tags.d1);
  const rootAddr = recs[root]!.rAddr + lo[me]!;
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
