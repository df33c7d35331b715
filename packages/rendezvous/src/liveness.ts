// Liveness of a communicator's peers as its users see it: iprobe naming a departed rank, and
// the "peerlost" event.
import { EventEmitter } from "node:events";
import { ANY_SOURCE } from "./constants.js";
import type { Engine } from "./engine.js";

/**
 * The world rank whose departure means nothing matching (`ctx`, `src`) can ever arrive, or
 * null: `src` itself once it left or was lost; for ANY_SOURCE a lost member of the context's
 * group (the rule receives follow, see PROTOCOL.md "Loss and close").
 */
export function departedSource(engine: Engine, ctx: string, src: number): number | null {
  if (src !== ANY_SOURCE) {
    const s = engine.link(src)?.state;
    return s === "lost" || s === "left" ? src : null;
  }
  for (const l of engine.links) if (l && l.state === "lost" && engine.contexts.inGroup(ctx, l.rank)) return l.rank;
  return null;
}

/**
 * Emit "peerlost" (communicator rank, error) on `emitter` when a member of `group` is lost,
 * while anyone listens: the engine listener is added with the first "peerlost" listener and
 * removed with the last, so a communicator nobody listens to is not kept alive by it.
 */
export function emitPeerLoss(emitter: EventEmitter, engine: Engine, group: readonly number[], localRank: (world: number) => number): void {
  let stop: (() => void) | null = null;
  emitter.on("newListener", (event: string | symbol) => {
    if (event !== "peerlost" || stop) return;
    stop = engine.onPeerLost((w) => {
      if (!group.includes(w)) return;
      emitter.emit("peerlost", localRank(w), engine.errors.lost(w, "communicator"));
    });
  });
  emitter.on("removeListener", (event: string | symbol) => {
    if (event !== "peerlost" || !stop || emitter.listenerCount("peerlost") > 0) return;
    stop();
    stop = null;
  });
}
