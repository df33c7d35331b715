// Starting one rank: its environment (the launcher/rank contract), its command line, and the
// process-group plumbing that lets the launcher kill it together with anything it started.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { constants as osConstants } from "node:os";
import type { Readable, Writable } from "node:stream";
import { ENV, readKnob } from "@onecopy/rendezvous";
import { bindingLabel } from "./binding.js";
import { LAUNCHER_ENV, LIFELINE_FD } from "./env.js";
import type { ResolvedLaunchOptions } from "./options.js";

let preloadImport: string[] | undefined;

/**
 * `--import` of the rank preload (rank-preload.ts), which must run as plain JavaScript before
 * tsx or the script: the compiled module, found through `dist` from both `dist/launcher` and
 * `src/launcher` (when the launcher itself runs from source). Empty if it was never built.
 */
function rankPreload(): string[] {
  if (!preloadImport) {
    const url = new URL("../../dist/launcher/rank-preload.js", import.meta.url);
    preloadImport = existsSync(url) ? ["--import", url.href] : [];
  }
  return preloadImport;
}

/** The facts shared by all ranks of one job. */
export interface JobContext {
  options: ResolvedLaunchOptions;
  jobDir: string;
  token: string;
}

/** The environment of rank `rank`: launcher env + user `env` + the `ONECOPY_*` contract. */
export function rankEnv(job: JobContext, rank: number, cpus?: readonly number[]): NodeJS.ProcessEnv {
  const { options } = job;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(options.env)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  // Large ordinary buffers on transparent huge pages: see the ONECOPY_THP knob.
  if (readKnob("thp", env)) env.GLIBC_TUNABLES = withHugeMalloc(env.GLIBC_TUNABLES);
  env[ENV.rank] = String(rank);
  env[ENV.size] = String(options.np);
  env[ENV.jobDir] = job.jobDir;
  env[ENV.token] = job.token;
  // --no-cma wins; otherwise an ONECOPY_CMA the user exported (or passed with --env) is kept.
  env[ENV.cma] = options.noCma ? "0" : (env[ENV.cma] ?? "1");
  if (options.eagerLimit !== undefined) env[ENV.eagerLimit] = String(options.eagerLimit);
  if (options.transport !== undefined) env[LAUNCHER_ENV.transport] = options.transport;
  env[LAUNCHER_ENV.launcherPid] = String(process.pid);
  env[LAUNCHER_ENV.rankParent] = String(process.pid);
  if (cpus) env[LAUNCHER_ENV.binding] = bindingLabel(options.bindTo, cpus);
  else delete env[LAUNCHER_ENV.binding]; // not bound by this launcher, even if the launcher itself was
  return env;
}

/** `tunables` (a GLIBC_TUNABLES value) with glibc.malloc.hugetlb=1 added, unless it sets hugetlb itself. */
export function withHugeMalloc(tunables: string | undefined): string {
  if (!tunables) return "glibc.malloc.hugetlb=1";
  return /(^|:)glibc\.malloc\.hugetlb=/.test(tunables) ? tunables : `${tunables}:glibc.malloc.hugetlb=1`;
}

/**
 * Node command-line arguments that run the job's script with the app arguments: the rank
 * preload first (it ties the rank's life to the launcher's), the user's Node options, then tsx
 * for TypeScript.
 */
export function rankArgv(options: ResolvedLaunchOptions): string[] {
  const loader = options.tsxLoader ? ["--import", options.tsxLoader] : [];
  return [...rankPreload(), ...options.nodeArgs, ...loader, options.script, ...options.args];
}

/** A started rank. `stdout`/`stderr` are the pipes from the rank; `lifeline` is fd 3. */
export interface RankProcess {
  rank: number;
  child: ChildProcess;
  /** The pipe to the rank's stdin, for a rank that reads the launcher's input. */
  stdin: Writable | undefined;
  stdout: Readable;
  stderr: Readable;
  /** The launcher's end of the lifeline; it carries the rank's news bytes (LIFELINE_NEWS). */
  lifeline: Readable | undefined;
}

/**
 * Spawn rank `rank`. It runs the Node executable as the leader of its own session and process
 * group (`detached: true`), so {@link signalGroup} reaches its grandchildren too, and so a Ctrl-C
 * on the terminal reaches only the launcher, which decides what to forward. A rank never reads the
 * terminal (it is in a background process group): its stdin is a pipe from the launcher if it
 * reads the launcher's input, else /dev/null. `cpus` is only recorded in its environment: the
 * caller pins it (binding.ts, withAffinity).
 */
export function spawnRank(job: JobContext, rank: number, cpus?: readonly number[]): RankProcess {
  const readsInput = job.options.stdinRanks.has(rank);
  const child = spawn(job.options.execPath, rankArgv(job.options), {
    cwd: job.options.cwd,
    env: rankEnv(job, rank, cpus),
    stdio: [readsInput ? "pipe" : "ignore", "pipe", "pipe", "pipe"],
    detached: true,
    windowsHide: true,
  });
  const lifeline = (child.stdio[LIFELINE_FD] as Readable | null) ?? undefined;
  // Never written to by the launcher; only held open. Reading it brings the rank's news and lets
  // us see EOF when the rank is gone, so the child's 'close' event can fire. Errors (the rank
  // closed its end) are harmless.
  lifeline?.on("error", () => {});
  lifeline?.resume();
  return { rank, child, stdin: child.stdin ?? undefined, stdout: child.stdout!, stderr: child.stderr!, lifeline };
}

/** Send `signal` to the process group led by `pid`; returns false if the group is gone. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined || pid <= 0) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: nothing left in the group; EPERM cannot happen for our own children
  }
}

/** The shell-style exit status of a death by `signal`: 128 + its number. */
export function signalExitCode(signal: string): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
}
