// A process's line in /proc/<pid>/stat, read the one safe way: the command name may hold spaces
// and parentheses, so the fields are split after its last ")".
import { readFileSync } from "node:fs";

/** The fields of /proc/<pid>/stat that onecopy reads. */
export interface ProcStat {
  /** R, S, D, Z (zombie), X (dead), ... */
  state: string;
  ppid: number;
  /** Process group. */
  pgrp: number;
  /** Foreground process group of its controlling terminal (-1 without one). */
  tpgid: number;
}

/** /proc/<pid>/stat of `pid` ("self" for this process), or null where it cannot be read. */
export function readProcStat(pid: number | "self"): ProcStat | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // state ppid pgrp session tty_nr tpgid ...
  return { state: f[0] ?? "", ppid: Number(f[1]), pgrp: Number(f[2]), tpgid: Number(f[5]) };
}
