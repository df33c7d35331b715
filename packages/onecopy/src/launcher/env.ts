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
  /**
   * Where the launcher pinned this rank (`--bind-to`): the target and the CPU list, e.g.
   * `core:2` or `hwthread:5`. Unset when ranks are not bound. `onecopy info` shows it.
   */
  binding: "ONECOPY_BINDING",
} as const;

/**
 * The file descriptor of the lifeline pipe in every rank. The launcher holds the other end open
 * and writes to it only to ask for the hang report (LIFELINE_QUERY); when the launcher dies (even by SIGKILL) the kernel closes it and the
 * rank sees end-of-file. `watchLauncher()` (called by init()) listens for that. The rank writes
 * one byte of {@link LIFELINE_NEWS} when it starts joining the job and one when it has joined,
 * so the launcher can tell a rank that left before joining (while others wait for it) from a
 * plain script that never meant to join.
 */
export const LIFELINE_FD = 3;

/** The bytes a rank writes on its lifeline. */
export const LIFELINE_NEWS = {
  /** init() was called: this rank now waits in start-up for all the others. */
  initStarted: 0x53, // "S"
  /** init() finished: this rank is connected to every other rank. */
  joined: 0x4a, // "J"
  /** The world was closed (close(), or the program ran out of work): an exit after this is a clean one. */
  closed: 0x43, // "C"
  /** comm.abort(code): the next byte is the exit code; the launcher stops the whole job now. */
  abort: 0x41, // "A"
  /** The answer to a hang query: one line of JSON (a HangAnswer), this byte its opening brace, ending with "\n". */
  answer: 0x7b, // "{"
} as const;

/**
 * The byte the launcher writes on a rank's lifeline to ask what it is blocked in (the hang
 * report): the rank answers with one line of JSON (LIFELINE_NEWS.answer) when its event loop is free.
 */
export const LIFELINE_QUERY = 0x3f; // "?"
