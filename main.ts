/**
 * joey's entry point. The same program is the `joey` CLI and the shim binary
 * `containerd-shim-joey-v2`: containerd invokes the shim with its flags
 * (`-namespace … -address … -id … start|delete`, or the daemon that `start`
 * re-executes), so a shim invocation is recognised by its arguments, whatever
 * name the executable has. Each side is loaded only when needed, to keep
 * start-up short.
 * @module
 */
import { isCliInvocation } from "./src/cli/dispatch.ts";
import { isShimInvocation } from "./src/shim/flags.ts";

if (import.meta.main) {
  const args = Deno.args;
  // A joey command first wins: `joey run -- tool --id 3` is the CLI's.
  const code = !isCliInvocation(args) && isShimInvocation(args)
    ? await (await import("./src/shim/mod.ts")).runShim(args)
    : await (await import("./src/cli/mod.ts")).runCli(args);
  Deno.exit(code);
}
