// Barrier: the descriptor exchange alone is a dissemination barrier (ceil(log2 n) rounds; in
// round k every rank hears, directly or through others, from 2^k more ranks).
import type { CollectiveTransport } from "@onecopy/rendezvous";
import { exchange, KIND, type Contribution } from "./descriptors.js";
import { takeTags } from "./moves.js";

/** Wait until every rank of the communicator has entered the barrier. */
export async function barrier(t: CollectiveTransport): Promise<void> {
  const tags = takeTags(t);
  await exchange(t, tags.x, "barrier", KIND.barrier, contribution);
}

/** A barrier's record: its kind alone (the same object every call; exchange only reads it). */
const RECORD: Contribution = { kind: KIND.barrier };
const contribution = (): Contribution => RECORD;
