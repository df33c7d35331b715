// The benchmark's baseline: collectives built the obvious way on point-to-point messages
// (linear loops at the root, all-pairs exchanges). Large messages still move by the
// rendezvous protocol (single copy per message); only the algorithms are naive.
import type { Comm } from "onecopy";

const TAG = 31_000;

async function bcast(comm: Comm, buf: Float64Array): Promise<void> {
  if (comm.rank === 0) {
    const reqs = [];
    for (let r = 1; r < comm.size; r++) reqs.push(comm.isend(buf, r, TAG));
    await Promise.all(reqs.map((q) => q.wait()));
  } else await comm.recv(buf, 0, TAG);
}

async function reduce(comm: Comm, send: Float64Array, recv: Float64Array): Promise<void> {
  if (comm.rank !== 0) return comm.send(send, 0, TAG);
  recv.set(send);
  const tmp = Array.from({ length: comm.size - 1 }, () => new Float64Array(send.length));
  await Promise.all(tmp.map((b, i) => comm.recv(b, i + 1, TAG)));
  for (const b of tmp) for (let i = 0; i < recv.length; i++) recv[i] += b[i]!;
}

async function allreduce(comm: Comm, send: Float64Array, recv: Float64Array): Promise<void> {
  await reduce(comm, send, recv);
  await bcast(comm, recv);
}

async function gather(comm: Comm, send: Float64Array, recv: Float64Array): Promise<void> {
  const c = send.length;
  if (comm.rank !== 0) return comm.send(send, 0, TAG);
  recv.set(send, 0);
  await Promise.all(Array.from({ length: comm.size - 1 }, (_, i) => comm.recv(recv.subarray((i + 1) * c, (i + 2) * c), i + 1, TAG)));
}

async function scatter(comm: Comm, send: Float64Array, recv: Float64Array): Promise<void> {
  const c = recv.length;
  if (comm.rank !== 0) {
    await comm.recv(recv, 0, TAG);
    return;
  }
  recv.set(send.subarray(0, c));
  await Promise.all(Array.from({ length: comm.size - 1 }, (_, i) => comm.send(send.subarray((i + 1) * c, (i + 2) * c), i + 1, TAG)));
}

async function allgather(comm: Comm, send: Float64Array, recv: Float64Array): Promise<void> {
  const c = send.length;
  recv.set(send, comm.rank * c);
  const reqs = [];
  for (let r = 0; r < comm.size; r++) {
    if (r === comm.rank) continue;
    reqs.push(comm.irecv(recv.subarray(r * c, (r + 1) * c), r, TAG).wait());
    reqs.push(comm.isend(send, r, TAG).wait());
  }
  await Promise.all(reqs);
}

async function alltoall(comm: Comm, send: Float64Array, recv: Float64Array): Promise<void> {
  const c = send.length / comm.size;
  const me = comm.rank;
  recv.set(send.subarray(me * c, (me + 1) * c), me * c);
  const reqs = [];
  for (let r = 0; r < comm.size; r++) {
    if (r === me) continue;
    reqs.push(comm.irecv(recv.subarray(r * c, (r + 1) * c), r, TAG).wait());
    reqs.push(comm.isend(send.subarray(r * c, (r + 1) * c), r, TAG).wait());
  }
  await Promise.all(reqs);
}

export const NAIVE: Record<string, (comm: Comm, send: Float64Array, recv: Float64Array) => Promise<void>> = {
  bcast: (c, s) => bcast(c, s),
  reduce,
  allreduce,
  gather,
  scatter,
  allgather,
  alltoall,
};
