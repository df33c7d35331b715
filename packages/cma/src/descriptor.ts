// What one process hands another so that the other can copy its memory.
import { ioListOf, ioListBytes, type LocalData } from "./iolist.js";

/**
 * A remote-memory descriptor: a pid and the io list of its buffer pieces. Plain numbers, so it
 * survives JSON, msgpack or structured clone unchanged. Whoever creates one must keep the named
 * buffers alive and unmoved until the peer reports it is done with them.
 */
export interface Descriptor {
  pid: number;
  /** Flat `[addr0, len0, addr1, len1, ...]`. */
  iov: number[];
  /** Total bytes (sum of the lengths). */
  bytes: number;
}

/** Describe local data for a peer. */
export function describe(data: LocalData, pid = process.pid): Descriptor {
  const iov = ioListOf(data);
  return { pid, iov, bytes: ioListBytes(iov) };
}
