// Names of shared-memory segments this process created and its peer has not mapped (and so not
// unlinked) yet: removed at exit, so a process that ends first leaves nothing in /dev/shm.
import { unlinkShmSegment } from "@onecopy/cma";

const liveNames = new Set<string>();
let exitHook = false;

/** Remember `name` until {@link untrackName}; unlinked at exit if still here. */
export function trackName(name: string): void {
  liveNames.add(name);
  if (!exitHook) {
    exitHook = true;
    process.on("exit", () => {
      for (const n of liveNames) unlinkShmSegment(n);
    });
  }
}

/** The peer mapped (and unlinked) `name`, or it was removed otherwise. */
export function untrackName(name: string): void {
  liveNames.delete(name);
}
