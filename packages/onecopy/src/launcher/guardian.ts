// The job guardian: a tiny `/bin/sh` process per job that cleans up after a launcher that was
// killed too hard to do it itself (SIGKILL, the OOM killer).
//
// Design. Every rank leads its own process group, and that group outlives the rank: processes
// the rank started stay in it (unless they leave on purpose, e.g. with setsid). The launcher
// kills each rank's group whenever the job ends in an orderly way (a rank exits or fails, a
// timeout, SIGINT/SIGTERM/SIGHUP, an uncaught exception or process.exit() in the launcher).
// When the launcher is SIGKILLed, two things happen at once, both by the kernel:
//   - each rank gets SIGKILL as its parent-death signal (rank-preload.ts), even mid-computation;
//   - the guardian, which reads a pipe from the launcher, sees end-of-file. It then SIGKILLs
//     every rank's process group (what the ranks started: they would be orphaned, not killed,
//     by the ranks' deaths) and runs job-cleanup.js to remove the job directory and
//     shared-memory segments that the killed ranks could not.
// The launcher tells the guardian over that pipe `+PID` when it starts a rank, `-PID` when it has
// reaped the rank and killed its group (pids are reused: a forgotten group must not be killed
// later), and `end` when the job is over. The guardian is a shell, not a Node process, because
// it idles for the whole job: ~1 MB and ~1 ms instead of ~40 MB and ~40 ms. It runs in its own
// session, so terminal signals meant for the launcher do not reach it.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

// $1 node, $2 job-cleanup.js, $3 job dir, $4 job token. Group ids are kept as " 1 2 3 ".
const SCRIPT = `
pids=' '
while IFS= read -r line; do
  case $line in
    end) exit 0 ;;
    +*) pids="$pids\${line#+} " ;;
    -*) p=\${line#-}
        case $pids in *" $p "*) pids="\${pids%%" $p "*} \${pids#*" $p "}" ;; esac ;;
  esac
done
for p in $pids; do kill -KILL "-$p" 2>/dev/null; done
exec "$1" "$2" "$3" "$4"
`;

/**
 * The compiled job-cleanup module. Resolved through `dist` from both `dist/launcher` and
 * `src/launcher` (when the launcher itself runs from source, e.g. under tsx or vitest): the
 * guardian runs it with plain node.
 */
const CLEANUP_MODULE = fileURLToPath(new URL("../../dist/launcher/job-cleanup.js", import.meta.url));

/** The launcher's end of one job's guardian. Every method is best effort and never throws. */
export class JobGuardian {
  private readonly child: ChildProcess | undefined;
  private done = false;

  constructor(jobDir: string, token: string) {
    if (process.platform === "win32") return;
    try {
      this.child = spawn("/bin/sh", ["-c", SCRIPT, "onecopy-guardian", process.execPath, CLEANUP_MODULE, jobDir, token], {
        cwd: "/",
        stdio: ["pipe", "ignore", "ignore"],
        detached: true,
      });
    } catch {
      return; // no guardian: the ranks' parent-death signal and lifeline still work
    }
    this.child.on("error", () => (this.done = true));
    this.child.stdin!.on("error", () => (this.done = true)); // EPIPE: the guardian is gone
    this.child.unref(); // never keeps the launcher alive
  }

  /** A rank (and process group) was started. */
  add(pid: number): void {
    if (pid > 0) this.tell(`+${pid}`);
  }

  /** The rank was reaped and its group killed: forget it. */
  remove(pid: number): void {
    if (pid > 0) this.tell(`-${pid}`);
  }

  /** The job is over (its processes are gone or being killed by the launcher): let the guardian go. */
  release(): void {
    this.tell("end");
    this.done = true;
    this.child?.stdin?.end();
  }

  private tell(line: string): void {
    if (this.done || !this.child?.stdin?.writable) return;
    // A pipe write this small is done at once (libuv tries it synchronously), which matters when
    // it is called from the launcher's 'exit' handler.
    this.child.stdin.write(line + "\n");
  }
}
