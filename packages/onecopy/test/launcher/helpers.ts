// Test helpers for the launcher suite: fixture paths, a CLI runner, pid bookkeeping so every
// process a test starts is killed even when the test fails.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
export const fixture = (name: string): string => join(FIXTURES, name);
/** The built CLI (tests run after `tsc -b`). */
export const CLI = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

/** What a fixture rank recorded in FIXTURE_DIR/rank-R.json. */
export interface RankRecord {
  pid: number;
  jobDir: string;
  grandchild?: number;
}

const tracked = new Set<number>();
const tempDirs = new Set<string>();

/** Remember a pid to kill in {@link cleanup}. */
export function track(pid: number | undefined): void {
  if (pid) tracked.add(pid);
}

/** A fresh directory for FIXTURE_DIR. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "oc-launcher-test-"));
  tempDirs.add(dir);
  return dir;
}

/** Read every rank-R.json in `dir`, by rank; tracks all pids found. */
export function readRecords(dir: string): Map<number, RankRecord> {
  const out = new Map<number, RankRecord>();
  for (const name of readdirSync(dir)) {
    const m = /^rank-(\d+)\.json$/.exec(name);
    if (!m) continue;
    let rec: RankRecord;
    try {
      rec = JSON.parse(readFileSync(join(dir, name), "utf8")) as RankRecord;
    } catch {
      continue; // being written
    }
    track(rec.pid);
    track(rec.grandchild);
    out.set(Number(m[1]), rec);
  }
  return out;
}

/** True if `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Poll `cond` every 25 ms until it holds or `timeoutMs` passes; returns its last value. */
export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Wait until none of `pids` is alive (bounded); returns the ones still alive. */
export async function waitGone(pids: number[], timeoutMs = 5000): Promise<number[]> {
  await waitFor(() => pids.every((p) => !isAlive(p)), timeoutMs);
  return pids.filter(isAlive);
}

/** Kill everything the tests started and remove temp dirs. Call from afterEach. */
export function cleanup(): void {
  for (const pid of tracked) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  tracked.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Result of a CLI run. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start the CLI (`node dist/cli.js ...args`) without waiting. */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): {
  child: ChildProcess;
  done: Promise<CliRun>;
  output: () => { stdout: string; stderr: string };
} {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? FIXTURES,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child.pid);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const done = new Promise<CliRun>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** Run the CLI to completion. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  return startCli(args, opts).done;
}

/** Whether `dir` still exists. */
export const exists = (dir: string): boolean => existsSync(dir);
