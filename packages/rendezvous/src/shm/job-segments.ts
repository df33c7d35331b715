// Removing a job's leftover shared-memory segments (for the launcher, after all ranks exited).
import { readdirSync } from "node:fs";
import { SHM_DIR, unlinkShmSegment } from "@onecopy/cma";
import { jobKeyOf, segmentPrefix } from "./segment-layout.js";

/**
 * Remove every segment file the job with `token` left in /dev/shm and return their names. Ranks
 * unlink their segments as soon as the peer has mapped them, and a surviving peer removes the
 * names of a dead one; a file remains only if both ranks of a pair died (SIGKILL, or SIGTERM
 * without an exit handler) between creating and mapping it. Never throws.
 */
export function removeJobSegments(token: string): string[] {
  const prefix = segmentPrefix(jobKeyOf(token));
  let names: string[];
  try {
    names = readdirSync(SHM_DIR).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
  return names.filter((n) => unlinkShmSegment(n));
}
