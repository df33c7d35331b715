// A real 8-byte read between two peers: the only trustworthy answer to "does CMA work here?".
import { randomBytes } from "node:crypto";
import { addressOf } from "./iolist.js";
import { transferSync } from "./copy.js";
import { CmaError, ErrorCode } from "./errors.js";
import { cmaAvailability, enablePeerAccess, userNamespaceOf } from "./permission.js";
import { permissionAdvice } from "./diagnose.js";

/** What a process publishes so that peers can probe it. Plain numbers and strings: serializable. */
export interface ProbeToken {
  pid: number;
  /** Address of 8 bytes that hold `token`. */
  addr: number;
  /** The 8 bytes, hex-encoded. */
  token: string;
  /** The publisher's user namespace, for a better reason when access is denied. */
  userns: string | null;
}

/** The outcome of a probe. */
export type ProbeResult = { usable: true } | { usable: false; code: string; reason: string };

let published: { bytes: Uint8Array; token: ProbeToken } | null = null;

/**
 * Publish this process's probe token (once per process; later calls return the same token).
 * Also enables peer access where Yama requires it (see {@link enablePeerAccess}).
 */
export function publishProbeToken(): ProbeToken {
  if (published) return published.token;
  const bytes = new Uint8Array(new ArrayBuffer(8));
  bytes.set(randomBytes(8));
  const avail = cmaAvailability();
  if (avail.available) enablePeerAccess();
  const token: ProbeToken = {
    pid: process.pid,
    addr: avail.available ? addressOf(bytes) : 0,
    token: Buffer.from(bytes).toString("hex"),
    userns: userNamespaceOf(),
  };
  published = { bytes, token }; // module-lifetime reference: the bytes never move or die
  return token;
}

/**
 * Try CMA against `peer` for real: read its 8 token bytes and compare. Reports usable only
 * when the read succeeds and returns the published bytes.
 */
export function probe(peer: ProbeToken): ProbeResult {
  const avail = cmaAvailability();
  if (!avail.available) return { usable: false, code: ErrorCode.CMA_DISABLED, reason: avail.reason };
  if (!peer || !Number.isSafeInteger(peer.pid) || peer.pid <= 0 || !peer.addr || typeof peer.token !== "string") {
    return { usable: false, code: ErrorCode.CMA_DISABLED, reason: "the peer did not publish a probe token (CMA is off on its side)" };
  }
  const got = new Uint8Array(8);
  try {
    transferSync("read", peer.pid, [addressOf(got), 8], [peer.addr, 8]);
  } catch (err) {
    const e = err as CmaError;
    const mine = userNamespaceOf();
    let reason = e.message;
    if (e.code === "EPERM" && peer.userns && mine && peer.userns !== mine) {
      reason = `pid ${peer.pid} runs in another user namespace (${peer.userns}, this process: ${mine}), so the kernel denies CMA between them (EPERM). ${permissionAdvice()}`;
    }
    return { usable: false, code: e.code ?? "EINVAL", reason };
  }
  const hex = Buffer.from(got).toString("hex");
  if (hex !== peer.token) {
    return {
      usable: false,
      code: ErrorCode.PROBE_MISMATCH,
      reason: `reading pid ${peer.pid} returned other bytes than it published: the pid names another process (different PID namespaces?)`,
    };
  }
  return { usable: true };
}
