// A large hierarchical allreduce in chunks, so the three steps overlap: while the leaders'
// MPI_Iallreduce of chunk k runs, the node reduces chunk k+1 to its leader; the node-local
// broadcast of chunk k runs while MPI does chunk k+1.
//
// Every rank of a node issues its node collectives in one fixed order — reduce 0 (step 1 of
// hierarchical.ts), then reduce 1, bcast 0, reduce 2, bcast 1, …, bcast n−1 — whatever MPI's
// timing, since node collectives match by call order. The leader issues bcast k once MPI has
// chunk k, and MPI chunk k+1 once the node has reduced it; the other ranks issue them all at
// once. Step 1 also compares the total length over the node (a small node allreduce beside the
// reduce of chunk 0): chunk 0 alone would not show two ranks whose lengths differ by whole
// chunks, and the one with more chunks would wait.
import { IN_PLACE, type InPlace } from "@onecopy/collectives";
import { ErrorCode, OnecopyError, type LeaderCollectives, type LeaderOp, type LeaderType, type WaitOptions } from "@onecopy/rendezvous";
import type { Comm } from "./comm.js";
import { KIND } from "./hier-agreement.js";
import type { Plan } from "./hierarchical.js";

/** The typed arrays the leaders reduce through MPI. */
export type Typed = Float64Array | Float32Array | Int32Array;

/** Wait for every promise; then throw the first failure (none left unhandled). */
async function settleAll(ps: Promise<void>[]): Promise<void> {
  const rs = await Promise.allSettled(ps);
  for (const r of rs) if (r.status === "rejected") throw r.reason;
}

export function pipelinedAllreduce(node: Comm, leaders: LeaderCollectives, send: Typed | InPlace, recv: Typed, op: LeaderOp, type: LeaderType, code: number, chunkBytes: number, opts?: WaitOptions): Plan {
  const per = Math.max(1, Math.floor(chunkBytes / recv.BYTES_PER_ELEMENT));
  const count = recv.length;
  const n = Math.ceil(count / per);
  const part = (v: Typed, k: number) => v.subarray(k * per, Math.min(count, (k + 1) * per));
  const reduce = (k: number) =>
    leaders.leader ? node.reduce(send === IN_PLACE ? IN_PLACE : part(send, k), part(recv, k), op, 0, opts) : node.reduce(part(send === IN_PLACE ? recv : send, k), null, op, 0, opts);
  const bcast = (k: number) => node.bcast(part(recv, k), 0, opts);
  const mpi = (k: number) => leaders.allreduce(part(recv, k), type, op, undefined, true);
  const bytes = recv.byteLength;
  const len = [bytes % 0x40000000, Math.floor(bytes / 0x40000000)];
  return {
    what: "allreduce",
    kind: KIND.allreduce,
    fields: [code, { sum: 1, prod: 2, min: 3, max: 4 }[op], ...len],
    before: async () => {
      const total = Int32Array.of(len[0]!, len[1]!, -len[0]!, -len[1]!);
      await settleAll([node.allreduce(IN_PLACE, total, "max", opts), reduce(0)]);
      if (total[0] !== -total[2]! || total[1] !== -total[3]!) throw new OnecopyError(ErrorCode.MISMATCH, "allreduce: the ranks of this node disagree about the length");
    },
    mpi: () => mpi(0),
    overlap: async (step) => {
      const pending: Promise<void>[] = [];
      if (!leaders.leader) {
        for (let k = 0; k < n; k++) {
          if (k + 1 < n) pending.push(reduce(k + 1));
          pending.push(bcast(k));
        }
        return settleAll(pending);
      }
      let inMpi = step!;
      try {
        for (let k = 0; k < n; k++) {
          const next = k + 1 < n ? reduce(k + 1) : null;
          if (next) pending.push(next);
          await inMpi;
          pending.push(bcast(k));
          if (next) {
            await next;
            inMpi = mpi(k + 1);
          }
        }
      } finally {
        await settleAll(pending);
      }
    },
    flat: () => Promise.reject(new Error("unreachable")),
  };
}
