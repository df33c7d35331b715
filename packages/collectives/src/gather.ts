// Gather / gatherv. Small: every rank's block rides in the descriptor exchange. Large: the
// root reads each rank's block straight out of that rank's send buffer into its receive buffer
// (process_vm_readv), `fanout` at a time; each source has one reader, and hears "done" from
// the root once its buffer is free again. (n-1)·B bytes, each copied once.
import { ErrorCode, type CollectiveTransport } from "@onecopy/rendezvous";
import { argError, checkRoot, dataOf, IN_PLACE, type CollBuffer, type Data, type InPlace } from "./datatypes.js";
import { exchange, KIND, mismatch, type Rec } from "./descriptors.js";
import { bounded, expect, expose, notify, readFrom, settleAll, takeTags, type Tags } from "./moves.js";
import { tuning } from "./tuning.js";
import { agree, AGREE, blockLayout } from "./validate.js";
import { checkHead, decodeHead, encodeHead, others, poisonError, poisonHead, type Head } from "./eager-rooted.js";

/**
 * The opt-in path without the exchange (see eager-rooted.ts): every rank sends the root a
 * header, with its block when small (block ≤ inlineMax: one eager message), else with the block's address.
 * The root checks every header against its counts and answers the large senders (their verdict),
 * then reads their blocks with single copies as the exchange-based path does.
 */
async function eagerGather(t: CollectiveTransport, tags: Tags, what: string, kind: number, root: number, plan: () => Plan): Promise<void> {
  const n = t.size;
  const me = t.rank;
  let p: Plan | null = null;
  let err: unknown = null;
  try {
    checkRoot(root, n, what);
    p = plan();
  } catch (e) {
    err = e;
  }
  if (err && (err as { code?: string }).code === ErrorCode.INVALID_RANK) {
    const m = poisonHead(me, err, false);
    await settleAll(others(t).map((j) => t.isend([m], m.byteLength, j, tags.h)));
    throw err;
  }
  if (me !== root) {
    const s = p?.send ?? null;
    const small = s !== null && s.bytes.byteLength <= tuning.inlineMax; // per message
    const m = err ? poisonHead(me, err, false) : encodeHead(me, { kind, dtype: s!.dtype, count: s!.count, root, small }, small ? s!.bytes : new Uint8Array(new Float64Array(expose(t, s!.bytes)).buffer));
    await t.isend([m], m.byteLength, root, tags.h).wait();
    if (err) throw err;
    if (small) return;
    const v = decodeHead((await t.irecv(null, 0, root, tags.h).wait()).data);
    if (v.error) throw poisonError(what, v);
    if (s!.bytes.byteLength === 0) return;
    if (t.canBeRead(root)) await expect(t, root, tags.fin);
    else await t.isend([s!.bytes], s!.bytes.byteLength, root, tags.d1);
    return;
  }
  const heads: Head[] = new Array(n);
  await Promise.all(others(t).map(async (j) => {
    heads[j] = decodeHead((await t.irecv(null, 0, j, tags.h).wait()).data);
  }));
  let failure: unknown = err;
  const dtype = p ? (p.send ?? p.recv)!.dtype : 0;
  for (let j = 0; j < n && !failure; j++) {
    if (j === me) continue;
    const h = heads[j]!;
    failure = h.error ? poisonError(what, h) : checkHead(what, me, h, { kind, dtype, count: 0, root, small: false }, ["root", "dtype"]);
    if (!failure && h.count !== p!.counts[j]) failure = mismatch(what, `rank ${j} sends ${h.count} elements but the root (rank ${me}) receives ${p!.counts[j]} from it`);
  }
  const large = others(t).filter((j) => !heads[j]!.error && !heads[j]!.small);
  if (failure) {
    const m = poisonHead(me, failure, failure !== err);
    await settleAll(large.map((j) => t.isend([m], m.byteLength, j, tags.h)));
    throw failure;
  }
  const size = (p!.send ?? p!.recv)!.size;
  const dst = (r: number) => p!.recv!.bytes.subarray(p!.displs[r]! * size, (p!.displs[r]! + p!.counts[r]!) * size);
  if (p!.send && p!.counts[me]! > 0) dst(me).set(p!.send.bytes);
  for (let j = 0; j < n; j++) if (j !== me && heads[j]!.small && p!.counts[j]! > 0) dst(j).set(heads[j]!.payload!);
  if (large.length === 0) return;
  const go = encodeHead(me, { kind, dtype, count: 0, root, small: false }, null);
  const sends = large.map((j) => t.isend([go], go.byteLength, j, tags.h));
  const jobs = large.filter((j) => p!.counts[j]! > 0).map((j) => async () => {
    const pl = heads[j]!.payload!;
    const addr = new Float64Array(pl.buffer, pl.byteOffset, 2)[0]!;
    await readFrom(t, j, dst(j), addr, 0, tags.d1);
    if (t.canRead(j)) await notify(t, j, tags.fin);
  });
  await bounded(tuning.fanout, jobs);
  await settleAll(sends);
}

interface Plan {
  send: Data | null; // null: root in place
  recv: Data | null; // root only
  counts: number[]; // root only
  displs: number[];
}

async function run(t: CollectiveTransport, what: string, kind: number, root: number, plan: () => Plan, check: (recs: Rec[]) => void): Promise<void> {
  const tags = takeTags(t);
  const n = t.size;
  const me = t.rank;
  if (tuning.rootedEager && n > 1) return eagerGather(t, tags, what, kind, root, plan);
  let p!: Plan;
  const recs = await exchange(t, tags.x, what, kind, () => {
    checkRoot(root, n, what);
    p = plan();
    const mine = p.send?.bytes ?? null;
    const inline = mine !== null && mine.byteLength * n <= tuning.inlineMax;
    return {
      kind, root, dtype: (p.send ?? p.recv)!.dtype, count: p.send ? p.send.count : -1,
      s: expose(t, mine), extra: me === root ? [...p.counts, ...p.displs] : [], payload: inline ? mine : null,
    };
  });
  agree(recs, what, AGREE.rootDtype);
  check(recs);
  const rr = recs[root]!;
  const counts = Array.from(rr.extra.subarray(0, n));
  const displs = Array.from(rr.extra.subarray(n, 2 * n));
  const size = (p.send ?? p.recv)!.size;
  const dst = (r: number) => p.recv!.bytes.subarray(displs[r]! * size, (displs[r]! + counts[r]!) * size);
  // Small when every block that moves rode along (or there is nothing to move).
  const small = recs.every((r) => r.rank === root || r.payload !== null || counts[r.rank] === 0);
  if (me === root) {
    if (p.send && counts[me]! > 0) dst(me).set(p.send.bytes);
    if (small) {
      for (const r of recs) if (r.rank !== root && counts[r.rank]! > 0) dst(r.rank).set(r.payload!);
      return;
    }
    const jobs: Array<() => Promise<void>> = [];
    for (let k = 1; k < n; k++) {
      const r = (root + k) % n;
      if (counts[r] === 0) continue;
      jobs.push(async () => {
        await readFrom(t, r, dst(r), recs[r]!.s[0]!, 0, tags.d1);
        if (t.canRead(r)) await notify(t, r, tags.fin);
      });
    }
    await bounded(tuning.fanout, jobs);
    return;
  }
  if (small || counts[me] === 0) return;
  if (t.canBeRead(root)) await expect(t, root, tags.fin);
  else await t.isend([p.send!.bytes], p.send!.bytes.byteLength, root, tags.d1);
}

/** Collect every rank's `send` (all the same length) into `recv` at the root, by rank. */
export function gather(t: CollectiveTransport, send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, root: number): Promise<void> {
  const n = t.size;
  return run(t, "gather", KIND.gather, root, () => {
    const isRoot = t.rank === root;
    if (send === IN_PLACE && !isRoot) throw argError("gather", "IN_PLACE is only valid as the root's send buffer");
    const s = send === IN_PLACE ? null : dataOf(send, "gather send buffer");
    if (!isRoot) return { send: s, recv: null, counts: [], displs: [] };
    const r = dataOf(recv, "gather receive buffer (at the root)");
    if (r.count % n !== 0) throw argError("gather", `the root's receive buffer has ${r.count} elements, not a multiple of the ${n} ranks`);
    const c = r.count / n;
    if (s && s.count !== c) throw argError("gather", `the root sends ${s.count} elements but its receive buffer holds ${n} blocks of ${c}`);
    if (s && s.dtype !== r.dtype) throw argError("gather", "the root's send and receive buffers have different element types");
    return { send: s, recv: r, counts: new Array(n).fill(c), displs: Array.from({ length: n }, (_, i) => i * c) };
  }, (recs) => {
    const c = recs[root]!.extra[0]!;
    for (const r of recs) {
      if (r.count >= 0 && r.count !== c) throw mismatch("gather", `rank ${r.rank} sends ${r.count} elements but the root receives blocks of ${c}`);
    }
  });
}

/** Collect every rank's `send` into `recv` at the root: rank i's counts[i] elements at displs[i]. */
export function gatherv(
  t: CollectiveTransport,
  send: CollBuffer | InPlace,
  recv: CollBuffer | null | undefined,
  counts: ArrayLike<number> | null | undefined,
  displs: ArrayLike<number> | null | undefined,
  root: number,
): Promise<void> {
  const n = t.size;
  return run(t, "gatherv", KIND.gatherv, root, () => {
    const isRoot = t.rank === root;
    if (send === IN_PLACE && !isRoot) throw argError("gatherv", "IN_PLACE is only valid as the root's send buffer");
    const s = send === IN_PLACE ? null : dataOf(send, "gatherv send buffer");
    if (!isRoot) return { send: s, recv: null, counts: [], displs: [] };
    const r = dataOf(recv, "gatherv receive buffer (at the root)");
    const { counts: c, displs: d } = blockLayout("gatherv", counts, displs, n, r.count, ["counts", "displs"], "receive buffer");
    if (s && s.count !== c[root]) throw argError("gatherv", `the root sends ${s.count} elements but counts[${root}] is ${c[root]}`);
    if (s && s.dtype !== r.dtype) throw argError("gatherv", "the root's send and receive buffers have different element types");
    return { send: s, recv: r, counts: c, displs: d };
  }, (recs) => {
    const c = recs[root]!.extra;
    for (const r of recs) {
      if (r.count >= 0 && r.count !== c[r.rank]) throw mismatch("gatherv", `rank ${r.rank} sends ${r.count} elements but the root's counts[${r.rank}] is ${c[r.rank]}`);
    }
  });
}
