// Allreduce. Small: contributions ride in the descriptor exchange and every rank folds them in
// rank order (bitwise the same result everywhere). Large: reduce-scatter then allgather, both
// single-copy: rank i builds slice i of the result in its own receive buffer, reading slice i
// of every contribution in cache-sized chunks and combining as it goes (all ranks in
// parallel, shifted order: one reader per source per step); it announces the slice, and every
// rank reads the slices it misses straight from their owners. 2·(n-1)·B bytes: each byte
// crosses once to be reduced and once to be distributed.
import type { CollectiveTransport, Request } from "@onecopy/rendezvous";
import type { CollBuffer, InPlace } from "./datatypes.js";
import { exchange, KIND } from "./descriptors.js";
import { directPeers, expect, finishDirect, notify, readFrom, serveRead, settleAll, shifted, takeTags } from "./moves.js";
import type { ReduceOp } from "./ops.js";
import { combineOrder, foldPayloads, reduceSlice, slices, sourcesOf } from "./reduce-core.js";
import { redAgree, redArgs, redRecord, type RedArgs } from "./reduction.js";

/** Combine every rank's `send` with `op` into every rank's `recv`. */
export async function allreduce(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp): Promise<void> {
  const tags = takeTags(t);
  const n = t.size;
  const me = t.rank;
  let a!: RedArgs;
  const recs = await exchange(t, tags.x, "allreduce", KIND.allreduce, () => {
    a = redArgs("allreduce", send, recv, op, true, (c) => c);
    return redRecord(t, KIND.allreduce, a);
  });
  const small = redAgree(recs, "allreduce");
  const { input, op: rop } = a;
  const out = a.out!.bytes;
  if (small) {
    foldPayloads(input.dtype, rop.kernel, recs.map((r) => r.payload!), 0, out.byteLength, out);
    return;
  }
  if (n === 1) {
    if (!a.inPlace) out.set(input.bytes);
    return;
  }
  const size = input.size;
  const lo = slices(input.count, n, size).map((e) => e * size);
  const sl = (v: Uint8Array, i: number) => v.subarray(lo[i]!, lo[i + 1]!);
  const peers = shifted(t);
  const direct = directPeers(t);
  // Post every receive first: announcements of finished slices, fallback slices.
  const ready = new Map<number, Request<unknown>>();
  for (const j of direct) ready.set(j, expect(t, j, tags.a));
  const reqs: Array<Request<unknown> | null> = peers.map((j) => serveRead(t, j, sl(input.bytes, j), tags.d1));
  // Phase 1: reduce my slice into place.
  const order = combineOrder(me, recs.map((r) => r.rank), peers, rop.commutative, a.inPlace);
  const bytes = lo[me + 1]! - lo[me]!;
  const sources = sourcesOf(t, order, sl(input.bytes, me), (j) => recs[j]!.s[0]! + lo[me]!, bytes, tags.d1);
  await reduceSlice(t, { dtype: input.dtype, kernel: rop.kernel, bytes, order: sources, dest: sl(out, me), destIsMine: a.inPlace });
  for (const j of peers) reqs.push(t.canBeRead(j) ? notify(t, j, tags.a) : serveRead(t, j, sl(out, me), tags.d2));
  // Phase 2: read every other slice from its owner once the owner has finished it.
  for (const j of peers) {
    await ready.get(j);
    await readFrom(t, j, sl(out, j), recs[j]!.r[0]!, lo[j]!, tags.d2);
  }
  await settleAll(reqs);
  await finishDirect(t, tags.fin);
}
