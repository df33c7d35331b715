// The parent-death signal (prctl PR_SET_PDEATHSIG): have the kernel signal this process the
// moment the thread that forked it exits, however it exits (SIGKILL included), with no help
// from this process's event loop.
import { constants as osConstants } from "node:os";
import { libc } from "./libc.js";

const PR_SET_PDEATHSIG = 1;

/**
 * Ask the kernel to send `signal` to this process when its parent dies. Linux only; returns
 * false where it cannot be set (no koffi, not Linux, an unknown signal).
 *
 * The signal fires when the parent *thread* that forked this process exits (for a Node parent:
 * the JS thread that called `spawn`, normally the main thread), and it is not inherited by this
 * process's own children. If the parent died before this call, nothing will ever fire: check
 * `process.ppid` afterwards.
 */
export function setParentDeathSignal(signal: NodeJS.Signals): boolean {
  const signo = (osConstants.signals as Record<string, number | undefined>)[signal];
  if (signo === undefined) return false;
  const lib = libc();
  if (!lib) return false;
  return (lib.prctl(PR_SET_PDEATHSIG, "long", signo, "long", 0, "long", 0, "long", 0) as number) === 0;
}
