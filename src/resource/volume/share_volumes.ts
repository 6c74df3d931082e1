/**
 * volumes: the spec's bind mounts (directories, and files such as
 * /etc/hosts and /etc/resolv.conf that CRI adds) are bind-mounted into the
 * sandbox share, and the spec handed to the agent names their guest paths
 * instead of host paths. Other mounts (proc, tmpfs, devpts, sysfs…) are
 * the guest kernel's own and pass through unchanged.
 * @module
 */
import { mountWithOptions } from "../../os/mod.ts";
import type { SandboxLayout } from "../layout.ts";

/** One OCI mount (spec.mounts[]). */
export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/** Whether m binds a host path into the container. */
export function isBindMount(m: OciMount): boolean {
  return m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
}

/**
 * Shares each bind mount of mounts; returns the rewritten mounts and the
 * host mount points made (to unmount later, last first).
 */
export async function shareVolumes(
  layout: SandboxLayout,
  containerId: string,
  mounts: OciMount[],
): Promise<{ mounts: OciMount[]; mountPoints: string[] }> {
  const out: OciMount[] = [];
  const mountPoints: string[] = [];
  let n = 0;
  for (const m of mounts) {
    if (!isBindMount(m) || !m.source) {
      out.push(m);
      continue;
    }
    const info = await Deno.stat(m.source);
    const target = layout.volume(containerId, n++);
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    if (info.isDirectory) await Deno.mkdir(target, { recursive: true });
    else await Deno.writeFile(target, new Uint8Array(), { mode: 0o644 });
    const options = m.options ?? [];
    const readOnly = options.includes("ro");
    mountWithOptions("bind", m.source, target, readOnly ? ["rbind", "ro"] : ["rbind"]);
    mountPoints.push(target);
    // In the guest it is a plain bind from the share; propagation flags are host matters.
    out.push({
      ...m,
      type: "bind",
      source: layout.guestPath(target),
      options: ["rbind", readOnly ? "ro" : "rw"],
    });
  }
  return { mounts: out, mountPoints };
}
