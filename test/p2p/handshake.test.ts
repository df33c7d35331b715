// The handshake against processes that are not ranks of the job: a connection that announces a
// huge header, sends garbage or trickles bytes before its HELLO is dropped within seconds and
// without buffering; a process that holds the job token but is not the process the launcher
// started as a rank is refused that rank's slot. The real job completes in every case.
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
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

interface Answer {
  t?: number;
  code?: string;
  reason?: string;
  closed?: boolean;
}

/** Run the impostor fixture: a separate process with the token, claiming `rank` (and `pid`). */
function impostor(sock: string, token: string, rank: number, pid?: number): Promise<Answer> {
  const args = ["--import", "tsx", script("impostor.ts"), sock, token, String(rank), "2", ...(pid ? [String(pid)] : [])];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) => {
      const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
      if (!line) reject(new Error(`impostor failed: ${err?.message}\n${stdout}\n${stderr}`));
      else resolve(JSON.parse(line.slice(7)) as Answer);
    });
  });
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

describe("handshake: who may take a rank's place", () => {
  it("refuses a token holder that is not the process the launcher started as the claimed rank", async () => {
    const job = startJob("before-init"); // rank 1 holds off its init: its slot at rank 0 is free
    const [i0, i1] = await Promise.all([job.info(0), job.info(1)]);
    const sock = join(i0.jobDir, "0.sock");
    const [own, lying] = await Promise.all([
      // Honest about its own pid, which is not the launcher's rank 1.
      impostor(sock, i0.token, 1),
      // Claims to be rank 1's real pid: the kernel says otherwise.
      impostor(sock, i0.token, 1, i1.pid),
    ]);
    writeFileSync(join(i0.jobDir, "go"), "");
    const r = await job.done;
    expect(own, explain(r)).toMatchObject({ t: 12, code: "REJECT_NOT_LAUNCHED" });
    expect(own.reason).toMatch(new RegExp(`launcher started rank 1 as pid ${i1.pid}\\b`));
    expect(lying).toMatchObject({ t: 12, code: "REJECT_PID_MISMATCH" });
    expect(lying.reason).toMatch(new RegExp(`claims pid ${i1.pid} for rank 1, but the connecting process is pid \\d+`));
    expectJobCompleted(r);
  });

  it("still runs a job whose ranks were started by hand (no launcher record)", async () => {
    const jobDir = mkdtempSync(join(tmpdir(), "onecopy-byhand-"));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, ONECOPY_SIZE: "2", ONECOPY_JOB_DIR: jobDir, ONECOPY_JOB_TOKEN: "f".repeat(32) };
      delete env.ONECOPY_LAUNCHER_PID;
      const ranks = [0, 1].map(
        (rank) =>
          new Promise<{ code: number | null; out: string }>((resolve) => {
            const child = spawn(process.execPath, ["--import", "tsx", script("handshake.ts")], {
              env: { ...env, ONECOPY_RANK: String(rank) },
              stdio: ["ignore", "pipe", "pipe"],
            });
            let out = "";
            child.stdout.on("data", (c: Buffer) => (out += c));
            child.stderr.on("data", (c: Buffer) => (out += c));
            child.on("close", (code) => resolve({ code, out }));
          }),
      );
      const [a, b] = await Promise.all(ranks);
      expect(a!.code, a!.out).toBe(0);
      expect(b!.code, b!.out).toBe(0);
      expect(b!.out).toContain('RESULT {"rank":1,"ok":true}');
    } finally {
      rmSync(jobDir, { recursive: true, force: true });
    }
  });
});
