// Liveness of a communicator's peers as its users see it: iprobe naming a departed rank, and
// the "peerlost" event.
import { EventEmitter } from "node:events";
import type { Engine } from "./engine.js";


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
