// Launcher side of the hang report: ask every live rank what it is blocked in (a query byte on
// its lifeline; it answers with one JSON line), and, with --hang-report S, notice when every
// live rank has been blocked, with nothing in flight and no progress, for S seconds.
import type { Socket } from "node:net";
import type { BlockedCallInfo, HangAnswer } from "@onecopy/rendezvous";
import { LIFELINE_QUERY } from "./env.js";
import { formatHangReport, type RankView } from "./hang-graph.js";

/** Exit code of a job ended by `--hang-exit` when a hang is detected. */
export const HANG_EXIT_CODE = 125;

/** How long a rank may take to answer before it counts as busy (computing synchronously). */
const ANSWER_MS = 500;

/** One rank as the hang watch sees it. */
export interface WatchedRank {
  rank: number;
  lifeline: Socket | undefined;
  exited: boolean;
  joined: boolean;
  /** Exit code or signal, once exited. */
  end?: string;
}

interface Streak {
  since: number;
  progress: number;
  key: string;
}

/** Asks the ranks and keeps what they said between polls. */
export class HangWatch {
  /** Per rank, the polls waiting for its next answer. */
  private readonly waiting = new Map<number, Set<(a: HangAnswer) => void>>();
  private readonly streaks = new Map<number, Streak>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private reported = false;

  constructor(
    private readonly ranks: () => readonly WatchedRank[],
    private readonly say: (text: string) => void,
  ) {}

  /** A rank's answer line arrived (JSON without its newline). */
  onAnswer(rank: number, line: string): void {
    let a: HangAnswer;
    try {
      a = JSON.parse(line) as HangAnswer;
    } catch {
      return;
    }
    if (!Array.isArray(a.blocked)) return;
    const ws = this.waiting.get(rank);
    this.waiting.delete(rank);
    for (const w of ws ?? []) w(a);
  }

  /** Ask every live rank now; resolves with the picture once all answered or `ANSWER_MS` passed. */
  async poll(answerMs = ANSWER_MS): Promise<{ views: RankView[]; answers: Map<number, HangAnswer> }> {
    const answers = new Map<number, HangAnswer>();
    const asked: Array<Promise<void>> = [];
    const ranks = this.ranks();
    for (const r of ranks) {
      if (r.exited || !r.joined || !r.lifeline || r.lifeline.destroyed) continue;
      asked.push(
        new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            this.waiting.get(r.rank)?.delete(done);
            resolve();
          }, answerMs);
          const done = (a: HangAnswer): void => {
            clearTimeout(t);
            answers.set(r.rank, a);
            resolve();
          };
          const ws = this.waiting.get(r.rank) ?? new Set();
          ws.add(done);
          this.waiting.set(r.rank, ws);
          try {
            r.lifeline!.write(Buffer.of(LIFELINE_QUERY));
          } catch {
            // the rank is going: it will count as busy, then exited
          }
        }),
      );
    }
    await Promise.all(asked);
    const views: RankView[] = ranks.map((r) => {
      const a = answers.get(r.rank);
      if (r.exited) return { rank: r.rank, state: "exited", blocked: [], end: r.end };
      if (!r.joined) return { rank: r.rank, state: "starting", blocked: [] };
      if (!a) return { rank: r.rank, state: "busy", blocked: [] };
      return { rank: r.rank, state: "answered", blocked: a.blocked };
    });
    return { views, answers };
  }

  /** The current report (SIGUSR1): asks twice, so that ranks still making progress are told from stuck ones. */
  async report(headline: string): Promise<string> {
    const first = await this.poll(1000);
    await new Promise((r) => setTimeout(r, 200));
    const { views, answers } = await this.poll(1000);
    for (const v of views) {
      const a = answers.get(v.rank);
      const b = first.answers.get(v.rank);
      if (a && (!b || a.progress !== b.progress || a.inFlight)) v.progressing = true;
    }
    return formatHangReport(views, headline);
  }

  /**
   * Poll every `periodMs` and call `onHang(report)` once, the first time every live rank has
   * been blocked with nothing in flight and no progress for `seconds`.
   */
  detect(seconds: number, onHang: (report: string) => void): void {
    const limitMs = seconds * 1000;
    const periodMs = Math.max(100, Math.min(1000, limitMs / 4));
    const tick = async (): Promise<void> => {
      this.timer = undefined;
      if (this.stopped || this.reported) return;
      const { views, answers } = await this.poll();
      if (this.stopped || this.reported) return;
      const now = Date.now();
      let live = 0;
      let stuck = 0;
      for (const v of views) {
        if (v.state === "exited") {
          this.streaks.delete(v.rank);
          continue;
        }
        live++;
        const a = answers.get(v.rank);
        if (!a || a.blocked.length === 0 || a.inFlight) {
          this.streaks.delete(v.rank);
          continue;
        }
        const key = a.blocked.map(callKey).join("|");
        const s = this.streaks.get(v.rank);
        if (!s || s.progress !== a.progress || s.key !== key) this.streaks.set(v.rank, { since: now, progress: a.progress, key });
        else if (now - s.since >= limitMs) stuck++;
      }
      if (live > 0 && stuck === live) {
        this.reported = true;
        onHang(formatHangReport(views, `every live rank has been blocked for ${seconds} s with nothing in flight and no progress`));
        return;
      }
      this.timer = setTimeout(() => void tick(), periodMs);
    };
    this.timer = setTimeout(() => void tick(), periodMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const ws of this.waiting.values()) for (const w of ws) w({ rank: -1, blocked: [], progress: 0, inFlight: false });
    this.waiting.clear();
  }
}

function callKey(c: BlockedCallInfo): string {
  return `${c.call}/${c.comm}/${c.peer}/${c.tag}/${c.seq}`;
}
