// Broadcast. Small: the root's data rides in the descriptor exchange. Large: the buffer is cut
// into n-1 chunks, chunk c for the rank at distance c+1 from the root; the root writes the head
// of each chunk into its rank (process_vm_writev, a bounded number at a time: every target has
// one writer) while that rank reads the tail from the root itself (ONECOPY_COLL_BCAST_SPLIT;
// at np 2 both ranks copy half the buffer at once), and the ranks then read the chunks they
// miss from each other in shifted order (one reader per source per step). Each byte reaches
// each rank with exactly one copy: (n-1)·B bytes in all, spread over all ranks instead of n-1
// readers piling onto the root. "Your head is written" and "my chunk is complete" are slot
// notes (moves.ts tell/heard), or zero-byte messages off the slots.
import { ErrorCode, type CollectiveTransport, type Request } from "@onecopy/rendezvous";
import { checkRoot, dataOf, type CollBuffer, type Data } from "./datatypes.js";
import { exchange, KIND } from "./descriptors.js";
import { bounded, expose, finishDirect, heard, heardAll, readFrom, serveRead, serveWrite, settleAll, takeTags, tell, writeTo } from "./moves.js";
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
  // Where the pair copies both ways, the root writes the head of chunk c and its rank reads the
  // tail from the root at the same time (ONECOPY_COLL_BCAST_SPLIT: the tail's share).
  const peer = me === root ? -1 : root;
  const split = (r: number) => tuning.bcastSplit > 0 && t.canRead(peer < 0 ? r : peer) && t.canBeRead(peer < 0 ? r : peer);
  const mid = (c: number, r: number) => {
    const a = lo[c]!;
    const b = lo[c + 1]!;
    return split(r) ? a + Math.floor(((b - a) * (100 - tuning.bcastSplit)) / 100 / 64) * 64 : b;
  };

  if (me === root) {
    // Steps told: chunk c done tells step c+1 once every chunk before it is done too (its rank waits for that step).
    const done: boolean[] = new Array(m).fill(false);
    let prefix = 0;
    const told: Array<Request<unknown> | null> = [];
    const completed = (c: number) => {
      done[c] = true;
      while (prefix < m && done[prefix]) {
        const r = rankOf(prefix++);
        if (t.canRead(r)) told.push(...(tell(t, tags.a, [r], prefix) ?? []));
      }
    };
    const jobs = Array.from({ length: m }, (_, c) => async () => {
      const r = rankOf(c);
      if (!t.canRead(r)) {
        completed(c); // nobody waits for a step of a chunk sent as a message
        await writeTo(t, r, view(c), recs[r]!.r[0]!, lo[c]!, tags.d1);
        return;
      }
      const head = d.bytes.subarray(lo[c]!, mid(c, r));
      if (head.byteLength > 0) await t.write(r, [head], [recs[r]!.r[0]! + lo[c]!, head.byteLength]);
      completed(c);
    });
    await bounded(tuning.fanout, jobs);
    // The ranks reading tails from our buffer say when their chunk is complete.
    const readers: number[] = [];
    for (let c = 0; c < m; c++) if (split(rankOf(c))) readers.push(rankOf(c));
    await settleAll([...told, heardAll(t, tags.a, readers, 1)]);
    return;
  }
  const mineC = chunkOf(me);
  const others: number[] = [];
  for (let k = 1; k < m; k++) others.push(rankOf((mineC + k) % m));
  if (t.canBeRead(root)) {
    const from = mid(mineC, me);
    const tail = d.bytes.subarray(from, lo[mineC + 1]!);
    if (split(me) && tail.byteLength > 0) await t.read(root, [tail], [recs[root]!.r[0]! + from, tail.byteLength]);
    await heard(t, tags.a, root, mineC + 1);
  } else await serveWrite(t, root, view(mineC), tags.d1);
  // My chunk is complete: for the ranks that read it from me, and for the root when I read from it.
  const sends: Array<Request<unknown> | null> = [];
  const readers = others.filter((j) => t.canBeRead(j));
  if (split(me)) readers.push(root);
  sends.push(...(tell(t, tags.a, readers, 1) ?? []));
  for (const j of others) if (!t.canBeRead(j)) sends.push(serveRead(t, j, view(mineC), tags.d2));
  for (const j of others) {
    const c = chunkOf(j);
    if (t.canRead(j)) await heard(t, tags.a, j, 1);
    await readFrom(t, j, view(c), recs[j]!.r[0]!, lo[c]!, tags.d2);
  }
  await settleAll(sends);
  await finishDirect(t, tags.fin, others);
}
