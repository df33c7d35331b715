// The single-copy endpoint of one peer, as Open MPI's smsc module is: whether this process may
// copy straight from/into the peer's memory and the peer from/into ours, the copy itself
// (read = process_vm_readv, write = process_vm_writev), the byte counting, and what a failed
// copy means. This is the one module of the messaging layer that calls the copy core; the
// rendezvous protocol and the collectives' transport both go through it.
//
// A failed copy is either the peer's loss or a real error. The peer is lost if its link says so,
// or if its process is gone (ESRCH, or only its zombie is left). A peer that still looks alive
// may be exiting right now, so the endpoint gives it LIVENESS_WAIT_MS to show it before deciding.
// Loss fails with ERR_PEER_LOST (the copy core's errno as `cause`); anything else keeps its own
// code (EFAULT from a live peer is a real bug or a mismatch). EPERM and a switched-off CMA also
// turn single copy towards the peer off for the rest of the job, so later messages take another path at once.
import { asyncDefaults, cmaDisabledReason, prepareForCopy, readProcStat, transfer, transferSync, type CmaError, type IoList } from "@onecopy/cma";
import { ioListOfViews } from "./buffers.js";
import { ErrorCode, MessagingError } from "./errors.js";
import type { TransportStats } from "./stats.js";

/** How long a failed copy of a peer that still looks alive waits to learn that it is dying. */
const LIVENESS_WAIT_MS = 200;
const LIVENESS_POLL_MS = 10;

/** The process is gone: no such pid, or only its zombie is left (its memory is gone either way). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
  const state = readProcStat(pid)?.state; // undefined without /proc: trust kill()
  return state === "Z" || state === "X";
}

/** What the endpoint needs to know of the peer's link, without owning it. */
export interface PeerStatus {
  /** The link is down (the peer left or was lost). */
  readonly gone: boolean;
  /** Declare the peer lost (its process is gone but its socket has not closed yet). */
  lose(): void;
}

/** Why this process may not read a peer, when it may not. */
export interface ReadPermission {
  canRead: boolean;
  /** Why not, for the one warning per job. */
  reason: string;
}

export class SingleCopyEndpoint {
  private readable: boolean;
  private readFailure: string;
  private readonly peerMayAccess: boolean;

  constructor(
    /** World rank of the peer (this rank's own endpoint copies within the process). */
    readonly rank: number,
    readonly pid: number,
    read: ReadPermission,
    /** The peer's probe of our memory succeeded, as it told us. */
    peerCanRead: boolean,
    private readonly counters: TransportStats,
    private readonly status: PeerStatus,
    private readonly self: number,
  ) {
    this.readable = read.canRead;
    this.readFailure = read.reason;
    this.peerMayAccess = peerCanRead;
  }

  /** An endpoint for copies within this process (collectives that touch their own buffers). */
  static own(rank: number, counters: TransportStats): SingleCopyEndpoint {
    const off = cmaDisabledReason();
    return new SingleCopyEndpoint(rank, process.pid, { canRead: off === null, reason: off?.message ?? "" }, off === null, counters, { gone: false, lose() {} }, rank);
  }

  /** This process may copy straight from (and into) the peer's memory. Both sides of a pair agree: see {@link canBeRead}. */
  get canRead(): boolean {
    return this.readable;
  }

  /** The peer may copy straight from (and into) our memory (what the peer's canRead of us says). */
  get canBeRead(): boolean {
    return this.peerMayAccess;
  }

  /** Why this process may not read the peer ("" when it may). */
  get reason(): string {
    return this.readFailure;
  }

  /** Copy `remote` (a descriptor in the peer's memory) into local views; resolves with the bytes moved. */
  read(local: readonly Uint8Array[], remote: IoList, bytes: number): Promise<number> {
    return this.copy("read", local, remote, bytes);
  }

  /** Copy local views into `remote` (a descriptor in the peer's memory). */
  write(local: readonly Uint8Array[], remote: IoList, bytes: number): Promise<number> {
    return this.copy("write", local, remote, bytes);
  }

  /**
   * Like {@link write}, but a copy small enough to run on this thread (below
   * ONECOPY_CMA_ASYNC_MIN) is done before this returns, and its byte count is returned as a
   * number: the caller can answer its peer in the same tick (a promise settles only once the
   * whole batch of frames this tick is handling has been handled). Failures still come as a rejected promise.
   */
  writeNow(local: readonly Uint8Array[], remote: IoList, bytes: number): number | Promise<number> {
    if (bytes >= asyncDefaults.threshold) return this.copy("write", local, remote, bytes);
    try {
      prepareForCopy(local, "source");
      const n = transferSync("write", this.pid, ioListOfViews(local, bytes), remote);
      this.count(n);
      return n;
    } catch (err) {
      return this.diagnose("write", err as CmaError).then((e) => Promise.reject(e));
    }
  }

  private count(n: number): void {
    const c = this.counters.singleCopy;
    c.messages++;
    c.bytes += n;
    c.calls++;
  }

  private async copy(dir: "read" | "write", local: readonly Uint8Array[], remote: IoList, bytes: number): Promise<number> {
    try {
      // The registration cache: populate an untouched destination, collapse a reused buffer (registration.ts).
      prepareForCopy(local, dir === "read" ? "destination" : "source");
      const n = await transfer(dir, this.pid, ioListOfViews(local, bytes), remote);
      this.count(n);
      return n;
    } catch (err) {
      throw await this.diagnose(dir, err as CmaError);
    }
  }

  /** What a failed copy means: the peer's loss, or a real error (which may turn this direction off). */
  private async diagnose(dir: "read" | "write", err: CmaError): Promise<Error> {
    if (this.rank !== this.self) {
      const dead = () => this.status.gone || processGone(this.pid);
      for (let waited = 0; !dead() && waited < LIVENESS_WAIT_MS; waited += LIVENESS_POLL_MS) {
        await new Promise((r) => setTimeout(r, LIVENESS_POLL_MS));
      }
      if (dead()) {
        this.status.lose();
        return new MessagingError(
          ErrorCode.PEER_LOST,
          `single-copy ${dir} ${dir === "read" ? "from" : "into"} rank ${this.rank}: rank ${this.rank} (pid ${this.pid}) died or dropped its connection. Check that rank's output for its error.`,
          { peer: this.rank, cause: err },
        );
      }
    }
    // Reading and writing the peer both need our access to its memory: either failing for
    // permission turns single copy towards it off.
    if (err.code === ErrorCode.EPERM || err.code === ErrorCode.CMA_DISABLED) {
      this.readable = false;
      this.readFailure = err.message;
    }
    return err;
  }
}
