// The shared-memory double-copy transport between real rank processes: data integrity through
// the rings (odd sizes, 64 MiB, many messages in flight both ways, multi-piece buffers), which
// path the bytes took, and that no segment file of the job is left in /dev/shm — also when a
// rank is SIGKILLed before its peer mapped the segment or in the middle of a transfer.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob, type JobOptions } from "../kit/job.js";

const script = (name: string) => fixture(import.meta.url, name);

interface Exchange {
  rank: number;
  ok: boolean;
  bad: string[];
  large: number;
  shm: number;
  singleCopy: number;
  fallback: number;
  cells: number;
  prefix: string;
}

function privateShmWorks(): boolean {
  return spawnSync("unshare", ["-U", "-r", "-m", "sh", "-c", "mount -t tmpfs tmpfs /dev/shm"]).status === 0;
}

function leftovers(prefix: string): string[] {
  return readdirSync("/dev/shm").filter((n) => n.startsWith(prefix));
}

async function exchange(opts: Partial<JobOptions>): Promise<Exchange[]> {
  const r = await runJob(script("exchange.ts"), { np: 2, timeoutMs: 45_000, ...opts });
  expect(r.exitCode, explain(r)).toBe(0);
  const res = r.results.map((x) => x[0] as Exchange);
  for (const x of res) {
    expect(x.bad, explain(r)).toEqual([]);
    expect(leftovers(x.prefix)).toEqual([]);
  }
  return res;
}

describe("shared-memory transport", () => {
  it("moves every large message through the rings with ONECOPY_TRANSPORT=shm", async () => {
    for (const x of await exchange({ transport: "shm" })) {
      expect(x.shm).toBe(x.large);
      expect(x.singleCopy).toBe(0);
      expect(x.fallback).toBe(0);
    }
  });

  it("wraps tiny rings many times (3 cells of 4 KiB) without losing or reordering bytes", async () => {
    const env = { ONECOPY_SHM_CELLS: "3", ONECOPY_SHM_CELL_SIZE: "4096", FIXTURE_BIG: String(8 << 20) };
    for (const x of await exchange({ transport: "shm", env })) {
      expect(x.shm).toBe(x.large);
      expect(x.cells).toBeGreaterThan(x.large / 4096);
    }
  });

  it("is the fallback for pairs without CMA (ONECOPY_CMA=0, default transport)", async () => {
    for (const x of await exchange({ noCma: true, env: { FIXTURE_BIG: String(8 << 20) } })) {
      expect(x.shm).toBe(x.large);
      expect(x.singleCopy).toBe(0);
      expect(x.fallback).toBe(0);
    }
  });

  it("serves every pair at once with more ranks than cores (6 ranks, all to all)", async () => {
    const r = await runJob(script("alltoall.ts"), { np: 6, transport: "shm", timeoutMs: 45_000 });
    expect(r.exitCode, explain(r)).toBe(0);
    for (const x of r.results.map((y) => y[0] as { ok: boolean; shm: number; expected: number })) {
      expect(x.ok, explain(r)).toBe(true);
      expect(x.shm).toBe(x.expected);
    }
  });

  it.skipIf(!privateShmWorks())("falls back to the socket for a rank that cannot map the segment (own /dev/shm)", async () => {
    const r = await runJob(script("private-shm.ts"), { np: 2, transport: "shm" });
    expect(r.exitCode, explain(r)).toBe(0);
    for (const x of r.results.map((y) => y[0] as { ok: boolean; shm: number; fallback: number })) {
      expect(x.ok, explain(r)).toBe(true);
      expect(x.shm).toBe(0);
      expect(x.fallback).toBe(3 * (4 << 20));
    }
    expect(r.ranks[1]!.stderr).toMatch(/cannot map rank 0's shared-memory segment/);
  });

  it("keeps the socket DATA path with ONECOPY_TRANSPORT=socket", async () => {
    for (const x of await exchange({ transport: "socket", env: { FIXTURE_BIG: String(8 << 20) } })) {
      expect(x.fallback).toBe(x.large);
      expect(x.shm).toBe(0);
    }
  });
});

describe("shared-memory segments after a SIGKILL", () => {
  const small = { ONECOPY_SHM_CELLS: "2", ONECOPY_SHM_CELL_SIZE: "4096" };

  async function killed(mode: string, extra: Record<string, string> = {}) {
    const r = await runJob(script("kill.ts"), { np: 2, transport: "shm", failGraceMs: 10_000, timeoutMs: 30_000, env: { ...small, ...extra, FIXTURE_MODE: mode } });
    const all = r.results.flat() as Array<Record<string, any>>;
    const victim = all.find((x) => x.victim);
    const survivor = all.find((x) => !x.victim);
    expect(victim, explain(r)).toBeDefined();
    expect(survivor, explain(r)).toBeDefined();
    expect(survivor!.code, explain(r)).toBe("ERR_PEER_LOST");
    expect(leftovers(victim!.prefix as string)).toEqual([]);
    return { victim: victim!, survivor: survivor! };
  }

  it("removes a segment the killed sender created before the receiver mapped it", async () => {
    const { victim } = await killed("before-map");
    expect(victim.files).toHaveLength(1); // the window this case is about really happened
  });

  it("leaves nothing when the receiver is killed mid-transfer", async () => {
    const { victim } = await killed("mid-receiver");
    expect(victim.cells).toBeGreaterThan(0);
  });

  it("leaves nothing when the sender is killed mid-transfer", async () => {
    const { survivor } = await killed("mid-sender");
    expect(survivor.cells).toBeGreaterThan(0);
  });
});
