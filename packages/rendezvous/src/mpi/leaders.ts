// What the hierarchical collectives (packages/onecopy) need of MPI: where every world rank
// lives (node index, rank within the node) and the collectives among the node leaders (node
// rank 0 of each node), non-blocking (MPI_Iallreduce, MPI_Ibcast, MPI_Ibarrier on a
// communicator of the leaders) and completed by the same progress loop as point-to-point.

/** Element types the leaders reduce through MPI. */
export type LeaderType = "float64" | "float32" | "int32";
/** Reduction operators the leaders apply through MPI. */
export type LeaderOp = "sum" | "prod" | "min" | "max";

export interface LeaderCollectives {
  /** Number of nodes. */
  readonly nodes: number;
  /** World rank → index of its node (nodes ordered by their lowest world rank). */
  readonly nodeOf: readonly number[];
  /** World rank → its rank among its node's ranks (in world-rank order). */
  readonly nodeRankOf: readonly number[];
  /** This rank is its node's leader (node rank 0). */
  readonly leader: boolean;
  /**
   * Leaders only: reduce `view` in place over every node's leader (MPI_IN_PLACE), or, given `send`
   * (same length, another buffer), every leader's `send` into its `view`. By the blocking
   * MPI_Allreduce (ONECOPY_MPI_BLOCKING_ALLREDUCE), unless `overlap` asks for MPI_Iallreduce so that
   * the caller's other work goes on meanwhile.
   */
  allreduce(view: ArrayBufferView, type: LeaderType, op: LeaderOp, send?: ArrayBufferView, overlap?: boolean): Promise<void>;
  /** Leaders only: reduce every leader's `view` into the `view` of node `rootNode`'s leader (MPI_Ireduce, MPI_IN_PLACE there). */
  reduce(view: ArrayBufferView, type: LeaderType, op: LeaderOp, rootNode: number): Promise<void>;
  /**
   * Leaders only: every leader's `mine` (its node's block) into `all`, node after node
   * (MPI_Iallgatherv; `counts[k]` bytes from node k; each fits an int).
   */
  allgather(mine: Uint8Array, all: Uint8Array, counts: readonly number[]): Promise<void>;
  /** Leaders only: like {@link allgather}, into `all` at the leader of node `rootNode` only (MPI_Igatherv; `all` null elsewhere). */
  gather(mine: Uint8Array, all: Uint8Array | null, counts: readonly number[], rootNode: number): Promise<void>;
  /** Leaders only: `view` of the leader of node `rootNode` into every leader's `view` (MPI_Ibcast). */
  bcast(view: ArrayBufferView, rootNode: number): Promise<void>;
  /** Leaders only: MPI_Ibarrier among the leaders. */
  barrier(): Promise<void>;
}
