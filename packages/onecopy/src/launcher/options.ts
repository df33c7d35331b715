// The options of launch() / `onecopy run`: their types, defaults and validation.
import { accessSync, constants as fsConstants, statSync } from "node:fs";
import { extname, resolve } from "node:path";
import { Readable } from "node:stream";

import { ErrorCode, OnecopyError, TRANSPORTS, parseByteCount, type TransportName } from "@onecopy/cma";
import { BIND_TARGETS, MAP_POLICIES, bindingUnavailable, type BindTo, type MapBy } from "./binding.js";
import { parseOutputFilename, type OutputFiles } from "./output-files.js";
import { resolveTsx } from "./tsx.js";

export { TRANSPORTS, parseByteCount, type TransportName, type BindTo, type MapBy };

/** Formats of `tagOutput`: `rank` writes `[1] line`, `ompi` writes Open MPI's `[1,1]<stdout>:line`. */
export const TAG_FORMATS = ["rank", "ompi"] as const;
export type TagFormat = (typeof TAG_FORMATS)[number];

/** Largest job the launcher starts. */
export const MAX_NP = 1024;

/** One line of rank output, as passed to {@link LaunchOptions.onOutput}. */
export interface OutputLine {
  /** Rank that wrote the line. */
  rank: number;
  /** Stream the line was written to. */
  stream: "stdout" | "stderr";
  /** The line, without its trailing newline (and without any `--tag-output` prefix). */
  line: string;
}

/** Options of {@link launch}. Only `np` and `script` are required. */
export interface LaunchOptions {
  /** Number of ranks to start: an integer in 1 … 1024. */
  np: number;
  /**
   * Entry point every rank runs, relative to `cwd`. `.ts`/`.mts`/`.cts`/`.tsx` files run through
   * tsx (resolved from the onecopy package, so it works from any directory); anything else
   * (`.js`, `.mjs`, `.cjs`) runs with plain Node.
   */
  script: string;
  /** Arguments passed to the app, after the script path. */
  args?: readonly string[];
  /**
   * Extra environment for every rank, on top of the launcher's own environment. A value of
   * `undefined` removes the variable. The per-rank `ONECOPY_*` variables cannot be overridden.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Kill the whole job after this many milliseconds (exit code 124). Default: no limit. */
  timeoutMs?: number;
  /**
   * Hang detection: when every live rank has been blocked in onecopy calls, with nothing in
   * flight and no progress, for this many seconds, print the hang report (each rank's blocked
   * calls and the wait-for graph's cycles) once on stderr. 0 turns it off. Default 10.
   */
  hangReportSeconds?: number;
  /** End the job when a hang is detected (see `hangReportSeconds`), with exit code 125. Default false. */
  hangExit?: boolean;
  /**
   * Prefix every forwarded output line with its rank: `true` or `"rank"` writes `[1] line`,
   * `"ompi"` writes Open MPI's `--tag-output` format, `[1,1]<stdout>:line` (job number, rank,
   * stream). Only affects forwarded output, not `onOutput`, `RankResult.stdout` or output files.
   */
  tagOutput?: boolean | TagFormat;
  /** Disable single-copy transfers: sets `ONECOPY_CMA=0` for every rank. */
  noCma?: boolean;
  /**
   * Largest message sent eagerly, in bytes (`ONECOPY_EAGER_LIMIT`). A number, or a string with
   * an optional binary suffix: `65536`, `64k`, `64KiB`, `1M`, `1MiB`, `1G`.
   */
  eagerLimit?: number | string;
  /** Force a transport (`ONECOPY_TRANSPORT`): `cma`, `shm` or `socket`. */
  transport?: TransportName;
  /**
   * After the first rank fails, how long the other ranks get to exit by themselves (they notice
   * the lost peer) before they are sent SIGTERM. Default 1000 ms.
   */
  failGraceMs?: number;
  /** How long after SIGTERM the launcher waits before sending SIGKILL. Default 2000 ms. */
  killGraceMs?: number;
  /**
   * Do not warn when the job has more ranks than the CPUs this process may use (or, with
   * `bindTo: "core"`, than its cores). Default false: such a job gets one warning in
   * {@link LaunchResult.warnings} (printed with `inheritOutput`).
   */
  oversubscribe?: boolean;
  /**
   * Pin every rank (all its threads) with sched_setaffinity: to one physical `core` (all its
   * hardware threads), to one `hwthread`, or `none` (default; or `core` when `mapBy` is given).
   * Ranks beyond the number of cores/CPUs wrap around and share.
   */
  bindTo?: BindTo;
  /** Rank placement for `bindTo`: round robin over physical `core`s (default) or over CPUs in order (`slot`). */
  mapBy?: MapBy;
  /** Say where each rank is bound (`onecopy: rank 0 bound to core 0 (CPU 0)`), on stderr with `inheritOutput`. */
  reportBindings?: boolean;
  /** Node options for every rank, before the script (e.g. `["--max-old-space-size=4096"]`). */
  nodeArgs?: readonly string[];
  /** The Node executable of the ranks. Default: the launcher's own (`process.execPath`). */
  execPath?: string;
  /**
   * Which ranks read `input` on their stdin: a rank number (the CLI uses 0, as mpirun does),
   * `"all"`, or `"none"`. Default: 0 when `input` is given, else `"none"` (ranks read /dev/null).
   */
  stdin?: number | "all" | "none";
  /** What those ranks read: a stream (the CLI passes `process.stdin`), a string or bytes. */
  input?: Readable | string | Uint8Array;
  /**
   * Also write every rank's output to files, as Open MPI's `--output-filename DIR` does:
   * `DIR/1/rank.N/stdout` and `DIR/1/rank.N/stderr` (N zero-padded as Open MPI pads it; 1 is the
   * job number). Directives after a colon: `DIR:nojobid` drops the `1/` level, `DIR:nocopy`
   * stops forwarding (files only), e.g. `"out:nocopy,nojobid"`. Relative to `cwd`.
   */
  outputFilename?: string;
  /** Working directory of the ranks; `script` is resolved against it. Default `process.cwd()`. */
  cwd?: string;
  /** Called for every complete line a rank writes (line-buffered, in order per stream). */
  onOutput?: (line: OutputLine) => void;
  /**
   * Forward rank output line by line to the launcher's own stdout/stderr (what the CLI does),
   * and print launcher messages (`onecopy: rank 1 exited with code 3`) to stderr. Default false.
   */
  inheritOutput?: boolean;
  /** Keep each rank's output in {@link RankResult.stdout}/`stderr`. Default true. */
  collectOutput?: boolean;
  /**
   * Handle SIGINT/SIGTERM/SIGHUP sent to the launcher process while the job runs: forward them
   * as SIGTERM (then SIGKILL) to every rank, clean up, and resolve with exit code 128+signo
   * (130 for SIGINT, 143 for SIGTERM). A second signal kills the ranks at once. The handlers are
   * removed when launch() settles; the caller decides whether to exit. Default true.
   */
  handleSignals?: boolean;
}

/** {@link LaunchOptions} after validation, with defaults filled in and paths resolved. */
export interface ResolvedLaunchOptions {
  np: number;
  /** Absolute path of the entry point. */
  script: string;
  /** Whether the entry point runs through tsx. */
  typescript: boolean;
  /** `file:` URL of tsx's loader, for a TypeScript entry point. */
  tsxLoader: string | undefined;
  args: string[];
  env: Record<string, string | undefined>;
  timeoutMs: number | undefined;
  hangReportSeconds: number;
  hangExit: boolean;
  tagOutput: TagFormat | false;
  oversubscribe: boolean;
  bindTo: BindTo;
  mapBy: MapBy;
  reportBindings: boolean;
  nodeArgs: string[];
  execPath: string;
  /** Ranks that read `input`. */
  stdinRanks: ReadonlySet<number>;
  input: Readable | undefined;
  outputFiles: OutputFiles | undefined;
  noCma: boolean;
  eagerLimit: number | undefined;
  transport: TransportName | undefined;
  failGraceMs: number;
  killGraceMs: number;
  cwd: string;
  onOutput: ((line: OutputLine) => void) | undefined;
  inheritOutput: boolean;
  collectOutput: boolean;
  handleSignals: boolean;
}

const TS_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".tsx"]);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function duration(name: string, value: unknown, fallback: number | undefined, allowZero: boolean): number | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== "number") throw new OnecopyError(ErrorCode.INVALID_ARG, `${name} must be a number of milliseconds, got ${typeof value}`);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `${name} must be a ${allowZero ? "non-negative" : "positive"} finite number of milliseconds, got ${value}`);
  }
  return value;
}

/**
 * Validate {@link LaunchOptions}, fill in defaults and resolve the script path.
 * @throws TypeError for a value of the wrong type, RangeError for a value out of range, and an
 *   Error with code `ENOENT` if the script does not exist or is not a file.
 */
export function resolveLaunchOptions(options: LaunchOptions): ResolvedLaunchOptions {
  if (options === null || typeof options !== "object") throw new OnecopyError(ErrorCode.INVALID_ARG, "launch() needs an options object");
  const { np } = options;
  if (typeof np !== "number") throw new OnecopyError(ErrorCode.INVALID_ARG, `np must be a number, got ${typeof np}`);
  if (!Number.isInteger(np) || np < 1 || np > MAX_NP) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `np must be an integer from 1 to ${MAX_NP}, got ${np}`);
  }
  if (typeof options.script !== "string" || options.script === "") throw new OnecopyError(ErrorCode.INVALID_ARG, "script must be a non-empty string");

  const cwd = resolve(options.cwd ?? process.cwd());
  const script = resolve(cwd, options.script);
  let isFile = false;
  try {
    isFile = statSync(script).isFile();
  } catch {
    // reported below
  }
  if (!isFile) {
    throw new OnecopyError(ErrorCode.ENOENT, `script not found: ${options.script}${script !== options.script ? ` (${script})` : ""}`);
  }

  const args = options.args ?? [];
  if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) throw new OnecopyError(ErrorCode.INVALID_ARG, "args must be an array of strings");

  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (!ENV_NAME.test(key)) throw new OnecopyError(ErrorCode.INVALID_ARG, `env: '${key}' is not a valid environment variable name`);
    if (value !== undefined && typeof value !== "string") throw new OnecopyError(ErrorCode.INVALID_ARG, `env.${key} must be a string`);
    env[key] = value;
  }

  let eagerLimit: number | undefined;
  if (typeof options.eagerLimit === "string") eagerLimit = parseByteCount(options.eagerLimit, "eagerLimit");
  else if (typeof options.eagerLimit === "number") {
    if (!Number.isSafeInteger(options.eagerLimit) || options.eagerLimit < 0) {
      throw new OnecopyError(ErrorCode.INVALID_ARG, `eagerLimit must be a non-negative integer number of bytes, got ${options.eagerLimit}`);
    }
    eagerLimit = options.eagerLimit;
  } else if (options.eagerLimit !== undefined) throw new OnecopyError(ErrorCode.INVALID_ARG, "eagerLimit must be a number or a string like '64KiB'");

  const nodeArgs = options.nodeArgs ?? [];
  if (!Array.isArray(nodeArgs) || nodeArgs.some((a) => typeof a !== "string")) throw new OnecopyError(ErrorCode.INVALID_ARG, "nodeArgs must be an array of strings");
  const execPath = options.execPath === undefined ? process.execPath : checkExecutable(options.execPath, cwd);

  const bindTo = options.bindTo ?? (options.mapBy !== undefined ? "core" : "none");
  if (!(BIND_TARGETS as readonly string[]).includes(bindTo)) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `bindTo must be one of ${BIND_TARGETS.join(", ")}, got '${String(bindTo)}'`);
  }
  const mapBy = options.mapBy ?? "core";
  if (!(MAP_POLICIES as readonly string[]).includes(mapBy)) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `mapBy must be one of ${MAP_POLICIES.join(", ")}, got '${String(mapBy)}'`);
  }
  if (bindTo !== "none") {
    const why = bindingUnavailable();
    if (why) throw new OnecopyError(ErrorCode.AFFINITY_UNSUPPORTED, `cannot bind ranks to CPUs: ${why}`);
  }

  const tag = options.tagOutput;
  if (tag !== undefined && typeof tag !== "boolean" && !(TAG_FORMATS as readonly string[]).includes(tag)) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `tagOutput must be a boolean or one of ${TAG_FORMATS.join(", ")}, got '${String(tag)}'`);
  }

  const { stdinRanks, input } = resolveStdin(options, np);
  const outputFiles = options.outputFilename === undefined ? undefined : parseOutputFilename(options.outputFilename, cwd);

  const typescript = TS_EXTENSIONS.has(extname(script).toLowerCase());
  const tsxLoader = typescript ? resolveTsx(script, cwd, options.script) : undefined;

  const transport = options.transport;
  if (transport !== undefined && !(TRANSPORTS as readonly string[]).includes(transport)) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `transport must be one of ${TRANSPORTS.join(", ")}, got '${String(transport)}'`);
  }
  if (options.onOutput !== undefined && typeof options.onOutput !== "function") throw new OnecopyError(ErrorCode.INVALID_ARG, "onOutput must be a function");

  return {
    np,
    script,
    typescript,
    tsxLoader,
    args: [...args],
    env,
    timeoutMs: duration("timeoutMs", options.timeoutMs, undefined, false),
    hangReportSeconds: hangSeconds(options.hangReportSeconds),
    hangExit: options.hangExit === true,
    tagOutput: tag === true ? "rank" : tag === false || tag === undefined ? false : tag,
    oversubscribe: options.oversubscribe === true,
    bindTo,
    mapBy,
    reportBindings: options.reportBindings === true,
    nodeArgs: [...nodeArgs],
    execPath,
    stdinRanks,
    input,
    outputFiles,
    noCma: options.noCma === true,
    eagerLimit,
    transport,
    failGraceMs: duration("failGraceMs", options.failGraceMs, 1000, true)!,
    killGraceMs: duration("killGraceMs", options.killGraceMs, 2000, true)!,
    cwd,
    onOutput: options.onOutput,
    inheritOutput: options.inheritOutput === true,
    collectOutput: options.collectOutput !== false,
    handleSignals: options.handleSignals !== false,
  };
}

function hangSeconds(s: unknown): number {
  if (s === undefined) return 10;
  if (typeof s !== "number" || !Number.isFinite(s) || s < 0 || s > 2 ** 31 / 1000) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `hangReportSeconds must be a number of seconds ≥ 0 (0 turns hang detection off), got ${String(s)}`);
  }
  return s;
}

/** The absolute path of an executable file. @throws OnecopyError `ENOENT` */
function checkExecutable(given: unknown, cwd: string): string {
  if (typeof given !== "string" || given === "") throw new OnecopyError(ErrorCode.INVALID_ARG, "execPath must be a non-empty string");
  const path = resolve(cwd, given);
  try {
    if (!statSync(path).isFile()) throw new Error("not a file");
    accessSync(path, fsConstants.X_OK);
  } catch {
    throw new OnecopyError(ErrorCode.ENOENT, `node executable not found or not executable: ${given}`);
  }
  return path;
}

function resolveStdin(options: LaunchOptions, np: number): { stdinRanks: ReadonlySet<number>; input: Readable | undefined } {
  const { input } = options;
  let source: Readable | undefined;
  if (input === undefined) source = undefined;
  else if (typeof input === "string" || input instanceof Uint8Array) source = Readable.from([Buffer.from(input)]);
  else if (input instanceof Readable || (typeof input === "object" && input !== null && typeof (input as Readable).pipe === "function")) {
    source = input as Readable;
  } else throw new OnecopyError(ErrorCode.INVALID_ARG, "input must be a readable stream, a string or bytes");
  const which = options.stdin ?? (source ? 0 : "none");
  if (which === "none") return { stdinRanks: new Set(), input: undefined };
  if (which === "all") return { stdinRanks: new Set(Array.from({ length: np }, (_, r) => r)), input: source ?? process.stdin };
  if (typeof which !== "number" || !Number.isInteger(which) || which < 0 || which >= np) {
    throw new OnecopyError(ErrorCode.INVALID_ARG, `stdin must be a rank from 0 to ${np - 1}, "all" or "none", got ${String(which)}`);
  }
  return { stdinRanks: new Set([which]), input: source ?? process.stdin };
}
