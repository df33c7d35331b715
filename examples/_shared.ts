/**
 * Helpers the examples share: command-line flags, the verification line and the final report
 * (time and the bytes every rank moved, by path, from comm.stats()). Not an example itself.
 */
import type { Comm, TransportStats } from "onecopy";

type Flags = Record<string, number | boolean | string>;

/**
 * Parse `--name value` / `--name=value` / `--flag` into a copy of `defaults` (numbers accept
 * `1e6`, `20_000_000`, `4k`, `2M`). `--small` applies the `small` overrides first, so explicit
 * flags still win: `--small --steps 3`.
 */
export function flags<T extends Flags>(defaults: T, small: Partial<T> = {}, argv = process.argv.slice(2)): T & { small: boolean } {
  const out: Flags = { ...defaults, small: false };
  if (argv.includes("--small")) Object.assign(out, small, { small: true });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--") || a === "--small") continue;
    const eq = a.indexOf("=");
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (!(name in out)) usage(`unknown option --${name} (options: ${Object.keys(out).map((k) => `--${k}`).join(" ")})`);
    const def = out[name];
    if (typeof def === "boolean" && eq < 0) {
      out[name] = true;
      continue;
    }
    const raw = eq < 0 ? argv[++i] : a.slice(eq + 1);
    if (raw === undefined) usage(`--${name} needs a value`);
    out[name] = typeof def === "number" ? num(name, raw) : typeof def === "boolean" ? raw !== "false" && raw !== "0" : raw;
  }
  return out as T & { small: boolean };
}

function num(name: string, raw: string): number {
  const m = /^([0-9._e+-]+)([kKmMgG]?)$/.exec(raw.trim());
  const v = m ? Number(m[1]!.replace(/_/g, "")) * ({ "": 1, k: 1e3, m: 1e6, g: 1e9 }[m[2]!.toLowerCase()] ?? 1) : NaN;
  if (!Number.isFinite(v)) usage(`--${name}: '${raw}' is not a number`);
  return v;
}

function usage(msg: string): never {
  console.error(msg);
  process.exit(2);
}

/**
 * Combine every rank's verdict at rank 0 and print the verification line; exits non-zero on
 * every rank if any rank failed. Collective (point-to-point underneath, tag `tag`).
 */
export async function verify(comm: Comm, name: string, ok: boolean, detail: string, tag = 32_001): Promise<void> {
  const mine = { rank: comm.rank, ok, detail };
  let all = [mine];
  if (comm.rank !== 0) await comm.sendObject(mine, 0, tag);
  else for (let r = 1; r < comm.size; r++) all.push((await comm.recvObject<typeof mine>(r, tag)).value);
  // Everyone learns the verdict, so every rank exits with the same code.
  let verdict = all.every((x) => x.ok);
  if (comm.rank === 0) for (let r = 1; r < comm.size; r++) await comm.sendObject(verdict, r, tag);
  else verdict = (await comm.recvObject<boolean>(0, tag)).value;
  if (comm.rank === 0) {
    if (verdict) console.log(`${name}: verification OK — ${detail}`);
    else for (const x of all.filter((y) => !y.ok)) console.log(`${name}: verification FAILED on rank ${x.rank} — ${x.detail}`);
  }
  if (!verdict) {
    await comm.close();
    process.exit(1);
  }
}

/** Bytes as a short human string (binary units). */
export function human(bytes: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
}

/**
 * Print the final report at rank 0: elapsed time and what all ranks together received, by
 * path (each byte is counted once, by the process that moved it). `stats` is this rank's
 * snapshot (take it before the report's own messages). Collective.
 */
export async function report(comm: Comm, name: string, seconds: number, stats: TransportStats = comm.stats(), tag = 32_002): Promise<void> {
  if (comm.rank !== 0) {
    await comm.sendObject(stats, 0, tag);
    return;
  }
  const all = [stats];
  for (let r = 1; r < comm.size; r++) all.push((await comm.recvObject<TransportStats>(r, tag)).value);
  const sum = (f: (s: TransportStats) => number) => all.reduce((a, s) => a + (f(s) ?? 0), 0);
  const parts = [
    `single-copy ${human(sum((s) => s.singleCopy.bytes))} (${sum((s) => s.singleCopy.messages)} msgs)`,
    `shm ${human(sum((s) => s.shm?.bytes ?? 0))} (${sum((s) => s.shm?.messages ?? 0)} msgs)`,
    `socket fallback ${human(sum((s) => s.fallback.bytes))} (${sum((s) => s.fallback.messages)} msgs)`,
    `eager ${human(sum((s) => s.eager.bytes))} (${sum((s) => s.eager.messages)} msgs)`,
  ];
  const self = sum((s) => s.self?.bytes ?? 0);
  if (self > 0) parts.push(`self ${human(self)}`);
  console.log(`${name}: ${seconds.toFixed(3)} s on ${comm.size} rank${comm.size > 1 ? "s" : ""}; received by path (all ranks): ${parts.join(", ")}`);
}

/** A small, fast, seedable PRNG (xorshift128+ folded to 52-bit doubles in [0, 1)). */
export function rng(seed: number): () => number {
  let s0 = (seed * 0x9e3779b1) >>> 0 || 1;
  let s1 = (seed * 0x85ebca6b + 0x12345) >>> 0 || 2;
  let s2 = 0x6c078965 ^ seed;
  let s3 = 0x2545f491;
  // xoshiro128** on 32-bit lanes; two outputs per double.
  const next = (): number => {
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return r;
  };
  for (let i = 0; i < 8; i++) next();
  return () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
