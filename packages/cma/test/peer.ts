// Test helper: start a real second Node process running fixtures/peer-main.ts and talk to it
// over the Node IPC channel. No mocks: the tests copy between the vitest worker and this peer.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll } from "vitest";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

export const FIXTURE = fileURLToPath(new URL("./fixtures/peer-main.ts", import.meta.url));
/** `--import` argument that registers tsx, as an absolute URL (independent of the cwd). */
export const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/** Command prefixes that run the peer as another user or in another user namespace. */
export const AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
export const IN_USERNS = ["unshare", "-U", "-r"];

/** The error a peer reported for a failed request. */
export class PeerError extends Error {
  code: string;
  errno?: number;
  done?: number;
  constructor(e: { name: string; code: string; message: string; errno?: number; done?: number }) {
    super(e.message);
    this.name = e.name;
    this.code = e.code;
    this.errno = e.errno;
    this.done = e.done;
  }
}

export interface Peer {
  pid: number;
  uid: number;
  userns: string | null;
  child: ChildProcess;
  /** Send a request to the peer; resolves with its result or rejects with a {@link PeerError}. */
  call<T = any>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Ask the peer to exit; kill it if it does not within a second. */
  close(): Promise<void>;
  /** Resolves when the process has exited (and been reaped). */
  exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_OPTIONS; // the vitest worker's loader flags are not for the peer
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

export interface PeerOptions {
  /** Extra environment (undefined deletes a variable). */
  env?: Record<string, string | undefined>;
  /** Command prefix, e.g. {@link AS_NOBODY} or {@link IN_USERNS}. */
  wrap?: string[];
}

/** Start a peer and wait until it reports ready. */
export function startPeer(opts: PeerOptions = {}): Promise<Peer> {
  const wrap = opts.wrap ?? [];
  const argv = [process.execPath, "--import", TSX, FIXTURE];
  const [cmd, ...args] = [...wrap, ...argv];
  const child = spawn(cmd!, args, {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced",
    env: childEnv(opts.env),
  });
  live.add(child);
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void }>();
  child.on("message", (raw: any) => {
    const p = pending.get(raw?.id);
    if (!p) return;
    pending.delete(raw.id);
    if (raw.ok) p.resolve(raw.result);
    else p.reject(new PeerError(raw.error));
  });
  void exited.then((code) => {
    for (const p of pending.values()) p.reject(new Error(`peer exited (code ${code}) with requests pending; stderr: ${stderr}`));
    pending.clear();
  });

  return new Promise<Peer>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`peer did not start within 20 s; stderr: ${stderr}`));
    }, 20_000);
    const onEarlyExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`peer exited before it was ready (code ${code}); stderr: ${stderr}`));
    };
    child.once("exit", onEarlyExit);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const onReady = (raw: any) => {
      if (!raw?.ready) return;
      child.off("message", onReady);
      child.off("exit", onEarlyExit);
      clearTimeout(timer);
      resolve({
        pid: raw.pid,
        uid: raw.uid,
        userns: raw.userns,
        child,
        exited,
        call(op, a = {}) {
          if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`peer ${raw.pid} has exited; stderr: ${stderr}`));
          const id = nextId++;
          return new Promise((res, rej) => {
            pending.set(id, { resolve: res, reject: rej });
            child.send({ id, op, ...a });
          });
        },
        async close() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const t = setTimeout(() => child.kill("SIGKILL"), 1000);
          try {
            child.send({ op: "exit" });
          } catch {
            child.kill("SIGKILL");
          }
          await exited;
          clearTimeout(t);
        },
      });
    };
    child.on("message", onReady);
  });
}

/** Close every peer in the list, ignoring ones that are already gone. */
export async function closeAll(peers: Array<Peer | undefined>): Promise<void> {
  await Promise.all(peers.map((p) => p?.close().catch(() => p.child.kill("SIGKILL"))));
}

/**
 * Whether the peer fixture starts under `wrap` (e.g. setpriv is installed and uid 65534 can
 * read the repository). Returns a reason when it cannot, for the skip message.
 */
export function canWrap(wrap: string[]): { ok: boolean; why: string } {
  const [cmd, ...args] = [...wrap, process.execPath, "--import", TSX, FIXTURE, "--check"];
  const r = spawnSync(cmd!, args, { env: childEnv(), encoding: "utf8", timeout: 20_000 });
  if (r.error) return { ok: false, why: `${wrap[0]} cannot run: ${r.error.message}` };
  if (r.status !== 0 || !r.stdout.startsWith("ok")) {
    return { ok: false, why: `${wrap.join(" ")} failed (status ${r.status}): ${(r.stderr || r.stdout).trim().slice(0, 300)}` };
  }
  return { ok: true, why: "" };
}

/** A region the peer allocated (fixtures/peer-main.ts "alloc"): where it is and its sha256. */
export interface RemoteRegion {
  name: string;
  pid: number;
  iov: number[];
  bytes: number;
  hash: string;
}

/** What "alloc" takes: one buffer of `bytes`, or pieces of `lengths` with `gap` bytes between. */
export interface RegionSpec {
  bytes?: number;
  lengths?: number[];
  gap?: number;
  /** Pattern seed, or null for zeros. */
  seed: number | null;
  kind?: "heap" | "huge";
}

/**
 * One peer for a whole test file: started before its tests, closed after them. `pid` and
 * `call` reach the live peer; `region()` allocates a fresh named region in it.
 */
export function filePeer(opts: PeerOptions = {}) {
  let peer: Peer | undefined;
  let regions = 0;
  beforeAll(async () => {
    peer = await startPeer(opts);
  });
  afterAll(async () => {
    await closeAll([peer]);
  });
  const running = (): Peer => {
    if (!peer) throw new Error("the peer has not started");
    return peer;
  };
  return {
    get pid(): number {
      return running().pid;
    },
    call<T = any>(op: string, args?: Record<string, unknown>): Promise<T> {
      return running().call<T>(op, args);
    },
    async region(spec: RegionSpec): Promise<RemoteRegion> {
      const name = `region${regions++}`;
      return { ...(await running().call<Omit<RemoteRegion, "name">>("alloc", { name, ...spec })), name };
    },
  };
}
