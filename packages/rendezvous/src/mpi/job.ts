// A job started by mpirun or srun: MPI makes the job, onecopy connects it.
//
//   MPI_Init_thread(FUNNELED) → MPI_Comm_dup(WORLD) with MPI_ERRORS_RETURN (onecopy's own
//   communicator: the application's MPI traffic never meets ours)
//   → the node's ranks: MPI_Comm_split_type(SHARED), or, when any rank has ONECOPY_NODE_ID, one
//     MPI_Comm_split by that name (ranks without it go by their host name)
//   → node rank 0 makes the job token and job directory and MPI_Bcasts them on the node
//   → bootstrap connects the node's ranks over Unix sockets and probes CMA as under `onecopy run`;
//     every rank on another node gets a link whose frames travel over MPI (stream.ts), and large
//     messages to it take the mpi mover (mover.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { addressOf, libc, readKnob } from "@onecopy/cma";
import { ErrorCode, MessagingError } from "../errors.js";
import type { Engine } from "../engine.js";
import { ranksFitCpus } from "../fastpath/progress.js";
import { PeerLink } from "../link.js";
import { loadLibMpi, type Handle, type LibMpi } from "./binding.js";
import { NODE_ID_ENV } from "./launcher.js";
import type { LeaderCollectives, LeaderOp, LeaderType } from "./leaders.js";
import { MpiMover } from "./mover.js";
import { MpiProgress, type MpiCounters } from "./progress.js";
import { MpiStream } from "./stream.js";

const NAME_BYTES = 256;
const JOB_BYTES = 1024;

function readCString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.toString("utf8", 0, end < 0 ? b.length : end);
}

export class MpiJob implements LeaderCollectives {
  readonly rank: number;
  readonly size: number;
  /** onecopy's communicator: a dup of MPI_COMM_WORLD, errors returned. */
  readonly comm: Handle;
  /** The ranks of this node. */
  readonly nodeComm: Handle;
  readonly nodeRank: number;
  /** World ranks on this node, ascending (this rank among them). */
  readonly local: readonly number[];
  /** What names this node (ONECOPY_NODE_ID, or the host name). */
  readonly node: string;
  readonly token: string;
  readonly jobDir: string;
  readonly nodes: number;
  readonly nodeOf: readonly number[];
  readonly nodeRankOf: readonly number[];
  readonly leader: boolean;
  /** The node leaders' communicator (null on other ranks). */
  private readonly leaders: Handle | null;
  private readonly initialized: boolean;
  private readonly streams = new Map<number, MpiStream>();
  private progress: MpiProgress | null = null;
  private finalized = false;
  /** ONECOPY_MPI_BLOCKING_ALLREDUCE: leaders call MPI_Allreduce itself (see the knob). */
  private readonly blockingAllreduce: boolean = readKnob("mpiBlockingAllreduce");

  private constructor(
    readonly mpi: LibMpi,
    env: NodeJS.ProcessEnv,
  ) {
    const { fn, abi } = mpi;
    const i32 = new Int32Array(1);
    mpi.check(fn.MPI_Initialized(i32), "MPI_Initialized");
    this.initialized = i32[0] === 0;
    if (this.initialized) mpi.check(fn.MPI_Init_thread(null, null, abi.THREAD_FUNNELED, i32), "MPI_Init_thread");
    const slot = mpi.handleSlot();
    mpi.check(fn.MPI_Comm_dup(abi.COMM_WORLD, slot), "MPI_Comm_dup");
    this.comm = abi.readHandle(slot);
    mpi.check(fn.MPI_Comm_set_errhandler(this.comm, abi.ERRORS_RETURN), "MPI_Comm_set_errhandler");
    mpi.check(fn.MPI_Comm_rank(this.comm, i32), "MPI_Comm_rank");
    this.rank = i32[0]!;
    mpi.check(fn.MPI_Comm_size(this.comm, i32), "MPI_Comm_size");
    this.size = i32[0]!;

    // Which node: by ONECOPY_NODE_ID when any rank has it, else by shared memory.
    const own = env[NODE_ID_ENV] ? env[NODE_ID_ENV]! : "";
    const names = this.allgatherNames(own);
    const overridden = names.some((n) => n !== "");
    this.node = own || hostname();
    if (overridden) {
      // Ranks without an id go by their host name, gathered too.
      const hosts = this.allgatherNames(own ? "" : `host:${hostname()}`);
      const key = (r: number) => names[r] || hosts[r]!;
      const color = Array.from({ length: this.size }, (_, r) => r).find((r) => key(r) === key(this.rank))!;
      mpi.check(fn.MPI_Comm_split(this.comm, color, this.rank, slot), "MPI_Comm_split");
    } else {
      mpi.check(fn.MPI_Comm_split_type(this.comm, abi.COMM_TYPE_SHARED, this.rank, abi.INFO_NULL, slot), "MPI_Comm_split_type");
    }
    this.nodeComm = abi.readHandle(slot);
    mpi.check(fn.MPI_Comm_set_errhandler(this.nodeComm, abi.ERRORS_RETURN), "MPI_Comm_set_errhandler");
    mpi.check(fn.MPI_Comm_rank(this.nodeComm, i32), "MPI_Comm_rank");
    this.nodeRank = i32[0]!;
    mpi.check(fn.MPI_Comm_size(this.nodeComm, i32), "MPI_Comm_size");
    const nodeSize = i32[0]!;
    const worlds = new Int32Array(nodeSize);
    mpi.check(fn.MPI_Allgather(Int32Array.of(this.rank), 1, abi.INT, worlds, 1, abi.INT, this.nodeComm), "MPI_Allgather");
    this.local = [...worlds].sort((a, b) => a - b);

    // Every rank's node (by its leader, the node's lowest world rank) and rank within it.
    const leaderOf = new Int32Array(this.size);
    mpi.check(fn.MPI_Allgather(Int32Array.of(this.local[0]!), 1, abi.INT, leaderOf, 1, abi.INT, this.comm), "MPI_Allgather");
    const leaderRanks = [...new Set(leaderOf)].sort((a, b) => a - b);
    this.nodes = leaderRanks.length;
    this.nodeOf = [...leaderOf].map((l) => leaderRanks.indexOf(l));
    const seen = new Array<number>(this.nodes).fill(0);
    this.nodeRankOf = this.nodeOf.map((n) => seen[n]!++);
    this.leader = this.nodeRank === 0;
    mpi.check(fn.MPI_Comm_split(this.comm, this.leader ? 0 : abi.UNDEFINED, this.rank, slot), "MPI_Comm_split");
    this.leaders = this.leader ? abi.readHandle(slot) : null;

    // The node's job token and directory, made by its first rank.
    const job = Buffer.alloc(JOB_BYTES);
    if (this.nodeRank === 0) {
      const token = randomBytes(16).toString("hex");
      const dir = nodeSize > 1 ? mkdtempSync(join(tmpdir(), "onecopy-mpi-")) : "";
      job.write(`${token}\n${dir}`, "utf8");
    }
    mpi.check(fn.MPI_Bcast(job, JOB_BYTES, abi.BYTE, 0, this.nodeComm), "MPI_Bcast");
    const [token, dir] = readCString(job).split("\n");
    this.token = token!;
    this.jobDir = dir ?? "";
  }

  /** Initialise MPI and find this rank's node. @throws ERR_MPI_UNAVAILABLE, ERR_MPI */
  static start(env: NodeJS.ProcessEnv = process.env): MpiJob {
    return new MpiJob(loadLibMpi(env), env);
  }

  private allgatherNames(own: string): string[] {
    const { fn, abi } = this.mpi;
    const mine = Buffer.alloc(NAME_BYTES);
    mine.write(own.slice(0, NAME_BYTES - 1), "utf8");
    const all = Buffer.alloc(NAME_BYTES * this.size);
    this.mpi.check(fn.MPI_Allgather(mine, NAME_BYTES, abi.BYTE, all, NAME_BYTES, abi.BYTE, this.comm), "MPI_Allgather");
    return Array.from({ length: this.size }, (_, r) => readCString(all.subarray(r * NAME_BYTES, (r + 1) * NAME_BYTES)));
  }

  /** Largest tag of onecopy's communicator (MPI_TAG_UB). */
  private tagUpperBound(): number {
    const { fn, abi } = this.mpi;
    const value = Buffer.alloc(8);
    const flag = new Int32Array(1);
    if (fn.MPI_Comm_get_attr(this.comm, abi.TAG_UB, value, flag) !== 0 || flag[0] === 0) return 32767; // the standard's minimum
    const ub = libc()!.koffi.decode(value.readBigUInt64LE(0), "int") as number;
    return ub > 0 ? ub : 32767;
  }

  /** The leaders' communicator, with `view`'s bytes counted as the leaders' MPI traffic. Throws on a rank that is no leader, or after finalize. */
  private leaderComm(what: string, view: ArrayBufferView | null): Handle {
    if (!this.leaders || !this.progress) throw new MessagingError(ErrorCode.MPI, `${what}: this rank is not its node's leader`);
    if (view && this.counters) this.counters.collectiveBytes += view.byteLength;
    return this.leaders;
  }

  /** A non-blocking collective among the leaders, completed by the progress loop. */
  private leaderCall(what: string, view: ArrayBufferView | null, post: (comm: Handle, slot: Buffer) => number): Promise<void> {
    let comm: Handle;
    try {
      comm = this.leaderComm(what, view);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => this.progress!.request(what, (slot) => post(comm, slot), view, (err) => (err ? reject(err) : resolve())));
  }

  /** A blocking collective among the leaders: this rank's event loop waits inside MPI until it returns. */
  private leaderCallNow(what: string, view: ArrayBufferView | null, call: (comm: Handle) => number): Promise<void> {
    try {
      this.mpi.check(call(this.leaderComm(what, view)), what);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** MPI's datatype, operator and element count for a reduction of `view`. */
  private reduction(view: ArrayBufferView, type: LeaderType, op: LeaderOp): { t: Handle; o: Handle; count: number } {
    const { abi } = this.mpi;
    return {
      t: { float64: abi.DOUBLE, float32: abi.FLOAT, int32: abi.INT }[type],
      o: { sum: abi.SUM, prod: abi.PROD, min: abi.MIN, max: abi.MAX }[op],
      count: view.byteLength / { float64: 8, float32: 4, int32: 4 }[type],
    };
  }

  allreduce(view: ArrayBufferView, type: LeaderType, op: LeaderOp, send?: ArrayBufferView, overlap = false): Promise<void> {
    const { fn, abi } = this.mpi;
    const { t, o, count } = this.reduction(view, type, op);
    const from = send && view.byteLength ? addressOf(send) : abi.IN_PLACE;
    const into = view.byteLength ? addressOf(view) : null;
    if (this.blockingAllreduce && !overlap) return this.leaderCallNow("MPI_Allreduce", view, (comm) => fn.MPI_Allreduce(from, into, count, t, o, comm));
    return this.leaderCall("MPI_Iallreduce", view, (comm, slot) => fn.MPI_Iallreduce(from, into, count, t, o, comm, slot)).finally(() => void send); // MPI reads `send` until then
  }

  reduce(view: ArrayBufferView, type: LeaderType, op: LeaderOp, rootNode: number): Promise<void> {
    const { fn, abi } = this.mpi;
    const { t, o, count } = this.reduction(view, type, op);
    const at = view.byteLength ? addressOf(view) : null;
    const root = this.nodeOf[this.rank] === rootNode;
    return this.leaderCall("MPI_Ireduce", view, (comm, slot) => fn.MPI_Ireduce(root ? abi.IN_PLACE : at, root ? at : null, count, t, o, rootNode, comm, slot));
  }

  allgather(mine: Uint8Array, all: Uint8Array, counts: readonly number[]): Promise<void> {
    const { fn, abi } = this.mpi;
    const { c, d } = countsAndDispls(counts);
    const keep = [mine, all, c, d];
    return this.leaderCall("MPI_Iallgatherv", mine, (comm, slot) =>
      fn.MPI_Iallgatherv(mine.byteLength ? addressOf(mine) : null, mine.byteLength, abi.BYTE, all.byteLength ? addressOf(all) : null, addressOf(c), addressOf(d), abi.BYTE, comm, slot),
    ).finally(() => void keep);
  }

  gather(mine: Uint8Array, all: Uint8Array | null, counts: readonly number[], rootNode: number): Promise<void> {
    const { fn, abi } = this.mpi;
    const { c, d } = countsAndDispls(counts);
    const keep = [mine, all, c, d];
    return this.leaderCall("MPI_Igatherv", mine, (comm, slot) =>
      fn.MPI_Igatherv(mine.byteLength ? addressOf(mine) : null, mine.byteLength, abi.BYTE, all?.byteLength ? addressOf(all) : null, addressOf(c), addressOf(d), abi.BYTE, rootNode, comm, slot),
    ).finally(() => void keep);
  }

  bcast(view: ArrayBufferView, rootNode: number): Promise<void> {
    const { fn, abi } = this.mpi;
    return this.leaderCall("MPI_Ibcast", view, (comm, slot) => fn.MPI_Ibcast(view.byteLength ? addressOf(view) : null, view.byteLength, abi.BYTE, rootNode, comm, slot));
  }

  barrier(): Promise<void> {
    return this.leaderCall("MPI_Ibarrier", null, (comm, slot) => this.mpi.fn.MPI_Ibarrier(comm, slot));
  }

  private counters: MpiCounters | null = null;

  /** Give `engine` a link to every rank on another node, and the mpi mover. */
  attach(engine: Engine): void {
    const counters = engine.counters.mpi as MpiCounters;
    this.counters = counters;
    if (this.nodes > 1) engine.leaders = this;
    const progress = new MpiProgress({
      mpi: this.mpi,
      comm: this.comm,
      busy: () => engine.pendingOperations > 0,
      spinWhileBusy: ranksFitCpus(hostRanks(this.local.length)),
      counters,
      control: (src, bytes) => this.streams.get(src)?.deliver(bytes),
      broken: (err) => {
        for (const s of this.streams.values()) s.lose(err);
      },
    });
    this.progress = progress;
    engine.rendezvous.useMpi(new MpiMover(engine, progress, Math.min(this.tagUpperBound(), 1 << 30)), readKnob("mpiSenderFirst"));
    const local = new Set(this.local);
    for (let r = 0; r < this.size; r++) {
      if (local.has(r)) continue;
      const stream = new MpiStream(progress, r);
      this.streams.set(r, stream);
      const link = new PeerLink(stream as unknown as Socket, { frame: () => null, gone: () => {} });
      link.identify(r, 0);
      engine.adopt(link, { canRead: false, reason: `rank ${r} is on another node` }, false, true);
    }
    // Operations may wait for other nodes: poll MPI soon after each is posted. (A job on one node
    // never does: its MPI progress only runs for its own requests.)
    if (this.streams.size > 0) engine.onOperation = () => progress.kick();
    progress.kick();
  }

  /**
   * Every rank of the node is connected (its listening socket is no longer needed): once the
   * node's ranks all are (MPI_Ibarrier), its first rank removes the job directory, so a rank that
   * crashes later leaves nothing behind.
   */
  async started(): Promise<void> {
    const progress = this.progress;
    if (!progress || !this.jobDir) return;
    await new Promise<void>((resolve, reject) =>
      progress.request("MPI_Ibarrier", (slot) => this.mpi.fn.MPI_Ibarrier(this.nodeComm, slot), null, (err) => (err ? reject(err) : resolve())),
    );
    if (this.nodeRank === 0) rmSync(this.jobDir, { recursive: true, force: true });
  }

  /**
   * After the engine closed: let the last control messages go, wait for the node's ranks and
   * MPI_Finalize (if onecopy initialised MPI).
   */
  finalize(): void {
    if (this.finalized) return;
    this.finalized = true;
    const { fn } = this.mpi;
    this.progress?.drain(2000);
    this.progress?.stop();
    fn.MPI_Barrier(this.nodeComm);
    if (this.nodeRank === 0 && this.jobDir) rmSync(this.jobDir, { recursive: true, force: true });
    const slot = this.mpi.handleSlot();
    for (const h of [...(this.leaders !== null ? [this.leaders] : []), this.nodeComm, this.comm]) {
      if (typeof h === "bigint") slot.writeBigUInt64LE(h);
      else slot.writeInt32LE(h);
      fn.MPI_Comm_free(slot);
    }
    if (this.initialized) fn.MPI_Finalize();
  }
}

/**
 * How many ranks of the job share this host's CPUs: the launcher's own count where it gives one
 * (Open MPI, MPICH/Hydra, Slurm with one count for every node), else the ranks of this node. The
 * launcher's count is right also when ONECOPY_NODE_ID splits one host into simulated nodes.
 */
function hostRanks(nodeRanks: number, env: NodeJS.ProcessEnv = process.env): number {
  for (const name of ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"]) {
    const n = Number(env[name]);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return nodeRanks;
}

/**
 * A v-collective's counts and their displacements. MPI may read both until the request completes:
 * they are passed by address (off the V8 heap for good, so they cannot move), and the caller keeps
 * them reachable until then.
 */
function countsAndDispls(counts: readonly number[]): { c: Int32Array; d: Int32Array } {
  const c = Int32Array.from(counts);
  const d = new Int32Array(counts.length);
  for (let k = 1; k < counts.length; k++) d[k] = d[k - 1]! + counts[k - 1]!;
  return { c, d };
}
