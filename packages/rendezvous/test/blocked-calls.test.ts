// The hang answer is one short line on the lifeline whatever the program awaits: a rank that
// awaits thousands of requests lists the most recent ones and counts the rest, so the answer
// cannot outgrow the socket buffer and be cut short (a cut answer swallows the news after it).
import { describe, expect, it } from "vitest";
import { block, hangAnswer, unblock, type BlockedCall } from "../src/blocked-calls.js";

describe("hang answer", () => {
  it("lists at most 32 blocked calls and counts the others", () => {
    const comm = { ctx: "w", group: [0, 1] };
    const recs: BlockedCall[] = [];
    for (let i = 0; i < 5000; i++) recs.push(block(`await irecv from rank 1, tag ${i}`, comm, 1, i));
    try {
      const a = hangAnswer(0, undefined);
      expect(a.blocked).toHaveLength(32);
      expect(a.more).toBe(5000 - 32);
      expect(JSON.stringify(a).length).toBeLessThan(16 * 1024);
    } finally {
      for (const r of recs) unblock(r);
    }
    const after = hangAnswer(0, undefined);
    expect(after.blocked).toHaveLength(0);
    expect(after.more).toBeUndefined();
  });
});
