// MPI_Cart_create's collective step, apart from CartComm (which extends Comm, so comm.ts may not
// import it at load time): validate, then split at once, so that the new context is taken in
// call order as every communicator constructor's is.
import { ErrorCode, OnecopyError, type Communicator } from "@onecopy/rendezvous";
import { CartGrid } from "./cart-grid.js";

/** Ranks 0 … product(dims)−1 of `comm` form the grid, in rank order; the others get null. */
export function startCart<C extends Communicator>(comm: C, dims: unknown, periods: unknown, reorder: unknown): { grid: CartGrid; part: Promise<Communicator | null> } {
  comm.checkOpen("createCart");
  const grid = CartGrid.of(dims, periods, "createCart");
  if (typeof reorder !== "boolean") throw new OnecopyError(ErrorCode.INVALID_ARG, `createCart: reorder must be a boolean`);
  if (grid.size > comm.size) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `createCart: a grid of [${grid.dims.join(", ")}] needs ${grid.size} ranks; this communicator has ${comm.size}`);
  }
  return { grid, part: comm.split(comm.rank < grid.size ? 0 : null, comm.rank) };
}
