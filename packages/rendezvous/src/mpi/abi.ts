// The two MPI ABIs onecopy speaks. Open MPI's handles (MPI_Comm, MPI_Datatype, …) are pointers:
// the predefined ones are the addresses of exported globals (MPI_COMM_WORLD is
// &ompi_mpi_comm_world). MPICH's (and its ABI family: Intel MPI, MVAPICH, Cray MPICH) are ints
// with fixed values from its mpi.h. Everything that differs between them is here; the binding
// (binding.ts) declares its functions with the handle type `H` of the ABI it found.

/** A handle as koffi passes it: an address (Open MPI) or an int (MPICH). */
export type Handle = bigint | number;

export interface MpiAbi {
  readonly name: "openmpi" | "mpich";
  /** koffi's type for a handle passed by value. */
  readonly handleType: "void *" | "int";
  /** Bytes of a handle in memory (an MPI_Request slot, an out-parameter). */
  readonly handleBytes: number;
  /** Bytes to reserve for one MPI_Status (at least its real size). */
  readonly statusBytes: number;
  /** sizeof(MPI_Status): the stride of an array of statuses. */
  readonly statusSize: number;
  /** Byte offsets of MPI_SOURCE, MPI_TAG and MPI_ERROR in MPI_Status. */
  readonly statusSource: number;
  readonly statusTag: number;
  readonly statusError: number;
  readonly THREAD_FUNNELED: number;
  readonly ANY_SOURCE: number;
  readonly UNDEFINED: number;
  readonly COMM_TYPE_SHARED: number;
  /** The keyval of the MPI_TAG_UB attribute. */
  readonly TAG_UB: number;
  /** MPI_IN_PLACE, as an address. */
  readonly IN_PLACE: number;
  /** The predefined handles, resolved against the loaded library. */
  readonly COMM_WORLD: Handle;
  readonly BYTE: Handle;
  readonly INT: Handle;
  readonly DOUBLE: Handle;
  readonly FLOAT: Handle;
  readonly SUM: Handle;
  readonly MAX: Handle;
  readonly MIN: Handle;
  readonly PROD: Handle;
  readonly INFO_NULL: Handle;
  readonly ERRORS_RETURN: Handle;
  /** Read a handle that MPI wrote at `slot`. */
  readHandle(slot: Buffer): Handle;
}

/** What the binding needs of a loaded library to resolve the ABI. */
export interface LoadedLibrary {
  /** The address of an exported global, or null when the library does not export it. */
  symbol(name: string): bigint | null;
}

/** Open MPI 4.x and 5.x (predefined handles are exported globals; the enums below are unchanged since 1.7). */
export function openMpiAbi(lib: LoadedLibrary): MpiAbi | null {
  const world = lib.symbol("ompi_mpi_comm_world");
  if (world === null) return null;
  const g = (name: string): bigint => {
    const a = lib.symbol(name);
    if (a === null) throw new Error(`Open MPI library lacks ${name}`);
    return a;
  };
  return {
    name: "openmpi",
    handleType: "void *",
    handleBytes: 8,
    statusBytes: 64,
    statusSize: 24, // {int SOURCE, TAG, ERROR, _cancelled; size_t _ucount}
    statusSource: 0,
    statusTag: 4,
    statusError: 8,
    THREAD_FUNNELED: 1,
    ANY_SOURCE: -1,
    UNDEFINED: -32766,
    COMM_TYPE_SHARED: 0,
    TAG_UB: 0,
    IN_PLACE: 1,
    COMM_WORLD: world,
    BYTE: g("ompi_mpi_byte"),
    INT: g("ompi_mpi_int"),
    DOUBLE: g("ompi_mpi_double"),
    FLOAT: g("ompi_mpi_float"),
    SUM: g("ompi_mpi_op_sum"),
    MAX: g("ompi_mpi_op_max"),
    MIN: g("ompi_mpi_op_min"),
    PROD: g("ompi_mpi_op_prod"),
    INFO_NULL: g("ompi_mpi_info_null"),
    ERRORS_RETURN: g("ompi_mpi_errors_return"),
    readHandle: (slot) => slot.readBigUInt64LE(0),
  };
}

/** MPICH 3.x/4.x and its ABI family: handles are ints with the values of MPICH's mpi.h. */
export function mpichAbi(): MpiAbi {
  return {
    name: "mpich",
    handleType: "int",
    handleBytes: 4,
    statusBytes: 64,
    statusSize: 20, // {int count_lo, count_hi_and_cancelled, SOURCE, TAG, ERROR}
    statusSource: 8,
    statusTag: 12,
    statusError: 16,
    THREAD_FUNNELED: 1,
    ANY_SOURCE: -2,
    UNDEFINED: -32766,
    COMM_TYPE_SHARED: 1,
    TAG_UB: 0x64400001,
    IN_PLACE: -1,
    COMM_WORLD: 0x44000000,
    BYTE: 0x4c00010d,
    INT: 0x4c000405,
    DOUBLE: 0x4c00080b,
    FLOAT: 0x4c00040a,
    SUM: 0x58000003,
    MAX: 0x58000001,
    MIN: 0x58000002,
    PROD: 0x58000004,
    INFO_NULL: 0x1c000000,
    ERRORS_RETURN: 0x54000001,
    readHandle: (slot) => slot.readInt32LE(0),
  };
}
