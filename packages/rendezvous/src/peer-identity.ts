// Is the process on the other end of a connection the one the launcher started as the rank it
// claims? The kernel says which pid connected (SO_PEERCRED); the launcher's record says which
// pid it started as that rank; /proc says how the two are related.
import { RejectCode, type RejectCodeValue } from "./handshake.js";
import { pidRecordPath, readPidRecord } from "./pid-record.js";
import { readProcStat } from "@onecopy/cma";

export type Verdict = { ok: true } | { ok: false; code: RejectCodeValue; reason: string };

/** Parent pid of `pid` (from /proc/<pid>/stat), or null if the process cannot be seen. */
export function parentPidOf(pid: number): number | null {
  const ppid = readProcStat(pid)?.ppid;
  return ppid !== undefined && Number.isInteger(ppid) ? ppid : null;
}

/** Whether `pid` is `ancestor` itself or a process it started (up to 16 generations down). */
export function isSelfOrDescendant(pid: number, ancestor: number): boolean {
  let cur: number | null = pid;
  for (let depth = 0; depth < 16 && cur !== null && cur > 1; depth++) {
    if (cur === ancestor) return true;
    cur = parentPidOf(cur);
  }
  return false;
}

/**
 * Check that process `pid` (as the kernel reported it for the connection) may be rank `rank`:
 * the launcher (pid `launcherPid`) recorded a pid for that rank, that pid is still the
 * launcher's child (so it has not exited and been reused), and `pid` is that process or one it
 * started (a rank may re-execute itself, e.g. under `unshare`).
 *
 * The launcher's child cannot be reaped, and its pid reused, without the launcher noticing the
 * exit; while its parent is the launcher, the recorded pid names the process the launcher
 * started. That makes the check free of pid-reuse races without a pidfd.
 */
export async function checkLaunchedAs(jobDir: string, rank: number, pid: number, launcherPid: number, waitMs: number): Promise<Verdict> {
  const recorded = await readPidRecord(jobDir, rank, waitMs);
  if (recorded === null) {
    return {
      ok: false,
      code: RejectCode.NO_PID_RECORD,
      reason: `the launcher has no pid on record for rank ${rank} (${pidRecordPath(jobDir, rank)}, waited ${waitMs} ms)`,
    };
  }
  if (parentPidOf(recorded) !== launcherPid) {
    return {
      ok: false,
      code: RejectCode.NOT_LAUNCHED,
      reason: `rank ${rank} was started as pid ${recorded}, which is no longer a child of the launcher (pid ${launcherPid})`,
    };
  }
  if (!isSelfOrDescendant(pid, recorded)) {
    return {
      ok: false,
      code: RejectCode.NOT_LAUNCHED,
      reason: `pid ${pid} is not rank ${rank}: the launcher started rank ${rank} as pid ${recorded}, and pid ${pid} is neither that process nor one it started`,
    };
  }
  return { ok: true };
}
