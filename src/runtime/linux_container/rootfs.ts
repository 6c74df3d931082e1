/**
 * The container's root filesystem: containerd's Mounts stacked at
 * <bundle>/rootfs at create, removed at delete.
 * @module
 */
import type { Mount } from "../mod.ts";
import { invalidArgument } from "../../errors.ts";
import { mountWithOptions, umountAll } from "../../os/mod.ts";

/** <bundle>/rootfs. */
export function rootfsPath(bundle: string): string {
  return `${bundle}/rootfs`;
}

/** Mounts each of mounts at <bundle>/rootfs, in order; undoes them all on failure. */
export async function mountRootfs(bundle: string, mounts: Mount[]): Promise<void> {
  if (mounts.length === 0) return;
  const target = rootfsPath(bundle);
  await Deno.mkdir(target, { recursive: true, mode: 0o711 });
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

/** Unmounts everything at <bundle>/rootfs (nothing mounted is fine). */
export function unmountRootfs(bundle: string): void {
  umountAll(rootfsPath(bundle));
}
