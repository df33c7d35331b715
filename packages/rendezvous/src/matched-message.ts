// Matched probe (MPI_Mprobe / MPI_Improbe): a probe that takes the message it finds out of the
// unexpected queue, so that no other receive can match it, and hands it back as a Message that
// receives it later into the caller's buffer by the engine's ordinary delivery paths (buffered
// for eager and self messages, the rendezvous protocol for announced ones).
//
// Only unexpected messages are matched: a message arriving while a receive that matches it is
// posted goes to that receive (arrive() looks at posted receives first), as MPI orders it.
import { ANY_TAG, PROC_NULL } from "./constants.js";
import { allocMessage, measure, unpackPieces, viewsOf, type MessageData } from "./buffers.js";
import type { Engine } from "./engine.js";
import { ErrorCode, MessagingError } from "./errors.js";
import type { Incoming, PostedRecv, RecvResult } from "./matching.js";
import { announcesBlobs, decodeObject } from "./object-codec.js";
import { receiveValue } from "./object-messages.js";
import { shouldPack } from "./path.js";
import { Request, Status } from "./request.js";

/** Take the earliest unexpected message on `ctx` that (src, tag) matches, or null. */
export function claimNow(engine: Engine, ctx: string, src: number, tag: number): Incoming | null {
  return engine.contexts.takeUnexpected(ctx, src, tag) ?? null;
}

/** improbe: like {@link claimNow}, but ERR_PEER_LOST when nothing is there and nothing matching can come any more (as iprobe). */
export function claimIfAny(engine: Engine, ctx: string, src: number, tag: number): Incoming | null {
  const m = claimNow(engine, ctx, src, tag);
  if (m) return m;
  const gone = engine.departedSource(ctx, src);
  if (gone !== null) throw engine.errors.lost(gone, "improbe");
  return null;
}

/** Wait for a matching unexpected message on `ctx` and take it out of the queue. */
export function claimWhenArrived(engine: Engine, ctx: string, src: number, tag: number): Request<Incoming> {
  const req = engine.newRequest<Incoming>();
  if (engine.closed) {
    req.reject(engine.errors.closed("mprobe"));
    return req;
  }
  const tryNow = (): boolean => {
    const m = claimNow(engine, ctx, src, tag);
    if (m) req.resolve(m);
    return m !== null;
  };
  if (tryNow()) return req;
  const gone = engine.departedSource(ctx, src);
  if (gone !== null) {
    req.reject(engine.errors.lost(gone, "mprobe"));
    return req;
  }
  const wait = (): void =>
    engine.contexts.wait({
      ctx,
      src,
      tag,
      // Called from inside queueUnexpected's loop over the waiting probes: take the message
      // only if it is still queued (an earlier waiter of the same loop may have taken it), and
      // otherwise wait again after the loop has finished (re-waiting now would make the loop
      // meet this waiter again, with the same message, for ever).
      resolve: (m) => {
        if (engine.contexts.peek(ctx, m.src, m.tag) === m) {
          engine.contexts.takeUnexpected(ctx, m.src, m.tag);
          req.resolve(m);
        } else queueMicrotask(() => void (engine.closed ? req.reject(engine.errors.closed("mprobe")) : tryNow() || wait()));
      },
      reject: (e) => req.reject(e),
    });
  wait();
  return req;
}

/** What a Message needs of its communicator. */
export interface MessageOwner {
  readonly rank: number;
  readonly engine: Engine;
  /** @internal Communicator rank of a world rank. */
  localRank(world: number): number;
}

/**
 * A message taken by {@link Communicator.mprobe} or {@link Communicator.improbe} (MPI_Message):
 * no other receive can match it; receive it exactly once with {@link recv} or {@link recvObject}.
 */
export class Message {
  /** Rank (in the probing communicator) that sent the message. */
  readonly source: number;
  /** The message's tag. */
  readonly tag: number;
  /** Size of the message in bytes. */
  readonly bytes: number;
  private taken = false;
  /** The body receive of an object skeleton, posted at once so that it keeps its place in the order of its sender's bodies. */
  private body: Promise<unknown> | null = null;

  /** @internal */
  constructor(
    private readonly owner: MessageOwner,
    /** null: the message of a probe from PROC_NULL (MPI_MESSAGE_NO_PROC). */
    private readonly m: Incoming | null,
  ) {
    this.source = m ? owner.localRank(m.src) : PROC_NULL;
    this.tag = m ? m.tag : ANY_TAG;
    this.bytes = m ? m.bytes : 0;
    this.preReceiveBody();
  }

  /** @internal The message a probe from PROC_NULL finds: receiving it moves nothing. */
  static procNull(owner: MessageOwner): Message {
    return new Message(owner, null);
  }

  /**
   * Receive the message into `data` (MPI_Mrecv). A message longer than `data` fails with
   * `ERR_TRUNCATE` (and is consumed); a second receive of the same message fails with `ERR_INVALID_ARG`.
   */
  recv(data: MessageData): Promise<Status> {
    try {
      const { pieces, bytes } = measure(data, "message.recv data");
      this.take("recv");
      if (!this.m) return Promise.resolve(new Status(PROC_NULL, ANY_TAG, 0));
      const engine = this.owner.engine;
      const staged = shouldPack(pieces, bytes, engine.tunables.packBelow);
      const views = staged ? [new Uint8Array(bytes)] : viewsOf(data, "message.recv data").views;
      return this.serveInto(views, bytes).then((r) => {
        if (staged) unpackPieces(views[0]!, r.bytes, data, "message.recv data");
        return new Status(this.source, r.tag, r.bytes);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Receive the message as a value sent with `sendObject` (mpi4py `message.recv()`). */
  async recvObject<T = unknown>(): Promise<T> {
    this.take("recvObject");
    if (!this.m) return undefined as T;
    if (this.body) return (await this.body) as T;
    const r = await this.serveInto(null, 0);
    return (await this.decode(r.data!)) as T;
  }

  private take(what: string): void {
    if (this.taken) {
      throw new MessagingError(ErrorCode.INVALID_ARG, `message.${what}: this message (from rank ${this.source}, tag ${this.tag}) was already received; a matched message is received once`, {
        rank: this.owner.rank,
        peer: this.source,
        tag: this.tag,
      });
    }
    this.taken = true;
  }

  private serveInto(views: Uint8Array[] | null, capacity: number): Promise<RecvResult> {
    const engine = this.owner.engine;
    const m = this.m!;
    const p: PostedRecv = { ctx: m.ctx, src: m.src, tag: m.tag, views, capacity, req: engine.newRequest<RecvResult>(), seq: 0 };
    if (engine.closed) p.req.reject(engine.errors.closed("message receive"));
    else engine.deliver(m, p);
    return p.req.wait();
  }

  private decode(skeleton: Uint8Array): Promise<unknown> {
    const m = this.m!;
    const r: RecvResult = { source: m.src, tag: m.tag, bytes: m.bytes, data: skeleton };
    return receiveValue(this.owner.engine, m.ctx, r, { rank: this.owner.rank, peer: this.source });
  }

  /**
   * An inline object skeleton that announces large arrays: receive its arrays now, into the
   * arrays the decoded value holds (still by single copy), so that a later recvObject() of
   * another message from the same sender cannot take this one's arrays. A payload that is not
   * such a skeleton is left alone.
   */
  private preReceiveBody(): void {
    const m = this.m;
    if (!m || m.kind !== "eager" || !m.data || m.error || !announcesBlobs(m.data)) return;
    let decoded: ReturnType<typeof decodeObject>;
    try {
      decoded = decodeObject(m.data, (n) => allocMessage(n).buffer as ArrayBuffer);
    } catch {
      return; // recvObject() will report it (and refuse the body) as recvObject does
    }
    const { views, bytes } = viewsOf(decoded.blobs, "recvObject");
    const engine = this.owner.engine;
    const body = engine.irecv(`${m.ctx}|o`, m.src, m.tag, views, bytes).wait();
    this.body = body.then(() => decoded.value);
    this.body.catch(() => {}); // surfaces at recvObject()
  }
}
