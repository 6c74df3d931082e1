/**
 * The host directory layout of one sandbox, in one place so the runtime,
 * the resources and crash cleanup agree:
 *
 * ```
 * <state_dir>/<sandbox-id>/
 *   state.json          persisted SandboxState (pids, mounts, taps, cgroups)
 *   vm/                 hypervisor sockets, logs, console, pid file
 *   virtiofsd.sock      virtiofsd's vhost-user socket
 *   virtiofsd.log
 *   shared/             what virtiofsd shares (tag "joeyfs"), seen by the guest at GUEST_SHARE_DIR
 *     <container-id>/rootfs          the container's rootfs (containerd's Mounts, or a bind of <bundle>/rootfs)
 *     <container-id>/volumes/<n>     a bind mount (directory or file) from the spec
 * ```
 * @module
 */

/** The virtiofs tag of the sandbox share. */
export const SHARE_TAG = "joeyfs";

/** Where the agent mounts the share in the guest (guest/agent/agent.h AGENT_SHARE_DIR). */
export const GUEST_SHARE_DIR = "/run/joey/shared/containers";

/** Paths of one sandbox's host state. */
export class SandboxLayout {
  readonly root: string;
  constructor(stateDir: string, readonly sandboxId: string) {
    this.root = `${stateDir.replace(/\/+$/, "")}/${sandboxId}`;
  }
  get stateFile(): string {
    return `${this.root}/state.json`;
  }
  get vmDir(): string {
    return `${this.root}/vm`;
  }
  get sharedDir(): string {
    return `${this.root}/shared`;
  }
  get virtiofsdSocket(): string {
    return `${this.root}/virtiofsd.sock`;
  }
  get virtiofsdLog(): string {
    return `${this.root}/virtiofsd.log`;
  }
  /** Host path of a container's rootfs in the share. */
  rootfs(containerId: string): string {
    return `${this.sharedDir}/${containerId}/rootfs`;
  }
  /** Host path of a container's n-th volume in the share. */
  volume(containerId: string, n: number): string {
    return `${this.sharedDir}/${containerId}/volumes/${n}`;
  }
  /** The guest path of a host path inside the share. */
  guestPath(hostPath: string): string {
    if (!hostPath.startsWith(this.sharedDir + "/")) {
      throw new Error(`"${hostPath}" is not inside the share "${this.sharedDir}"`);
    }
    return GUEST_SHARE_DIR + hostPath.slice(this.sharedDir.length);
  }
}
