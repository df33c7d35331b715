// Every knob of the messaging layer, its environment variable, default and the reason for it.
import { ENV } from "./env.js";

interface Knob {
  env: string;
  default: number;
  doc: string;
}

/** The documented table of tunables; `onecopy info` and `--help` print it. */
export const TUNABLES = {
  eagerLimit: {
    env: ENV.eagerLimit,
    default: 32 * 1024,
    doc:
      "Largest message sent inline on the socket. Above it the receiver copies once, straight " +
      "from the sender's buffer, at the cost of an extra control hop. Measured (bench/p2p-suite, " +
      "eager-limit table, quiet 2-core VM): at 64 KiB single copy wins both latency (1.22x) and " +
      "bandwidth (1.77x); at 32 KiB latency is even (0.89x) and bandwidth 1.14x; at 16 KiB inline " +
      "latency is clearly better.",
  },


  unexpectedLimit: {
    env: "ONECOPY_UNEXPECTED_LIMIT",
    default: 64 * 1024 * 1024,
    doc:
      "Bytes of eager messages a rank buffers before any receive matches them, each counted with " +
      "its bookkeeping (about 512 bytes a message, so a flood of tiny messages is bounded too). " +
      "Past it the rank stops reading from the sending peer (backpressure) until receives drain the queue.",
  },
  packBelow: {
    env: "ONECOPY_PACK_BELOW",
    default: 1024,
    doc:
      "A message of several pieces whose average piece is smaller than this many bytes is " +
      "packed into one contiguous buffer (and unpacked on receipt) instead of travelling as an " +
      "iovec list: the kernel pins a page per remote iovec (~0.5-0.8 us each), so tiny pieces " +
      "cost more than copying them (measured: a column halo of 8190 x 8 B, 7.1 ms as iovecs vs " +
      "0.22 ms packed). 0 never packs.",
  },
  connectTimeoutMs: {
    env: "ONECOPY_CONNECT_TIMEOUT_MS",
    default: 60_000,
    doc: "How long start-up waits for every other rank to come up before failing with ERR_INIT.",
  },
  shmCells: {
    env: "ONECOPY_SHM_CELLS",
    default: 8,
    doc:
      "Cells per direction of a rank pair's shared-memory ring (ONECOPY_TRANSPORT=shm, and pairs " +
      "that cannot use CMA). The sender fills cells while the receiver drains earlier ones.",
  },
  shmCellSize: {
    env: "ONECOPY_SHM_CELL_SIZE",
    default: 128 * 1024,
    doc: "Bytes per shared-memory cell (rounded up to a page). One segment per direction holds cells × cell size.",
  },
  shmSpinUs: {
    env: "ONECOPY_SHM_SPIN_US",
    default: 50,
    doc:
      "Microseconds a rank polls a stalled shared-memory ring mid-transfer before it sleeps and " +
      "waits for the peer's doorbell frame on the socket. 0 = never poll (doorbell only).",
  },
} satisfies Record<string, Knob>;

export type Tunables = { readonly [K in keyof typeof TUNABLES]: number };

/** Transports of large messages (ONECOPY_TRANSPORT): `cma` is the default. */
export const TRANSPORTS = ["cma", "shm", "socket"] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/**
 * The transport for large messages, from ONECOPY_TRANSPORT: `cma` (default) copies once with
 * CMA and uses the shared-memory double copy for pairs that cannot; `shm` uses shared memory for
 * every large message; `socket` streams them over the Unix socket.
 */
export function readTransport(env = process.env): TransportName {
  const raw = env[ENV.transport];
  if (raw === undefined || raw === "") return "cma";
  if (!(TRANSPORTS as readonly string[]).includes(raw)) throw new RangeError(`${ENV.transport}=${raw} is not one of ${TRANSPORTS.join(", ")}`);
  return raw as TransportName;
}

function parseBytes(name: string, raw: string): number {
  const m = /^\s*(\d+)\s*(k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(raw);
  if (!m) throw new RangeError(`${name}=${raw} is not a byte count (examples: 8192, 64KiB, 4MiB)`);
  const unit = (m[2] ?? "").toLowerCase();
  const mult = unit.startsWith("k") ? 1024 : unit.startsWith("m") ? 1024 ** 2 : unit.startsWith("g") ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

/** Read the tunables once from the environment (overrides win), validated and frozen. */
export function readTunables(overrides: Partial<Record<keyof typeof TUNABLES, number>> = {}, env = process.env): Tunables {
  const out: Record<string, number> = {};
  for (const [key, knob] of Object.entries(TUNABLES) as Array<[keyof typeof TUNABLES, Knob]>) {
    const raw = env[knob.env];
    let v = overrides[key] ?? (raw !== undefined && raw !== "" ? parseBytes(knob.env, raw) : knob.default);
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${key} must be a non-negative integer, got ${v}`);
    out[key] = v;
  }
  return Object.freeze(out) as Tunables;
}
