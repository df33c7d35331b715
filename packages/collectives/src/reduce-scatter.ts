// Reduce-scatter (block and per-rank counts). Small: contributions ride in the descriptor
// exchange and every rank folds its own block. Large: rank i builds block i straight into its
// receive buffer, reading block i of every contribution in cache-sized chunks (shifted order:
// one reader per source per step) and combining as it goes. (n-1)·B bytes in all.
import type { CollectiveTransport } from "@onecopy/rendezvous";
import { argError, dataOf, intList, IN_PLACE, type CollBuffer, type InPlace } from "./datatypes.js";
import { exchange, KIND } from "./descriptors.js";
import { finishDirect, serveRead, settleAll, shifted, takeTags } from "./moves.js";
import { checkPairs, resolveOp, type ReduceOp } from "./ops.js";
import { combineOrder, foldPayloads, reduceSlice, sourcesOf } from "./reduce-core.js";
import { redAgree, redRecord, type RedArgs } from "./reduction.js";
import { agreeList, prefix } from "./validate.js";

async function run(t: CollectiveTransport, what: string, kind: number, args: () => { a: RedArgs; counts: number[] }, shareCounts: boolean): Promise<void> {
  const tags = takeTags(t);
  const n = t.size;
  const me = t.rank;
  let a!: RedArgs;
  let counts!: number[];
  const recs = await exchange(t, tags.x, what, kind, () => {
    ({ a, counts } = args());
    return redRecord(t, kind, a, 0, shareCounts ? counts : []);
  });
  const small = redAgree(recs, what);
  if (shareCounts) agreeList(recs, what, 0, n, "recvCounts");
  const { input, op: rop } = a;
  const size = input.size;
  const lo = prefix(counts).map((e) => e * size);
  const out = a.out!.bytes;
  const mineAt = a.inPlace ? lo[me]! : 0;
  const dest = out.subarray(mineAt, mineAt + lo[me + 1]! - lo[me]!);
  if (small) {
    foldPayloads(input.dtype, rop.kernel, recs.map((r) => r.payload!), lo[me]!, lo[me + 1]!, dest);
  } else {
    const sl = (v: Uint8Array, i: number) => v.subarray(lo[i]!, lo[i + 1]!);
    const peers = shifted(t);
    const reqs = peers.map((j) => serveRead(t, j, sl(input.bytes, j), tags.d1));
    const order = combineOrder(me, recs.map((r) => r.rank), peers, rop.commutative, a.inPlace);
    const bytes = lo[me + 1]! - lo[me]!;
    const sources = sourcesOf(t, order, sl(input.bytes, me), (j) => recs[j]!.s[0]! + lo[me]!, bytes, tags.d1);
    await reduceSlice(t, { dtype: input.dtype, kernel: rop.kernel, bytes, order: sources, dest, destIsMine: a.inPlace });
    await settleAll(reqs);
    await finishDirect(t, tags.fin);
  }
  // In place, the result moves to the front of the buffer once nobody reads it any more.
  if (a.inPlace && mineAt > 0) out.copyWithin(0, mineAt, mineAt + dest.byteLength);
}

function args(what: string, send: CollBuffer | InPlace, recv: CollBuffer, op: unknown, counts: (inCount: number | null) => number[], me: number) {
  const out = dataOf(recv, `${what} receive buffer`);
  const inPlace = send === IN_PLACE;
  const input = inPlace ? out : dataOf(send, `${what} send buffer`);
  if (!inPlace && input.dtype !== out.dtype) throw argError(what, "the send and receive buffers have different element types");
  const c = counts(input.count);
  let sum = 0;
  for (const x of c) sum += x;
  if (input.count !== sum) throw argError(what, `the ${inPlace ? "receive (in-place input)" : "send"} buffer has ${input.count} elements; it must hold the sum of the counts (${sum})`);
  if (!inPlace && out.count !== c[me]) throw argError(what, `the receive buffer has ${out.count} elements; it must have ${c[me]}`);
  const rop = resolveOp(op, input.dtype, what);
  // Every rank's block must hold whole pairs too (blocks are where the work is split).
  for (const x of c) checkPairs(rop, x, `${what} recvCounts`);
  return { a: { input, out, inPlace, op: rop }, counts: c };
}

/** Reduce `send` (n blocks of recv.length elements) with `op`; rank i gets block i in `recv`. */
export function reduceScatterBlock(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp): Promise<void> {
  const n = t.size;
  const what = "reduceScatterBlock";
  return run(t, what, KIND.reduceScatterBlock, () => args(what, send, recv, op, (inCount) => {
    // In place the receive buffer holds all n blocks; otherwise it holds one.
    const c = send === IN_PLACE ? (inCount ?? 0) / n : dataOf(recv, `${what} receive buffer`).count;
    if (!Number.isInteger(c)) throw argError(what, `the in-place buffer has ${inCount} elements, not a multiple of the ${n} ranks`);
    return new Array<number>(n).fill(c);
  }, t.rank), false);
}

/** Reduce `send` (sum(recvCounts) elements) with `op`; rank i gets recvCounts[i] elements in `recv`. */
export function reduceScatter(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer, recvCounts: ArrayLike<number>, op: ReduceOp): Promise<void> {
  const what = "reduceScatter";
  return run(t, what, KIND.reduceScatter, () => args(what, send, recv, op, () => intList(recvCounts, t.size, `${what} recvCounts`), t.rank), true);
}
