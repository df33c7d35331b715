/**
 * steal — a distributed work-stealing task queue on one-sided communication. Every rank's
 * window holds a queue: a head counter and task descriptors. Rank 0 is handed most of the
 * tasks (a skewed load); every rank drains its own queue first and then steals from the others,
 * and no owner ever takes part in a steal: its event loop is busy computing.
 *
 *   - fetchAndOp("sum") on a queue's head hands out each task index exactly once;
 *   - get reads the task's descriptor from the owner's window;
 *   - accumulate("sum") adds the task's result into rank 0's totals and marks the task done
 *     in its owner's window;
 *   - lockAll/unlockAll bracket the whole run (a passive-target epoch).
 * Rank 0 checks that every task ran exactly once and that the total equals the reference.
 *
 *   onecopy run -n 4 examples/steal.ts                  (4000 tasks)
 *   onecopy run -n 3 examples/steal.ts --tasks 20k --work 20k
 *   onecopy run -n 2 --no-cma examples/steal.ts --small
 */
import { init } from "onecopy";
import { flags, report, verify } from "./_shared.js";

const opt = flags({ tasks: 4000, work: 5000, skew: 0.7 }, { tasks: 400, work: 500 });
const comm = await init();
const { rank, size } = comm;
const TASK_BYTES = 16; // [seed, work] as two float64

// ---- the queues: rank 0 gets `skew` of the tasks, the rest are spread over the others ---------
const total = Math.floor(opt.tasks);
const share = (r: number) => (size === 1 ? total : r === 0 ? Math.floor(total * opt.skew) : Math.floor((total - Math.floor(total * opt.skew)) / (size - 1)) + (r <= (total - Math.floor(total * opt.skew)) % (size - 1) ? 1 : 0));
const counts = Array.from({ length: size }, (_, r) => share(r));
const firstTask = (r: number) => counts.slice(0, r).reduce((a, b) => a + b, 0);
// Window layout: [0] head (int32), [8] totals (float64 sum, float64 tasks), [24 …] descriptors, then one done flag per task (int32).
const DESC = 24;
const doneAt = (r: number) => DESC + counts[r]! * TASK_BYTES;
const win = await comm.winAllocate(doneAt(rank) + 4 * counts[rank]!);
const mine = new Float64Array(win.memory.buffer, DESC, 2 * counts[rank]!);
for (let i = 0; i < counts[rank]!; i++) {
  const id = firstTask(rank) + i;
  mine[2 * i] = id * 2654435761 % 1000003;
  mine[2 * i + 1] = Math.floor(opt.work * (1 + (id % 7)));
}
await comm.barrier();

/** The task itself: a deterministic integer hash loop (its value is exact in a float64). */
function run(seed: number, work: number): number {
  let h = seed | 0;
  for (let i = 0; i < work; i++) h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + i;
  return (h >>> 0) & 0xffff;
}

const t0 = performance.now();
await win.lockAll();
const ticket = new Int32Array(1);
const desc = new Float64Array(2);
let ran = 0;
let stolen = 0;
for (let k = 0; k < size; k++) {
  const victim = (rank + k) % size; // own queue first, then the others in turn
  for (;;) {
    await win.fetchAndOp(1, ticket, victim, 0, "sum");
    const i = ticket[0]!;
    if (i >= counts[victim]!) break; // that queue is empty
    await win.get(desc, victim, DESC + i * TASK_BYTES);
    const value = run(desc[0]!, desc[1]!);
    await win.accumulate(new Float64Array([value, 1]), 0, 8, "sum");
    await win.accumulate(new Int32Array([1]), victim, doneAt(victim) + 4 * i, "sum");
    ran++;
    if (victim !== rank) stolen++;
  }
}
await win.unlockAll();
const elapsed = (performance.now() - t0) / 1000;
await comm.barrier(); // every rank's accumulates are complete: read the totals and flags locally

const flagsDone = new Int32Array(win.memory.slice(doneAt(rank), doneAt(rank) + 4 * counts[rank]!).buffer);
let ok = flagsDone.every((f) => f === 1);
let detail = ok ? "" : `rank ${rank}: task ${flagsDone.findIndex((f) => f !== 1)} ran ${flagsDone.find((f) => f !== 1)} times`;
const perRank = new Float64Array(rank === 0 ? 2 * size : 0);
await comm.gather(new Float64Array([ran, stolen]), rank === 0 ? perRank : null, 0);
if (rank === 0 && ok) {
  const totals = new Float64Array(win.memory.slice(8, 24).buffer);
  let want = 0;
  for (let id = 0; id < total; id++) want += run(id * 2654435761 % 1000003, Math.floor(opt.work * (1 + (id % 7))));
  const rows = Array.from({ length: size }, (_, r) => `rank ${r}: ran ${perRank[2 * r]}, stole ${perRank[2 * r + 1]}`);
  console.log(`steal: ${total} tasks on ${size} rank${size > 1 ? "s" : ""} (${counts.join("/")} queued); ${rows.join("; ")}; window mode ${win.stats().mode}`);
  ok = totals[1] === total && totals[0] === want;
  detail = ok ? `${total} tasks each ran once; total ${want} matches the reference` : `totals ${totals[1]} tasks, sum ${totals[0]}; expected ${total} and ${want}`;
}
const stats = comm.stats();
await verify(comm, "steal", ok, detail);
await win.free();
await report(comm, "steal", elapsed, stats);
await comm.close();
