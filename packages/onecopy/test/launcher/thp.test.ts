// Ordinary buffers on huge pages: the launcher gives ranks glibc.malloc.hugetlb=1 (ONECOPY_THP),
// so a plain Float64Array is backed by 2 MiB pages, which CMA pins far faster than 4 KiB ones.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { launch } from "../../src/launcher/index.js";
import { withHugeMalloc } from "../../src/launcher/spawn-rank.js";

const fixture = new URL("./fixtures/thp.js", import.meta.url).pathname;
const thp = (() => {
  try {
    return /\[(\w+)\]/.exec(readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8"))?.[1] ?? "never";
  } catch {
    return "never";
  }
})();

async function report(env: Record<string, string | undefined>): Promise<{ hugeMiB: number; tunables: string | null }> {
  const r = await launch({ np: 1, script: fixture, env, handleSignals: false, timeoutMs: 30_000 });
  expect(r.exitCode, r.ranks[0]!.stderr).toBe(0);
  const line = r.ranks[0]!.stdout.split("\n").find((l) => l.startsWith("RESULT "))!;
  return JSON.parse(line.slice(7)) as { hugeMiB: number; tunables: string | null };
}

describe("ordinary buffers on huge pages", () => {
  it("merges glibc.malloc.hugetlb=1 into GLIBC_TUNABLES without overriding the user's own", () => {
    expect(withHugeMalloc(undefined)).toBe("glibc.malloc.hugetlb=1");
    expect(withHugeMalloc("glibc.malloc.arena_max=2")).toBe("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
    expect(withHugeMalloc("glibc.malloc.hugetlb=0")).toBe("glibc.malloc.hugetlb=0");
  });

  it.skipIf(thp === "never")("puts a rank's 64 MiB Float64Array on huge pages, and not with ONECOPY_THP=0", async () => {
    const on = await report({});
    expect(on.tunables).toContain("glibc.malloc.hugetlb=1");
    expect(on.hugeMiB).toBeGreaterThanOrEqual(32);
    const off = await report({ ONECOPY_THP: "0", GLIBC_TUNABLES: undefined });
    expect(off.tunables).toBeNull();
    if (thp === "madvise") expect(off.hugeMiB).toBeLessThan(8);
  });
});
