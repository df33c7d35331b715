// Who is on the other end of a connected Unix socket, as the kernel recorded it when the
// connection was made (SO_PEERCRED): not what the peer says about itself.
import { constants as osConstants } from "node:os";
import { lastErrno, libc, libcError } from "./libc.js";
import { OnecopyError } from "./errors.js";

/** The credentials of a Unix socket's peer process, in this process's namespaces. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

// [SOL_SOCKET, SO_PEERCRED]: the asm-generic values, except on the few ABIs that differ.
const SOCKOPT: Record<string, [number, number]> = {
  ppc: [1, 21],
  ppc64: [1, 21],
  mips: [0xffff, 18],
  mipsel: [0xffff, 18],
};

/** Why {@link peerCredentials} cannot work here; empty when it can. */
export function peerCredentialsUnavailable(): string {
  return libc() ? "" : libcError();
}

/**
 * The peer process of the connected Unix domain socket `fd` (for a `net.Socket`, its
 * `_handle.fd`). Returns null when the credentials cannot be read on this platform (see
 * {@link peerCredentialsUnavailable}); throws an OnecopyError with the errno name's code
 * (e.g. `EBADF`, `ENOTSOCK`) when the call fails.
 */
export function peerCredentials(fd: number): PeerCredentials | null {
  const lib = libc();
  if (!lib) return null;
  const [level, optname] = SOCKOPT[process.arch] ?? [1, 17];
  const cred = Buffer.alloc(12); // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
  const len = Buffer.alloc(4);
  len.writeUInt32LE(cred.length, 0);
  if (lib.getsockopt(fd, level, optname, cred, len) !== 0) {
    const errno = lastErrno();
    const name = errnoName(errno);
    throw new OnecopyError(name, `getsockopt(SO_PEERCRED) on fd ${fd} failed: ${name} (errno ${errno})`);
  }
  return { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4), gid: cred.readUInt32LE(8) };
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === errno) return name;
  return `ERRNO_${errno}`;
}
