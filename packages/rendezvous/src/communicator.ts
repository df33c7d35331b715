// The point-to-point API of a communicator: MPI semantics over the engine.
import { EventEmitter } from "node:events";
import { Packr } from "msgpackr";
import { ANY_SOURCE, ANY_TAG, PROC_NULL, TAG_UB } from "./constants.js";
import { measure, packPieces, soleViews, unpackPieces, viewsOf, type MessageData } from "./buffers.js";
import type { Engine } from "./engine.js";
import { ErrorCode, MessagingError } from "./errors.js";
import type { RecvResult } from "./matching.js";
import { describeOp, mapRequest, Request, Status } from "./request.js";
import type { TransportStats } from "./stats.js";
import { claimIfAny, claimWhenArrived, Message } from "./matched-message.js";
import { Group } from "./group.js";
import { compareComms, createFromGroup, type Comparison } from "./comm-groups.js";
import { receiveValue, sendValue } from "./object-messages.js";
import { makeTransport, type CollectiveTransport } from "./transport.js";
import { shouldPack } from "./path.js";
import { checkWaitOptions, type WaitOptions } from "./wait-options.js";
import { withdrawable, withdrawableProbe } from "./withdraw.js";
import { emitPeerLoss } from "./liveness.js";
import { userFacing } from "./user-stack.js";
import { block, NO_PEER } from "./blocked-calls.js";

/** What a communicator needs from the process-wide runtime. */
export interface RuntimeHandle {
  readonly engine: Engine;
  /** Close the world: finish pending sends, say goodbye to every peer, release sockets. */
  shutdown(): Promise<void>;
}

/** Result of {@link Communicator.recvObject}. */
export interface ObjectMessage<T = unknown> {
  value: T;
  source: number;
  tag: number;
}

const splitCodec = new Packr({ useRecords: false });

/**
 * A group of ranks that message each other in isolation from every other communicator.
 * `rank` and `size` are within this communicator; all rank arguments are too.
 *
 * A communicator is an EventEmitter: it emits `"peerlost"` with `(rank, error)` when a member
 * dies or drops its connection (not when it leaves with close()); `error` is the ERR_PEER_LOST
 * its pending operations fail with.
 */
export class Communicator extends EventEmitter {
  /** This process's rank in the communicator. */
  readonly rank: number;
  /** Number of ranks in the communicator. */
  readonly size: number;
  /** @internal World ranks of the members, by communicator rank. */
  readonly group: readonly number[];
  /** @internal Matching context of point-to-point traffic. */
  readonly ctx: string;
  private readonly localOf: Map<number, number> | null;
  private children = 0;
  private closed = false;
  private coll: CollectiveTransport | null = null;

  /** @internal Use `init()`, `dup()` or `split()`. */
  constructor(
    /** @internal */ readonly runtime: RuntimeHandle,
    ctx: string,
    group: readonly number[] | null,
  ) {
    super();
    const engine = runtime.engine;
    this.ctx = ctx;
    if (group) {
      this.group = group;
      this.localOf = new Map(group.map((w, i) => [w, i]));
      this.rank = this.localOf.get(engine.rank)!;
      this.size = group.length;
    } else {
      this.group = Array.from({ length: engine.size }, (_, i) => i);
      this.localOf = null;
      this.rank = engine.rank;
      this.size = engine.size;
    }
    engine.contexts.registerGroup(ctx, group);
    emitPeerLoss(this, engine, this.group, (w) => this.localRank(w));
  }

  /** @internal */
  get engine(): Engine {
    return this.runtime.engine;
  }

  /**
   * @internal The primitives collective algorithms build on: a matching context of their own
   * and single-copy reads/writes between members.
   */
  get transport(): CollectiveTransport {
    this.checkOpen("collective operation");
    this.coll ??= makeTransport(this.engine, `${this.ctx}|c`, this.group, this.rank);
    return this.coll;
  }

  /**
   * Create a communicator of the same kind over `ctx`/`group`. Subclasses (the public package's
   * communicator with collectives) override it so that dup/split return their own kind.
   * @internal
   */
  protected derive(ctx: string, group: readonly number[] | null): Communicator {
    return new Communicator(this.runtime, ctx, group);
  }

  // ---- argument checks ------------------------------------------------------------------

  private fail(code: (typeof ErrorCode)[keyof typeof ErrorCode], message: string): never {
    throw new MessagingError(code, message, { rank: this.rank });
  }

  /** @internal Throws ERR_CLOSED once the communicator (or the world) is closed. */
  checkOpen(what: string): void {
    if (this.closed || this.engine.closed) {
      this.fail(ErrorCode.CLOSED, `${what}: this communicator was closed with close(); create or use another one`);
    }
  }

  /** World rank of communicator rank `r`, validated; PROC_NULL passes through. */
  private worldDest(r: unknown, what: string): number {
    if (r === PROC_NULL) return PROC_NULL;
    if (typeof r !== "number" || !Number.isInteger(r) || r < 0 || r >= this.size) {
      this.fail(ErrorCode.INVALID_RANK, `${what}: rank ${String(r)} is not in this communicator (valid: 0 … ${this.size - 1}, or PROC_NULL)`);
    }
    return this.group[r]!;
  }

  private worldSource(r: unknown, what: string): number {
    if (r === ANY_SOURCE || r === PROC_NULL) return r;
    if (typeof r !== "number" || !Number.isInteger(r) || r < 0 || r >= this.size) {
      this.fail(ErrorCode.INVALID_RANK, `${what}: source ${String(r)} is not in this communicator (valid: 0 … ${this.size - 1}, ANY_SOURCE or PROC_NULL)`);
    }
    return this.group[r]!;
  }

  private checkTag(tag: unknown, what: string, wildcard: boolean): number {
    if (wildcard && tag === ANY_TAG) return ANY_TAG;
    if (typeof tag !== "number" || !Number.isInteger(tag) || tag < 0 || tag > TAG_UB) {
      this.fail(ErrorCode.INVALID_TAG, `${what}: tag ${String(tag)} must be an integer from 0 to ${TAG_UB}${wildcard ? " or ANY_TAG" : ""}`);
    }
    return tag;
  }

  /** @internal Communicator rank of a world rank. */
  localRank(world: number): number {
    return this.localOf ? this.localOf.get(world)! : world;
  }

  /** A receive's result as the program sees it (one function per communicator, none per message). */
  private readonly toStatus = (r: RecvResult): Status => new Status(this.localRank(r.source), r.tag, r.bytes);

  // ---- point to point -------------------------------------------------------------------

  /**
   * Start sending `data` to rank `dest` with `tag`. Messages up to the eager limit travel
   * inline; larger ones are copied once by the receiver straight out of `data`, so **do not
   * modify or release `data` until the request completes**.
   */
  isend(data: MessageData, dest: number, tag = 0): Request<void> {
    return this.startSend(data, dest, tag).labelAs("isend", dest, tag);
  }

  private startSend(data: MessageData, dest: number, tag: number): Request<void> {
    this.checkOpen("isend");
    const d = this.worldDest(dest, "isend");
    const t = this.checkTag(tag, "isend", false);
    const sole = soleViews(data);
    if (sole !== null) return d === PROC_NULL ? completed<void>(undefined) : this.engine.isend(this.ctx, d, t, sole, sole.length ? sole[0]!.byteLength : 0);
    const { pieces, bytes } = measure(data, "isend data");
    if (d === PROC_NULL) return completed<void>(undefined);
    if (this.tinyPieces(pieces, bytes)) return this.engine.isend(this.ctx, d, t, [packPieces(data, bytes, "isend data")], bytes);
    return this.engine.isend(this.ctx, d, t, viewsOf(data, "isend data").views, bytes);
  }

  /**
   * Start a synchronous-mode send (MPI_Issend): like {@link isend}, but the request completes
   * only once the receiver has matched the message with a receive, whatever its size. Ordered
   * with this rank's other sends to `dest` on this communicator as any send is.
   */
  issend(data: MessageData, dest: number, tag = 0): Request<void> {
    this.checkOpen("issend");
    const d = this.worldDest(dest, "issend");
    const t = this.checkTag(tag, "issend", false);
    const { pieces, bytes } = measure(data, "issend data");
    if (d === PROC_NULL) return completed<void>(undefined);
    const views = this.tinyPieces(pieces, bytes) ? [packPieces(data, bytes, "issend data")] : viewsOf(data, "issend data").views;
    return this.engine.isend(this.ctx, d, t, views, bytes, true).labelAs("issend", dest, tag);
  }

  /** Synchronous-mode send (MPI_Ssend): resolves once the receiver has matched the message. `opts` bounds the wait as for {@link send}. */
  ssend(data: MessageData, dest: number, tag = 0, opts?: WaitOptions): Promise<void> {
    try {
      const o = this.waitOptions(opts, "ssend", dest, tag);
      return this.settled(this.issend(data, dest, tag), o, "ssend", dest, tag);
    } catch (err) {
      return userFacing(Promise.reject(err));
    }
  }

  /** Many small pieces travel packed (the kernel would pin a page per iovec): see path.ts. */
  private tinyPieces(pieces: number, bytes: number): boolean {
    return shouldPack(pieces, bytes, this.engine.tunables.packBelow);
  }

  /**
   * Send `data` to `dest`; resolves when `data` may be reused. With `opts.timeout` (ms) or
   * `opts.signal` the wait is bounded (ERR_TIMEOUT, or an AbortError): the send itself goes on,
   * so `data` stays in use until the receiver is done with it.
   */
  send(data: MessageData, dest: number, tag = 0, opts?: WaitOptions): Promise<void> {
    try {
      const o = this.waitOptions(opts, "send", dest, tag);
      return this.settled(this.startSend(data, dest, tag), o, "send", dest, tag);
    } catch (err) {
      return userFacing(Promise.reject(err));
    }
  }

  /**
   * Start receiving into `data` from `source` (default ANY_SOURCE) with `tag` (default
   * ANY_TAG). A message longer than `data` fails with `ERR_TRUNCATE`.
   */
  irecv(data: MessageData, source: number = ANY_SOURCE, tag: number = ANY_TAG): Request<Status> {
    return this.startRecv(data, source, tag).labelAs("irecv", source, tag);
  }

  private startRecv(data: MessageData, source: number, tag: number): Request<Status> {
    this.checkOpen("irecv");
    const s = this.worldSource(source, "irecv");
    const t = this.checkTag(tag, "irecv", true);
    if (s === PROC_NULL) {
      measure(data, "irecv data");
      return completed(new Status(PROC_NULL, ANY_TAG, 0));
    }
    const sole = soleViews(data);
    if (sole !== null) return withdrawable(this.engine, this.ctx, s, t, this.engine.irecv(this.ctx, s, t, sole, sole.length ? sole[0]!.byteLength : 0)).retype(this.toStatus);
    const { pieces, bytes } = measure(data, "irecv data");
    if (!this.tinyPieces(pieces, bytes)) return withdrawable(this.engine, this.ctx, s, t, this.engine.irecv(this.ctx, s, t, viewsOf(data, "irecv data").views, bytes)).retype(this.toStatus);
    // Receive contiguously, then scatter into the pieces.
    const staging = new Uint8Array(bytes);
    const inner = withdrawable(this.engine, this.ctx, s, t, this.engine.irecv(this.ctx, s, t, [staging], bytes));
    return mapRequest(inner, (r) => {
      unpackPieces(staging, r.bytes, data, "irecv data");
      return new Status(this.localRank(r.source), r.tag, r.bytes);
    });
  }

  /**
   * Receive into `data`; resolves with `{ source, tag, bytes }`. With `opts.timeout` (ms) or
   * `opts.signal`, a receive that has not matched by then is withdrawn and rejects (ERR_TIMEOUT,
   * or an AbortError): the message it would have matched stays for the next receive. One that
   * has matched completes.
   */
  recv(data: MessageData, source: number = ANY_SOURCE, tag: number = ANY_TAG, opts?: WaitOptions): Promise<Status> {
    try {
      const o = this.waitOptions(opts, "recv", source, tag);
      return this.settled(this.startRecv(data, source, tag), o, "recv", source, tag);
    } catch (err) {
      return userFacing(Promise.reject(err));
    }
  }

  /** Send and receive at once (no deadlock whatever the order on the two ranks). */
  sendrecv(
    sendData: MessageData,
    dest: number,
    sendTag: number,
    recvData: MessageData,
    source: number = ANY_SOURCE,
    recvTag: number = ANY_TAG,
    opts?: WaitOptions,
  ): Promise<Status> {
    return userFacing(this.startSendrecv(sendData, dest, sendTag, recvData, source, recvTag, opts), block("sendrecv", this, typeof source === "number" ? source : NO_PEER, typeof recvTag === "number" ? recvTag : ANY_TAG));
  }

  private async startSendrecv(sendData: MessageData, dest: number, sendTag: number, recvData: MessageData, source: number, recvTag: number, opts?: WaitOptions): Promise<Status> {
    const o = checkWaitOptions(opts, "sendrecv");
    const r = this.startRecv(recvData, source, recvTag);
    const s = this.startSend(sendData, dest, sendTag);
    if (!o) {
      const [st] = await Promise.all([r.wait(), s.wait()]);
      return st;
    }
    const what = `sendrecv with rank ${dest} / ${source === ANY_SOURCE ? "any rank" : `rank ${source}`}`;
    const [st] = await Promise.all([r.bounded(r.wait(), o, what), s.bounded(s.wait(), o, what)]);
    return st;
  }

  /** Wait for a matching message without receiving it; resolves with its status. `opts` bounds the wait as for {@link recv}. */
  probe(source: number = ANY_SOURCE, tag: number = ANY_TAG, opts?: WaitOptions): Promise<Status> {
    return this.call(
      () => {
        this.checkOpen("probe");
        const s = this.worldSource(source, "probe");
        const t = this.checkTag(tag, "probe", true);
        if (s === PROC_NULL) return completed(new Status(PROC_NULL, ANY_TAG, 0));
        return mapRequest(withdrawableProbe(this.engine, this.ctx, s, t), (m) => new Status(this.localRank(m.src), m.tag, m.bytes));
      },
      opts,
      () => describeOp("probe", source, tag),
      "probe",
      source,
      tag,
    );
  }

  /** The status of a matching message that has arrived, or null; never waits. Throws ERR_PEER_LOST when nothing is waiting and `source` has left the job or died (nothing from it can come any more). */
  iprobe(source: number = ANY_SOURCE, tag: number = ANY_TAG): Status | null {
    this.checkOpen("iprobe");
    const s = this.worldSource(source, "iprobe");
    const t = this.checkTag(tag, "iprobe", true);
    if (s === PROC_NULL) return new Status(PROC_NULL, ANY_TAG, 0);
    const m = this.engine.iprobe(this.ctx, s, t);
    if (m) return new Status(this.localRank(m.src), m.tag, m.bytes);
    const gone = this.engine.departedSource(this.ctx, s);
    if (gone !== null) throw this.engine.errors.lost(gone, "iprobe");
    return null;
  }

  /**
   * Wait for a matching message and take it (MPI_Mprobe): from now on no other receive can match
   * it; receive it with the returned {@link Message}'s `recv(data)` or `recvObject()`. Only a
   * message no receive was waiting for is taken: a receive posted before the message arrives
   * gets it. From PROC_NULL it resolves at once with a Message of 0 bytes from PROC_NULL.
   */
  mprobe(source: number = ANY_SOURCE, tag: number = ANY_TAG): Promise<Message> {
    return this.call(() => {
      this.checkOpen("mprobe");
      const s = this.worldSource(source, "mprobe");
      const t = this.checkTag(tag, "mprobe", true);
      if (s === PROC_NULL) return completed(Message.procNull(this));
      return mapRequest(claimWhenArrived(this.engine, this.ctx, s, t), (m) => new Message(this, m));
    });
  }

  /**
   * Take a matching message that has arrived (MPI_Improbe), or return null; never waits. See
   * {@link mprobe}. Throws ERR_PEER_LOST when nothing is there and `source` has left the job or
   * died (nothing from it can come any more).
   */
  improbe(source: number = ANY_SOURCE, tag: number = ANY_TAG): Message | null {
    this.checkOpen("improbe");
    const s = this.worldSource(source, "improbe");
    const t = this.checkTag(tag, "improbe", true);
    if (s === PROC_NULL) return Message.procNull(this);
    const m = claimIfAny(this.engine, this.ctx, s, t);
    return m ? new Message(this, m) : null;
  }

  /**
   * Send any msgpack-encodable value (objects, arrays, Map, Set, Date, BigInt, typed arrays,
   * cycles). Typed arrays above the eager limit inside the value are not encoded: they travel as
   * a gathered message of their own, copied once like any large buffer — so do not modify them
   * until the promise resolves.
   */
  sendObject(value: unknown, dest: number, tag = 0, opts?: WaitOptions): Promise<void> {
    return this.call(() => {
      this.checkOpen("sendObject");
      const d = this.worldDest(dest, "sendObject");
      const t = this.checkTag(tag, "sendObject", false);
      if (d === PROC_NULL) return completed<void>(undefined);
      return sendValue(this.engine, this.ctx, d, t, value);
    }, opts, () => `sendObject to rank ${dest}, tag ${tag}`, "sendObject", dest, tag);
  }

  /** Receive a value sent with {@link sendObject}. `opts` bounds the wait for the message to match, as for {@link recv}. */
  recvObject<T = unknown>(source: number = ANY_SOURCE, tag: number = ANY_TAG, opts?: WaitOptions): Promise<ObjectMessage<T>> {
    return userFacing(this.startRecvObject<T>(source, tag, opts));
  }

  private async startRecvObject<T>(source: number, tag: number, opts?: WaitOptions): Promise<ObjectMessage<T>> {
    const r = await this.call(() => {
      this.checkOpen("recvObject");
      const s = this.worldSource(source, "recvObject");
      const t = this.checkTag(tag, "recvObject", true);
      if (s === PROC_NULL) return completed<RecvResult>({ source: PROC_NULL, tag: ANY_TAG, bytes: 0 });
      return withdrawable(this.engine, this.ctx, s, t, this.engine.irecv(this.ctx, s, t, null, 0));
    }, opts, () => `recvObject from ${source === ANY_SOURCE ? "any rank" : `rank ${source}`}, tag ${tag === ANY_TAG ? "any" : tag}`, "recvObject", source, tag);
    if (r.source === PROC_NULL) return { value: undefined as T, source: PROC_NULL, tag: r.tag };
    const value = await receiveValue(this.engine, this.ctx, r, { rank: this.rank, peer: this.localRank(r.source) });
    return { value: value as T, source: this.localRank(r.source), tag: r.tag };
  }

  // ---- communicators --------------------------------------------------------------------

  /** A new communicator with the same ranks whose messages never mix with this one's. Collective. */
  async dup(): Promise<Communicator> {
    this.checkOpen("dup");
    const child = this.derive(`${this.ctx}.${++this.children}`, this.localOf ? this.group : null);
    return child;
  }

  /**
   * Split into disjoint communicators, one per `color`; ranks are ordered by `key`, then by
   * their rank here. A negative color (or null) returns null (MPI_UNDEFINED). Collective.
   */
  async split(color: number | null, key = 0): Promise<Communicator | null> {
    this.checkOpen("split");
    if (color !== null && (typeof color !== "number" || !Number.isInteger(color))) {
      this.fail(ErrorCode.INVALID_ARG, `split: color ${String(color)} must be an integer (negative or null for none)`);
    }
    if (typeof key !== "number" || !Number.isInteger(key)) this.fail(ErrorCode.INVALID_ARG, `split: key ${String(key)} must be an integer`);
    const n = ++this.children;
    const all = await this.exchangeSmall(`${this.ctx}|split${n}`, [color ?? -1, key]);
    const c = color ?? -1;
    if (c < 0) return null;
    const members = all
      .map(([col, k], r) => ({ col, k, r }))
      .filter((m) => m.col === c)
      .sort((a, b) => a.k - b.k || a.r - b.r)
      .map((m) => this.group[m.r]!);
    return this.derive(`${this.ctx}.${n}:${c}`, members);
  }

  /** The group of this communicator's processes, in rank order (MPI_Comm_group). */
  getGroup(): Group {
    this.checkOpen("getGroup");
    return new Group(this.group, this.engine.rank);
  }

  /**
   * A communicator of the processes of `group` (a subset of this one's), ranked in the group's
   * order (MPI_Comm_create). Collective over this communicator, every rank passing the same
   * group; null on the ranks that are not in it.
   */
  create(group: Group): Promise<Communicator | null> {
    return createFromGroup(this, group);
  }

  /**
   * How this communicator relates to `other` (MPI_Comm_compare): "ident" (the same
   * communicator), "congruent" (same processes in the same order, another context), "similar"
   * (same processes, another order) or "unequal".
   */
  compare(other: Communicator): Comparison {
    return compareComms(this, other);
  }

  /**
   * Split by the kind of resource ranks share (MPI_Comm_split_type). With "shared" every rank
   * shares memory with every other (one machine), so the result has all of this
   * communicator's ranks in the same order, on a context of its own (and, as any split, no
   * topology). Collective.
   */
  async splitType(type: "shared"): Promise<Communicator> {
    this.checkOpen("splitType");
    if (type !== "shared") this.fail(ErrorCode.INVALID_ARG, `splitType: type ${JSON.stringify(type)} is not supported (use "shared", MPI_COMM_TYPE_SHARED)`);
    return (await this.split(0, this.rank))!;
  }

  /** Every rank contributes a small value; returns all of them by rank (naive all-to-all). */
  private async exchangeSmall(ctx: string, mine: [number, number]): Promise<Array<[number, number]>> {
    const payload = splitCodec.pack(mine);
    const out: Array<[number, number]> = new Array(this.size);
    out[this.rank] = mine;
    const reqs: Array<Request<unknown>> = [];
    for (let r = 0; r < this.size; r++) {
      if (r === this.rank) continue;
      reqs.push(this.engine.isend(ctx, this.group[r]!, 0, [payload], payload.byteLength));
      const rr = this.engine.irecv(ctx, this.group[r]!, 0, null, 0);
      reqs.push(rr);
      rr.wait().then(
        (res) => (out[r] = splitCodec.unpack(res.data!) as [number, number]),
        () => {},
      );
    }
    await Promise.all(reqs.map((q) => q.wait()));
    return out;
  }

  /** Bytes and messages this process moved, by path (process-wide, all communicators). */
  stats(): TransportStats {
    return this.engine.stats();
  }

  /**
   * Close the communicator. On the world communicator this finishes pending sends, fails
   * pending receives with ERR_CLOSED, tells every peer goodbye and releases all sockets.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.coll?.release?.();
    if (this.ctx === WORLD_CTX) await this.runtime.shutdown();
  }

  /**
   * Run `start` and await its request (bounded by `opts`), turning synchronous argument errors
   * into rejections. While it waits, it is listed as blocked in `kind` with `peer`/`tag` (the hang report).
   */
  private call<T>(start: () => Request<T>, opts?: WaitOptions, what?: () => string, kind = "wait", peer = NO_PEER, tag = ANY_TAG): Promise<T> {
    try {
      const o = opts === undefined ? undefined : checkWaitOptions(opts, what?.() ?? "wait");
      const req = start();
      if (req.succeeded) return req.wait();
      return userFacing(o && !req.done ? req.bounded(req.wait(), o, what?.() ?? "wait") : req.wait(), req.done ? undefined : block(kind, this, peer, tag));
    } catch (err) {
      return userFacing(Promise.reject(err));
    }
  }

  /** `opts` checked (ERR_INVALID_ARG names the call); the call's description is built only when there are options. */
  private waitOptions(opts: WaitOptions | undefined, op: string, peer: number, tag: number): WaitOptions | undefined {
    return opts === undefined ? undefined : checkWaitOptions(opts, describeOp(op, peer, tag));
  }

  /**
   * The promise of blocking call `op`'s request, bounded by `o`. A request that completed while
   * it was started (an eager send the ring took, a receive of a queued message) resolves at once:
   * no registry record, no extra async step. One that must wait is listed in the hang registry
   * until it settles, and its rejection names the program's frames (userFacing).
   */
  private settled<T>(req: Request<T>, o: WaitOptions | undefined, op: string, peer: number, tag: number): Promise<T> {
    if (req.succeeded) return req.wait();
    if (req.done) return userFacing(req.wait());
    return userFacing(o ? req.bounded(req.wait(), o, describeOp(op, peer, tag)) : req.wait(), block(op, this, peer, tag));
  }
}

/** Context of the world communicator. */
export const WORLD_CTX = "w";

function completed<T>(value: T): Request<T> {
  const r = new Request<T>();
  r.resolve(value);
  return r;
}
