// Cold path: turning a failed call into an error a person can act on.
import { CmaError, type CmaErrorCode } from "./errors.js";
import type { IoList } from "./iolist.js";
import { readPtraceScope } from "./permission.js";

export interface FailureContext {
  dir: "read" | "write";
  pid: number;
  expected: number;
  done: number;
  local: IoList;
  remote: IoList;
  lc: { piece: number; offset: number };
  rc: { piece: number; offset: number };
}

const ERRNO_NAMES: Record<number, CmaErrorCode> = { 1: "EPERM", 3: "ESRCH", 12: "ENOMEM", 14: "EFAULT", 22: "EINVAL", 38: "ENOSYS" };

function hex(n: number): string {
  return "0x" + n.toString(16);
}

function rangeAt(list: IoList, cur: { piece: number; offset: number }): string {
  if (cur.piece >= list.length) return "(end of list)";
  const start = list[cur.piece]! + cur.offset;
  return `piece ${cur.piece / 2}, [${hex(start)}, ${hex(list[cur.piece]! + list[cur.piece + 1]!)})`;
}

/** Permission advice shared by EPERM errors and failed probes. */
export function permissionAdvice(): string {
  const scope = readPtraceScope();
  const yama =
    scope === null
      ? "Yama is not active here (no /proc/sys/kernel/yama/ptrace_scope), so ptrace_scope is not what denies access"
      : `Yama ptrace_scope is ${scope} (/proc/sys/kernel/yama/ptrace_scope; at 1 the target must call prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY), which onecopy does when it publishes a probe token; at 2 the reader needs CAP_SYS_PTRACE; at 3 CMA is impossible until reboot)`;
  return (
    `Check: ${yama}; the two processes must run as the same user and in the same user namespace ` +
    `(rootless containers such as Podman or Apptainer, and Docker without CAP_SYS_PTRACE or with a seccomp profile that blocks process_vm_readv, deny it). ` +
    `To run without single copy, set ONECOPY_CMA=0 (or pass --no-cma to onecopy run).`
  );
}

export function errorForErrno(errno: number, ctx: FailureContext): CmaError {
  const syscall = ctx.dir === "read" ? "process_vm_readv" : "process_vm_writev";
  const base = { errno, pid: ctx.pid, syscall, expected: ctx.expected, done: ctx.done };
  const progress = `after ${ctx.done} of ${ctx.expected} bytes`;
  if (errno === 0) {
    return new CmaError(
      "ERR_SHORT_COPY",
      `${syscall} with pid ${ctx.pid} made no progress ${progress}: the remote range (${rangeAt(ctx.remote, ctx.rc)}) is probably not mapped`,
      base,
    );
  }
  const code = ERRNO_NAMES[errno] ?? ("EINVAL" as CmaErrorCode);
  switch (code) {
    case "EPERM":
      return new CmaError(
        "EPERM",
        `${syscall} was refused (EPERM): this process (pid ${process.pid}) may not access the memory of pid ${ctx.pid}. ${permissionAdvice()}`,
        base,
      );
    case "ESRCH":
      return new CmaError(
        "ESRCH",
        `${syscall} failed (ESRCH): process ${ctx.pid} does not exist — the peer has exited, or it lives in another PID namespace so its pid means nothing here.`,
        base,
      );
    case "EFAULT":
      return new CmaError(
        "EFAULT",
        `${syscall} failed (EFAULT) ${progress}: the remote range in pid ${ctx.pid} (${rangeAt(ctx.remote, ctx.rc)}) or the local range in this process (${rangeAt(ctx.local, ctx.lc)}) is not mapped. ` +
          `The usual cause is a descriptor naming memory the peer has freed or never owned: a peer must keep its buffer alive until the copy is acknowledged.`,
        base,
      );
    case "ENOMEM":
      return new CmaError("ENOMEM", `${syscall} failed (ENOMEM) ${progress}: the kernel could not allocate memory for the iovec arrays. Retry with fewer pieces.`, base);
    case "ENOSYS":
      return new CmaError("ENOSYS", `${syscall} is not implemented by this kernel (ENOSYS); run with ONECOPY_CMA=0.`, base);
    default:
      return new CmaError(
        "EINVAL",
        `${syscall} failed (errno ${errno}) ${progress}: the kernel rejected the arguments (flags, iovec count or a length overflow).`,
        base,
      );
  }
}
