/**
 * Shim v2 entry: `start`, `delete` and the daemon, chosen by the action in
 * the arguments (PROTOCOLS.md §2).
 * @module
 */
import { errorMessage } from "../errors.ts";
import { isShimInvocation, parseShimFlags } from "./flags.ts";
import { log } from "./log.ts";
import { VERSION } from "./self.ts";

export { isShimInvocation };

/** Runs the shim for argv; returns the process exit code. */
export async function runShim(args: string[]): Promise<number> {
  try {
    const flags = parseShimFlags(args);
    if (flags.version) {
      console.log(
        `containerd-shim-joey-v2:\n  Version: ${VERSION}\n  Runtime: io.containerd.joey.v2`,
      );
      return 0;
    }
    switch (flags.action) {
      case "start":
        return await (await import("./start.ts")).runStart(flags);
      case "delete":
        return await (await import("./delete.ts")).runDelete(flags);
      default:
        if (!flags.socket) throw new Error("the daemon needs -socket (it is started by `start`)");
        return await (await import("./daemon.ts")).runDaemon(flags);
    }
  } catch (err) {
    // containerd shows start's combined output as the error.
    log.error(errorMessage(err));
    await log.flush();
    return 1;
  }
}
