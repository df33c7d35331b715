// Collectives over values (mpi4py's lowercase bcast/gather/…): each value travels as a
// sendObject value does (object-messages.ts: msgpack skeleton, large typed arrays by single
// copy), on a context of the communicator's own (`<ctx>|v`) so that they never match user
// messages, with one tag per call (every rank calls collectives in the same order).
//
// Every message is an envelope: [0, value], or [1, code, message] from a rank that could not
// take part (bad local arguments, a failing reduction at the root). A rank that fails tells
// every rank that would wait for it, so a mistake on one rank is an error everywhere, not a hang.
import { PROC_NULL } from "./constants.js";
import type { Communicator } from "./communicator.js";
import { ErrorCode, MessagingError, type ErrorCodeValue } from "./errors.js";
import { receiveValue, sendValue } from "./object-messages.js";

/** The built-in operators of {@link reduceObject}, for numbers and bigints. */
export const OBJECT_OPS = ["sum", "prod", "max", "min"] as const;
/** A reduction of values: a function combining two values (called in rank order), or a built-in name. */
export type ObjectOp<T> = ((a: T, b: T) => T) | (typeof OBJECT_OPS)[number];

type Envelope = [0, unknown] | [1, string, string];

const calls = new WeakMap<Communicator, number>();

/** One object collective call on `comm`: its tag, and messaging in communicator ranks. */
class Call {
  readonly tag: number;
  readonly ctx: string;
  constructor(readonly comm: Communicator, readonly what: string) {
    comm.checkOpen(what);
    const broken = comm.transport.broken;
    if (broken?.code === ErrorCode.COMM_BROKEN) throw new MessagingError(ErrorCode.COMM_BROKEN, `${what}: ${broken.message}`, { rank: comm.rank });
    const n = (calls.get(comm) ?? 0) + 1;
    calls.set(comm, n);
    this.tag = n & 0x3fffffff;
    this.ctx = `${comm.ctx}|v`;
  }

  get rank(): number {
    return this.comm.rank;
  }

  get size(): number {
    return this.comm.size;
  }

  private post(r: number, env: Envelope): Promise<void> {
    return sendValue(this.comm.engine, this.ctx, this.comm.group[r]!, this.tag, env).wait();
  }

  send(r: number, value: unknown): Promise<void> {
    return this.post(r, [0, value]);
  }

  /** The value rank `r` sent; rejects if `r` sent a failure instead. */
  async recv(r: number): Promise<unknown> {
    const engine = this.comm.engine;
    const res = await engine.irecv(this.ctx, this.comm.group[r]!, this.tag, null, 0).wait();
    const env = (await receiveValue(engine, this.ctx, res, { rank: this.rank, peer: r })) as Envelope;
    if (env[0] === 0) return env[1];
    throw new MessagingError(env[1] as ErrorCodeValue, `${this.what}: rank ${r} failed: ${env[2]}`, { rank: this.rank, peer: r });
  }

  /** Tell `ranks` that this call failed with `err` on this rank, then throw it. */
  async fail(err: unknown, ranks: Iterable<number>): Promise<never> {
    const code = typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : ErrorCode.INVALID_ARG;
    const msg = err instanceof Error ? err.message : String(err);
    await Promise.all(Array.from(ranks, (r) => (r === this.rank ? undefined : this.post(r, [1, code, msg]).catch(() => {}))));
    throw err;
  }

  others(): number[] {
    return Array.from({ length: this.size }, (_, r) => r).filter((r) => r !== this.rank);
  }

  checkRoot(root: unknown): number {
    if (root === PROC_NULL || typeof root !== "number" || !Number.isInteger(root) || root < 0 || root >= this.size) {
      throw new MessagingError(ErrorCode.INVALID_RANK, `${this.what}: root ${String(root)} is not a rank of this communicator (valid: 0 … ${this.size - 1})`, { rank: this.rank });
    }
    return root;
  }

  argError(message: string): MessagingError {
    return new MessagingError(ErrorCode.INVALID_ARG, `${this.what}: ${message}`, { rank: this.rank });
  }

  /** Every rank's value at `root` (by rank), null elsewhere. */
  async gather<T>(value: T, root: number): Promise<T[] | null> {
    if (this.rank !== root) {
      await this.send(root, value);
      return null;
    }
    const out = new Array<T>(this.size);
    out[root] = value;
    await Promise.all(this.others().map(async (r) => (out[r] = (await this.recv(r)) as T)));
    return out;
  }

  /** `root`'s value everywhere (root: `value`). */
  async bcast<T>(value: T, root: number): Promise<T> {
    if (this.rank === root) {
      await Promise.all(this.others().map((r) => this.send(r, value)));
      return value;
    }
    return (await this.recv(root)) as T;
  }
}

function builtin(op: (typeof OBJECT_OPS)[number]): (a: unknown, b: unknown) => unknown {
  switch (op) {
    case "sum":
      return (a, b) => (a as number) + (b as number);
    case "prod":
      return (a, b) => (a as number) * (b as number);
    case "max":
      return (a, b) => ((b as number) > (a as number) ? b : a);
    case "min":
      return (a, b) => ((b as number) < (a as number) ? b : a);
  }
}

/** Validate `op` (and, for a built-in, this rank's value) and return the combining function. */
function combiner<T>(c: Call, value: T, op: unknown): (a: T, b: T) => T {
  if (typeof op === "function") return op as (a: T, b: T) => T;
  if (!OBJECT_OPS.includes(op as never)) throw c.argError(`operator ${JSON.stringify(op)} is not one of ${OBJECT_OPS.join(", ")}, nor a function (a, b) => c`);
  if (typeof value !== "number" && typeof value !== "bigint") throw c.argError(`operator '${String(op)}' combines numbers or bigints; this rank's value is ${value === null ? "null" : typeof value} (pass a function for other values)`);
  const f = builtin(op as (typeof OBJECT_OPS)[number]);
  return (a, b) => {
    if (typeof a !== typeof b) throw new MessagingError(ErrorCode.MISMATCH, `${c.what}: operator '${String(op)}' got a ${typeof a} and a ${typeof b}; every rank must pass the same kind of number`, { rank: c.rank });
    return f(a, b) as T;
  };
}

/** `root`'s `value` on every rank (MPI_Bcast of a value; mpi4py `bcast`). Other ranks' `value` is ignored. */
export async function bcastObject<T>(comm: Communicator, value: T | undefined, root: number): Promise<T> {
  const c = new Call(comm, "bcastObject");
  return c.bcast(value as T, c.checkRoot(root));
}

/** Every rank's `value`, by rank, at `root`; null on the other ranks (mpi4py `gather`). */
export async function gatherObject<T>(comm: Communicator, value: T, root: number): Promise<T[] | null> {
  const c = new Call(comm, "gatherObject");
  return c.gather(value, c.checkRoot(root));
}

/** Every rank's `value`, by rank, on every rank (mpi4py `allgather`). */
export async function allgatherObject<T>(comm: Communicator, value: T): Promise<T[]> {
  const c = new Call(comm, "allgatherObject");
  const all = await c.gather(value, 0);
  return c.bcast(all as T[], 0);
}

/** Rank i gets `values[i]` of `root` (an array of one value per rank there; ignored elsewhere; mpi4py `scatter`). */
export async function scatterObject<T>(comm: Communicator, values: T[] | null | undefined, root: number): Promise<T> {
  const c = new Call(comm, "scatterObject");
  const r = c.checkRoot(root);
  if (c.rank !== r) return (await c.recv(r)) as T;
  if (!Array.isArray(values) || values.length !== c.size) {
    await c.fail(c.argError(`the root must pass an array of ${c.size} values (one per rank), got ${Array.isArray(values) ? `${values.length}` : values === null ? "null" : typeof values}`), c.others());
  }
  await Promise.all(c.others().map((j) => c.send(j, values![j])));
  return values![r]!;
}

/** Rank i's `values[j]` becomes element i of rank j's result (one value per rank; mpi4py `alltoall`). */
export async function alltoallObject<T>(comm: Communicator, values: T[]): Promise<T[]> {
  const c = new Call(comm, "alltoallObject");
  if (!Array.isArray(values) || values.length !== c.size) {
    await c.fail(c.argError(`pass an array of ${c.size} values (one per rank), got ${Array.isArray(values) ? `${values.length}` : values === null ? "null" : typeof values}`), c.others());
  }
  const out = new Array<T>(c.size);
  out[c.rank] = values[c.rank]!;
  const sends = c.others().map((j) => c.send(j, values[j]));
  const recvs = c.others().map(async (j) => (out[j] = (await c.recv(j)) as T));
  await Promise.all([...sends, ...recvs]);
  return out;
}

/** Every rank's value combined with `op` in rank order (v0 ⊕ v1 ⊕ …) at `root`; null elsewhere (mpi4py `reduce`). */
export async function reduceObject<T>(comm: Communicator, value: T, op: ObjectOp<T>, root: number): Promise<T | null> {
  const c = new Call(comm, "reduceObject");
  const r = c.checkRoot(root);
  let f: (a: T, b: T) => T;
  try {
    f = combiner(c, value, op);
  } catch (err) {
    return c.fail(err, c.rank === r ? [] : [r]);
  }
  const all = await c.gather(value, r);
  return all ? all.reduce((a, b) => f(a, b)) : null;
}

/** Every rank's value combined with `op` in rank order, on every rank (mpi4py `allreduce`). */
export async function allreduceObject<T>(comm: Communicator, value: T, op: ObjectOp<T>): Promise<T> {
  const c = new Call(comm, "allreduceObject");
  let f: (a: T, b: T) => T = () => value;
  let opError: unknown = null;
  try {
    f = combiner(c, value, op);
  } catch (err) {
    // Rank 0 combines and then answers everyone: telling it is enough, and it tells the rest.
    if (c.rank !== 0) return c.fail(err, [0]);
    opError = err;
  }
  if (c.rank !== 0) {
    await c.send(0, value);
    return (await c.recv(0)) as T;
  }
  let result: T;
  try {
    const all = new Array<T>(c.size);
    all[0] = value;
    const got = await Promise.allSettled(c.others().map(async (j) => (all[j] = (await c.recv(j)) as T)));
    const bad = got.find((g) => g.status === "rejected") as PromiseRejectedResult | undefined;
    if (bad) throw bad.reason;
    if (opError) throw opError;
    result = all.reduce((a, b) => f(a, b));
  } catch (err) {
    return c.fail(err, c.others());
  }
  await Promise.all(c.others().map((j) => c.send(j, result)));
  return result;
}
