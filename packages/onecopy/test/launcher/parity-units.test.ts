// Pure units behind the mpirun options (no processes): parsing, rank placement, the output-file
// layout, CPU lists.
import { describe, expect, it } from "vitest";
import { formatCpuList, parseCpuList } from "@onecopy/cma";
import { parseCommandLine, UsageError } from "../../src/launcher/index.js";
import { oversubscriptionWarning, placeRanks, type CpuTopology } from "../../src/launcher/binding.js";
import { parseOutputFilename, rankOutputDir } from "../../src/launcher/output-files.js";

const run = (...args: string[]) => parseCommandLine(["run", ...args]);

describe("parseCommandLine: mpirun options", () => {
  it("placement flags, in onecopy's and Open MPI's single-dash spelling", () => {
    for (const args of [
      ["-n", "2", "--oversubscribe", "--bind-to", "core", "--map-by", "slot", "--report-bindings", "a.js"],
      ["-np", "2", "-oversubscribe", "-bind-to", "core", "-map-by", "slot", "-report-bindings", "a.js"],
      ["-n=2", "--oversubscribe", "--bind-to=core", "--map-by=slot", "--report-bindings", "a.js"],
    ]) {
      expect(run(...args)).toEqual({
        command: "run",
        options: { env: {}, np: 2, oversubscribe: true, bindTo: "core", mapBy: "slot", reportBindings: true, script: "a.js", args: [] },
      });
    }
  });

  it("-x VAR takes the launcher's value; -x VAR=VALUE sets it; an unset VAR is left out", () => {
    process.env.ONECOPY_TEST_X = "here";
    delete process.env.ONECOPY_TEST_UNSET;
    expect(run("-n", "1", "-x", "ONECOPY_TEST_X", "-x", "B=1=2", "-x", "ONECOPY_TEST_UNSET", "a.js")).toMatchObject({
      options: { env: { ONECOPY_TEST_X: "here", B: "1=2" } },
    });
  });

  it("node [node options] script: options with separate values, --, a node path, --node-arg first", () => {
    expect(run("-n", "2", "--node-arg", "--no-warnings", "node", "-r", "x.cjs", "--inspect-port", "0", "--trace-gc", "app.js", "-r", "y")).toEqual({
      command: "run",
      options: { env: {}, np: 2, nodeArgs: ["--no-warnings", "-r", "x.cjs", "--inspect-port", "0", "--trace-gc"], script: "app.js", args: ["-r", "y"] },
    });
    expect(run("-n", "1", "/opt/node/bin/node", "--", "--odd.js")).toMatchObject({ options: { execPath: "/opt/node/bin/node", script: "--odd.js", args: [] } });
    expect(run("-n", "1", "app.ts", "node")).toMatchObject({ options: { script: "app.ts", args: ["node"] } });
  });

  it("input and output options", () => {
    expect(run("-n", "3", "--stdin", "2", "--output-filename", "out:nocopy", "--tag-format", "ompi", "a.js")).toMatchObject({
      options: { stdin: 2, outputFilename: "out:nocopy", tagOutput: "ompi" },
    });
    expect(run("-n", "3", "--stdin=all", "a.js")).toMatchObject({ options: { stdin: "all" } });
    expect(run("-n", "3", "--tag-format", "rank", "--tag-output", "a.js")).toMatchObject({ options: { tagOutput: "rank" } });
  });

  it.each([
    [["-n", "2", "--bind-to", "socket", "a.js"], /--bind-to must be one of core, hwthread, none/],
    [["-n", "2", "--bind-to", "core:overload-allowed", "a.js"], /qualifiers/],
    [["-n", "2", "--map-by", "core:PE=2", "a.js"], /PE=n are not supported/],
    [["-n", "2", "--stdin", "2", "a.js"], /--stdin must be a rank below 2/],
    [["-n", "2", "--stdin", "first", "a.js"], /--stdin expects a rank, all or none/],
    [["-n", "2", "--tag-format", "xml", "a.js"], /--tag-format must be one of rank, ompi/],
    [["-n", "2", "--node-arg", "max-old-space-size=1", "a.js"], /--node-arg expects a Node option/],
    [["-n", "2", "node", "--print", "1"], /not a rank program/],
    [["-n", "2", "node", "--require"], /needs a value/],
    [["-n", "2", "node", "--trace-gc"], /missing the script after 'node'/],
    [["-n", "2", "-x", "1BAD", "a.js"], /-x expects VAR or KEY=VALUE/],
    [["-n", "2", "--oversubscribe=yes", "a.js"], /takes no value/],
  ])("%j is a usage error", (args, msg) => {
    expect(() => run(...args)).toThrow(UsageError);
    expect(() => run(...args)).toThrow(msg);
  });
});

describe("placeRanks", () => {
  // 2 cores with 2 hardware threads each, numbered as Linux numbers them: siblings n and n+2
  const smt: CpuTopology = { cpus: [0, 1, 2, 3], cores: [[0, 2], [1, 3]], online: 4 };

  it("--bind-to core --map-by core: core r mod #cores, all its threads", () => {
    expect(placeRanks(3, "core", "core", smt)).toEqual([[0, 2], [1, 3], [0, 2]]);
  });
  it("--bind-to hwthread --map-by core: the threads of each core in turn as ranks wrap", () => {
    expect(placeRanks(4, "hwthread", "core", smt)).toEqual([[0], [1], [2], [3]]);
  });
  it("--map-by slot: CPU r mod #CPUs, bound to it or to its core", () => {
    expect(placeRanks(5, "hwthread", "slot", smt)).toEqual([[0], [1], [2], [3], [0]]);
    expect(placeRanks(2, "core", "slot", smt)).toEqual([[0, 2], [1, 3]]);
  });
  it("--bind-to none: no placement", () => {
    expect(placeRanks(2, "none", "core", smt)).toBeUndefined();
  });
  it("oversubscription counts cores when binding to cores, CPUs otherwise", () => {
    expect(oversubscriptionWarning(4, "none", smt)).toBeUndefined();
    expect(oversubscriptionWarning(3, "core", smt)).toMatch(/3 ranks on 2 cores/);
    expect(oversubscriptionWarning(5, "none", smt)).toMatch(/5 ranks on 4 CPUs \(this process may use CPUs 0-3\)/);
  });
});

describe("--output-filename layout", () => {
  it("pads the rank as Open MPI does and honours nojobid/nocopy", () => {
    const f = parseOutputFilename("logs", "/w");
    expect(f).toEqual({ dir: "/w/logs", copy: true, jobLevel: true });
    expect(rankOutputDir(f, 3, 8)).toBe("/w/logs/1/rank.3");
    expect(rankOutputDir(f, 3, 10)).toBe("/w/logs/1/rank.03");
    expect(rankOutputDir(f, 7, 100)).toBe("/w/logs/1/rank.007");
    const g = parseOutputFilename("/abs/o:NoCopy,nojobid", "/w");
    expect(g).toEqual({ dir: "/abs/o", copy: false, jobLevel: false });
    expect(rankOutputDir(g, 0, 2)).toBe("/abs/o/rank.0");
    expect(() => parseOutputFilename("o:fancy", "/w")).toThrow(/unknown output-filename directive/);
  });
});

describe("CPU lists", () => {
  it("format and parse as the kernel writes Cpus_allowed_list", () => {
    expect(formatCpuList([8, 0, 1, 2, 5, 7])).toBe("0-2,5,7-8");
    expect(parseCpuList("0-2,5,7-8")).toEqual([0, 1, 2, 5, 7, 8]);
    expect(() => parseCpuList("3-1")).toThrow(/not a CPU list/);
  });
});
