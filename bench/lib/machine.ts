// Facts about the machine a benchmark ran on, and how busy other work kept it.
import { readFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";

export function machineFacts(): Record<string, unknown> {
  let thp: string | null = null;
  try {
    thp = /\[(\w+)\]/.exec(readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8"))?.[1] ?? null;
  } catch {
    /* not Linux, or no THP */
  }
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "?",
    kernel: release(),
    node: process.version,
    thp,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Busy fraction of all CPUs over `ms` (from /proc/stat); null where unavailable. */
export async function cpuBusy(ms: number): Promise<number | null> {
  const read = () => {
    try {
      const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
      return { idle: f[3]! + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (!a || !b || b.total === a.total) return null;
  return 1 - (b.idle - a.idle) / (b.total - a.total);
}
