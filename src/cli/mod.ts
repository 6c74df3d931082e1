/**
 * The `joey` command line: check, env, run, exec, version, help. main.ts
 * calls runCli for every invocation that is not the shim's. Bad flags print
 * a usage error on stderr and exit 2; other failures print `joey: <message>`
 * and exit 1 (a command's own failure, like a container's exit status, is
 * its exit code).
 * @module
 */
import { errorMessage } from "../errors.ts";
import { consoleOutput, type Output } from "./common.ts";
import { HELP, UsageError } from "./usage.ts";

export { isCliInvocation } from "./dispatch.ts";

type Command = (args: string[], out: Output) => number | Promise<number>;

/** Commands load on first use, so `joey version` pays only for itself. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  check: async () => (await import("./check.ts")).checkCommand,
  env: async () => (await import("./env.ts")).envCommand,
  run: async () => (await import("./run.ts")).runCommand,
  exec: async () => (await import("./exec.ts")).execCommand,
  version: async () => (await import("./version.ts")).versionCommand,
};

function helpCommand(args: string[], out: Output): number {
  const topic = args[0] ?? "joey";
  const text = HELP[topic];
  if (!text) throw new UsageError("help", `unknown command "${topic}"`);
  out.stdout(text);
  return 0;
}

/** Runs the CLI for argv (without the program name); returns the exit code. */
export async function runCli(args: string[], out: Output = consoleOutput): Promise<number> {
  const [name, ...rest] = args;
  try {
    if (name === undefined) throw new UsageError("joey", "no command given");
    if (name === "help" || name === "--help" || name === "-h") return helpCommand(rest, out);
    if (name === "--version") return await runCli(["version"], out);
    const load = COMMANDS[name];
    if (!load) throw new UsageError("joey", `unknown command "${name}"`);
    // --help before the first "--" asks for the command's help, whatever else is there.
    const flags = rest.indexOf("--") < 0 ? rest : rest.slice(0, rest.indexOf("--"));
    if (flags.includes("--help") || flags.includes("-h")) return helpCommand([name], out);
    return await (await load())(rest, out);
  } catch (err) {
    if (err instanceof UsageError) {
      const usage = (HELP[err.command] ?? HELP.joey!).split("\n").find((l) =>
        l.startsWith("Usage:")
      );
      out.stderr(
        `joey: ${err.message}\n${usage}\nRun "joey help${
          err.command === "joey" ? "" : ` ${err.command}`
        }" for more.`,
      );
      return 2;
    }
    out.stderr(`joey: ${errorMessage(err)}`);
    if (Deno.env.get("JOEY_DEBUG") === "1" && err instanceof Error && err.stack) {
      out.stderr(err.stack);
    }
    return 1;
  }
}
