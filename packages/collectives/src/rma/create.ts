// Creating a window (collective). Every rank says what it exposes and whether it can copy
// straight to every peer; rank 0 creates the window's shared segment (locks, and the parts of
// a shared window), the others map it, and rank 0 unlinks its name once every rank has mapped
// it, so nothing stays in /dev/shm even if ranks are killed later (the segment's name carries
// the job's prefix, so the launcher removes it if every rank dies before that).
//
// A rank with bad arguments still takes part, with a poison size, so every rank fails with
// the same ERR_INVALID_ARG instead of waiting for it.
import { allocBuffer, createShmSegment, openShmSegment, unlinkShmSegment, unmapShmSegment, type ShmSegment } from "@onecopy/cma";
import { ENV, ErrorCode, jobKeyOf, MessagingError, segmentPrefix, trackName, untrackName, type CollectiveTransport } from "@onecopy/rendezvous";
import { allgather } from "../allgather.js";
import { MAGIC, windowLayout } from "./layout.js";
import { WindowLocks } from "./locks.js";
import { Win, type WindowMode } from "./window.js";

export type WindowKind = "create" | "allocate" | "shared";

// A window's segment is unmapped when its mapping (the ArrayBuffer every view of it shares) is
// garbage: views the program kept after free() stay valid, and nothing is unmapped under them.
// The held value must not reference the buffer, or it would never become garbage.
const unmapWhenUnreachable = new FinalizationRegistry<{ address: bigint; bytes: number }>((m) => unmapShmSegment({ ...m, path: "", buffer: new ArrayBuffer(0) }));

const FIELDS = 4; // [address, bytes, can copy to every peer, name nonce]

/** Every rank's record, gathered. */
async function gatherRecords(t: CollectiveTransport, mine: number[]): Promise<number[][]> {
  const all = new Float64Array(FIELDS * t.size);
  await allgather(t, new Float64Array(mine), all);
  return Array.from({ length: t.size }, (_, r) => Array.from(all.subarray(r * FIELDS, (r + 1) * FIELDS)));
}

/** Every rank's flag, gathered: whether each step succeeded there. */
async function agreeOk(t: CollectiveTransport, ok: boolean): Promise<number[]> {
  const all = new Float64Array(t.size);
  await allgather(t, new Float64Array([ok ? 1 : 0]), all);
  return Array.from(all);
}

function localMemory(kind: WindowKind, arg: unknown, what: string): { memory: Uint8Array; keep: unknown } | string {
  if (kind === "create") {
    if (ArrayBuffer.isView(arg)) return { memory: new Uint8Array(arg.buffer, arg.byteOffset, arg.byteLength), keep: arg };
    if (arg instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && arg instanceof SharedArrayBuffer)) return { memory: new Uint8Array(arg), keep: arg };
    return `${what}: pass a typed array, Buffer, DataView, ArrayBuffer or SharedArrayBuffer (got ${arg === null ? "null" : typeof arg})`;
  }
  if (typeof arg !== "number" || !Number.isSafeInteger(arg) || arg < 0) return `${what}: ${String(arg)} is not a non-negative byte count`;
  if (kind === "allocate") {
    const buf = allocBuffer(arg);
    return { memory: new Uint8Array(buf), keep: buf };
  }
  return { memory: new Uint8Array(0), keep: null }; // a shared window's part is placed in the segment
}

/** Create a window over `t`'s communicator (collective). */
export async function createWindow(t: CollectiveTransport, kind: WindowKind, arg: unknown): Promise<Win> {
  const what = kind === "create" ? "winCreate" : kind === "allocate" ? "winAllocate" : "winAllocateShared";
  const me = t.rank;
  const n = t.size;
  const local = localMemory(kind, arg, what);
  const bad = typeof local === "string" ? local : null;
  const size = bad ? -1 : kind === "shared" ? (arg as number) : (local as { memory: Uint8Array }).memory.byteLength;
  const address = bad || kind === "shared" || size === 0 ? 0 : (t.ioList([(local as { memory: Uint8Array }).memory], size)[0] ?? 0);
  let canCopy = true;
  for (let r = 0; r < n; r++) if (r !== me && !(t.canRead(r) && t.canBeRead(r))) canCopy = false;
  const nonce = Math.floor(Math.random() * 2 ** 48);
  const recs = await gatherRecords(t, [address, size, canCopy ? 1 : 0, nonce]);
  const poisoned = recs.findIndex((x) => x[1]! < 0);
  if (poisoned >= 0) throw new MessagingError(ErrorCode.INVALID_ARG, bad ?? `${what}: rank ${poisoned} passed an invalid argument`, { rank: me, peer: poisoned });
  const sizes = recs.map((x) => x[1]!);
  const mode: WindowMode = kind === "shared" ? "shared" : recs.every((x) => x[2] === 1) ? "cma" : "target-side";
  const layout = windowLayout(sizes, kind === "shared");
  const name = `${segmentPrefix(jobKeyOf(process.env[ENV.token] ?? ""))}win-${recs[0]![3]!.toString(36)}`;

  let seg: ShmSegment | null = null;
  let failure: unknown = null;
  if (me === 0) {
    try {
      trackName(name);
      seg = createShmSegment(name, layout.bytes);
      new Int32Array(seg.buffer, 0, 2).set([MAGIC, n]);
    } catch (err) {
      failure = err;
    }
  }
  let mapped: number[];
  try {
    const created = await agreeOk(t, failure === null);
    if (created[0] !== 1) {
      throw me === 0 ? failure : new MessagingError(ErrorCode.SHM_CREATE, `${what}: rank 0 could not create the window's shared-memory segment (see rank 0's error)`, { rank: me, peer: 0 });
    }
    if (me !== 0) {
      try {
        seg = openShmSegment(name, layout.bytes);
        const head = new Int32Array(seg.buffer, 0, 2);
        if (head[0] !== MAGIC || head[1] !== n) throw new MessagingError(ErrorCode.SHM_OPEN, `${what}: segment ${name} is not this window's`);
      } catch (err) {
        failure = err;
      }
    }
    mapped = await agreeOk(t, failure === null);
  } catch (err) {
    if (seg) unmapShmSegment(seg); // a peer was lost in the middle: nobody uses this window
    throw err;
  } finally {
    // Every rank has mapped it, or the creation failed: either way the name goes now.
    if (me === 0) {
      unlinkShmSegment(name);
      untrackName(name);
    }
  }
  const missing = mapped.findIndex((x) => x !== 1);
  if (missing >= 0) {
    if (seg) unmapShmSegment(seg);
    throw failure ?? new MessagingError(ErrorCode.SHM_OPEN, `${what}: rank ${missing} could not map the window's shared-memory segment (see its error)`, { rank: me, peer: missing });
  }
  const s = seg!;
  unmapWhenUnreachable.register(s.buffer, { address: s.address, bytes: s.bytes });
  const parts = kind === "shared" ? sizes.map((b, r) => new Uint8Array(s.buffer, layout.parts[r]!, b)) : [];
  const loc = local as { memory: Uint8Array; keep: unknown };
  const lost = () => {
    const b = t.broken;
    if (b) throw b;
  };
  return new Win({
    t,
    mode,
    memory: kind === "shared" ? parts[me]! : loc.memory,
    keep: kind === "shared" ? s : loc.keep,
    sizes,
    addresses: recs.map((x) => x[0]!),
    seg: s,
    locks: new WindowLocks(new Int32Array(s.buffer, 0, (128 + n * layout.block) / 4), layout, me, lost),
    parts,
    tags: { req: t.nextTag(), ans: t.nextTag() },
  });
}
