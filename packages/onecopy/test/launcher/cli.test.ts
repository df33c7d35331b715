// The `onecopy` binary end to end (dist/cli.js): output, exit codes, usage errors, signals
// to the launcher, and ranks outliving a SIGKILLed launcher (they must not).
import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { cleanup, exists, fixture, readRecords, runCli, startCli, tempDir, waitFor, waitGone } from "./helpers.js";

afterEach(cleanup);

describe("onecopy run", () => {
  it("runs a .ts app on 2 ranks, forwards output, exits 0", async () => {
    const r = await runCli(["run", "-n", "2", "env.ts", "x", "--y"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const reps = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { rank: string; argv: string[]; lang: string });
    expect(reps.map((x) => x.rank).sort()).toEqual(["0", "1"]);
    expect(reps.every((x) => x.lang === "ts" && x.argv.join(" ") === "x --y")).toBe(true);
  });

  it("--np and --opt=value forms, .js entry point, --tag-output prefixes every line", async () => {
    const r = await runCli(["run", "--np=3", "--tag-output", "rank.js", "*=lines:50"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n").filter(Boolean);
    expect(lines).toHaveLength(150);
    for (const line of lines) expect(line).toMatch(/^\[(\d)\] rank \1 line \d+ x{40}$/);
  });

  it("propagates the failing rank's exit code and names it", async () => {
    const r = await runCli(["run", "-n", "3", "--fail-grace", "200", "--kill-grace", "300", "rank.js", "2=exit:7", "*=sleep"]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain("onecopy: rank 2 exited with code 7\n");
    expect(r.stderr).toContain("rank 2 exiting with 7\n");
  });

  it("--timeout kills a hung job and says so", async () => {
    const r = await runCli(["run", "-n", "2", "--timeout", "0.5", "--kill-grace", "300", "rank.js", "*=sleep"]);
    expect(r.code).toBe(124);
    expect(r.stderr).toContain("onecopy: job timed out after 0.5 s");
  });

  it("passes --env, --no-cma, --eager-limit and --transport to the ranks", async () => {
    const r = await runCli([
      "run", "-n", "1", "--env", "FIXTURE_CUSTOM=a=b", "--no-cma", "--eager-limit", "1M", "--transport=shm", "env.js",
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ custom: "a=b", cma: "0", eagerLimit: String(1 << 20), transport: "shm" });
  });

  it.each([
    [["run", "env.js"], /missing -n/],
    [["run", "-n", "0", "env.js"], /at least 1/],
    [["run", "-n", "2.5", "env.js"], /positive integer/],
    [["run", "-n", "two", "env.js"], /positive integer/],
    [["run", "-n", "2"], /missing the script/],
    [["run", "-n", "2", "no-such-app.ts"], /script not found: no-such-app\.ts/],
    [["run", "-n", "2", "--frobnicate", "env.js"], /unknown option '--frobnicate'/],
    [["run", "-n", "2", "--transport", "tcp", "env.js"], /--transport must be one of cma, shm, socket/],
    [["run", "-n", "2", "--eager-limit", "big", "env.js"], /--eager-limit/],
    [["run", "-n", "2", "--timeout", "soon", "env.js"], /--timeout/],
    [["run", "-n", "2", "--env", "NOEQUALS", "env.js"], /KEY=VALUE/],
    [["launch"], /unknown command 'launch'/],
    [[], /missing command/],
  ])("usage error %j -> exit 2, message on stderr, nothing started", async (args, msg) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).toMatch(/^onecopy: /);
  });

  it("--help documents the options and environment variables; --version prints the version", async () => {
    const run = await runCli(["run", "--help"]);
    expect(run.code).toBe(0);
    for (const word of [
      "--np", "--timeout", "--tag-output", "--no-cma", "--eager-limit", "--transport", "--env", "--fail-grace",
      "ONECOPY_CMA", "ONECOPY_EAGER_LIMIT", "ONECOPY_TRANSPORT", "ONECOPY_CMA_ASYNC_MIN", "ONECOPY_CMA_STREAMS",
      "ONECOPY_RANK", "ONECOPY_SIZE", "ONECOPY_JOB_DIR", "ONECOPY_JOB_TOKEN", "ONECOPY_LAUNCHER_PID",
    ]) {
      expect(run.stdout).toContain(word);
    }
    const main = await runCli(["--help"]);
    expect(main.code).toBe(0);
    expect(main.stdout).toContain("onecopy run");
    const v = await runCli(["--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^onecopy \d+\.\d+\.\d+/);
  });
});

describe("launcher signals", () => {
  it("SIGTERM to the launcher stops every rank and its children, removes the job dir, exits 143", async () => {
    const dir = tempDir();
    const cli = startCli(["run", "-n", "2", "--kill-grace", "500", "rank.js", "0=grandchild", "*=ignore-term"], {
      env: { FIXTURE_DIR: dir },
    });
    expect(await waitFor(() => readRecords(dir).size === 2, 10_000)).toBe(true);
    const recs = [...readRecords(dir).values()];
    expect(exists(recs[0].jobDir)).toBe(true);
    cli.child.kill("SIGTERM");
    const r = await cli.done;
    expect(r.code).toBe(143);
    expect(r.stderr).toContain("received SIGTERM");
    const pids = recs.flatMap((x) => (x.grandchild ? [x.pid, x.grandchild] : [x.pid]));
    expect(pids).toHaveLength(3);
    expect(await waitGone(pids)).toEqual([]);
    expect(exists(recs[0].jobDir)).toBe(false);
  });

  it("SIGINT (Ctrl-C) to the launcher -> exit 130", async () => {
    const dir = tempDir();
    const cli = startCli(["run", "-n", "2", "rank.js", "*=sleep"], { env: { FIXTURE_DIR: dir } });
    expect(await waitFor(() => readRecords(dir).size === 2, 10_000)).toBe(true);
    cli.child.kill("SIGINT");
    const r = await cli.done;
    expect(r.code).toBe(130);
    const recs = [...readRecords(dir).values()];
    expect(await waitGone(recs.map((x) => x.pid))).toEqual([]);
    expect(exists(recs[0].jobDir)).toBe(false);
  });

  it("ranks using watchLauncher() exit when the launcher is SIGKILLed", async () => {
    const dir = tempDir();
    const cli = startCli(["run", "-n", "2", "watch.ts"], { env: { FIXTURE_DIR: dir } });
    expect(await waitFor(() => readRecords(dir).size === 2, 15_000)).toBe(true);
    // both ranks have called watchLauncher() before recording themselves
    const recs = [...readRecords(dir).values()];
    cli.child.kill("SIGKILL");
    await cli.done;
    expect(await waitGone(recs.map((x) => x.pid), 5000)).toEqual([]);
    // the ranks removed the job directory the launcher could not
    expect(await waitFor(() => !exists(recs[0].jobDir), 2000)).toBe(true);
  });

  it("a launcher that crashes (uncaught exception) still kills its ranks and removes the job dir", async () => {
    const dir = tempDir();
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
    const r = spawnSync(process.execPath, ["--import", tsx, fixture("crash-launcher.ts")], {
      env: { ...process.env, FIXTURE_DIR: dir },
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("launcher crash (intended)");
    const recs = [...readRecords(dir).values()];
    expect(recs).toHaveLength(2);
    expect(await waitGone(recs.flatMap((x) => [x.pid, x.grandchild!]))).toEqual([]);
    expect(exists(recs[0].jobDir)).toBe(false);
  });
});
