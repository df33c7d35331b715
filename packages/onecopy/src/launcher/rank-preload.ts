// Loaded into every rank before its script (`node --import <this> script`): from here on the
// kernel SIGKILLs the rank the moment its launcher dies, even while it spins in synchronous code
// that never returns to the event loop (where the lifeline of watch.ts is noticed).
//
// Why SIGKILL: the launcher is gone, so nobody is left to read the rank's output or exit status,
// and any catchable signal could be held up: a JS handler only runs from the event loop, so a
// rank with a SIGTERM handler that is busy computing would live on. Cleanup (the job directory,
// shared-memory segments, the processes the ranks started) is done by the job guardian
// (guardian.ts), which outlives the launcher for exactly that purpose.
//
// PDEATHSIG fires when the *thread* that forked the rank exits. Node spawns children from the
// JS thread that calls spawn() (libuv's uv_spawn forks right there), and the launcher spawns
// process.execPath itself, so that thread is the launcher's main thread (or the worker thread
// running launch(), whose end also ends the job). A launcher that died before this runs is
// caught by the parent check: the rank is then already reparented.
import { LAUNCHER_ENV } from "./env.js";

const launcherPid = Number(process.env[LAUNCHER_ENV.rankParent]);
delete process.env[LAUNCHER_ENV.rankParent]; // for this process only, not its children

if (Number.isInteger(launcherPid) && launcherPid > 0) {
  const { setParentDeathSignal } = await import("@onecopy/cma");
  setParentDeathSignal("SIGKILL"); // best effort: without it, watch.ts and the guardian remain
  if (process.ppid !== launcherPid) {
    process.stderr.write(`onecopy: rank ${process.env.ONECOPY_RANK ?? "?"}: launcher (pid ${launcherPid}) is gone; exiting\n`);
    process.exit(1);
  }
}
