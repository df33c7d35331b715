// The registration cache between real ranks (packages/cma/src/registration.ts): with glibc's
// huge pages off (ONECOPY_THP=0) a buffer reused for single copies ends up on huge pages on both
// sides, an untouched receive buffer is populated first when ONECOPY_POPULATE_MIN asks for it,
// the bytes stay right, and each lever's knob turns it off.
import { describe, expect, it } from "vitest";
import { collapseRange, addressOf, transparentHugePages } from "@onecopy/cma";
import { explain, fixture, runJob } from "../kit/job.js";

interface Report {
  rank: number;
  huge: number;
  interior: number;
  hugeBefore?: number;
  reg: { collapses: number; collapsedBytes: number; collapseFailures: number; populates: number; populatedBytes: number };
  intact?: boolean;
  singleCopy?: number;
}

const thp = transparentHugePages();
const probe = new Uint8Array(new ArrayBuffer(6 << 20)).fill(1);
const c = thp !== null && thp !== "never" ? collapseRange(addressOf(probe), probe.byteLength) : null;
const collapseWorks = c !== null && (c.ok || c.errno !== 22);
const script = fixture(import.meta.url, "registration.ts");

async function run(env: Record<string, string>): Promise<[Report, Report]> {
  const r = await runJob(script, { np: 2, env: { ONECOPY_THP: "0", ...env } });
  expect(r.exitCode, explain(r)).toBe(0);
  return [r.results[0]![0] as Report, r.results[1]![0] as Report];
}

describe("registration cache", () => {
  it.skipIf(!collapseWorks)(`collapses a reused send and receive buffer onto huge pages (ONECOPY_THP=0)${collapseWorks ? "" : ` — skipped: THP ${thp ?? "absent"} or MADV_COLLAPSE unsupported`}`, async () => {
    const [a, b] = await run({ ONECOPY_POPULATE_MIN: "4MiB" });
    expect(b.intact).toBe(true);
    expect(b.singleCopy).toBe(5);
    expect(a.hugeBefore).toBeLessThan(a.interior); // without the cache it stays on small pages (THP=0)
    expect(a.reg.collapses, JSON.stringify(a)).toBeGreaterThanOrEqual(1);
    expect(b.reg.collapses, JSON.stringify(b)).toBeGreaterThanOrEqual(1);
    expect(a.huge).toBe(a.interior);
    expect(b.huge).toBe(b.interior);
    expect(b.reg.populates).toBe(1); // the fresh buffer (populate is opt-in: ONECOPY_POPULATE_MIN)
  });

  it("ONECOPY_COLLAPSE_MIN=0 and ONECOPY_POPULATE_MIN=0 turn both levers off", async () => {
    const [a, b] = await run({ ONECOPY_COLLAPSE_MIN: "0", ONECOPY_POPULATE_MIN: "0" });
    expect(b.intact).toBe(true);
    expect(b.singleCopy).toBe(5);
    for (const x of [a, b]) expect(x.reg).toMatchObject({ collapses: 0, populates: 0 });
    if (thp === "madvise") expect(a.huge).toBe(0);
  });
});
