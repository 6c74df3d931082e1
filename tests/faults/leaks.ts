/**
 * Counting what a containerd test leaves behind, by kind: shim daemons
 * (joey's Deno daemon and the runc shim), OCI runtime processes, processes
 * carrying a test's marker argument, mounts, cgroups, shim sockets, OCI
 * runtime state and bundles. The harness's leftovers() misses joey's Deno
 * daemons (their command line is main.ts, not containerd-shim), so this
 * looks for both.
 * @module
 */
import { type Containerd, mountsUnder, processesMatching } from "../containerd/harness.ts";

/** Every kind of leak for one containerd and namespace, as readable lines. */
export interface LeakReport {
  shims: number[];
  ociRuntimes: number[];
  marked: number[];
  mounts: string[];
  cgroups: string[];
  sockets: string[];
  runtimeState: string[];
  bundles: string[];
}

async function entries(dir: string, dirsOnly = false): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!dirsOnly || e.isDirectory) out.push(`${dir}/${e.name}`);
    }
  } catch { /* absent */ }
  return out;
}

/** Shim daemons serving this containerd, both kinds. */
export async function shimDaemons(c: Containerd): Promise<number[]> {
  const runc = await processesMatching("containerd-shim", `-address ${c.address}`);
  const joey = await processesMatching("main.ts", `-address ${c.address}`, "-socket");
  return [...new Set([...runc, ...joey])].sort((a, b) => a - b);
}

/** Open file descriptors of a process (-1 when it is gone). */
export async function fdCount(pid: number): Promise<number> {
  try {
    let n = 0;
    for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) n++;
    return n;
  } catch {
    return -1;
  }
}

/**
 * What is left for the namespace. `marker` is an argument only the test's
 * container processes carry; `ids` the container ids whose sockets to check.
 */
export async function leaks(c: Containerd, ids: string[], marker: string): Promise<LeakReport> {
  const ns = c.namespace;
  const cgroups: string[] = [];
  // Child cgroups of the namespace's (which runc itself leaves, empty).
  for (const ctl of await entries("/sys/fs/cgroup", true)) {
    cgroups.push(...await entries(`${ctl}/${ns}`, true));
  }
  const sockets: string[] = [];
  for (const id of ids) {
    const s = await c.shimSocket(id);
    try {
      await Deno.lstat(s);
      sockets.push(s);
    } catch { /* gone */ }
  }
  return {
    shims: await shimDaemons(c),
    ociRuntimes: [
      ...await processesMatching("runc", `/${ns}`),
      ...await processesMatching("crun", `/${ns}`),
    ],
    marked: await processesMatching(marker),
    mounts: [...await mountsUnder(`${c.dir}/state`), ...await mountsUnder(`/run/joey/${ns}`)],
    cgroups,
    sockets,
    runtimeState: [
      ...await entries(`/run/joey/runc/${ns}`),
      ...await entries(`/run/containerd/runc/${ns}`),
    ],
    bundles: await entries(`${c.dir}/state/io.containerd.runtime.v2.task/${ns}`),
  };
}

/** The non-empty kinds of a report, one line each ("" when clean). */
export function describeLeaks(r: LeakReport): string {
  return Object.entries(r)
    .filter(([, v]) => (v as unknown[]).length > 0)
    .map(([k, v]) => `${k}: ${(v as unknown[]).join(", ")}`)
    .join("\n");
}
