// The one knob table: names, parsers, defaults and the reader every layer uses.
import { describe, expect, it } from "vitest";
import { KNOBS, knobsOf, parseByteCount, parseCount, parseSwitch, parseTransport, readKnob } from "../src/knobs.js";

const code = (c: string) => expect.objectContaining({ code: c });

describe("knob table", () => {
  it("names every knob once, with an ONECOPY_ variable and a reason", () => {
    const envs = Object.values(KNOBS).map((k) => k.env);
    expect(new Set(envs).size).toBe(envs.length);
    for (const k of Object.values(KNOBS)) {
      expect(k.env).toMatch(/^ONECOPY_[A-Z_]+$/);
      expect(k.doc.length).toBeGreaterThan(40);
    }
  });

  it("splits the table by layer, and every row belongs to one", () => {
    const all = (["cma", "messaging", "collectives"] as const).flatMap((l) => knobsOf(l).map(([n]) => n));
    expect(all.sort()).toEqual(Object.keys(KNOBS).sort());
    expect(knobsOf("collectives").map(([n]) => n)).toContain("collChunk");
  });

  it("reads the default when unset or empty, and parses what is set", () => {
    expect(readKnob("eagerLimit", {})).toBe(32 * 1024);
    expect(readKnob("eagerLimit", { ONECOPY_EAGER_LIMIT: "" })).toBe(32 * 1024);
    expect(readKnob("eagerLimit", { ONECOPY_EAGER_LIMIT: "64KiB" })).toBe(65536);
    expect(readKnob("cma", { ONECOPY_CMA: "0" })).toBe(false);
    expect(readKnob("cma", { ONECOPY_CMA: "on" })).toBe(true);
    expect(readKnob("transport", { ONECOPY_TRANSPORT: "shm" })).toBe("shm");
    expect(readKnob("shmSpinUs", { ONECOPY_SHM_SPIN_US: "0" })).toBe(0);
  });

  it("rejects malformed values with the variable's name", () => {
    expect(() => readKnob("eagerLimit", { ONECOPY_EAGER_LIMIT: "lots" })).toThrow(/ONECOPY_EAGER_LIMIT.*'lots'/);
    expect(() => readKnob("transport", { ONECOPY_TRANSPORT: "tcp" })).toThrow(/ONECOPY_TRANSPORT must be one of cma, shm, socket/);
    expect(() => readKnob("cma", { ONECOPY_CMA: "maybe" })).toThrow(code("ERR_INVALID_ARG"));
    expect(() => readKnob("shmCells", { ONECOPY_SHM_CELLS: "8k" })).toThrow(/non-negative integer/);
  });

  it("parses byte counts with binary suffixes and refuses the rest", () => {
    expect(parseByteCount("8192")).toBe(8192);
    expect(parseByteCount(" 64k ")).toBe(65536);
    expect(parseByteCount("1MiB")).toBe(1 << 20);
    expect(parseByteCount("2g")).toBe(2 ** 31);
    expect(() => parseByteCount("-1")).toThrow(code("ERR_INVALID_ARG"));
    expect(() => parseByteCount("1.5M")).toThrow(code("ERR_INVALID_ARG"));
    expect(() => parseByteCount("99999999999G")).toThrow(/too large/);
    expect(parseCount("12")).toBe(12);
    expect(() => parseCount("1e3")).toThrow(code("ERR_INVALID_ARG"));
    expect(parseSwitch("FALSE")).toBe(false);
    expect(parseTransport("socket")).toBe("socket");
  });
});
