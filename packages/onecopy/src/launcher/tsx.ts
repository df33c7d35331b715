// TypeScript entry points run through tsx, an optional peer dependency of onecopy: found next to
// onecopy (a project that installed both), else from the app's own project.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { ErrorCode, OnecopyError } from "@onecopy/cma";

/** How to get tsx, for the error of a `.ts` app without it. */
export const TSX_INSTALL_HINT = "npm install --save-dev tsx (pnpm add -D tsx, yarn add -D tsx)";

const cache = new Map<string, string | undefined>();

function tryResolve(from: string): string | undefined {
  if (cache.has(from)) return cache.get(from);
  let url: string | undefined;
  try {
    url = pathToFileURL(createRequire(from).resolve("tsx")).href;
  } catch {
    url = undefined;
  }
  cache.set(from, url);
  return url;
}

/**
 * The `file:` URL of tsx's loader (`node --import <it> app.ts`), looked up from the onecopy
 * package, then from the app's directory, then from `cwd`.
 * @throws OnecopyError `ERR_TSX_NOT_FOUND`, whose message says how to install it.
 */
export function resolveTsx(script: string, cwd: string, shown: string = script): string {
  for (const from of [import.meta.url, join(dirname(script), "noop.js"), join(cwd, "noop.js")]) {
    const url = tryResolve(from);
    if (url) return url;
  }
  throw new OnecopyError(
    ErrorCode.TSX_NOT_FOUND,
    `${shown} is TypeScript, which onecopy runs through tsx, and tsx is not installed here: ` +
      `${TSX_INSTALL_HINT}; or compile it and run the .js`,
  );
}
