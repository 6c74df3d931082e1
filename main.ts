/**
 * joey's entry point. The same program is the `joey` CLI and the shim binary
 * `containerd-shim-joey-v2`: containerd invokes the shim with its flags
 * (`-namespace … -address … -id … start|delete`, or with no action for the
 * daemon it re-executes), so a shim invocation is recognised by its
 * arguments, whatever name the executable has.
 * @module
 */
import { isShimInvocation, runShim } from "./src/shim/mod.ts";
import { runCli } from "./src/cli/mod.ts";

if (import.meta.main) {
  const args = Deno.args;
  const code = isShimInvocation(args) ? await runShim(args) : await runCli(args);
  Deno.exit(code);
}
