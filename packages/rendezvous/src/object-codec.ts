// Encoding of values for sendObject/recvObject.
import { Packr } from "msgpackr";

// structuredClone: cycles and shared references survive; moreTypes: typed arrays keep their type.
const codec = new Packr({ structuredClone: true, moreTypes: true, useRecords: false });

export function encodeObject(value: unknown): Uint8Array {
  return codec.pack(value);
}

export function decodeObject(bytes: Uint8Array): unknown {
  return codec.unpack(bytes);
}
