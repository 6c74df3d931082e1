/**
 * Where the guest kernel, the initrd and the native libraries are: the path
 * configured, else `$JOEY_ASSETS_DIR` (the installed launcher sets it to
 * PREFIX/share/joey), else the source tree's build/ outputs. `joey check`
 * shows the result; hypervisors call resolveAssets() with their section.
 * @module
 */
import { fileURLToPath } from "node:url";

/** One asset: the path chosen (null when nothing was found) and every place looked at. */
export interface AssetLocation {
  path: string | null;
  /** "config" (set in the configuration), "assets-dir", "build" or "none". */
  from: "config" | "assets-dir" | "build" | "none";
  searched: string[];
}

/** The assets a VM needs. */
export interface GuestAssets {
  kernel: AssetLocation;
  initrd: AssetLocation;
  vmmLibrary: AssetLocation;
}

/** The source tree this module belongs to (null inside a compiled executable). */
export function sourceRoot(): string | null {
  const url = new URL("../../", import.meta.url);
  return url.protocol === "file:" ? fileURLToPath(url).replace(/\/$/, "") : null;
}

/** File names looked for, in order, in an assets directory and under build/. */
export const ASSET_NAMES = {
  kernel: { installed: ["bzImage", "vmlinux"], build: ["guest/kernel/bzImage"] },
  initrd: {
    installed: ["initrd.img", "initrd.cpio.gz", "initrd.cpio", "initramfs.cpio.gz"],
    build: [
      "guest/initrd.img",
      "guest/initrd.cpio.gz",
      "guest/image/initrd.img",
      "guest/image/initrd.cpio.gz",
      "guest/initrd/initrd.cpio.gz",
      "guest/initramfs.cpio.gz",
    ],
  },
  vmmLibrary: { installed: ["libjoeyvmm.so"], build: ["vmm/libjoeyvmm.so"] },
} as const;

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Finds one asset: configured path (used as is, even when missing), else the search order. */
export function locateAsset(
  name: keyof typeof ASSET_NAMES,
  configured: string,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): AssetLocation {
  if (configured) return { path: configured, from: "config", searched: [configured] };
  const searched: string[] = [];
  const dir = env.JOEY_ASSETS_DIR;
  if (dir) {
    for (const f of ASSET_NAMES[name].installed) {
      const p = `${dir}/${f}`;
      searched.push(p);
      if (isFile(p)) return { path: p, from: "assets-dir", searched };
    }
  }
  const root = sourceRoot();
  if (root) {
    for (const f of ASSET_NAMES[name].build) {
      const p = `${root}/build/${f}`;
      searched.push(p);
      if (isFile(p)) return { path: p, from: "build", searched };
    }
  }
  return { path: null, from: "none", searched };
}

/** The assets for a hypervisor section ({kernel, initrd[, vmm_library]}). */
export function resolveAssets(
  section: { kernel: string; initrd: string; vmm_library?: string },
  env?: Record<string, string | undefined>,
): GuestAssets {
  return {
    kernel: locateAsset("kernel", section.kernel, env),
    initrd: locateAsset("initrd", section.initrd, env),
    vmmLibrary: locateAsset("vmmLibrary", section.vmm_library ?? "", env),
  };
}
