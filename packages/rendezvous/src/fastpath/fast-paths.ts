// The engine's side of the fast path: whether it is on (ONECOPY_FASTPATH, shared memory usable),
// one FastPath per adopted link, the one warning per process, and adaptive progress over them.
import { readKnob, shmUnavailableReason } from "@onecopy/cma";
import type { PeerLink } from "../link.js";
import { jobKeyOf, segmentPrefix } from "../shm/segment-layout.js";
import type { TransportStats } from "../stats.js";
import { FastPath } from "./fast-path.js";
import { ringCapacity } from "./frame-ring.js";
import { Progress, spinBudgetUs, type ProgressHost } from "./progress.js";

export interface FastPathsOptions {
  rank: number;
  size: number;
  token: string;
  /** ONECOPY_FASTPATH_RING and ONECOPY_SPIN_US. */
  ringBytes: number;
  spinUs: number;
  counters: TransportStats;
  warn: (message: string) => void;
  /** ONECOPY_FASTPATH (default: from the environment). */
  enabled?: boolean;
}

/** Name (under /dev/shm) of the frame ring carrying frames from rank `from` to rank `to`. */
export function frameRingName(jobKey: string, from: number, to: number): string {
  return `${segmentPrefix(jobKey)}f${from}-${to}`;
}

export class FastPaths {
  /** Why the fast path is off in this process, or null. */
  readonly off: string | null;
  readonly progress: Progress;
  /** The job's key in segment names. */
  readonly jobKey: string;
  private readonly capacity: number;
  private warned = false;
  private readonly decisions: Array<Promise<void>> = [];

  constructor(
    private readonly o: FastPathsOptions,
    host: ProgressHost,
  ) {
    this.off = !(o.enabled ?? readKnob("fastpath")) ? "ONECOPY_FASTPATH=0" : o.size < 2 ? "one rank" : shmUnavailableReason();
    this.jobKey = jobKeyOf(o.token);
    this.capacity = ringCapacity(o.ringBytes);
    this.progress = new Progress(host, spinBudgetUs(o.size, o.spinUs));
  }

  /** Give `link` (just handed to the engine) its frame rings. */
  attach(link: PeerLink): void {
    if (this.off !== null) return;
    const r = link.rank;
    const c = this.o.counters.fastpath;
    const fp: FastPath = new FastPath(
      { rank: this.o.rank, peer: r, outName: frameRingName(this.jobKey, this.o.rank, r), inName: frameRingName(this.jobKey, r, this.o.rank), capacity: this.capacity },
      {
        deliver: link.deliver,
        control: (f) => link.send(f),
        bell: () => link.bell(),
        paused: () => link.isPaused,
        corrupt: (err) => link.destroy(err),
        woken: () => this.progress.kick(),
        unusable: (reason) => this.warnOnce(reason),
        counters: c,
        closed: () => this.progress.remove(fp),
      },
    );
    link.attachFastPath(fp);
    this.progress.add(fp);
    this.decisions.push(fp.decided);
    fp.start();
  }

  /** Resolves once every attached link knows whether its frames go through its ring (start-up waits for it: one more round trip). */
  async ready(): Promise<void> {
    await Promise.all(this.decisions);
  }

  private warnOnce(reason: string): void {
    if (this.warned) return;
    this.warned = true;
    this.o.warn(`onecopy: rank ${this.o.rank}: shared-memory fast path unusable (${reason}); that pair's frames stay on the socket.`);
  }
}
