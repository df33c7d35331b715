// Whom an accepting rank lets in: the HELLO must carry the job token and name a higher rank of a
// job of the same size that has not joined yet; the kernel's credentials of the connection
// (SO_PEERCRED) must show our uid and the pid the HELLO claims; and in a job started by the
// launcher (which records every rank's pid) that pid must be the process it started as the
// claimed rank, or one that process started (peer-identity.ts): holding the token is not enough
// to take a rank's place. Ranks started by hand have no launcher record and are checked by token
// and kernel pid only; where credentials cannot be read at all (no koffi), by token.
import type { Socket } from "node:net";
import { timingSafeEqual } from "node:crypto";
import { peerCredentials, peerCredentialsUnavailable, type PeerCredentials } from "@onecopy/cma";
import type { Hello } from "./frames.js";
import { PID_RECORD_WAIT_MS, RejectCode } from "./handshake.js";
import { checkLaunchedAs, type Verdict } from "./peer-identity.js";

export type { Verdict };

/** What an accepting rank knows when a HELLO arrives. */
export interface AdmissionContext {
  rank: number;
  size: number;
  token: string;
  jobDir: string;
  /** Pid of the launcher that recorded the ranks' pids, or null (ranks started by hand). */
  launcherPid: number | null;
  /** The pid of a rank that has already joined, if it has. */
  joined(rank: number): number | null;
}

function tokenMatches(a: unknown, b: string): boolean {
  if (typeof a !== "string" || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/**
 * The kernel's credentials of a socket's peer, read at accept time (the kernel recorded them at
 * connect()); null when this platform cannot read them, a string when reading them failed.
 */
export function credentialsOf(socket: Socket): PeerCredentials | null | string {
  if (peerCredentialsUnavailable()) return null;
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return "the accepted socket has no file descriptor";
  try {
    return peerCredentials(fd);
  } catch (err) {
    return (err as Error).message;
  }
}

const refuse = (code: (typeof RejectCode)[keyof typeof RejectCode], reason: string): Verdict => ({ ok: false, code, reason });

/** Whether to let the process that sent `h` in. Synchronous checks first; the launcher's record may take a moment. */
export function admit(h: Hello, cred: PeerCredentials | null | string, c: AdmissionContext): Verdict | Promise<Verdict> {
  if (!tokenMatches(h.token, c.token)) return refuse(RejectCode.TOKEN, "wrong job token: this process is not part of the job (ONECOPY_JOB_TOKEN differs)");
  const r = h.rank;
  if (h.size !== c.size || r <= c.rank || r >= c.size) {
    return refuse(RejectCode.RANK, `rank/size mismatch: got rank ${r} of ${h.size}, this is rank ${c.rank} of ${c.size}`);
  }
  const joined = c.joined(r);
  if (joined !== null) return refuse(RejectCode.DUPLICATE, `rank ${r} has already joined (as pid ${joined})`);
  if (typeof cred === "string") return refuse(RejectCode.NO_PEER_CREDENTIALS, `cannot tell which process connected: ${cred}`);
  if (cred === null) return { ok: true }; // no way to read credentials here: the token is all we have
  const myUid = process.getuid?.();
  if (myUid !== undefined && cred.uid !== myUid) {
    return refuse(RejectCode.USER, `the connecting process (pid ${cred.pid}) runs as uid ${cred.uid}, this job as uid ${myUid}`);
  }
  if (h.pid !== cred.pid) return refuse(RejectCode.PID_MISMATCH, `the HELLO claims pid ${h.pid} for rank ${r}, but the connecting process is pid ${cred.pid}`);
  if (c.launcherPid === null) return { ok: true };
  return checkLaunchedAs(c.jobDir, r, cred.pid, c.launcherPid, PID_RECORD_WAIT_MS);
}
