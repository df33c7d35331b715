/** Bytes and messages per path. Each byte is counted once, by the process that moved it. */
export interface PathStats {
  messages: number;
  bytes: number;
}

/**
 * What this process moved, by path: `singleCopy` — copied by this process with
 * process_vm_readv/writev straight between user buffers; `eager` — received inline on a
 * socket; `fallback` — large messages received over the socket (DATA frames: ONECOPY_TRANSPORT=socket,
 * or neither CMA nor shared memory usable); `shm` — large messages received through the pair's
 * shared-memory ring (double copy; `cells` drained, `bells` doorbell frames this process sent);
 * `self` — messages to itself. Received bytes are counted when they reach a receive, so a
 * snapshot taken right after an operation completes includes exactly what it received. `sent` counts messages/bytes this process sent (any path);
 * `control` counts protocol frames without payload (RTS, FIN, PULL); `fastpath` counts the
 * frames this process sent through its shared-memory frame rings instead of a socket, and the
 * doorbells it rang for them; `collSlots` counts the collective record exchanges this process made
 * through its communicators' shared slots (`oversize`: records too large for a slot, sent by
 * messages), the closing handshakes (`fins`) done there, the in-collective notifications
 * (`notes`: "your data is there", "mine is ready") published there, the waits that were not satisfied at
 * once, and the doorbells rung for sleeping members.
 */
export interface TransportStats {
  singleCopy: PathStats & { calls: number };
  eager: PathStats;
  fallback: PathStats;
  shm: PathStats & { cells: number; bells: number };
  self: PathStats;
  sent: PathStats;
  control: { messages: number };
  fastpath: { frames: number; bells: number };
  collSlots: { exchanges: number; oversize: number; fins: number; notes: number; waits: number; bells: number };
  /**
   * What went through libmpi (ranks on other nodes, under mpirun/srun): `messages`/`bytes` —
   * large messages received by the mpi mover (MPI_Irecv straight into the receive's buffers);
   * `controlMessages`/`controlBytes` — MPI messages of the control streams received (frames, and
   * small messages inline); `sentBytes` — every byte this process handed to MPI_Isend;
   * `collectiveBytes` — bytes of the buffers this node leader gave the MPI collectives among the
   * leaders (hierarchical allreduce, bcast).
   */
  mpi: PathStats & { controlMessages: number; controlBytes: number; sentBytes: number; collectiveBytes: number };
}

export function emptyStats(): TransportStats {
  return {
    singleCopy: { messages: 0, bytes: 0, calls: 0 },
    eager: { messages: 0, bytes: 0 },
    fallback: { messages: 0, bytes: 0 },
    shm: { messages: 0, bytes: 0, cells: 0, bells: 0 },
    self: { messages: 0, bytes: 0 },
    sent: { messages: 0, bytes: 0 },
    control: { messages: 0 },
    fastpath: { frames: 0, bells: 0 },
    collSlots: { exchanges: 0, oversize: 0, fins: 0, notes: 0, waits: 0, bells: 0 },
    mpi: { messages: 0, bytes: 0, controlMessages: 0, controlBytes: 0, sentBytes: 0, collectiveBytes: 0 },
  };
}

export function cloneStats(s: TransportStats): TransportStats {
  return JSON.parse(JSON.stringify(s)) as TransportStats;
}
