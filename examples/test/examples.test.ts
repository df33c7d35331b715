// Smoke tests of the examples: every example runs through the real launcher at small size, on
// 2 ranks and on 3 or 4, and must exit 0 with its verification line saying OK. One run of each
// without single copy (--no-cma) checks the other path.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { explain, runJob } from "../../test/kit/job.js";

const example = (name: string) => fileURLToPath(new URL(`../${name}.ts`, import.meta.url));

interface Case {
  name: string;
  args: string[];
  nps: number[];
  /** What rank 0 prints when the example verified its result. */
  ok: RegExp;
}

const cases: Case[] = [
  { name: "hello", args: ["--small"], nps: [2, 4], ok: /verification OK/ },
  { name: "ping-pong", args: ["--small"], nps: [2, 3], ok: /^ping-pong: verification OK/m },
  { name: "pi", args: ["--small"], nps: [2, 4], ok: /^pi: verification OK/m },
  { name: "train", args: ["--small"], nps: [2, 3], ok: /^train: verification OK/m },
  { name: "sort", args: ["--small"], nps: [2, 3], ok: /^sort: verification OK/m },
  { name: "heat", args: ["--small"], nps: [2, 4], ok: /^heat: verification OK/m },
  { name: "steal", args: ["--small"], nps: [2, 3], ok: /^steal: verification OK/m },
];

async function check(c: Case, np: number, noCma = false): Promise<void> {
  const r = await runJob(example(c.name), { np, args: c.args, noCma, timeoutMs: 45_000 });
  const out = r.ranks[0]!.stdout;
  expect(r.exitCode, explain(r)).toBe(0);
  expect(out, explain(r)).toMatch(c.ok);
  expect(out).not.toMatch(/FAILED/);
  if (c.name !== "hello") expect(out, explain(r)).toMatch(new RegExp(`^${c.name}: [0-9.]+ s on ${np} ranks; received by path`, "m"));
}

describe("examples (small size)", () => {
  for (const c of cases) {
    for (const np of c.nps) it(`${c.name} on ${np} ranks`, () => check(c, np));
  }
});

describe("examples without single copy (--no-cma)", () => {
  for (const c of cases) it(`${c.name} on 2 ranks`, () => check(c, 2, true));
});
