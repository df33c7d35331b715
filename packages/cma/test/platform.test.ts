// On a platform without Cross Memory Attach, importing must work and every entry point must
// say why CMA is unavailable instead of crashing. The child process is told it runs on macOS
// before anything loads (the bindings check process.platform), then uses the real packages.
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const cma = pathToFileURL(fileURLToPath(new URL("../dist/index.js", import.meta.url))).href;
const onecopy = pathToFileURL(fileURLToPath(new URL("../../onecopy/dist/index.js", import.meta.url))).href;
const pretend = `data:text/javascript,Object.defineProperty(process, "platform", { value: "darwin" });`;

function run(script: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, ["--import", pretend, "--input-type=module", "-e", script], {
    encoding: "utf8",
    env: { ...process.env, ONECOPY_RANK: undefined, ONECOPY_SIZE: undefined, ONECOPY_CMA: undefined },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
}

describe("a platform without CMA", () => {
  it("imports, reports why, and fails transfers with a coded error", () => {
    const out = run(`
      const m = await import(${JSON.stringify(cma)});
      const avail = m.cmaAvailability();
      const probe = m.probe({ pid: 1, addr: 4096, token: "00", userns: null });
      let code = "none";
      try { m.readSync(1, new Uint8Array(8), [4096, 8]); } catch (e) { code = e.code; }
      const buf = m.allocBuffer(4 << 20);
      console.log(JSON.stringify({ avail, probe, code, alloc: buf.byteLength, backing: m.bufferBacking(buf).kind }));`);
    expect(out.avail).toMatchObject({ available: false });
    expect(String((out.avail as { reason: string }).reason)).toMatch(/Linux-only \(this is darwin\)/);
    expect(out.probe).toMatchObject({ usable: false });
    expect(String((out.probe as { reason: string }).reason)).toMatch(/Linux-only/);
    expect(out.code).toBe("ERR_CMA_UNSUPPORTED");
    // allocBuffer still works, with ordinary memory.
    expect(out).toMatchObject({ alloc: 4 << 20, backing: "heap" });
  });

  it("still runs an onecopy program (world of one, large self-send)", () => {
    const out = run(`
      const { init } = await import(${JSON.stringify(onecopy)});
      const comm = await init();
      const a = new Float64Array(1 << 20).fill(2.5), b = new Float64Array(1 << 20);
      const s = comm.isend(a, 0, 1); await comm.recv(b, 0, 1); await s;
      console.log(JSON.stringify({ size: comm.size, ok: b[12345] === 2.5 }));
      await comm.close();`);
    expect(out).toEqual({ size: 1, ok: true });
  });
});
