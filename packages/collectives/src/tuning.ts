// Switch points and knobs of the collective algorithms: their rows of the one knob table
// (@onecopy/cma's KNOBS, where the reason for every default is), read once from the environment.
import { ErrorCode, KNOBS, OnecopyError } from "@onecopy/rendezvous";

/** The collective knobs, by the name the algorithms use. */
export const COLL_TUNABLES = {
  inlineMax: KNOBS.collInlineMax,
  chunk: KNOBS.collChunk,
  fanout: KNOBS.collFanout,
  rootedEager: KNOBS.collRootedEager,
  simd: KNOBS.collSimd,
  notes: KNOBS.collNotes,
  bcastSplit: KNOBS.collBcastSplit,
} as const;

export type CollTunables = { -readonly [K in keyof typeof COLL_TUNABLES]: number };

function read(env: NodeJS.ProcessEnv): CollTunables {
  const out: Record<string, number> = {};
  for (const [key, knob] of Object.entries(COLL_TUNABLES)) {
    const raw = env[knob.env];
    out[key] = raw !== undefined && raw !== "" ? knob.parse(raw, knob.env) : knob.default;
  }
  if (out.chunk! < 4096) throw new OnecopyError(ErrorCode.INVALID_ARG, `ONECOPY_COLL_CHUNK must be at least 4096 bytes, got ${out.chunk}`);
  if (out.fanout! < 1) throw new OnecopyError(ErrorCode.INVALID_ARG, `ONECOPY_COLL_FANOUT must be at least 1, got ${out.fanout}`);
  if (out.bcastSplit! > 100) throw new OnecopyError(ErrorCode.INVALID_ARG, `ONECOPY_COLL_BCAST_SPLIT must be a percentage 0-100, got ${out.bcastSplit}`);
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
