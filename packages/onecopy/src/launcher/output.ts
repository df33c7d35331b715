// Rank output: collected per rank, split into lines, and forwarded whole lines at a time so that
// lines of different ranks never interleave mid-line (optionally tagged "[rank] ").
import { writeSync } from "node:fs";
import type { Readable, Writable } from "node:stream";

/** A line longer than this is forwarded in pieces rather than buffered without bound. */
export const MAX_LINE_BYTES = 1024 * 1024;
const NL = 0x0a;

/**
 * A launcher-side output stream (process.stdout / process.stderr) shared by all ranks. Applies
 * backpressure: when the destination's buffer is full the rank pipes are paused until it drains.
 * A write error (e.g. EPIPE after `| head`) stops forwarding instead of crashing the launcher.
 */
export class OutputSink {
  private readonly paused = new Set<Readable>();
  private waitingForDrain = false;
  private broken = false;
  private readonly onError = (): void => {
    this.broken = true;
    this.resumeAll();
  };

  constructor(private readonly dest: Writable) {
    dest.on("error", this.onError);
  }

  /** Write `data`; if the destination is saturated, pause `source` until it drains. */
  write(data: Buffer, source: Readable): void {
    if (this.broken || this.dest.destroyed) return;
    if (this.dest.write(data)) return;
    this.paused.add(source);
    source.pause();
    if (!this.waitingForDrain) {
      this.waitingForDrain = true;
      this.dest.once("drain", () => this.resumeAll());
    }
  }

  private resumeAll(): void {
    this.waitingForDrain = false;
    for (const s of this.paused) s.resume();
    this.paused.clear();
  }

  /** Detach from the destination (resumes anything still paused). */
  close(): void {
    this.dest.off("error", this.onError);
    this.resumeAll();
  }
}

/** Where one rank stream's output goes. */
export interface RankStreamTarget {
  /** Forward complete lines here (with the prefix), if set. */
  sink?: OutputSink;
  /** Prefix for every forwarded line, e.g. `[3] `. */
  prefix?: string;
  /** Called with each complete line (without newline). */
  onLine?: (line: string) => void;
  /** Keep the raw bytes so {@link RankStreamReader.text} can return them. */
  collect: boolean;
  /** Also append the raw bytes (untagged) to this open file (`--output-filename`). */
  file?: number;
  /** The file could not be written (e.g. ENOSPC): called once, and the file is written no more. */
  onFileError?: (err: Error) => void;
}

/**
 * Reads one rank stream (stdout or stderr): collects its bytes and, if wanted, splits them into
 * lines (on the byte 0x0A, which never occurs inside a multi-byte UTF-8 sequence, so this is
 * binary-safe) and forwards them. A final line without newline is flushed when the stream ends
 * (with a newline added when tagging, so the next rank's tag starts on its own line).
 */
export class RankStreamReader {
  private readonly chunks: Buffer[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly prefix: Buffer | undefined;
  private readonly lineMode: boolean;
  private finished = false;
  private file: number | undefined;

  constructor(
    private readonly source: Readable,
    private readonly target: RankStreamTarget,
  ) {
    this.file = target.file;
    this.prefix = target.prefix ? Buffer.from(target.prefix) : undefined;
    this.lineMode = target.sink !== undefined || target.onLine !== undefined;
    source.on("data", (chunk: Buffer) => this.push(chunk));
    source.on("end", () => this.finish());
    source.on("close", () => this.finish());
    source.on("error", () => this.finish());
  }

  /** Everything the rank wrote to this stream, decoded as UTF-8 ("" when not collecting). */
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }

  private push(chunk: Buffer): void {
    if (this.target.collect) this.chunks.push(chunk);
    if (this.file !== undefined) this.writeFile(chunk);
    if (!this.lineMode) return;
    let start = 0;
    if (!this.prefix && !this.target.onLine) {
      // Untagged forwarding: all complete lines of the chunk go out in one write.
      const last = chunk.lastIndexOf(NL);
      if (last !== -1) {
        this.pending.push(chunk.subarray(0, last + 1));
        this.emitLine();
        start = last + 1;
      }
    } else for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, start)) {
      // Everything up to and including the last newline goes out in one write.
      this.pending.push(chunk.subarray(start, nl + 1));
      this.emitLine();
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pending.push(rest);
      this.pendingBytes += rest.length;
      if (this.pendingBytes >= MAX_LINE_BYTES) this.emitLine(true);
    }
  }

  private writeFile(chunk: Buffer): void {
    try {
      for (let off = 0; off < chunk.length; ) off += writeSync(this.file!, chunk, off);
    } catch (err) {
      this.file = undefined;
      this.target.onFileError?.(err as Error);
    }
  }

  /** Emit the pending bytes as one line; `partial` = no newline at its end yet. */
  private emitLine(partial = false): void {
    let line = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    if (this.target.onLine) {
      const body = partial ? line : line.subarray(0, line.length - 1);
      this.target.onLine(body.toString("utf8"));
    }
    const { sink } = this.target;
    if (!sink) return;
    if (partial && this.prefix) line = Buffer.concat([line, Buffer.from("\n")]);
    sink.write(this.prefix ? Buffer.concat([this.prefix, line]) : line, this.source);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.lineMode && this.pendingBytes > 0) this.emitLine(true);
  }
}
