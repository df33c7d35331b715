// `onecopy info`: what this machine allows, and every tunable with its current value. The one
// diagnostic to run when single copy is unavailable.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, release } from "node:os";
import { pathToFileURL } from "node:url";
import { KNOBS, formatCpuList, cmaAvailability, probe, publishProbeToken, readPtraceScope, shmUnavailableReason, transparentHugePages, userNamespaceOf } from "@onecopy/cma";
import { readTransport } from "@onecopy/rendezvous";
import { bindingUnavailable, placeRanks, readTopology } from "./launcher/binding.js";
import { LAUNCHER_ENV } from "./launcher/env.js";

const require = createRequire(import.meta.url);

function versionOf(pkg: string, from: NodeRequire = require): string {
  try {
    let dir = from.resolve(pkg);
    for (let i = 0; i < 6; i++) {
      dir = dir.slice(0, dir.lastIndexOf("/"));
      try {
        const json = JSON.parse(readFileSync(`${dir}/package.json`, "utf8")) as { name?: string; version?: string };
        if (json.name === pkg) return json.version ?? "?";
      } catch {
        /* keep walking up */
      }
    }
  } catch {
    /* not installed */
  }
  return "?";
}

/** Probe CMA against a real second process: the only answer that cannot lie. */
function probeChild(): string {
  const cmaUrl = pathToFileURL(require.resolve("@onecopy/cma")).href;
  // A helper process starts a peer that publishes its probe token and waits, probes it, then
  // lets it go: reading another live process, as ranks do.
  const child = `const m = await import(${JSON.stringify(cmaUrl)}); console.log(JSON.stringify(m.publishProbeToken())); await new Promise(r => process.stdin.once("data", r));`;
  const script = `
    const m = await import(${JSON.stringify(cmaUrl)});
    const { spawn } = await import("node:child_process");
    const c = spawn(process.execPath, ["--input-type=module", "-e", ${JSON.stringify(child)}], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    for await (const chunk of c.stdout) { out += chunk; if (out.includes("\\n")) break; }
    const r = m.probe(JSON.parse(out));
    c.stdin.end("x");
    console.log(JSON.stringify(r));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 15_000 });
  if (r.status !== 0) return `probe could not run: ${r.stderr.trim() || r.error?.message}`;
  const res = JSON.parse(r.stdout.trim().split("\n").pop()!) as { usable: boolean; reason?: string };
  return res.usable ? "usable (a real 8-byte read between two processes succeeded)" : `NOT usable: ${res.reason}`;
}

/** CPUs this process may use, their cores, and how the launcher bound this process (if it did). */
function bindingLines(): string[] {
  const topo = readTopology();
  const why = bindingUnavailable();
  const bound = process.env[LAUNCHER_ENV.binding];
  const cores = topo.cores.map((c, i) => `core ${i} = CPUs ${formatCpuList(c)}`).join(", ");
  const example = placeRanks(Math.min(topo.cores.length, 4), "core", "core", topo)!;
  const placed = example.map((c, r) => `rank ${r}: CPUs ${formatCpuList(c)}`).join(", ") + (topo.cores.length > 4 ? ", ..." : "");
  return [
    "CPU binding",
    `  allowed CPUs:        ${formatCpuList(topo.cpus)} (${topo.cpus.length} of ${topo.online} online; ${why ? "sched_getaffinity unavailable, all assumed" : "sched_getaffinity"})`,
    `  physical cores:      ${topo.cores.length} (${cores})`,
    `  bound by launcher:   ${bound ? `${bound.replace(":", ", CPUs ")} (${LAUNCHER_ENV.binding}=${bound})` : "no (not started by onecopy run --bind-to)"}`,
    `  --bind-to core:      ${why ? `unavailable: ${why}` : `rank r on core r mod ${topo.cores.length} (${placed})`}`,
  ];
}

/** The report printed by `onecopy info`. */
export function infoText(): string {
  const avail = cmaAvailability();
  const scope = readPtraceScope();
  const self = avail.available ? probe(publishProbeToken()) : null;
  const lines = [
    `onecopy ${versionOf("onecopy")}: Node ${process.version}, koffi ${versionOf("koffi", createRequire(require.resolve("@onecopy/cma")))}, ${process.platform} ${release()} ${process.arch}, ${cpus().length} cores`,
    "",
    "Single copy (Cross Memory Attach)",
    `  this process:        ${avail.available ? "may use CMA" : `unavailable: ${avail.reason}`}`,
    `  between processes:   ${avail.available ? probeChild() : "not tried"}`,
    `  self read:           ${self ? (self.usable ? "ok" : self.reason) : "not tried"}`,
    `  Yama ptrace_scope:   ${scope === null ? "not present" : scope}`,
    `  user namespace:      ${userNamespaceOf() ?? "unknown"}`,
    `  transparent huge pages: ${transparentHugePages() ?? "not present"} (allocBuffer asks for them with madvise)`,
    `  ordinary buffers:    ${/(^|:)glibc\.malloc\.hugetlb=1/.test(process.env.GLIBC_TUNABLES ?? "") ? "on huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, as onecopy run sets it)" : "on 4 KiB pages in this process (onecopy run puts ranks' large allocations on huge pages: ONECOPY_THP)"}`,
    "",
    "Transport",
    `  ONECOPY_TRANSPORT:   ${readTransport()} (cma: single copy where the pair allows it; shm: shared-memory double copy; socket: bytes over the socket)`,
    `  shared memory:       ${shmUnavailableReason() ?? "usable (/dev/shm) — the fallback for pairs without CMA"}`,
    "",
    ...bindingLines(),
    "",
    "Tunables (environment variable = current value; default)",
  ];
  for (const [name, k] of Object.entries(KNOBS)) {
    lines.push(`  ${k.env} = ${process.env[k.env] ?? "(unset)"}; default ${String(k.default)}   [${k.layer}: ${name}]`);
    lines.push(`      ${k.doc}`);
  }
  return lines.join("\n") + "\n";
}
