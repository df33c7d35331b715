// The `onecopy` command line: parsing into launch() options, and the help texts.
import { MAX_NP, TRANSPORTS, parseByteCount, type LaunchOptions, type TransportName } from "./options.js";

/** A command-line mistake: the CLI prints it and exits with code 2 without starting anything. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What the command line asks for. */
export type Command =
  | { command: "help"; topic: "main" | "run" }
  | { command: "version" }
  | { command: "info" }
  | { command: "run"; options: LaunchOptions };

/** Top-level help (`onecopy --help`). */
export const MAIN_HELP = `Usage: onecopy <command> [options]

MPI-style multi-process jobs for Node.js on one Linux machine.

Commands:
  run -n N [options] <app.ts|app.js> [args...]   start N ranks of an app (see: onecopy run --help)
  info                                            what this machine allows (CMA probe, Yama,
                                                  huge pages) and every tunable's value
  help [run]                                      show help

Options:
  -h, --help       show this help
  -V, --version    print the version
`;

/** `onecopy run --help`. */
export const RUN_HELP = `Usage: onecopy run -n N [options] <app.ts|app.js|app.mjs> [args...]

Start N copies ("ranks") of a Node.js app as one job, forward their output, and exit when all
have exited. .ts/.mts/.cts files run through tsx; .js/.mjs/.cjs run with plain Node. Everything
after the script is passed to the app. Options may also be written --opt=value.

Options:
  -n, --np, -np <N>        number of ranks (required; 1 to ${MAX_NP})
  --timeout <seconds>      kill the job if it runs longer (decimals allowed); exit code 124
  --tag-output             prefix every output line with the rank: "[1] hello"
  --no-cma                 disable single-copy transfers (sets ONECOPY_CMA=0)
  --eager-limit <bytes>    largest message sent inline, e.g. 8192, 64k, 64KiB, 1M, 1MiB
                           (sets ONECOPY_EAGER_LIMIT)
  --transport <name>       force a transport: ${TRANSPORTS.join(" | ")} (sets ONECOPY_TRANSPORT)
  --env, -x <KEY=VALUE>    set an environment variable in every rank (repeatable)
  --fail-grace <ms>        after a rank fails, how long the others may take to exit by
                           themselves before they get SIGTERM (default 1000)
  --kill-grace <ms>        how long after SIGTERM before SIGKILL (default 2000)
  -h, --help               show this help
  --                       end of options (the next argument is the script)

Behaviour:
  Output is forwarded line by line, so lines of different ranks never mix. stdin is not
  forwarded (ranks read /dev/null).
  If a rank exits non-zero or is killed, the launcher reports it ("onecopy: rank 1 exited with
  code 3"), stops the other ranks (grace, SIGTERM, SIGKILL) and exits with that rank's code
  (128+signal number for a signal death, 1 if it could not start).
  Ctrl-C / SIGTERM / SIGHUP to the launcher stop all ranks the same way (a second one kills them
  at once); the launcher exits 130 / 143 / 129. Each rank runs in its own process group, which
  is signalled as a whole, so processes a rank starts do not outlive the job. If the launcher
  itself is killed, ranks that run the onecopy runtime notice (pipe on fd 3) and exit.
  The job directory (under $XDG_RUNTIME_DIR, else the system temp dir) is always removed.

Environment of every rank (set by the launcher):
  ONECOPY_RANK            this rank, 0 .. N-1
  ONECOPY_SIZE            N
  ONECOPY_JOB_DIR         private job directory (mode 0700) for the ranks' Unix sockets
  ONECOPY_JOB_TOKEN       random per-job secret; connections without it are refused
  ONECOPY_LAUNCHER_PID    pid of the launcher (fd 3 is a pipe that closes when it dies)

Tuning (set in the launcher's environment or with --env; options above take precedence):
  ONECOPY_CMA             0 disables single-copy (Cross Memory Attach) transfers (default 1)
  ONECOPY_EAGER_LIMIT     largest message sent inline on the socket, bytes (default 32KiB)
  ONECOPY_TRANSPORT       force a transport: ${TRANSPORTS.join(" | ")}
  ONECOPY_CMA_ASYNC_MIN   copies of at least this many bytes run on worker threads instead of
                          blocking the event loop (default 4194304)
  ONECOPY_CMA_STREAMS     concurrent worker calls a large copy is split into (default 2)

Examples:
  onecopy run -n 4 app.ts
  onecopy run -n 8 --tag-output --timeout 60 bench.js --size 1MiB
`;

const RUN_VALUE_OPTIONS = new Set(["-n", "--np", "-np", "--timeout", "--eager-limit", "--transport", "--env", "-x", "--fail-grace", "--kill-grace"]);
const RUN_FLAGS = new Set(["--tag-output", "--no-cma", "-h", "--help"]);
const ENV_ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

/** Parse `process.argv.slice(2)`. @throws UsageError */
export function parseCommandLine(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  switch (first) {
    case undefined:
      throw new UsageError("missing command");
    case "-h":
    case "--help":
      return { command: "help", topic: "main" };
    case "help":
      if (rest[0] === "run") return { command: "help", topic: "run" };
      if (rest[0] === undefined) return { command: "help", topic: "main" };
      throw new UsageError(`no help for '${rest[0]}'`);
    case "-V":
    case "-v":
    case "--version":
      return { command: "version" };
    case "run":
      return parseRun(rest);
    case "info":
      if (rest.length) throw new UsageError(`'info' takes no arguments`);
      return { command: "info" };
    default:
      throw new UsageError(first.startsWith("-") ? `unknown option '${first}'` : `unknown command '${first}'`);
  }
}

function parseRun(argv: readonly string[]): Command {
  const options: Partial<LaunchOptions> & { env: Record<string, string> } = { env: {} };
  let np: number | undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break; // the script: everything from here is the app's

    let name = arg;
    let value: string | undefined;
    const eq = arg.indexOf("=");
    if (eq > 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    } else if (/^-n\d+$/.test(arg)) {
      name = "-n";
      value = arg.slice(2);
    }
    if (RUN_FLAGS.has(name)) {
      if (value !== undefined) throw new UsageError(`option '${name}' takes no value`);
      if (name === "-h" || name === "--help") return { command: "help", topic: "run" };
      if (name === "--tag-output") options.tagOutput = true;
      else options.noCma = true;
      continue;
    }
    if (!RUN_VALUE_OPTIONS.has(name)) throw new UsageError(`unknown option '${name}'`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`option '${name}' needs a value`);
    }
    switch (name) {
      case "-n":
      case "--np":
      case "-np":
        np = parseCount(name, value);
        break;
      case "--timeout": {
        const s = Number(value);
        if (value.trim() === "" || !Number.isFinite(s) || s <= 0) {
          throw new UsageError(`--timeout expects a positive number of seconds, got '${value}'`);
        }
        options.timeoutMs = s * 1000;
        break;
      }
      case "--eager-limit":
        try {
          options.eagerLimit = parseByteCount(value, "--eager-limit");
        } catch (err) {
          throw new UsageError((err as Error).message);
        }
        break;
      case "--transport":
        if (!(TRANSPORTS as readonly string[]).includes(value)) {
          throw new UsageError(`--transport must be one of ${TRANSPORTS.join(", ")}, got '${value}'`);
        }
        options.transport = value as TransportName;
        break;
      case "--env":
      case "-x": {
        const m = ENV_ASSIGNMENT.exec(value);
        if (!m) throw new UsageError(`${name} expects KEY=VALUE, got '${value}'`);
        options.env[m[1]] = m[2];
        break;
      }
      case "--fail-grace":
        options.failGraceMs = parseMs(name, value);
        break;
      case "--kill-grace":
        options.killGraceMs = parseMs(name, value);
        break;
    }
  }
  if (np === undefined) throw new UsageError("missing -n <N> (number of ranks)");
  const script = argv[i];
  if (script === undefined) throw new UsageError("missing the script to run (e.g. onecopy run -n 2 app.ts)");
  return {
    command: "run",
    options: { ...options, np, script, args: argv.slice(i + 1) },
  };
}

function parseCount(name: string, value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new UsageError(`${name} expects a positive integer, got '${value}'`);
  const n = Number(value);
  if (n < 1) throw new UsageError(`${name} must be at least 1, got ${n}`);
  if (n > MAX_NP) throw new UsageError(`${name} must be at most ${MAX_NP}, got ${n}`);
  return n;
}

function parseMs(name: string, value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new UsageError(`${name} expects a non-negative integer number of milliseconds, got '${value}'`);
  return Number(value);
}
