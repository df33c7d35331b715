// Start-up: every rank listens on <jobDir>/<rank>.sock and connects to every lower rank, so
// each pair shares one full-duplex connection. The handshake carries the job token and pid;
// then each side probes the other with a real CMA read and tells it the outcome.
//
// Until a connection is accepted its frames are capped at MAX_HANDSHAKE_HEADER and it has
// HELLO_TIMEOUT_MS to deliver its HELLO; a refusal names its reason with a RejectCode.
//
// Who connected: the accepting rank reads the connecting process's pid from the kernel
// (SO_PEERCRED) and refuses a HELLO that claims another pid. In a job started by the launcher
// (ONECOPY_LAUNCHER_PID set) that pid must also be the process the launcher started as the
// claimed rank, or one that process started (peer-identity.ts): holding the token is not enough
// to take a rank's place. Ranks started by hand have no launcher record, and are checked by
// token and kernel pid only; where the credentials cannot be read at all (no koffi), by token.
import { createServer, createConnection, type Server, type Socket } from "node:net";
import { timingSafeEqual } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import {
  probe,
  publishProbeToken,
  cmaAvailability,
  peerCredentials,
  peerCredentialsUnavailable,
  type PeerCredentials,
  type ProbeToken,
} from "@onecopy/cma";
import { Peer } from "./endpoint.js";
import { Engine } from "./engine.js";
import { ErrorCode, MessagingError } from "./errors.js";
import type { Tunables } from "./tunables.js";
import { HELLO_TIMEOUT_MS, PID_RECORD_WAIT_MS, REJECT_LINGER_MS, RejectCode, type RejectCodeValue } from "./handshake.js";
import { checkLaunchedAs } from "./peer-identity.js";
import { LAUNCHER_PID_ENV } from "./pid-record.js";
import { encodeHeader, FrameReader, MAX_HANDSHAKE_HEADER, MAX_HEADER, T, type Header } from "./wire.js";

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

function tokenMatches(a: unknown, b: string): boolean {
  if (typeof a !== "string" || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function launcherPidOf(job: JobInfo): number | null {
  const pid = job.launcherPid ?? Number(process.env[LAUNCHER_PID_ENV] ?? NaN);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The kernel's credentials of a socket's peer; null when this platform cannot read them. */
function credentialsOf(socket: Socket): PeerCredentials | null {
  if (peerCredentialsUnavailable()) return null;
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new Error("the accepted socket has no file descriptor");
  return peerCredentials(fd);
}

function initError(msg: string, cause?: unknown): MessagingError {
  return new MessagingError(ErrorCode.INIT, msg, { cause });
}

/** Connect this rank to all others and return the ready engine. */
export async function connectWorld(job: JobInfo, tunables: Tunables): Promise<World> {
  const { rank, size, jobDir, token } = job;
  const launcherPid = launcherPidOf(job);
  const engine = new Engine(rank, size, tunables);
  const avail = cmaAvailability();
  const myProbe: ProbeToken | null = avail.available ? publishProbeToken() : null;
  const readFailures: Array<[number, string]> = [];
  if (size === 1) return { engine, server: null, socketPath: null, readFailures };

  const deadline = Date.now() + tunables.connectTimeoutMs;
  let readyCount = 0;
  let settle!: { resolve(): void; reject(e: Error): void };
  const allReady = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  let failed = false;
  const fail = (e: Error) => {
    if (failed) return;
    failed = true;
    settle.reject(e);
  };

  const hello = (): Header => ({ t: T.HELLO, token, rank, size, pid: process.pid, probe: myProbe });

  const checkReady = (peer: Peer) => {
    if (peer.ready && !peer.counted) {
      peer.counted = true;
      if (++readyCount === size - 1) settle.resolve();
    }
  };

  /** Identity known: probe the peer, tell it, and switch the socket to data frames. */
  const established = (peer: Peer, h: Header) => {
    peer.pid = h.pid as number;
    peer.probeToken = (h.probe as ProbeToken | null) ?? null;
    peer.state = "up";
    engine.peers[peer.rank] = peer;
    if (myProbe && peer.probeToken) {
      const r = probe(peer.probeToken);
      peer.canRead = r.usable;
      if (!r.usable) peer.readFailure = r.reason;
    } else {
      peer.canRead = false;
      peer.readFailure = myProbe ? `rank ${peer.rank} has single copy disabled` : avail.reason;
    }
    if (!peer.canRead) readFailures.push([peer.rank, peer.readFailure]);
    peer.probedUs = true;
    peer.send({ t: T.PROBED, ok: peer.canRead });
    checkReady(peer);
  };

  /** Route a connection's frames: handshake frames first, then the engine's. */
  const attach = (socket: Socket, peerRank: number | null, onHandshake: (peer: Peer | null, h: Header) => Peer | null) => {
    socket.setNoDelay?.(true);
    let peer: Peer | null = null;
    // Until the handshake is done, only handshake-sized frames: a length prefix above the cap
    // drops the connection before any of it is buffered.
    const reader: FrameReader = new FrameReader((h) => {
      if (peer && peer.state !== "connecting" && h.t < 10) return engine.onFrame(peer, h);
      if (h.t === T.PROBED) {
        if (peer) {
          peer.peerCanRead = h.ok === true;
          peer.probedThem = true;
          checkReady(peer);
        }
        return null;
      }
      peer = onHandshake(peer, h);
      return null;
    }, { maxHeader: MAX_HANDSHAKE_HEADER });
    socket.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    const gone = (err?: Error) => {
      if (peer && peer.state === "up") engine.peerGone(peer, "lost");
      else if (!peer || peer.state === "connecting") {
        if (!engine.closed && !failed && peerRank !== null && Date.now() >= deadline) {
          fail(initError(`rank ${rank}: lost the connection to rank ${peerRank} during start-up`, err));
        }
      }
    };
    socket.on("close", () => gone());
    socket.on("error", (err) => gone(err));
    return (p: Peer) => {
      peer = p;
      reader.maxHeader = MAX_HEADER;
    };
  };

  // Accept connections from higher ranks.
  const path = socketPathOf(jobDir, rank);
  const server = createServer((socket) => {
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS).unref();
    // Read now, while the connection is fresh: the kernel recorded them at connect().
    let cred: PeerCredentials | null = null;
    let credFailure = "";
    try {
      cred = credentialsOf(socket);
    } catch (err) {
      credFailure = (err as Error).message;
    }
    let stage: "hello" | "verifying" | "answered" = "hello";
    const reject = (code: RejectCodeValue, reason: string): null => {
      stage = "answered";
      clearTimeout(helloTimer);
      socket.end(encodeHeader({ t: T.REJECT, code, reason }));
      setTimeout(() => socket.destroy(), REJECT_LINGER_MS).unref();
      return null;
    };
    const accept = (r: number, h: Header): Peer | null => {
      if (engine.peers[r]) return reject(RejectCode.DUPLICATE, `rank ${r} has already joined (as pid ${engine.peers[r]!.pid})`);
      stage = "answered";
      const p = new Peer(r, socket);
      socket.write(encodeHeader({ t: T.WELCOME, rank, pid: process.pid, probe: myProbe }));
      bind(p);
      established(p, h);
      return p;
    };
    const bind = attach(socket, null, (peer, h) => {
      if (peer) return peer;
      if (stage === "answered") return null; // refused: ignore whatever else it sends until it is gone
      if (stage === "verifying") return reject(RejectCode.PROTOCOL, `a frame of type ${h.t} arrived before the answer to the HELLO`);
      clearTimeout(helloTimer);
      if (h.t !== T.HELLO) return reject(RejectCode.NOT_HELLO, `expected a HELLO frame, got a frame of type ${h.t}`);
      if (!tokenMatches(h.token, token)) {
        return reject(RejectCode.TOKEN, "wrong job token: this process is not part of the job (ONECOPY_JOB_TOKEN differs)");
      }
      const r = h.rank as number;
      if (h.size !== size || !Number.isInteger(r) || r <= rank || r >= size) {
        return reject(RejectCode.RANK, `rank/size mismatch: got rank ${String(h.rank)} of ${String(h.size)}, this is rank ${rank} of ${size}`);
      }
      if (credFailure) return reject(RejectCode.NO_PEER_CREDENTIALS, `cannot tell which process connected: ${credFailure}`);
      if (cred === null) return accept(r, h); // no way to read credentials here: the token is all we have
      const myUid = process.getuid?.();
      if (myUid !== undefined && cred.uid !== myUid) {
        return reject(RejectCode.USER, `the connecting process (pid ${cred.pid}) runs as uid ${cred.uid}, this job as uid ${myUid}`);
      }
      if (h.pid !== cred.pid) {
        return reject(RejectCode.PID_MISMATCH, `the HELLO claims pid ${String(h.pid)} for rank ${r}, but the connecting process is pid ${cred.pid}`);
      }
      if (launcherPid === null) return accept(r, h);
      stage = "verifying";
      const pid = cred.pid;
      void checkLaunchedAs(jobDir, r, pid, launcherPid, PID_RECORD_WAIT_MS).then((v) => {
        if (stage !== "verifying") return; // already refused for a frame out of turn
        if (socket.destroyed || failed || engine.closed) {
          socket.destroy();
          return;
        }
        if (!v.ok) reject(v.code, v.reason);
        else accept(r, h);
      });
      return null;
    });
  });
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
      const socket = createConnection(socketPathOf(jobDir, peerRank));
      let connected = false;
      let answered = false;
      const bind = attach(socket, peerRank, (peer, h) => {
        if (peer) return peer;
        if (h.t === T.REJECT) {
          answered = true;
          fail(initError(`rank ${rank}: rank ${peerRank} refused the connection: ${String(h.reason)} [${String(h.code)}]`));
          socket.destroy();
          return null;
        }
        if (h.t !== T.WELCOME || h.rank !== peerRank) {
          fail(initError(`rank ${rank}: unexpected handshake from rank ${peerRank}`));
          socket.destroy();
          return null;
        }
        answered = true;
        const p = new Peer(peerRank, socket);
        bind(p);
        established(p, h);
        return p;
      });
      socket.once("connect", () => {
        connected = true;
        socket.unref();
        socket.write(encodeHeader(hello()));
      });
      // Dropped before any answer (e.g. the peer's HELLO timeout fired while this process was
      // descheduled): nothing was registered on either side, so simply connect again.
      socket.once("close", () => {
        if (!connected || answered || failed || engine.closed || Date.now() > deadline) return;
        setTimeout(attempt, delay).unref();
      });
      socket.once("error", (err: NodeJS.ErrnoException) => {
        if (connected) return;
        socket.destroy();
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
  for (let r = 0; r < rank; r++) connectTo(r);

  const overall = setTimeout(() => fail(initError(`rank ${rank}: start-up did not finish within ${tunables.connectTimeoutMs} ms (${readyCount} of ${size - 1} peers ready)`)), tunables.connectTimeoutMs);
  try {
    await allReady;
  } catch (e) {
    server.close();
    for (const p of engine.peers) p?.socket.destroy();
    rmSync(path, { force: true });
    throw e;
  } finally {
    clearTimeout(overall);
  }
  return { engine, server, socketPath: path, readFailures };
}
