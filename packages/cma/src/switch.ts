// Whether this process may use CMA at all: platform, bindings and the ONECOPY_CMA kill switch.
import { libc, libcError } from "./libc.js";
import { ErrorCode, type CmaErrorCode } from "./errors.js";
import { readKnob } from "./knobs.js";

let disabledBy: { code: CmaErrorCode; message: string } | null | undefined;

function envDisabled(): boolean {
  return !readKnob("cma");
}

/**
 * Why CMA cannot be used in this process, or null when it can be tried. Settled on first use:
 * the `ONECOPY_CMA` environment variable is read once.
 */
export function cmaDisabledReason(): { code: CmaErrorCode; message: string } | null {
  if (disabledBy === undefined) {
    if (envDisabled()) {
      disabledBy = {
        code: ErrorCode.CMA_DISABLED,
        message: "single-copy transfers are disabled by ONECOPY_CMA=0 (unset it, or run without --no-cma, to enable them)",
      };
    } else if (!libc()) {
      disabledBy = { code: ErrorCode.CMA_UNSUPPORTED, message: `single-copy transfers are unavailable: ${libcError()}` };
    } else {
      disabledBy = null;
    }
  }
  return disabledBy;
}

/** Turn CMA off for the rest of this process's life (the runtime equivalent of ONECOPY_CMA=0). */
export function disableCma(why = "disabled by the application"): void {
  disabledBy = { code: ErrorCode.CMA_DISABLED, message: `single-copy transfers are ${why}` };
}
