// In-process units of Group set algebra and rank translation (MPI order rules).
import { describe, expect, it } from "vitest";
import { Group, PROC_NULL, UNDEFINED } from "onecopy";

const codeOf = (f: () => unknown): string => {
  try {
    f();
    return "none";
  } catch (e) {
    return (e as { code?: string }).code ?? `uncoded: ${(e as Error).message}`;
  }
};
// A group of world ranks as this process (world rank 3) sees it.
const G = (members: number[]) => new Group(members, 3);
const worldOf = (g: Group) => [...g.members];

describe("Group", () => {
  const world = G([0, 1, 2, 3, 4, 5]);

  it("incl keeps the order given, excl the group's own; rank is -1 off the group", () => {
    const a = world.incl([5, 3, 1]);
    expect(worldOf(a)).toEqual([5, 3, 1]);
    expect([a.size, a.rank]).toEqual([3, 1]);
    const b = world.excl([0, 3]);
    expect(worldOf(b)).toEqual([1, 2, 4, 5]);
    expect(b.rank).toBe(UNDEFINED);
    expect(worldOf(world.incl([]))).toEqual([]);
  });

  it("union: all of the first, then those of the second not in it; intersection and difference keep the first's order", () => {
    const a = world.incl([4, 1, 3]);
    const b = world.incl([0, 3, 5, 1, 2]);
    expect(worldOf(Group.union(a, b))).toEqual([4, 1, 3, 0, 5, 2]);
    expect(worldOf(Group.union(b, a))).toEqual([0, 3, 5, 1, 2, 4]);
    expect(worldOf(Group.intersection(a, b))).toEqual([1, 3]);
    expect(worldOf(Group.intersection(b, a))).toEqual([3, 1]);
    expect(worldOf(Group.difference(a, b))).toEqual([4]);
    expect(worldOf(Group.difference(b, a))).toEqual([0, 5, 2]);
    expect(Group.difference(a, a).size).toBe(0);
  });

  it("translateRanks maps through world ranks, UNDEFINED when absent, PROC_NULL kept", () => {
    const a = world.incl([4, 1, 3]);
    const b = world.incl([3, 2, 4]);
    expect(a.translateRanks([0, 1, 2, PROC_NULL], b)).toEqual([2, UNDEFINED, 0, PROC_NULL]);
    expect(world.translateRanks([5, 0], a)).toEqual([UNDEFINED, UNDEFINED]);
  });

  it("bad arguments are coded errors", () => {
    expect(codeOf(() => world.incl([6]))).toBe("ERR_INVALID_RANK");
    expect(codeOf(() => world.incl([1, 1]))).toBe("ERR_INVALID_RANK");
    expect(codeOf(() => world.excl([-1]))).toBe("ERR_INVALID_RANK");
    expect(codeOf(() => world.incl("0" as never))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => world.translateRanks([0], {} as Group))).toBe("ERR_INVALID_ARG");
    expect(codeOf(() => Group.union(world, null as never))).toBe("ERR_INVALID_ARG");
  });
});
