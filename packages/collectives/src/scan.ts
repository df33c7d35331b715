// Inclusive and exclusive prefix reductions. Small: contributions ride in the descriptor
// exchange and rank i folds those of ranks 0 … i. Large: rank i reads the contributions of
// the lower ranks straight from their buffers in cache-sized chunks and combines them into its
// receive buffer. Built-in operators visit them nearest first (step k: rank i reads rank i-k,
// one reader per source per step); user operators in rank order. This moves i·B bytes into
// rank i (n(n-1)/2·B in all) but needs no chain of n-1 dependent steps; on the few ranks of
// one machine that parallelism wins over the linear chain's (n-1)·B.
import type { CollectiveTransport } from "@onecopy/rendezvous";
import type { CollBuffer, InPlace } from "./datatypes.js";
import { exchange, KIND } from "./descriptors.js";
import { finish, serveRead, settleAll, takeTags } from "./moves.js";
import type { ReduceOp } from "./ops.js";
import { combineOrder, foldPayloads, reduceSlice, sourcesOf } from "./reduce-core.js";
import { tuning } from "./tuning.js";
import { redAgree, redArgs, redRecord, type RedArgs } from "./reduction.js";

async function run(t: CollectiveTransport, what: string, kind: number, inclusive: boolean, send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp): Promise<void> {
  const tags = takeTags(t);
  const n = t.size;
  const me = t.rank;
  let a!: RedArgs;
  const recs = await exchange(t, tags.x, what, kind, () => {
    a = redArgs(what, send, recv, op, true, (c) => c);
    // In place, higher ranks read our contribution while we overwrite it: expose a copy.
    if (a.inPlace && a.input.bytes.byteLength * n > tuning.inlineMax) a = { ...a, input: { ...a.input, bytes: a.input.bytes.slice() }, inPlace: false };
    return redRecord(t, kind, a);
  });
  const small = redAgree(recs, what);
  const { input, op: rop } = a;
  const out = a.out!.bytes;
  const last = inclusive ? me : me - 1; // highest contributing rank
  const contributors = Array.from({ length: last + 1 }, (_, i) => i);
  if (small) {
    if (last >= 0) foldPayloads(input.dtype, rop.kernel, contributors.map((r) => recs[r]!.payload!), 0, out.byteLength, out);
    return;
  }
  const bytes = input.bytes.byteLength;
  // Fallback pairs: my whole contribution goes to every higher rank that cannot read me.
  const reqs = [];
  for (let j = me + 1; j < n; j++) reqs.push(serveRead(t, j, input.bytes, tags.d1));
  if (last >= 0) {
    const nearest = Array.from({ length: me }, (_, k) => me - 1 - k);
    const order = combineOrder(me, contributors, nearest, rop.commutative, false);
    const sources = sourcesOf(t, order, input.bytes, (j) => recs[j]!.s[0]!, bytes, tags.d1);
    await reduceSlice(t, { dtype: input.dtype, kernel: rop.kernel, bytes, order: sources, dest: out, destIsMine: false });
  }
  await settleAll(reqs);
  const lower = contributors.filter((j) => j !== me && t.canRead(j));
  const higher: number[] = [];
  for (let j = me + 1; j < n; j++) if (t.canBeRead(j)) higher.push(j);
  await finish(t, tags.fin, lower, higher);
}

/** Inclusive prefix reduction: rank i gets send(0) ⊕ … ⊕ send(i) in `recv`. */
export function scan(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp): Promise<void> {
  return run(t, "scan", KIND.scan, true, send, recv, op);
}

/** Exclusive prefix reduction: rank i > 0 gets send(0) ⊕ … ⊕ send(i-1) in `recv`; rank 0's `recv` is left as it is. */
export function exscan(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp): Promise<void> {
  return run(t, "exscan", KIND.exscan, false, send, recv, op);
}
