// A communicator's collective slots (PROTOCOL.md, "Collective slots"): the descriptor exchange
// every collective starts with, and its closing "done with your buffers" handshake, through one
// shared segment instead of socket or ring messages.
//
// Set-up rides on the first two collectives of the communicator (their records go by messages,
// as without slots, each carrying one set-up word), so every member decides from the same
// records: in the first, rank 0 offers a segment it created (word = capacity) and the others say
// whether they want slots (1) at all; after it, the others map the segment. In the second, each
// says whether it has it mapped (1); after it, rank 0 unlinks the name (every member is past its
// mapping), and the slots are on from the third collective iff every word said 1.
//
// Reuse of a record area without acknowledgements: collectives of one communicator run one at a
// time on each rank (the transport queues them), so a rank writes its record of slot exchange
// k+2 (into the area of k) only after it has seen every member's record of k+1, and a member
// writes that only after it has finished collective k. So nobody still reads k's area when k+2
// overwrites it, and a rank may read the records of its running collective in place (views of
// the slot, valid until that collective ends on it: no copy out). Records are found by the
// collective's id (its exchange tag + 1), not by parity: members whose counts disagreed (a
// mismatch in ONECOPY_COLL_ROOTED_EAGER mode) wait rather than read another collective's record.
//
// Waiting follows the fast path's spinning rule: a wait is an engine operation polled by the
// adaptive progress loop (progress.ts) for at most its spin budget (none when oversubscribed),
// then this rank publishes in its sleep word which member it sleeps on (the first one it still
// waits for) and for what (its record, or its fin), and re-checks that member; that member, once
// it publishes that, finds the word naming it, claims it (RUNG) and rings this rank's doorbell
// (one RING BELL on the socket per sleep; other writers, and a fin where a record is awaited,
// do not ring). Woken, the rank re-checks all and sleeps on the next missing member, if
// any. Peer loss rejects the wait through the collective state.
import { createHash } from "node:crypto";
import { createShmSegment, openShmSegment, readKnob, unlinkShmSegment, unmapShmSegment } from "@onecopy/cma";
import type { CollectiveState } from "../collective-state.js";
import type { DepartureWatcher } from "../contexts.js";
import type { Engine } from "../engine.js";
import type { Pollable } from "../fastpath/progress.js";
import type { RecvResult } from "../matching.js";
import type { Request } from "../request.js";
import { segmentPrefix } from "../shm/segment-layout.js";
import { trackName, untrackName } from "../shm/segment-names.js";
import { NOTE_MAX, RUNNING, SlotSegment, sleepingOn, slotCapacity, slotSegmentBytes, type SlotEvent } from "./slot-segment.js";

/** What the slots need of their communicator's transport (communicator ranks, collective context). */
export interface SlotHost {
  readonly rank: number;
  readonly group: readonly number[];
  isend(views: Uint8Array[], bytes: number, dest: number, tag: number): Request<void>;
  irecv(views: Uint8Array[] | null, capacity: number, source: number, tag: number): Request<RecvResult>;
}

type Phase = "offer" | "confirm" | "on" | "off";

const NONE = 0;
let warned = false;

/** Name (under /dev/shm) of the slot segment of collective context `ctx`. */
export function slotSegmentName(jobKey: string, ctx: string): string {
  return `${segmentPrefix(jobKey)}s${createHash("sha256").update(ctx).digest("hex").slice(0, 20)}`;
}

export class CollSlots implements Pollable, DepartureWatcher {
  private phase: Phase;
  private seg: SlotSegment | null = null;
  private readonly capacity: number;
  private readonly name: string;
  /** Slot exchanges so far (its parity picks the area the next record goes to). */
  private k = 0;
  /** The id of the collective running now, or NONE when it has made no slot exchange. */
  private cur = NONE;
  /** While waiting: whether member j has done its part, for the members in `waitRanks`. */
  private cond: ((j: number) => boolean) | null = null;
  private waitRanks: readonly number[] = [];
  /** What the wait is for; the collective id (and for notes the step) it waits on. */
  private waitWhat: SlotEvent = "record";
  private waitId = NONE;
  private waitStep = 0;
  private readonly recordThere = (j: number): boolean => this.seg!.published(j, this.waitId) !== null;
  private readonly finThere = (j: number): boolean => this.seg!.finished(j, this.waitId);
  private readonly noteThere = (j: number): boolean => this.seg!.noted(j, this.waitId, this.waitStep);
  /** The array a synchronous exchange returns (reused). */
  private readonly got: Float64Array[] = [];
  private req: Request<void> | null = null;
  private readonly me: number;
  private readonly n: number;
  /** Every member but this rank. */
  private readonly others: number[] = [];

  constructor(
    private readonly engine: Engine,
    private readonly state: CollectiveState,
    private readonly host: SlotHost,
    ctx: string,
  ) {
    this.me = host.rank;
    this.n = host.group.length;
    for (let j = 0; j < this.n; j++) if (j !== this.me) this.others.push(j);
    const bytes = readKnob("collSlots");
    this.capacity = slotCapacity(bytes);
    this.name = slotSegmentName(engine.fast.jobKey, ctx);
    this.phase = bytes === 0 || this.n < 2 || engine.fast.off !== null ? "off" : "offer";
  }

  /** Collectives use the slots from now on. */
  get on(): boolean {
    return this.phase === "on";
  }

  /** Collectives may (still) come to use the slots: the transport runs them one at a time. */
  get active(): boolean {
    return this.phase !== "off";
  }

  /** The collective running now made its exchange through the slots: its closing handshake goes there too. */
  get inSlotCollective(): boolean {
    return this.cur !== NONE;
  }

  // ---- set-up ---------------------------------------------------------------------------

  /** The set-up word of this rank's record in a message-path exchange (0 once set-up is over). */
  setupWord(): number {
    if (this.phase === "offer") {
      if (this.me !== 0) return 1;
      const bytes = slotSegmentBytes(this.n, this.capacity);
      try {
        const s = createShmSegment(this.name, bytes);
        trackName(this.name);
        this.seg = new SlotSegment(s, this.n, this.capacity);
        this.seg.init();
        return this.capacity;
      } catch (err) {
        this.unusable(`cannot create the collective slot segment: ${(err as Error).message}`);
        return 0;
      }
    }
    if (this.phase === "confirm") return this.seg ? 1 : 0;
    return 0;
  }

  /** The set-up words of every member's record of a message-path exchange (by communicator rank). */
  setupSeen(words: readonly number[]): void {
    if (this.phase === "offer") {
      const all = words.every((w) => w > 0);
      if (all && this.me !== 0) {
        if (words[0] !== this.capacity) {
          this.unusable(`rank 0 offers collective slots of ${words[0]} bytes, this rank wants ${this.capacity} (ONECOPY_COLL_SLOTS differs between ranks)`);
        } else {
          try {
            const s = openShmSegment(this.name, slotSegmentBytes(this.n, this.capacity));
            const why = SlotSegment.validate(s, this.n, this.capacity);
            if (why) {
              unmapShmSegment(s);
              this.unusable(why);
            } else this.seg = new SlotSegment(s, this.n, this.capacity);
          } catch (err) {
            this.unusable(`cannot map the collective slot segment: ${(err as Error).message}`);
          }
        }
      }
      if (!all) this.drop(); // someone does not want them: nobody maps
      this.phase = all ? "confirm" : "off";
      return;
    }
    if (this.phase === "confirm") {
      if (this.me === 0) {
        unlinkShmSegment(this.name);
        untrackName(this.name);
      }
      if (words.every((w) => w === 1)) this.phase = "on";
      else {
        this.drop();
        this.phase = "off";
      }
    }
  }

  private unusable(reason: string): void {
    if (warned) return;
    warned = true;
    this.engine.warn(`onecopy: rank ${this.engine.rank}: collective slots unusable (${reason}); this communicator's collectives exchange their records by messages.`);
  }

  private drop(): void {
    if (this.me === 0 && this.seg) {
      unlinkShmSegment(this.name);
      untrackName(this.name);
    }
    if (this.seg) unmapShmSegment(this.seg.segment);
    this.seg = null;
  }

  /**
   * The communicator is closed and no collective of it runs: unmap. Mid set-up, rank 0 keeps the
   * name (removed at exit): a member may still be about to map it at the end of its exchange.
   */
  dispose(): void {
    if (this.seg) unmapShmSegment(this.seg.segment);
    this.seg = null;
    this.phase = "off";
  }

  // ---- one collective -------------------------------------------------------------------

  /** A collective starts (the transport runs them one at a time). */
  begin(): void {
    this.cur = NONE;
  }

  /** The collective is over on this rank: say so (fin), in case it did not. */
  end(): void {
    if (this.cur === NONE || !this.seg) return;
    this.seg.setFin(this.me, this.cur);
    this.cur = NONE;
    this.ringSleepers("fin");
  }

  /**
   * Where this rank's next record goes when it is at most `bytes` long: its next record area,
   * as doubles, to encode the record straight into (then {@link exchange} with `mine` null);
   * null when it does not fit (it goes by messages).
   */
  nextArea(bytes: number): Float64Array | null {
    return bytes <= this.capacity ? this.seg!.areaDoubles(this.me, ((this.k + 1) | 0) & 1) : null;
  }

  /**
   * Exchange records: publish this rank's (`len` bytes encoded into {@link nextArea} when `mine`
   * is null, else `mine`), and return every other member's record, one record each, as doubles
   * at offset 0. In-slot records are views of the slot, valid until this collective ends on this
   * rank (nobody rewrites that area before: see the top of this file); records too large for a
   * slot come by messages with `tag`. Synchronous when all are there already; the array
   * returned then is reused by the next exchange.
   */
  exchange(mine: Uint8Array | null, len: number, tag: number): Float64Array[] | Promise<Float64Array[]> {
    const seg = this.seg!;
    this.k = (this.k + 1) | 0;
    const k = tag + 1;
    this.cur = k;
    const c = this.engine.counters.collSlots;
    c.exchanges++;
    const fits = len <= this.capacity;
    seg.publish(this.me, this.k & 1, k, fits ? mine : null, fits ? len : -1);
    this.ringSleepers("record");
    let sends: Array<Request<void>> | null = null;
    if (!fits) {
      c.oversize++;
      sends = [];
      for (let j = 0; j < this.n; j++) if (j !== this.me) sends.push(this.host.isend([mine!], mine!.byteLength, j, tag));
    }
    this.waitId = k;
    const waiting = this.waitFor(this.recordThere, this.others, "record");
    if (!waiting && !sends && !this.anyOversize(k)) return this.inSlot(k, this.got);
    return this.exchangeLater(k, tag, waiting, sends);
  }

  private async exchangeLater(k: number, tag: number, waiting: Promise<void> | null, sends: Array<Request<void>> | null): Promise<Float64Array[]> {
    if (waiting) await waiting;
    const out = this.inSlot(k, []);
    const recvs: Array<Promise<RecvResult>> = [];
    for (let j = 0; j < this.n; j++) {
      if (j !== this.me && this.seg!.published(j, k) === -1) recvs.push(this.host.irecv(null, 0, j, tag).wait());
    }
    if (recvs.length === 0 && !sends) return out;
    const got = await Promise.all([...recvs, ...(sends ?? []).map((s) => s.wait())]);
    for (let i = 0; i < recvs.length; i++) out.push(asDoubles((got[i] as RecvResult).data));
    return out;
  }

  private anyOversize(k: number): boolean {
    for (let j = 0; j < this.n; j++) if (j !== this.me && this.seg!.published(j, k) === -1) return true;
    return false;
  }

  /** The in-slot records of collective k of every other member, into `out` (emptied first). */
  private inSlot(k: number, out: Float64Array[]): Float64Array[] {
    const seg = this.seg!;
    out.length = 0;
    for (let j = 0; j < this.n; j++) if (j !== this.me && seg.published(j, k)! > 0) out.push(seg.recordF64(j, k));
    return out;
  }

  /**
   * Closing handshake of the running slot collective: this rank is done with every peer's
   * memory; resolve once every rank of `touchedBy` is done with ours. Null when they all are.
   */
  finish(touchedBy: readonly number[]): Promise<void> | null {
    const seg = this.seg!;
    const k = this.cur;
    this.engine.counters.collSlots.fins++;
    seg.setFin(this.me, k);
    this.ringSleepers("fin");
    this.waitId = k;
    return this.waitFor(this.finThere, touchedBy, "fin");
  }

  /**
   * A step of the running slot collective (the "your data is there" / "mine is ready" messages
   * of the message path): every member waiting in {@link awaitNote} for this rank to reach
   * `step` (1 … {@link NOTE_MAX}, rising within the collective) may go on. One store for all.
   */
  note(step: number): void {
    if (!(step >= 1 && step <= NOTE_MAX)) throw new RangeError(`slot note step ${step} is outside 1 … ${NOTE_MAX}`);
    this.engine.counters.collSlots.notes++;
    this.seg!.setNote(this.me, this.cur, step);
    this.ringSleepers("note");
  }

  /** Resolve once every member of `ranks` has reached `step` of the running slot collective (or finished it); null when they all have. */
  awaitNote(ranks: readonly number[], step: number): Promise<void> | null {
    this.waitId = this.cur;
    this.waitStep = step;
    return this.waitFor(this.noteThere, ranks, "note");
  }

  /** Ring the members asleep until this rank publishes `what` (a fin also rings note sleepers: it implies every note). */
  private ringSleepers(what: SlotEvent): void {
    const seg = this.seg!;
    for (let j = 0; j < this.n; j++) {
      if (j === this.me) continue;
      if (!seg.claimSleeper(j, this.me, what) && !(what === "fin" && seg.claimSleeper(j, this.me, "note"))) continue;
      this.engine.counters.collSlots.bells++;
      this.engine.link(this.host.group[j]!)?.bell();
    }
  }

  // ---- waiting --------------------------------------------------------------------------

  /** Null when `done(j)` holds for every j of `ranks` now; else a promise that resolves once it does (polled by progress). */
  private waitFor(done: (j: number) => boolean, ranks: readonly number[], what: SlotEvent): Promise<void> | null {
    if (allOf(done, ranks)) return null;
    if (this.req) throw new Error("internal error: a second slot wait while one is pending (collectives wait on the slots one at a time)");
    if (this.state.broken) return Promise.reject(this.state.lossError("collective operation"));
    this.engine.counters.collSlots.waits++;
    this.cond = done;
    this.waitRanks = ranks;
    this.waitWhat = what;
    const progress = this.engine.fast.progress;
    progress.add(this);
    const req = this.engine.newRequest<void>();
    this.req = req;
    this.state.track(req);
    this.engine.contexts.watchers.add(this);
    req.whenSettled(this.waited);
    const p = req.wait();
    // A member that is gone already can never publish what we wait for.
    for (const w of this.host.group) {
      const st = this.engine.link(w)?.state;
      if (st === "left" || st === "lost") this.peerGone(w);
    }
    return p;
  }

  /** A wait has settled (one function for every wait: none made per wait). */
  private readonly waited = (): void => {
    this.cond = null;
    this.req = null;
    this.engine.fast.progress.remove(this);
    this.engine.contexts.watchers.delete(this);
    this.seg?.setSleep(this.me, RUNNING);
  };

  /** A member left or was lost: a wait it can no longer satisfy breaks the communicator's collectives. */
  peerGone(world: number): void {
    const j = this.host.group.indexOf(world);
    if (this.req && !this.check() && this.waitRanks.includes(j) && !this.cond!(j)) this.state.lose(world);
  }

  /** close() while waiting: the wait fails as a pending receive would. */
  closed(e: Error): void {
    this.req?.reject(e);
  }

  private check(): boolean {
    const cond = this.cond;
    if (!cond || !allOf(cond, this.waitRanks)) return false;
    this.req!.resolve();
    return true;
  }

  wake(): void {
    if (this.cond) this.seg?.setSleep(this.me, RUNNING);
  }

  poll(): boolean {
    return this.check();
  }

  /**
   * Sleep until the first member we still wait for publishes (only it rings us), re-checking it
   * after the store; a member that is there by then moves the wait on to the next one.
   */
  settle(): void {
    const cond = this.cond;
    const seg = this.seg;
    if (!cond || !seg) return;
    for (const j of this.waitRanks) {
      if (cond(j)) continue;
      seg.setSleep(this.me, sleepingOn(j, this.waitWhat));
      if (!cond(j)) return;
    }
    this.check();
  }
}

/** A received record as doubles (copied when the message is not 8-byte aligned). */
function asDoubles(data: Uint8Array | null | undefined): Float64Array {
  if (!data) return new Float64Array(0);
  const b = data.byteOffset % 8 === 0 ? data : data.slice();
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength >> 3);
}

function allOf(done: (j: number) => boolean, ranks: readonly number[]): boolean {
  for (let i = 0; i < ranks.length; i++) if (!done(ranks[i]!)) return false;
  return true;
}
