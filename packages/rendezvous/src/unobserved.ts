// Operations that failed while nobody was looking: a request the program started and never
// awaited (nor tested) fails silently, as in MPI. At exit they are listed in one warning.
import type { Request } from "./request.js";

const failed = new Set<Request<unknown>>();
let installed = false;


/** Request `req` (started by the program) failed and nobody has asked for its outcome yet. */
export function failedUnobserved(req: Request<unknown>): void {
  failed.add(req);
  if (installed) return;
  installed = true;
  process.once("exit", reportUnobserved);
}

/** The warning listing what failed and was never awaited, or null. */
export function unobservedReport(): string | null {
  const lines: string[] = [];
  for (const r of failed) {
    if (r.observed) continue;
    const err = r.failure as { code?: string; message?: string } | undefined;
    lines.push(`  ${r.label ?? "operation"}: ${err?.code ?? "error"}: ${err?.message ?? ""}`);
  }
  if (lines.length === 0) return null;
  const shown = lines.slice(0, 10).join("\n");
  return `onecopy: warning: ${lines.length} operation${lines.length === 1 ? "" : "s"} failed and ${lines.length === 1 ? "was" : "were"} never awaited (await the request, or call test()):\n${shown}${lines.length > 10 ? `\n  … and ${lines.length - 10} more` : ""}`;
}

function reportUnobserved(): void {
  const m = unobservedReport();
  if (m) process.stderr.write(m + "\n");
}
