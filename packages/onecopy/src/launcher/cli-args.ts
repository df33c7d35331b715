// The `onecopy` command line, parsed into launch() options (the help texts are in cli-help.ts).
import { MAX_NP, TRANSPORTS, parseByteCount, type LaunchOptions, type TransportName } from "./options.js";

export { MAIN_HELP, RUN_HELP } from "./cli-help.js";

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

const RUN_VALUE_OPTIONS = new Set([
  "-n", "--np", "-np", "--timeout", "--eager-limit", "--transport", "--env", "-x", "--fail-grace", "--kill-grace",
  "--bind-to", "--map-by", "--node-arg", "--stdin", "--output-filename", "--tag-format", "--hang-report",
]);
const RUN_FLAGS = new Set(["--tag-output", "--no-cma", "--oversubscribe", "--report-bindings", "--hang-exit", "-h", "--help"]);
const ENV_ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Node options that take their value as the next argument when written without `=`. */
const NODE_VALUE_FLAGS = new Set([
  "-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions", "--env-file",
  "--env-file-if-exists", "--input-type", "--inspect-port", "--debug-port", "--title", "--redirect-warnings",
  "--report-dir", "--report-directory", "--report-filename", "--report-signal", "--diagnostic-dir",
  "--heapsnapshot-signal", "--heapsnapshot-near-heap-limit", "--cpu-prof-dir", "--cpu-prof-name", "--cpu-prof-interval",
  "--heap-prof-dir", "--heap-prof-name", "--heap-prof-interval", "--openssl-config", "--tls-cipher-list", "--tls-keylog",
  "--unhandled-rejections", "--dns-result-order", "--secure-heap", "--secure-heap-min", "--disable-proto",
  "--disable-warning", "--experimental-policy", "--policy-integrity", "--icu-data-dir", "--max-http-header-size",
  "--snapshot-blob", "--trace-event-categories", "--trace-event-file-pattern", "--use-largepages", "--v8-pool-size",
  "--experimental-default-type", "--allow-fs-read", "--allow-fs-write", "--stack-trace-limit", "--localstorage-file",
]);
/** Node options that run something other than a script file: not a rank program. */
const NODE_NON_SCRIPT_FLAGS = new Set(["-e", "--eval", "-p", "--print", "-i", "--interactive", "-c", "--check", "--test", "--run", "-v", "--version", "-h", "--help", "--watch"]);

/** `node`, `nodejs`, or a path to one (`/usr/bin/node`): the command form `onecopy run -n 2 node app.js`. */
function isNodeCommand(arg: string): boolean {
  return /(^|\/)(node|nodejs)$/.test(arg);
}

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

/** Open MPI spells long options with one dash too (`-oversubscribe`, `-bind-to core`). */
function longForm(name: string): string {
  if (/^-[a-z][a-z-]+$/.test(name) && name !== "-np") {
    const long = `-${name}`;
    if (RUN_FLAGS.has(long) || RUN_VALUE_OPTIONS.has(long)) return long;
  }
  return name;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[], extra = ""): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${name} must be one of ${allowed.join(", ")}, got '${value}'${extra}`);
}

function parseRun(argv: readonly string[]): Command {
  const options: Partial<LaunchOptions> & { env: Record<string, string> } = { env: {} };
  const nodeArgs: string[] = [];
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
    name = longForm(name);
    if (RUN_FLAGS.has(name)) {
      if (value !== undefined) throw new UsageError(`option '${name}' takes no value`);
      switch (name) {
        case "-h":
        case "--help":
          return { command: "help", topic: "run" };
        case "--tag-output":
          options.tagOutput ??= true;
          break;
        case "--no-cma":
          options.noCma = true;
          break;
        case "--oversubscribe":
          options.oversubscribe = true;
          break;
        case "--report-bindings":
          options.reportBindings = true;
          break;
        case "--hang-exit":
          options.hangExit = true;
          break;
      }
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
      case "--hang-report": {
        const s = Number(value);
        if (value.trim() === "" || !Number.isFinite(s) || s < 0) {
          throw new UsageError(`--hang-report expects a number of seconds (0 turns it off), got '${value}'`);
        }
        options.hangReportSeconds = s;
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
        options.transport = oneOf(name, value, TRANSPORTS) as TransportName;
        break;
      case "-x":
      case "--env": {
        if (name === "-x" && ENV_NAME.test(value)) {
          // mpirun's -x VAR: export the launcher's current value (ranks inherit it anyway; an
          // unset VAR stays unset)
          const current = process.env[value];
          if (current !== undefined) options.env[value] = current;
          break;
        }
        const m = ENV_ASSIGNMENT.exec(value);
        if (!m) throw new UsageError(`${name} expects ${name === "-x" ? "VAR or " : ""}KEY=VALUE, got '${value}'`);
        options.env[m[1]] = m[2];
        break;
      }
      case "--fail-grace":
        options.failGraceMs = parseMs(name, value);
        break;
      case "--kill-grace":
        options.killGraceMs = parseMs(name, value);
        break;
      case "--bind-to":
        options.bindTo = oneOf(name, value, ["core", "hwthread", "none"] as const, value.includes(":") ? " (qualifiers after ':' are not supported)" : "");
        break;
      case "--map-by":
        options.mapBy = oneOf(name, value, ["core", "slot"] as const, value.includes(":") ? " (qualifiers after ':' such as PE=n are not supported)" : "");
        break;
      case "--node-arg":
        if (!value.startsWith("-")) throw new UsageError(`--node-arg expects a Node option such as --max-old-space-size=4096, got '${value}'`);
        nodeArgs.push(value);
        break;
      case "--stdin":
        if (value === "all" || value === "none") options.stdin = value;
        else options.stdin = parseRank(name, value);
        break;
      case "--output-filename":
        if (value === "") throw new UsageError("--output-filename expects a directory");
        options.outputFilename = value;
        break;
      case "--tag-format":
        options.tagOutput = oneOf(name, value, ["rank", "ompi"] as const);
        break;
    }
  }
  if (np === undefined) throw new UsageError("missing -n <N> (number of ranks)");
  let script = argv[i];
  if (script !== undefined && isNodeCommand(script)) {
    if (script.includes("/")) options.execPath = script;
    for (i++; i < argv.length; i++) {
      const arg = argv[i];
      if (arg === "--") {
        i++;
        break;
      }
      if (!arg.startsWith("-") || arg === "-") break;
      const flag = arg.includes("=") ? arg.slice(0, arg.indexOf("=")) : arg;
      if (NODE_NON_SCRIPT_FLAGS.has(flag)) throw new UsageError(`node ${flag} is not a rank program: onecopy runs a script file (node [options] app.js)`);
      nodeArgs.push(arg);
      if (!arg.includes("=") && NODE_VALUE_FLAGS.has(arg)) {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`node option '${arg}' needs a value`);
        nodeArgs.push(v);
      }
    }
    script = argv[i];
    if (script === undefined) throw new UsageError("missing the script after 'node' (e.g. onecopy run -n 2 node app.js)");
    if (script === "-") throw new UsageError("a script from stdin is not a rank program: give a file (node [options] app.js)");
  }
  if (script === undefined) throw new UsageError("missing the script to run (e.g. onecopy run -n 2 app.ts)");
  if (nodeArgs.length) options.nodeArgs = nodeArgs;
  if (typeof options.stdin === "number" && options.stdin >= np) {
    throw new UsageError(`--stdin must be a rank below ${np} (or all, none), got ${options.stdin}`);
  }
  return {
    command: "run",
    options: { ...options, np, script, args: argv.slice(i + 1) },
  };
}

function parseRank(name: string, value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new UsageError(`${name} expects a rank, all or none, got '${value}'`);
  return Number(value);
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
