/**
 * rootfs: the container's root filesystem mounted inside the sandbox share,
 * so the guest reaches it over virtio-fs. containerd's Mounts (an overlay
 * for ctr's snapshots) are mounted there directly; with none (the rootfs is
 * already a directory: the spec's root.path), that directory is bind-mounted.
 * @module
 */
import type { Mount } from "../../runtime/mod.ts";
import { invalidArgument } from "../../errors.ts";
import { mountWithOptions, umountAll } from "../../os/mod.ts";

/**
 * Mounts the rootfs at target (created); returns the mount points made, in
 * the order to unmount them. Undoes everything on failure.
 */
export async function mountSharedRootfs(
  target: string,
  rootDir: string,
  mounts: Mount[],
): Promise<string[]> {
  await Deno.mkdir(target, { recursive: true, mode: 0o755 });
  try {
    if (mounts.length === 0) {
      mountWithOptions("bind", rootDir, target, ["rbind"]);
    }
    for (const m of mounts) {
      if (!m.type && !m.options.some((o) => o === "bind" || o === "rbind")) {
        throw invalidArgument(`Rootfs mount of "${m.source}" has no type`);
      }
      mountWithOptions(m.type, m.source, target, m.options);
    }
  } catch (err) {
    umountAll(target);
    throw err;
  }
  return [target];
}

/** Unmounts everything at each mount point (missing or unmounted is fine). */
export function unmountAll(points: string[]): void {
  for (const p of points) {
    try {
      umountAll(p);
    } catch { /* best effort: reported by the leftover checks */ }
  }
}
