// The handshake against processes that are not ranks of the job: a connection that announces a
// huge header, sends garbage or trickles bytes before its HELLO is dropped within seconds and
// without buffering; a process that holds the job token but is not the process the launcher
// started as a rank is refused that rank's slot. The real job completes in every case.
import { existsSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { launch, type LaunchResult } from "onecopy/launcher";
import { explain, fixture } from "../kit/job.js";

const script = (name: string) => fixture(import.meta.url, name);

interface Info {
  rank: number;
  pid: number;
  jobDir: string;
  token: string;
}

interface Started {
  info(rank: number): Promise<Info>;
  done: Promise<LaunchResult & { results: unknown[][] }>;
}

function resultsOf(r: LaunchResult): unknown[][] {
  return r.ranks.map((rk) =>
    rk.stdout
      .split("\n")
      .filter((l) => l.startsWith("RESULT "))
      .map((l) => JSON.parse(l.slice(7)) as unknown),
  );
}

/** Launch the two-rank handshake fixture; each rank's INFO line resolves `info(rank)`. */
function startJob(hold: "before-init" | "after-init"): Started {
  const waiters = [0, 1].map(() => {
    let resolve!: (i: Info) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<Info>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  });
  const done = launch({
    np: 2,
    script: script("handshake.ts"),
    env: { HOLD: hold },
    timeoutMs: 60_000,
    failGraceMs: 200,
    handleSignals: false,
    onOutput: ({ rank, stream, line }) => {
      if (stream === "stdout" && line.startsWith("INFO ")) waiters[rank]!.resolve(JSON.parse(line.slice(5)) as Info);
    },
  }).then((r) => {
    for (const w of waiters) w.reject(new Error(`the job ended before printing INFO:\n${explain(r)}`));
    return Object.assign(r, { results: resultsOf(r) });
  });
  return { info: (rank) => waiters[rank]!.promise, done };
}

async function waitForFile(path: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} never appeared`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A connected socket to `path`, retrying while the rank is not listening yet. */
async function connected(path: string): Promise<Socket> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const s = connect(path);
    const ok = await new Promise<boolean>((resolve) => {
      s.once("connect", () => resolve(true));
      s.once("error", () => resolve(false));
    });
    if (ok) return s;
    s.destroy();
    if (Date.now() > deadline) throw new Error(`cannot connect to ${path}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Connect to `path`, write `first`, then `next()` every `everyMs` until the rank closes the
 * connection; resolve with how long after `first` it did (Infinity if it had not after 15 s).
 */
async function hostile(path: string, first: Buffer, next: () => Buffer, everyMs: number): Promise<number> {
  const s = await connected(path);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const timer = setInterval(() => s.writable && s.write(next()), everyMs);
    const giveUp = setTimeout(() => {
      s.destroy();
      resolve(Infinity);
    }, 15_000);
    s.on("error", () => {});
    s.on("close", () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve(performance.now() - t0);
    });
    s.write(first);
  });
}

function prefix(len: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(len, 0);
  return b;
}

function expectJobCompleted(r: LaunchResult & { results: unknown[][] }): void {
  expect(r.exitCode, explain(r)).toBe(0);
  expect(r.results[0]).toEqual([expect.objectContaining({ rank: 0, sent: 1 << 20 })]);
  expect(r.results[1]).toEqual([{ rank: 1, ok: true }]);
}

describe("handshake against foreign connections", () => {
  it("drops oversized, garbage and trickling pre-HELLO connections within seconds; the job completes", async () => {
    const job = startJob("after-init");
    const { jobDir } = await job.info(0);
    const sock = join(jobDir, "0.sock");
    await waitForFile(sock);
    const slab = Buffer.alloc(64 * 1024, 0xaa);
    const [floods, garbage, trickle] = await Promise.all([
      // A 16 MiB header announced, then its bytes slowly (16 MiB would take ~13 s).
      Promise.all(Array.from({ length: 4 }, () => hostile(sock, prefix(16 << 20), () => slab, 50))),
      // A small header that is not msgpack.
      hostile(sock, Buffer.concat([prefix(8), Buffer.alloc(8, 0xc1)]), () => Buffer.alloc(1), 100),
      // A plausible header length, then one byte every 100 ms: never a whole HELLO.
      hostile(sock, prefix(1000), () => Buffer.alloc(1, 0x80), 100),
    ]);
    writeFileSync(join(jobDir, "go"), "");
    const r = await job.done;
    if (process.env.HANDSHAKE_DEBUG) console.log(JSON.stringify({ floods, garbage, trickle, results: r.results }));
    // The cap is checked on the 4-byte prefix: nothing of the 16 MiB is ever buffered.
    for (const ms of floods) expect(ms, `flood closed after ${ms.toFixed(0)} ms`).toBeLessThan(2500);
    expect(garbage).toBeLessThan(2500);
    // No HELLO within the handshake timeout (3 s).
    expect(trickle).toBeGreaterThan(2000);
    expect(trickle, `trickle closed after ${trickle.toFixed(0)} ms`).toBeLessThan(7000);
    expectJobCompleted(r);
    // 4 × 16 MiB announced; none of it was buffered (the old parser kept it all, re-copied).
    const { heldRssKiB } = r.results[0]![0] as { heldRssKiB: number };
    expect(heldRssKiB / 1024, "MiB of peak RSS added while flooded").toBeLessThan(8);
  });
});
