// Process groups (MPI_Group): an ordered set of processes, held as world ranks. Pure values: set
// algebra and rank translation never talk to other ranks; a communicator is made from a group
// with Communicator.create (collective).
import { PROC_NULL } from "./constants.js";
import { ErrorCode, MessagingError } from "./errors.js";
import { UNDEFINED } from "./request.js";

/** An ordered set of processes (MPI_Group). Ranks are positions in the group. */
export class Group {
  /** @internal World ranks of the members, by group rank. */
  readonly members: readonly number[];
  private readonly rankOfWorld: Map<number, number>;
  private readonly me: number;

  /** @internal Use `comm.getGroup()` and the set operations. */
  constructor(members: readonly number[], myWorldRank: number) {
    this.members = members;
    this.rankOfWorld = new Map(members.map((w, i) => [w, i]));
    this.me = myWorldRank;
  }

  /** Number of processes in the group. */
  get size(): number {
    return this.members.length;
  }

  /** This process's rank in the group, or -1 (MPI_UNDEFINED) when it is not a member. */
  get rank(): number {
    return this.rankOfWorld.get(this.me) ?? UNDEFINED;
  }

  /** @internal Group rank of world rank `w`, or undefined. */
  rankOfWorldRank(w: number): number | undefined {
    return this.rankOfWorld.get(w);
  }

  /** The group of the processes at `ranks` of this one, in that order (MPI_Group_incl). */
  incl(ranks: readonly number[]): Group {
    return new Group(this.checkRanks(ranks, "incl").map((r) => this.members[r]!), this.me);
  }

  /** This group without the processes at `ranks`, in this group's order (MPI_Group_excl). */
  excl(ranks: readonly number[]): Group {
    const drop = new Set(this.checkRanks(ranks, "excl"));
    return new Group(this.members.filter((_, r) => !drop.has(r)), this.me);
  }

  /**
   * The ranks in `other` of the processes at `ranks` of this group (MPI_Group_translate_ranks):
   * -1 (UNDEFINED) for one that is not in `other`; PROC_NULL stays PROC_NULL.
   */
  translateRanks(ranks: readonly number[], other: Group): number[] {
    Group.check(other, "translateRanks");
    return this.checkRanks(ranks, "translateRanks", true).map((r) => (r === PROC_NULL ? PROC_NULL : (other.rankOfWorld.get(this.members[r]!) ?? UNDEFINED)));
  }

  /** Every process of `a`, then those of `b` not in `a`, in their orders (MPI_Group_union). */
  static union(a: Group, b: Group): Group {
    Group.check(a, "union");
    Group.check(b, "union");
    return new Group([...a.members, ...b.members.filter((w) => !a.rankOfWorld.has(w))], a.me);
  }

  /** The processes of `a` that are also in `b`, in `a`'s order (MPI_Group_intersection). */
  static intersection(a: Group, b: Group): Group {
    Group.check(a, "intersection");
    Group.check(b, "intersection");
    return new Group(a.members.filter((w) => b.rankOfWorld.has(w)), a.me);
  }

  /** The processes of `a` that are not in `b`, in `a`'s order (MPI_Group_difference). */
  static difference(a: Group, b: Group): Group {
    Group.check(a, "difference");
    Group.check(b, "difference");
    return new Group(a.members.filter((w) => !b.rankOfWorld.has(w)), a.me);
  }

  private static check(g: unknown, what: string): asserts g is Group {
    if (!(g instanceof Group)) throw new MessagingError(ErrorCode.INVALID_ARG, `group.${what}: expected a Group (from comm.getGroup()), got ${describe(g)}`);
  }

  /** Validated ranks of this group: integers in range, no repeats (PROC_NULL allowed where `procNull`). */
  private checkRanks(ranks: unknown, what: string, procNull = false): number[] {
    if (!Array.isArray(ranks)) throw new MessagingError(ErrorCode.INVALID_ARG, `group.${what}: ranks must be an array of group ranks, got ${describe(ranks)}`);
    const seen = new Set<number>();
    for (const r of ranks as unknown[]) {
      if (procNull && r === PROC_NULL) continue;
      if (typeof r !== "number" || !Number.isInteger(r) || r < 0 || r >= this.size) {
        throw new MessagingError(ErrorCode.INVALID_RANK, `group.${what}: rank ${String(r)} is not in this group (valid: 0 … ${this.size - 1})`);
      }
      if (what !== "translateRanks" && seen.has(r)) throw new MessagingError(ErrorCode.INVALID_RANK, `group.${what}: rank ${r} is listed twice`);
      seen.add(r);
    }
    return ranks as number[];
  }
}

function describe(x: unknown): string {
  return x === null ? "null" : Array.isArray(x) ? "an array" : typeof x === "object" ? (x.constructor?.name ?? "an object") : `${typeof x} ${String(x)}`;
}
