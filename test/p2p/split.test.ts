// Both processes copy (ONECOPY_SPLIT_MIN): the receiver reads the head of a large message while
// the sender writes the tail into the receive buffers (PUT / WROTE frames). Real ranks, real
// process_vm_readv/writev, checksums; over the fast path's rings and over socket frames.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

const script = fixture(import.meta.url, "split.ts");
const SPLIT = { ONECOPY_SPLIT_MIN: "256KiB" };

interface Data {
  rank: number;
  checks: Array<{ what: string; ok: boolean }>;
  written: number[];
}

describe("split single copy", () => {
  it.each([
    ["the fast path's rings", {}],
    ["socket frames (ONECOPY_FASTPATH=0)", { ONECOPY_FASTPATH: "0" }],
  ])("odd sizes, piece lists, truncation, order and one-buffer windows arrive intact over %s", async (_, env) => {
    const r = await runJob(script, { np: 2, env: { ...SPLIT, ...env } });
    expect(r.exitCode, explain(r)).toBe(0);
    const res = r.results.map((x) => x[0] as Data);
    const checks = res.flatMap((x) => x.checks);
    expect(checks.filter((c) => !c.ok), explain(r)).toEqual([]);
    expect(checks.length).toBe(2 * 6 + 2 * 4);
    // Each rank, while only sending, wrote its share into the receiver itself (about half).
    for (const x of res) expect(x.written[0], explain(r)).toBeGreaterThan(20 * 1024 * 1024);
  });

  it("a sender whose write fails (EFAULT) leaves its share to the receiver, which warns once and splits no more", async () => {
    const r = await runJob(script, { np: 2, args: ["efault"], env: SPLIT });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a, b] = r.results.map((x) => x[0] as { checks: Array<{ ok: boolean }>; puts: number; singleCopy: number });
    expect(a!.checks.map((c) => c.ok)).toEqual([true, true]);
    expect(a!.puts, explain(r)).toBe(1); // the first message was split, the second read whole
    expect(a!.singleCopy).toBe(2 * (2 * 1024 * 1024 + 5)); // rank 0 read every byte itself
    expect(b!.singleCopy).toBe(0);
    expect(r.ranks[0]!.stderr).toMatch(/rank 1 could not write its share of a split message into this rank \(EFAULT\)/);
    expect(r.ranks[0]!.stderr.match(/could not write its share of a split message/g)).toHaveLength(1);
  });

  it.skipIf(spawnSync("unshare", ["-U", "-r", "true"]).status !== 0)("CMA denied one way (rank 1 in its own user namespace): rank 0 reads rank 1's messages whole", async () => {
    const r = await runJob(fixture(import.meta.url, "userns.ts"), { np: 2, env: SPLIT });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a, b] = r.results.map((x) => x[0] as { ok: boolean; singleCopy: number; other: number });
    expect(a!.ok && b!.ok).toBe(true);
    expect(a!.singleCopy, explain(r)).toBe(8 << 20); // rank 1 could not have written any of it
    expect(b!.singleCopy).toBe(0);
    expect(b!.other).toBe(8 << 20);
  });

  it.each(["sender", "receiver"])("the %s SIGKILLed in the middle of a split transfer: the other fails with ERR_PEER_LOST, no hang", async (victim) => {
    const r = await runJob(script, { np: 2, args: ["kill", victim], env: { ...SPLIT, ONECOPY_THP: "0", ONECOPY_COLLAPSE_MIN: "0" }, failGraceMs: 10_000, timeoutMs: 60_000 });
    const survivor = victim === "sender" ? 0 : 1;
    const res = r.results[survivor]![0] as { code: string; ms: number } | undefined;
    expect(res, explain(r)).toBeDefined();
    expect(res!.code, explain(r)).toBe("ERR_PEER_LOST");
    expect(res!.ms).toBeLessThan(8_000); // noticed on its own, well before the launcher's grace ran out
    expect(r.ranks[1 - survivor]!.signal).toBe("SIGKILL");
  });
});
