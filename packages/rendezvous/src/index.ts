/**
 * `@onecopy/rendezvous` — ranks meet over Unix domain sockets; small messages go eagerly
 * inline, large ones by descriptor so the receiver copies them once, straight between the two
 * user buffers. MPI matching semantics.
 *
 * @packageDocumentation
 */
export { ENV } from "./env.js";
export { ANY_SOURCE, ANY_TAG, TAG_UB, PROC_NULL } from "./constants.js";
export { ErrorCode, MessagingError, OnecopyError, type ErrorCodeValue } from "./errors.js";
export { Request, waitAll, waitAny, testAny, waitSome, testSome, testAll, UNDEFINED, Status, type Completed, type ElementType } from "./request.js";
export { AbortError, type WaitOptions } from "./wait-options.js";
export { boundedCollective } from "./collective-wait.js";
export { userFacing } from "./user-stack.js";
export { block, nextCollective, hangAnswer, NO_PEER, type BlockedCall, type BlockedCallInfo, type BlockedComm, type HangAnswer } from "./blocked-calls.js";
export { wtime, wtick } from "./time.js";
export { Communicator, WORLD_CTX, type ObjectMessage, type RuntimeHandle } from "./communicator.js";
export { Message } from "./matched-message.js";
export { Group } from "./group.js";
export type { Comparison } from "./comm-groups.js";
export { initWorld, type InitOptions, type CommunicatorFactory } from "./runtime.js";
export { TUNABLES, readTunables, readTransport, TRANSPORTS, type Tunables, type TransportName } from "./tunables.js";
export { KNOBS, knobsOf, readKnob, parseByteCount, type Knob, type KnobLayer, type KnobName } from "@onecopy/cma";
export { removeJobSegments } from "./shm/job-segments.js";
/** @internal For segments of other layers (RMA windows): the job's segment prefix and exit-time unlinking. */
export { jobKeyOf, segmentPrefix } from "./shm/segment-layout.js";
export { trackName, untrackName } from "./shm/segment-names.js";
export { RejectCode, type RejectCodeValue } from "./handshake.js";
export { writePidRecord, pidRecordPath } from "./pid-record.js";
export { viewsOf, ioListOfViews, copyViews, type MessageData, type DataViews } from "./buffers.js";
export type { TransportStats, PathStats } from "./stats.js";
export type { Engine } from "./engine.js";
export type { RecvResult } from "./matching.js";
export type { CollectiveTransport } from "./transport.js";
export type { Descriptor } from "./frames.js";
export type { LeaderCollectives, LeaderOp, LeaderType } from "./mpi/leaders.js";
export { bcastObject, gatherObject, allgatherObject, scatterObject, alltoallObject, reduceObject, allreduceObject, OBJECT_OPS, type ObjectOp } from "./object-collectives.js";
