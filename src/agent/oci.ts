/**
 * The standard OCI runtime config (config.json, lower-camel keys) turned
 * into the agent's grpc.Spec/grpc.Process shape (Kata's capitalised field
 * names). Only fields the agent understands are carried.
 * @module
 */
import type { LinuxResources, OciLinux, OciMount, OciProcess, OciSpec } from "./types.ts";

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | undefined =>
  v && typeof v === "object" && !Array.isArray(v) ? v as Json : undefined;
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
const num = (v: unknown): number | undefined => typeof v === "number" ? v : undefined;

/** An OCI `process` object as a grpc.Process. */
export function processFromOci(p: Json): OciProcess {
  const user = obj(p.user);
  const caps = obj(p.capabilities);
  const size = obj(p.consoleSize);
  return {
    Terminal: p.terminal === true,
    ConsoleSize: size ? { Height: num(size.height) ?? 0, Width: num(size.width) ?? 0 } : null,
    User: user
      ? {
        UID: num(user.uid) ?? 0,
        GID: num(user.gid) ?? 0,
        AdditionalGids: Array.isArray(user.additionalGids) ? user.additionalGids as number[] : [],
        Username: typeof user.username === "string" ? user.username : "",
      }
      : null,
    Args: strings(p.args),
    Env: strings(p.env),
    Cwd: typeof p.cwd === "string" ? p.cwd : "/",
    Capabilities: caps
      ? {
        Bounding: strings(caps.bounding),
        Effective: strings(caps.effective),
        Inheritable: strings(caps.inheritable),
        Permitted: strings(caps.permitted),
        Ambient: strings(caps.ambient),
      }
      : null,
    Rlimits: (Array.isArray(p.rlimits) ? p.rlimits as Json[] : []).map((r) => ({
      Type: String(r.type),
      Hard: num(r.hard) ?? 0,
      Soft: num(r.soft) ?? 0,
    })),
    NoNewPrivileges: p.noNewPrivileges === true,
    OOMScoreAdj: num(p.oomScoreAdj) ?? 0,
  };
}

/** OCI `linux.resources` as grpc.LinuxResources. */
export function resourcesFromOci(r: Json): LinuxResources {
  const mem = obj(r.memory), cpu = obj(r.cpu), pids = obj(r.pids), io = obj(r.blockIO);
  return {
    Memory: mem ? { Limit: num(mem.limit) ?? 0, Reservation: num(mem.reservation) ?? 0 } : null,
    CPU: cpu
      ? {
        Shares: num(cpu.shares) ?? 0,
        Quota: num(cpu.quota) ?? 0,
        Period: num(cpu.period) ?? 0,
        Cpus: typeof cpu.cpus === "string" ? cpu.cpus : "",
        Mems: typeof cpu.mems === "string" ? cpu.mems : "",
      }
      : null,
    Pids: pids ? { Limit: num(pids.limit) ?? 0 } : null,
    BlockIO: io ? { Weight: num(io.weight) ?? 0 } : null,
  };
}

/**
 * A parsed config.json as a grpc.Spec. rootPath replaces root.path (the
 * host path means nothing in the guest).
 * @example
 * ```ts
 * const spec = specFromOci(JSON.parse(await Deno.readTextFile("config.json")), "/run/joey/shared/containers/c1/rootfs");
 * ```
 */
export function specFromOci(config: Json, rootPath?: string): OciSpec {
  const root = obj(config.root);
  const linux = obj(config.linux);
  const res = linux && obj(linux.resources);
  const mounts: OciMount[] = (Array.isArray(config.mounts) ? config.mounts as Json[] : []).map((
    m,
  ) => ({
    destination: String(m.destination),
    source: typeof m.source === "string" ? m.source : "",
    type: typeof m.type === "string" ? m.type : "",
    options: strings(m.options),
  }));
  const linuxOut: OciLinux | null = linux
    ? {
      Resources: res ? resourcesFromOci(res) : null,
      CgroupsPath: typeof linux.cgroupsPath === "string" ? linux.cgroupsPath : "",
      Namespaces: (Array.isArray(linux.namespaces) ? linux.namespaces as Json[] : []).map((n) => ({
        Type: String(n.type),
        Path: typeof n.path === "string" ? n.path : "",
      })),
      MaskedPaths: strings(linux.maskedPaths),
      ReadonlyPaths: strings(linux.readonlyPaths),
      Sysctl: Object.fromEntries(
        Object.entries(obj(linux.sysctl) ?? {}).filter(([, v]) => typeof v === "string"),
      ) as Record<string, string>,
    }
    : null;
  const process = obj(config.process);
  return {
    Version: typeof config.ociVersion === "string" ? config.ociVersion : "",
    Process: process ? processFromOci(process) : null,
    Root: { Path: rootPath ?? String(root?.path ?? ""), Readonly: root?.readonly === true },
    Hostname: typeof config.hostname === "string" ? config.hostname : "",
    Mounts: mounts,
    Annotations: Object.fromEntries(
      Object.entries(obj(config.annotations) ?? {}).filter(([, v]) => typeof v === "string"),
    ) as Record<string, string>,
    Linux: linuxOut,
  };
}
