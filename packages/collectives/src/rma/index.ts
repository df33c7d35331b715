// One-sided communication (MPI RMA windows): see window.ts for how each access moves.
export { createWindow, type WindowKind } from "./create.js";
export { Win, type WindowMode, type WindowStats } from "./window.js";
export { type LockType } from "./epochs.js";
export { type AccumulateOp } from "./accumulate-ops.js";
