// Wall-clock time for timing code (MPI_Wtime, MPI_Wtick): monotonic, in seconds.
const origin = process.hrtime.bigint();

/** Seconds elapsed since an arbitrary fixed point of this process; monotonic (never goes back), nanosecond resolution. */
export function wtime(): number {
  return Number(process.hrtime.bigint() - origin) / 1e9;
}

/** Resolution of {@link wtime} in seconds (1e-9: it counts nanoseconds). */
export function wtick(): number {
  return 1e-9;
}
