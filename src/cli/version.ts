/**
 * `joey version [--json]`: the version, the names containerd uses, and how
 * this program runs (launcher on Deno, or the compiled executable).
 * @module
 */
import { VERSION } from "../shim/self.ts";
import { isCompiled } from "../config/assets.ts";
import { noPositionals, type Output } from "./common.ts";
import { parseFlags } from "./usage.ts";

/** `joey version --json` output. */
export interface VersionInfo {
  version: string;
  runtime_type: "io.containerd.joey.v2";
  shim_binary: "containerd-shim-joey-v2";
  deno: string;
  v8: string;
  typescript: string;
  /** "compiled" inside a `deno compile` executable, else "deno" (main.ts on Deno). */
  build: "compiled" | "deno";
}

/** What this program is. */
export function versionInfo(): VersionInfo {
  const compiled = isCompiled();
  return {
    version: VERSION,
    runtime_type: "io.containerd.joey.v2",
    shim_binary: "containerd-shim-joey-v2",
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    build: compiled ? "compiled" : "deno",
  };
}

/** The `version` command. */
export function versionCommand(args: string[], out: Output): number {
  const { values, positionals } = parseFlags("version", args, { json: { type: "boolean" } });
  noPositionals("version", positionals);
  const v = versionInfo();
  out.stdout(
    values.json ? JSON.stringify(v, null, 2) : [
      `joey ${v.version}`,
      `  runtime type: ${v.runtime_type} (shim binary ${v.shim_binary})`,
      `  deno ${v.deno} (v8 ${v.v8}, typescript ${v.typescript}), ${
        v.build === "compiled" ? "compiled executable" : "main.ts on Deno"
      }`,
    ].join("\n"),
  );
  return 0;
}
