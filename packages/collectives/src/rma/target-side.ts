// The fallback for windows whose ranks cannot copy straight into each other's memory (--no-cma,
// ptrace rules): each operation travels as a point-to-point request on the window's own tags
// and the target applies it to its memory and answers, in order (messages of one pair on one
// tag never overtake each other, so the n-th answer belongs to the n-th request). The target
// must make progress for this: its event loop must turn (any await does). win.stats() says so.
//
//   request: 48-byte header [kind, offset, bytes, dtype, op, wantResult] + payload
//   answer:  the bytes read (get), the old values (getAccumulate, compareAndSwap), or nothing
import type { CollectiveTransport, Request } from "@onecopy/rendezvous";
import { typed, type AnyTyped } from "../datatypes.js";
import { ACC_OPS, typedAt, type LocalTarget } from "./local-target.js";

const PUT = 1;
const GET = 2;
const ACC = 3;
const CAS = 4;
const END = 9;
const HEADER = 48;

/** The window's two tags: requests (origin → target) and answers (target → origin). */
export interface TargetSideTags {
  req: number;
  ans: number;
}

function header(kind: number, offset: number, bytes: number, dtype = 0, op = 0, want = 0): Uint8Array {
  return new Uint8Array(new Float64Array([kind, offset, bytes, dtype, op, want]).buffer);
}

/** An operation handed to the target: `local` settles when the origin's buffers may be reused, `remote` once the target applied it. */
export interface Handed {
  local: Promise<unknown>;
  remote: Promise<unknown>;
}

const bytesOf = (a: AnyTyped) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const EMPTY: Uint8Array[] = [];

export class TargetSideClient {
  constructor(
    private readonly t: CollectiveTransport,
    private readonly tags: TargetSideTags,
  ) {}

  private send(target: number, head: Uint8Array, payload: readonly Uint8Array[], bytes: number): Request<void> {
    return this.t.isend([head, ...payload], HEADER + bytes, target, this.tags.req);
  }

  private answer(target: number, into: Uint8Array[], bytes: number): Promise<unknown> {
    return this.t.irecv(into, bytes, target, this.tags.ans).wait();
  }

  put(target: number, offset: number, views: readonly Uint8Array[], bytes: number): Handed {
    const sent = this.send(target, header(PUT, offset, bytes), views, bytes).wait();
    return { local: sent, remote: Promise.all([sent, this.answer(target, [], 0)]) };
  }

  get(target: number, offset: number, views: Uint8Array[], bytes: number): Handed {
    const sent = this.send(target, header(GET, offset, bytes), EMPTY, 0).wait();
    const got = Promise.all([sent, this.answer(target, views, bytes)]);
    return { local: got, remote: got };
  }

  accumulate(target: number, offset: number, dtype: number, op: number, origin: AnyTyped | null, result: AnyTyped | null): Handed {
    const payload = origin ? [bytesOf(origin)] : EMPTY;
    const bytes = (origin ?? result)!.byteLength;
    const sent = this.send(target, header(ACC, offset, bytes, dtype, op, result ? 1 : 0), payload, origin ? bytes : 0).wait();
    const ans = this.answer(target, result ? [bytesOf(result)] : [], result ? bytes : 0);
    const done = Promise.all([sent, ans]);
    return { local: result ? done : sent, remote: done };
  }

  compareAndSwap(target: number, offset: number, dtype: number, value: AnyTyped, compare: AnyTyped, result: AnyTyped): Handed {
    const size = value.byteLength;
    const sent = this.send(target, header(CAS, offset, size, dtype), [bytesOf(value), bytesOf(compare)], 2 * size).wait();
    const done = Promise.all([sent, this.answer(target, [bytesOf(result)], size)]);
    return { local: done, remote: done };
  }

  /** Tell `target`'s server for this rank that no more requests come (at free()). */
  end(target: number): Promise<void> {
    return this.send(target, header(END, 0, 0), EMPTY, 0).wait();
  }
}

/**
 * Serve `peer`'s requests on `local` until it says END (at free()) or is lost. Resolves when
 * done; never rejects.
 */
export async function serveTargetSide(t: CollectiveTransport, tags: TargetSideTags, peer: number, local: LocalTarget): Promise<void> {
  for (;;) {
    let data: Uint8Array;
    try {
      data = (await t.irecv(null, 0, peer, tags.req).wait()).data!;
    } catch {
      return; // the peer or the communicator is gone: nobody waits for answers any more
    }
    const h = new Float64Array(data.slice(0, HEADER).buffer);
    const [kind, offset, bytes, dtype, op, want] = [h[0]!, h[1]!, h[2]!, h[3]!, h[4]!, h[5]!];
    const payload = data.subarray(HEADER);
    let answer: Uint8Array = new Uint8Array(0);
    try {
      if (kind === END) return;
      if (kind === PUT) local.put(offset, [payload]);
      else if (kind === GET) {
        answer = new Uint8Array(bytes);
        local.get(offset, [answer]);
      } else if (kind === ACC) {
        const origin = payload.byteLength > 0 ? typedAt(dtype, payload).view : null;
        const result = want ? typed(dtype, new Uint8Array(bytes)) : null;
        await local.accumulate(offset, dtype, ACC_OPS[op]!, origin, result);
        if (result) answer = bytesOf(result);
      } else if (kind === CAS) {
        const size = bytes;
        const result = typed(dtype, new Uint8Array(size));
        await local.compareAndSwap(offset, dtype, typedAt(dtype, payload.subarray(0, size)).view, typedAt(dtype, payload.subarray(size, 2 * size)).view, result);
        answer = bytesOf(result);
      }
    } catch {
      // The origin checked the request before sending it; an answer of the wrong size fails its receive.
      answer = new Uint8Array(0);
    }
    t.isend(answer.byteLength ? [answer] : [], answer.byteLength, peer, tags.ans);
  }
}
