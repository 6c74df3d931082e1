/**
 * Facts about this host that decide what joey can do here: KVM and the kind
 * of virtualization behind it, vsock/vhost, tun, the binaries joey drives,
 * the guest assets and the cgroup layout. Gathering (probeHost) is kept
 * apart from judging (src/cli/verdict.ts) so the judgement can be tested on
 * any host with made-up facts.
 * @module
 */
import type { JoeyConfig } from "../config/types.ts";
import { exists, type GuestAssets, resolveAssets } from "../config/assets.ts";

/** A binary joey runs: where it is and what it says its version is. */
export interface BinaryFact {
  /** As configured or looked up (a name or a path). */
  name: string;
  /** Absolute path, or null when not found / not executable. */
  path: string | null;
  version: string | null;
}

/** Everything `joey check` looks at. */
export interface HostFacts {
  kernel: string;
  arch: string;
  cpus: number;
  kvm: { present: boolean; accessible: boolean; error: string | null };
  /** Hardware virtualization flag in /proc/cpuinfo. */
  cpuVirt: "vmx" | "svm" | null;
  /** The PVM KVM module is loaded (kvm_pvm): KVM without VMX/SVM. */
  pvm: boolean;
  /** Running inside a VM (the cpuinfo "hypervisor" flag). */
  nested: boolean;
  devices: { vhostVsock: boolean; vhostNet: boolean; vsock: boolean; tun: boolean };
  modules: { vhostVsock: boolean; vhostNet: boolean; vsock: boolean; tun: boolean };
  virtiofsd: BinaryFact;
  qemu: BinaryFact;
  /** Machine types `qemu -machine help` lists (empty without QEMU). */
  qemuMachines: string[];
  containerd: BinaryFact;
  ociRuntime: BinaryFact;
  /** The other OCI runtimes found (runc, crun), for information. */
  ociRuntimes: BinaryFact[];
  /** Guest assets for each hypervisor section. */
  assets: { builtin: GuestAssets; qemu: GuestAssets };
  cgroups: { layout: "v2" | "hybrid" | "v1" | "none"; controllers: string[] };
  /** Whether this build has the virt-container runtime, and if not why. */
  virtContainer: { available: boolean; reason: string };
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return "";
  }
}

/** Finds an executable by name on PATH (plus the sbin directories) or checks a path. */
export async function which(name: string, pathEnv = Deno.env.get("PATH") ?? ""): Promise<
  string | null
> {
  const candidates = name.includes("/")
    ? [name]
    : [...pathEnv.split(":"), "/usr/local/sbin", "/usr/sbin", "/sbin"].filter(Boolean)
      .map((dir) => `${dir}/${name}`);
  for (const path of candidates) {
    try {
      const info = await Deno.stat(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    } catch { /* next */ }
  }
  return null;
}

/** Runs `path args…` briefly and returns its output lines (stdout, then stderr). */
async function outputLines(path: string, args: string[]): Promise<string[]> {
  try {
    const out = await new Deno.Command(path, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(5000),
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return text.split("\n").map((l) => l.trim()).filter((l) => l);
  } catch {
    return [];
  }
}

/** The first line `path args…` prints. */
async function versionLine(path: string, args: string[]): Promise<string | null> {
  return (await outputLines(path, args))[0] ?? null;
}

/** Machine types the QEMU at path supports. */
async function qemuMachines(path: string | null): Promise<string[]> {
  if (!path) return [];
  return (await outputLines(path, ["-machine", "help"])).slice(1).map((l) => l.split(/\s+/)[0]!);
}

async function binary(name: string, args: string[], pick?: RegExp): Promise<BinaryFact> {
  const path = await which(name);
  if (!path) return { name, path: null, version: null };
  const line = await versionLine(path, args);
  const m = line && pick ? pick.exec(line) : null;
  return { name, path, version: m?.[1] ?? line };
}

async function kvmFact(): Promise<HostFacts["kvm"]> {
  if (!(await exists("/dev/kvm"))) return { present: false, accessible: false, error: null };
  try {
    const f = await Deno.open("/dev/kvm", { read: true, write: true });
    f.close();
    return { present: true, accessible: true, error: null };
  } catch (err) {
    return { present: true, accessible: false, error: String(err) };
  }
}

/** The cgroup layout from /proc/self/mounts. */
export function cgroupLayout(mounts: string): HostFacts["cgroups"] {
  const entries = mounts.split("\n").map((l) => l.split(" ")).filter((f) => f.length > 3);
  const v2Root = entries.some((f) => f[1] === "/sys/fs/cgroup" && f[2] === "cgroup2");
  const v1 = entries.filter((f) => f[2] === "cgroup");
  const v2Any = entries.some((f) => f[2] === "cgroup2");
  const controllers = v1.flatMap((f) =>
    (f[3] ?? "").split(",").filter((o) =>
      !["rw", "ro", "relatime", "nosuid", "nodev", "noexec"].includes(o) && !o.startsWith("name=")
    )
  ).sort();
  if (v2Root) return { layout: "v2", controllers };
  if (v1.length && v2Any) return { layout: "hybrid", controllers };
  if (v1.length) return { layout: "v1", controllers };
  return { layout: "none", controllers };
}

async function virtContainerFact(): Promise<HostFacts["virtContainer"]> {
  try {
    const { runtimeFactory } = await import("../runtime/registry.ts");
    await runtimeFactory("virt-container");
    return { available: true, reason: "built in" };
  } catch (err) {
    return {
      available: false,
      reason: `not available in this build yet (${err instanceof Error ? err.message : err})`,
    };
  }
}

/** Gathers the facts; never throws (what cannot be read counts as absent). */
export async function probeHost(config: JoeyConfig): Promise<HostFacts> {
  const cpuinfo = await readText("/proc/cpuinfo");
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? "").trim().split(/\s+/));
  const mod = (name: string) => exists(`/sys/module/${name}`);
  const qemuCfg = config.hypervisor.qemu;
  const otherOci = ["runc", "crun"].filter((n) => n !== config.linux_container.oci_runtime);
  const [
    kvm,
    pvm,
    devices,
    modules,
    virtiofsd,
    qemu,
    containerd,
    ociRuntime,
    others,
    mounts,
    virtContainer,
  ] = await Promise.all([
    kvmFact(),
    mod("kvm_pvm"),
    Promise.all(["/dev/vhost-vsock", "/dev/vhost-net", "/dev/vsock", "/dev/net/tun"].map(exists)),
    Promise.all(["vhost_vsock", "vhost_net", "vsock", "tun"].map(mod)),
    binary(qemuCfg.virtio_fs_daemon, ["--version"], /version (\S+)/),
    binary(qemuCfg.path, ["--version"], /version (\S+)/),
    binary("containerd", ["--version"], /^containerd \S+ (\S+)/),
    binary(config.linux_container.oci_runtime, ["--version"], /version (\S+)/),
    Promise.all(otherOci.map((n) => binary(n, ["--version"], /version (\S+)/))),
    readText("/proc/self/mounts"),
    virtContainerFact(),
  ]);
  return {
    kernel: Deno.osRelease(),
    arch: Deno.build.arch,
    cpus: navigator.hardwareConcurrency,
    kvm,
    cpuVirt: flags.has("vmx") ? "vmx" : flags.has("svm") ? "svm" : null,
    pvm,
    nested: flags.has("hypervisor"),
    devices: {
      vhostVsock: devices[0]!,
      vhostNet: devices[1]!,
      vsock: devices[2]!,
      tun: devices[3]!,
    },
    modules: {
      vhostVsock: modules[0]!,
      vhostNet: modules[1]!,
      vsock: modules[2]!,
      // tun may be built in (no /sys/module/tun): the device node tells.
      tun: modules[3]! || devices[3]!,
    },
    virtiofsd,
    qemu,
    qemuMachines: await qemuMachines(qemu.path),
    containerd,
    ociRuntime,
    ociRuntimes: [ociRuntime, ...others].filter((b) => b.path),
    assets: {
      builtin: resolveAssets(config.hypervisor.builtin),
      qemu: resolveAssets(config.hypervisor.qemu),
    },
    cgroups: cgroupLayout(mounts),
    virtContainer,
  };
}
