// Start-up: every rank listens on <jobDir>/<rank>.sock and connects to every lower rank, so each
// pair shares one full-duplex connection. Bootstrap only listens, connects, runs the handshake
// and probes; then it hands each link to the engine (link.ts draws the states).
//
//   connecting rank                         accepting rank
//   HELLO {token, rank, size, pid, probe} ─►  admission.ts: token, rank, kernel pid, launcher record
//                                         ◄─  WELCOME {rank, pid, probe}, PROBED {ok}  (or REJECT {code, reason})
//   PROBED {ok}                          ─►
//   each side probes the other with a real CMA read of its published token, and tells it the
//   result; once both results are known the link is the engine's.
//
// Until a connection is accepted its frames are capped at 4 KiB and it has HELLO_TIMEOUT_MS to
// deliver its HELLO; a refusal names its reason with a RejectCode.
import { createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { probe, publishProbeToken, cmaAvailability, type ProbeToken } from "@onecopy/cma";
import { admit, credentialsOf, type Verdict } from "./admission.js";
import { Engine } from "./engine.js";
import { ErrorCode, MessagingError } from "./errors.js";
import { encodeFrame, T, type Frame, type Hello, type Welcome } from "./frames.js";
import { HELLO_TIMEOUT_MS, REJECT_LINGER_MS, RejectCode, type RejectCodeValue } from "./handshake.js";
import { acceptLink, connectLink, type LinkHandler, type PeerLink } from "./link.js";
import { LAUNCHER_PID_ENV } from "./pid-record.js";
import type { ReadPermission } from "./single-copy.js";
import type { Tunables } from "./tunables.js";

export interface JobInfo {
  rank: number;
  size: number;
  jobDir: string;
  token: string;
  /**
   * Pid of the launcher that started the job and recorded every rank's pid; peers are checked
   * against that record. Default: ONECOPY_LAUNCHER_PID; none (no record to check) if unset.
   */
  launcherPid?: number;
  /**
   * Started by mpirun/srun: the world ranks on this node (this rank among them). Only they meet
   * over Unix sockets; `remote` links the others over MPI. Default: every rank is local.
   */
  local?: readonly number[];
  remote?: (engine: Engine) => void;
}

export interface World {
  engine: Engine;
  server: Server | null;
  socketPath: string | null;
  /** Pairs this rank cannot read with CMA: [peer rank, reason]. */
  readFailures: Array<[number, string]>;
}

export function socketPathOf(jobDir: string, rank: number): string {
  return join(jobDir, `${rank}.sock`);
}

function launcherPidOf(job: JobInfo): number | null {
  const pid = job.launcherPid ?? Number(process.env[LAUNCHER_PID_ENV] ?? NaN);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function initError(msg: string, cause?: unknown): MessagingError {
  return new MessagingError(ErrorCode.INIT, msg, { cause });
}

/** A link in its handshake: what each side's probe found. */
interface Handshake {
  link: PeerLink;
  read: ReadPermission | null;
  peerCanRead: boolean | null;
}

/** Connect this rank to all others and return the ready engine. */
export async function connectWorld(job: JobInfo, tunables: Tunables, warn: (message: string) => void): Promise<World> {
  const { rank, size, jobDir, token } = job;
  const launcherPid = launcherPidOf(job);
  const engine = new Engine({ rank, size, tunables, token, warn });
  const avail = cmaAvailability();
  const myProbe: ProbeToken | null = avail.available ? publishProbeToken() : null;
  const readFailures: Array<[number, string]> = [];
  if (size === 1) return { engine, server: null, socketPath: null, readFailures };
  const local = job.local ? new Set(job.local) : null;
  const localPeers = local ? local.size - 1 : size - 1;
  job.remote?.(engine);
  if (localPeers === 0) return { engine, server: null, socketPath: null, readFailures };

  const deadline = Date.now() + tunables.connectTimeoutMs;
  const joined = new Map<number, Handshake>();
  let readyCount = 0;
  let settle!: { resolve(): void; reject(e: Error): void };
  const allReady = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  let failed = false;
  const fail = (e: Error) => {
    if (failed) return;
    failed = true;
    settle.reject(e);
  };

  /** Both probe results known: the link is the engine's. */
  const checkReady = (hs: Handshake) => {
    if (hs.read === null || hs.peerCanRead === null) return;
    engine.adopt(hs.link, hs.read, hs.peerCanRead);
    if (++readyCount === localPeers) settle.resolve();
  };

  /** Identity known: probe the peer and tell it the result. */
  const established = (link: PeerLink, peerRank: number, h: Hello | Welcome): Handshake => {
    link.identify(peerRank, h.pid);
    const hs: Handshake = { link, read: null, peerCanRead: null };
    joined.set(peerRank, hs);
    let read: ReadPermission;
    if (myProbe && h.probe) {
      const r = probe(h.probe);
      read = { canRead: r.usable, reason: r.usable ? "" : r.reason };
    } else read = { canRead: false, reason: myProbe ? `rank ${peerRank} has single copy disabled` : avail.reason };
    if (!read.canRead) readFailures.push([peerRank, read.reason]);
    link.send({ t: T.PROBED, ok: read.canRead });
    hs.read = read;
    checkReady(hs);
    return hs;
  };

  /** The PROBED frame of the handshake; anything else is the side-specific part's. */
  const handshakeHandler = (onFrame: (link: PeerLink, f: Frame) => void, onClosed: (link: PeerLink, err?: Error) => void): LinkHandler => ({
    frame: (link, f) => {
      const hs = joined.get(link.rank);
      if (f.t === T.PROBED && hs && hs.link === link) {
        hs.peerCanRead = f.ok;
        checkReady(hs);
      } else onFrame(link, f);
      return null;
    },
    gone: onClosed,
  });

  const lostDuringStartup = (peerRank: number, err?: Error) => {
    if (!engine.closed && !failed && Date.now() >= deadline) fail(initError(`rank ${rank}: lost the connection to rank ${peerRank} during start-up`, err));
  };

  // Accept connections from higher ranks.
  const path = socketPathOf(jobDir, rank);
  const accept = (accepted: Socket) => {
    const cred = credentialsOf(accepted); // now, while the connection is fresh
    let stage: "hello" | "verifying" | "answered" = "hello";
    const reject = (link: PeerLink, code: RejectCodeValue, reason: string) => {
      stage = "answered";
      clearTimeout(helloTimer);
      link.socket.end(encodeFrame({ t: T.REJECT, code, reason }));
      setTimeout(() => link.destroy(), REJECT_LINGER_MS).unref();
    };
    const answer = (link: PeerLink, h: Hello, v: Verdict) => {
      if (!v.ok) return reject(link, v.code, v.reason);
      const again = joined.get(h.rank);
      if (again) return reject(link, RejectCode.DUPLICATE, `rank ${h.rank} has already joined (as pid ${again.link.pid})`);
      stage = "answered";
      link.send({ t: T.WELCOME, rank, pid: process.pid, probe: myProbe });
      established(link, h.rank, h);
    };
    const accepting = acceptLink(
      accepted,
      handshakeHandler(
        (link, f) => {
          if (stage === "answered") return; // refused (or, once accepted, a frame out of turn): ignore until it is gone
          if (stage === "verifying") return reject(link, RejectCode.PROTOCOL, `a frame of type ${f.t} arrived before the answer to the HELLO`);
          clearTimeout(helloTimer);
          if (f.t !== T.HELLO) return reject(link, RejectCode.NOT_HELLO, `expected a HELLO frame, got a frame of type ${f.t}`);
          const v = admit(f, cred, { rank, size, token, jobDir, launcherPid, joined: (r) => joined.get(r)?.link.pid ?? null });
          if (!(v instanceof Promise)) return answer(link, f, v);
          stage = "verifying";
          void v.then((verdict) => {
            if (stage !== "verifying") return; // already refused for a frame out of turn
            if (link.socket.destroyed || failed || engine.closed) return link.destroy();
            answer(link, f, verdict);
          });
        },
        (link, err) => {
          if (link.rank >= 0) lostDuringStartup(link.rank, err);
        },
      ),
    );
    const helloTimer = setTimeout(() => accepting.destroy(), HELLO_TIMEOUT_MS).unref();
  };
  // pauseOnConnect: acceptLink moves each connection into a socket of its own before it reads.
  const server = createServer({ pauseOnConnect: true }, accept);
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(initError(`rank ${rank}: cannot listen on ${path}: ${err.message}`, err)));
    server.listen(path, () => resolve());
  });

  // Connect to every lower rank, retrying until its socket appears.
  const connectTo = (peerRank: number) => {
    let delay = 2;
    const attempt = () => {
      if (failed) return;
      let connected = false;
      let answered = false;
      const { socket } = connectLink(
        socketPathOf(jobDir, peerRank),
        handshakeHandler(
          (link, f) => {
            if (answered) return link.destroy(new MessagingError(ErrorCode.PROTOCOL, `rank ${peerRank} sent a frame of type ${f.t} out of turn`));
            answered = true;
            if (f.t === T.REJECT) {
              fail(initError(`rank ${rank}: rank ${peerRank} refused the connection: ${f.reason} [${String(f.code)}]`));
              return link.destroy();
            }
            if (f.t !== T.WELCOME || f.rank !== peerRank) {
              fail(initError(`rank ${rank}: unexpected handshake from rank ${peerRank}`));
              return link.destroy();
            }
            established(link, peerRank, f);
          },
          // Dropped before any answer (e.g. the peer's HELLO timeout fired while this process
          // was descheduled): nothing was registered on either side, so simply connect again.
          (_link, err) => {
            if (!connected) return;
            if (answered || failed || engine.closed || Date.now() > deadline) return lostDuringStartup(peerRank, err);
            setTimeout(attempt, delay).unref();
          },
        ),
      );
      socket.once("connect", () => {
        connected = true;
        socket.unref();
        socket.write(encodeFrame({ t: T.HELLO, token, rank, size, pid: process.pid, probe: myProbe }));
      });
      socket.once("error", (err: NodeJS.ErrnoException) => {
        if (connected) return;
        if (Date.now() > deadline) {
          fail(initError(`rank ${rank}: rank ${peerRank} did not come up within ${tunables.connectTimeoutMs} ms (${err.code})`, err));
          return;
        }
        setTimeout(attempt, delay).unref();
        delay = Math.min(delay * 2, 100);
      });
    };
    attempt();
  };
  for (let r = 0; r < rank; r++) if (!local || local.has(r)) connectTo(r);

  const overall = setTimeout(
    () => fail(initError(`rank ${rank}: start-up did not finish within ${tunables.connectTimeoutMs} ms (${readyCount} of ${localPeers} peers ready)`)),
    tunables.connectTimeoutMs,
  );
  try {
    await allReady;
    await engine.fast.ready(); // so that the first message already takes the fast path
  } catch (e) {
    server.close();
    for (const hs of joined.values()) hs.link.destroy();
    rmSync(path, { force: true });
    throw e;
  } finally {
    clearTimeout(overall);
  }
  return { engine, server, socketPath: path, readFailures };
}
