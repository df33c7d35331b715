// Rank side: die with the launcher. The launcher gives every rank a lifeline pipe on fd 3 and
// holds the other end open; if the launcher dies in any way, including SIGKILL, the kernel
// closes that end and the rank reads end-of-file. No polling: one idle, unref'd socket.
// (Ranks started by the launcher normally never get that far: the kernel kills them first, see
// rank-preload.ts. This is the fallback where the parent-death signal could not be set.)
// The rank also tells the launcher over fd 3 when it starts and finishes joining the job.
import { fstatSync, writeSync } from "node:fs";
import { Socket } from "node:net";
import { basename } from "node:path";
import { ENV } from "@onecopy/rendezvous";
import { removeJobDir, JOB_DIR_PREFIX } from "./jobdir.js";
import { LAUNCHER_ENV, LIFELINE_FD, LIFELINE_NEWS, LIFELINE_QUERY } from "./env.js";
import { readProcStat } from "@onecopy/cma";

/** Options of {@link watchLauncher}. */
export interface WatchLauncherOptions {
  /**
   * Called instead of the default reaction (message on stderr, remove the job directory,
   * `process.exit(1)`) when the launcher is gone.
   */
  onLost?: () => void;
}

let active: { stop: () => void } | undefined;
/** Set once this module closed fd 3: the number may since belong to another file. */
let lifelineClosed = false;

/**
 * Exit this rank (code 1, with a message on stderr) as soon as its launcher dies, and take
 * whatever it started with it.
 *
 * Does nothing unless the process was started by `onecopy run` / `launch()`, i.e. unless
 * `ONECOPY_LAUNCHER_PID` is set and fd 3 is a socket. The watch does not keep the process alive.
 * Calling it again while a watch is active returns the same stop function. A rank busy in a
 * long synchronous computation notices only when it next returns to the event loop.
 * When the launcher is lost, the job directory is also removed (the launcher could not), and a
 * rank that leads its own process group (as ranks started by the launcher do) SIGKILLs that
 * group, itself and everything it started, as the last step of exiting (after the other
 * 'exit' listeners ran).
 *
 * @returns a function that stops watching (and closes fd 3).
 */
export function watchLauncher(options: WatchLauncherOptions = {}): () => void {
  if (active) return active.stop;
  const launcherPid = process.env[LAUNCHER_ENV.launcherPid];
  if (!launcherPid) return () => {};
  try {
    if (!fstatSync(LIFELINE_FD).isSocket()) return () => {};
  } catch {
    return () => {}; // fd 3 not open
  }

  const socket = new Socket({ fd: LIFELINE_FD, readable: true, writable: false });
  let stopped = false;
  const lost = (): void => {
    if (stopped) return;
    stopped = true;
    active = undefined;
    if (options.onLost) {
      options.onLost();
      return;
    }
    const rank = process.env[ENV.rank] ?? "?";
    process.stderr.write(`onecopy: rank ${rank}: launcher (pid ${launcherPid}) is gone; exiting\n`);
    const jobDir = process.env[ENV.jobDir];
    if (jobDir && basename(jobDir).startsWith(JOB_DIR_PREFIX)) removeJobDir(jobDir);
    if (leadsOwnProcessGroup()) process.once("exit", () => process.kill(-process.pid, "SIGKILL"));
    process.exit(1);
  };
  socket.on("end", lost);
  socket.on("close", lost);
  socket.on("error", lost);
  // The launcher writes only hang queries; reading is also how EOF is noticed.
  socket.on("data", (bytes: Buffer) => {
    if (bytes.includes(LIFELINE_QUERY)) answerQuery();
  });
  socket.unref();

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    active = undefined;
    lifelineClosed = true;
    socket.destroy();
  };
  active = { stop };
  return stop;
}

let answer: () => object = () => ({ rank: Number(process.env[ENV.rank] ?? -1), blocked: [], progress: 0, inFlight: false });

/** What this rank says when the launcher asks for the hang report (set by init() once joined). */
export function answerHangQueries(f: () => object): void {
  answer = f;
}

function answerQuery(): void {
  let line: string;
  try {
    line = JSON.stringify(answer()) + "\n";
  } catch {
    return;
  }
  tell(Buffer.from(line)); // one short write; if the socket is full, the launcher counts this rank as busy
}

/** Whether this process is the leader of its process group (field 5 of /proc/self/stat). */
function leadsOwnProcessGroup(): boolean {
  return readProcStat("self")?.pgrp === process.pid;
}

/**
 * Tell the launcher how far this rank got in joining the job: `"init"` when init() is called,
 * `"joined"` when it has finished, `"closed"` when its world is closed. One byte on the lifeline; does nothing outside the launcher
 * (or in a process the rank started, which inherits the environment but is not a rank).
 */
export function tellLauncher(news: "init" | "joined" | "closed"): void {
  tell(Buffer.of(news === "init" ? LIFELINE_NEWS.initStarted : news === "joined" ? LIFELINE_NEWS.joined : LIFELINE_NEWS.closed));
}

/** Write `bytes` on the lifeline, synchronously; whether the launcher got them. */
function tell(bytes: Buffer): boolean {
  const launcherPid = Number(process.env[LAUNCHER_ENV.launcherPid]);
  if (!launcherPid || process.ppid !== launcherPid || lifelineClosed) return false;
  try {
    if (!fstatSync(LIFELINE_FD).isSocket()) return false;
  } catch {
    return false; // fd 3 is not ours: nothing to tell
  }
  // fd 3 is non-blocking (the watch reads it): a write can be partial, and a news byte written
  // after half an answer line would be read as part of that line. Finish every write.
  const deadline = Date.now() + 200;
  for (let off = 0; off < bytes.length; ) {
    try {
      off += writeSync(LIFELINE_FD, bytes, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN" || Date.now() > deadline) return false; // the launcher is gone (EPIPE)
    }
  }
  return true;
}

/**
 * End the whole job now (MPI_Abort): tell the launcher (which stops every other rank at once and
 * exits with `code`, naming this rank), then exit with `code`. Outside the launcher it only exits.
 */
export function abortJob(code: number, rank: number): never {
  const c = Number.isInteger(code) && code > 0 && code < 256 ? code : 1;
  if (tell(Buffer.of(LIFELINE_NEWS.abort, c))) {
    // Give the launcher a moment to read the news and stop the job (it signals this rank too), so
    // that it never sees this exit before the reason for it.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
  } else process.stderr.write(`onecopy: rank ${rank} called abort(${c})\n`);
  process.exit(c);
}
