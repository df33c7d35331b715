// The one path choice, as a table: what each side knows decides inline, single copy, the shared-
// memory ring or the socket, and sender and receiver reach the same answer.
import { describe, expect, it } from "vitest";
import { selectMover, selectPath, shouldPack, type PathFacts } from "../src/path.js";

const facts = (o: Partial<PathFacts> = {}): PathFacts => ({ transport: "cma", eagerLimit: 32768, receiverCanRead: true, shmUsable: true, ...o });

describe("selectPath", () => {
  it("sends up to the eager limit inline, whatever else holds", () => {
    expect(selectPath(facts(), 0)).toBe("inline");
    expect(selectPath(facts(), 32768)).toBe("inline");
    expect(selectPath(facts({ transport: "socket", receiverCanRead: false }), 100)).toBe("inline");
    expect(selectPath(facts({ eagerLimit: 0 }), 1)).toBe("single-copy");
  });

  it("above it: single copy where the receiver may read, else the ring, else the socket", () => {
    expect(selectPath(facts(), 32769)).toBe("single-copy");
    expect(selectPath(facts({ receiverCanRead: false }), 1 << 20)).toBe("shm");
    expect(selectPath(facts({ receiverCanRead: false, shmUsable: false }), 1 << 20)).toBe("socket");
  });

  it("honours the transport: shm never copies directly, socket never uses the ring", () => {
    expect(selectPath(facts({ transport: "shm" }), 1 << 20)).toBe("shm");
    expect(selectPath(facts({ transport: "shm", shmUsable: false }), 1 << 20)).toBe("socket");
    expect(selectPath(facts({ transport: "socket" }), 1 << 20)).toBe("socket");
  });

  it("never sends a synchronous send inline: it must complete only once the receiver matched", () => {
    expect(selectPath(facts({ synchronous: true }), 8)).toBe("single-copy");
    expect(selectPath(facts({ synchronous: true, receiverCanRead: false }), 0)).toBe("shm");
  });

  it("gives the receiver's mover for an announced message without the size test", () => {
    expect(selectMover(facts())).toBe("single-copy");
    expect(selectMover(facts({ receiverCanRead: false }))).toBe("shm");
  });
});

describe("shouldPack", () => {
  it("packs lists of pieces averaging under packBelow bytes, never a single piece", () => {
    expect(shouldPack(1, 8, 1024)).toBe(false);
    expect(shouldPack(8190, 8190 * 8, 1024)).toBe(true);
    expect(shouldPack(4, 4 * 4096, 1024)).toBe(false);
    expect(shouldPack(4, 100, 0)).toBe(false);
  });
});
