// The contract between the launcher and the ranks it starts: everything a rank learns about
// its job comes through these environment variables.

/** Environment variable names set by `onecopy run` / `launch()` for every rank. */
export const ENV = {
  /** This process's rank in the world, 0 … size-1. */
  rank: "ONECOPY_RANK",
  /** Number of ranks in the job. */
  size: "ONECOPY_SIZE",
  /** Private job directory (mode 0700) holding the ranks' Unix sockets. */
  jobDir: "ONECOPY_JOB_DIR",
  /** Random job token; a connection that does not present it is refused. */
  token: "ONECOPY_JOB_TOKEN",
  /** `0` disables single-copy transfers (the launcher's `--no-cma`). */
  cma: "ONECOPY_CMA",
  /** Largest message sent eagerly (inline on the socket), in bytes. */
  eagerLimit: "ONECOPY_EAGER_LIMIT",
  /** Transport of large messages: `cma` (default: CMA, shared memory where CMA is denied), `shm` or `socket`. */
  transport: "ONECOPY_TRANSPORT",
} as const;
