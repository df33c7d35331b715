// Can this process use CMA, and may peers read it? (Selection, apart from the copy.)
import { readFileSync, readlinkSync } from "node:fs";
import { libc } from "./libc.js";
import { cmaDisabledReason } from "./switch.js";

const PR_SET_PTRACER = 0x59616d61;
const PR_SET_PTRACER_ANY = -1;

/** Yama's `ptrace_scope` (0–3), or null where Yama is not active. */
export function readPtraceScope(): number | null {
  try {
    const v = Number(readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8").trim());
    return Number.isInteger(v) ? v : null;
  } catch {
    return null;
  }
}

/** An identifier of this process's user namespace (e.g. `user:[4026531837]`), or null. */
export function userNamespaceOf(pid: number | "self" = "self"): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/user`);
  } catch {
    return null;
  }
}

let peerAccessEnabled = false;

/**
 * Let any process of the same user read and write this process's memory through CMA.
 *
 * At Yama `ptrace_scope` 1 (Ubuntu's default) only ancestors may attach, so the target calls
 * `prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY)`, exactly as Open MPI and UCX do. Security
 * trade-off: until exit, every process running as this user may then ptrace this process or
 * read its memory, which scope 1 otherwise forbids. Do not enable it in processes holding
 * secrets that other processes of the same user must not see. Returns whether the call was
 * made and succeeded; without Yama there is nothing to do and it returns false.
 */
export function enablePeerAccess(): boolean {
  if (peerAccessEnabled) return true;
  const scope = readPtraceScope();
  if (scope !== 1) return false;
  const lib = libc();
  if (!lib) return false;
  const rc = lib.prctl(PR_SET_PTRACER, "long", PR_SET_PTRACER_ANY, "long", 0, "long", 0, "long", 0) as number;
  peerAccessEnabled = rc === 0;
  return peerAccessEnabled;
}

/** Whether this process can try CMA at all, and if not, why. */
export interface CmaAvailability {
  available: boolean;
  reason: string;
  ptraceScope: number | null;
}

/**
 * Local, static answer to "may this process use CMA?" — the kill switch, the platform, Yama.
 * It never proves a pair works: only {@link probe} does (a real read between the two peers).
 */
export function cmaAvailability(): CmaAvailability {
  const ptraceScope = readPtraceScope();
  const off = cmaDisabledReason();
  if (off) return { available: false, reason: off.message, ptraceScope };
  if (ptraceScope !== null && ptraceScope >= 2) {
    return {
      available: false,
      reason:
        ptraceScope === 2
          ? "Yama ptrace_scope is 2: only processes with CAP_SYS_PTRACE may use CMA"
          : "Yama ptrace_scope is 3: CMA is forbidden until reboot",
      ptraceScope,
    };
  }
  return { available: true, reason: "", ptraceScope };
}
