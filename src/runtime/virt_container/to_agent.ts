/**
 * Translation at the edge between the OCI runtime spec (JSON, as in the
 * bundle's config.json and ctr's exec Process) and the agent's protobuf
 * (proto/oci.proto: Kata's capitalised field names). What does not apply
 * inside the VM is dropped here: host hooks, the host network namespace
 * (containers share the VM's network, set up from the pod's), and seccomp
 * (the agent does not enforce it yet).
 * @module
 */

type Json = Record<string, unknown>;

// JSON key → proto field where capitalising the first letter is not enough.
const RENAMED: Record<string, string> = {
  ociVersion: "Version",
  uid: "UID",
  gid: "GID",
  containerID: "ContainerID",
  hostID: "HostID",
  oomScoreAdj: "OOMScoreAdj",
  kernelTCP: "KernelTCP",
  uidMappings: "UIDMappings",
  gidMappings: "GIDMappings",
  blockIO: "BlockIO",
  cpu: "CPU",
  disableOOMKiller: "DisableOOMKiller",
};

// Maps whose keys are data, not field names.
const MAPS = new Set(["annotations", "sysctl"]);

/** Capitalises field names recursively (OCI JSON → proto/oci.proto). */
export function toProtoFields(value: unknown, key = ""): unknown {
  if (Array.isArray(value)) return value.map((v) => toProtoFields(v, key));
  if (value === null || typeof value !== "object") return value;
  if (MAPS.has(key)) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value as Json)) {
    const name = RENAMED[k] ?? k.charAt(0).toUpperCase() + k.slice(1);
    out[name] = toProtoFields(v, k);
  }
  return out;
}

/** An OCI mount in proto form (proto/oci.proto keeps mount fields lower case). */
function mountToProto(m: Json): Json {
  return {
    destination: m.destination ?? "",
    source: m.source ?? "",
    type: m.type ?? "",
    options: m.options ?? [],
  };
}

/**
 * The spec the agent gets: root at rootfsGuestPath, mounts as rewritten for
 * the share, no network namespace, hooks or seccomp.
 */
export function specToAgent(
  spec: Json,
  rootfsGuestPath: string,
  mounts: Json[],
): Json {
  const linux = { ...(spec.linux ?? {}) as Json };
  const namespaces = (linux.namespaces ?? []) as { type?: string }[];
  linux.namespaces = namespaces.filter((n) => n.type !== "network");
  delete linux.seccomp;
  const root = (spec.root ?? {}) as Json;
  const out = toProtoFields({
    ociVersion: spec.ociVersion ?? "",
    process: spec.process ?? {},
    root: { path: rootfsGuestPath, readonly: root.readonly ?? false },
    hostname: spec.hostname ?? "",
    annotations: spec.annotations ?? {},
    linux,
  }) as Json;
  out.Mounts = mounts.map(mountToProto);
  return out;
}

/** An OCI Process (exec) in proto form, with the terminal flag from the stdio. */
export function processToAgent(process: Json, terminal: boolean): Json {
  return toProtoFields({ ...process, terminal }) as Json;
}

/** OCI LinuxResources (Update) in proto form. */
export function resourcesToAgent(resources: Json): Json {
  return toProtoFields(resources) as Json;
}
