// An io list ([addr0, len0, addr1, len1, …], absolute addresses) as MPI sees a buffer: one
// contiguous piece of at most INT_MAX bytes goes as (address, count, MPI_BYTE); anything else as
// one element of an MPI_Type_create_hindexed type over MPI_BOTTOM, pieces cut at 1 GiB (MPI
// counts are ints). The type is freed right after the call posted: MPI keeps it alive for the
// pending request (MPI_Type_free's rule), so nothing here outlives the post.
import type { Handle, LibMpi } from "./binding.js";

const INT_MAX = 0x7fffffff;
const BLOCK = 1 << 30;

/** Post one operation on `iov`: `post(buffer, count, datatype)` returns its MPI code. */
export function postWithType(mpi: LibMpi, iov: readonly number[], post: (buf: number | null, count: number, type: Handle) => number): number {
  if (iov.length === 0) return post(null, 0, mpi.abi.BYTE);
  if (iov.length === 2 && iov[1]! <= INT_MAX) return post(iov[0]!, iov[1]!, mpi.abi.BYTE);
  const lengths: number[] = [];
  const displacements: bigint[] = [];
  for (let i = 0; i < iov.length; i += 2) {
    for (let at = 0; at < iov[i + 1]!; at += BLOCK) {
      lengths.push(Math.min(BLOCK, iov[i + 1]! - at));
      displacements.push(BigInt(iov[i]! + at));
    }
  }
  const { fn, abi } = mpi;
  const type = mpi.handleSlot();
  const rc = fn.MPI_Type_create_hindexed(lengths.length, Int32Array.from(lengths), BigInt64Array.from(displacements), abi.BYTE, type);
  if (rc !== 0) return rc;
  const committed = fn.MPI_Type_commit(type);
  if (committed !== 0) return committed;
  const posted = post(null, 1, abi.readHandle(type)); // MPI_BOTTOM: the displacements are addresses
  fn.MPI_Type_free(type);
  return posted;
}
