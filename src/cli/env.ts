/**
 * `joey env [--json]`: the effective configuration (defaults, file,
 * environment) and where each value came from.
 * @module
 */
import { configValue, KEYS } from "../config/mod.ts";
import { loadForCli, noPositionals, type Output } from "./common.ts";
import { parseFlags } from "./usage.ts";

/** The `env` command. */
export async function envCommand(args: string[], out: Output): Promise<number> {
  const { values, positionals } = parseFlags("env", args, {
    json: { type: "boolean" },
    config: { type: "string" },
  });
  noPositionals("env", positionals);
  const loaded = await loadForCli(values.config);
  if (values.json) {
    out.stdout(JSON.stringify(loaded, null, 2));
    return 0;
  }
  const rows = KEYS.map((k) => [
    k.key,
    JSON.stringify(configValue(loaded.config, k.key)),
    loaded.sources[k.key] ?? "default",
  ]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  out.stdout(
    [
      `# configuration file: ${loaded.path ?? "none (built-in defaults)"}`,
      ...rows.map(([k, v, s]) => `${k!.padEnd(w0)} = ${v!.padEnd(w1)}  # ${s}`),
    ].join("\n"),
  );
  return 0;
}
