/**
 * How this program re-executes itself (start → daemon): the compiled
 * executable runs as is; under Deno it is `deno run` on main.ts with the
 * flags the launchers use (scripts/install.sh, tests/containerd/harness.ts).
 * @module
 */

/**
 * Deno flags for running main.ts. `--unstable-lazy-dynamic-imports` loads a
 * module behind `import()` only when that import runs, instead of reading
 * the whole graph (CLI, both runtimes, the VMM binding) at every start:
 * about 4 ms less for each shim process (`start`, the daemon, `delete`).
 */
export const DENO_RUN_FLAGS: readonly string[] = [
  "-A",
  "--cached-only",
  "--no-prompt",
  "--unstable-lazy-dynamic-imports",
];

/** The argv prefix that runs this program again. */
export function selfCommand(): string[] {
  const exe = Deno.execPath();
  const mainUrl = new URL("../../main.ts", import.meta.url);
  if (/(^|\/)deno$/.test(exe) && mainUrl.protocol === "file:") {
    return [exe, "run", ...DENO_RUN_FLAGS, decodeURIComponent(mainUrl.pathname)];
  }
  return [exe];
}

/** The program version (from deno.json at build time). */
export const VERSION = "0.1.0";
