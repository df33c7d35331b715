// The help texts of the `onecopy` command line (`onecopy --help`, `onecopy run --help`).
import { MAX_NP, TRANSPORTS } from "./options.js";

/** Top-level help (`onecopy --help`). */
export const MAIN_HELP = `Usage: onecopy <command> [options]

MPI-style multi-process jobs for Node.js on one Linux machine.

Commands:
  run -n N [options] <app.ts|app.js> [args...]   start N ranks of an app (see: onecopy run --help)
  info                                            what this machine allows (CMA probe, Yama,
                                                  huge pages) and every tunable's value
  help [run]                                      show help

Options:
  -h, --help       show this help
  -V, --version    print the version
`;

/** `onecopy run --help`. */
export const RUN_HELP = `Usage: onecopy run -n N [options] <app.js|app.ts> [args...]
       onecopy run -n N [options] node [node options] <app.js|app.ts> [args...]

Start N copies ("ranks") of a Node.js app as one job, forward their output, and exit when all
have exited. .ts/.mts/.cts files run through tsx (install it: npm install -D tsx); .js/.mjs/.cjs
run with plain Node. Everything after the script is passed to the app. Options may also be
written --opt=value; mpirun's single-dash spellings (-np, -oversubscribe, -bind-to ...) work too.

Job:
  -n, --np, -np <N>        number of ranks (required; 1 to ${MAX_NP})
  --timeout <seconds>      kill the job if it runs longer (decimals allowed); exit code 124
  --fail-grace <ms>        after a rank fails, how long the others may take to exit by
                           themselves before they get SIGTERM (default 1000)
  --kill-grace <ms>        how long after SIGTERM before SIGKILL (default 2000)

Hangs:
  --hang-report <seconds>  when every live rank has been blocked in onecopy calls (nothing in
                           flight, no progress) for this long, print the hang report once: each
                           rank's blocked calls and the deadlock cycle(s) (default 10; 0 = off)
  --hang-exit              also end the job when a hang is detected; exit code 125
  (SIGUSR1 to the launcher prints the current hang report at any time: kill -USR1 <pid>)

Placement:
  --oversubscribe          allow more ranks than the CPUs this process may use, without the
                           warning (by default such a job runs, with one warning)
  --bind-to <core|hwthread|none>
                           pin each rank, all its threads, with sched_setaffinity: to one
                           physical core (all its hardware threads), to one hardware thread, or
                           not at all (default: none; core if --map-by is given)
  --map-by <core|slot>     which core/CPU rank r gets: core = core r mod #cores (default);
                           slot = the CPUs in order, r mod #CPUs
  --report-bindings        print where each rank is bound, on stderr

Environment and Node:
  -x <VAR>, -x <VAR=VALUE> export VAR to every rank: its current value, or VALUE (repeatable)
  --env <VAR=VALUE>        the same, always with a value
  --node-arg <flag>        a Node option for every rank, e.g. --node-arg=--max-old-space-size=4096
                           (repeatable; same as writing it after 'node')

Input and output:
  --stdin <rank|all|none>  which ranks read the launcher's stdin (default 0, as mpirun);
                           the others read /dev/null
  --tag-output             prefix every output line with its rank: "[1] hello"
  --tag-format <rank|ompi> the prefix: rank = "[1] hello" (default), ompi = Open MPI's
                           "[1,1]<stdout>:hello" (implies --tag-output)
  --output-filename <dir>  also write rank R's output to dir/1/rank.R/stdout and .../stderr
                           (Open MPI's layout); dir:nocopy = files only, dir:nojobid = no 1/

Transfers:
  --no-cma                 disable single-copy transfers (sets ONECOPY_CMA=0)
  --eager-limit <bytes>    largest message sent inline, e.g. 8192, 64k, 64KiB, 1M, 1MiB
                           (sets ONECOPY_EAGER_LIMIT)
  --transport <name>       force a transport: ${TRANSPORTS.join(" | ")} (sets ONECOPY_TRANSPORT)

  -h, --help               show this help
  --                       end of options (the next argument is the script)

Examples:
  onecopy run -n 4 app.ts
  onecopy run -n 4 --bind-to core --report-bindings bench.js --size 1MiB
  onecopy run -n 2 node --enable-source-maps --max-old-space-size=8192 dist/train.js
  onecopy run -np 8 --oversubscribe -x OMP_NUM_THREADS=1 -x PATH --tag-output app.js
  onecopy run -n 4 --output-filename logs:nocopy --timeout 600 sim.ts
  seq 100 | onecopy run -n 2 sum.js          # rank 0 reads the numbers

Behaviour:
  Output is forwarded line by line, so lines of different ranks never mix.
  If a rank exits non-zero or is killed, the launcher reports it ("onecopy: rank 1 exited with
  code 3"), stops the other ranks (grace, SIGTERM, SIGKILL) and exits with that rank's code
  (128+signal number for a signal death, 1 if it could not start).
  Ctrl-C / SIGTERM / SIGHUP to the launcher stop all ranks the same way (a second one kills them
  at once); the launcher exits 130 / 143 / 129; a hang detected with --hang-exit exits 125. Each rank runs in its own process group, which
  is signalled as a whole, so processes a rank starts do not outlive the job. If the launcher
  itself is killed, the kernel kills the ranks and a small guardian process cleans up.
  The job directory (under $XDG_RUNTIME_DIR, else the system temp dir) is always removed.
  Started in the background of a terminal (onecopy run ... &), the launcher does not read the
  terminal: every rank reads /dev/null unless --stdin is given.

Environment of every rank (set by the launcher):
  ONECOPY_RANK            this rank, 0 .. N-1
  ONECOPY_SIZE            N
  ONECOPY_JOB_DIR         private job directory (mode 0700) for the ranks' Unix sockets
  ONECOPY_JOB_TOKEN       random per-job secret; connections without it are refused
  ONECOPY_LAUNCHER_PID    pid of the launcher (fd 3 is a pipe that closes when it dies)
  ONECOPY_BINDING         with --bind-to: what the rank is pinned to, e.g. core:1

Tuning (set in the launcher's environment or with -x; options above take precedence):
  ONECOPY_CMA             0 disables single-copy (Cross Memory Attach) transfers (default 1)
  ONECOPY_EAGER_LIMIT     largest message sent inline on the socket, bytes (default 32KiB)
  ONECOPY_TRANSPORT       force a transport: ${TRANSPORTS.join(" | ")}
  ONECOPY_CMA_ASYNC_MIN   copies of at least this many bytes run on worker threads instead of
                          blocking the event loop (default 4194304)
  ONECOPY_CMA_STREAMS     concurrent worker calls a large copy is split into (default 2)
  (onecopy info lists every tunable)
`;
