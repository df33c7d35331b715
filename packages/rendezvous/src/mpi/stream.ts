// A remote peer's link carries its frames over MPI: this Duplex stands where a node-local link
// has its Unix socket, so PeerLink, the frame reader and every protocol above them stay as they
// are. What one tick writes (the link corks the stream until the next tick) leaves as one MPI
// message on the control tag; a zero-length message is the end of the stream (the socket's FIN),
// sent once BYE and everything before it are posted. Bytes are copied into the message when
// written, so a write's callback runs at once, as a socket's does once the kernel has the bytes.
import { Duplex } from "node:stream";
import { ErrorCode, MessagingError } from "../errors.js";
import type { MpiProgress } from "./progress.js";

export class MpiStream extends Duplex {
  private ended = false;

  constructor(
    private readonly progress: MpiProgress,
    /** The peer's rank in MPI_COMM_WORLD (= its onecopy world rank). */
    readonly peer: number,
  ) {
    super({ allowHalfOpen: true });
  }

  /** A control message from the peer (called by the job's dispatcher). */
  deliver(bytes: Buffer): void {
    if (this.destroyed || this.ended) return; // after our own end: the peer's last frames and its EOF
    if (bytes.length === 0) {
      this.ended = true;
      this.push(null);
      return;
    }
    this.push(bytes);
  }

  /** The peer is lost (an MPI error on its traffic). */
  lose(cause: Error): void {
    if (this.destroyed) return;
    this.destroy(new MessagingError(ErrorCode.PEER_LOST, `MPI traffic with rank ${this.peer} failed: ${cause.message}`, { peer: this.peer, cause }));
  }

  override _read(): void {
    // Control messages are pushed as MPI progress finds them.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this._writev([{ chunk }], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    const bytes = chunks.length === 1 ? Buffer.from(chunks[0]!.chunk) : Buffer.concat(chunks.map((c) => c.chunk));
    if (bytes.length === 0) return cb();
    let failed: Error | undefined;
    this.progress.sendControl(this.peer, bytes, (err) => {
      if (err) {
        failed = err;
        this.lose(err);
      }
    });
    cb(failed ?? null);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.progress.sendControl(this.peer, Buffer.alloc(0), (err) => cb(err ?? null));
  }
}
