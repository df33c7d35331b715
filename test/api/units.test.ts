// In-process units of the pure parts of the MPI extras: request sets, Status.count, wtime.
import { describe, expect, it } from "vitest";
import { Request, Status, testAll, testAny, testSome, UNDEFINED, waitAny, waitSome, wtick, wtime } from "onecopy";

const pending = <T>() => new Request<T>();
const codeOf = async (f: () => unknown): Promise<string> => {
  try {
    await f();
    return "none";
  } catch (e) {
    return (e as { code?: string }).code ?? `uncoded: ${(e as Error).message}`;
  }
};

describe("request sets", () => {
  it("waitAny reports the lowest done index once and clears its slot", async () => {
    const rs = [pending<number>(), pending<number>(), pending<number>()];
    const reqs: Array<Request<number> | null> = [...rs];
    const w = waitAny(reqs);
    setTimeout(() => rs[2]!.resolve(30), 5);
    expect(await w).toEqual({ index: 2, value: 30 });
    expect(reqs[2]).toBeNull();
    rs[1]!.resolve(10);
    rs[0]!.resolve(0);
    expect(await waitAny(reqs)).toEqual({ index: 0, value: 0 });
    expect(await waitAny(reqs)).toEqual({ index: 1, value: 10 });
    expect(await waitAny(reqs)).toEqual({ index: UNDEFINED, value: undefined });
  });

  it("testAny is null until something is done, then reports it once", () => {
    const rs = [pending<string>(), pending<string>()];
    const reqs: Array<Request<string> | null> = [...rs];
    expect(testAny(reqs)).toBeNull();
    rs[1]!.resolve("b");
    expect(testAny(reqs)).toEqual({ index: 1, value: "b" });
    expect(testAny(reqs)).toBeNull();
    expect(reqs).toEqual([rs[0], null]);
  });

  it("waitSome waits for at least one and reports every done one in index order", async () => {
    const rs = [pending<number>(), pending<number>(), pending<number>(), pending<number>()];
    const reqs: Array<Request<number> | null> = [...rs];
    rs[3]!.resolve(3);
    rs[1]!.resolve(1);
    expect(await waitSome(reqs)).toEqual([{ index: 1, value: 1 }, { index: 3, value: 3 }]);
    expect(testSome(reqs)).toEqual([]);
    const w = waitSome(reqs);
    setTimeout(() => rs[0]!.resolve(0), 5);
    expect(await w).toEqual([{ index: 0, value: 0 }]);
    rs[2]!.resolve(2);
    expect(await waitSome(reqs)).toEqual([{ index: 2, value: 2 }]);
    expect(await waitSome(reqs)).toEqual([]);
  });

  it("a failed request rejects with its own error and is reported once", async () => {
    const rs = [pending<number>(), pending<number>()];
    const reqs: Array<Request<number> | null> = [...rs];
    const boom = Object.assign(new Error("boom"), { code: "ERR_PEER_LOST" });
    const w = waitAny(reqs);
    rs[1]!.reject(boom);
    await expect(w).rejects.toBe(boom);
    expect(reqs[1]).toBeNull();
    rs[0]!.resolve(7);
    expect(await waitAny(reqs)).toEqual({ index: 0, value: 7 });

    const ss = [pending<number>(), pending<number>()];
    const set: Array<Request<number> | null> = [...ss];
    ss[0]!.resolve(1);
    ss[1]!.reject(boom);
    await expect(waitSome(set)).rejects.toBe(boom);
    expect(await waitSome(set)).toEqual([{ index: 0, value: 1 }]);
    expect(() => testAll([ss[1]!])).toThrow(boom);
  });

  it("testAll is true only once every active request is done and leaves the array alone", () => {
    const rs = [pending<void>(), pending<void>()];
    const reqs = [rs[0]!, null, rs[1]!];
    expect(testAll(reqs)).toBe(false);
    rs[0]!.resolve();
    expect(testAll(reqs)).toBe(false);
    rs[1]!.resolve();
    expect(testAll(reqs)).toBe(true);
    expect(reqs).toEqual([rs[0], null, rs[1]]);
    expect(testAll([])).toBe(true);
  });

  it("bad arguments are ERR_INVALID_ARG", async () => {
    expect(await codeOf(() => waitAny(5 as never))).toBe("ERR_INVALID_ARG");
    expect(await codeOf(() => testAny([{}] as never))).toBe("ERR_INVALID_ARG");
    expect(await codeOf(() => waitSome(null as never))).toBe("ERR_INVALID_ARG");
    expect(await codeOf(() => testAll(["x"] as never))).toBe("ERR_INVALID_ARG");
  });
});

describe("status and time", () => {
  it("count gives elements of a type, ERR_COUNT when bytes do not divide", async () => {
    const s = new Status(1, 2, 24);
    expect(s.count(Float64Array)).toBe(3);
    expect(s.count(Int32Array)).toBe(6);
    expect(s.count(Uint8Array)).toBe(24);
    expect(new Status(0, 0, 0).count(BigInt64Array)).toBe(0);
    expect(await codeOf(() => new Status(0, 0, 12).count(Float64Array))).toBe("ERR_COUNT");
    expect(await codeOf(() => s.count({} as never))).toBe("ERR_INVALID_ARG");
    expect(await codeOf(() => s.count(null as never))).toBe("ERR_INVALID_ARG");
  });

  it("wtime is monotonic seconds, wtick its resolution", async () => {
    const a = wtime();
    await new Promise((r) => setTimeout(r, 30));
    const b = wtime();
    expect(b - a).toBeGreaterThanOrEqual(0.02);
    expect(b - a).toBeLessThan(30);
    for (let i = 0, last = wtime(); i < 1000; i++) {
      const t = wtime();
      expect(t).toBeGreaterThanOrEqual(last);
      last = t;
    }
    expect(wtick()).toBeGreaterThan(0);
    expect(wtick()).toBeLessThanOrEqual(1e-6);
  });
});
