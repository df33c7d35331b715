// Public API of the launcher: `import { launch, watchLauncher } from "onecopy/launcher"`.
export { launch, TIMEOUT_EXIT_CODE, type LaunchResult, type RankResult } from "./launch.js";
export {
  MAX_NP,
  TAG_FORMATS,
  TRANSPORTS,
  parseByteCount,
  resolveLaunchOptions,
  type LaunchOptions,
  type OutputLine,
  type ResolvedLaunchOptions,
  type TagFormat,
  type TransportName,
} from "./options.js";
export { BIND_TARGETS, MAP_POLICIES, readTopology, placeRanks, type BindTo, type MapBy, type CpuTopology } from "./binding.js";
export { LAUNCHER_ENV, LIFELINE_FD } from "./env.js";
export { JOB_DIR_PREFIX, createJobDir, jobDirBase, removeJobDir } from "./jobdir.js";
export { watchLauncher, type WatchLauncherOptions } from "./watch.js";
export { parseCommandLine, UsageError, MAIN_HELP, RUN_HELP, type Command } from "./cli-args.js";
