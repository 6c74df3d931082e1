/**
 * containerd's rootfs Mounts (an overlay for ctr's snapshots, or binds)
 * stacked on one target, for both runtimes: linux-container mounts them at
 * <bundle>/rootfs, virt-container inside the sandbox share.
 * @module
 */
import type { Mount } from "./mod.ts";
import { invalidArgument } from "../errors.ts";
import { mountWithOptions, umountAll } from "../os/mod.ts";

/** Mounts each of mounts at target, in order; undoes them all on failure. */
export function stackRootfsMounts(target: string, mounts: Mount[]): void {
  try {
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
}
