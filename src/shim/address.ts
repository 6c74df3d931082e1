/**
 * Shim socket addresses (PROTOCOLS.md §2): `/run/containerd/s/` +
 * hex(sha256("<containerd address>/<namespace>/<group>")), and the pod group
 * a container belongs to.
 * @module
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";

/** Where containerd 1.6 expects shim sockets. */
export const SOCKET_ROOT = "/run/containerd/s";

/** The group a container joins: pods share one shim, as the runc shim groups them. */
export function shimGroup(id: string, annotations: Record<string, string>): string {
  return annotations["io.containerd.runc.v2.group"] ||
    annotations["io.kubernetes.cri.sandbox-id"] ||
    id;
}

/** The socket address (unix://…) for a group. */
export function socketAddress(containerdAddress: string, namespace: string, group: string): string {
  const path = posix.join(containerdAddress, namespace, group);
  const digest = createHash("sha256").update(path).digest("hex");
  return `unix://${SOCKET_ROOT}/${digest}`;
}

/** The filesystem path of a unix:// address. */
export function socketPath(address: string): string {
  return address.replace(/^unix:\/\//, "");
}
