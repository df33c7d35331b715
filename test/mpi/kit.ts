// Run a rank program under the real Open MPI mpirun, its ranks placed on simulated nodes by
// ONECOPY_NODE_ID (one mpirun app context per run of equal names), and read each rank's
// `RESULT <json>` lines from mpirun's tagged output.
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Why mpirun tests cannot run here, or null when they can. */
export const mpirunMissing: string | null = (() => {
  const r = spawnSync("mpirun", ["--version"], { encoding: "utf8" });
  if (r.error) return `mpirun not found (${(r.error as NodeJS.ErrnoException).code}); install Open MPI (apt-get install -y openmpi-bin libopenmpi-dev)`;
  if (!/Open MPI/i.test(r.stdout + r.stderr)) return `mpirun is not Open MPI's (${(r.stdout + r.stderr).split("\n")[0]}); these tests drive Open MPI's mpirun`;
  return null;
})();

export interface MpiRun {
  code: number | null;
  output: string;
  /** RESULT lines by MPI rank, parsed. */
  results: unknown[][];
}

const tsx = fileURLToPath(import.meta.resolve("tsx"));

/** Absolute path of a fixture next to the calling test. */
export function fixture(base: string, name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, base));
}

/**
 * `mpirun` with one app context per run of equal node names: nodes ["a", "a", "b"] starts ranks
 * 0 and 1 with ONECOPY_NODE_ID=a and rank 2 with ONECOPY_NODE_ID=b ("" leaves it unset).
 */
export function runMpi(script: string, o: { nodes: string[]; args?: string[]; env?: Record<string, string>; timeoutMs?: number }): Promise<MpiRun> {
  const contexts: string[][] = [];
  for (let i = 0; i < o.nodes.length; ) {
    let j = i;
    while (j < o.nodes.length && o.nodes[j] === o.nodes[i]) j++;
    const id = o.nodes[i]!;
    contexts.push(["-np", String(j - i), ...(id ? ["-x", `ONECOPY_NODE_ID=${id}`] : []), process.execPath, "--import", tsx, script, ...(o.args ?? [])]);
    i = j;
  }
  const argv = ["--oversubscribe", "--allow-run-as-root", "--tag-output", "--mca", "btl", "self,vader", ...contexts.flatMap((c, k) => (k ? [":", ...c] : c))];
  return new Promise((resolve, reject) => {
    const child = spawn("mpirun", argv, {
      env: { ...process.env, ONECOPY_RANK: undefined, ONECOPY_SIZE: undefined, OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1", ...o.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const results: unknown[][] = o.nodes.map(() => []);
      for (const line of output.split("\n")) {
        const m = /^\[\d+,(\d+)\]<stdout>:\s?RESULT (.*)$/.exec(line);
        if (m) results[Number(m[1])]!.push(JSON.parse(m[2]!));
      }
      resolve({ code, output, results });
    });
  });
}
