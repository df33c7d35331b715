// close() of the world, as MPI_Finalize: deliver or fail every send already posted, then fail
// what can no longer complete, say BYE and wait until each link has flushed. A socket is
// destroyed only once its bytes are out or its peer is gone; a close() still waiting after the
// closeWarnMs knob says what it waits for (and keeps waiting).
import type { Engine } from "./engine.js";
import type { Request } from "./request.js";

/** Settles when every send posted so far has completed or failed (sends posted meanwhile too). */
async function drainSends(engine: Engine): Promise<void> {
  for (;;) {
    const reqs: Array<Request<void>> = [...engine.rendezvous.pending(), ...engine.eager.pending()];
    if (reqs.length === 0) return;
    await Promise.all(reqs.map((r) => r.wait().catch(() => {})));
  }
}

/** What close() still waits for, by peer, in words ("" when nothing). */
export function describePendingSends(engine: Engine): string {
  const parts: string[] = [];
  for (const link of engine.links) {
    if (!link) continue;
    const large = engine.rendezvous.pendingTo(link);
    const small = engine.eager.pendingTo(link).size;
    if (large + small === 0) continue;
    const what = [
      large ? `${large} large message${large > 1 ? "s" : ""} rank ${link.rank} has not finished receiving` : "",
      small ? `${small} small message${small > 1 ? "s" : ""} rank ${link.rank} has not read from the socket yet` : "",
    ].filter(Boolean);
    parts.push(`${large + small} send${large + small > 1 ? "s" : ""} to rank ${link.rank} (${what.join(", ")})`);
  }
  return parts.join("; ");
}

/** Take `engine` down; `stopAccepting` fails what can no longer complete once the sends are out. */
export async function closeEngine(engine: Engine, stopAccepting: () => void): Promise<void> {
  // Sockets are unref'd: hold the event loop open until the last byte is out.
  const hold = setInterval(() => {}, 1 << 30);
  const flushing = new Set<number>();
  const watchdog = setTimeout(() => {
    const what = describePendingSends(engine) || (flushing.size ? `rank(s) ${[...flushing].join(", ")} to read its last bytes` : "");
    if (what) {
      engine.warn(
        `onecopy: rank ${engine.rank}: close() is waiting for ${what}; it returns once that is done, or once the receiving rank leaves the job (those sends then fail with ERR_PEER_LOST).`,
      );
    }
  }, engine.tunables.closeWarnMs);
  try {
    await drainSends(engine);
    stopAccepting();
    const ends: Array<Promise<void>> = [];
    for (const link of engine.links) {
      if (!link || link.state !== "up") continue;
      flushing.add(link.rank);
      ends.push(link.leave().then(() => void flushing.delete(link.rank)));
    }
    await Promise.all(ends);
  } finally {
    clearTimeout(watchdog);
    clearInterval(hold);
  }
  for (const link of engine.links) link?.destroy();
  engine.dispose();
}
