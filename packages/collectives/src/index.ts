/**
 * `@onecopy/collectives` — MPI collectives over a communicator's {@link CollectiveTransport}.
 * Small collectives ride in one dissemination exchange of eager messages; large ones swap
 * buffer addresses in that exchange and then move every byte with a single copy
 * (process_vm_readv/writev) straight between user buffers, in contention-free orders. Where a
 * pair of ranks cannot copy directly, the same algorithms fall back to point-to-point messages.
 *
 * @packageDocumentation
 */
export { IN_PLACE, DTYPES, type InPlace, type CollBuffer, type AnyTyped } from "./datatypes.js";
export { BUILTIN_OPS, type BuiltinOp, type ReduceFn, type ReduceOp } from "./ops.js";
export { COLL_TUNABLES, tuning, setTuning, type CollTunables } from "./tuning.js";
import { barrier as barrierOf } from "./barrier.js";
import { bcast as bcastOf } from "./bcast.js";
import { reduce as reduceOf } from "./reduce.js";
import { allreduce as allreduceOf } from "./allreduce.js";
import { gather as gatherOf, gatherv as gathervOf } from "./gather.js";
import { scatter as scatterOf, scatterv as scattervOf } from "./scatter.js";
import { allgather as allgatherOf, allgatherv as allgathervOf } from "./allgather.js";
import { alltoall as alltoallOf, alltoallv as alltoallvOf } from "./alltoall.js";
import { reduceScatterBlock as reduceScatterBlockOf, reduceScatter as reduceScatterOf } from "./reduce-scatter.js";
import { scan as scanOf, exscan as exscanOf } from "./scan.js";
import { guarded } from "./guard.js";
export { createWindow, Win, type WindowKind, type WindowMode, type WindowStats, type LockType, type AccumulateOp } from "./rma/index.js";

// Each collective fails at once with ERR_PEER_LOST on a communicator that has lost a member
// (see guard.ts); the semantics of each are documented where it is defined.
export const barrier = guarded(barrierOf);
export const bcast = guarded(bcastOf);
export const reduce = guarded(reduceOf);
export const allreduce = guarded(allreduceOf);
export const gather = guarded(gatherOf);
export const gatherv = guarded(gathervOf);
export const scatter = guarded(scatterOf);
export const scatterv = guarded(scattervOf);
export const allgather = guarded(allgatherOf);
export const allgatherv = guarded(allgathervOf);
export const alltoall = guarded(alltoallOf);
export const alltoallv = guarded(alltoallvOf);
export const reduceScatterBlock = guarded(reduceScatterBlockOf);
export const reduceScatter = guarded(reduceScatterOf);
export const scan = guarded(scanOf);
export const exscan = guarded(exscanOf);
