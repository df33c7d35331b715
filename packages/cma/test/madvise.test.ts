// madvise wrappers and the registration cache, checked by their real effect on this process's
// memory: /proc/self/smaps (AnonHugePages) after MADV_COLLAPSE, mincore and RSS after
// MADV_POPULATE_WRITE, and the bytes left unchanged by both.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  addressOf,
  alignedInterior,
  collapseRange,
  collapsesInFlight,
  hugePageBytes,
  looksResident,
  populateRange,
  prepareForCopy,
  registrationDefaults,
  registrationStats,
  transparentHugePages,
} from "../src/index.js";

const MiB = 1024 * 1024;
// Above glibc's largest dynamic mmap threshold (32 MiB): a fresh mapping every time, never heap
// memory an earlier test already collapsed and freed.
const FRESH = 34 * MiB;
const EINVAL = 22;
const thp = transparentHugePages();
const thpOn = thp !== null && thp !== "never";
// MADV_COLLAPSE came with Linux 6.1: find out once, on memory that surely is anonymous and touched.
const collapseWorks = (() => {
  if (!thpOn) return false;
  const probe = new Uint8Array(new ArrayBuffer(6 * MiB)).fill(1);
  const r = collapseRange(addressOf(probe), probe.byteLength);
  return r.ok || r.errno !== EINVAL;
})();
const skipCollapse = !collapseWorks ? `transparent huge pages are ${thp ?? "absent"} or MADV_COLLAPSE is unsupported (Linux < 6.1)` : "";

function pattern(u8: Uint8Array): Uint8Array {
  for (let i = 0; i < u8.length; i += 4093) u8[i] = (i * 31 + 7) & 255;
  return u8;
}
function samePattern(u8: Uint8Array): boolean {
  for (let i = 0; i < u8.length; i += 4093) if (u8[i] !== ((i * 31 + 7) & 255)) return false;
  return true;
}
function rssBytes(): number {
  return Number(readFileSync("/proc/self/statm", "utf8").split(" ")[1]) * 4096;
}

describe("alignedInterior", () => {
  it("is the largest aligned range inside, or null", () => {
    expect(alignedInterior(0x200010, 4 * MiB, 2 * MiB)).toEqual({ addr: 0x400000, len: 2 * MiB });
    expect(alignedInterior(0x200000, 4 * MiB, 2 * MiB)).toEqual({ addr: 0x200000, len: 4 * MiB });
    expect(alignedInterior(0x200010, MiB, 2 * MiB)).toBeNull();
    expect(alignedInterior(4096 + 16, 3 * 4096, 4096)).toEqual({ addr: 8192, len: 8192 });
  });
});

describe.skipIf(skipCollapse !== "")(`MADV_COLLAPSE ${skipCollapse}`, () => {
  it("puts the aligned interior of an ordinary, touched buffer on huge pages and keeps its bytes", (ctx) => {
    const u8 = pattern(new Uint8Array(new ArrayBuffer(FRESH)));
    const interior = alignedInterior(addressOf(u8), u8.byteLength, 2 * MiB)!;
    if (hugePageBytes(interior.addr, interior.len) === interior.len) ctx.skip("the buffer is on huge pages already (THP always, or glibc.malloc.hugetlb)");
    const r = collapseRange(addressOf(u8), u8.byteLength);
    expect(r).toMatchObject({ ok: true, errno: 0, bytes: interior.len });
    expect(hugePageBytes(interior.addr, interior.len)).toBe(interior.len);
    expect(samePattern(u8)).toBe(true);
  });

  it("refuses memory with nothing to collapse without throwing", () => {
    const small = new Uint8Array(new ArrayBuffer(MiB)).fill(1); // no 2 MiB-aligned interior
    expect(collapseRange(addressOf(small), small.byteLength)).toEqual({ ok: false, errno: 0, bytes: 0 });
    const untouched = new Uint8Array(new ArrayBuffer(8 * MiB));
    const r = collapseRange(addressOf(untouched), untouched.byteLength);
    expect(typeof r.ok).toBe("boolean"); // EINVAL on untouched memory on some kernels: ignored
  });

  it("registration cache: the second use of a large source collapses it on a worker, once", async (ctx) => {
    const u8 = pattern(new Uint8Array(new ArrayBuffer(FRESH)));
    const interior = alignedInterior(addressOf(u8), u8.byteLength, 2 * MiB)!;
    if (hugePageBytes(interior.addr, interior.len) === interior.len) ctx.skip("the buffer is on huge pages already (THP always, or glibc.malloc.hugetlb)");
    const before = registrationStats();
    prepareForCopy([u8], "source");
    expect(collapsesInFlight()).toBe(0); // the first use does nothing
    prepareForCopy([u8], "source");
    expect(collapsesInFlight()).toBeGreaterThan(0);
    for (let i = 0; i < 500 && collapsesInFlight() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    const after = registrationStats();
    expect(after.collapses - before.collapses).toBe(1);
    expect(hugePageBytes(interior.addr, interior.len)).toBe(interior.len);
    prepareForCopy([u8], "source"); // remembered: nothing more to do
    expect(collapsesInFlight()).toBe(0);
    expect(registrationStats().collapses).toBe(after.collapses);
    expect(samePattern(u8)).toBe(true);
  });
});

describe("MADV_POPULATE_WRITE", () => {
  it("faults every page of an untouched buffer in, keeping it zero", () => {
    const u8 = new Uint8Array(new ArrayBuffer(16 * MiB));
    const addr = addressOf(u8);
    expect(looksResident(addr, u8.byteLength)).toBe(false);
    const rss0 = rssBytes();
    const r = populateRange(addr, u8.byteLength);
    expect(r.ok, `errno ${r.errno}`).toBe(true);
    expect(looksResident(addr, u8.byteLength)).toBe(true);
    expect(rssBytes() - rss0).toBeGreaterThan(15 * MiB);
    expect(u8[0]! | u8[8 * MiB]! | u8[u8.length - 1]!).toBe(0);
  });

  it("registration cache (ONECOPY_POPULATE_MIN on): a large untouched destination is populated before its first copy, a touched one is not", () => {
    registrationDefaults.populateMin = 4 * MiB; // what ONECOPY_POPULATE_MIN=4MiB sets
    const before = registrationStats().populates;
    const fresh = new Uint8Array(new ArrayBuffer(8 * MiB));
    prepareForCopy([fresh], "destination");
    expect(registrationStats().populates - before).toBe(1);
    expect(looksResident(addressOf(fresh), fresh.byteLength)).toBe(true);
    const touched = new Uint8Array(new ArrayBuffer(8 * MiB)).fill(2);
    prepareForCopy([touched], "destination");
    const asSource = new Uint8Array(new ArrayBuffer(8 * MiB));
    prepareForCopy([asSource], "source");
    expect(registrationStats().populates - before).toBe(1);
    expect(looksResident(addressOf(asSource), asSource.byteLength)).toBe(false);
    registrationDefaults.populateMin = 0;
    const off = new Uint8Array(new ArrayBuffer(8 * MiB));
    prepareForCopy([off], "destination");
    expect(registrationStats().populates - before).toBe(1);
    expect(looksResident(addressOf(off), off.byteLength)).toBe(false);
  });
});
