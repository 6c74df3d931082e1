/**
 * Message shapes of the agent API (proto/agent.proto, proto/oci.proto,
 * proto/health.proto) as the project's protobuf codec encodes and decodes
 * them: field names as in the .proto files, 64-bit integers as numbers,
 * enums as their names.
 * @module
 */

/** OCI process as the agent takes it (grpc.Process). */
export interface OciProcess {
  Terminal?: boolean;
  ConsoleSize?: { Height: number; Width: number } | null;
  User?: { UID: number; GID: number; AdditionalGids?: number[]; Username?: string } | null;
  Args: string[];
  Env?: string[];
  Cwd?: string;
  Capabilities?: {
    Bounding?: string[];
    Effective?: string[];
    Inheritable?: string[];
    Permitted?: string[];
    Ambient?: string[];
  } | null;
  Rlimits?: { Type: string; Hard: number; Soft: number }[];
  NoNewPrivileges?: boolean;
  OOMScoreAdj?: number;
}

/** An OCI mount (grpc.Mount). */
export interface OciMount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
}

/** cgroup limits (grpc.LinuxResources); only the fields the agent applies. */
export interface LinuxResources {
  Memory?: { Limit?: number; Reservation?: number } | null;
  CPU?: { Shares?: number; Quota?: number; Period?: number; Cpus?: string; Mems?: string } | null;
  Pids?: { Limit: number } | null;
  BlockIO?: { Weight?: number } | null;
}

/** Linux section of the spec (grpc.Linux); the parts the agent acts on. */
export interface OciLinux {
  Resources?: LinuxResources | null;
  CgroupsPath?: string;
  Namespaces?: { Type: string; Path?: string }[];
  MaskedPaths?: string[];
  ReadonlyPaths?: string[];
  Sysctl?: Record<string, string>;
}

/** The OCI runtime spec as the agent takes it (grpc.Spec). */
export interface OciSpec {
  Version?: string;
  Process?: OciProcess | null;
  Root?: { Path: string; Readonly?: boolean } | null;
  Hostname?: string;
  Mounts?: OciMount[];
  Annotations?: Record<string, string>;
  Linux?: OciLinux | null;
}

/** A filesystem the agent mounts in the guest (grpc.Storage). */
export interface Storage {
  driver: string;
  driver_options?: string[];
  source: string;
  fstype?: string;
  options?: string[];
  mount_point: string;
}

/** grpc.CreateSandboxRequest. */
export interface CreateSandboxRequest {
  hostname?: string;
  dns?: string[];
  storages?: Storage[];
  sandbox_id?: string;
}

/** grpc.CreateContainerRequest. */
export interface CreateContainerRequest {
  container_id: string;
  exec_id?: string;
  storages?: Storage[];
  OCI: OciSpec;
}

/** grpc.StatsContainerResponse as decoded (defaults filled in). */
export interface StatsContainerResponse {
  cgroup_stats: {
    cpu_stats: {
      cpu_usage:
        | { total_usage: number; usage_in_kernelmode: number; usage_in_usermode: number }
        | null;
      throttling_data:
        | { periods: number; throttled_periods: number; throttled_time: number }
        | null;
    } | null;
    memory_stats: {
      cache: number;
      usage: { usage: number; max_usage: number; failcnt: number; limit: number } | null;
      stats: Record<string, number>;
    } | null;
    pids_stats: { current: number; limit: number } | null;
  } | null;
}

/** grpc.GuestDetailsResponse as decoded. */
export interface GuestDetailsResponse {
  mem_block_size_bytes: number;
  agent_details: {
    version: string;
    init_daemon: boolean;
    storage_handlers: string[];
    device_handlers: string[];
    supports_seccomp: boolean;
  } | null;
  support_mem_hotplug_probe: boolean;
}

/** grpc.Health status names. */
export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING";

/** grpc.IPAddress: mask is the prefix length in decimal ("24"). */
export interface NetIpAddress {
  family: "v4" | "v6";
  address: string;
  mask: string;
}

/**
 * grpc.Interface (Kata's types.Interface): the agent finds the NIC by
 * hwAddr, renames it to name, sets mtu (0 keeps it) and replaces its
 * addresses.
 */
export interface NetInterface {
  device?: string;
  name?: string;
  IPAddresses?: NetIpAddress[];
  mtu?: number;
  hwAddr: string;
  raw_flags?: number;
}

/** grpc.Route: dest "" is the default route; scope is RT_SCOPE_* (253 = link). */
export interface NetRoute {
  dest?: string;
  gateway?: string;
  device?: string;
  source?: string;
  scope?: number;
  family?: "v4" | "v6";
  flags?: number;
}
