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
import { initWorld, type InitOptions } from "@onecopy/rendezvous";
import { Comm } from "./comm.js";
import { tellLauncher, watchLauncher } from "./launcher/watch.js";

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
} from "@onecopy/rendezvous";
export { allocBuffer, bufferBacking, cmaAvailability, CmaError } from "@onecopy/cma";

export { CartComm } from "./topology/cart.js";
export { dimsCreate } from "./topology/dims.js";
export { Comm, IN_PLACE, BUILTIN_OPS, COLL_TUNABLES, type ReduceOp, type ReduceFn, type BuiltinOp, type CollBuffer, type InPlace } from "./comm.js";

/**
 * Join the job (started by `onecopy run -n N script`) and return the world communicator.
 * Outside the launcher it returns a world of one rank, so a script also runs on its own.
 */
export async function init(opts: InitOptions = {}): Promise<Comm> {
  watchLauncher(); // a rank never outlives its launcher
  tellLauncher("init"); // from now on the other ranks may be waiting for this one
  const comm = await initWorld(opts, (rt, ctx) => new Comm(rt, ctx, null));
  tellLauncher("joined");
  return comm;
}
