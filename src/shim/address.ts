/**
 * Shim socket addresses (PROTOCOLS.md §2): `/run/containerd/s/` +
 * hex(sha256("<containerd address>/<namespace>/<group>")), and the pod group
 * a container belongs to.
 * @module
 */

/** Where containerd 1.6 expects shim sockets. */
export const SOCKET_ROOT = "/run/containerd/s";

/** The group of every container in a namespace when `[runtime] shim_mode = "node"`. */
export const NODE_GROUP = "io.joey.node-shim";

/** The group a container joins: pods share one shim, as the runc shim groups them. */
export function shimGroup(id: string, annotations: Record<string, string>): string {
  return annotations["io.containerd.runc.v2.group"] ||
    annotations["io.kubernetes.cri.sandbox-id"] ||
    id;
}

/** Joins and cleans path parts as Go's filepath.Join does (no node:path: start-up cost). */
export function joinPath(...parts: string[]): string {
  const joined = parts.filter(Boolean).join("/");
  const out: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!joined.startsWith("/")) out.push("..");
    } else out.push(seg);
  }
  const body = out.join("/");
  return joined.startsWith("/") ? `/${body}` : body || ".";
}

/** The socket address (unix://…) for a group. */
export async function socketAddress(
  containerdAddress: string,
  namespace: string,
  group: string,
): Promise<string> {
  const path = joinPath(containerdAddress, namespace, group);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(path)),
  );
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  return `unix://${SOCKET_ROOT}/${hex}`;
}

/** The filesystem path of a unix:// address. */
export function socketPath(address: string): string {
  return address.replace(/^unix:\/\//, "");
}
