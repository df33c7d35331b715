// Environment variables and file descriptors of the launcher/rank contract that the launcher
// adds to the core set in `@onecopy/rendezvous` (ENV).

/** Launcher-side environment variables beyond the core contract in `@onecopy/rendezvous`. */
export const LAUNCHER_ENV = {
  /** Forced transport: `cma`, `shm` or `socket` (only set when `--transport` is given). */
  transport: "ONECOPY_TRANSPORT",
  /** Pid of the launcher; its presence tells a rank that fd 3 is the launcher lifeline pipe. */
  launcherPid: "ONECOPY_LAUNCHER_PID",
  /**
   * Pid of the launcher again, for the rank preload only: it ties the rank's life to that
   * process and removes the variable, so that the rank's own children (which may inherit the
   * preload through `fork()`'s execArgv) do not take their parent for a launcher.
   */
  rankParent: "ONECOPY_RANK_PARENT",
} as const;

/**
 * The file descriptor of the lifeline pipe in every rank. The launcher holds the other end open
 * and never writes to it; when the launcher dies (even by SIGKILL) the kernel closes it and the
 * rank sees end-of-file. `watchLauncher()` (to be called by the runtime's init()) listens for
 * that; the runtime can also read `ONECOPY_LAUNCHER_PID` to name the launcher in errors.
 */
export const LIFELINE_FD = 3;
