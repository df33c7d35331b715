// launch(): run one job of N ranks to completion. Owns the job's lifecycle: job directory,
// spawning, output, the first-failure / timeout / signal teardown, and cleanup.
//
// How each way a job can end reaches the ranks and whatever they started (each rank leads its
// own process group, which its children share and which outlives it):
//   - a rank exits (any status): its group is SIGKILLed at once (no orphans);
//   - a rank fails, the job times out, the launcher gets SIGINT/SIGTERM/SIGHUP: every live
//     rank's group gets SIGTERM, then SIGKILL after killGraceMs;
//   - the launcher process exits (uncaught exception, process.exit()): its 'exit' handler
//     SIGKILLs every group and removes the job files;
//   - the launcher is SIGKILLed: the kernel SIGKILLs every rank (parent-death signal, set by
//     rank-preload.ts before the script runs) and the job guardian (guardian.ts) SIGKILLs their
//     groups and removes the job files.
// A rank that exits 0 without having joined the job while another rank waits in init() would
// leave that rank to its start-up timeout: it fails the job at once, by name (see
// checkLeftBeforeJoining).
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { removeJobSegments, writePidRecord } from "@onecopy/rendezvous";
import { formatCpuList } from "@onecopy/cma";
import { oversubscriptionWarning, placeRanks, readTopology, withAffinity, type CpuTopology } from "./binding.js";
import { LIFELINE_NEWS } from "./env.js";
import { JobGuardian } from "./guardian.js";
import { HANG_EXIT_CODE, HangWatch } from "./hang-watch.js";
import { createJobDir, removeJobDir } from "./jobdir.js";
import { resolveLaunchOptions, type LaunchOptions, type ResolvedLaunchOptions } from "./options.js";
import { RankOutputFiles } from "./output-files.js";
import { OutputSink, RankStreamReader } from "./output.js";
import { signalExitCode, signalGroup, spawnRank, type JobContext, type RankProcess } from "./spawn-rank.js";
import { StdinForwarder } from "./stdin.js";

/** Exit code of a job stopped by its timeout (as with coreutils `timeout`). */
export const TIMEOUT_EXIT_CODE = 124;

/** How long after a rank exits its output pipes may stay open (held by stragglers) before they are closed. */
const CLOSE_WAIT_MS = 2000;

/** Launcher signals that stop the job, forwarded to the ranks as SIGTERM. */
const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** How one rank ended. */
export interface RankResult {
  /** The rank, 0 … np-1. */
  rank: number;
  /** Its process id (0 if it could not be started). */
  pid: number;
  /** Exit code, or null if it was killed by a signal (or never started). */
  code: number | null;
  /** Name of the signal that killed it (e.g. `SIGKILL`), or null. */
  signal: string | null;
  /** Everything it wrote to stdout ("" with `collectOutput: false`). */
  stdout: string;
  /** Everything it wrote to stderr ("" with `collectOutput: false`). */
  stderr: string;
  /** The CPUs it was pinned to (`bindTo`), ascending; absent when ranks were not bound. */
  cpus?: number[];
}

/** The outcome of {@link launch}. */
export interface LaunchResult {
  /** True when every rank exited with code 0. */
  ok: boolean;
  /**
   * What `onecopy run` exits with: 0 on success; else the first failing rank's exit code
   * (128+signo if it was killed by a signal, 1 if it could not be started); 124 on timeout;
   * 128+signo (130 for SIGINT, 143 for SIGTERM) when the launcher was interrupted; 125 when
   * `hangExit` ended a job that hung.
   */
  exitCode: number;
  /** Every rank's fate, indexed by rank. */
  ranks: RankResult[];
  /** True if the job was stopped by `timeoutMs`. */
  timedOut: boolean;
  /** The signal that interrupted the launcher, if any. */
  interrupted?: NodeJS.Signals;
  /** The job directory (already removed). */
  jobDir: string;
  /** Wall time from start to the last rank's exit, in milliseconds. */
  durationMs: number;
  /** The first rank that failed (non-zero exit, signal, or failure to start), if any. */
  failedRank?: number;
  /** Why the job failed, as the CLI prints it (e.g. `onecopy: rank 1 exited with code 3`). */
  message?: string;
  /** Warnings about the job (e.g. oversubscription), as the CLI prints them. */
  warnings: string[];
  /** The hang report printed when a hang was detected (`hangReportSeconds`), if one was. */
  hangReport?: string;
}

interface RankState {
  rank: number;
  /** Its pipes were destroyed CLOSE_WAIT_MS after its exit: its last lifeline news may be unread. */
  newsUnread?: boolean;
  proc?: RankProcess;
  pid: number;
  code: number | null;
  signal: string | null;
  exited: boolean;
  closed: boolean;
  /** It wrote the abort byte; the exit code comes next. */
  abortNext?: boolean;
  /** It said (on its lifeline) that it called init(). */
  initStarted: boolean;
  /** It said that init() finished. */
  joined: boolean;
  /** It said that its world is closed (close(), or the program ran out of work). */
  worldClosed?: boolean;
  /** The hang answer being read (a JSON line), while one is. */
  answer?: Buffer[];
  /** The news bytes read from its lifeline, in order (answers counted as "{"), for failure messages. */
  newsRead?: string;
  stdout?: RankStreamReader;
  stderr?: RankStreamReader;
  cpus?: number[];
  files?: RankOutputFiles;
}

/**
 * Run `np` copies of `script` as one job and resolve when every rank has exited and the job
 * directory has been removed. Never rejects because of what the ranks do: failures are reported
 * in the result. Rejects (TypeError/RangeError/Error `ENOENT`) for invalid options, before
 * starting anything.
 *
 * When a rank fails, the others get `failGraceMs` to exit by themselves, then SIGTERM, then
 * SIGKILL after `killGraceMs`. Signals go to each rank's process group, so processes the ranks
 * started die with them; when a rank exits, whatever is left in its group is killed.
 * Rejects with the file system's error when `outputFilename` files cannot be created.
 *
 * @example
 * const r = await launch({ np: 4, script: "app.ts", timeoutMs: 30_000 });
 * if (!r.ok) console.error(r.message, r.ranks.map((x) => x.stderr));
 */
export async function launch(options: LaunchOptions): Promise<LaunchResult> {
  const resolved = resolveLaunchOptions(options);
  return new Job(resolved).run();
}

type StopReason = "failure" | "timeout" | "signal";

class Job {
  private readonly started = performance.now();
  private readonly ctx: JobContext;
  private readonly ranks: RankState[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sinks: { stdout?: OutputSink; stderr?: OutputSink } = {};
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  private readonly exitHandler = (): void => this.emergencyCleanup();
  private readonly topology: CpuTopology;
  private readonly placement: number[][] | undefined;
  private readonly files: RankOutputFiles[] = [];
  private readonly warnings: string[] = [];
  private stdin: StdinForwarder | undefined;
  private readonly hang: HangWatch;
  private hangReport: string | undefined;
  private guardian: JobGuardian | undefined;
  private stopReason: StopReason | undefined;
  private exitCode = 0;
  private timedOut = false;
  private interrupted: NodeJS.Signals | undefined;
  private failedRank: number | undefined;
  private message: string | undefined;
  private remaining: number;
  private resolve!: (r: LaunchResult) => void;

  constructor(private readonly opts: ResolvedLaunchOptions) {
    this.topology = readTopology();
    this.placement = placeRanks(opts.np, opts.bindTo, opts.mapBy, this.topology);
    if (opts.outputFiles) this.openOutputFiles(opts.outputFiles); // may throw: nothing started yet
    this.ctx = { options: opts, jobDir: createJobDir(), token: randomBytes(16).toString("hex") };
    this.remaining = opts.np;
    this.hang = new HangWatch(
      () => this.ranks.map((st) => ({ rank: st.rank, lifeline: st.proc?.lifeline as Socket | undefined, exited: st.exited, joined: st.joined, end: st.signal ? `signal ${st.signal}` : st.code !== null ? `code ${st.code}` : undefined })),
      (text) => this.say(text),
    );
  }

  private openOutputFiles(where: NonNullable<ResolvedLaunchOptions["outputFiles"]>): void {
    try {
      for (let rank = 0; rank < this.opts.np; rank++) this.files.push(new RankOutputFiles(where, rank, this.opts.np));
    } catch (err) {
      for (const f of this.files) f.close();
      throw err;
    }
  }

  run(): Promise<LaunchResult> {
    const promise = new Promise<LaunchResult>((resolve) => (this.resolve = resolve));
    process.on("exit", this.exitHandler);
    if (this.opts.handleSignals) {
      for (const sig of FORWARDED_SIGNALS) {
        const handler = (): void => this.onLauncherSignal(sig);
        this.signalHandlers.set(sig, handler);
        process.on(sig, handler);
      }
      const onUsr1 = (): void => void this.hang.report("on SIGUSR1").then((r) => this.say(r));
      this.signalHandlers.set("SIGUSR1", onUsr1);
      process.on("SIGUSR1", onUsr1);
    }
    this.guardian = new JobGuardian(this.ctx.jobDir, this.ctx.token);
    const forward = this.opts.inheritOutput && this.opts.outputFiles?.copy !== false;
    if (forward) {
      this.sinks.stdout = new OutputSink(process.stdout);
      this.sinks.stderr = new OutputSink(process.stderr);
    }
    if (!this.opts.oversubscribe) {
      const warning = oversubscriptionWarning(this.opts.np, this.opts.bindTo, this.topology);
      if (warning) this.warn(warning);
    }
    if (this.opts.input && this.opts.stdinRanks.size > 0) this.stdin = new StdinForwarder(this.opts.input);
    for (let rank = 0; rank < this.opts.np; rank++) this.start(rank);
    this.stdin?.start();
    if (this.opts.timeoutMs !== undefined) this.after(this.opts.timeoutMs, () => this.onTimeout());
    if (this.opts.hangReportSeconds > 0) this.hang.detect(this.opts.hangReportSeconds, (report) => this.onHang(report));
    return promise;
  }

  private start(rank: number): void {
    const st: RankState = { rank, pid: 0, code: null, signal: null, exited: false, closed: false, initStarted: false, joined: false };
    st.cpus = this.placement?.[rank];
    st.files = this.files[rank];
    this.ranks.push(st);
    let proc: RankProcess;
    try {
      proc = withAffinity(st.cpus, () => spawnRank(this.ctx, rank, st.cpus));
    } catch (err) {
      this.onExit(st, null, null, err as Error);
      this.onClose(st);
      return;
    }
    st.proc = proc;
    st.pid = proc.child.pid ?? 0;
    // The ranks accept a peer only if it is the process started here as that rank (or its child).
    if (st.pid > 0) writePidRecord(this.ctx.jobDir, rank, st.pid);
    this.guardian?.add(st.pid);
    if (proc.stdin) this.stdin?.add(proc.stdin);
    if (this.opts.reportBindings) this.say(this.bindingReport(st));
    proc.lifeline?.on("data", (news: Buffer) => this.onNews(st, news));
    const { collectOutput, onOutput } = this.opts;
    const onFileError = (err: Error): void => this.warn(`onecopy: warning: rank ${rank}'s output file could not be written (${err.message}); the rest is not saved`);
    st.stdout = new RankStreamReader(proc.stdout, {
      collect: collectOutput,
      sink: this.sinks.stdout,
      prefix: this.tag(rank, "stdout"),
      onLine: onOutput && ((line) => onOutput({ rank, stream: "stdout", line })),
      file: st.files?.stdout,
      onFileError,
    });
    st.stderr = new RankStreamReader(proc.stderr, {
      collect: collectOutput,
      sink: this.sinks.stderr,
      prefix: this.tag(rank, "stderr"),
      onLine: onOutput && ((line) => onOutput({ rank, stream: "stderr", line })),
      file: st.files?.stderr,
      onFileError,
    });
    proc.child.once("exit", (code, signal) => this.onExit(st, code, signal));
    proc.child.on("error", (err) => this.onExit(st, null, null, err));
    proc.child.once("close", () => this.onClose(st));
  }

  /** The prefix of a forwarded line: `[1] ` or Open MPI's `[1,1]<stdout>:` (job 1, rank 1). */
  private tag(rank: number, stream: "stdout" | "stderr"): string | undefined {
    switch (this.opts.tagOutput) {
      case "rank":
        return `[${rank}] `;
      case "ompi":
        return `[1,${rank}]<${stream}>:`;
      default:
        return undefined;
    }
  }

  private bindingReport(st: RankState): string {
    if (!st.cpus) return `onecopy: rank ${st.rank} (pid ${st.pid}) not bound: may run on CPUs ${formatCpuList(this.topology.cpus)}`;
    const core = this.topology.cores.findIndex((c) => c.includes(st.cpus![0]!));
    const what = this.opts.bindTo === "core" ? `core ${core}` : `hardware thread of core ${core}`;
    return `onecopy: rank ${st.rank} (pid ${st.pid}) bound to ${what}: CPUs ${formatCpuList(st.cpus)}`;
  }

  private onExit(st: RankState, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    if (st.exited) return;
    st.exited = true;
    st.code = code;
    st.signal = signal;
    // Anything the rank started and left behind in its process group is an orphan: kill it.
    signalGroup(st.pid, "SIGKILL");
    this.guardian?.remove(st.pid);
    if (error) this.fail(st, 1, `rank ${st.rank} could not be started: ${error.message}`);
    else if (signal) this.fail(st, signalExitCode(signal), `rank ${st.rank} was killed by signal ${signal}`);
    else if (code !== 0) this.fail(st, code! > 0 ? code! : 1, `rank ${st.rank} exited with code ${code}`);
    // Output pipes normally close right after the exit; don't wait forever for stragglers.
    if (st.proc && !st.closed) {
      const proc = st.proc;
      this.after(CLOSE_WAIT_MS, () => {
        for (const s of proc.child.stdio) s?.destroy();
        this.onClose(st, true);
      });
    }
  }

  /** `forced`: its pipes were destroyed after CLOSE_WAIT_MS, so news it sent may be unread. */
  private onClose(st: RankState, forced = false): void {
    if (st.closed) return;
    if (!st.exited) {
      // 'close' without 'exit' does not happen, but never count a rank twice or lose one.
      this.onExit(st, st.proc?.child.exitCode ?? null, st.proc?.child.signalCode ?? null);
    }
    st.closed = true;
    // Its lifeline is closed too, so what it said there is all it will ever say — unless the
    // close was forced: then a rank that exited 0 is not judged by news that may be unread.
    st.newsUnread = forced;
    this.checkLeftBeforeJoining();
    this.checkLeftWithoutClosing();
    if (--this.remaining === 0) this.finish();
  }

  /** The first failure stops the job: record it, say it, stop the other ranks. */
  private fail(st: RankState, exitCode: number, why: string, graceMs = this.opts.failGraceMs): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = "failure";
    this.failedRank = st.rank;
    this.exitCode = exitCode;
    this.message = `onecopy: ${why}`;
    this.say(this.message);
    this.stopRanks(graceMs);
  }

  private onNews(st: RankState, news: Buffer): void {
    for (let i = 0; i < news.length; i++) {
      if (st.answer) {
        const nl = news.indexOf(0x0a, i);
        st.answer.push(news.subarray(i, nl < 0 ? news.length : nl));
        if (nl < 0) break;
        this.hang.onAnswer(st.rank, Buffer.concat(st.answer).toString("utf8"));
        st.answer = undefined;
        i = nl;
        continue;
      }
      const byte = news[i]!;
      if ((st.newsRead ??= "").length < 32) st.newsRead += String.fromCharCode(byte);
      if (byte === LIFELINE_NEWS.answer && !st.abortNext) st.answer = [Buffer.of(byte)];
      else if (st.abortNext) {
        st.abortNext = false;
        this.fail(st, byte || 1, `rank ${st.rank} called abort(${byte || 1}); stopping every rank`, 0);
      } else if (byte === LIFELINE_NEWS.initStarted) st.initStarted = true;
      else if (byte === LIFELINE_NEWS.joined) st.joined = true;
      else if (byte === LIFELINE_NEWS.closed) st.worldClosed = true;
      else if (byte === LIFELINE_NEWS.abort) st.abortNext = true;
    }
    this.checkLeftBeforeJoining();
  }

  /**
   * A rank that exited 0 without joining, while another rank is still in start-up (it called
   * init() and waits for everyone), would make that rank wait for its start-up timeout: fail
   * the job now and name the rank. Ranks that never call init() (plain scripts) say nothing on
   * their lifelines, so a job of them is never failed here. Checked whenever a rank closes or
   * reports news, so the order of the two events does not matter.
   */
  private checkLeftBeforeJoining(): void {
    if (this.stopReason !== undefined) return;
    const left = this.ranks.find((st) => st.closed && !st.newsUnread && st.code === 0 && !st.joined);
    if (!left) return;
    const waiting = this.ranks.some((st) => st !== left && !st.exited && st.initStarted && !st.joined);
    if (!waiting) return;
    const why = left.initStarted ? "it called init() but exited before init() finished" : "it never called init()";
    this.fail(left, 1, `rank ${left.rank} exited with code 0 before joining the job (${why})`);
  }

  /**
   * A rank that joined and then exited 0 without closing its world (process.exit() before
   * close(); a program that simply ends closes it by itself), while other ranks still run and may
   * be using it: they see ERR_PEER_LOST. Open MPI fails such a job ("exited without calling
   * finalize"); so does this launcher, naming the rank.
   */
  private checkLeftWithoutClosing(): void {
    if (this.stopReason !== undefined) return;
    const left = this.ranks.find((st) => st.closed && !st.newsUnread && st.code === 0 && st.joined && !st.worldClosed);
    if (!left || !this.ranks.some((st) => st !== left && !st.exited)) return;
    this.fail(left, 1, `rank ${left.rank} exited with code 0 without closing its world (it called process.exit() before comm.close()) while other ranks were still running; they lose it as a peer (ERR_PEER_LOST). Its lifeline said "${left.newsRead ?? ""}"${left.answer ? " and ended inside a hang answer" : ""}`);
  }

  private onTimeout(): void {
    if (this.stopReason !== undefined) return; // already stopping for another reason
    this.stopReason = "timeout";
    this.timedOut = true;
    this.exitCode = TIMEOUT_EXIT_CODE;
    this.message = `onecopy: job timed out after ${formatSeconds(this.opts.timeoutMs!)} s`;
    this.say(this.message);
    this.stopRanks(0);
  }

  /** Every live rank has been blocked with no progress: print the report; with hangExit, end the job. */
  private onHang(report: string): void {
    if (this.stopReason !== undefined) return;
    this.hangReport = report;
    this.say(report);
    if (!this.opts.hangExit) return;
    this.stopReason = "failure";
    this.exitCode = HANG_EXIT_CODE;
    this.message = `onecopy: the job hung (see the hang report above); stopping every rank (--hang-exit)`;
    this.say(this.message);
    this.stopRanks(0);
  }

  private onLauncherSignal(sig: NodeJS.Signals): void {
    if (this.interrupted !== undefined) {
      this.say(`onecopy: received ${sig} again; killing all ranks`);
      this.signalLive("SIGKILL");
      return;
    }
    this.interrupted = sig;
    if (this.stopReason === undefined) {
      this.stopReason = "signal";
      this.exitCode = signalExitCode(sig);
      this.message = `onecopy: received ${sig}; stopping the job`;
      this.say(this.message);
    }
    this.stopRanks(0);
  }

  /** After `graceMs`, SIGTERM every live rank's group, then SIGKILL after killGraceMs. */
  private stopRanks(graceMs: number): void {
    const term = (): void => {
      this.signalLive("SIGTERM");
      this.after(this.opts.killGraceMs, () => this.signalLive("SIGKILL"));
    };
    if (graceMs > 0) this.after(graceMs, term);
    else term();
  }

  private signalLive(sig: NodeJS.Signals): void {
    for (const st of this.ranks) if (!st.exited) signalGroup(st.pid, sig);
  }

  private after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private say(line: string): void {
    if (this.opts.inheritOutput) process.stderr.write(line + "\n");
  }

  private warn(line: string): void {
    this.warnings.push(line);
    this.say(line);
  }

  /** Last resort when the launcher process exits while ranks still run: kill them, remove the dir. */
  private emergencyCleanup(): void {
    for (const st of this.ranks) signalGroup(st.pid, "SIGKILL");
    for (const f of this.files) f.close();
    this.removeJobFiles();
    this.guardian?.release();
  }

  /** The job directory and any shared-memory segment a killed rank could not unlink. */
  private removeJobFiles(): void {
    removeJobDir(this.ctx.jobDir);
    removeJobSegments(this.ctx.token);
  }

  private finish(): void {
    this.hang.stop();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const [sig, handler] of this.signalHandlers) process.off(sig, handler);
    process.off("exit", this.exitHandler);
    this.sinks.stdout?.close();
    this.sinks.stderr?.close();
    this.stdin?.stop();
    for (const f of this.files) f.close();
    this.removeJobFiles();
    this.guardian?.release();
    const ranks: RankResult[] = this.ranks.map((st) => ({
      rank: st.rank,
      pid: st.pid,
      code: st.code,
      signal: st.signal,
      stdout: st.stdout?.text() ?? "",
      stderr: st.stderr?.text() ?? "",
      ...(st.cpus ? { cpus: [...st.cpus] } : {}),
    }));
    const result: LaunchResult = {
      ok: this.exitCode === 0,
      exitCode: this.exitCode,
      ranks,
      timedOut: this.timedOut,
      jobDir: this.ctx.jobDir,
      durationMs: performance.now() - this.started,
      warnings: [...this.warnings],
    };
    if (this.interrupted !== undefined) result.interrupted = this.interrupted;
    if (this.failedRank !== undefined) result.failedRank = this.failedRank;
    if (this.message !== undefined) result.message = this.message;
    if (this.hangReport !== undefined) result.hangReport = this.hangReport;
    this.resolve(result);
  }
}

/** 2 → "2", 1.5 → "1.5", 0.25 → "0.25". */
function formatSeconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}
