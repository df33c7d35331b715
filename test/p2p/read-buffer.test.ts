// The socket transport's reads: a connecting link reuses one read buffer (link.ts connectLink),
// so nothing may keep a view of a read's bytes past the read. Real ranks, real sockets.
import { describe, expect, it } from "vitest";
import { explain, fixture, runJob } from "../kit/job.js";

const script = fixture(import.meta.url, "read-buffer.ts");
const LARGE = (3 << 20) + 12_345 + (1 << 20) + 1 + (2 << 20) + 777;

describe("socket reads", () => {
  it.each([
    ["every frame on the socket", "0"],
    ["hot frames through the fast path", "1"],
  ])("buffered unexpected messages and streamed DATA arrive intact both ways (%s)", async (_name, fastpath) => {
    const r = await runJob(script, { np: 2, transport: "socket", env: { ONECOPY_FASTPATH: fastpath } });
    expect(r.exitCode, explain(r)).toBe(0);
    const reports = r.results.map((x) => x[0] as { rank: number; bad: string[]; eager: number; fallback: number });
    expect(reports).toHaveLength(2);
    for (const rep of reports) {
      expect(rep.bad, `rank ${rep.rank}`).toEqual([]);
      expect(rep.eager).toBeGreaterThanOrEqual(400);
      expect(rep.fallback).toBe(LARGE);
    }
  });
});
