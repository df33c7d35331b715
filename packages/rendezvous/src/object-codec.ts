// Encoding of values for sendObject/recvObject.
import { Packr } from "msgpackr";

// Records keep plain objects apart from Maps (msgpack has one map type); every message carries
// its own record definitions, so no state is shared between sender and receiver.
// structuredClone: cycles and shared references survive; moreTypes: typed arrays keep their type.
const OPTIONS = { structuredClone: true, moreTypes: true, mapsAsObjects: false } as const;
const encoder = new Packr(OPTIONS);
const decoder = new Packr(OPTIONS);

export function encodeObject(value: unknown): Uint8Array {
  return encoder.pack(value);
}

export function decodeObject(bytes: Uint8Array): unknown {
  return decoder.unpack(bytes);
}
