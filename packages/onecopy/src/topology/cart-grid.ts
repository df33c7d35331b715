// The coordinate arithmetic of a Cartesian grid (row-major: the last dimension varies fastest,
// as in MPI), apart from any communicator so that it can be checked on its own.
import { ErrorCode, OnecopyError, PROC_NULL } from "@onecopy/rendezvous";

export class CartGrid {
  readonly size: number;

  constructor(
    readonly dims: readonly number[],
    readonly periods: readonly boolean[],
  ) {
    this.size = dims.reduce((p, d) => p * d, 1);
  }

  /** Validated grid from user arguments; `what` names the call in errors. */
  static of(dims: unknown, periods: unknown, what: string): CartGrid {
    const bad = (why: string) => new OnecopyError(ErrorCode.INVALID_ARG, `${what}: ${why}`);
    if (!Array.isArray(dims)) throw bad("dims must be an array of grid sizes, one per dimension");
    for (const d of dims as unknown[]) if (typeof d !== "number" || !Number.isInteger(d) || d < 1) throw bad(`grid size ${String(d)} must be a positive integer (dimsCreate fills in zeros)`);
    if (!Array.isArray(periods) || periods.length !== dims.length) throw bad(`periods must be an array of ${dims.length} booleans (one per dimension)`);
    for (const p of periods as unknown[]) if (typeof p !== "boolean" && p !== 0 && p !== 1) throw bad(`period ${String(p)} must be a boolean`);
    return new CartGrid([...(dims as number[])], (periods as Array<boolean | number>).map(Boolean));
  }

  /** The coordinates of grid rank `rank`. */
  coords(rank: number): number[] {
    if (typeof rank !== "number" || !Number.isInteger(rank) || rank < 0 || rank >= this.size) {
      throw new OnecopyError(ErrorCode.INVALID_RANK, `coords: rank ${String(rank)} is not in the grid (valid: 0 … ${this.size - 1})`);
    }
    const out = new Array<number>(this.dims.length);
    for (let i = this.dims.length - 1; i >= 0; i--) {
      const d = this.dims[i]!;
      out[i] = rank % d;
      rank = Math.floor(rank / d);
    }
    return out;
  }

  /** The rank at `coords`, wrapped in periodic dimensions; null outside a non-periodic one. */
  rankAt(coords: readonly number[]): number | null {
    let r = 0;
    for (let i = 0; i < this.dims.length; i++) {
      const d = this.dims[i]!;
      let c = coords[i]!;
      if (c < 0 || c >= d) {
        if (!this.periods[i]) return null;
        c = ((c % d) + d) % d;
      }
      r = r * d + c;
    }
    return r;
  }

  /** MPI_Cart_rank: like {@link rankAt}, with coded errors for bad or outside coordinates. */
  rankOf(coords: unknown): number {
    if (!Array.isArray(coords) || coords.length !== this.dims.length) {
      throw new OnecopyError(ErrorCode.INVALID_ARG, `rankOf: coordinates must be an array of ${this.dims.length} integers`);
    }
    for (const c of coords as unknown[]) if (typeof c !== "number" || !Number.isInteger(c)) throw new OnecopyError(ErrorCode.INVALID_ARG, `rankOf: coordinate ${String(c)} must be an integer`);
    const r = this.rankAt(coords as number[]);
    if (r === null) {
      throw new OnecopyError(ErrorCode.INVALID_RANK, `rankOf: coordinates [${coords.join(", ")}] are outside the grid [${this.dims.join(", ")}] in a non-periodic dimension`);
    }
    return r;
  }

  /** MPI_Cart_shift from `rank`: who is `disp` steps below (source) and above (dest) along `dim`; PROC_NULL past a non-periodic edge. */
  shift(rank: number, dim: unknown, disp: unknown): { source: number; dest: number } {
    if (typeof dim !== "number" || !Number.isInteger(dim) || dim < 0 || dim >= this.dims.length) {
      throw new OnecopyError(ErrorCode.INVALID_ARG, `shift: dimension ${String(dim)} is not one of the grid's (0 … ${this.dims.length - 1})`);
    }
    if (typeof disp !== "number" || !Number.isInteger(disp)) throw new OnecopyError(ErrorCode.INVALID_ARG, `shift: displacement ${String(disp)} must be an integer`);
    const at = this.coords(rank);
    const moved = (by: number) => {
      const c = [...at];
      c[dim] = c[dim]! + by;
      return this.rankAt(c) ?? PROC_NULL;
    };
    return { source: moved(-disp), dest: moved(disp) };
  }

  /** MPI's neighbour order of `rank`: per dimension, the −1 neighbour then the +1 neighbour (PROC_NULL where there is none). */
  neighbors(rank: number): number[] {
    const out: number[] = [];
    for (let d = 0; d < this.dims.length; d++) {
      const { source, dest } = this.shift(rank, d, 1);
      out.push(source, dest);
    }
    return out;
  }

  /** For sub(remainDims): the color (position over the dropped dimensions) and key (over the kept ones) of `rank`. */
  subKeys(rank: number, remain: readonly boolean[]): { color: number; key: number } {
    const c = this.coords(rank);
    let color = 0;
    let key = 0;
    for (let i = 0; i < this.dims.length; i++) {
      if (remain[i]) key = key * this.dims[i]! + c[i]!;
      else color = color * this.dims[i]! + c[i]!;
    }
    return { color, key };
  }
}
