// The signature the node leaders of a hierarchical collective compare before any data moves,
// and what every rank makes of the verdict. One fixed-length int32 record per call, whatever
// the collective, so the leaders' MPI_Iallreduce always has the same count on every leader
// (MPI cannot detect a count mismatch itself):
//
//   [kind, mode, failed, f0 … f4]
//
// kind     the collective (KIND)
// mode     MODE.hierarchical or MODE.flat: what this node's ranks chose from their own arguments
// failed   1: this node's own step failed (its ranks already know why); the leader still takes
//          part so the other nodes learn it instead of waiting in the MPI step
// f0 … f4  the arguments every rank must pass alike (type, op, root's node, length); 0 for flat
//
// The leaders reduce [sig, −sig] with MAX: every leader had the same record iff max(sig) ==
// −max(−sig) field by field; the fields that differ say what went wrong.
import { ErrorCode, OnecopyError } from "@onecopy/rendezvous";

export const KIND = { allreduce: 1, bcast: 2, reduce: 3, allgather: 4, gather: 5 } as const;
export const MODE = { hierarchical: 1, flat: 2 } as const;
const FIELDS = 5;
export const SIG_LENGTH = 3 + FIELDS;

/** Verdict a leader broadcasts over its node (int32). */
export const VERDICT = { agreed: 0, args: 1, mpiFailed: 2, modes: 3, nodeFailed: 4 } as const;

/** The record of one call. `fields` (at most 5) are ignored for a flat call or a failed node. */
export function signature(kind: number, mode: number, failed: boolean, fields: readonly number[]): Int32Array {
  const sig = new Int32Array(SIG_LENGTH);
  sig[0] = kind;
  sig[1] = mode;
  sig[2] = failed ? 1 : 0;
  if (mode === MODE.hierarchical && !failed) for (let i = 0; i < fields.length && i < FIELDS; i++) sig[3 + i] = fields[i]!;
  return sig;
}

/** `[sig, −sig]`, the buffer the leaders reduce with MAX in place. */
export function both(sig: Int32Array): Int32Array {
  const out = new Int32Array(2 * sig.length);
  out.set(sig);
  for (let i = 0; i < sig.length; i++) out[sig.length + i] = -sig[i]!;
  return out;
}

/** What the MAX of {@link both} over every leader says. */
export function verdictOf(reduced: Int32Array): number {
  const n = reduced.length / 2;
  const max = (i: number) => reduced[i]!;
  const min = (i: number) => -reduced[n + i]!;
  if (max(2) !== 0) return VERDICT.nodeFailed;
  if (max(0) !== min(0)) return VERDICT.args; // another collective altogether
  if (max(1) !== min(1)) return VERDICT.modes;
  for (let i = 3; i < n; i++) if (max(i) !== min(i)) return VERDICT.args;
  return VERDICT.agreed;
}

/** The error of a verdict other than {@link VERDICT.agreed}, the same text on every rank of the job. */
export function verdictError(what: string, verdict: number): OnecopyError {
  switch (verdict) {
    case VERDICT.mpiFailed:
      return new OnecopyError(ErrorCode.MPI, `${what}: the MPI step among the node leaders failed on this node's leader`);
    case VERDICT.modes:
      return new OnecopyError(
        ErrorCode.MISMATCH,
        `${what}: the ranks disagree about the algorithm: some passed arguments MPI applies among the node leaders (float64/float32/int32, a built-in operator), others arguments only the flat algorithm takes (another type, a reduction function, IN_PLACE where it is not supported)`,
      );
    case VERDICT.nodeFailed:
      return new OnecopyError(ErrorCode.MISMATCH, `${what}: the ranks of another node disagree about the arguments or the algorithm (hierarchical or flat): its node-local step failed there`);
    default:
      return new OnecopyError(ErrorCode.MISMATCH, `${what}: the ranks disagree about the collective, element type, length, operator or root`);
  }
}

/**
 * A node-local step failed with ERR_MISMATCH: the ranks of this node called different node
 * collectives or disagree on their arguments. The same text on every rank of the node.
 */
export function nodeMismatch(what: string, cause: unknown): unknown {
  const code = (cause as { code?: unknown } | null)?.code;
  if (code !== ErrorCode.MISMATCH) return cause;
  const why = cause instanceof Error ? cause.message : String(cause);
  return new OnecopyError(ErrorCode.MISMATCH, `${what}: the ranks of this node disagree about the arguments or the algorithm (hierarchical or flat); the node's own collective says (ranks within the node): ${why}`);
}
