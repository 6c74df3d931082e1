/**
 * The container's root filesystem: containerd's Mounts stacked at
 * <bundle>/rootfs at create, removed at delete.
 * @module
 */
import type { Mount } from "../mod.ts";
import { umountAll } from "../../os/mod.ts";
import { stackRootfsMounts } from "../rootfs_mounts.ts";

/** <bundle>/rootfs. */
export function rootfsPath(bundle: string): string {
  return `${bundle}/rootfs`;
}

/** Mounts each of mounts at <bundle>/rootfs, in order; undoes them all on failure. */
export async function mountRootfs(bundle: string, mounts: Mount[]): Promise<void> {
  if (mounts.length === 0) return;
  const target = rootfsPath(bundle);
  await Deno.mkdir(target, { recursive: true, mode: 0o711 });
  stackRootfsMounts(target, mounts);
}

/** Unmounts everything at <bundle>/rootfs (nothing mounted is fine). */
export function unmountRootfs(bundle: string): void {
  umountAll(rootfsPath(bundle));
}
