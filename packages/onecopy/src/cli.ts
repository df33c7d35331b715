#!/usr/bin/env node
// `onecopy`: the mpirun-style command line, a thin layer over launch().
import { readFileSync } from "node:fs";
import { isatty } from "node:tty";
import { MAIN_HELP, RUN_HELP, UsageError, parseCommandLine } from "./launcher/cli-args.js";
import { launch } from "./launcher/launch.js";
import { resolveLaunchOptions } from "./launcher/options.js";
import { readProcStat } from "@onecopy/cma";

/** Exit code for command-line mistakes (nothing was started). */
const USAGE_EXIT_CODE = 2;

function usageError(message: string, topic: "main" | "run"): number {
  process.stderr.write(`onecopy: ${message}\nTry 'onecopy ${topic === "run" ? "run " : ""}--help'.\n`);
  return USAGE_EXIT_CODE;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * Whether stdin is the terminal and this launcher is not in its foreground process group
 * (`onecopy run ... &`): reading it would stop the launcher (SIGTTIN), so it is not forwarded.
 */
function terminalInBackground(): boolean {
  if (!isatty(0)) return false;
  const s = readProcStat("self");
  return s !== null && s.tpgid > 0 && s.pgrp !== s.tpgid;
}

/** Run the CLI with `argv` (without node and script); resolves to the process exit code. */
async function main(argv: readonly string[]): Promise<number> {
  let cmd;
  try {
    cmd = parseCommandLine(argv);
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message, argv[0] === "run" ? "run" : "main");
    throw err;
  }
  switch (cmd.command) {
    case "help":
      process.stdout.write(cmd.topic === "run" ? RUN_HELP : MAIN_HELP);
      return 0;
    case "version":
      process.stdout.write(`onecopy ${version()}\n`);
      return 0;
    case "info":
      process.stdout.write((await import("./info.js")).infoText());
      return 0;
    case "run": {
      // As mpirun: rank 0 reads the launcher's stdin unless --stdin says otherwise (or the
      // launcher runs in the background of a terminal).
      const stdin = cmd.options.stdin ?? (terminalInBackground() ? "none" : 0);
      const options = {
        ...cmd.options,
        stdin,
        input: stdin === "none" ? undefined : process.stdin,
        inheritOutput: true,
        collectOutput: false,
        handleSignals: true,
      };
      try {
        resolveLaunchOptions(options); // validate (script exists, ranges, tsx) before starting anything
      } catch (err) {
        return usageError((err as Error).message, "run");
      }
      try {
        return (await launch(options)).exitCode;
      } catch (err) {
        // e.g. --output-filename files that cannot be created: nothing was started
        if (typeof (err as NodeJS.ErrnoException).code !== "string") throw err;
        process.stderr.write(`onecopy: ${(err as Error).message}\n`);
        return 1;
      }
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Normally nothing is left and the process exits now; never hang on a stray handle.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`onecopy: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1); // the 'exit' handler of a running job kills its ranks and removes the job dir
  },
);
