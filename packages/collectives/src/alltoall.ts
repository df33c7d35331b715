// Alltoall / alltoallv. Small: every send buffer rides in the descriptor exchange. Large: every
// rank pulls its block from every peer's send buffer straight into its receive buffer, in
// shifted order (step k: rank r reads rank r+k, so each source has exactly one reader per
// step), then a closing handshake frees the send buffers. n·(n-1)·B bytes, each copied once.
// In place, the receive buffer is first copied locally so peers read a stable copy.
import type { CollectiveTransport } from "@onecopy/rendezvous";
import { argError, dataOf, IN_PLACE, type CollBuffer, type Data, type InPlace } from "./datatypes.js";
import { KIND, mismatch } from "./descriptors.js";
import { expose, finishDirect, planAndExchange, readFrom, serveRead, settleAll, shifted } from "./moves.js";
import { tuning } from "./tuning.js";
import { agree, AGREE, blockLayout } from "./validate.js";

interface Plan {
  send: Data;
  recv: Data;
  sc: number[];
  sd: number[];
  rc: number[];
  rd: number[];
}

async function run(t: CollectiveTransport, what: string, kind: number, plan: () => Plan): Promise<void> {
  const n = t.size;
  const me = t.rank;
  const { tags, recs, p } = await planAndExchange(t, what, kind, plan, (p) => {
    const inline = p.send.bytes.byteLength * n <= tuning.inlineMax;
    return { kind, dtype: p.recv.dtype, s: expose(t, p.send.bytes), extra: [...p.sc, ...p.sd, ...p.rc], payload: inline ? p.send.bytes : null };
  });
  agree(recs, what, AGREE.dtype);
  for (const a of recs) {
    for (const b of recs) {
      const sends = a.extra[b.rank]!;
      const gets = b.extra[2 * n + a.rank]!;
      if (sends !== gets) throw mismatch(what, `rank ${a.rank} sends ${sends} elements to rank ${b.rank}, which expects ${gets}`);
    }
  }
  const size = p.recv.size;
  const dst = (j: number) => p.recv.bytes.subarray(p.rd[j]! * size, (p.rd[j]! + p.rc[j]!) * size);
  const src = (j: number) => p.send.bytes.subarray(p.sd[j]! * size, (p.sd[j]! + p.sc[j]!) * size);
  if (p.rc[me]! > 0) dst(me).set(src(me));
  if (recs.every((r) => r.payload !== null)) {
    for (const r of recs) {
      if (r.rank === me || p.rc[r.rank] === 0) continue;
      const off = r.extra[n + me]! * size;
      dst(r.rank).set(r.payload!.subarray(off, off + p.rc[r.rank]! * size));
    }
    return;
  }
  const sends = shifted(t).map((j) => serveRead(t, j, src(j), tags.d1));
  for (const j of shifted(t)) await readFrom(t, j, dst(j), recs[j]!.s[0]!, recs[j]!.extra[n + me]! * size, tags.d1);
  await settleAll(sends);
  await finishDirect(t, tags.fin);
}

/** Block j of rank i's `send` lands in block i of rank j's `recv` (all blocks the same length). */
export function alltoall(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer): Promise<void> {
  const n = t.size;
  return run(t, "alltoall", KIND.alltoall, () => {
    const r = dataOf(recv, "alltoall receive buffer");
    if (r.count % n !== 0) throw argError("alltoall", `the receive buffer has ${r.count} elements, not a multiple of the ${n} ranks`);
    let s: Data;
    if (send === IN_PLACE) s = { ...r, bytes: r.bytes.slice() };
    else {
      s = dataOf(send, "alltoall send buffer");
      if (s.count !== r.count) throw argError("alltoall", `the send buffer has ${s.count} elements but the receive buffer ${r.count}; both hold ${n} blocks`);
      if (s.dtype !== r.dtype) throw argError("alltoall", "the send and receive buffers have different element types");
    }
    const c = r.count / n;
    const counts = new Array<number>(n).fill(c);
    const displs = Array.from({ length: n }, (_, i) => i * c);
    return { send: s, recv: r, sc: counts, sd: displs, rc: counts, rd: displs };
  });
}

/** Rank i's sendCounts[j] elements at sendDispls[j] go to rank j's recv at recvDispls[i] (recvCounts[i] elements). */
export function alltoallv(
  t: CollectiveTransport,
  send: CollBuffer | InPlace,
  sendCounts: ArrayLike<number> | null | undefined,
  sendDispls: ArrayLike<number> | null | undefined,
  recv: CollBuffer,
  recvCounts: ArrayLike<number>,
  recvDispls: ArrayLike<number>,
): Promise<void> {
  const n = t.size;
  return run(t, "alltoallv", KIND.alltoallv, () => {
    const r = dataOf(recv, "alltoallv receive buffer");
    const { counts: rc, displs: rd } = blockLayout("alltoallv", recvCounts, recvDispls, n, r.count, ["recvCounts", "recvDispls"], "receive buffer");
    if (send === IN_PLACE) return { send: { ...r, bytes: r.bytes.slice() }, recv: r, sc: rc, sd: rd, rc, rd };
    const s = dataOf(send, "alltoallv send buffer");
    const { counts: sc, displs: sd } = blockLayout("alltoallv", sendCounts, sendDispls, n, s.count, ["sendCounts", "sendDispls"], "send buffer");
    if (s.dtype !== r.dtype) throw argError("alltoallv", "the send and receive buffers have different element types");
    return { send: s, recv: r, sc, sd, rc, rd };
  });
}
