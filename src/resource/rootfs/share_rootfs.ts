/**
 * rootfs: the container's root filesystem mounted inside the sandbox share,
 * so the guest reaches it over virtio-fs. containerd's Mounts (an overlay
 * for ctr's snapshots) are mounted there directly; with none (the rootfs is
 * already a directory: the spec's root.path), that directory is bind-mounted.
 * @module
 */
import type { Mount } from "../../runtime/mod.ts";
import { umountAll } from "../../os/mod.ts";
import { stackRootfsMounts } from "../../runtime/rootfs_mounts.ts";

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
  // With no Mounts the rootfs is already a directory (the spec's root.path).
  const stack = mounts.length > 0
    ? mounts
    : [{ type: "bind", source: rootDir, target: "", options: ["rbind"] }];
  stackRootfsMounts(target, stack);
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
