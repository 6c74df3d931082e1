/**
 * What every CLI command shares: where output goes and how the
 * configuration is loaded (a --config flag wins over $JOEY_CONFIG).
 * @module
 */
import { loadConfig, type LoadedConfig } from "../config/mod.ts";
import { UsageError } from "./usage.ts";

/** Output sinks, so commands can be run in-process by tests. */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** The process's own stdout and stderr. */
export const consoleOutput: Output = {
  stdout: (text) => console.log(text),
  stderr: (text) => console.error(text),
};

/** Loads the configuration for a command; `path` comes from --config. */
export function loadForCli(path: string | undefined): Promise<LoadedConfig> {
  return loadConfig(path === undefined ? {} : { path });
}

/** Rejects positional arguments for commands that take none. */
export function noPositionals(command: string, positionals: string[]): void {
  if (positionals.length) {
    throw new UsageError(command, `unexpected argument "${positionals[0]}"`);
  }
}
