// Communicators and groups: MPI_Comm_create over the split machinery, and MPI_Comm_compare.
import type { Communicator } from "./communicator.js";
import { ErrorCode, MessagingError } from "./errors.js";
import { Group } from "./group.js";

/** What {@link Communicator.compare} answers (MPI_IDENT, MPI_CONGRUENT, MPI_SIMILAR, MPI_UNEQUAL). */
export type Comparison = "ident" | "congruent" | "similar" | "unequal";

/** MPI_Comm_create: a split with color 0 for the members (null for the others), keyed by group rank. */
export async function createFromGroup(comm: Communicator, group: Group): Promise<Communicator | null> {
  comm.checkOpen("create");
  const bad = (why: string) => new MessagingError(ErrorCode.INVALID_ARG, `create: ${why}`, { rank: comm.rank });
  if (!(group instanceof Group)) throw bad("expected a Group (from comm.getGroup() and its set operations)");
  const mine = new Set(comm.group);
  const outside = group.members.find((w) => !mine.has(w));
  if (outside !== undefined) throw bad(`the group holds world rank ${outside}, which is not in this communicator; a communicator is created from a subgroup of its own group`);
  const at = group.rankOfWorldRank(comm.engine.rank);
  return comm.split(at === undefined ? null : 0, at ?? 0);
}

export function compareComms(a: Communicator, b: Communicator): Comparison {
  if (b === null || typeof b !== "object" || !("ctx" in b) || !("group" in b)) {
    throw new MessagingError(ErrorCode.INVALID_ARG, `compare: expected a communicator, got ${b === null ? "null" : typeof b}`, { rank: a.rank });
  }
  if (a === b || (a.ctx === b.ctx && a.runtime === b.runtime)) return "ident";
  const x = a.group;
  const y = b.group;
  if (x.length !== y.length) return "unequal";
  if (x.every((w, i) => w === y[i])) return "congruent";
  const ys = new Set(y);
  return x.every((w) => ys.has(w)) ? "similar" : "unequal";
}
