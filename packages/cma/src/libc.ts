// Lazy koffi bindings to libc. Importing this module never throws: on a platform where koffi
// or the syscalls are missing, `libc()` returns null and `libcError()` says why.
import { realpathSync } from "node:fs";
import { createRequire } from "node:module";

export interface AsyncCall {
  (...args: unknown[]): void;
}
export interface NativeFn {
  (...args: unknown[]): any;
  async: AsyncCall;
}

export interface Libc {
  koffi: any;
  process_vm_readv: NativeFn;
  process_vm_writev: NativeFn;
  prctl: NativeFn;
  mmap: NativeFn;
  munmap: NativeFn;
  madvise: NativeFn;
  mincore: NativeFn;
  getpid: NativeFn;
  sched_yield: NativeFn;
  getsockopt: NativeFn;
}

let loaded: Libc | null | undefined;
let loadFailure = "";

const LIBC_NAMES = ["libc.so.6", "libc.so", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"];

function load(): Libc | null {
  if (process.platform !== "linux") {
    loadFailure = `Cross Memory Attach is Linux-only (this is ${process.platform})`;
    return null;
  }
  let koffi: any;
  try {
    // Load koffi by its real path: under some loaders (tsx's CJS hook) a symlinked path
    // (pnpm) becomes koffi's __dirname, and its lookup of the prebuilt binary, relative to
    // that, then fails.
    const req = createRequire(import.meta.url);
    koffi = req(realpathSync(req.resolve("koffi")));
  } catch (err) {
    loadFailure = `the koffi FFI module could not be loaded: ${(err as Error).message}`;
    return null;
  }
  let lib: any = null;
  for (const name of LIBC_NAMES) {
    try {
      lib = koffi.load(name);
      break;
    } catch {
      /* try the next name */
    }
  }
  if (!lib) {
    loadFailure = `no C library found (tried ${LIBC_NAMES.join(", ")})`;
    return null;
  }
  try {
    // iovec arrays are passed as raw tables (void *): faster than struct marshalling.
    return {
      koffi,
      process_vm_readv: lib.func(
        "intptr_t process_vm_readv(int pid, void *lvec, unsigned long liovcnt, void *rvec, unsigned long riovcnt, unsigned long flags)",
      ),
      process_vm_writev: lib.func(
        "intptr_t process_vm_writev(int pid, void *lvec, unsigned long liovcnt, void *rvec, unsigned long riovcnt, unsigned long flags)",
      ),
      prctl: lib.func("int prctl(int option, ...)"),
      mmap: lib.func("void *mmap(void *addr, size_t length, int prot, int flags, int fd, intptr_t offset)"),
      munmap: lib.func("int munmap(void *addr, size_t length)"),
      madvise: lib.func("int madvise(void *addr, size_t length, int advice)"),
      mincore: lib.func("int mincore(void *addr, size_t length, void *vec)"),
      getpid: lib.func("int getpid()"),
      sched_yield: lib.func("int sched_yield()"),
      getsockopt: lib.func("int getsockopt(int sockfd, int level, int optname, void *optval, void *optlen)"),
    };
  } catch (err) {
    loadFailure = `the C library lacks process_vm_readv/process_vm_writev: ${(err as Error).message}`;
    return null;
  }
}

/** The bindings, or null where they cannot exist (see {@link libcError}). */
export function libc(): Libc | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** Why {@link libc} returned null; empty when it did not. */
export function libcError(): string {
  libc();
  return loadFailure;
}

/** The last errno set by a koffi call on this thread. */
export function lastErrno(): number {
  return libc()?.koffi.errno() ?? 0;
}
