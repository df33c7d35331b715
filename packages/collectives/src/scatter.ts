// Scatter / scatterv. Small: the root's send buffer rides in the descriptor exchange. Large:
// the root writes each rank's block straight into that rank's receive buffer
// (process_vm_writev), `fanout` at a time, then tells the rank; every target has exactly one
// writer and nobody piles reads onto the root. (n-1)·B bytes, each copied once.
import { ErrorCode, type CollectiveTransport } from "@onecopy/rendezvous";
import { argError, checkRoot, dataOf, IN_PLACE, type CollBuffer, type Data, type InPlace } from "./datatypes.js";
import { exchange, F_IN_PLACE, KIND, mismatch, type Rec } from "./descriptors.js";
import { bounded, expect, expose, notify, serveWrite, settleAll, takeTags, writeTo, type Tags } from "./moves.js";
import { tuning } from "./tuning.js";
import { agree, AGREE, blockLayout } from "./validate.js";
import { checkHead, decodeHead, encodeHead, others, poisonError, poisonHead } from "./eager-rooted.js";

/**
 * The opt-in small path without the exchange (see eager-rooted.ts): the root sends every rank a
 * header with its block when every block is small (≤ inlineMax:
 * one eager message each). `exact`: the block must fill the receive buffer (scatter), else fit it (scatterv). "done" or "large" (go on with the exchange).
 */
async function eagerScatter(t: CollectiveTransport, tags: Tags, what: string, kind: number, root: number, plan: () => Plan, exact: boolean): Promise<"done" | "large"> {
  const me = t.rank;
  let p: Plan | null = null;
  let err: unknown = null;
  try {
    checkRoot(root, t.size, what);
    p = plan();
  } catch (e) {
    err = e;
  }
  if (err && (err as { code?: string }).code === ErrorCode.INVALID_RANK) throw err;
  if (me === root) {
    if (err) {
      const m = poisonHead(me, err, false);
      await settleAll(others(t).map((j) => t.isend([m], m.byteLength, j, tags.h)));
      throw err;
    }
    const s = p!.send!;
    const small = Math.max(0, ...p!.counts) * s.size <= tuning.inlineMax; // per message (block)
    const blk = (r: number) => s.bytes.subarray(p!.displs[r]! * s.size, (p!.displs[r]! + p!.counts[r]!) * s.size);
    const sends = others(t).map((j) => {
      const m = encodeHead(me, { kind, dtype: s.dtype, count: p!.counts[j]!, root, small }, small ? blk(j) : null);
      return t.isend([m], m.byteLength, j, tags.h);
    });
    await settleAll(sends);
    if (!small) return "large";
    if (p!.recv && p!.counts[me]! > 0) p!.recv.bytes.set(blk(me));
    return "done";
  }
  const got = await t.irecv(null, 0, root, tags.h).wait();
  const h = decodeHead(got.data);
  if (h.error) throw err ?? poisonError(what, h);
  if (!h.small) return "large";
  if (err) throw err;
  const r = p!.recv!;
  const bad = checkHead(what, me, h, { kind, dtype: r.dtype, count: r.count, root, small: true }, ["root", "dtype"]);
  if (bad) throw bad;
  if (exact ? h.count !== r.count : h.count > r.count) {
    throw mismatch(what, `rank ${me} has a ${r.count}-element receive buffer but the root (rank ${root}) sends it ${h.count} elements`);
  }
  if (h.count > 0) r.bytes.set(h.payload!);
  return "done";
}

interface Plan {
  send: Data | null; // root only
  recv: Data | null; // null: root in place
  counts: number[]; // root only (elements)
  displs: number[];
}

async function run(t: CollectiveTransport, what: string, kind: number, root: number, plan: () => Plan, check: (recs: Rec[], p: Plan) => void, exact: boolean): Promise<void> {
  const tags = takeTags(t);
  const n = t.size;
  const me = t.rank;
  if (tuning.rootedEager && n > 1 && (await eagerScatter(t, tags, what, kind, root, plan, exact)) === "done") return;
  let p!: Plan;
  const recs = await exchange(t, tags.x, what, kind, () => {
    checkRoot(root, n, what);
    p = plan();
    const c = { kind, root, dtype: (p.send ?? p.recv)!.dtype, count: p.recv ? p.recv.count : -1, flags: p.recv ? 0 : F_IN_PLACE, r: expose(t, p.recv?.bytes ?? null) };
    if (me !== root) return c;
    const sb = p.send!.bytes.byteLength;
    return { ...c, extra: [...p.counts, ...p.displs], payload: sb <= tuning.inlineMax ? p.send!.bytes : null };
  });
  agree(recs, what, AGREE.rootDtype);
  check(recs, p);
  const rr = recs[root]!;
  const counts = Array.from(rr.extra.subarray(0, n));
  const displs = Array.from(rr.extra.subarray(n, 2 * n));
  const size = (p.send ?? p.recv)!.size;
  const block = (r: number) => [displs[r]! * size, (displs[r]! + counts[r]!) * size] as const;
  if (rr.payload) {
    if (p.recv && counts[me]! > 0) p.recv.bytes.set(rr.payload.subarray(...block(me)));
    return;
  }
  if (me === root) {
    if (p.recv && counts[me]! > 0) p.recv.bytes.set(p.send!.bytes.subarray(...block(me)));
    const jobs: Array<() => Promise<void>> = [];
    for (let k = 1; k < n; k++) {
      const r = (root + k) % n;
      if (counts[r] === 0) continue;
      jobs.push(async () => {
        await writeTo(t, r, p.send!.bytes.subarray(...block(r)), recs[r]!.r[0]!, 0, tags.d1);
        if (t.canRead(r)) await notify(t, r, tags.a);
      });
    }
    await bounded(tuning.fanout, jobs);
    return;
  }
  if (counts[me] === 0) return;
  if (t.canBeRead(root)) await expect(t, root, tags.a);
  else await serveWrite(t, root, p.recv!.bytes.subarray(0, counts[me]! * size), tags.d1);
}

/** Send block i of `send` (at the root) to rank i's `recv`. Every block has recv.length elements. */
export function scatter(t: CollectiveTransport, send: CollBuffer | null | undefined, recv: CollBuffer | InPlace, root: number): Promise<void> {
  const n = t.size;
  return run(t, "scatter", KIND.scatter, root, () => {
    const isRoot = t.rank === root;
    if (recv === IN_PLACE && !isRoot) throw argError("scatter", "IN_PLACE is only valid as the root's receive buffer");
    const r = recv === IN_PLACE ? null : dataOf(recv, "scatter receive buffer");
    if (!isRoot) return { send: null, recv: r, counts: [], displs: [] };
    const s = dataOf(send, "scatter send buffer (at the root)");
    if (s.count % n !== 0) throw argError("scatter", `the root's send buffer has ${s.count} elements, not a multiple of the ${n} ranks`);
    const c = s.count / n;
    if (r && r.count !== c) throw argError("scatter", `the root's receive buffer has ${r.count} elements but its send buffer holds ${n} blocks of ${c}`);
    if (r && r.dtype !== s.dtype) throw argError("scatter", "the root's send and receive buffers have different element types");
    return { send: s, recv: r, counts: new Array(n).fill(c), displs: Array.from({ length: n }, (_, i) => i * c) };
  }, (recs) => {
    const c = recs[root]!.extra[0]!;
    for (const r of recs) {
      if (r.count >= 0 && r.count !== c) throw mismatch("scatter", `rank ${r.rank} has a ${r.count}-element receive buffer but the root sends blocks of ${c}`);
    }
  }, true);
}

/** Send counts[i] elements at displs[i] of `send` (at the root) to rank i's `recv`. */
export function scatterv(
  t: CollectiveTransport,
  send: CollBuffer | null | undefined,
  counts: ArrayLike<number> | null | undefined,
  displs: ArrayLike<number> | null | undefined,
  recv: CollBuffer | InPlace,
  root: number,
): Promise<void> {
  const n = t.size;
  return run(t, "scatterv", KIND.scatterv, root, () => {
    const isRoot = t.rank === root;
    if (recv === IN_PLACE && !isRoot) throw argError("scatterv", "IN_PLACE is only valid as the root's receive buffer");
    const r = recv === IN_PLACE ? null : dataOf(recv, "scatterv receive buffer");
    if (!isRoot) return { send: null, recv: r, counts: [], displs: [] };
    const s = dataOf(send, "scatterv send buffer (at the root)");
    const { counts: c, displs: d } = blockLayout("scatterv", counts, displs, n, s.count, ["counts", "displs"], "send buffer");
    if (r && r.dtype !== s.dtype) throw argError("scatterv", "the root's send and receive buffers have different element types");
    return { send: s, recv: r, counts: c, displs: d };
  }, (recs) => {
    const c = recs[root]!.extra;
    for (const r of recs) {
      if (r.count >= 0 && r.count < c[r.rank]!) throw mismatch("scatterv", `rank ${r.rank} has a ${r.count}-element receive buffer but the root sends it ${c[r.rank]} elements`);
    }
  }, false);
}
