// What a user does: pack onecopy, install the one tarball into a fresh project outside the
// workspace (npm, then pnpm), run a 2-rank .js and .ts program through the installed `onecopy`
// bin, and type-check a user file with `tsc --strict`. Also lints the tarball with publint and
// @arethetypeswrong/cli.
//
// It needs the npm registry (koffi, msgpackr, tsx, @types/node) and takes about a minute, so it
// runs only with ONECOPY_PACKAGE_TEST=1: `.ci/run` runs it after the suite, and so does
// `pnpm test:package`.
import { execFileSync, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PKG_DIR = fileURLToPath(new URL("../../", import.meta.url));
const ROOT = resolve(PKG_DIR, "../..");
const requireRoot = createRequire(join(ROOT, "package.json"));
const TSC = requireRoot.resolve("typescript/bin/tsc");
const BIN = (name: string): string => join(ROOT, "node_modules", ".bin", name);
const enabled = process.env.ONECOPY_PACKAGE_TEST === "1";

/** Bytes the two ranks move: rank 0 fills 1 MiB with a pattern, rank 1 hashes what arrived. */
const N = 1 << 17; // Float64 elements
const expectedSha = (() => {
  const a = new Float64Array(N);
  for (let i = 0; i < N; i++) a[i] = i * 0.25 - 7;
  return createHash("sha256").update(new Uint8Array(a.buffer)).digest("hex");
})();

const APP_BODY = (typed: boolean): string => `
import { createHash } from "node:crypto";
import { init } from "onecopy";
${typed ? 'import type { TransportStats } from "onecopy";' : ""}

const comm = await init();
const data = new Float64Array(${N});
if (comm.rank === 0) {
  for (let i = 0; i < data.length; i++) data[i] = i * 0.25 - 7;
  await comm.send(data, 1);
} else {
  await comm.recv(data, 0);
  const stats${typed ? ": TransportStats" : ""} = comm.stats();
  const sha = createHash("sha256").update(new Uint8Array(data.buffer)).digest("hex");
  console.log("RESULT " + JSON.stringify({ sha, moved: stats.singleCopy.bytes + stats.shm.bytes + stats.fallback.bytes, preload: process.execArgv.some((a) => a.includes("rank-preload")) }));
}
await comm.close();
if (process.argv[2] === "fail" && comm.rank === 1) process.exit(3);
`;

let work = "";
let project = "";
let tarball = "";

function run(cmd: string, args: string[], opts: { cwd?: string; input?: string; timeout?: number } = {}): SpawnSyncReturns<string> {
  const env = { ...process.env };
  // Nothing of the workspace may leak into the user's project.
  for (const k of Object.keys(env)) if (k.startsWith("npm_") || k.startsWith("PNPM_") || k === "NODE_PATH") delete env[k];
  return spawnSync(cmd, args, { cwd: opts.cwd ?? project, encoding: "utf8", env, input: opts.input, timeout: opts.timeout ?? 240_000 });
}

function ok(r: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  expect(r.status, `${what}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n${r.error?.message ?? ""}`).toBe(0);
  return r;
}

const npm = (...args: string[]) => run("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"]);
const pnpm = (...args: string[]) => run("npx", ["--yes", "pnpm@10", ...args]);
const onecopy = (...args: string[]) => run(join(project, "node_modules", ".bin", "onecopy"), args);

function result(stdout: string): { sha: string; moved: number; preload: boolean } {
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  expect(line, stdout).toBeDefined();
  return JSON.parse(line!.slice(7));
}

/** A 2-rank job through the installed bin: the bytes arrived intact, and the launcher's preload ran. */
function expectJob(script: string): void {
  const r = ok(onecopy("run", "-n", "2", script), `onecopy run -n 2 ${script}`);
  const res = result(r.stdout);
  expect(res.sha).toBe(expectedSha);
  expect(res.moved).toBe(N * 8);
  expect(res.preload).toBe(true);
}

function typecheck(): void {
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { strict: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", noEmit: true, types: ["node"] }, files: ["app.ts", "api.ts"] }),
  );
  ok(run(process.execPath, [TSC, "-p", "tsconfig.json"]), "tsc --strict (skipLibCheck off) of the user's files");
}

function resetProject(): void {
  for (const name of readdirSync(project)) rmSync(join(project, name), { recursive: true, force: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user-app", version: "1.0.0", private: true, type: "module" }, null, 2));
  writeFileSync(join(project, "app.js"), APP_BODY(false));
  writeFileSync(join(project, "app.ts"), APP_BODY(true));
  // Every public entry point, used as a user would, so their declarations are all checked.
  writeFileSync(
    join(project, "api.ts"),
    `import { init, IN_PLACE, OnecopyError, allocBuffer, type Comm } from "onecopy";
import { launch, type LaunchOptions, type LaunchResult } from "onecopy/launcher";
import { getCpuAffinity, read, type Descriptor } from "onecopy/cma";
export async function demo(): Promise<number> {
  const comm: Comm = await init();
  const v = new Float32Array(allocBuffer(4096));
  await comm.allreduce(IN_PLACE, v, "sum");
  const opts: LaunchOptions = { np: 2, script: "app.js", bindTo: "core", outputFilename: "logs" };
  const r: LaunchResult = await launch(opts);
  const cpus: number[] = getCpuAffinity();
  const d: Descriptor | undefined = undefined;
  void read; void d;
  await comm.close();
  return r.exitCode + cpus.length + (new OnecopyError("ERR_X", "x").code === "ERR_X" ? 0 : 1);
}
`,
  );
}

describe.skipIf(!enabled)("onecopy as a user installs it", () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "onecopy-user-"));
    project = join(work, "app");
    mkdirSync(project);
    ok(run(process.execPath, [join(PKG_DIR, "scripts", "assemble.mjs")], { cwd: PKG_DIR }), "assemble");
    ok(run("npm", ["pack", join(PKG_DIR, "publish"), "--pack-destination", work, "--loglevel=error"], { cwd: work }), "npm pack");
    tarball = join(work, readdirSync(work).find((f) => f.endsWith(".tgz"))!);
    resetProject();
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("the tarball: one package, no workspace ranges, no build leftovers, LICENSE and README; publint and attw pass", () => {
    const files = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).trim().split("\n").map((f) => f.replace(/^package\//, ""));
    expect(files).toEqual(expect.arrayContaining(["package.json", "README.md", "LICENSE", "dist/index.js", "dist/cli.js", "dist/cma.js", "dist/launcher/rank-preload.js", "dist/launcher/job-cleanup.js", "dist/internal/cma/index.js", "dist/internal/rendezvous/index.js", "dist/internal/collectives/index.js"]));
    expect(files.filter((f) => /\.map$|tsbuildinfo|^src\/|\.ts$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);
    const manifest = JSON.parse(execFileSync("tar", ["xzfO", tarball, "package/package.json"], { encoding: "utf8" }));
    expect(JSON.stringify(manifest)).not.toContain("workspace:");
    expect(Object.keys(manifest.dependencies).sort()).toEqual(["koffi", "msgpackr"]);
    expect(manifest).toMatchObject({ os: ["linux"], engines: { node: expect.any(String) }, license: "MIT", peerDependenciesMeta: { tsx: { optional: true } } });
    ok(run(BIN("publint"), ["run", tarball, "--strict"], { cwd: work }), "publint");
    ok(run(BIN("attw"), [tarball, "--profile", "esm-only", "--format", "ascii"], { cwd: work }), "attw (ESM-only package)");
  });

  it("npm install <tarball>: .js runs on 2 ranks, .ts says how to get tsx, exit codes pass through; no tsx or esbuild pulled in", () => {
    ok(npm("install", tarball), "npm install onecopy.tgz");
    expect(existsSync(join(project, "node_modules", "tsx"))).toBe(false);
    expect(existsSync(join(project, "node_modules", "esbuild"))).toBe(false);
    expectJob("app.js");
    const ts = onecopy("run", "-n", "2", "app.ts");
    expect(ts.status).toBe(2);
    expect(ts.stderr).toContain("app.ts is TypeScript, which onecopy runs through tsx, and tsx is not installed here: npm install --save-dev tsx");
    const failing = onecopy("run", "-n", "2", "app.js", "fail");
    expect(failing.status).toBe(3);
    expect(failing.stderr).toContain("onecopy: rank 1 exited with code 3");
  }, 300_000);

  it("npm install -D tsx @types/node: .ts runs; the user's files type-check under --strict", () => {
    ok(npm("install", "--save-dev", "tsx", "@types/node@20"), "npm install -D tsx @types/node");
    expectJob("app.ts");
    typecheck();
  }, 300_000);

  it("pnpm add <tarball> tsx @types/node: the same in pnpm's layout", () => {
    resetProject();
    ok(pnpm("add", tarball, "tsx", "@types/node@20"), "pnpm add onecopy.tgz tsx @types/node");
    expectJob("app.js");
    expectJob("app.ts");
    typecheck();
    const info = ok(onecopy("info"), "onecopy info");
    expect(info.stdout).toMatch(/^onecopy \d+\.\d+\.\d+: Node v/);
    expect(info.stdout).toContain("allowed CPUs:");
  }, 300_000);
});
