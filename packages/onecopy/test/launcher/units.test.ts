// Pure units of the launcher (no processes): command-line parsing, byte counts, line splitting.
import { statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createJobDir, jobDirBase, parseByteCount, parseCommandLine, removeJobDir, UsageError } from "../../src/launcher/index.js";

const code = (c: string) => expect.objectContaining({ code: c });
import { OutputSink, RankStreamReader } from "../../src/launcher/output.js";
import { cleanup, exists, tempDir } from "./helpers.js";

describe("parseCommandLine", () => {
  it("stops at the script: everything after it belongs to the app", () => {
    expect(parseCommandLine(["run", "-n", "4", "--tag-output", "app.ts", "-n", "9", "--timeout", "x"])).toEqual({
      command: "run",
      options: { env: {}, np: 4, tagOutput: true, script: "app.ts", args: ["-n", "9", "--timeout", "x"] },
    });
  });

  it("accepts -n N, -nN, -n=N, --np N, --np=N and Open MPI's -np N", () => {
    for (const args of [["-n", "3"], ["-n3"], ["-n=3"], ["--np", "3"], ["--np=3"], ["-np", "3"]]) {
      const cmd = parseCommandLine(["run", ...args, "a.js"]);
      expect(cmd).toMatchObject({ command: "run", options: { np: 3, script: "a.js" } });
    }
  });

  it("parses every option", () => {
    const cmd = parseCommandLine([
      "run", "-n", "2", "--timeout", "1.5", "--no-cma", "--eager-limit", "64KiB", "--transport", "cma",
      "--env", "A=1", "-x", "B=x=y", "--fail-grace", "10", "--kill-grace=20", "--", "--weird-name.js", "arg",
    ]);
    expect(cmd).toEqual({
      command: "run",
      options: {
        np: 2, timeoutMs: 1500, noCma: true, eagerLimit: 65536, transport: "cma", env: { A: "1", B: "x=y" },
        failGraceMs: 10, killGraceMs: 20, script: "--weird-name.js", args: ["arg"],
      },
    });
  });

  it("help and version", () => {
    expect(parseCommandLine(["--help"])).toEqual({ command: "help", topic: "main" });
    expect(parseCommandLine(["run", "--help"])).toEqual({ command: "help", topic: "run" });
    expect(parseCommandLine(["help", "run"])).toEqual({ command: "help", topic: "run" });
    expect(parseCommandLine(["--version"])).toEqual({ command: "version" });
  });

  it.each([
    [["run", "-n"], /needs a value/],
    [["run", "-n", "-1", "a.js"], /positive integer/],
    [["run", "-n", "2000", "a.js"], /at most 1024/],
    [["run", "--tag-output=yes", "-n", "1", "a.js"], /takes no value/],
    [["run", "-n", "1", "--timeout", "-3", "a.js"], /--timeout/],
    [["run", "-n", "1", "--fail-grace", "1s", "a.js"], /--fail-grace/],
  ])("%j is a usage error", (args, msg) => {
    expect(() => parseCommandLine(args)).toThrow(UsageError);
    expect(() => parseCommandLine(args)).toThrow(msg);
  });
});

describe("parseByteCount", () => {
  it.each([
    ["8192", 8192],
    ["64k", 65536],
    ["64K", 65536],
    ["64KiB", 65536],
    ["1M", 1 << 20],
    ["2MiB", 2 << 20],
    ["1g", 1 << 30],
    ["0", 0],
  ])("%s = %d", (text, n) => expect(parseByteCount(text)).toBe(n));

  it.each(["", "-1", "1.5k", "1T", "k", "12 bytes"])("rejects %j", (text) => {
    expect(() => parseByteCount(text)).toThrow(code("ERR_INVALID_ARG"));
  });
});

describe("RankStreamReader", () => {
  function setup(prefix?: string) {
    const out: string[] = [];
    const dest = new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk.toString());
        cb();
      },
    });
    const lines: string[] = [];
    const src = new PassThrough();
    const reader = new RankStreamReader(src, { collect: true, sink: new OutputSink(dest), prefix, onLine: (l) => lines.push(l) });
    return { out, lines, src, reader };
  }

  it("emits whole lines only, tagged, and flushes the tail with a newline when tagging", async () => {
    const { out, lines, src, reader } = setup("[3] ");
    src.write("hel");
    src.write("lo\nwor");
    src.write("ld\nlast");
    src.end();
    await new Promise((r) => setImmediate(r));
    expect(out).toEqual(["[3] hello\n", "[3] world\n", "[3] last\n"]);
    expect(lines).toEqual(["hello", "world", "last"]);
    expect(reader.text()).toBe("hello\nworld\nlast");
  });

  it("keeps multi-byte characters split across chunks intact", async () => {
    const { lines, src, reader } = setup();
    const bytes = Buffer.from("héllo wörld €\n");
    for (const b of bytes) src.write(Buffer.from([b]));
    src.end();
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual(["héllo wörld €"]);
    expect(reader.text()).toBe("héllo wörld €\n");
  });
});

describe("job directory", () => {
  it("prefers a writable $XDG_RUNTIME_DIR, else the temp dir", () => {
    const xdg = tempDir();
    expect(jobDirBase({ XDG_RUNTIME_DIR: xdg })).toBe(xdg);
    expect(jobDirBase({ XDG_RUNTIME_DIR: "/nonexistent/run/user/1" })).toBe(tmpdir());
    expect(jobDirBase({})).toBe(tmpdir());
    cleanup();
  });

  it("is created private (0700) with the onecopy- prefix and removed with its contents", () => {
    const base = tempDir();
    const old = process.umask(0);
    let dir: string;
    try {
      dir = createJobDir(base);
    } finally {
      process.umask(old);
    }
    expect(basename(dir)).toMatch(/^onecopy-/);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    removeJobDir(dir);
    expect(exists(dir)).toBe(false);
    removeJobDir(dir); // idempotent
    cleanup();
  });
});
