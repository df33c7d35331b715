// Switch points and knobs of the collective algorithms: one documented table, read once from
// the environment (ONECOPY_COLL_*), with the reason for every default next to it.

interface Knob {
  env: string;
  default: number;
  doc: string;
}

/** The documented table of collective tunables. */
export const COLL_TUNABLES = {
  inlineMax: {
    env: "ONECOPY_COLL_INLINE_MAX",
    default: 16 * 1024,
    doc:
      "Small-message switch point, in bytes. Every collective starts with one dissemination " +
      "(Bruck) exchange of small descriptors (log2 n rounds of eager messages). When the data a " +
      "collective moves is at most this many bytes in total (count × element size × number of " +
      "contributing ranks), it travels inside that exchange and the collective is over after " +
      "it: latency-optimal, one round trip per doubling. Above it the exchange carries only " +
      "addresses and the data moves with single copies. Measured (bench/collectives.ts): inline " +
      "wins while the extra bytes through the socket cost less than one more control round " +
      "(≈ 30–60 µs on an idle 2-vCPU VM), i.e. up to ~16 KiB in total.",
  },
  chunk: {
    env: "ONECOPY_COLL_CHUNK",
    default: 128 * 1024,
    doc:
      "Chunk of a fused reduction, in bytes: a peer's contribution is read into a scratch area of " +
      "this size and combined into the destination while it is still in cache (L2 is 512 KiB on " +
      "the measured EPYC; two chunks of scratch plus the destination chunk fit). Smaller chunks " +
      "pay more syscalls (≈ 1.5 µs each); larger ones fall out of cache.",
  },
  fanout: {
    env: "ONECOPY_COLL_FANOUT",
    default: 2,
    doc:
      "How many single-copy transfers a root keeps in flight at once when it writes to (scatter, " +
      "bcast) or reads from (gather) the other ranks. Each transfer touches one peer's memory, so " +
      "no process ever has more than one remote reader; the bound keeps the root from flooding " +
      "the libuv pool. 2 matches the 2 cores of the measured machine.",
  },
  rootedEager: {
    env: "ONECOPY_COLL_ROOTED_EAGER",
    default: 0,
    doc:
      "1: bcast, reduce, gather(v) and scatter(v) skip the descriptor exchange; messages of at " +
      "most inlineMax bytes go linearly over eager messages (root to every rank, every rank to " +
      "the root), each carrying a header that the receiving side checks. Faster under " +
      "oversubscription (measured, 8 ranks on 2 cores, 8 B: bcast 1368 -> 502 us, reduce " +
      "1743 -> 832, gather 1849 -> 1458, scatter 1549 -> 469), but weaker error semantics, as in MPI: a " +
      "count/type/operator mismatch fails only on the rank that sees it (the others complete), " +
      "and ranks that disagree about the root or about which collective they call may hang. " +
      "0 (default): every call starts with the exchange, so every mismatch fails on every rank.",
  },
} satisfies Record<string, Knob>;

export type CollTunables = { -readonly [K in keyof typeof COLL_TUNABLES]: number };

function parseBytes(name: string, raw: string): number {
  const m = /^\s*(\d+)\s*(k|kb|kib|m|mb|mib)?\s*$/i.exec(raw);
  if (!m) throw new RangeError(`${name}=${raw} is not a byte count (examples: 8192, 64KiB, 1MiB)`);
  const unit = (m[2] ?? "").toLowerCase();
  return Number(m[1]) * (unit.startsWith("k") ? 1024 : unit.startsWith("m") ? 1024 * 1024 : 1);
}

function read(env: NodeJS.ProcessEnv): CollTunables {
  const out: Record<string, number> = {};
  for (const [key, knob] of Object.entries(COLL_TUNABLES) as Array<[string, Knob]>) {
    const raw = env[knob.env];
    out[key] = raw !== undefined && raw !== "" ? parseBytes(knob.env, raw) : knob.default;
  }
  if (out.chunk! < 4096) throw new RangeError(`ONECOPY_COLL_CHUNK must be at least 4096 bytes, got ${out.chunk}`);
  if (out.fanout! < 1) throw new RangeError(`ONECOPY_COLL_FANOUT must be at least 1, got ${out.fanout}`);
  return out as CollTunables;
}

/**
 * The knobs in effect (read from the environment on first use). Mutable on purpose so that
 * benchmarks and tests can move a switch point; every rank of a job must use the same values.
 */
export const tuning: CollTunables = read(process.env);

/** Override knobs at run time (tests and benchmarks); every rank must set the same values. */
export function setTuning(values: Partial<CollTunables>): void {
  Object.assign(tuning, values);
}
