// Cartesian communicators (MPI_Cart_create and friends): a Comm whose ranks sit on a grid.
import { ErrorCode, OnecopyError, type RuntimeHandle } from "@onecopy/rendezvous";
import type { CollBuffer } from "@onecopy/collectives";
import { Comm } from "../comm.js";
import { CartGrid } from "./cart-grid.js";
import { neighborAllgather, neighborAlltoall } from "./neighbor.js";

/**
 * A communicator whose ranks sit on a Cartesian grid (row-major: rank = ((c0 · d1) + c1) · d2 + …,
 * as in MPI), made by {@link Comm.createCart}. It has every method of {@link Comm} (its
 * collectives run over all of its ranks), plus coordinates, shifts and neighbour collectives.
 */
export class CartComm extends Comm {
  private readonly grid: CartGrid;

  /** @internal Use `comm.createCart()`. */
  constructor(runtime: RuntimeHandle, ctx: string, group: readonly number[] | null, grid: CartGrid) {
    super(runtime, ctx, group);
    this.grid = grid;
  }

  /** @internal A Cartesian view of `comm` (same context and ranks). */
  static over(comm: Comm, grid: CartGrid): CartComm {
    return new CartComm(comm.runtime, comm.ctx, comm.group, grid);
  }

  /** Size of the grid in each dimension. */
  get dims(): number[] {
    return [...this.grid.dims];
  }

  /** Whether each dimension wraps around. */
  get periods(): boolean[] {
    return [...this.grid.periods];
  }

  /** Number of dimensions. */
  get ndims(): number {
    return this.grid.dims.length;
  }

  /** The grid coordinates of `rank` (default: this rank) (MPI_Cart_coords). */
  coords(rank: number = this.rank): number[] {
    return this.grid.coords(rank);
  }

  /** The rank at `coords` (MPI_Cart_rank); periodic dimensions wrap, outside a non-periodic one is `ERR_INVALID_RANK`. */
  rankOf(coords: readonly number[]): number {
    return this.grid.rankOf(coords);
  }

  /**
   * The ranks `disp` steps along dimension `dim` (MPI_Cart_shift): `source` is the one below,
   * `dest` the one above; PROC_NULL past the edge of a non-periodic dimension. Ready to pass to
   * `sendrecv(data, dest, tag, into, source)`.
   */
  shift(dim: number, disp: number): { source: number; dest: number } {
    return this.grid.shift(this.rank, dim, disp);
  }

  /** Neighbours in MPI's order: per dimension, the −1 one then the +1 one (PROC_NULL where there is none). */
  neighbors(): number[] {
    return this.grid.neighbors(this.rank);
  }

  /**
   * The sub-grids that keep the dimensions where `remainDims` is true (MPI_Cart_sub): this rank
   * gets the one through its own coordinates. Collective.
   */
  async sub(remainDims: readonly boolean[]): Promise<CartComm> {
    this.checkOpen("sub");
    if (!Array.isArray(remainDims) || remainDims.length !== this.ndims || !remainDims.every((x) => typeof x === "boolean")) {
      throw new OnecopyError(ErrorCode.INVALID_ARG, `sub: remainDims must be an array of ${this.ndims} booleans (true: keep that dimension)`);
    }
    const { color, key } = this.grid.subKeys(this.rank, remainDims);
    const part = (await this.split(color, key))!;
    const keep = (_: unknown, i: number) => remainDims[i];
    return CartComm.over(part, new CartGrid(this.grid.dims.filter(keep), this.grid.periods.filter(keep)));
  }

  /** The same grid on a context of its own. Collective. */
  override async dup(): Promise<CartComm> {
    return CartComm.over(await super.dup(), this.grid);
  }

  /**
   * Every neighbour's `send` lands in its slot of `recv` (MPI_Neighbor_allgather): `recv` holds
   * 2 × ndims blocks of send's size, in neighbour order; the block of a PROC_NULL neighbour is
   * left untouched. Collective; large blocks move by single copy.
   */
  neighborAllgather(send: CollBuffer, recv: CollBuffer): Promise<void> {
    try {
      return neighborAllgather(this, this.grid, send, recv);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Block k of `send` goes to neighbour k, whose block for this rank lands in block k of `recv`
   * (MPI_Neighbor_alltoall): both hold 2 × ndims equal blocks in neighbour order; blocks of
   * PROC_NULL neighbours are neither sent nor written. Collective.
   */
  neighborAlltoall(send: CollBuffer, recv: CollBuffer): Promise<void> {
    try {
      return neighborAlltoall(this, this.grid, send, recv);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
