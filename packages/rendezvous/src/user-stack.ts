// Errors of public calls show the caller first. Most failures are settled from inside the
// runtime (a socket callback, a timer), where the stack holds no frame of the program; so a
// public call's promise goes through `userFacing`, which, only when it rejects, re-captures the
// stack there: V8's async stack traces then name the program's awaiting functions. The runtime's
// own frames follow under "--- inside onecopy ---". The hot path pays one async hop, no capture.

import { unblock, type BlockedCall } from "./blocked-calls.js";

const INTERNAL = /[\\/](?:@onecopy[\\/](?:cma|rendezvous|collectives)|onecopy|packages[\\/](?:cma|rendezvous|collectives|onecopy))[\\/]dist[\\/]/;
const ORIGINAL = Symbol("onecopy.originalStack");

/** `p`, whose rejection carries the stack of whoever awaits it; `blocked` (the call's record in the hang registry) is dropped when it settles. */
export async function userFacing<T>(p: Promise<T>, blocked?: BlockedCall): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw atCaller(err, userFacing);
  } finally {
    if (blocked) unblock(blocked);
  }
}

/** Rewrite `err.stack` so that the frames of the program awaiting us come first. */
export function atCaller(err: unknown, above: Function): unknown {
  if (!(err instanceof Error)) return err;
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, above);
  const caller = frames(holder.stack).filter((l) => !INTERNAL.test(l));
  if (caller.length === 0) return err;
  const e = err as Error & { [ORIGINAL]?: string };
  const original = (e[ORIGINAL] ??= e.stack ?? "");
  const inside = frames(original);
  e.stack = `${e.name}: ${e.message}\n${caller.join("\n")}${inside.length ? `\n    --- inside onecopy ---\n${inside.join("\n")}` : ""}`;
  return e;
}

function frames(stack: string | undefined): string[] {
  return (stack ?? "").split("\n").filter((l) => l.startsWith("    at "));
}
