/**
 * The guest agent client: typed calls of grpc.AgentService and grpc.Health
 * over the project's ttrpc client, dialed through hybrid vsock.
 *
 * Guest paths the runtime follows (guest/README.md): the virtiofs share is
 * mounted at {@linkcode GUEST_SHARE_DIR} (Storage driver "virtio-fs",
 * source = the mount tag), and a container's rootfs is
 * `GUEST_SHARE_DIR/<container id>/rootfs`.
 * @module
 */
export { AGENT_VSOCK_PORT, AgentClient, type AgentClientOptions } from "./client.ts";
export { dialHybridVsock, type DialOptions } from "./hybrid_vsock.ts";
export { processFromOci, resourcesFromOci, specFromOci } from "./oci.ts";
export type * from "./types.ts";

/** Where the agent mounts the sandbox's shared filesystem in the guest. */
export const GUEST_SHARE_DIR = "/run/joey/shared/containers";

/** The guest path of a container's rootfs on the share. */
export function guestRootfs(containerId: string): string {
  return `${GUEST_SHARE_DIR}/${containerId}/rootfs`;
}
