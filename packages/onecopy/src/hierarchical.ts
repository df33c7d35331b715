// The world communicator of a job that spans several nodes (started by mpirun/srun): allreduce,
// reduce, allgather, gather, bcast and barrier in three steps — node-local single copy to the
// node's leader (node rank 0), the MPI collective among the leaders (MPI_Iallreduce,
// MPI_Ireduce, MPI_Iallgatherv, MPI_Igatherv, MPI_Ibcast, MPI_Ibarrier through koffi),
// node-local single copy back. Anything the leaders cannot hand to MPI as is (a reduction
// function, maxloc, an element type other than float64/float32/int32, an IN_PLACE allgather) takes
// the flat algorithm.
//
// Which algorithm is decided by each rank from its own arguments, so ranks may decide
// differently; none may then wait for a step the others never take. Every call of a kind runs
// the same sequence of node collectives on every rank, whichever algorithm the rank chose:
//
//   1. node-local step: the hierarchical rank's node.reduce / node.gather / the root node's
//      node.bcast, or, on a rank that chose flat (and on the other nodes of a bcast, which have
//      nothing to copy yet), a stand-in: node.allreduce(MAX) of [mode, −mode]. A node whose
//      ranks chose differently (or disagree on arguments) fails this step on all its ranks with
//      ERR_MISMATCH: the node collective's own descriptor exchange compares kinds and arguments,
//      and the stand-in's result shows two modes.
//   2. agreement: the leaders reduce one fixed-length signature (hier-agreement.ts: kind, mode,
//      "this node failed", the arguments) with MAX; the leader of a node whose step 1 failed still
//      joins, with the failed flag set. Each leader then broadcasts the verdict over its node.
//      The leaders start the MPI step as soon as they agree, while the verdict goes out.
//   3. the rest: the MPI step's result back over the node (hierarchical), or the flat algorithm
//      over the whole job (every rank chose flat: it costs this one agreement more).
//
// So a mismatch anywhere fails every rank of the job with ERR_MISMATCH, and a correct
// hierarchical call costs no round beyond the signature the leaders compared already. A
// receive buffer of the wrong size fails that rank alone, at the end (ERR_INVALID_ARG).
// The steps of one call run on the node communicator and among the leaders at moments that
// differ from rank to rank, so calls run one after another in call order (a non-blocking one is
// queued behind the previous one): every rank of a node then issues the same node-local
// collectives in the same order, and every leader the same MPI ones.
import { performance } from "node:perf_hooks";
import { IN_PLACE, type CollBuffer, type InPlace, type ReduceOp } from "@onecopy/collectives";
import { ErrorCode, OnecopyError, type LeaderCollectives, type LeaderOp, type LeaderType, type WaitOptions } from "@onecopy/rendezvous";
import { readKnob } from "@onecopy/cma";
import { Comm } from "./comm.js";
import { pipelinedAllreduce, type Typed } from "./hier-pipeline.js";
import { both, KIND, MODE, nodeMismatch, signature, VERDICT, verdictError, verdictOf } from "./hier-agreement.js";

const TYPES = new Map<unknown, { name: LeaderType; code: number }>([
  [Float64Array, { name: "float64", code: 1 }],
  [Float32Array, { name: "float32", code: 2 }],
  [Int32Array, { name: "int32", code: 3 }],
]);
const OPS: Record<string, number> = { sum: 1, prod: 2, min: 3, max: 4 };

/** The bytes of a view. */
const bytes = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
/** A length as two int32 signature fields. */
const len2 = (n: number) => [n % 0x40000000, Math.floor(n / 0x40000000)];

/** One call, as every rank runs it. */
export interface Plan {
  what: string;
  kind: number;
  /** This rank's signature fields when it takes the hierarchical algorithm; null: the flat one. */
  fields: number[] | null;
  /** Hierarchical: the node-local step before the agreement. */
  before: () => Promise<void>;
  /** Hierarchical, leaders: the MPI step, started once the leaders agree. */
  mpi?: () => Promise<void>;
  /** Hierarchical: what follows the agreement (and the MPI step, on a leader). */
  after?: () => Promise<void>;
  /** Hierarchical, instead of `after`: what follows the agreement, given the leader's MPI step still running (null elsewhere). */
  overlap?: (step: Promise<void> | null) => Promise<void>;
  /** The flat algorithm over the whole job. */
  flat: () => Promise<void>;
}

/** Wall time each step of the hierarchical calls took on this rank, µs, summed (bench: per-step figures). */
export interface HierarchicalSteps {
  calls: number;
  local: number;
  agree: number;
  mpi: number;
  after: number;
  flat: number;
}

export class HierarchicalComm extends Comm {
  private node: Comm | null = null;
  private leaders: LeaderCollectives | null = null;
  private queue: Promise<void> = Promise.resolve();
  /** Where the time of this rank's hierarchical calls went (not part of the public API). */
  readonly steps: HierarchicalSteps = { calls: 0, local: 0, agree: 0, mpi: 0, after: 0, flat: 0 };

  /** Called once by init(): the communicator of this rank's node, and the leaders' MPI collectives. */
  useNodes(node: Comm, leaders: LeaderCollectives): void {
    this.node = node;
    this.leaders = leaders;
  }

  /** Run `body` after every earlier hierarchical call of this communicator has settled. */
  private inTurn(body: () => Promise<void>): Promise<void> {
    const run = this.queue.then(body);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Run one call through steps 1–3 (see the top of this file), in turn. */
  private inSteps(p: Plan, opts?: WaitOptions): Promise<void> {
    const node = this.node!;
    const steps = this.steps;
    return this.inTurn(async () => {
      const hier = p.fields !== null;
      let t = performance.now();
      const lap = (k: Exclude<keyof HierarchicalSteps, "calls">) => {
        const now = performance.now();
        steps[k] += (now - t) * 1000;
        t = now;
      };
      steps.calls++;
      let local: unknown = null;
      try {
        if (hier) await p.before();
        else if (node.size > 1) await this.nodeModes(MODE.flat, opts); // the stand-in: see step 1
      } catch (err) {
        local = nodeMismatch(p.what, err);
      }
      lap("local");
      const { verdict, step, failure } = await this.agree(p, hier, local !== null, opts);
      lap("agree");
      if (local !== null) throw local;
      if (failure !== null) throw failure;
      if (verdict !== VERDICT.agreed) throw verdictError(p.what, verdict);
      if (!hier) {
        await p.flat();
        lap("flat");
        return;
      }
      if (p.overlap) {
        await p.overlap(step);
        lap("after");
        return;
      }
      if (step) await step;
      lap("mpi");
      await p.after?.();
      lap("after");
    });
  }

  /**
   * Step 1 of a rank that takes no node-local data step: MAX of [mode, −mode] over the node. A
   * node-local data step on a node-mate fails both (another collective); a node-mate in the same
   * stand-in with another mode shows in the result, and every rank of the node throws.
   */
  private async nodeModes(mode: number, opts?: WaitOptions): Promise<void> {
    if (this.node!.size === 1) return;
    const m = Int32Array.of(mode, -mode);
    await this.node!.allreduce(IN_PLACE, m, "max", opts);
    if (m[0] !== -m[1]!) throw new OnecopyError(ErrorCode.MISMATCH, "some ranks of this node take the hierarchical algorithm and others the flat one");
  }

  /** Leaders compare the signature (and start the MPI step if they agree); every rank learns the verdict from its leader. */
  private async agree(p: Plan, hier: boolean, failed: boolean, opts?: WaitOptions): Promise<{ verdict: number; step: Promise<void> | null; failure: unknown }> {
    const leaders = this.leaders!;
    const status = new Int32Array(1);
    let step: Promise<void> | null = null;
    let failure: unknown = null;
    if (leaders.leader) {
      try {
        const sig = both(signature(p.kind, hier ? MODE.hierarchical : MODE.flat, failed, p.fields ?? []));
        await leaders.allreduce(sig, "int32", "max");
        status[0] = verdictOf(sig);
        if (status[0] === VERDICT.agreed && hier && p.mpi) {
          step = p.mpi();
          step.catch(() => {}); // awaited by the caller, after the verdict's broadcast
        }
      } catch (err) {
        failure = err;
        status[0] = VERDICT.mpiFailed;
      }
    }
    if (this.node!.size > 1) await this.node!.bcast(status, 0, opts);
    return { verdict: status[0]!, step, failure };
  }

  override allreduce(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp, opts?: WaitOptions): Promise<void> {
    if (!this.node || !this.leaders) return super.allreduce(send, recv, op, opts);
    const t = TYPES.get((recv as object | null | undefined)?.constructor);
    const hier =
      t !== undefined && typeof op === "string" && OPS[op] !== undefined && (send === IN_PLACE || ((send as object | null | undefined)?.constructor === recv.constructor && (send as ArrayBufferView).byteLength === (recv as ArrayBufferView).byteLength));
    const view = recv as ArrayBufferView;
    const node = this.node;
    const leaders = this.leaders;
    const chunk = readKnob("hierChunk");
    if (hier && node.size > 1 && chunk > 0 && view.byteLength >= 2 * chunk) return this.inSteps(pipelinedAllreduce(node, leaders, send as Typed | InPlace, recv as Typed, op as LeaderOp, t.name, t.code, chunk, opts), opts);
    return this.inSteps(
      {
        what: "allreduce",
        kind: KIND.allreduce,
        fields: hier ? [t.code, OPS[op as string]!, ...len2(view.byteLength)] : null,
        before: async () => {
          if (node.size === 1) return; // a node of one: MPI reads its send buffer itself
          await (leaders.leader ? node.reduce(send, recv, op, 0, opts) : node.reduce(send === IN_PLACE ? recv : send, null, op, 0, opts));
        },
        mpi: () => leaders.allreduce(view, t!.name, op as LeaderOp, node.size === 1 && send !== IN_PLACE ? (send as ArrayBufferView) : undefined),
        after: async () => {
          if (node.size > 1) await node.bcast(recv, 0, opts);
        },
        flat: () => super.allreduce(send, recv, op, opts),
      },
      opts,
    );
  }

  override reduce(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, op: ReduceOp, root: number, opts?: WaitOptions): Promise<void> {
    if (!this.node || !this.leaders) return super.reduce(send, recv, op, root, opts);
    const data = send === IN_PLACE ? recv : send;
    const t = TYPES.get((data as object | null | undefined)?.constructor);
    const isRoot = root === this.rank;
    const hier = t !== undefined && typeof op === "string" && OPS[op] !== undefined && Number.isInteger(root) && root >= 0 && root < this.size && (send !== IN_PLACE || isRoot);
    const good = !isRoot || ((recv as object | null | undefined)?.constructor === (data as object | null | undefined)?.constructor && (recv as ArrayBufferView | null | undefined)?.byteLength === (data as ArrayBufferView | null | undefined)?.byteLength);
    const node = this.node;
    const leaders = this.leaders;
    const mine = data as ArrayBufferView;
    const rootNode = hier ? leaders.nodeOf[root]! : -1;
    const rootNodeRank = hier ? leaders.nodeRankOf[root]! : -1;
    const scratch = () => new (mine.constructor as new (n: number) => ArrayBufferView)(mine.byteLength / (mine as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
    // The node's sum at its leader: into the result itself when the leader is the root.
    let acc: ArrayBufferView | null = null;
    return this.inSteps(
      {
        what: "reduce",
        kind: KIND.reduce,
        fields: hier ? [t.code, OPS[op as string]!, rootNode, ...len2(mine.byteLength)] : null,
        before: () => {
          if (!leaders.leader) return node.reduce(mine, null, op, 0, opts);
          acc = isRoot && good ? (recv as ArrayBufferView) : scratch();
          if (node.size > 1) return node.reduce(isRoot && good ? send : mine, acc, op, 0, opts);
          if (acc !== mine) bytes(acc).set(bytes(mine));
          return Promise.resolve();
        },
        mpi: () => leaders.reduce(acc!, t!.name, op as LeaderOp, rootNode),
        after: async () => {
          // The root's node leader holds the result: hand it to the root if that is another rank.
          if (leaders.nodeOf[this.rank] === rootNode && rootNodeRank !== 0) {
            if (leaders.leader) await node.send(acc!, rootNodeRank, 0x3fff0000);
            else if (isRoot) await node.recv(good ? (recv as ArrayBufferView) : scratch(), 0, 0x3fff0000);
          }
          if (!good) throw badRecv("reduce", mine.byteLength);
        },
        flat: () => super.reduce(send, recv, op, root, opts),
      },
      opts,
    );
  }

  override allgather(send: CollBuffer | InPlace, recv: CollBuffer, opts?: WaitOptions): Promise<void> {
    if (!this.node || !this.leaders) return super.allgather(send, recv, opts);
    const hier = send !== IN_PLACE && ArrayBuffer.isView(send) && send.byteLength * this.size <= 0x7fffffff;
    const blk = hier ? (send as ArrayBufferView).byteLength : 0;
    const good = ArrayBuffer.isView(recv) && recv.byteLength === blk * this.size;
    const node = this.node;
    const leaders = this.leaders;
    // The node's blocks at its leader, in node-rank order; then every node's, node after node.
    // A node of one: its block is the send buffer itself.
    const mine = leaders.leader && hier ? (node.size === 1 ? bytes(send as ArrayBufferView) : new Uint8Array(blk * node.size)) : null;
    const all = leaders.leader && hier ? new Uint8Array(blk * this.size) : null;
    const perNode = this.blocksPerNode(blk);
    return this.inSteps(
      {
        what: "allgather",
        kind: KIND.allgather,
        fields: hier ? len2(blk) : null,
        before: async () => {
          if (node.size > 1) await node.gather(bytes(send as ArrayBufferView), mine, 0, opts);
        },
        mpi: () => leaders.allgather(mine!, all!, perNode),
        after: async () => {
          const out = good ? bytes(recv as ArrayBufferView) : new Uint8Array(blk * this.size);
          if (leaders.leader) this.toRankOrder(all!, out, blk, perNode); // once, on the leader
          if (node.size > 1) await node.bcast(out, 0, opts);
          if (!good) throw badRecv("allgather", blk * this.size);
        },
        flat: () => super.allgather(send, recv, opts),
      },
      opts,
    );
  }

  override gather(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, root: number, opts?: WaitOptions): Promise<void> {
    if (!this.node || !this.leaders) return super.gather(send, recv, root, opts);
    const isRoot = root === this.rank;
    // The root may pass IN_PLACE: its block is already in its place in `recv`.
    const inPlace = send === IN_PLACE && isRoot && ArrayBuffer.isView(recv) && recv.byteLength % this.size === 0;
    const blk = inPlace ? (recv as ArrayBufferView).byteLength / this.size : ArrayBuffer.isView(send) ? send.byteLength : -1;
    const hier = (send !== IN_PLACE || inPlace) && blk >= 0 && Number.isInteger(root) && root >= 0 && root < this.size && blk * this.size <= 0x7fffffff;
    const good = !isRoot || (ArrayBuffer.isView(recv) && recv.byteLength === blk * this.size);
    const node = this.node;
    const leaders = this.leaders;
    const rootNode = hier ? leaders.nodeOf[root]! : -1;
    const rootNodeRank = hier ? leaders.nodeRankOf[root]! : -1;
    const onRootNode = leaders.nodeOf[this.rank] === rootNode;
    const block = !hier ? null : inPlace ? bytes(recv as ArrayBufferView).slice(this.rank * blk, (this.rank + 1) * blk) : bytes(send as ArrayBufferView);
    const mine = leaders.leader && hier ? (node.size === 1 ? block : new Uint8Array(blk * node.size)) : null;
    const all = leaders.leader && hier && onRootNode ? new Uint8Array(blk * this.size) : null;
    const perNode = this.blocksPerNode(Math.max(blk, 0));
    return this.inSteps(
      {
        what: "gather",
        kind: KIND.gather,
        fields: hier ? [rootNode, ...len2(blk)] : null,
        before: async () => {
          if (node.size > 1) await node.gather(block!, mine, 0, opts);
        },
        mpi: () => leaders.gather(mine!, all, perNode, rootNode),
        after: async () => {
          if (!onRootNode) return;
          const out = isRoot && good ? bytes(recv as ArrayBufferView) : new Uint8Array(blk * this.size);
          if (leaders.leader) {
            this.toRankOrder(all!, out, blk, perNode);
            if (!isRoot) await node.send(out, rootNodeRank, 0x3fff0001);
          } else if (isRoot) await node.recv(out, 0, 0x3fff0001);
          if (!good) throw badRecv("gather", blk * this.size);
        },
        flat: () => super.gather(send, recv, root, opts),
      },
      opts,
    );
  }

  /** Bytes of every node's block of a gather of `blk` bytes per rank. */
  private blocksPerNode(blk: number): number[] {
    const perNode = new Array<number>(this.leaders!.nodes).fill(0);
    for (const n of this.leaders!.nodeOf) perNode[n]! += blk;
    return perNode;
  }

  /** Node-major blocks (as the leaders gathered them) into rank order. */
  private toRankOrder(all: Uint8Array, out: Uint8Array, blk: number, perNode: readonly number[]): void {
    const leaders = this.leaders!;
    const start = new Array<number>(leaders.nodes).fill(0);
    for (let k = 1; k < leaders.nodes; k++) start[k] = start[k - 1]! + perNode[k - 1]!;
    for (let r = 0; r < this.size; r++) {
      const at = start[leaders.nodeOf[r]!]! + leaders.nodeRankOf[r]! * blk;
      out.set(all.subarray(at, at + blk), r * blk);
    }
  }

  override bcast(buf: CollBuffer, root: number, opts?: WaitOptions): Promise<void> {
    if (!this.node || !this.leaders) return super.bcast(buf, root, opts);
    const hier = Number.isInteger(root) && root >= 0 && root < this.size && ArrayBuffer.isView(buf);
    const node = this.node;
    const leaders = this.leaders;
    const rootNode = hier ? leaders.nodeOf[root]! : -1;
    const onRootNode = leaders.nodeOf[this.rank] === rootNode;
    const view = buf as ArrayBufferView;
    return this.inSteps(
      {
        what: "bcast",
        kind: KIND.bcast,
        fields: hier ? [rootNode, ...len2(view.byteLength)] : null,
        // The root's node copies to its leader; the other nodes (nothing to copy yet) compare
        // modes, so a rank there that takes the flat algorithm (a bad root, say) is seen before the MPI step.
        before: async () => {
          if (node.size === 1) return;
          await (onRootNode ? node.bcast(buf, leaders.nodeRankOf[root]!, opts) : this.nodeModes(MODE.hierarchical, opts));
        },
        mpi: () => leaders.bcast(view, rootNode),
        after: async () => {
          if (!onRootNode && node.size > 1) await node.bcast(buf, 0, opts);
        },
        flat: () => super.bcast(buf, root, opts),
      },
      opts,
    );
  }

  override barrier(opts?: WaitOptions): Promise<void> {
    if (!this.node || !this.leaders) return super.barrier(opts);
    const node = this.node;
    const leaders = this.leaders;
    return this.inTurn(async () => {
      if (node.size > 1) await node.barrier(opts);
      if (leaders.leader) await leaders.barrier();
      if (node.size > 1) await node.barrier(opts);
    });
  }
}

function badRecv(what: string, bytes: number): OnecopyError {
  return new OnecopyError(ErrorCode.INVALID_ARG, `${what}: the receive buffer must be a typed array or view of ${bytes} bytes (send length × ranks)`);
}
