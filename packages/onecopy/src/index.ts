/**
 * onecopy — MPI-style messaging for multi-process Node.js jobs on one machine. Large messages
 * move with a single copy, straight from the sender's buffer into the receiver's
 * (Linux Cross Memory Attach).
 *
 * ```ts
 * import { init } from "onecopy";
 * const comm = await init();
 * if (comm.rank === 0) await comm.send(new Float64Array(1 << 20).fill(1), 1);
 * else if (comm.rank === 1) await comm.recv(new Float64Array(1 << 20), 0);
 * await comm.close();
 * ```
 * Start it with `onecopy run -n 2 app.ts`.
 *
 * @packageDocumentation
 */
import { hangAnswer, initWorld, readKnob, type InitOptions } from "@onecopy/rendezvous";
import { Comm } from "./comm.js";
import { HierarchicalComm } from "./hierarchical.js";
import { answerHangQueries, tellLauncher, watchLauncher } from "./launcher/watch.js";

let world: Promise<Comm> | null = null;

export {
  ANY_SOURCE,
  ANY_TAG,
  PROC_NULL,
  TAG_UB,
  ErrorCode,
  OnecopyError,
  Request,
  waitAll,
  waitAny,
  testAny,
  waitSome,
  testSome,
  testAll,
  UNDEFINED,
  Status,
  wtime,
  wtick,
  OBJECT_OPS,
  type ObjectOp,
  Communicator,
  Message,
  Group,
  type Comparison,
  TUNABLES,
  type Completed,
  type ElementType,
  type MessageData,
  type ObjectMessage,
  type TransportStats,
  type PathStats,
  type InitOptions,
  AbortError,
  type WaitOptions,
} from "@onecopy/rendezvous";
export { allocBuffer, bufferBacking, cmaAvailability, CmaError } from "@onecopy/cma";

export { CartComm } from "./topology/cart.js";
export { dimsCreate } from "./topology/dims.js";
export { Win, type WindowMode, type WindowStats, type LockType, type AccumulateOp } from "./comm.js";
export { Comm, IN_PLACE, BUILTIN_OPS, COLL_TUNABLES, type ReduceOp, type ReduceFn, type BuiltinOp, type CollBuffer, type InPlace } from "./comm.js";

/**
 * Join the job (started by `onecopy run -n N script`) and return the world communicator.
 * Outside the launcher it returns a world of one rank, so a script also runs on its own.
 * Calling it again returns the same world (its options are those of the first call); after a
 * failed init() a new call tries again.
 */
export function init(opts: InitOptions = {}): Promise<Comm> {
  world ??= join(opts).catch((err: unknown) => {
    world = null;
    throw err;
  });
  return world;
}

async function join(opts: InitOptions): Promise<Comm> {
  watchLauncher(); // a rank never outlives its launcher
  tellLauncher("init"); // from now on the other ranks may be waiting for this one
  const comm = await initWorld({ ...opts, onClosed: () => tellLauncher("closed") }, (rt, ctx) =>
    rt.engine.leaders && readKnob("hierarchical") ? new HierarchicalComm(rt, ctx, null) : new Comm(rt, ctx, null),
  );
  // Several nodes (mpirun/srun): allreduce, bcast and barrier of the world go node → leaders (MPI) → node.
  const leaders = comm.engine.leaders;
  if (comm instanceof HierarchicalComm && leaders) comm.useNodes((await comm.split(leaders.nodeOf[comm.rank]!, comm.rank))!, leaders);
  answerHangQueries(() => hangAnswer(comm.rank, comm.engine));
  tellLauncher("joined");
  return comm;
}
