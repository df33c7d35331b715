/**
 * `@onecopy/cma` — Cross Memory Attach for Node.js: copy straight between two processes'
 * buffers with `process_vm_readv`/`process_vm_writev`.
 *
 * @packageDocumentation
 */
export { OnecopyError, CmaError, ErrorCode, type CmaErrorCode, type ErrorCodeValue } from "./errors.js";
export {
  addressOf,
  ioListOf,
  ioListBytes,
  sliceIoList,
  totalBytesOf,
  isBufferLike,
  piecesOf,
  locatePiece,
  type PieceSpan,
  type BufferLike,
  type BufferSlice,
  type LocalData,
  type IoList,
} from "./iolist.js";
export {
  IOV_MAX,
  MAX_BYTES_PER_CALL,
  asyncDefaults,
  transfer,
  transferSync,
  read,
  write,
  readSync,
  writeSync,
  type Direction,
  type AsyncOptions,
} from "./copy.js";
export { describe, type Descriptor } from "./descriptor.js";
export { cmaAvailability, enablePeerAccess, readPtraceScope, userNamespaceOf, type CmaAvailability } from "./permission.js";
export { setParentDeathSignal } from "./parent-death.js";
export { publishProbeToken, probe, type ProbeToken, type ProbeResult } from "./probe.js";
export { cmaDisabledReason, disableCma } from "./switch.js";
export { peerCredentials, peerCredentialsUnavailable, type PeerCredentials } from "./peercred.js";
export { allocBuffer, bufferBacking, transparentHugePages, type AllocOptions, type BufferBacking } from "./hugepages.js";
export {
  SHM_DIR,
  createShmSegment,
  openShmSegment,
  unlinkShmSegment,
  unmapShmSegment,
  shmUnavailableReason,
  yieldCpu,
  type ShmSegment,
} from "./shm-segment.js";
export {
  KNOBS,
  TRANSPORTS,
  knobsOf,
  readKnob,
  parseByteCount,
  parseCount,
  parseSwitch,
  parseTransport,
  type Knob,
  type KnobLayer,
  type KnobName,
  type KnobValue,
  type TransportName,
} from "./knobs.js";
export { getCpuAffinity, setCpuAffinity, cpuAffinityUnavailable, formatCpuList, parseCpuList, MAX_CPU } from "./affinity.js";
export { readProcStat, type ProcStat } from "./proc-stat.js";
export { libc, libcError } from "./libc.js";
export { prepareForCopy, registrationStats, registrationDefaults, collapsesInFlight, type RegistrationStats } from "./registration.js";
export { collapseRange, collapseRangeAsync, looksResident, populateRange, hugePageBytes, alignedInterior, HUGE_PAGE, MADV_COLLAPSE, MADV_POPULATE_WRITE, type AdviceResult } from "./madvise.js";
