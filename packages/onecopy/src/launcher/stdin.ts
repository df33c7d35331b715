// The launcher's input, forwarded to the stdin of chosen ranks (rank 0 by default, as mpirun
// does). Other ranks read /dev/null.
import type { Readable, Writable } from "node:stream";

/**
 * Copies `source` into the stdin pipes of the ranks given with {@link add}, with backpressure:
 * reading pauses while any rank's pipe is full. A rank that exits or closes its stdin is dropped
 * (EPIPE is expected, not an error); when none is left, the source is no longer read. End of the
 * source ends every pipe.
 */
export class StdinForwarder {
  private readonly targets = new Set<Writable>();
  private readonly waiting = new Set<Writable>();
  private started = false;
  private stopped = false;
  private readonly onData = (chunk: Buffer): void => this.forward(chunk);
  private readonly onEnd = (): void => {
    for (const t of this.targets) t.end();
    this.stop();
  };

  constructor(private readonly source: Readable) {}

  /** A rank's stdin pipe. */
  add(pipe: Writable): void {
    if (this.stopped) {
      pipe.destroy();
      return;
    }
    this.targets.add(pipe);
    const drop = (): void => this.drop(pipe);
    pipe.on("error", drop); // EPIPE: the rank closed its stdin or exited
    pipe.on("close", drop);
  }

  /** Start reading the source (once every target is added). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.targets.size === 0) {
      this.stop();
      return;
    }
    this.source.on("data", this.onData);
    this.source.once("end", this.onEnd);
    this.source.once("error", this.onEnd);
    this.source.resume();
  }

  /** Stop reading; the source is left paused, not closed (it may be the caller's process.stdin). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.source.off("data", this.onData);
    this.source.off("end", this.onEnd);
    this.source.off("error", this.onEnd);
    this.source.pause();
    for (const t of this.targets) if (!t.writableEnded) t.end();
    this.targets.clear();
    this.waiting.clear();
  }

  private forward(chunk: Buffer): void {
    for (const t of this.targets) {
      if (t.write(chunk)) continue;
      if (!this.waiting.has(t)) {
        this.waiting.add(t);
        t.once("drain", () => this.drained(t));
      }
    }
    if (this.waiting.size > 0) this.source.pause();
  }

  private drained(t: Writable): void {
    this.waiting.delete(t);
    if (this.waiting.size === 0 && !this.stopped) this.source.resume();
  }

  private drop(t: Writable): void {
    if (!this.targets.delete(t)) return;
    this.drained(t);
    if (this.targets.size === 0 && this.started) this.stop();
  }
}
