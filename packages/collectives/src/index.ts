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
export { barrier } from "./barrier.js";
export { bcast } from "./bcast.js";
export { reduce } from "./reduce.js";
export { allreduce } from "./allreduce.js";
export { gather, gatherv } from "./gather.js";
export { scatter, scatterv } from "./scatter.js";
export { allgather, allgatherv } from "./allgather.js";
export { alltoall, alltoallv } from "./alltoall.js";
export { reduceScatterBlock, reduceScatter } from "./reduce-scatter.js";
export { scan, exscan } from "./scan.js";
