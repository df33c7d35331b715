// `--output-filename DIR`: every rank's stdout and stderr also go to files, in Open MPI's layout,
// so scripts that read `DIR/1/rank.0/stdout` keep working.
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join, resolve } from "node:path";
import { ErrorCode, OnecopyError } from "@onecopy/cma";

/** Open MPI's job number in the path: onecopy runs one job per launcher, always number 1. */
const JOB_NUMBER = "1";

/** Where and how rank output is written to files. */
export interface OutputFiles {
  /** Absolute directory given by the user (before the job-number level). */
  dir: string;
  /** Whether the output is still forwarded to the launcher's stdout/stderr (false: `:nocopy`). */
  copy: boolean;
  /** Whether the `1/` job-number level is used (false: `:nojobid`). */
  jobLevel: boolean;
}

/**
 * Parse `DIR[:directive,...]` (directives `nocopy`, `nojobid`, case-insensitive), resolving DIR
 * against `cwd`. @throws OnecopyError `ERR_INVALID_ARG`
 */
export function parseOutputFilename(value: string, cwd: string): OutputFiles {
  if (typeof value !== "string" || value === "") throw new OnecopyError(ErrorCode.INVALID_ARG, "outputFilename must be a non-empty directory path");
  const colon = value.lastIndexOf(":");
  let dir = value;
  const out: OutputFiles = { dir: "", copy: true, jobLevel: true };
  if (colon > 0) {
    const directives = value.slice(colon + 1).split(",").map((d) => d.trim().toLowerCase());
    if (directives.every((d) => d === "nocopy" || d === "nojobid")) {
      dir = value.slice(0, colon);
      out.copy = !directives.includes("nocopy");
      out.jobLevel = !directives.includes("nojobid");
    } else if (!value.slice(colon + 1).includes("/")) {
      throw new OnecopyError(ErrorCode.INVALID_ARG, `unknown output-filename directive in '${value}' (known: nocopy, nojobid)`);
    }
  }
  out.dir = resolve(cwd, dir);
  return out;
}

/** The directory of rank `rank`'s files in a job of `np` ranks (`DIR/1/rank.07`), as Open MPI pads it. */
export function rankOutputDir(files: OutputFiles, rank: number, np: number): string {
  let digits = 1;
  for (let n = Math.floor(np / 10); n > 0; n = Math.floor(n / 10)) digits++;
  const name = `rank.${String(rank).padStart(digits, "0")}`;
  return files.jobLevel ? join(files.dir, JOB_NUMBER, name) : join(files.dir, name);
}

/** One rank's two output files, open for writing (truncated) while the job runs. */
export class RankOutputFiles {
  readonly stdout: number;
  readonly stderr: number;
  private closed = false;

  /** @throws the file system's error (with its errno `code`) when a file cannot be created. */
  constructor(files: OutputFiles, rank: number, np: number) {
    const dir = rankOutputDir(files, rank, np);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    this.stdout = openSync(join(dir, "stdout"), "w", 0o644);
    try {
      this.stderr = openSync(join(dir, "stderr"), "w", 0o644);
    } catch (err) {
      closeSync(this.stdout);
      throw err;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.stdout);
    closeSync(this.stderr);
  }
}
