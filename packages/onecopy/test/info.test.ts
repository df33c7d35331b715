// `onecopy info`: the diagnostic a user runs when single copy is unavailable.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const run = (env: Record<string, string | undefined> = {}) =>
  spawnSync(process.execPath, [cli, "info"], { encoding: "utf8", env: { ...process.env, ...env } });

describe("onecopy info", () => {
  it("reports a real probe between two processes and every tunable", () => {
    const r = run({ ONECOPY_CMA: undefined });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/between processes: +(usable \(a real 8-byte read|NOT usable: )/);
    expect(r.stdout).toMatch(/Yama ptrace_scope: +(not present|\d)/);
    for (const env of ["ONECOPY_EAGER_LIMIT", "ONECOPY_UNEXPECTED_LIMIT", "ONECOPY_CMA_ASYNC_MIN"]) expect(r.stdout).toContain(env);
  });

  it("says why when the kill switch is on", () => {
    const r = run({ ONECOPY_CMA: "0" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/this process: +unavailable: .*ONECOPY_CMA=0/);
  });

  it("rejects arguments", () => {
    const r = spawnSync(process.execPath, [cli, "info", "extra"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/'info' takes no arguments/);
  });
});
