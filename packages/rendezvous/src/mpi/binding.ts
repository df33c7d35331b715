// libmpi through koffi, as mpi4py and MPI.jl call it from their languages: the library is loaded
// once per process, RTLD_GLOBAL (Open MPI's plugins resolve their symbols against it and fail to
// load otherwise), from ONECOPY_LIBMPI or the usual sonames. Every pointer argument is declared
// `void *` and given a Buffer/typed array (valid during the call) or an address (a number, for
// buffers that must outlive the call: they stay alive until MPI completes). Handles take the ABI's
// type (abi.ts). Every call's return code is checked: with MPI_ERRORS_RETURN set on onecopy's
// communicator a failure comes back as a code, which becomes an ERR_MPI error naming the call.
import { libc } from "@onecopy/cma";
import { ErrorCode, MessagingError } from "../errors.js";
import { mpichAbi, openMpiAbi, type Handle, type MpiAbi } from "./abi.js";

/** Environment variable naming the MPI library to load (a path or a soname). */
export const LIBMPI_ENV = "ONECOPY_LIBMPI";
const SONAMES = ["libmpi.so.40", "libmpi.so.12", "libmpi.so"];

type Fn = (...args: unknown[]) => number;

/** The MPI functions onecopy calls, bound to one library. */
export interface MpiFunctions {
  MPI_Initialized: Fn;
  MPI_Finalized: Fn;
  MPI_Init_thread: Fn;
  MPI_Finalize: Fn;
  MPI_Comm_rank: Fn;
  MPI_Comm_size: Fn;
  MPI_Comm_dup: Fn;
  MPI_Comm_free: Fn;
  MPI_Comm_split: Fn;
  MPI_Comm_split_type: Fn;
  MPI_Comm_set_errhandler: Fn;
  MPI_Comm_get_attr: Fn;
  MPI_Barrier: Fn;
  MPI_Bcast: Fn;
  MPI_Allgather: Fn;
  MPI_Iallreduce: Fn;
  MPI_Allreduce: Fn;
  MPI_Ireduce: Fn;
  MPI_Iallgatherv: Fn;
  MPI_Igatherv: Fn;
  MPI_Ibcast: Fn;
  MPI_Ibarrier: Fn;
  MPI_Isend: Fn;
  MPI_Issend: Fn;
  MPI_Irecv: Fn;
  MPI_Testsome: Fn;
  MPI_Improbe: Fn;
  MPI_Mrecv: Fn;
  MPI_Get_count: Fn;
  MPI_Type_create_hindexed: Fn;
  MPI_Type_commit: Fn;
  MPI_Type_free: Fn;
  MPI_Error_string: Fn;
  MPI_Get_library_version: Fn;
}

export interface LibMpi {
  readonly path: string;
  readonly abi: MpiAbi;
  readonly fn: MpiFunctions;
  /** The library's own version string (MPI_Get_library_version). */
  readonly version: string;
  /** Throw ERR_MPI unless `rc` is MPI_SUCCESS. */
  check(rc: number, call: string): void;
  /** An MPI error code in words. */
  errorString(rc: number): string;
  /** A buffer for one handle (an out-parameter or a request slot). */
  handleSlot(): Buffer;
}

let loaded: LibMpi | null = null;

function signatures(h: string): Record<keyof MpiFunctions, string> {
  return {
    MPI_Initialized: "int MPI_Initialized(void *flag)",
    MPI_Finalized: "int MPI_Finalized(void *flag)",
    MPI_Init_thread: "int MPI_Init_thread(void *argc, void *argv, int required, void *provided)",
    MPI_Finalize: "int MPI_Finalize()",
    MPI_Comm_rank: `int MPI_Comm_rank(${h} comm, void *rank)`,
    MPI_Comm_size: `int MPI_Comm_size(${h} comm, void *size)`,
    MPI_Comm_dup: `int MPI_Comm_dup(${h} comm, void *newcomm)`,
    MPI_Comm_free: "int MPI_Comm_free(void *comm)",
    MPI_Comm_split: `int MPI_Comm_split(${h} comm, int color, int key, void *newcomm)`,
    MPI_Comm_split_type: `int MPI_Comm_split_type(${h} comm, int type, int key, ${h} info, void *newcomm)`,
    MPI_Comm_set_errhandler: `int MPI_Comm_set_errhandler(${h} comm, ${h} errhandler)`,
    MPI_Comm_get_attr: `int MPI_Comm_get_attr(${h} comm, int keyval, void *value, void *flag)`,
    MPI_Barrier: `int MPI_Barrier(${h} comm)`,
    MPI_Bcast: `int MPI_Bcast(void *buf, int count, ${h} type, int root, ${h} comm)`,
    MPI_Allgather: `int MPI_Allgather(void *sendbuf, int scount, ${h} stype, void *recvbuf, int rcount, ${h} rtype, ${h} comm)`,
    MPI_Allreduce: `int MPI_Allreduce(void *sendbuf, void *recvbuf, int count, ${h} type, ${h} op, ${h} comm)`,
    MPI_Iallreduce: `int MPI_Iallreduce(void *sendbuf, void *recvbuf, int count, ${h} type, ${h} op, ${h} comm, void *request)`,
    MPI_Ireduce: `int MPI_Ireduce(void *sendbuf, void *recvbuf, int count, ${h} type, ${h} op, int root, ${h} comm, void *request)`,
    MPI_Iallgatherv: `int MPI_Iallgatherv(void *sendbuf, int scount, ${h} stype, void *recvbuf, void *rcounts, void *displs, ${h} rtype, ${h} comm, void *request)`,
    MPI_Igatherv: `int MPI_Igatherv(void *sendbuf, int scount, ${h} stype, void *recvbuf, void *rcounts, void *displs, ${h} rtype, int root, ${h} comm, void *request)`,
    MPI_Ibcast: `int MPI_Ibcast(void *buf, int count, ${h} type, int root, ${h} comm, void *request)`,
    MPI_Ibarrier: `int MPI_Ibarrier(${h} comm, void *request)`,
    MPI_Isend: `int MPI_Isend(void *buf, int count, ${h} type, int dest, int tag, ${h} comm, void *request)`,
    MPI_Issend: `int MPI_Issend(void *buf, int count, ${h} type, int dest, int tag, ${h} comm, void *request)`,
    MPI_Irecv: `int MPI_Irecv(void *buf, int count, ${h} type, int source, int tag, ${h} comm, void *request)`,
    MPI_Testsome: "int MPI_Testsome(int incount, void *requests, void *outcount, void *indices, void *statuses)",
    MPI_Improbe: `int MPI_Improbe(int source, int tag, ${h} comm, void *flag, void *message, void *status)`,
    MPI_Mrecv: `int MPI_Mrecv(void *buf, int count, ${h} type, void *message, void *status)`,
    MPI_Get_count: `int MPI_Get_count(void *status, ${h} type, void *count)`,
    MPI_Type_create_hindexed: `int MPI_Type_create_hindexed(int count, void *blocklengths, void *displacements, ${h} oldtype, void *newtype)`,
    MPI_Type_commit: "int MPI_Type_commit(void *type)",
    MPI_Type_free: "int MPI_Type_free(void *type)",
    MPI_Error_string: "int MPI_Error_string(int code, void *string, void *length)",
    MPI_Get_library_version: "int MPI_Get_library_version(void *version, void *length)",
  };
}

function unavailable(why: string): MessagingError {
  return new MessagingError(
    ErrorCode.MPI_UNAVAILABLE,
    `this rank was started by an MPI launcher (mpirun, mpiexec or srun) but no MPI library could be loaded: ${why}. ` +
      `Install one (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev; or load your cluster's MPI module) ` +
      `or point ${LIBMPI_ENV} at its libmpi.so; or start the job with 'onecopy run -n N script' instead.`,
  );
}

function cString(buf: Buffer, length: number): string {
  const end = buf.indexOf(0);
  return buf.toString("utf8", 0, Math.min(length, end < 0 ? buf.length : end)).trim();
}

/** Load libmpi once (ONECOPY_LIBMPI, else the usual sonames). @throws ERR_MPI_UNAVAILABLE */
export function loadLibMpi(env: NodeJS.ProcessEnv = process.env): LibMpi {
  if (loaded) return loaded;
  const c = libc();
  if (!c) throw unavailable("the koffi FFI module is not usable on this platform");
  const koffi = c.koffi;
  const names = env[LIBMPI_ENV] ? [env[LIBMPI_ENV]!] : SONAMES;
  let lib: any = null;
  let path = "";
  const failures: string[] = [];
  for (const name of names) {
    try {
      lib = koffi.load(name, { global: true });
      path = name;
      break;
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  if (!lib) throw unavailable(failures.join("; "));
  const symbol = (name: string): bigint | null => {
    try {
      const a = lib.symbol(name);
      return typeof a === "bigint" ? a : a ? BigInt(koffi.address(a)) : null;
    } catch {
      return null;
    }
  };
  const bind = (h: string): MpiFunctions => {
    const out: Record<string, Fn> = {};
    for (const [k, sig] of Object.entries(signatures(h))) out[k] = lib.func(sig) as Fn;
    return out as unknown as MpiFunctions;
  };
  // The version string tells the family apart when the Open MPI globals are absent.
  const versionOf = (fn: MpiFunctions) => {
    const buf = Buffer.alloc(8192);
    const len = new Int32Array(1);
    fn.MPI_Get_library_version(buf, len);
    return cString(buf, len[0]!);
  };
  let abi: MpiAbi;
  let fn: MpiFunctions;
  try {
    const ompi = openMpiAbi({ symbol });
    if (ompi) abi = ompi;
    else {
      const probeFns = bind("int");
      const v = versionOf(probeFns);
      if (!/MPICH|Intel|MVAPICH|CRAY/i.test(v)) throw new Error(`unknown MPI ABI (${v.split("\n")[0] || "no version string"}); onecopy speaks Open MPI 4.x/5.x and the MPICH ABI`);
      abi = mpichAbi();
    }
    fn = bind(abi.handleType);
  } catch (err) {
    throw unavailable(`${path}: ${(err as Error).message}`);
  }
  const errorString = (rc: number): string => {
    const buf = Buffer.alloc(1024);
    const len = new Int32Array(1);
    return fn.MPI_Error_string(rc, buf, len) === 0 ? cString(buf, len[0]!) : `MPI error ${rc}`;
  };
  loaded = {
    path,
    abi,
    fn,
    version: versionOf(fn).split("\n")[0] ?? "",
    errorString,
    check(rc, call) {
      if (rc !== 0) throw new MessagingError(ErrorCode.MPI, `${call} failed: ${errorString(rc)} (MPI error ${rc})`);
    },
    handleSlot: () => Buffer.alloc(Math.max(8, abi.handleBytes)),
  };
  return loaded;
}

export type { Handle };
