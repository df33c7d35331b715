// Multi-process test helpers: run a rank program through the real launcher and read the
// results each rank printed as `RESULT <json>` lines.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { launch, type LaunchResult } from "onecopy/launcher";

export interface JobOptions {
  np: number;
  env?: Record<string, string | undefined>;
  args?: string[];
  timeoutMs?: number;
  noCma?: boolean;
  eagerLimit?: number | string;
  transport?: "cma" | "shm" | "socket";
  failGraceMs?: number;
}

export interface JobRun extends LaunchResult {
  /** Parsed RESULT lines, by rank (each rank's list in print order). */
  results: unknown[][];
}

/** Absolute path of a fixture next to the calling test (pass import.meta.url). */
export function fixture(base: string, name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, base));
}

export async function runJob(script: string, opts: JobOptions): Promise<JobRun> {
  const r = await launch({
    np: opts.np,
    script,
    args: opts.args,
    env: opts.env,
    timeoutMs: opts.timeoutMs ?? 90_000,
    noCma: opts.noCma,
    eagerLimit: opts.eagerLimit,
    transport: opts.transport,
    failGraceMs: opts.failGraceMs,
    handleSignals: false,
  });
  const results = r.ranks.map((rk) =>
    rk.stdout
      .split("\n")
      .filter((l) => l.startsWith("RESULT "))
      .map((l) => JSON.parse(l.slice(7)) as unknown),
  );
  return Object.assign(r, { results });
}

/** A readable account of a job, for assertion messages. */
export function explain(r: LaunchResult): string {
  const ranks = r.ranks.map((rk) => `--- rank ${rk.rank} code=${rk.code} signal=${rk.signal}\n${rk.stdout}\n${rk.stderr}`).join("\n");
  return r.message ? `--- launcher: ${r.message}\n${ranks}` : ranks;
}

/** Whether a process still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export { existsSync };
