// The adaptive spin budget of fastpath/progress.ts: the policy on its own (SpinBudget: how long
// each wait may spin, given what the previous spins found), and Progress driving it in one
// process, where a "peer" is a Pollable that completes the pending operation or never does.
import { describe, expect, it } from "vitest";
import { BACKOFF_WAITS, Progress, SpinBudget, type Pollable, type ProgressHost } from "../../packages/rendezvous/src/fastpath/progress.js";

const MAX_MS = 0.1; // ONECOPY_SPIN_US=100

describe("spin budget (fastpath/progress.ts)", () => {
  it("backs off after spins time out, then retries with the whole budget (a doorbell's wake-up fits in it)", () => {
    const b = new SpinBudget(MAX_MS);
    // Cold start: the first spins time out; the budget halves until it backs off.
    const cold: number[] = [];
    for (let i = 0; i < 4; i++) {
      cold.push(b.next());
      b.timedOut();
    }
    expect(cold).toEqual([0.1, 0.05, 0.025, 0.0125]);
    for (let i = 0; i < BACKOFF_WAITS - 1; i++) expect(b.next()).toBe(0);
    // The retry may spin as long as a sleeping peer takes to wake and answer (an eighth, 12.5 us,
    // never covered that, so two ranks backing off together stayed on doorbells).
    expect(b.next()).toBe(MAX_MS);
    b.found();
    expect(b.next()).toBe(MAX_MS);
  });

  it("backs off again at once when the retry times out: one budget per backoff period on a contended CPU", () => {
    const b = new SpinBudget(MAX_MS);
    for (let i = 0; i < 4; i++) {
      b.next();
      b.timedOut();
    }
    let spun = 0;
    for (let i = 0; i < BACKOFF_WAITS * 10; i++) {
      const ms = b.next();
      if (ms > 0) {
        spun += ms;
        b.timedOut();
      }
    }
    expect(spun).toBeCloseTo(10 * MAX_MS, 9);
  });

  it("does not retry while waits take longer than twice the budget (a contended CPU), and retries once they are short", () => {
    const b = new SpinBudget(MAX_MS);
    for (let i = 0; i < 4; i++) {
      b.next();
      b.timedOut();
    }
    // Waits by doorbell take 0.5 ms: a 0.1 ms spin would not catch them; no spin at all.
    for (let i = 0; i < BACKOFF_WAITS * 5; i++) {
      expect(b.next()).toBe(0);
      b.waited(0.5);
    }
    // One takes 0.15 ms (a doorbell's wake-up on an idle machine): the next retry spins.
    b.waited(0.15);
    let ms = 0;
    for (let i = 0; i < BACKOFF_WAITS && ms === 0; i++) ms = b.next();
    expect(ms).toBe(MAX_MS);
  });

  it("halves on a timeout and doubles on a find while spinning pays", () => {
    const b = new SpinBudget(MAX_MS);
    b.next();
    b.timedOut();
    expect(b.next()).toBe(0.05);
    b.found();
    expect(b.next()).toBe(0.1);
    b.found();
    expect(b.next()).toBe(0.1); // capped at ONECOPY_SPIN_US
  });

  it("never spins with a budget of 0 (ranks that do not fit the CPUs)", () => {
    const b = new SpinBudget(0);
    for (let i = 0; i < 200; i++) {
      expect(b.next()).toBe(0);
      if (i % 2) b.found();
      else b.timedOut();
    }
  });
});

/** One pending operation at a time that no poll completes (a peer that does not answer). */
class SilentPeer implements Pollable, ProgressHost {
  pendingOperations = 0;
  completions = 0;
  polls = 0;
  wake(): void {}
  settle(): void {}
  poll(): boolean {
    this.polls++;
    return false;
  }
}

async function waits(spinUs: number, n: number): Promise<number> {
  const peer = new SilentPeer();
  const progress = new Progress(peer, spinUs);
  progress.add(peer);
  let spinning = 0;
  for (let i = 0; i < n; i++) {
    peer.pendingOperations = 1;
    peer.polls = 0;
    progress.kick();
    await Promise.resolve(); // the poll runs in a microtask, spinning synchronously
    if (peer.polls > 1) spinning++;
    peer.pendingOperations = 0; // completed by a "doorbell"
    peer.completions++;
  }
  return spinning;
}

describe("progress over a peer that does not answer", () => {
  it("spins in at most one wait per backoff period after the first timeouts", async () => {
    expect(await waits(100, BACKOFF_WAITS * 10)).toBeLessThanOrEqual(4 + 10);
  });

  it("never spins with ONECOPY_SPIN_US=0 (or ranks that do not fit the CPUs)", async () => {
    expect(await waits(0, 100)).toBe(0);
  });
});
