/**
 * The OCI bundle containerd hands the shim: its config.json, read by
 * `start` (annotations), the daemon (warm-up) and `delete` (cleanup).
 * @module
 */

/** The bundle's OCI spec; {} when it is gone or unreadable (callers go on without it). */
export async function readBundleSpec(bundle: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
  } catch {
    return {};
  }
}
