/**
 * The sandbox cgroup on the host: the VMM (QEMU), virtiofsd and the vsock
 * back end are moved into `joey/<sandbox-id>` of each v1 controller below
 * (or the one v2 directory on a unified host), so a sandbox's host cost is
 * accounted in one place. Container limits are applied in the guest by the
 * agent, not here.
 * @module
 */
const ROOT = "/sys/fs/cgroup";
const V1_CONTROLLERS = ["cpu,cpuacct", "memory", "pids"];

function isUnified(): boolean {
  try {
    Deno.statSync(`${ROOT}/cgroup.controllers`);
    return true;
  } catch {
    return false;
  }
}

/** The cgroup directories of a sandbox (one per v1 hierarchy present, or one for v2). */
export function sandboxCgroupDirs(sandboxId: string): string[] {
  if (isUnified()) return [`${ROOT}/joey/${sandboxId}`];
  return V1_CONTROLLERS.map((c) => {
    const mount = [c, c.split(",")[0]!].find((m) => {
      try {
        return Deno.statSync(`${ROOT}/${m}`).isDirectory;
      } catch {
        return false;
      }
    });
    return mount ? `${ROOT}/${mount}/joey/${sandboxId}` : "";
  }).filter(Boolean);
}

/** Creates the sandbox cgroups; returns their directories. */
export async function createSandboxCgroup(sandboxId: string): Promise<string[]> {
  const dirs = sandboxCgroupDirs(sandboxId);
  for (const d of dirs) await Deno.mkdir(d, { recursive: true });
  return dirs;
}

/** Moves pid into every one of dirs. */
export async function addToCgroup(dirs: string[], pid: number): Promise<void> {
  for (const d of dirs) await Deno.writeTextFile(`${d}/cgroup.procs`, `${pid}\n`);
}

/**
 * Removes the sandbox cgroups once empty: processes still listed are
 * killed first (they belong to this sandbox only).
 */
export async function removeSandboxCgroup(dirs: string[]): Promise<void> {
  for (const d of dirs) {
    for (let i = 0; i < 200; i++) {
      let procs = "";
      try {
        procs = await Deno.readTextFile(`${d}/cgroup.procs`);
      } catch {
        break; // gone already
      }
      const pids = procs.split("\n").filter(Boolean).map(Number);
      if (pids.length === 0) {
        await Deno.remove(d).catch(() => {});
        // The shared parent (joey/) goes with the last sandbox; a sandbox
        // being created meanwhile keeps it (not empty) or recreates it.
        await Deno.remove(d.slice(0, d.lastIndexOf("/"))).catch(() => {});
        break;
      }
      for (const pid of pids) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
