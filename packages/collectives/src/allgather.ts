// Allgather / allgatherv. Small: the blocks ride in the descriptor exchange (Bruck). Large:
// every rank reads each peer's block straight from the peer's buffer into its own receive
// buffer, peers visited in shifted order (step k: rank r reads rank r+k, so each source has one
// reader per step), then a closing handshake frees the buffers. n·(n-1)·B bytes, each copied once.
import type { CollectiveTransport } from "@onecopy/rendezvous";
import { argError, dataOf, IN_PLACE, type CollBuffer, type Data, type InPlace } from "./datatypes.js";
import { KIND, mismatch, type Rec } from "./descriptors.js";
import { expose, finishDirect, planAndExchange, readFrom, serveRead, settleAll, shifted } from "./moves.js";
import { tuning } from "./tuning.js";
import { agree, AGREE, agreeList, blockLayout } from "./validate.js";

interface Plan {
  recv: Data;
  /** This rank's block (a view of send, or of recv when in place). */
  mine: Uint8Array;
  inPlace: boolean;
  counts: number[];
  displs: number[];
}

async function run(t: CollectiveTransport, what: string, kind: number, plan: () => Plan, extra: (p: Plan) => number[], check: (recs: Rec[]) => void): Promise<void> {
  const me = t.rank;
  const { tags, recs, p } = await planAndExchange(t, what, kind, plan, (p) => {
    let all = 0;
    for (const c of p.counts) all += c;
    const inline = all * p.recv.size <= tuning.inlineMax;
    return { kind, dtype: p.recv.dtype, count: p.mine.byteLength / p.recv.size, s: expose(t, p.mine), extra: extra(p), payload: inline ? p.mine : null };
  });
  agree(recs, what, AGREE.dtype);
  check(recs);
  const { counts, displs, recv } = p;
  const size = recv.size;
  const dst = (r: number) => recv.bytes.subarray(displs[r]! * size, (displs[r]! + counts[r]!) * size);
  if (!p.inPlace && counts[me]! > 0) dst(me).set(p.mine);
  if (recs.every((r) => r.payload !== null)) {
    for (const r of recs) if (r.rank !== me && counts[r.rank]! > 0) dst(r.rank).set(r.payload!);
    return;
  }
  const sends = shifted(t).map((j) => serveRead(t, j, p.mine, tags.d1));
  for (const j of shifted(t)) await readFrom(t, j, dst(j), recs[j]!.s[0]!, 0, tags.d1);
  await settleAll(sends);
  await finishDirect(t, tags.fin);
}

/** Every rank's `send` (all the same length), concatenated by rank into every rank's `recv`. */
export function allgather(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer): Promise<void> {
  const n = t.size;
  const me = t.rank;
  return run(t, "allgather", KIND.allgather, () => {
    const r = dataOf(recv, "allgather receive buffer");
    if (r.count % n !== 0) throw argError("allgather", `the receive buffer has ${r.count} elements, not a multiple of the ${n} ranks`);
    const c = r.count / n;
    const s = send === IN_PLACE ? null : dataOf(send, "allgather send buffer");
    if (s && s.count !== c) throw argError("allgather", `the send buffer has ${s.count} elements but the receive buffer holds ${n} blocks of ${c}`);
    if (s && s.dtype !== r.dtype) throw argError("allgather", "the send and receive buffers have different element types");
    const mine = s ? s.bytes : r.bytes.subarray(me * c * r.size, (me + 1) * c * r.size);
    return { recv: r, mine, inPlace: !s, counts: new Array(n).fill(c), displs: Array.from({ length: n }, (_, i) => i * c) };
  }, () => [], (recs) => agree(recs, "allgather", AGREE.count, "block size"));
}

/** Every rank's `send` (rank i: counts[i] elements) into every rank's `recv` at displs[i]. */
export function allgatherv(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer, counts: ArrayLike<number>, displs: ArrayLike<number>): Promise<void> {
  const n = t.size;
  const me = t.rank;
  return run(t, "allgatherv", KIND.allgatherv, () => {
    const r = dataOf(recv, "allgatherv receive buffer");
    const { counts: c, displs: d } = blockLayout("allgatherv", counts, displs, n, r.count, ["counts", "displs"], "receive buffer");
    const s = send === IN_PLACE ? null : dataOf(send, "allgatherv send buffer");
    if (s && s.count !== c[me]) throw argError("allgatherv", `the send buffer has ${s.count} elements but counts[${me}] is ${c[me]}`);
    if (s && s.dtype !== r.dtype) throw argError("allgatherv", "the send and receive buffers have different element types");
    const mine = s ? s.bytes : r.bytes.subarray(d[me]! * r.size, (d[me]! + c[me]!) * r.size);
    return { recv: r, mine, inPlace: !s, counts: c, displs: d };
  }, (p) => p.counts, (recs) => {
    agreeList(recs, "allgatherv", 0, n, "counts");
    for (const r of recs) {
      if (r.count !== r.extra[r.rank]) throw mismatch("allgatherv", `rank ${r.rank} sends ${r.count} elements but counts[${r.rank}] is ${r.extra[r.rank]}`);
    }
  });
}
