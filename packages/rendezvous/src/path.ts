// The one place where a message's path is chosen, as libfabric's shm provider has
// smr_select_proto: pure functions of what both sides know, so sender and receiver reach the
// same answer and a new mover is a new case here plus its module under movers/.
//
//   inline       the payload travels in the EAGER frame (≤ eager limit)
//   single-copy  the receiver copies straight from the sender's buffers (CMA)
//   shm          the sender streams through the pair's shared-memory ring (double copy)
//   socket       the sender streams DATA frames over the pair's socket
//   mpi          the pair is on different nodes: MPI_Isend/MPI_Irecv between the user buffers
import type { TransportName } from "@onecopy/cma";

export type Path = "inline" | "single-copy" | "shm" | "socket" | "mpi";
/** The paths of a rendezvous message (everything above the eager limit). */
export type MoverPath = Exclude<Path, "inline">;

/** What decides a message's path. */
export interface PathFacts {
  /** ONECOPY_TRANSPORT of the job (the same on every rank). */
  readonly transport: TransportName;
  readonly eagerLimit: number;
  /** The receiver may copy from the sender's memory, and has its descriptor. */
  readonly receiverCanRead: boolean;
  /** The pair's shared-memory ring can be used (shared memory works here, and the ring is not broken). */
  readonly shmUsable: boolean;
  /**
   * A synchronous send (ssend): it must complete only once the receiver has matched, so it never
   * goes inline; the rendezvous protocol completes it on FIN or when the pulled bytes are out.
   */
  readonly synchronous?: boolean;
  /** The pair is on different nodes (started by mpirun/srun): only MPI connects them. */
  readonly remote?: boolean;
}

/** The path of a message of `bytes` bytes. */
export function selectPath(f: PathFacts, bytes: number): Path {
  return bytes <= f.eagerLimit && !f.synchronous ? "inline" : selectMover(f);
}

/** The mover of a rendezvous message (its sender already chose not to send it inline). */
export function selectMover(f: PathFacts): MoverPath {
  if (f.remote) return "mpi";
  if (f.transport === "cma" && f.receiverCanRead) return "single-copy";
  if (f.transport !== "socket" && f.shmUsable) return "shm";
  return "socket";
}

/**
 * Whether a message of `pieces` pieces and `bytes` bytes travels packed into one contiguous
 * buffer instead of as a list: the kernel pins a page per remote iovec, so lists of tiny pieces
 * cost more than copying them (see the packBelow knob).
 */
export function shouldPack(pieces: number, bytes: number, packBelow: number): boolean {
  return pieces > 1 && bytes < pieces * packBelow;
}
