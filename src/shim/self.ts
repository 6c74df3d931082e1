/**
 * How this program re-executes itself (start → daemon): the compiled
 * executable runs as is; under Deno it is `deno run -A <main.ts>`.
 * @module
 */

/** The argv prefix that runs this program again. */
export function selfCommand(): string[] {
  const exe = Deno.execPath();
  const mainUrl = new URL("../../main.ts", import.meta.url);
  if (/(^|\/)deno$/.test(exe) && mainUrl.protocol === "file:") {
    return [exe, "run", "-A", "--cached-only", "--no-prompt", decodeURIComponent(mainUrl.pathname)];
  }
  return [exe];
}

/** The program version (from deno.json at build time). */
export const VERSION = "0.1.0";
