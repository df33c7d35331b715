// The world communicator of a job that spans several nodes (started by mpirun/srun): allreduce,
// reduce, allgather, gather, bcast and barrier in three steps — node-local single copy to the
// node's leader (node rank 0), the MPI collective among the leaders (MPI_Iallreduce,
// MPI_Ireduce, MPI_Iallgatherv, MPI_Igatherv, MPI_Ibcast, MPI_Ibarrier through koffi),
// node-local single copy back. Anything the leaders cannot hand to MPI as is (a reduction
// function, maxloc, an element type other than float64/float32/int32, an IN_PLACE allgather) takes
// the flat algorithm. Which one is decided from what every rank passes alike (the send buffer,
// the op); a receive buffer of the wrong size fails that rank alone, at the end.
//
// Consistency: before the data, the leaders compare a signature (kind, type, op, length) with
// one small MPI_Iallreduce(MAX) of it and its negation; a node whose leader finds a mismatch
// learns it in the node-local status broadcast, so every rank fails with ERR_MISMATCH and none
// waits for data that will not come. The steps of one call run on the node communicator and
// among the leaders at moments that differ from rank to rank, so calls run one after another in
// call order (a non-blocking one is queued behind the previous one): every rank of a node then
// issues the same node-local collectives in the same order, and every leader the same MPI ones.
import { IN_PLACE, type CollBuffer, type InPlace, type ReduceOp } from "@onecopy/collectives";
import { ErrorCode, OnecopyError, type LeaderCollectives, type LeaderOp, type LeaderType, type WaitOptions } from "@onecopy/rendezvous";
import { Comm } from "./comm.js";

const TYPES = new Map<unknown, { name: LeaderType; code: number }>([
  [Float64Array, { name: "float64", code: 1 }],
  [Float32Array, { name: "float32", code: 2 }],
  [Int32Array, { name: "int32", code: 3 }],
]);
const OPS: Record<string, number> = { sum: 1, prod: 2, min: 3, max: 4 };
const KIND = { allreduce: 1, bcast: 2, reduce: 3, allgather: 4, gather: 5 } as const;

/** The bytes of a view. */
const bytes = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

export class HierarchicalComm extends Comm {
  private node: Comm | null = null;
  private leaders: LeaderCollectives | null = null;
  private queue: Promise<void> = Promise.resolve();

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

  /** Leaders: compare the signature; everyone: learn the verdict from the node's leader. Then run the MPI step. */
  private async agreed(what: string, sig: number[], mpiStep: () => Promise<void>, opts?: WaitOptions): Promise<void> {
    const node = this.node!;
    const leaders = this.leaders!;
    const status = new Int32Array(1);
    let step: Promise<void> | null = null;
    let failure: unknown = null;
    if (leaders.leader) {
      let agree = false;
      try {
        const both = Int32Array.from([...sig, ...sig.map((x) => -x)]);
        await leaders.allreduce(both, "int32", "max");
        agree = sigAgrees(both, sig.length);
        if (agree) {
          step = mpiStep();
          step.catch(() => {}); // awaited below, after the status broadcast
        }
      } catch (err) {
        failure = err;
      }
      if (!agree) status[0] = failure ? 2 : 1;
    }
    await node.bcast(status, 0, opts);
    if (failure) throw failure;
    if (status[0] === 2) throw new OnecopyError(ErrorCode.MPI, `${what}: the MPI step among the node leaders failed on this node's leader`);
    if (status[0] !== 0) throw new OnecopyError(ErrorCode.MISMATCH, `${what}: the ranks disagree about the element type, length or operator`);
    await step;
  }

  override allreduce(send: CollBuffer | InPlace, recv: CollBuffer, op: ReduceOp, opts?: WaitOptions): Promise<void> {
    const t = TYPES.get((recv as object)?.constructor);
    const ok =
      this.node && this.leaders && t && typeof op === "string" && OPS[op] !== undefined && (send === IN_PLACE || ((send as object)?.constructor === recv.constructor && (send as ArrayBufferView).byteLength === (recv as ArrayBufferView).byteLength));
    if (!ok) return super.allreduce(send, recv, op, opts);
    const view = recv as ArrayBufferView;
    const node = this.node!;
    const leaders = this.leaders!;
    const sig = [KIND.allreduce, t.code, OPS[op]!, view.byteLength % 0x40000000, Math.floor(view.byteLength / 0x40000000)];
    return this.inTurn(async () => {
      if (leaders.leader) await node.reduce(send, recv, op, 0, opts);
      else await node.reduce(send === IN_PLACE ? recv : send, null, op, 0, opts);
      await this.agreed("allreduce", sig, () => leaders.allreduce(view, t.name, op as LeaderOp), opts);
      await node.bcast(recv, 0, opts);
    });
  }

  override reduce(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, op: ReduceOp, root: number, opts?: WaitOptions): Promise<void> {
    const data = send === IN_PLACE ? recv : send;
    const t = TYPES.get((data as object | null | undefined)?.constructor);
    const isRoot = root === this.rank;
    const ok = this.node && this.leaders && t && typeof op === "string" && OPS[op] !== undefined && Number.isInteger(root) && root >= 0 && root < this.size && (send !== IN_PLACE || isRoot);
    if (!ok) return super.reduce(send, recv, op, root, opts);
    const good = !isRoot || ((recv as object | null | undefined)?.constructor === (data as object).constructor && (recv as ArrayBufferView).byteLength === (data as ArrayBufferView).byteLength);
    const node = this.node!;
    const leaders = this.leaders!;
    const mine = data as ArrayBufferView;
    const rootNode = leaders.nodeOf[root]!;
    const rootNodeRank = leaders.nodeRankOf[root]!;
    const sig = [KIND.reduce, t.code, OPS[op]!, rootNode, mine.byteLength % 0x40000000, Math.floor(mine.byteLength / 0x40000000)];
    return this.inTurn(async () => {
      // The node's sum at its leader: into the result itself when the leader is the root.
      const scratch = () => new (mine.constructor as new (n: number) => ArrayBufferView)(mine.byteLength / (mine as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
      const acc = leaders.leader ? (isRoot && good ? (recv as ArrayBufferView) : scratch()) : null;
      if (leaders.leader) await node.reduce(isRoot && good ? send : mine, acc, op, 0, opts);
      else await node.reduce(mine, null, op, 0, opts);
      await this.agreed("reduce", sig, () => leaders.reduce(acc!, t.name, op as LeaderOp, rootNode), opts);
      // The root's node leader holds the result: hand it to the root if that is another rank.
      if (leaders.nodeOf[this.rank] === rootNode && rootNodeRank !== 0) {
        if (leaders.leader) await node.send(acc!, rootNodeRank, 0x3fff0000);
        else if (isRoot) await node.recv(good ? (recv as ArrayBufferView) : scratch(), 0, 0x3fff0000);
      }
      if (!good) throw badRecv("reduce", mine.byteLength);
    });
  }

  override allgather(send: CollBuffer | InPlace, recv: CollBuffer, opts?: WaitOptions): Promise<void> {
    if (!this.node || !this.leaders || send === IN_PLACE || !ArrayBuffer.isView(send) || send.byteLength * this.size > 0x7fffffff) return super.allgather(send, recv, opts);
    const good = ArrayBuffer.isView(recv) && recv.byteLength === send.byteLength * this.size;
    const node = this.node;
    const leaders = this.leaders;
    const blk = send.byteLength;
    const sig = [KIND.allgather, blk % 0x40000000, Math.floor(blk / 0x40000000)];
    return this.inTurn(async () => {
      // The node's blocks at its leader, in node-rank order; then every node's, node after node.
      const mine = leaders.leader ? new Uint8Array(blk * node.size) : null;
      await node.gather(bytes(send), mine, 0, opts);
      const perNode = this.blocksPerNode(blk);
      const all = leaders.leader ? new Uint8Array(blk * this.size) : null;
      await this.agreed("allgather", sig, () => leaders.allgather(mine!, all!, perNode), opts);
      const out = good ? bytes(recv as ArrayBufferView) : new Uint8Array(blk * this.size);
      if (leaders.leader) this.toRankOrder(all!, out, blk, perNode); // once, on the leader
      await node.bcast(out, 0, opts);
      if (!good) throw badRecv("allgather", blk * this.size);
    });
  }

  override gather(send: CollBuffer | InPlace, recv: CollBuffer | null | undefined, root: number, opts?: WaitOptions): Promise<void> {
    const isRoot = root === this.rank;
    // The root may pass IN_PLACE: its block is already in its place in `recv`.
    const inPlace = send === IN_PLACE && isRoot && ArrayBuffer.isView(recv) && recv.byteLength % this.size === 0;
    const blk = inPlace ? (recv as ArrayBufferView).byteLength / this.size : ArrayBuffer.isView(send) ? send.byteLength : -1;
    if (!this.node || !this.leaders || (send === IN_PLACE && !inPlace) || blk < 0 || !Number.isInteger(root) || root < 0 || root >= this.size || blk * this.size > 0x7fffffff)
      return super.gather(send, recv, root, opts);
    const good = !isRoot || (ArrayBuffer.isView(recv) && recv.byteLength === blk * this.size);
    const block = inPlace ? bytes(recv as ArrayBufferView).slice(this.rank * blk, (this.rank + 1) * blk) : bytes(send as ArrayBufferView);
    const node = this.node;
    const leaders = this.leaders;
    const rootNode = leaders.nodeOf[root]!;
    const rootNodeRank = leaders.nodeRankOf[root]!;
    const onRootNode = leaders.nodeOf[this.rank] === rootNode;
    const sig = [KIND.gather, rootNode, blk % 0x40000000, Math.floor(blk / 0x40000000)];
    return this.inTurn(async () => {
      const mine = leaders.leader ? new Uint8Array(blk * node.size) : null;
      await node.gather(block, mine, 0, opts);
      const perNode = this.blocksPerNode(blk);
      const all = leaders.leader && onRootNode ? new Uint8Array(blk * this.size) : null;
      await this.agreed("gather", sig, () => leaders.gather(mine!, all, perNode, rootNode), opts);
      if (!onRootNode) return;
      const out = isRoot && good ? bytes(recv as ArrayBufferView) : new Uint8Array(blk * this.size);
      if (leaders.leader) {
        this.toRankOrder(all!, out, blk, perNode);
        if (!isRoot) await node.send(out, rootNodeRank, 0x3fff0001);
      } else if (isRoot) await node.recv(out, 0, 0x3fff0001);
      if (!good) throw badRecv("gather", blk * this.size);
    });
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
    if (!this.node || !this.leaders || !Number.isInteger(root) || root < 0 || root >= this.size || !ArrayBuffer.isView(buf)) return super.bcast(buf, root, opts);
    const node = this.node;
    const leaders = this.leaders;
    const rootNode = leaders.nodeOf[root]!;
    const mine = leaders.nodeOf[this.rank]!;
    const sig = [KIND.bcast, rootNode, buf.byteLength % 0x40000000, Math.floor(buf.byteLength / 0x40000000)];
    return this.inTurn(async () => {
      if (mine === rootNode) await node.bcast(buf, leaders.nodeRankOf[root]!, opts);
      await this.agreed("bcast", sig, () => leaders.bcast(buf, rootNode), opts);
      if (mine !== rootNode) await node.bcast(buf, 0, opts);
    });
  }

  override barrier(opts?: WaitOptions): Promise<void> {
    if (!this.node || !this.leaders) return super.barrier(opts);
    const node = this.node;
    const leaders = this.leaders;
    return this.inTurn(async () => {
      await node.barrier(opts);
      if (leaders.leader) await leaders.barrier();
      await node.barrier(opts);
    });
  }
}

function badRecv(what: string, bytes: number): OnecopyError {
  return new OnecopyError(ErrorCode.INVALID_ARG, `${what}: the receive buffer must be a typed array or view of ${bytes} bytes (send length × ranks)`);
}

/** After MAX over [sig, -sig]: every leader had the same signature iff max(sig) == -max(-sig). */
function sigAgrees(both: Int32Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (both[i] !== -both[n + i]!) return false;
  return true;
}
