/**
 * Translation at the edge between the OCI runtime spec (JSON, as in the
 * bundle's config.json and ctr's exec Process) and the agent's protobuf:
 * src/agent/oci.ts carries the fields the agent understands; this module
 * adds what virt-container decides. The root and bind mounts point into the
 * share; the pod's network namespace is dropped (a host path; containers
 * use the VM's network, set up from it); hooks and seccomp are not carried
 * (host hooks do not apply, the agent does not enforce seccomp yet).
 * @module
 */
import { processFromOci, resourcesFromOci, specFromOci } from "../../agent/oci.ts";

type Json = Record<string, unknown>;

/** The spec the agent gets: root at rootfsGuestPath, mounts as rewritten for the share. */
export function specToAgent(spec: Json, rootfsGuestPath: string, mounts: Json[]): Json {
  const out = specFromOci({ ...spec, mounts }, rootfsGuestPath);
  if (out.Linux) {
    out.Linux.Namespaces = (out.Linux.Namespaces ?? []).filter((n) => n.Type !== "network");
  }
  return out as unknown as Json;
}

/** An OCI Process (exec) in proto form, with the terminal flag from the stdio. */
export function processToAgent(process: Json, terminal: boolean): Json {
  return processFromOci({ ...process, terminal }) as unknown as Json;
}

/** OCI LinuxResources (Update) in proto form. */
export function resourcesToAgent(resources: Json): Json {
  return resourcesFromOci(resources) as unknown as Json;
}
