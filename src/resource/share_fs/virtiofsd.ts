/**
 * share-fs: one virtiofsd per sandbox, sharing <sandbox>/shared with the
 * guest over vhost-user. It runs with `sandbox=chroot`, so it stays in the
 * host's mount namespace and sees the rootfs and volume mounts made under
 * the share after it started (a namespace sandbox would need mount
 * propagation set up for that).
 * @module
 */
import type { VmSection } from "../../config/types.ts";
import { type Daemon, spawnDaemon, waitForPath } from "../daemon.ts";
import type { SandboxLayout } from "../layout.ts";

/** virtiofsd cache mode names (joey's "never" is virtiofsd's "none"). */
function cacheMode(mode: VmSection["virtio_fs_cache"]): string {
  return mode === "never" ? "none" : mode;
}

/** Starts virtiofsd for the sandbox; resolves once its socket exists. */
export async function startVirtiofsd(
  layout: SandboxLayout,
  section: Pick<VmSection, "virtio_fs_daemon" | "virtio_fs_cache">,
  timeoutMs = 5000,
): Promise<Daemon> {
  await Deno.mkdir(layout.sharedDir, { recursive: true, mode: 0o711 });
  const daemon = await spawnDaemon("virtiofsd", [
    section.virtio_fs_daemon || "/usr/lib/qemu/virtiofsd",
    `--socket-path=${layout.virtiofsdSocket}`,
    "-o",
    `source=${layout.sharedDir}`,
    "-o",
    `cache=${cacheMode(section.virtio_fs_cache)}`,
    "-o",
    "sandbox=chroot",
    "-o",
    "xattr",
  ], layout.virtiofsdLog);
  try {
    await waitForPath(daemon, layout.virtiofsdSocket, timeoutMs);
  } catch (err) {
    try {
      Deno.kill(daemon.pid, "SIGKILL");
    } catch { /* gone */ }
    throw err;
  }
  return daemon;
}
