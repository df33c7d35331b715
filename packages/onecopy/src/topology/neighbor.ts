// Neighbour collectives of a Cartesian communicator (MPI_Neighbor_allgather/alltoall): each rank
// exchanges one block with each neighbour in MPI's order (per dimension, −1 then +1), by
// point-to-point messages on a context of their own, so large blocks move by single copy.
// A block for a PROC_NULL neighbour is neither sent nor received (it stays as it was).
//
// The tag of a message is the slot it lands in at the receiver: what I send to my +1 neighbour
// along d arrives from its −1 neighbour (slot 2d), and the other way round. With a periodic
// dimension of size 1 or 2 both neighbours are the same rank, and the tags keep them apart.
import { ErrorCode, OnecopyError, PROC_NULL, type Communicator, type Request } from "@onecopy/rendezvous";
import type { CollBuffer } from "@onecopy/collectives";
import type { CartGrid } from "./cart-grid.js";

function bytesOf(b: unknown, what: string): Uint8Array {
  if (b instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && b instanceof SharedArrayBuffer)) return new Uint8Array(b);
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  throw new OnecopyError(ErrorCode.INVALID_BUFFER, `${what}: expected a typed array, DataView or ArrayBuffer, got ${b === null ? "null" : typeof b}`);
}

const slotOfPeer = (slot: number) => slot ^ 1; // −1 ↔ +1 within one dimension

/** Move `sendBlock(k)` to neighbour k and receive neighbour k's block into `recvBlock(k)`. */
async function exchange(comm: Communicator, grid: CartGrid, sendBlock: (k: number) => Uint8Array, recvBlock: (k: number) => Uint8Array): Promise<void> {
  const nbrs = grid.neighbors(comm.rank);
  const engine = comm.engine;
  const ctx = `${comm.ctx}|n`;
  const reqs: Array<Request<unknown>> = [];
  for (let k = 0; k < nbrs.length; k++) {
    if (nbrs[k] === PROC_NULL) continue;
    const b = recvBlock(k);
    reqs.push(engine.irecv(ctx, comm.group[nbrs[k]!]!, k, [b], b.byteLength));
  }
  for (let k = 0; k < nbrs.length; k++) {
    if (nbrs[k] === PROC_NULL) continue;
    const b = sendBlock(k);
    reqs.push(engine.isend(ctx, comm.group[nbrs[k]!]!, slotOfPeer(k), [b], b.byteLength));
  }
  await Promise.all(reqs.map((r) => r.wait()));
}

/** Every neighbour's `send` into its slot of `recv` (2 × ndims blocks of send's size). */
export function neighborAllgather(comm: Communicator, grid: CartGrid, send: CollBuffer, recv: CollBuffer): Promise<void> {
  comm.checkOpen("neighborAllgather");
  const s = bytesOf(send, "neighborAllgather send");
  const r = bytesOf(recv, "neighborAllgather recv");
  const k = 2 * grid.dims.length;
  if (r.byteLength !== k * s.byteLength) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `neighborAllgather: recv must hold ${k} blocks of the send's ${s.byteLength} bytes (${k * s.byteLength} bytes), not ${r.byteLength}`);
  }
  const n = s.byteLength;
  return exchange(comm, grid, () => s, (i) => r.subarray(i * n, (i + 1) * n));
}

/** Block k of `send` to neighbour k; neighbour k's block into block k of `recv` (2 × ndims equal blocks each). */
export function neighborAlltoall(comm: Communicator, grid: CartGrid, send: CollBuffer, recv: CollBuffer): Promise<void> {
  comm.checkOpen("neighborAlltoall");
  const s = bytesOf(send, "neighborAlltoall send");
  const r = bytesOf(recv, "neighborAlltoall recv");
  const k = 2 * grid.dims.length;
  if (k === 0) return Promise.resolve();
  const unit = ArrayBuffer.isView(send) && "BYTES_PER_ELEMENT" in send ? (send as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT : 1;
  if ((s.byteLength / unit) % k !== 0 || r.byteLength !== s.byteLength) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `neighborAlltoall: send and recv must each hold ${k} equal blocks of whole elements (one per neighbour); got ${s.byteLength / unit} and ${r.byteLength / unit} elements`);
  }
  const n = s.byteLength / k;
  return exchange(comm, grid, (i) => s.subarray(i * n, (i + 1) * n), (i) => r.subarray(i * n, (i + 1) * n));
}
