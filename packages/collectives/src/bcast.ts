// Broadcast. Small: the root's data rides in the descriptor exchange. Large: the root writes
// one chunk to each other rank (process_vm_writev, a bounded number at a time: every target has
// one writer), and the ranks then read the chunks they miss from each other in shifted order
// (one reader per source per step). Each byte reaches each rank with exactly one copy:
// (n-1)·B bytes in all, spread over all ranks instead of n-1 readers piling onto the root.
import { ErrorCode, type CollectiveTransport, type Request } from "@onecopy/rendezvous";
import { checkRoot, dataOf, type CollBuffer, type Data } from "./datatypes.js";
import { exchange, KIND } from "./descriptors.js";
import { bounded, expect, expose, finishDirect, notify, readFrom, serveRead, serveWrite, settleAll, takeTags, writeTo } from "./moves.js";
import { slices } from "./reduce-core.js";
import { tuning } from "./tuning.js";
import { agree, AGREE } from "./validate.js";
import { checkHead, decodeHead, encodeHead, others, poisonError, poisonHead } from "./eager-rooted.js";
import type { Tags } from "./moves.js";

/**
 * The opt-in small path without the exchange (see eager-rooted.ts): the root sends a header to
 * every rank, with the data when small. "done" when the broadcast is over, "large" when every
 * rank must go on with the exchange-based path.
 */
async function eagerBcast(t: CollectiveTransport, tags: Tags, buf: CollBuffer, root: number): Promise<"done" | "large"> {
  const me = t.rank;
  let d: Data | null = null;
  let err: unknown = null;
  try {
    checkRoot(root, t.size, "bcast");
    d = dataOf(buf, "bcast buffer");
  } catch (e) {
    err = e;
  }
  // A rank without a valid root cannot know whom to hear from (documented: may leave others waiting).
  if (err && (err as { code?: string }).code === ErrorCode.INVALID_RANK) throw err;
  if (me === root) {
    if (err) {
      const p = poisonHead(me, err, false);
      await settleAll(others(t).map((j) => t.isend([p], p.byteLength, j, tags.h)));
      throw err;
    }
    const small = d!.bytes.byteLength <= tuning.inlineMax;
    const msg = encodeHead(me, { kind: KIND.bcast, dtype: d!.dtype, count: d!.count, root, small }, small ? d!.bytes : null);
    await settleAll(others(t).map((j) => t.isend([msg], msg.byteLength, j, tags.h)));
    return small ? "done" : "large";
  }
  const got = await t.irecv(null, 0, root, tags.h).wait();
  const h = decodeHead(got.data);
  if (h.error) throw err ?? poisonError("bcast", h);
  // The root went large: join the exchange whatever our arguments (it fails everyone on a mismatch).
  if (!h.small) return "large";
  if (err) throw err;
  const bad = checkHead("bcast", me, h, { kind: KIND.bcast, dtype: d!.dtype, count: d!.count, root, small: d!.bytes.byteLength <= tuning.inlineMax }, ["root", "dtype", "count"]);
  if (bad) throw bad;
  d!.bytes.set(h.payload!);
  return "done";
}

/** Copy `buf` of rank `root` into `buf` of every rank. */
export async function bcast(t: CollectiveTransport, buf: CollBuffer, root: number): Promise<void> {
  const tags = takeTags(t);
  const n = t.size;
  const me = t.rank;
  if (tuning.rootedEager && n > 1 && (await eagerBcast(t, tags, buf, root)) === "done") return;
  let d!: Data;
  const recs = await exchange(t, tags.x, "bcast", KIND.bcast, () => {
    d = dataOf(buf, "bcast buffer");
    checkRoot(root, n, "bcast");
    const inline = me === root && d.bytes.byteLength <= tuning.inlineMax;
    return { kind: KIND.bcast, dtype: d.dtype, count: d.count, root, r: expose(t, d.bytes), payload: inline ? d.bytes : null };
  });
  agree(recs, "bcast", AGREE.rootDtypeCount);
  const bytes = d.bytes.byteLength;
  if (n === 1 || bytes === 0) return;
  const src = recs[root]!;
  if (src.payload) {
    if (me !== root) d.bytes.set(src.payload);
    return;
  }
  // Chunk c goes to the rank at distance c+1 from the root.
  const m = n - 1;
  const lo = slices(bytes, m, 1);
  const rankOf = (c: number) => (root + 1 + c) % n;
  const chunkOf = (r: number) => (r - root - 1 + n) % n;
  const view = (c: number) => d.bytes.subarray(lo[c]!, lo[c + 1]!);

  if (me === root) {
    const jobs = Array.from({ length: m }, (_, c) => async () => {
      const r = rankOf(c);
      await writeTo(t, r, view(c), recs[r]!.r[0]!, lo[c]!, tags.d1);
      if (t.canRead(r)) await notify(t, r, tags.a);
    });
    await bounded(tuning.fanout, jobs);
    return;
  }
  const mineC = chunkOf(me);
  const others: number[] = [];
  for (let k = 1; k < m; k++) others.push(rankOf((mineC + k) % m));
  // Announcements from the other ranks, posted before anything can arrive.
  const have = new Map<number, Request<unknown>>();
  for (const j of others) if (t.canRead(j)) have.set(j, expect(t, j, tags.a));
  if (t.canBeRead(root)) await expect(t, root, tags.a);
  else await serveWrite(t, root, view(mineC), tags.d1);
  const sends: Array<Request<unknown> | null> = [];
  for (const j of others) {
    if (t.canBeRead(j)) sends.push(notify(t, j, tags.a));
    else sends.push(serveRead(t, j, view(mineC), tags.d2));
  }
  for (const j of others) {
    const c = chunkOf(j);
    await have.get(j);
    await readFrom(t, j, view(c), recs[j]!.r[0]!, lo[c]!, tags.d2);
  }
  await settleAll(sends);
  await finishDirect(t, tags.fin, others);
}
