// The job's private directory: where ranks create their Unix sockets. Created mode 0700 so no
// other user can connect (or even see the socket names), removed however the job ends.
import { accessSync, chmodSync, constants, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Name prefix of job directories. */
export const JOB_DIR_PREFIX = "onecopy-";

// A Unix socket path must fit in sun_path (108 bytes). Leave room for "/onecopy-XXXXXX/" and a
// socket name, and fall back to /tmp when the preferred base directory is too deep.
const MAX_BASE_LENGTH = 64;

function usableBase(dir: string | undefined): boolean {
  if (!dir || dir.length > MAX_BASE_LENGTH) return false;
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The directory job directories are created in: `$XDG_RUNTIME_DIR` if set and writable (a
 * per-user tmpfs on systemd machines), else `os.tmpdir()`, else `/tmp`.
 */
export function jobDirBase(env: NodeJS.ProcessEnv = process.env): string {
  for (const candidate of [env.XDG_RUNTIME_DIR, tmpdir(), "/tmp"]) {
    if (usableBase(candidate)) return candidate!;
  }
  return tmpdir();
}

/** Create a fresh private job directory (`<base>/onecopy-XXXXXX`, mode 0700) and return its path. */
export function createJobDir(base: string = jobDirBase()): string {
  const dir = mkdtempSync(join(base, JOB_DIR_PREFIX));
  chmodSync(dir, 0o700); // mkdtemp already uses 0700; make it explicit whatever the umask
  return dir;
}

/** Remove a job directory and everything in it. Synchronous (usable from a process 'exit' handler); never throws. */
export function removeJobDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    // best effort: nothing useful to do if it cannot be removed
  }
}
