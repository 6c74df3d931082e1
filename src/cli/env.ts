/**
 * `joey env [--json] [-a KEY=VALUE…]`: the effective configuration
 * (defaults, file, environment, and optionally a pod's annotations) and
 * where each value came from.
 * @module
 */
import { applyAnnotations, configValue, KEYS } from "../config/mod.ts";
import { loadForCli, noPositionals, type Output } from "./common.ts";
import { parseFlags, UsageError } from "./usage.ts";

/** The `env` command. */
export async function envCommand(args: string[], out: Output): Promise<number> {
  const { values, positionals } = parseFlags("env", args, {
    json: { type: "boolean" },
    config: { type: "string" },
    annotation: { type: "string", short: "a", multiple: true },
  });
  noPositionals("env", positionals);
  const annotations: Record<string, string> = {};
  for (const a of values.annotation ?? []) {
    const eq = a.indexOf("=");
    if (eq <= 0) throw new UsageError("env", `bad --annotation "${a}": expected KEY=VALUE`);
    annotations[a.slice(0, eq)] = a.slice(eq + 1);
  }
  // With annotations: what a pod carrying them would get (or the error it would get).
  const loaded = applyAnnotations(await loadForCli(values.config), annotations);
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
