// The process-wide runtime: reads the launcher's environment, connects the world, and takes
// it down again — on close(), or by itself when the program has nothing left to do.
import { existsSync, rmSync } from "node:fs";
import { Packr } from "msgpackr";
import { cmaDisabledReason } from "@onecopy/cma";
import { connectWorld, type JobInfo, type World } from "./bootstrap.js";
import { Communicator, WORLD_CTX, type RuntimeHandle } from "./communicator.js";
import { ENV } from "./env.js";
import { ErrorCode, MessagingError } from "./errors.js";
import { readTunables, type TUNABLES, type Tunables } from "./tunables.js";
import { ANY_SOURCE } from "./constants.js";
import { MpiJob } from "./mpi/job.js";
import { mpiLauncherOf } from "./mpi/launcher.js";

/** Options of {@link initWorld}; each overrides its environment variable. */
export interface InitOptions {
  eagerLimit?: number;
  unexpectedLimit?: number;
  connectTimeoutMs?: number;
  /** Where warnings go (default: stderr). */
  warn?: (message: string) => void;
  /** Called once the world is closed (close(), or the program ran out of work): every peer has had our BYE. */
  onClosed?: () => void;
}

function readJob(env: NodeJS.ProcessEnv): { rank: number; size: number; jobDir: string; token: string } | null {
  const rawRank = env[ENV.rank];
  if (rawRank === undefined) return null;
  const rank = Number(rawRank);
  const size = Number(env[ENV.size]);
  const jobDir = env[ENV.jobDir] ?? "";
  const token = env[ENV.token] ?? "";
  const bad = (what: string) =>
    new MessagingError(ErrorCode.INIT, `init: ${what}. This process looks started by 'onecopy run' but its environment is incomplete; start it with 'onecopy run -n N script' or unset ${ENV.rank} to run alone.`);
  if (!Number.isInteger(size) || size < 1) throw bad(`${ENV.size}=${String(env[ENV.size])} is not a positive integer`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw bad(`${ENV.rank}=${rawRank} is not a rank of a job of size ${size}`);
  if (size > 1 && (!jobDir || !existsSync(jobDir))) throw bad(`job directory ${ENV.jobDir}=${jobDir || "(unset)"} does not exist`);
  if (size > 1 && !token) throw bad(`${ENV.token} is not set`);
  return { rank, size, jobDir, token };
}

class Runtime implements RuntimeHandle {
  private closing: Promise<void> | null = null;
  private readonly onBeforeExit = () => void this.shutdown();

  constructor(
    private readonly world: World,
    private readonly onClosed?: () => void,
    private readonly mpi: MpiJob | null = null,
  ) {
    process.on("beforeExit", this.onBeforeExit);
  }

  get engine() {
    return this.world.engine;
  }

  shutdown(): Promise<void> {
    this.closing ??= this.doShutdown();
    return this.closing;
  }

  private async doShutdown(): Promise<void> {
    process.off("beforeExit", this.onBeforeExit);
    await this.world.engine.close();
    this.world.server?.close();
    if (this.world.socketPath) rmSync(this.world.socketPath, { force: true });
    this.mpi?.finalize();
    this.onClosed?.();
  }
}

/** Factory for the world communicator's class (the public package passes its own). */
export type CommunicatorFactory<C extends Communicator> = (runtime: RuntimeHandle, ctx: string) => C;

/**
 * Join the job started by `onecopy run`, or by mpirun/mpiexec/srun (then MPI connects the nodes
 * and single copy the ranks of each node), or, without either, become a world of one (like MPI
 * singleton init), and return the world communicator.
 */
export async function initWorld<C extends Communicator = Communicator>(
  opts: InitOptions = {},
  factory?: CommunicatorFactory<C>,
): Promise<C> {
  let job: JobInfo | null = readJob(process.env);
  let mpi: MpiJob | null = null;
  if (!job && mpiLauncherOf(process.env)) {
    mpi = MpiJob.start(process.env);
    const m = mpi;
    job = { rank: m.rank, size: m.size, jobDir: m.jobDir, token: m.token, local: m.local, remote: (engine) => m.attach(engine) };
  }
  job ??= { rank: 0, size: 1, jobDir: "", token: "" };
  const overrides: Partial<Record<keyof typeof TUNABLES, number>> = {};
  if (opts.eagerLimit !== undefined) overrides.eagerLimit = opts.eagerLimit;
  if (opts.unexpectedLimit !== undefined) overrides.unexpectedLimit = opts.unexpectedLimit;
  if (opts.connectTimeoutMs !== undefined) overrides.connectTimeoutMs = opts.connectTimeoutMs;
  const tunables: Tunables = readTunables(overrides);
  const warn = opts.warn ?? ((m: string) => process.stderr.write(m + "\n"));
  const world = await connectWorld(job, tunables, warn);
  await mpi?.started();
  const runtime = new Runtime(world, opts.onClosed, mpi);
  const comm = factory ? factory(runtime, WORLD_CTX) : (new Communicator(runtime, WORLD_CTX, null) as C);
  reportReadFailures(world, warn);
  return comm;
}

const summaryCodec = new Packr({ useRecords: false });
const INIT_CTX = "__init";

/**
 * One warning per job about pairs that cannot use single copy: every rank tells rank 0 which
 * peers it cannot read, and rank 0 prints one summary. Silent when CMA was switched off on
 * purpose (ONECOPY_CMA=0 / --no-cma).
 */
function reportReadFailures(world: World, warn: (m: string) => void): void {
  const engine = world.engine;
  if (engine.size === 1) return;
  if (engine.rank !== 0) {
    const payload = summaryCodec.pack(world.readFailures);
    engine.isend(INIT_CTX, 0, 0, [payload], payload.byteLength).wait().catch(() => {});
    return;
  }
  const all: Array<[number, number, string]> = world.readFailures.map(([peer, why]) => [0, peer, why]);
  let left = engine.size - 1;
  for (let i = 0; i < engine.size - 1; i++) {
    engine
      .irecv(INIT_CTX, ANY_SOURCE, 0, null, 0)
      .wait()
      .then(
        (r) => {
          for (const [peer, why] of summaryCodec.unpack(r.data!) as Array<[number, string]>) all.push([r.source, peer, why]);
        },
        () => {},
      )
      .finally(() => {
        if (--left > 0 || all.length === 0) return;
        if (cmaDisabledReason()?.code === "ERR_CMA_DISABLED") return;
        const pairs = engine.size * (engine.size - 1);
        const shown = all
          .slice(0, 3)
          .map(([reader, owner, why]) => `  rank ${reader} cannot read rank ${owner}: ${why}`)
          .join("\n");
        warn(
          `onecopy: warning: single copy (CMA) is unavailable for ${all.length} of ${pairs} directed rank pairs; large messages between them take the shared-memory double copy instead (or the socket where shared memory is unusable).\n${shown}${all.length > 3 ? `\n  … and ${all.length - 3} more` : ""}`,
        );
      });
  }
}
