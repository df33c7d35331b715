// The messaging layer's knobs: its rows of the one knob table (@onecopy/cma's KNOBS), read once
// at init into a frozen object that is passed down.
import { ErrorCode, KNOBS, OnecopyError, readKnob, type KnobName, type TransportName } from "@onecopy/cma";

export { TRANSPORTS, type TransportName } from "@onecopy/cma";

/** The numeric knobs of the messaging layer, by the name the code uses. */
export const TUNABLES = {
  eagerLimit: KNOBS.eagerLimit,
  unexpectedLimit: KNOBS.unexpectedLimit,
  packBelow: KNOBS.packBelow,
  connectTimeoutMs: KNOBS.connectTimeoutMs,
  closeWarnMs: KNOBS.closeWarnMs,
  shmCells: KNOBS.shmCells,
  shmCellSize: KNOBS.shmCellSize,
  shmSpinUs: KNOBS.shmSpinUs,
  fastpathRing: KNOBS.fastpathRing,
  spinUs: KNOBS.spinUs,
  splitMin: KNOBS.splitMin,
  splitShare: KNOBS.splitShare,
} as const;

export type Tunables = { readonly [K in keyof typeof TUNABLES]: number };

/** The transport for large messages, from ONECOPY_TRANSPORT (see the knob's doc). */
export function readTransport(env = process.env): TransportName {
  return readKnob("transport", env);
}

/** Read the tunables once from the environment (overrides win), validated and frozen. */
export function readTunables(overrides: Partial<Record<keyof typeof TUNABLES, number>> = {}, env = process.env): Tunables {
  const out: Record<string, number> = {};
  for (const key of Object.keys(TUNABLES) as Array<keyof typeof TUNABLES>) {
    const v = overrides[key] ?? readKnob(key satisfies KnobName, env);
    if (!Number.isSafeInteger(v) || v < 0) throw new OnecopyError(ErrorCode.INVALID_ARG, `${key} must be a non-negative integer, got ${v}`);
    if (key === "splitShare" && (v < 1 || v > 99)) throw new OnecopyError(ErrorCode.INVALID_ARG, `splitShare (ONECOPY_SPLIT_SHARE) must be a percent from 1 to 99, got ${v}`);
    out[key] = v;
  }
  return Object.freeze(out) as Tunables;
}
