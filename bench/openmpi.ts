// Open MPI next to onecopy: builds bench/native/osu_lite.c (an OSU-style latency/bandwidth
// program) with mpicc and runs it with Open MPI's shared-memory transport in two modes:
//
//   ompi-cma        ob1 + btl self,vader|sm, single copy = CMA (process_vm_readv), the same
//                   mechanism onecopy uses
//   ompi-nosc       the same with single copy off: copy-in/copy-out through shared memory
//   ompi-cma-huge   (optional) CMA with osu_lite's buffers on 2 MiB huge pages
//
// Used by `node bench/run.js p2p-suite --ompi` (columns "Open MPI (cma)", "Open MPI (no single
// copy)"); alone, `node bench/run.js openmpi [--quick]` prints the Open MPI numbers only.
// bench/versus-ompi.ts builds and runs bench/native/osu_coll.c (collectives and the table's
// other cells) the same way, through buildOsuProgram / ompiCommand({ np, binary }) / runMpiJson.
// Open MPI is optional and never a dependency: without mpicc/mpirun this explains how to
// install it and exits 0. ONECOPY_BENCH_MPIRUN / ONECOPY_BENCH_MPICC override the commands
// (e.g. ONECOPY_BENCH_MPIRUN=/nonexistent to see the explanation); ONECOPY_BENCH_MPIRUN_ARGS
// adds mpirun arguments (e.g. "--bind-to core"; the default is --bind-to none, like onecopy's
// unbound Node ranks).
//
// The MCA parameters follow the installed version (`mpirun --version`):
//   4.x  --mca pml ob1 --mca btl self,vader --mca btl_vader_single_copy_mechanism cma|none
//   5.x  --mca pml ob1 --mca btl self,sm    --mca smsc cma | --mca smsc ^<every smsc component>
// and every run is checked: osu_lite reads the effective MPI_T control variables and counts
// the library's process_vm_readv/writev calls (≥ 1 per large message with CMA, 0 without).
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, statSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));

export const OMPI_INSTALL_HELP = `Open MPI was not found (mpicc and mpirun must be on PATH). It is optional: the --ompi columns
only put a real MPI's numbers next to onecopy's. To install it:
  Debian/Ubuntu:  sudo apt-get install openmpi-bin libopenmpi-dev
  Fedora/RHEL:    sudo dnf install openmpi openmpi-devel && module load mpi/openmpi-x86_64
                  (or: export PATH=/usr/lib64/openmpi/bin:$PATH)
  Arch:           sudo pacman -S openmpi
  macOS:          not supported (onecopy needs Linux CMA)
then re-run with --ompi. (ONECOPY_BENCH_MPIRUN / ONECOPY_BENCH_MPICC point at other commands.)`;

export type OmpiModeName = "ompi-cma" | "ompi-nosc" | "ompi-cma-huge";

export interface OmpiMode {
  name: OmpiModeName;
  /** Column label in p2p-suite's tables. */
  label: string;
  /** Expected single-copy use (checked against osu_lite's CMA call count). */
  singleCopy: boolean;
  hugepages: boolean;
  /** The MCA arguments that select the mode. */
  mca: string[];
}

export type OmpiSetup =
  | { available: false; reason: string; help: string }
  | {
      available: true;
      mpirun: string;
      mpicc: string;
      version: string;
      major: number;
      binary: string;
      /** MCA arguments common to every mode. */
      common: string[];
      modes: OmpiMode[];
      /** MPI_T control variables osu_lite prints to confirm the mode took effect. */
      cvars: string[];
    };

export interface OmpiResult {
  bench: "latency" | "bw";
  size: number;
  unit: "us" | "MB/s";
  window: number;
  samples: number[];
  iters: number[];
  cmaCalls: number;
  cmaBytes: number;
  /** The last message's first and last byte arrived. */
  dataOk: boolean;
}

export interface OmpiRun {
  mode: OmpiModeName;
  command: string[];
  header: Record<string, unknown> | null;
  cvars: Record<string, unknown>;
  results: OmpiResult[];
  ok: boolean;
  message?: string;
  stderr: string;
}

/** The path of an executable: an absolute/relative path as is (if executable), else a PATH search. */
function which(cmd: string): string | null {
  const isExe = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes("/")) return isExe(cmd) ? resolve(cmd) : null;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir && isExe(join(dir, cmd))) return join(dir, cmd);
  return null;
}

function run(cmd: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: mpiEnv(), timeout: 60_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

function mpiEnv(): NodeJS.ProcessEnv {
  // Open MPI refuses to run as root without these (5.x wants both; 4.x also takes the flag).
  return process.getuid?.() === 0 ? { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1" } : process.env;
}

/**
 * Finds Open MPI, picks the MCA parameters for its version and builds osu_lite (when stale)
 * into bench/native/build/. Never throws: returns { available: false } with the reason.
 */
export function setupOpenMpi(o: { hugepages?: boolean } = {}): OmpiSetup {
  const unavailable = (reason: string, help = OMPI_INSTALL_HELP) => ({ available: false as const, reason, help });
  const mpirun = which(process.env.ONECOPY_BENCH_MPIRUN || "mpirun");
  const mpicc = which(process.env.ONECOPY_BENCH_MPICC || "mpicc");
  if (!mpirun || !mpicc)
    return unavailable(`${[!mpirun && `mpirun (${process.env.ONECOPY_BENCH_MPIRUN || "PATH"})`, !mpicc && `mpicc (${process.env.ONECOPY_BENCH_MPICC || "PATH"})`].filter(Boolean).join(" and ")} not found`);
  const v = run(mpirun, ["--version"]);
  const m = /Open MPI\)?\s+v?(\d+)\.(\d+)(?:\.(\d+))?\S*/i.exec(v.out);
  if (!m)
    return unavailable(
      `${mpirun} is not Open MPI (\`mpirun --version\` says: ${v.out.split("\n")[0]?.trim() || "nothing"})`,
      `${OMPI_INSTALL_HELP}\n(Another MPI's mpirun is first on PATH; point ONECOPY_BENCH_MPIRUN/ONECOPY_BENCH_MPICC at Open MPI's.)`,
    );
  const version = m[0].replace(/^Open MPI\)?\s+v?/i, "");
  const major = Number(m[1]);

  let common: string[];
  let cma: string[];
  let nosc: string[];
  let cvars: string[];
  if (major <= 2) return unavailable(`Open MPI ${version} is too old (vader's single_copy_mechanism needs ≥ 3.0)`);
  if (major <= 4) {
    // 3.x/4.x: btl "vader" with an enum parameter (xpmem, cma, knem, none).
    common = ["--mca", "pml", "ob1", "--mca", "btl", "self,vader"];
    cma = ["--mca", "btl_vader_single_copy_mechanism", "cma"];
    nosc = ["--mca", "btl_vader_single_copy_mechanism", "none"];
    cvars = ["btl_vader_single_copy_mechanism", "btl", "pml"];
  } else {
    // 5.x: btl "sm"; single copy moved to the "smsc" framework (cma, xpmem, knem, …). Select
    // cma alone, or exclude every installed smsc component to turn single copy off.
    const info = run(which("ompi_info") ?? "ompi_info", ["--parsable"]);
    const smsc = [...new Set([...info.out.matchAll(/^mca:smsc:([a-z0-9_]+):/gm)].map((x) => x[1]!))].filter((c) => c !== "base");
    const all = smsc.length ? smsc : ["cma", "xpmem", "knem"];
    common = ["--mca", "pml", "ob1", "--mca", "btl", "self,sm"];
    cma = ["--mca", "smsc", "cma"];
    nosc = ["--mca", "smsc", `^${all.join(",")}`];
    cvars = ["smsc", "btl", "pml"];
  }
  const modes: OmpiMode[] = [
    { name: "ompi-cma", label: "Open MPI (cma)", singleCopy: true, hugepages: false, mca: cma },
    { name: "ompi-nosc", label: "Open MPI (no single copy)", singleCopy: false, hugepages: false, mca: nosc },
  ];
  if (o.hugepages) modes.push({ name: "ompi-cma-huge", label: "Open MPI (cma, huge pages)", singleCopy: true, hugepages: true, mca: cma });

  const built = buildOsuProgram(mpicc, version, "osu_lite");
  if (!built.ok) return unavailable(built.reason, built.help);
  const binary = built.binary;
  return { available: true, mpirun, mpicc, version, major, binary, common, modes, cvars };
}

/**
 * Builds bench/native/<program>.c (with osu_common.h) with mpicc into bench/native/build/,
 * per Open MPI version (switching installations rebuilds), when the binary is older than
 * either source.
 */
export function buildOsuProgram(
  mpicc: string,
  version: string,
  program: "osu_lite" | "osu_coll" | "osu_rma",
): { ok: true; binary: string } | { ok: false; reason: string; help: string } {
  const src = join(here, "native", `${program}.c`);
  const sources = [src, join(here, "native", "osu_common.h")];
  const buildDir = join(here, "native", "build");
  const binary = join(buildDir, `${program}-ompi${version}`);
  const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
  if (existsSync(binary) && statSync(binary).mtimeMs >= newest) return { ok: true, binary };
  mkdirSync(buildDir, { recursive: true });
  // -rdynamic: the process_vm_readv/writev wrappers (call counters, osu_common.h) must be what
  // the library's calls resolve to.
  const b = spawnSync(mpicc, ["-O2", "-rdynamic", "-o", binary, src, "-ldl"], { encoding: "utf8", env: mpiEnv() });
  if (b.status !== 0)
    return {
      ok: false,
      reason: `building ${src} with ${mpicc} failed:\n${b.stderr || b.error?.message || `exit ${b.status}`}`,
      help: "mpicc is there but could not build a small MPI program: is the development package installed (Debian/Ubuntu: libopenmpi-dev; Fedora: openmpi-devel)?",
    };
  return { ok: true, binary };
}

/** The full mpirun command line of one mode. */
export function ompiCommand(
  s: Extract<OmpiSetup, { available: true }>,
  mode: OmpiMode,
  args: string[],
  o: { np?: number; binary?: string } = {},
): string[] {
  const extra = (process.env.ONECOPY_BENCH_MPIRUN_ARGS ?? "").split(/\s+/).filter(Boolean);
  return [
    s.mpirun,
    "--allow-run-as-root",
    "--oversubscribe",
    "-np",
    String(o.np ?? 2),
    "--bind-to",
    "none",
    ...extra,
    ...s.common,
    ...mode.mca,
    o.binary ?? s.binary,
    ...(mode.hugepages ? ["--hugepages"] : []),
    "--cvar",
    s.cvars.join(","),
    ...args,
  ];
}

export interface OmpiMeasureOptions {
  sizes: number[];
  benches?: Array<"latency" | "bw">;
  reps: number;
  targetMs: number;
  warmupMs: number;
  window?: number;
  maxWindowBytes?: number;
  timeoutMs?: number;
}

/** Runs osu_lite under mpirun in one mode; resolves (never rejects) with what it printed. */
export function measureOpenMpi(s: Extract<OmpiSetup, { available: true }>, mode: OmpiMode, o: OmpiMeasureOptions): Promise<OmpiRun> {
  const cmd = ompiCommand(s, mode, [
    "--bench",
    (o.benches ?? ["latency", "bw"]).join(","),
    "--sizes",
    o.sizes.join(","),
    "--reps",
    String(o.reps),
    "--target-ms",
    String(o.targetMs),
    "--warmup-ms",
    String(o.warmupMs),
    "--window",
    String(o.window ?? 64),
    "--max-window-bytes",
    String(o.maxWindowBytes ?? 256 * 1024 * 1024),
  ]);
  return runMpiJson(cmd, o.timeoutMs ?? 600_000).then((x) => {
    const r: OmpiRun = { mode: mode.name, command: cmd, header: null, cvars: {}, results: [], ok: false, stderr: x.stderr, message: x.message };
    for (const j of x.objects) {
      if (j.type === "header") r.header = j;
      else if (j.type === "cvar") r.cvars[String(j.name)] = j.value;
      else if (j.type === "result") r.results.push(j as unknown as OmpiResult);
    }
    const wrong = r.results.filter((y) => !y.dataOk);
    r.ok = x.code === 0 && r.results.length > 0 && wrong.length === 0;
    if (wrong.length) r.message ??= `wrong data received at ${wrong.map((y) => `${y.bench} ${y.size} B`).join(", ")}`;
    if (!r.ok) r.message ??= `mpirun ${x.signal ?? `exit ${x.code}`}${r.results.length ? "" : ", no results"}`;
    return r;
  });
}

/** What an mpirun printed: every stdout line that is a JSON object, and stderr. */
export interface MpiOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  objects: Array<Record<string, unknown>>;
  stderr: string;
  /** Why it did not run or was stopped (spawn error, timeout). */
  message?: string;
}

/** Runs an mpirun command line; resolves (never rejects) when it has exited. */
export function runMpiJson(cmd: string[], timeoutMs: number): Promise<MpiOutput> {
  return new Promise((done) => {
    const p = spawn(cmd[0]!, cmd.slice(1), { env: mpiEnv(), stdio: ["ignore", "pipe", "pipe"] });
    const r: MpiOutput = { code: null, signal: null, objects: [], stderr: "" };
    let buf = "";
    p.stdout.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line.startsWith("{")) continue;
        try {
          r.objects.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not ours */
        }
      }
    });
    p.stderr.setEncoding("utf8").on("data", (d: string) => (r.stderr += d));
    const timer = setTimeout(() => {
      r.message = `timed out after ${timeoutMs} ms`;
      p.kill("SIGTERM");
    }, timeoutMs);
    p.on("error", (e) => {
      clearTimeout(timer);
      r.message = e.message;
      done(r);
    });
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      r.code = code;
      r.signal = signal;
      done(r);
    });
  });
}

/** Appends another run's samples to the results of earlier runs of the same mode. */
export function mergeOmpi(into: OmpiResult[], more: OmpiResult[]): OmpiResult[] {
  for (const m of more) {
    const t = into.find((x) => x.bench === m.bench && x.size === m.size);
    if (t) {
      t.samples.push(...m.samples);
      t.iters.push(...m.iters);
      t.cmaCalls += m.cmaCalls;
      t.cmaBytes += m.cmaBytes;
      t.dataOk &&= m.dataOk;
    } else into.push({ ...m, samples: [...m.samples], iters: [...m.iters] });
  }
  return into;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * Checks that every mode did what its name says: the effective control variable, and CMA
 * calls for messages above the eager limit (≥ 64 KiB) only in the single-copy modes. Returns
 * notes; lines starting with "MODE CHECK FAILED" mean a column is not what its label says.
 */
export function checkOpenMpi(s: Extract<OmpiSetup, { available: true }>, runs: OmpiRun[]): string[] {
  const notes: string[] = [];
  for (const mode of s.modes) {
    const rs = runs.filter((r) => r.mode === mode.name && r.ok);
    if (!rs.length) continue;
    const cv = rs[0]!.cvars;
    const mech = s.major <= 4 ? cv.btl_vader_single_copy_mechanism : cv.smsc;
    const counting = rs[0]!.header?.cmaCounting === true;
    const large = rs.flatMap((r) => r.results.filter((x) => x.bench === "bw" && x.size >= 64 * 1024));
    const calls = large.reduce((a, x) => a + x.cmaCalls, 0);
    const bytes = large.reduce((a, x) => a + x.cmaBytes, 0);
    const what = `${mode.name}: ${s.major <= 4 ? "btl_vader_single_copy_mechanism" : "smsc"} = ${JSON.stringify(mech)}, ${counting ? `${calls} process_vm_readv/writev calls (${(bytes / 2 ** 20).toFixed(0)} MiB) in bw ≥ 64 KiB` : "CMA calls not countable (library bypasses the libc wrapper)"}`;
    const bad = mode.singleCopy ? (counting && calls === 0) || (s.major <= 4 && mech !== "cma") : (counting && calls > 0) || (s.major <= 4 && mech !== "none");
    notes.push(bad ? `MODE CHECK FAILED ${what}` : `mode check ok: ${what}`);
  }
  // The two modes must also measure differently (same numbers = the switch did nothing).
  const bw = (mode: OmpiModeName, size: number) => {
    const xs = runs.filter((r) => r.mode === mode).flatMap((r) => r.results.find((x) => x.bench === "bw" && x.size === size)?.samples ?? []);
    return xs.length ? median(xs) : undefined;
  };
  const sizes = [...new Set(runs.flatMap((r) => r.results.filter((x) => x.bench === "bw" && x.size >= 64 * 1024).map((x) => x.size)))].sort((a, b) => a - b);
  const rat = sizes.map((sz) => [sz, bw("ompi-nosc", sz), bw("ompi-cma", sz)] as const).filter(([, a, b]) => a && b);
  if (rat.length)
    notes.push(
      `no-single-copy / cma bandwidth: ${rat.map(([sz, a, b]) => `${sz >= 2 ** 20 ? `${sz / 2 ** 20} MiB` : `${sz / 1024} KiB`} ${(a! / b!).toFixed(2)}`).join(", ")}`,
    );
  return notes;
}

// ------------------------------------------------------------------------------ standalone
// `node bench/run.js openmpi [--quick] [--no-huge]`: the Open MPI columns alone.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const quick = argv.includes("--quick");
  const setup = setupOpenMpi({ hugepages: !argv.includes("--no-huge") });
  if (!setup.available) {
    console.log(`Open MPI comparison skipped: ${setup.reason}\n\n${setup.help}`);
    process.exit(0);
  }
  const sizes: number[] = [];
  for (let sz = 1; sz <= 64 * 2 ** 20; sz *= 4) sizes.push(sz);
  console.log(`Open MPI ${setup.version}: ${setup.mpirun}; common MCA: ${setup.common.join(" ")}`);
  const runs: OmpiRun[] = [];
  for (const mode of setup.modes) {
    console.log(`${mode.label}: ${ompiCommand(setup, mode, []).slice(1).join(" ")}`);
    const r = await measureOpenMpi(setup, mode, { sizes, reps: quick ? 3 : 5, targetMs: quick ? 12 : 40, warmupMs: quick ? 150 : 400 });
    if (!r.ok) console.log(`  FAILED: ${r.message}\n${r.stderr}`);
    runs.push(r);
  }
  const fmt = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0));
  for (const bench of ["latency", "bw"] as const) {
    console.log(`\n${bench === "latency" ? "latency, µs (half round trip)" : "bandwidth, MB/s (window 64)"}`);
    console.log(["size".padEnd(8), ...setup.modes.map((m) => m.label.padStart(28))].join(""));
    for (const sz of sizes) {
      const cells = setup.modes.map((m) => {
        const xs = runs.find((r) => r.mode === m.name)?.results.find((x) => x.bench === bench && x.size === sz)?.samples ?? [];
        return (xs.length ? fmt(median(xs)) : "—").padStart(28);
      });
      console.log([String(sz).padEnd(8), ...cells].join(""));
    }
  }
  console.log();
  for (const n of checkOpenMpi(setup, runs)) console.log(n);
  process.exit(runs.every((r) => r.ok) ? 0 : 1);
}
