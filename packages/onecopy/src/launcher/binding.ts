// Where ranks run: the CPUs this process may use, grouped into physical cores, and the CPU set
// each rank is pinned to (`--bind-to`, `--map-by`).
//
// How a rank is pinned: the launcher sets its own spawning thread's affinity to the rank's CPUs,
// spawns the rank, and restores its mask (withAffinity). fork() copies the calling thread's mask
// into the child, exec keeps it, and every thread the rank's Node creates inherits it, so V8's and
// libuv's threads are pinned too. Setting the mask of a running rank from outside
// (sched_setaffinity on its pid) would move only its main thread.
import { readFileSync } from "node:fs";
import { cpus as osCpus } from "node:os";
import { cpuAffinityUnavailable, formatCpuList, getCpuAffinity, setCpuAffinity } from "@onecopy/cma";

/** What a rank is bound to: `none` (the default), one physical `core`, or one `hwthread`. */
export const BIND_TARGETS = ["none", "core", "hwthread"] as const;
export type BindTo = (typeof BIND_TARGETS)[number];

/** How ranks are laid out: round robin over physical cores, or over CPUs (`slot`) in order. */
export const MAP_POLICIES = ["core", "slot"] as const;
export type MapBy = (typeof MAP_POLICIES)[number];

/** The CPUs this process may use, as the kernel groups them. */
export interface CpuTopology {
  /** CPUs this process may run on (sched_getaffinity), ascending. */
  cpus: number[];
  /** Those CPUs grouped by physical core (hardware threads of one core together), by first CPU. */
  cores: number[][];
  /** CPUs online on the machine. */
  online: number;
}

function readSys(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * This process's CPUs and their cores (from /sys/devices/system/cpu/cpuN/topology). A CPU whose
 * topology cannot be read counts as a core of its own. Without sched_getaffinity (no koffi),
 * every online CPU counts.
 */
export function readTopology(): CpuTopology {
  const online = osCpus().length;
  let cpus: number[];
  try {
    cpus = getCpuAffinity(0);
  } catch {
    cpus = Array.from({ length: online }, (_, i) => i);
  }
  const byCore = new Map<string, number[]>();
  for (const cpu of cpus) {
    const dir = `/sys/devices/system/cpu/cpu${cpu}/topology`;
    const pkg = readSys(`${dir}/physical_package_id`);
    const core = readSys(`${dir}/core_id`);
    const key = pkg !== undefined && core !== undefined ? `${pkg}:${core}` : `cpu${cpu}`;
    const list = byCore.get(key);
    if (list) list.push(cpu);
    else byCore.set(key, [cpu]);
  }
  const cores = [...byCore.values()].sort((a, b) => a[0]! - b[0]!);
  return { cpus, cores, online };
}

/**
 * The CPUs each of `np` ranks is bound to, or undefined for `bindTo: "none"`.
 *
 * `mapBy: "core"` puts rank r on core r mod (number of cores); `mapBy: "slot"` puts it on the
 * core of CPU r mod (number of CPUs), CPUs taken in ascending order. `bindTo: "core"` gives the
 * rank every allowed hardware thread of that core; `"hwthread"` gives it one: the slot's CPU, or
 * for `mapBy: "core"` the core's threads in turn as the ranks wrap around.
 */
export function placeRanks(np: number, bindTo: BindTo, mapBy: MapBy, topo: CpuTopology): number[][] | undefined {
  if (bindTo === "none") return undefined;
  const coreOf = new Map<number, number[]>();
  for (const core of topo.cores) for (const cpu of core) coreOf.set(cpu, core);
  const out: number[][] = [];
  for (let r = 0; r < np; r++) {
    if (mapBy === "core") {
      const core = topo.cores[r % topo.cores.length]!;
      const turn = Math.floor(r / topo.cores.length);
      out.push(bindTo === "core" ? [...core] : [core[turn % core.length]!]);
    } else {
      const cpu = topo.cpus[r % topo.cpus.length]!;
      out.push(bindTo === "core" ? [...coreOf.get(cpu)!] : [cpu]);
    }
  }
  return out;
}

/** How many ranks the machine can run without two sharing a binding unit (a core or a CPU). */
export function capacity(bindTo: BindTo, topo: CpuTopology): { units: number; unitName: string } {
  return bindTo === "core" ? { units: topo.cores.length, unitName: "cores" } : { units: topo.cpus.length, unitName: "CPUs" };
}

/**
 * The warning for a job of `np` ranks on fewer binding units than ranks, or undefined. It says
 * what oversubscription costs, so a user can decide.
 */
export function oversubscriptionWarning(np: number, bindTo: BindTo, topo: CpuTopology): string | undefined {
  const { units, unitName } = capacity(bindTo, topo);
  if (np <= units) return undefined;
  return (
    `onecopy: warning: ${np} ranks on ${units} ${units === 1 ? unitName.slice(0, -1) : unitName} (this process may use CPUs ${formatCpuList(topo.cpus)}): ` +
    `oversubscribed. Ranks take turns on the CPUs: each computes up to ${Math.ceil(np / units)}x slower, a rank ` +
    `waiting for a message (shared-memory transfers poll) takes CPU time from the rank it waits for, and ` +
    `timings are not representative. --oversubscribe runs like this without the warning.`
  );
}

/** Why `--bind-to` cannot work here, or null. */
export function bindingUnavailable(): string | null {
  return cpuAffinityUnavailable();
}

/**
 * Run `fn` (which forks) with the calling thread restricted to `cpus`, then restore its mask. The
 * child inherits the mask; the launcher keeps its own.
 */
export function withAffinity<T>(cpus: readonly number[] | undefined, fn: () => T): T {
  if (!cpus) return fn();
  const saved = getCpuAffinity(0);
  setCpuAffinity(cpus, 0);
  try {
    return fn();
  } finally {
    setCpuAffinity(saved, 0);
  }
}

/** `core:1` / `hwthread:0,2`: the value of ONECOPY_BINDING for a rank bound to `cpus`. */
export function bindingLabel(bindTo: BindTo, cpus: readonly number[]): string {
  return `${bindTo}:${formatCpuList(cpus)}`;
}
