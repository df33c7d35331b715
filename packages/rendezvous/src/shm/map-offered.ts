// The consumer's half of offering a segment (the ring channel's MAP, the fast path's RING MAP):
// map the segment the peer named, check it, and unlink its name whatever happens, so nothing is
// left in /dev/shm; a segment that fails its check is unmapped again.
import { openShmSegment, unlinkShmSegment, unmapShmSegment, type ShmSegment } from "@onecopy/cma";

export type Mapped = { seg: ShmSegment; reason: null } | { seg: null; reason: string };

/**
 * Map `name` (offered by the peer; it must be `expected`) of `bytes` bytes. `refused` is a reason
 * found before mapping (a geometry the two ranks disagree on), `validate` checks the mapped header.
 */
export function mapOffered(name: string, expected: string, bytes: number, refused: string | null, validate: (seg: ShmSegment) => string | null): Mapped {
  let seg: ShmSegment | null = null;
  let reason: string | null = name !== expected ? `unexpected segment name ${name}` : refused;
  if (reason === null) {
    try {
      seg = openShmSegment(name, bytes);
      reason = validate(seg);
    } catch (err) {
      reason = (err as Error).message;
    }
  }
  unlinkShmSegment(expected);
  if (reason === null && seg) return { seg, reason: null };
  if (seg) unmapShmSegment(seg);
  return { seg: null, reason: reason ?? "the segment could not be mapped" };
}
