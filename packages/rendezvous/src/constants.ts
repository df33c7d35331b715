/** Receive from any rank. */
export const ANY_SOURCE = -1;
/** Receive any tag. */
export const ANY_TAG = -1;
/** Largest tag a user may send with (MPI's TAG_UB). */
export const TAG_UB = 0x3fffffff;
/** A rank that means "nobody": sends to it and receives from it complete at once, moving nothing. */
export const PROC_NULL = -2;
