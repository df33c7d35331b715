// Start-up, permission denial, backpressure and singleton behaviour of the runtime.
import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

const script = (name: string) => fixture(import.meta.url, name);

function unshareWorks(): boolean {
  return spawnSync("unshare", ["-U", "-r", "true"]).status === 0;
}

describe("runtime", () => {
  it.skipIf(!unshareWorks())("completes with CMA denied for real (rank 1 in its own user namespace)", async () => {
    const r = await runJob(script("userns.ts"), { np: 2 });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a, b] = r.results.map((x) => x[0] as { ok: boolean; userns: string; singleCopy: number; other: number });
    expect(a!.ok && b!.ok).toBe(true);
    expect(a!.userns).not.toBe(b!.userns);
    // Rank 1 may not read rank 0: its 8 MiB came by the fallback path.
    expect(b!.singleCopy).toBe(0);
    expect(b!.other).toBe(8 << 20);
    // One warning for the job, from rank 0, naming the pair.
    const warnings = r.ranks.flatMap((rk) => rk.stderr.split("\n").filter((l) => l.includes("warning: single copy")));
    expect(warnings, explain(r)).toHaveLength(1);
    expect(r.ranks[0]!.stderr).toMatch(/rank 1 cannot read rank 0/);
  });

  it("refuses a process that does not hold the job token", async () => {
    const r = await runJob(script("wrong-token.ts"), { np: 2, failGraceMs: 200 });
    expect(r.ok).toBe(false);
    const res = r.results[1]![0] as { code: string; message: string };
    expect(res.code, explain(r)).toBe("ERR_INIT");
    expect(res.message).toMatch(/refused the connection: wrong job token/);
  });

  it("applies backpressure instead of buffering an unbounded flood", async () => {
    const r = await runJob(script("backpressure.ts"), { np: 2 });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a, b] = r.results.map((x) => x[0] as Record<string, any>);
    expect(a!.ok).toBe(true);
    // The sender could not finish while the receiver was not reading.
    expect(b!.doneEarly).toBeLessThan(2000);
    // 32 MiB were sent; the receiver held a bounded amount (cap 1 MiB + socket buffers).
    expect(a!.arrayBuffersMiB).toBeLessThan(16);
  });

  it("starts 32 ranks and connects every pair", async () => {
    const r = await runJob(script("startup.mjs"), { np: 32 });
    expect(r.exitCode, explain(r)).toBe(0);
    const res = r.results.map((x) => x[0] as { rank: number; got: number; ms: number });
    res.forEach((x, i) => expect(x.got).toBe((i + 31) % 32));
  });

  it("runs on its own as a world of one", () => {
    const out = execFileSync(process.execPath, ["--import", "tsx", script("singleton.ts")], {
      env: { ...process.env, ONECOPY_RANK: undefined, ONECOPY_SIZE: undefined },
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toEqual({ rank: 0, size: 1, st: { source: 0, tag: 3, bytes: 32 }, out: [1, 2, 3, 4] });
  });
});

describe("buffer lifetime", () => {
  it("keeps in-flight buffers alive through garbage collection until FIN", async () => {
    const r = await runJob(script("lifetime.ts"), { np: 2 });
    expect(r.exitCode, explain(r)).toBe(0);
    const [a, b] = r.results.map((x) => x[0] as Record<string, any>);
    expect(b!.oks).toEqual([true, true]);
    expect(b!.singleCopy).toBeGreaterThanOrEqual(2 * (16 << 20));
    expect(b!.tiny).toBe(true);
    expect(a!.addrStable).toBe(true);
  });
});
