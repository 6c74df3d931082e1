/**
 * Sandbox and container resources on the host for virt-container: share-fs
 * (virtiofsd), rootfs and volumes in the share, taps for the network, the
 * sandbox cgroup; their layout and persisted state.
 * @module
 */
export {
  cleanupSandboxDir,
  cleanupState,
  type ContainerResources,
  ResourceManager,
  type VmResources,
} from "./manager.ts";
export { GUEST_SHARE_DIR, SandboxLayout, SHARE_TAG } from "./layout.ts";
export { loadState, type SandboxState } from "./state.ts";
export type { GuestInterface, GuestRoute, SandboxNetwork } from "./network/tap_network.ts";
