/**
 * Which invocations are the CLI's. Kept free of imports so main.ts can ask
 * before loading either the CLI or the shim.
 * @module
 */

/** The `joey` commands. */
export const CLI_COMMANDS: readonly string[] = ["check", "env", "run", "exec", "version", "help"];

/**
 * True when argv starts with a joey command (or --help/--version), so it is
 * the CLI's even if later arguments look like the shim's flags, as in
 * `joey run --rootfs r -- tool --id 3`. containerd always puts the shim's
 * flags first, so a shim invocation never starts with a command name.
 */
export function isCliInvocation(args: string[]): boolean {
  const first = args[0];
  return first !== undefined &&
    (CLI_COMMANDS.includes(first) || ["--help", "-h", "--version"].includes(first));
}
