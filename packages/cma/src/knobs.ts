// Every knob of onecopy in one table: environment variable, default, parser and the reason for
// the default. It sits at the bottom layer so that every layer (the copy core, the messaging
// runtime, the collectives, the launcher and `onecopy info`) reads the same names, parses them
// the same way and prints the same documentation. Layers pick their own rows: `knobsOf(layer)`.
import { ErrorCode, invalid } from "./errors.js";

/** Which layer reads a knob. */
export type KnobLayer = "cma" | "messaging" | "collectives";

/** One documented knob. `parse` turns the raw environment text into a value or throws a RangeError. */
export interface Knob<T> {
  readonly env: string;
  readonly default: T;
  readonly layer: KnobLayer;
  readonly parse: (raw: string, env: string) => T;
  readonly doc: string;
}

/**
 * Parse a byte count: a non-negative integer with an optional binary suffix (`k`, `KiB`, `kb`,
 * `m`, `MiB`, `g`, `GiB`; all powers of 1024, case-insensitive). `what` names the source in
 * the error (an environment variable, a CLI flag, an option).
 * @throws RangeError if the text is not a byte count or exceeds `Number.MAX_SAFE_INTEGER`.
 */
export function parseByteCount(text: string, what = "byte count"): number {
  const m = /^\s*(\d+)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(text);
  if (!m) throw invalid(ErrorCode.INVALID_ARG, `${what} must be a number of bytes like 8192, 64k, 64KiB or 1MiB, got '${text}'`);
  const unit = (m[2] ?? "").toLowerCase();
  const mult = unit.startsWith("k") ? 1024 : unit.startsWith("m") ? 1024 ** 2 : unit.startsWith("g") ? 1024 ** 3 : 1;
  const value = Number(m[1]) * mult;
  if (!Number.isSafeInteger(value)) throw invalid(ErrorCode.INVALID_ARG, `${what} is too large: '${text}'`);
  return value;
}

/** Parse a non-negative integer (a count or milliseconds; no suffixes). */
export function parseCount(text: string, what = "count"): number {
  const t = text.trim();
  const v = /^\d+$/.test(t) ? Number(t) : NaN;
  if (!Number.isSafeInteger(v)) throw invalid(ErrorCode.INVALID_ARG, `${what} must be a non-negative integer, got '${text}'`);
  return v;
}

/** Parse an on/off switch: 1/true/on/yes or 0/false/off/no. */
export function parseSwitch(text: string, what = "switch"): boolean {
  const t = text.trim().toLowerCase();
  if (t === "1" || t === "true" || t === "on" || t === "yes") return true;
  if (t === "0" || t === "false" || t === "off" || t === "no") return false;
  throw invalid(ErrorCode.INVALID_ARG, `${what} must be 1 or 0 (true/false, on/off, yes/no), got '${text}'`);
}

/** Transports of large messages (`ONECOPY_TRANSPORT`, `--transport`): `cma` is the default. */
export const TRANSPORTS = ["cma", "shm", "socket"] as const;
/** A transport name. */
export type TransportName = (typeof TRANSPORTS)[number];

/** Parse a transport name. */
export function parseTransport(text: string, what = "transport"): TransportName {
  if (!(TRANSPORTS as readonly string[]).includes(text)) throw invalid(ErrorCode.INVALID_ARG, `${what} must be one of ${TRANSPORTS.join(", ")}, got '${text}'`);
  return text as TransportName;
}

const bytes = (env: string, layer: KnobLayer, dflt: number, doc: string): Knob<number> => ({ env, layer, default: dflt, parse: parseByteCount, doc });
const count = (env: string, layer: KnobLayer, dflt: number, doc: string): Knob<number> => ({ env, layer, default: dflt, parse: parseCount, doc });

/** The table. Keys are the names the layers use in code. */
export const KNOBS = {
  // ---- the copy core ---------------------------------------------------------------------
  cma: {
    env: "ONECOPY_CMA",
    layer: "cma",
    default: true,
    parse: parseSwitch,
    doc: "0 disables single-copy transfers everywhere (the launcher's --no-cma). Large messages then take the shared-memory double copy. One kill switch, read once per process.",
  } satisfies Knob<boolean>,
  cmaAsyncMin: bytes(
    "ONECOPY_CMA_ASYNC_MIN",
    "cma",
    4 << 20,
    "Copies of at least this many bytes run on koffi worker threads so the event loop keeps turning; smaller ones run synchronously (about 1.5 us per call). Measured (bench/cma-bw): a worker hop costs 15-60 us, under 10% of the copy from about 4 MiB on 4 KiB pages; a synchronous 4 MiB copy stalls the event loop about 0.3 ms at most.",
  ),
  cmaStreams: count(
    "ONECOPY_CMA_STREAMS",
    "cma",
    2,
    "Concurrent worker calls one large copy is split into (each at least 4 MiB). On 4 KiB pages one stream stops near 13 GB/s because the kernel pins the remote pages one at a time; two overlap on the 2 cores measured.",
  ),
  thp: {
    env: "ONECOPY_THP",
    layer: "cma",
    default: true,
    parse: parseSwitch,
    doc: "1 (default): ranks started by the launcher get GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc >= 2.35; merged into a GLIBC_TUNABLES you set, never overriding your own hugetlb value), so glibc advises transparent huge pages for its large allocations and an ordinary new Float64Array(n) lands on 2 MiB pages, which the kernel pins for CMA one per 2 MiB instead of one per 4 KiB. Measured here: a 64 MiB Float64Array got 62 MiB of AnonHugePages with it and none without; the RSS of a program holding 200 000 small objects was unchanged (147.6 vs 148.3 MiB). 0 leaves GLIBC_TUNABLES alone.",
  } satisfies Knob<boolean>,
  collapseMin: bytes(
    "ONECOPY_COLLAPSE_MIN",
    "cma",
    4 << 20,
    "Registration cache, collapse: the second time an ordinary buffer of at least this many bytes takes part in a single copy (sent with a descriptor, or copied into), onecopy collapses its 2 MiB-aligned interior onto transparent huge pages (madvise MADV_COLLAPSE, Linux >= 6.1, contents kept) on a worker thread, and remembers it per ArrayBuffer, so later messages copy from and into huge pages. For buffers glibc did not put on huge pages (ONECOPY_THP=0, programs not started by the launcher). Measured here (osu_bw pattern, ONECOPY_THP=0, loaded 2-core VM): receiver CPU per message 16 MiB 3.5-4.3 -> 1.5-1.8 ms, 64 MiB 12-13.4 -> 5.3-6.3 ms, 4 MiB 0.54-0.64 -> 0.36-0.49 ms; the collapse itself costs about 40 ms per 64 MiB on a worker (the 2nd and 3rd messages of a buffer are slower meanwhile), about 2 ms on memory already on huge pages; peak RSS unchanged. 0 turns it off.",
  ),
  populateMin: bytes(
    "ONECOPY_POPULATE_MIN",
    "cma",
    0,
    "Registration cache, populate: a receive buffer of at least this many bytes whose pages are not faulted in yet (mincore on three sampled pages) is populated writable (madvise MADV_POPULATE_WRITE, contents kept) before the copy into it, instead of the kernel faulting its pages in one by one inside the copy. Off by default (0) because it did not measure faster: the pages must be zeroed either way, so it only moves that cost in front of the copy. Measured here: on 4 KiB pages populate + copy of a fresh 64 MiB buffer 65-95 ms vs 90-105 ms copying into it directly; on huge pages (the launcher's default, ONECOPY_THP=1) no gain or a loss; in whole messages (fresh receive buffer per message, 4-64 MiB) the difference was within the noise of a loaded machine.",
  ),
  // ---- the messaging runtime -------------------------------------------------------------
  mpiSpinUs: count(
    "ONECOPY_MPI_SPIN_US",
    "messaging",
    2000,
    "Jobs started by mpirun/srun: after an MPI event or a posted operation, the MPI progress loop polls on every event-loop turn for this many microseconds even when no onecopy operation is pending (a reply is often on its way). While operations are pending and the host's ranks fit its CPUs it polls on every turn anyway (MPI has no doorbell: with 1-4 ms timers instead, a half round trip between nodes took 6.5 ms, polling 88-103 us); oversubscribed or idle ranks back off to timers.",
  ),
  mpiYield: {
    env: "ONECOPY_MPI_YIELD",
    layer: "messaging",
    default: true,
    parse: parseSwitch,
    doc: "Jobs started by mpirun/srun: 1 (default) makes the MPI progress loop call sched_yield after a poll that found nothing, before it polls again, so that a peer queued on this CPU runs (about a microsecond when nobody waits); 0 spins without yielding.",
  } satisfies Knob<boolean>,
  mpiBlockingAllreduce: {
    env: "ONECOPY_MPI_BLOCKING_ALLREDUCE",
    layer: "messaging",
    default: true,
    parse: parseSwitch,
    doc: "Hierarchical allreduce over several nodes: 1 (default) makes the node leaders call the blocking MPI_Allreduce, so the leader's event loop waits inside MPI for the length of the call (the node's other ranks only wait for its result); 0 posts MPI_Iallreduce and tests it from the event loop, where Open MPI's non-blocking schedule advances only when tested. Quiet run, 2 simulated nodes x 1 rank: 1 MiB 665 -> 290 us, 16 MiB 10.6 -> 8.3 ms. With ONECOPY_HIER_CHUNK the blocking call stalls the pipeline: the chunks then post MPI_Iallreduce.",
  } satisfies Knob<boolean>,
  mpiSenderFirst: {
    env: "ONECOPY_MPI_SENDER_FIRST",
    layer: "messaging",
    default: true,
    parse: parseSwitch,
    doc: "Jobs started by mpirun/srun over several nodes: 1 (default) posts a large message's MPI_Issend right after its RTS, and the receiver posts MPI_Irecv when a receive matches (MPI's own rendezvous keeps the bytes in the sender's buffer until then); 0 waits for the receiver's PULL before posting the send (one more control round trip per burst, and a PULL frame per message). Read by the sender; the receiver follows each RTS.",
  } satisfies Knob<boolean>,
  transport: {
    env: "ONECOPY_TRANSPORT",
    layer: "messaging",
    default: "cma",
    parse: parseTransport,
    doc: "Transport of large messages: cma copies once with CMA and uses the shared-memory double copy for pairs that cannot; shm uses shared memory for every large message; socket streams them over the Unix socket.",
  } satisfies Knob<TransportName>,
  eagerLimit: bytes(
    "ONECOPY_EAGER_LIMIT",
    "messaging",
    32 * 1024,
    "Largest message sent inline on the socket. Above it the receiver copies once, straight from the sender's buffer, at the cost of an extra control hop. Measured (bench/p2p-suite, eager-limit table, quiet 2-core VM): at 64 KiB single copy wins both latency (1.22x) and bandwidth (1.77x); at 32 KiB latency is even (0.89x) and bandwidth 1.14x; at 16 KiB inline latency is clearly better.",
  ),
  unexpectedLimit: bytes(
    "ONECOPY_UNEXPECTED_LIMIT",
    "messaging",
    64 * 1024 * 1024,
    "Bytes of eager messages a rank buffers before any receive matches them, each message counted with its bookkeeping overhead. Past it the rank stops reading from the sending peer (backpressure) until receives drain the queue.",
  ),
  packBelow: bytes(
    "ONECOPY_PACK_BELOW",
    "messaging",
    1024,
    "A message of several pieces whose average piece is smaller than this many bytes is packed into one contiguous buffer (and unpacked on receipt) instead of travelling as an iovec list: the kernel pins a page per remote iovec (~0.5-0.8 us each), so tiny pieces cost more than copying them (measured: a column halo of 8190 x 8 B, 7.1 ms as iovecs vs 0.22 ms packed). 0 never packs.",
  ),
  connectTimeoutMs: count(
    "ONECOPY_CONNECT_TIMEOUT_MS",
    "messaging",
    60_000,
    "How long start-up waits for every other rank to come up before failing with ERR_INIT, in milliseconds.",
  ),
  closeWarnMs: count(
    "ONECOPY_CLOSE_WARN_MS",
    "messaging",
    10_000,
    "After how many milliseconds a close() that is still waiting (for receivers to take its sends, or to read its last bytes) says what it waits for. It keeps waiting: like MPI_Finalize, close() delivers or fails every send already posted.",
  ),
  shmCells: count(
    "ONECOPY_SHM_CELLS",
    "messaging",
    8,
    "Cells per direction of a rank pair's shared-memory ring (ONECOPY_TRANSPORT=shm, and pairs that cannot use CMA). The sender fills cells while the receiver drains earlier ones.",
  ),
  shmCellSize: bytes(
    "ONECOPY_SHM_CELL_SIZE",
    "messaging",
    128 * 1024,
    "Bytes per shared-memory cell (rounded up to a page). One segment per direction holds cells x cell size.",
  ),
  shmSpinUs: count(
    "ONECOPY_SHM_SPIN_US",
    "messaging",
    50,
    "Microseconds a rank polls a stalled shared-memory ring mid-transfer before it sleeps and waits for the peer's doorbell frame on the socket. 0 = never poll (doorbell only).",
  ),
  fastpath: {
    env: "ONECOPY_FASTPATH",
    layer: "messaging",
    default: true,
    parse: parseSwitch,
    doc: "0 keeps every frame of an established link on its Unix socket. 1 (default): after start-up each rank pair moves its point-to-point frames (EAGER with its payload, RTS, FIN, PULL, PUT, WROTE) through a shared-memory ring per direction, and the socket only carries doorbells, socket-path payloads, BYE and liveness. A pair whose ring cannot be created stays on the socket (one warning).",
  } satisfies Knob<boolean>,
  fastpathRing: bytes(
    "ONECOPY_FASTPATH_RING",
    "messaging",
    256 * 1024,
    "Bytes of one direction's frame ring of the fast path (rounded up to a power of two, at least 64 KiB). A frame larger than the ring streams through it in pieces; a full ring queues frames in order until the receiver frees space.",
  ),
  spinUs: count(
    "ONECOPY_SPIN_US",
    "messaging",
    100,
    "Microseconds a rank with a pending operation polls its inbound frame rings before it sleeps in the event loop (and peers must ring its doorbell, a socket hop of about 20-25 us on an idle VM). Applies only while the job's ranks fit the CPUs this process may run on (size <= os.availableParallelism()); oversubscribed ranks never spin, since polling would take the CPU the peer they wait for needs. 0 = never spin.",
  ),
  splitMin: bytes(
    "ONECOPY_SPLIT_MIN",
    "messaging",
    0,
    "Both processes copy: a single-copy rendezvous message of at least this many bytes is split; the receiver reads the first part with process_vm_readv while the sender, told where with a PUT frame, writes the rest into the receive buffers with process_vm_writev (ONECOPY_SPLIT_SHARE sets the sender's part). The receive completes when both parts are in, the send on FIN as before. Needs CMA both ways (a pair whose sender may not write into the receiver falls back to the receiver copying everything). 0 (default) never splits. The default must be re-chosen on a quiet machine: the split needs a free core, and it was measured only with other work keeping both cores 100% busy (osu_bw np 2, one buffer each side, window 64, split at 1 MiB vs off, interleaved launches, split/off bandwidth at 1/4/16/64 MiB: 0.73/0.72/0.85/0.86 in one run, 1.21/1.15/1.85/2.53 in a second, 0.82/0.77/0.69/0.82 in a third; CPU per message and rank +2 to +25%). A C loop of the same copies (both processes copying half of one destination at once vs one process copying all) gave 1.0-1.2x on that loaded machine.",
  ),
  splitShare: count(
    "ONECOPY_SPLIT_SHARE",
    "messaging",
    50,
    "Percent of a split message (ONECOPY_SPLIT_MIN) the sender writes (1-99); the receiver reads the rest. 50 balances two equally fast copiers.",
  ),
  // ---- the collectives -------------------------------------------------------------------
  collInlineMax: bytes(
    "ONECOPY_COLL_INLINE_MAX",
    "collectives",
    16 * 1024,
    "Small-message switch point of the collectives, in bytes. Every collective starts with one dissemination (Bruck) exchange of small descriptors (log2 n rounds of eager messages). When the data a collective moves is at most this many bytes in total (count x element size x number of contributing ranks), it travels inside that exchange and the collective is over after it. Above it the exchange carries only addresses and the data moves with single copies. Measured (bench/collectives.ts): inline wins while the extra bytes through the socket cost less than one more control round (30-60 us on an idle 2-vCPU VM), i.e. up to ~16 KiB in total.",
  ),
  collChunk: bytes(
    "ONECOPY_COLL_CHUNK",
    "collectives",
    1024 * 1024,
    "Chunk of a fused reduction, in bytes (at least 4096): a peer's contribution is read into a scratch area of this size and combined into the destination while it is still in cache. The copies, not the cache, set the best size: process_vm_readv/writev on 4 KiB pages pin the remote pages call by call, and each call has a fixed cost, so fewer, larger calls take less CPU (measured, allreduce 16 MiB np 2, CPU per call: 128 KiB 6.4 ms, 512 KiB 5.0, 1 MiB 4.2-4.3, 2 MiB 4.1, 4 MiB 5.4 where a copy moves to a worker thread). 1 MiB keeps the two scratch chunks in L3.",
  ),
  collFanout: count(
    "ONECOPY_COLL_FANOUT",
    "collectives",
    2,
    "How many single-copy transfers a root keeps in flight at once when it writes to (scatter, bcast) or reads from (gather) the other ranks (at least 1). Each transfer touches one peer's memory, so no process ever has more than one remote reader; the bound keeps the root from flooding the libuv pool. 2 matches the 2 cores of the measured machine.",
  ),
  collSlots: bytes(
    "ONECOPY_COLL_SLOTS",
    "collectives",
    64 * 1024,
    "Bytes of one record area of a communicator's collective slots (two per member rank, in one shared segment mapped by every member; rounded up to 128 bytes, at least 1 KiB). With slots, the descriptor exchange every collective starts with (its arguments, buffer addresses and, for small collectives, the data) and the closing 'done with your buffers' handshake go through shared memory instead of messages; a record larger than the area goes by messages. 64 KiB holds the largest inline record (ONECOPY_COLL_INLINE_MAX) plus the per-rank arrays of a v-collective. 0 switches the slots off (as does ONECOPY_FASTPATH=0). Set-up rides on a communicator's first two collectives.",
  ),
  collNotes: count(
    "ONECOPY_COLL_NOTES",
    "collectives",
    1,
    "1: inside a collective whose exchange went through the collective slots, the notifications of the large algorithms ('your chunk is written', 'my chunk is complete' in bcast; 'my slice is in your buffer' in allreduce) are single-writer sequence counters in the slots (one store for all readers; readers poll them like the records) instead of zero-byte messages per peer; allreduce's notice becomes the slots' fin. 0: messages, as before (kept for before/after measurements). Measured np 2, interleaved on the loaded 2-core VM (versus-ompi --quick, 4 rounds): allreduce 1 MiB 1149 vs 1332 us per call (CPU 509 vs 649 us), 16 MiB 8317 vs 10258 us; bcast 1 MiB 467 vs 504 us (CPU 298 vs 348 us), 16 MiB 2398 vs 2311 us (noise); a less loaded run: allreduce 1 MiB 445 vs 556 us, bcast 373 vs 389 us.",
  ),
  collBcastSplit: count(
    "ONECOPY_COLL_BCAST_SPLIT",
    "collectives",
    0,
    "Large bcast: percentage (0-100) of its chunk that a non-root rank reads from the root itself while the root writes the rest into it, so both copy at once (at np 2, 50: the root writes half of the buffer and the other rank reads the other half); the root then waits until those ranks say they are done reading. 0 (default): the root writes every chunk whole. Measured on the loaded 2-core VM (load 25, np 2, interleaved): 50 against 0, 1 MiB 1110 vs 675 us per call (CPU 368 vs 285 us), 16 MiB 3505 vs 3707 us (CPU 1109 vs 1138 us): the extra wait of the root loses while ranks are descheduled. TODO(measure): a quiet run, where both ranks copy at once for real.",
  ),
  collSimd: count(
    "ONECOPY_COLL_SIMD",
    "collectives",
    1,
    "1: the built-in reduction operators that have a WebAssembly SIMD kernel (sum, prod, min, max and the bitwise ones on most element types) combine large reductions with it, in a scratch area of the kernel's own memory; 0: every combine runs as a typed-array loop. Same bits either way.",
  ),
  hierarchical: {
    env: "ONECOPY_HIERARCHICAL",
    layer: "collectives",
    default: true,
    parse: parseSwitch,
    doc: "Jobs started by mpirun/srun over several nodes: 1 (default) runs the world's allreduce, reduce, bcast, barrier, allgather and gather in three steps (node-local single copy to the node's leader, the MPI collective among the leaders, node-local back); 0 keeps the flat algorithms over point-to-point, whose messages between nodes go through MPI one by one.",
  } satisfies Knob<boolean>,
  hierChunk: bytes(
    "ONECOPY_HIER_CHUNK",
    "collectives",
    0,
    "Hierarchical world allreduce (mpirun/srun over several nodes) of at least two chunks of this many bytes, on nodes of more than one rank: pipelined by chunk (the node-local reduce of chunk k+1 runs while the leaders' MPI_Iallreduce of chunk k does, and the node-local broadcast of chunk k while that of chunk k+1 does). 0 (default): one chunk, the three steps one after another.",
  ),
  collRootedEager: count(
    "ONECOPY_COLL_ROOTED_EAGER",
    "collectives",
    0,
    "1: bcast, reduce, gather(v) and scatter(v) skip the descriptor exchange; messages of at most the inline maximum go linearly over eager messages, each carrying a header that the receiving side checks. Faster under oversubscription (measured, 8 ranks on 2 cores, 8 B: bcast 1368 -> 502 us, reduce 1743 -> 832, gather 1849 -> 1458, scatter 1549 -> 469), but weaker error semantics, as in MPI: a count/type/operator mismatch fails only on the rank that sees it, and ranks that disagree about the root or about which collective they call may hang. 0 (default): every call starts with the exchange, so every mismatch fails on every rank.",
  ),
} as const;

/** Names of the knobs. */
export type KnobName = keyof typeof KNOBS;
/** The value type of knob `K`. */
export type KnobValue<K extends KnobName> = (typeof KNOBS)[K] extends Knob<infer T> ? T : never;

/** The value of knob `name` from `env` (its default when unset or empty). */
export function readKnob<K extends KnobName>(name: K, env: NodeJS.ProcessEnv = process.env): KnobValue<K> {
  const k = KNOBS[name] as unknown as Knob<KnobValue<K>>;
  const raw = env[k.env];
  return raw === undefined || raw === "" ? k.default : k.parse(raw, k.env);
}

/** The knobs one layer reads, by name. */
export function knobsOf(layer: KnobLayer): Array<[KnobName, Knob<unknown>]> {
  return (Object.entries(KNOBS) as Array<[KnobName, Knob<unknown>]>).filter(([, k]) => k.layer === layer);
}
