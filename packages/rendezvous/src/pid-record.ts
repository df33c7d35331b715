// The launcher's record of which process it started as which rank: <jobDir>/<rank>.pid, one
// decimal pid, written (0600, atomically) right after the rank is spawned. The job directory is
// private (0700), so only the job's own user can read or write it. A rank that accepts a
// connection checks the connecting process against this record (see peer-identity.ts).
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Environment variable the launcher sets in every rank to its own pid. A rank that has it was
 * started by the launcher, which records every rank's pid; one without it (started by hand)
 * has no record to check its peers against.
 */
export const LAUNCHER_PID_ENV = "ONECOPY_LAUNCHER_PID";

export function pidRecordPath(jobDir: string, rank: number): string {
  return join(jobDir, `${rank}.pid`);
}

/**
 * Record that `pid` is rank `rank` of the job in `jobDir`. Written to a temporary name and
 * renamed, so a reader sees the whole record or none. Best effort: returns false if the file
 * could not be written (the rank's peers will then refuse it with REJECT_NO_PID_RECORD).
 */
export function writePidRecord(jobDir: string, rank: number, pid: number): boolean {
  const path = pidRecordPath(jobDir, rank);
  const tmp = `${path}.tmp`;
  try {
    writeFileSync(tmp, `${pid}\n`, { mode: 0o600 });
    renameSync(tmp, path);
    return true;
  } catch {
    return false;
  }
}

/** The recorded pid of `rank`, or null if there is no (valid) record yet. */
export function readPidRecordNow(jobDir: string, rank: number): number | null {
  let text: string;
  try {
    text = readFileSync(pidRecordPath(jobDir, rank), "utf8");
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/**
 * The recorded pid of `rank`, waiting up to `waitMs` for it to appear: the launcher spawns
 * ranks one after another, so a higher rank's record can be written a moment after a lower
 * rank is already running.
 */
export async function readPidRecord(jobDir: string, rank: number, waitMs: number): Promise<number | null> {
  const deadline = Date.now() + waitMs;
  let delay = 5;
  for (;;) {
    const pid = readPidRecordNow(jobDir, rank);
    if (pid !== null || Date.now() >= deadline) return pid;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}
