// The pieces of the pid check on their own, with real processes: the kernel's credentials of a
// Unix socket peer (SO_PEERCRED through koffi), the launcher's pid records, and the ancestry
// rule (the recorded process or one it started; nobody else).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { peerCredentials } from "@onecopy/cma";
import { checkLaunchedAs, isSelfOrDescendant, parentPidOf } from "../src/peer-identity.js";
import { pidRecordPath, readPidRecord, writePidRecord } from "../src/pid-record.js";

const dir = mkdtempSync(join(tmpdir(), "onecopy-identity-"));
const started: number[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** A node process that runs `code`; resolves once it printed "up" (and its pid line, if any). */
function node(code: string): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  started.push(child.pid!);
  return new Promise((resolve) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c;
      if (out.includes("up\n")) resolve({ child, lines: out.trim().split("\n") });
    });
  });
}

describe("peerCredentials", () => {
  it("reports the pid and uid of the process that connected, not what it says", async () => {
    const path = join(dir, "cred.sock");
    let accepted!: Promise<Socket>;
    await new Promise<void>((listening) => {
      accepted = new Promise<Socket>((resolve) => {
        const server = createServer((s) => {
          resolve(s);
          server.close();
        });
        server.listen(path, listening);
      });
    });
    const { child } = await node(`const s = require("node:net").connect(${JSON.stringify(path)}, () => console.log("up")); setInterval(() => {}, 1000);`);
    const s = await accepted;
    const cred = peerCredentials((s as unknown as { _handle: { fd: number } })._handle.fd);
    expect(cred).toEqual({ pid: child.pid, uid: process.getuid!(), gid: process.getgid!() });
    s.destroy();
    expect(() => peerCredentials(987654)).toThrow(expect.objectContaining({ code: "EBADF" }));
  });
});

describe("pid records", () => {
  it("are written 0600 and read back, waiting for one that appears late", async () => {
    const late = setTimeout(() => writePidRecord(dir, 3, 4242), 200);
    const t0 = Date.now();
    expect(await readPidRecord(dir, 3, 5000)).toBe(4242);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    clearTimeout(late);
    expect(statSync(pidRecordPath(dir, 3)).mode & 0o777).toBe(0o600);
    expect(await readPidRecord(dir, 4, 100)).toBeNull();
  });
});

describe("checkLaunchedAs", () => {
  it("accepts the recorded process and its children, and refuses everyone else with a coded reason", async () => {
    // This process plays the launcher: `rank` is its child; `grandchild` was started by `rank`
    // (like a rank that re-executes itself); `stranger` is another child with no record.
    const rank = await node(
      `const c = require("node:child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });` +
        `console.log(c.pid); console.log("up"); setInterval(() => {}, 1000); process.on("SIGTERM", () => { c.kill(); process.exit(); });`,
    );
    const grandchild = Number(rank.lines[0]);
    started.push(grandchild);
    const stranger = await node(`console.log("up"); setInterval(() => {}, 1000);`);
    const rankPid = rank.child.pid!;
    writePidRecord(dir, 1, rankPid);

    expect(parentPidOf(rankPid)).toBe(process.pid);
    expect(parentPidOf(grandchild)).toBe(rankPid);
    expect(isSelfOrDescendant(grandchild, process.pid)).toBe(true);
    expect(isSelfOrDescendant(process.pid, rankPid)).toBe(false);

    expect(await checkLaunchedAs(dir, 1, rankPid, process.pid, 100)).toEqual({ ok: true });
    expect(await checkLaunchedAs(dir, 1, grandchild, process.pid, 100)).toEqual({ ok: true });
    const refused = await checkLaunchedAs(dir, 1, stranger.child.pid!, process.pid, 100);
    expect(refused).toMatchObject({ ok: false, code: "REJECT_NOT_LAUNCHED" });
    expect((refused as { reason: string }).reason).toContain(`launcher started rank 1 as pid ${rankPid}`);
    // A record that does not name a child of the launcher (here: the launcher is someone else).
    expect(await checkLaunchedAs(dir, 1, rankPid, stranger.child.pid!, 100)).toMatchObject({ ok: false, code: "REJECT_NOT_LAUNCHED" });
    expect(await checkLaunchedAs(dir, 2, rankPid, process.pid, 100)).toMatchObject({ ok: false, code: "REJECT_NO_PID_RECORD" });
  });
});
