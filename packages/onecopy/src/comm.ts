// The public communicator: point-to-point from @onecopy/rendezvous plus the collectives of
// @onecopy/collectives as methods.
import * as coll from "@onecopy/collectives";
import { block, boundedCollective, Communicator, nextCollective, NO_PEER, Request, userFacing, type WaitOptions } from "@onecopy/rendezvous";
import * as objs from "@onecopy/rendezvous";
import type { ObjectOp } from "@onecopy/rendezvous";
import type { Group } from "@onecopy/rendezvous";
import type { CollBuffer, InPlace, ReduceOp, Win, WindowKind } from "@onecopy/collectives";
import { abortJob } from "./launcher/watch.js";

export { Win, type WindowMode, type WindowStats, type LockType, type AccumulateOp } from "@onecopy/collectives";
export { IN_PLACE, BUILTIN_OPS, COLL_TUNABLES, type ReduceOp, type ReduceFn, type BuiltinOp, type CollBuffer, type InPlace } from "@onecopy/collectives";

import type { CartComm } from "./topology/cart.js";
import { startCart } from "./topology/cart-create.js";

type Counts = ArrayLike<number>;

/**
 * A communicator with MPI collectives. Every rank of the communicator must call the same
 * collectives in the same order. Buffers are typed arrays (counts and displacements are in
 * elements of the array's type) or raw bytes (Buffer, Uint8Array, DataView, ArrayBuffer).
 * Ranks that disagree on element type, counts, operator or root all fail with `ERR_MISMATCH`
 * (none hangs). Large collectives copy each byte once, straight between the ranks' buffers;
 * buffers may be reused as soon as the returned promise settles.
 */
export class Comm extends Communicator {
  protected override derive(ctx: string, group: readonly number[] | null): Comm {
    return new Comm(this.runtime, ctx, group);
  }

  /** A new communicator with the same ranks whose messages never mix with this one's. Collective. */
  override dup(): Promise<Comm> {
    return super.dup() as Promise<Comm>;
  }

  /** Split into disjoint communicators by `color`, ordered by `key` (see {@link Communicator.split}). Collective. */
  override split(color: number | null, key = 0): Promise<Comm | null> {
    return super.split(color, key) as Promise<Comm | null>;
  }

  /**
   * End the whole job now (MPI_Abort): every rank of the job is stopped at once and
   * `onecopy run` exits with `code` (1 to 255; default 1), naming this rank. Never returns.
   */
  abort(code = 1): never {
    return abortJob(code, this.engine.rank);
  }

  /** Resolve once every rank has entered the barrier (dissemination: ceil(log2 n) rounds). */
  barrier(opts?: WaitOptions): Promise<void> {
    return this.run("barrier", () => coll.barrier(this.transport), opts, []);
  }

  /** Copy `buf` of rank `root` into `buf` of every rank (same type and length everywhere). */
  bcast(buf: CollBuffer, root: number, opts?: WaitOptions): Promise<void> {
    return this.run("bcast", () => coll.bcast(this.transport, buf, root), opts, [buf, root]);
  }

  /**
   * Combine every rank's `send` element-wise with `op` into `recv` at `root` (`recv` is ignored
   * elsewhere and may be null). At the root, `send` may be {@link IN_PLACE}: the root's
   * contribution is read from `recv`. A function `op(inout, input)` must be associative; it
   * need not be commutative (contributions are combined in rank order, lower ranks in `inout`).
   */
  reduce(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, op: ReduceOp, root: number, opts?: WaitOptions): Promise<void> {
    return this.run("reduce", () => coll.reduce(this.transport, send, recv, op, root), opts, [send, recv, op, root]);
  }

  /** Combine every rank's `send` with `op` into every rank's `recv` (same length). `send` may be {@link IN_PLACE}. */
  allreduce(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp, opts?: WaitOptions): Promise<void> {
    return this.run("allreduce", () => coll.allreduce(this.transport, send, recv, op), opts, [send, recv, op]);
  }

  /** Collect every rank's `send` (same length) into `recv` at `root`, in rank order. The root may pass {@link IN_PLACE} as `send`. */
  gather(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, root: number, opts?: WaitOptions): Promise<void> {
    return this.run("gather", () => coll.gather(this.transport, send, recv, root), opts, [send, recv, root]);
  }

  /** Collect rank i's `send` (counts[i] elements) into `recv` at displs[i] at `root` (counts/displs/recv are read at the root only). */
  gatherv(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, counts: Counts | null | undefined, displs: Counts | null | undefined, root: number, opts?: WaitOptions): Promise<void> {
    return this.run("gatherv", () => coll.gatherv(this.transport, send, recv, counts, displs, root), opts, [send, recv, counts, displs, root]);
  }

  /** Send block i of `send` at `root` to rank i's `recv` (every block recv.length elements). The root may pass {@link IN_PLACE} as `recv`. */
  scatter(send: CollBuffer | null | undefined, recv: CollBuffer | InPlace, root: number, opts?: WaitOptions): Promise<void> {
    return this.run("scatter", () => coll.scatter(this.transport, send, recv, root), opts, [send, recv, root]);
  }

  /** Send counts[i] elements at displs[i] of `send` at `root` to rank i's `recv` (which must hold at least that many). */
  scatterv(send: CollBuffer | null | undefined, counts: Counts | null | undefined, displs: Counts | null | undefined, recv: CollBuffer | InPlace, root: number, opts?: WaitOptions): Promise<void> {
    return this.run("scatterv", () => coll.scatterv(this.transport, send, counts, displs, recv, root), opts, [send, counts, displs, recv, root]);
  }

  /** Concatenate every rank's `send` (same length) by rank into every rank's `recv`. With {@link IN_PLACE}, rank i's block is already at its place in `recv`. */
  allgather(send: CollBuffer | InPlace, recv: CollBuffer, opts?: WaitOptions): Promise<void> {
    return this.run("allgather", () => coll.allgather(this.transport, send, recv), opts, [send, recv]);
  }

  /** Rank i's `send` (counts[i] elements) lands at displs[i] in every rank's `recv`. Every rank passes the same counts. */
  allgatherv(send: CollBuffer | InPlace, recv: CollBuffer, counts: Counts, displs: Counts, opts?: WaitOptions): Promise<void> {
    return this.run("allgatherv", () => coll.allgatherv(this.transport, send, recv, counts, displs), opts, [send, recv, counts, displs]);
  }

  /** Block j of rank i's `send` lands in block i of rank j's `recv` (n equal blocks each). `send` may be {@link IN_PLACE}. */
  alltoall(send: CollBuffer | InPlace, recv: CollBuffer, opts?: WaitOptions): Promise<void> {
    return this.run("alltoall", () => coll.alltoall(this.transport, send, recv), opts, [send, recv]);
  }

  /**
   * Rank i's sendCounts[j] elements at sendDispls[j] land at recvDispls[i] in rank j's `recv`,
   * whose recvCounts[i] must equal them. With {@link IN_PLACE} as `send`, the send counts and
   * displacements are ignored (pass null) and the data comes from `recv`.
   */
  alltoallv(send: CollBuffer | InPlace, sendCounts: Counts | null | undefined, sendDispls: Counts | null | undefined, recv: CollBuffer, recvCounts: Counts, recvDispls: Counts, opts?: WaitOptions): Promise<void> {
    return this.run("alltoallv", () => coll.alltoallv(this.transport, send, sendCounts, sendDispls, recv, recvCounts, recvDispls), opts, [send, sendCounts, sendDispls, recv, recvCounts, recvDispls]);
  }

  /** Reduce `send` (n blocks of recv.length elements) with `op`; rank i gets block i. In place, `recv` holds all n blocks and the result lands at its start. */
  reduceScatterBlock(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp, opts?: WaitOptions): Promise<void> {
    return this.run("reduceScatterBlock", () => coll.reduceScatterBlock(this.transport, send, recv, op), opts, [send, recv, op]);
  }

  /** Reduce `send` (sum of recvCounts elements) with `op`; rank i gets recvCounts[i] elements. In place, the result lands at the start of `recv`. */
  reduceScatter(send: CollBuffer | InPlace, recv: CollBuffer, recvCounts: Counts, op: ReduceOp, opts?: WaitOptions): Promise<void> {
    return this.run("reduceScatter", () => coll.reduceScatter(this.transport, send, recv, recvCounts, op), opts, [send, recv, recvCounts, op]);
  }

  /** Inclusive prefix reduction: rank i gets send(0) ⊕ … ⊕ send(i). `send` may be {@link IN_PLACE}. */
  scan(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp, opts?: WaitOptions): Promise<void> {
    return this.run("scan", () => coll.scan(this.transport, send, recv, op), opts, [send, recv, op]);
  }

  /** Exclusive prefix reduction: rank i > 0 gets send(0) ⊕ … ⊕ send(i-1); rank 0's `recv` is left untouched. */
  exscan(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp, opts?: WaitOptions): Promise<void> {
    return this.run("exscan", () => coll.exscan(this.transport, send, recv, op), opts, [send, recv, op]);
  }

  // ---- collectives of values (mpi4py's lowercase bcast, gather, …) -----------------------
  // Values travel as sendObject values do (large typed arrays inside them by single copy), on
  // a context of their own. A rank whose local arguments are wrong fails with a coded error and
  // tells the ranks waiting for it, which fail too (the failing rank's code) instead of hanging.

  /** `root`'s `value` on every rank (mpi4py `bcast`); other ranks pass anything (e.g. undefined). */
  bcastObject<T>(value: T | undefined, root: number, opts?: WaitOptions): Promise<T> {
    return this.runObject("bcastObject", () => objs.bcastObject(this, value, root), opts, [value, root]);
  }

  /** Every rank's `value` in rank order at `root`; null on the other ranks (mpi4py `gather`). */
  gatherObject<T>(value: T, root: number, opts?: WaitOptions): Promise<T[] | null> {
    return this.runObject("gatherObject", () => objs.gatherObject(this, value, root), opts, [value, root]);
  }

  /** Every rank's `value` in rank order, on every rank (mpi4py `allgather`). */
  allgatherObject<T>(value: T, opts?: WaitOptions): Promise<T[]> {
    return this.runObject("allgatherObject", () => objs.allgatherObject(this, value), opts, [value]);
  }

  /** Rank i gets `values[i]` of `root`, which passes one value per rank (ignored elsewhere; mpi4py `scatter`). */
  scatterObject<T>(values: T[] | null | undefined, root: number, opts?: WaitOptions): Promise<T> {
    return this.runObject("scatterObject", () => objs.scatterObject(this, values, root), opts, [values, root]);
  }

  /** Rank i's `values[j]` becomes element i of rank j's result (mpi4py `alltoall`). */
  alltoallObject<T>(values: T[], opts?: WaitOptions): Promise<T[]> {
    return this.runObject("alltoallObject", () => objs.alltoallObject(this, values), opts, [values]);
  }

  /**
   * Every rank's value combined in rank order (v0 ⊕ v1 ⊕ … ⊕ vn-1) at `root`; null elsewhere
   * (mpi4py `reduce`). `op` is a function `(a, b) => c` (need not commute), or "sum", "prod",
   * "max", "min" for numbers and bigints.
   */
  reduceObject<T>(value: T, op: ObjectOp<T>, root: number, opts?: WaitOptions): Promise<T | null> {
    return this.runObject("reduceObject", () => objs.reduceObject(this, value, op, root), opts, [value, op, root]);
  }

  /** Like {@link reduceObject}, with the result on every rank (mpi4py `allreduce`). */
  allreduceObject<T>(value: T, op: ObjectOp<T>, opts?: WaitOptions): Promise<T> {
    return this.runObject("allreduceObject", () => objs.allreduceObject(this, value, op), opts, [value, op]);
  }

  // ---- communicators from groups, and Cartesian topologies -------------------------------

  /** A communicator of `group`'s processes in its order; null off the group (see {@link Communicator.create}). Collective. */
  override create(group: Group): Promise<Comm | null> {
    return super.create(group) as Promise<Comm | null>;
  }

  /** All ranks, on a context of their own (every rank here shares memory; see {@link Communicator.splitType}). Collective. */
  override splitType(type: "shared"): Promise<Comm> {
    return super.splitType(type) as Promise<Comm>;
  }

  /**
   * A communicator whose first product(dims) ranks form a Cartesian grid (MPI_Cart_create),
   * in rank order (`reorder` is accepted and ignored: every rank is on one machine); `periods`
   * says which dimensions wrap. Collective; null on the ranks beyond the grid. `dimsCreate`
   * chooses balanced dims.
   */
  async createCart(dims: readonly number[], periods: readonly boolean[], reorder = false): Promise<CartComm | null> {
    const { grid, part } = startCart(this, dims, periods, reorder);
    const [{ CartComm }, comm] = await Promise.all([import("./topology/cart.js"), part]); // cart.ts extends this class
    return comm ? CartComm.over(comm as Comm, grid) : null;
  }

  // ---- one-sided communication (RMA windows) --------------------------------------------
  // Creation is collective. put/get/accumulate then reach any rank's part of the window with
  // no action by that rank (single copy, or shared-memory atomics); see Win.

  /**
   * A window over memory this rank already has (`buffer`: a typed array, Buffer, DataView or
   * ArrayBuffer, possibly empty). It stays exposed, and must not be moved or transferred,
   * until `win.free()` completes. Collective.
   */
  winCreate(buffer: CollBuffer, opts?: WaitOptions): Promise<Win> {
    return this.window("winCreate", "create", buffer, opts);
  }

  /** A window of `bytes` zeroed bytes allocated by onecopy (huge pages where offered), as `win.memory`. Collective. */
  winAllocate(bytes: number, opts?: WaitOptions): Promise<Win> {
    return this.window("winAllocate", "allocate", bytes, opts);
  }

  /**
   * A window whose parts (`bytes` on this rank) all live in one shared-memory segment:
   * `win.sharedQuery(rank)` is a direct load/store view of any rank's part, and accumulates
   * are lock-free atomics on the memory. Collective.
   */
  winAllocateShared(bytes: number, opts?: WaitOptions): Promise<Win> {
    return this.window("winAllocateShared", "shared", bytes, opts);
  }

  private window(what: string, kind: WindowKind, arg: unknown, opts: WaitOptions | undefined): Promise<Win> {
    return this.runObject(what, () => this.transport.collective(() => coll.createWindow(this.transport, kind, arg)), opts, [arg]);
  }

  // ---- non-blocking collectives ----------------------------------------------------------
  // Each starts at once and returns a Request (await it, or poll with test()). Collectives on
  // one communicator match in call order, as in MPI: every rank must start them in the same
  // order; several may be in flight at once. Buffers belong to the collective until it completes.

  /** Non-blocking {@link barrier} (MPI_Ibarrier). */
  ibarrier(): Request<void> {
    return this.start(() => this.barrier());
  }

  /** Non-blocking {@link bcast} (MPI_Ibcast). */
  ibcast(buf: CollBuffer, root: number): Request<void> {
    return this.start(() => this.bcast(buf, root));
  }

  /** Non-blocking {@link reduce} (MPI_Ireduce). */
  ireduce(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, op: ReduceOp, root: number): Request<void> {
    return this.start(() => this.reduce(send, recv, op, root));
  }

  /** Non-blocking {@link allreduce} (MPI_Iallreduce). */
  iallreduce(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp): Request<void> {
    return this.start(() => this.allreduce(send, recv, op));
  }

  /** Non-blocking {@link gather} (MPI_Igather). */
  igather(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, root: number): Request<void> {
    return this.start(() => this.gather(send, recv, root));
  }

  /** Non-blocking {@link gatherv} (MPI_Igatherv). */
  igatherv(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, counts: Counts | null | undefined, displs: Counts | null | undefined, root: number): Request<void> {
    return this.start(() => this.gatherv(send, recv, counts, displs, root));
  }

  /** Non-blocking {@link scatter} (MPI_Iscatter). */
  iscatter(send: CollBuffer | null | undefined, recv: CollBuffer | InPlace, root: number): Request<void> {
    return this.start(() => this.scatter(send, recv, root));
  }

  /** Non-blocking {@link scatterv} (MPI_Iscatterv). */
  iscatterv(send: CollBuffer | null | undefined, counts: Counts | null | undefined, displs: Counts | null | undefined, recv: CollBuffer | InPlace, root: number): Request<void> {
    return this.start(() => this.scatterv(send, counts, displs, recv, root));
  }

  /** Non-blocking {@link allgather} (MPI_Iallgather). */
  iallgather(send: CollBuffer | InPlace, recv: CollBuffer): Request<void> {
    return this.start(() => this.allgather(send, recv));
  }

  /** Non-blocking {@link allgatherv} (MPI_Iallgatherv). */
  iallgatherv(send: CollBuffer | InPlace, recv: CollBuffer, counts: Counts, displs: Counts): Request<void> {
    return this.start(() => this.allgatherv(send, recv, counts, displs));
  }

  /** Non-blocking {@link alltoall} (MPI_Ialltoall). */
  ialltoall(send: CollBuffer | InPlace, recv: CollBuffer): Request<void> {
    return this.start(() => this.alltoall(send, recv));
  }

  /** Non-blocking {@link alltoallv} (MPI_Ialltoallv). */
  ialltoallv(send: CollBuffer | InPlace, sendCounts: Counts | null | undefined, sendDispls: Counts | null | undefined, recv: CollBuffer, recvCounts: Counts, recvDispls: Counts): Request<void> {
    return this.start(() => this.alltoallv(send, sendCounts, sendDispls, recv, recvCounts, recvDispls));
  }

  /** Non-blocking {@link reduceScatterBlock} (MPI_Ireduce_scatter_block). */
  ireduceScatterBlock(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp): Request<void> {
    return this.start(() => this.reduceScatterBlock(send, recv, op));
  }

  /** Non-blocking {@link reduceScatter} (MPI_Ireduce_scatter). */
  ireduceScatter(send: CollBuffer | InPlace, recv: CollBuffer, recvCounts: Counts, op: ReduceOp): Request<void> {
    return this.start(() => this.reduceScatter(send, recv, recvCounts, op));
  }

  /** Non-blocking {@link scan} (MPI_Iscan). */
  iscan(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp): Request<void> {
    return this.start(() => this.scan(send, recv, op));
  }

  /** Non-blocking {@link exscan} (MPI_Iexscan). */
  iexscan(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp): Request<void> {
    return this.start(() => this.exscan(send, recv, op));
  }

  /** Start a collective now (it takes its tags synchronously, so call order is matching order) as a Request. */
  private start(f: () => Promise<void>): Request<void> {
    const req = new Request<void>();
    f().then(
      () => req.resolve(),
      (e: Error) => req.reject(e),
    );
    return req;
  }

  /** Run collective `what` bounded by `opts` (see boundedCollective); synchronous errors (a closed communicator) become rejections. */
  private run(what: string, f: () => Promise<void>, opts: WaitOptions | undefined, keep: unknown[]): Promise<void> {
    try {
      return userFacing(boundedCollective(this.transport, what, f, opts, keep), block(what, this, NO_PEER, -1, nextCollective(this)));
    } catch (err) {
      return userFacing(Promise.reject(err));
    }
  }

  private runObject<T>(what: string, f: () => Promise<T>, opts: WaitOptions | undefined, keep: unknown[]): Promise<T> {
    try {
      return userFacing(boundedCollective(this.transport, what, f, opts, keep), block(what, this, NO_PEER, -1, nextCollective(this)));
    } catch (err) {
      return userFacing(Promise.reject(err));
    }
  }
}
