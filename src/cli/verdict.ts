/**
 * Judges host facts (src/cli/host.ts): one line per thing checked, a verdict
 * per hypervisor and runtime, and which hypervisor `auto` picks and why.
 * Pure functions, so tests can feed them any host.
 * @module
 */
import type { JoeyConfig } from "../config/types.ts";
import type { AssetLocation } from "../config/assets.ts";
import type { BinaryFact, HostFacts } from "./host.ts";

/** ok: fine; warn: works but limited; fail: missing what something needs; info: for the record. */
export type CheckStatus = "ok" | "warn" | "fail" | "info";

/** One line of the report. */
export interface CheckItem {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
}

/** Whether something can run here, and why (not). */
export interface Verdict {
  usable: boolean;
  reason: string;
}

/** The judged report (JSON shape of `joey check --json` without the header fields). */
export interface Judgement {
  checks: CheckItem[];
  hypervisors: {
    builtin: Verdict;
    qemu: Verdict & { accel: "kvm" | "tcg" | null };
  };
  auto: { hypervisor: "builtin" | "qemu"; reason: string };
  runtimes: { "linux-container": Verdict; "virt-container": Verdict };
  configured: { runtime: string; hypervisor: string; usable: boolean; reason: string };
}

function binaryCheck(id: string, title: string, b: BinaryFact, missing: CheckStatus): CheckItem {
  return b.path
    ? { id, title, status: "ok", detail: `${b.path}${b.version ? ` (${b.version})` : ""}` }
    : { id, title, status: missing, detail: `"${b.name}" not found` };
}

function assetCheck(id: string, title: string, a: AssetLocation): CheckItem {
  if (a.path && a.from !== "config") return { id, title, status: "ok", detail: a.path };
  if (a.path) {
    return { id, title, status: "ok", detail: `${a.path} (configured)` };
  }
  return { id, title, status: "fail", detail: `not found (looked at ${a.searched.join(", ")})` };
}

function exists(a: AssetLocation, files: Set<string>): boolean {
  return a.path !== null && (a.from !== "config" || files.has(a.path));
}

/** True when VMX/SVM and a usable /dev/kvm make hardware-virtualized guests possible. */
function hardwareVirt(f: HostFacts): boolean {
  return f.kvm.accessible && f.cpuVirt !== null;
}

/**
 * Judges the facts. `files` holds the configured asset paths that exist
 * (configured paths are taken as given by resolveAssets; the caller checks them).
 */
export function judge(f: HostFacts, config: JoeyConfig, files: Set<string>): Judgement {
  const checks: CheckItem[] = [];
  const add = (c: CheckItem) => checks.push(c);
  add({
    id: "kvm",
    title: "/dev/kvm",
    status: f.kvm.accessible ? "ok" : "fail",
    detail: !f.kvm.present
      ? "missing (load kvm_intel/kvm_amd, or kvm_pvm)"
      : f.kvm.accessible
      ? "present, read/write"
      : `present but not usable: ${f.kvm.error}`,
  });
  add({
    id: "virtualization",
    title: "hardware virtualization",
    status: f.cpuVirt ? "ok" : f.pvm ? "warn" : "fail",
    detail: f.cpuVirt
      ? `${f.cpuVirt.toUpperCase()}${f.nested ? " (nested: this host is itself a VM)" : ""}`
      : f.pvm
      ? "PVM (kvm_pvm) without VMX/SVM: 64-bit test guests run natively, a full Linux guest " +
        "stops after its banner (KVM internal error)"
      : "none: no VMX/SVM flag in /proc/cpuinfo and no PVM",
  });
  add({
    id: "vsock",
    title: "vsock / vhost",
    status: "info",
    detail: [
      `/dev/vhost-vsock ${f.devices.vhostVsock ? "present" : "absent"}`,
      `/dev/vhost-net ${f.devices.vhostNet ? "present" : "absent"}`,
      `/dev/vsock ${f.devices.vsock ? "present" : "absent"}`,
      `modules: ${
        (["vhostVsock", "vhostNet", "vsock"] as const).filter((m) => f.modules[m])
          .map((m) => ({ vhostVsock: "vhost_vsock", vhostNet: "vhost_net", vsock: "vsock" })[m])
          .join(", ") || "none"
      }`,
      "(joey needs none of them: its vsock is hybrid over unix sockets, served to QEMU " +
      "through vhost-user)",
    ].join("; "),
  });
  add({
    id: "tun",
    title: "/dev/net/tun",
    status: f.devices.tun ? "ok" : "warn",
    detail: f.devices.tun ? "present" : "missing: sandboxes get loopback networking only",
  });
  add(binaryCheck("virtiofsd", "virtiofsd", f.virtiofsd, "fail"));
  const qemuCheck = binaryCheck("qemu", "QEMU", f.qemu, "warn");
  if (f.qemu.path && !f.qemuMachines.includes(config.hypervisor.qemu.machine_type)) {
    qemuCheck.status = "warn";
    qemuCheck.detail += `; no machine type "${config.hypervisor.qemu.machine_type}"`;
  }
  add(qemuCheck);
  add(binaryCheck("containerd", "containerd", f.containerd, "warn"));
  add(binaryCheck("oci_runtime", `OCI runtime (${f.ociRuntime.name})`, f.ociRuntime, "fail"));
  const others = f.ociRuntimes.filter((b) => b !== f.ociRuntime);
  if (others.length) {
    add({
      id: "oci_runtimes",
      title: "other OCI runtimes",
      status: "info",
      detail: others.map((b) => `${b.path} (${b.version ?? "?"})`).join(", "),
    });
  }
  const a = f.assets.qemu;
  add(assetCheck("kernel", "guest kernel", a.kernel));
  add(assetCheck("initrd", "guest initrd", a.initrd));
  add(assetCheck("vmm_library", "VMM library", f.assets.builtin.vmmLibrary));
  add({
    id: "cgroups",
    title: "cgroups",
    status: f.cgroups.layout === "none" ? "fail" : "ok",
    detail: {
      v2: "v2 (unified)",
      hybrid: "hybrid: v1 controllers plus a v2 hierarchy for process tracking",
      v1: "v1 (legacy)",
      none: "no cgroup file system mounted",
    }[f.cgroups.layout] +
      (f.cgroups.controllers.length ? `; v1 controllers: ${f.cgroups.controllers.join(", ")}` : ""),
  });

  const guestFiles = (assets: typeof a) =>
    exists(assets.kernel, files) && exists(assets.initrd, files);
  const missingGuest = "the guest kernel or initrd is missing (build them: make build)";

  let builtin: Verdict;
  if (!f.kvm.accessible) builtin = { usable: false, reason: "no usable /dev/kvm" };
  else if (!f.cpuVirt) {
    builtin = {
      usable: false,
      reason: f.pvm
        ? "KVM here is PVM without VMX/SVM: a Linux guest prints its banner, then stops"
        : "no VMX/SVM",
    };
  } else if (!exists(f.assets.builtin.vmmLibrary, files)) {
    builtin = { usable: false, reason: "the VMM library is missing (make build)" };
  } else if (!guestFiles(f.assets.builtin)) builtin = { usable: false, reason: missingGuest };
  else if (!f.virtiofsd.path) builtin = { usable: false, reason: "virtiofsd is missing" };
  else builtin = { usable: true, reason: `KVM with ${f.cpuVirt.toUpperCase()}` };

  const accel = config.hypervisor.qemu.accel === "auto"
    ? (hardwareVirt(f) ? "kvm" : "tcg")
    : config.hypervisor.qemu.accel;
  let qemu: Verdict & { accel: "kvm" | "tcg" | null };
  const machine = config.hypervisor.qemu.machine_type;
  if (!f.qemu.path) qemu = { usable: false, accel: null, reason: "QEMU is missing" };
  else if (!f.qemuMachines.includes(machine)) {
    qemu = { usable: false, accel, reason: `this QEMU has no machine type "${machine}"` };
  } else if (accel === "kvm" && !f.kvm.accessible) {
    qemu = { usable: false, accel, reason: "accel = kvm but /dev/kvm is not usable" };
  } else if (!guestFiles(f.assets.qemu)) qemu = { usable: false, accel, reason: missingGuest };
  else if (!f.virtiofsd.path) qemu = { usable: false, accel, reason: "virtiofsd is missing" };
  else {
    qemu = {
      usable: true,
      accel,
      reason: accel === "kvm"
        ? "QEMU with KVM"
        : "QEMU with TCG (software emulation: slower, but boots Linux without VMX/SVM)",
    };
  }

  const auto: Judgement["auto"] = hardwareVirt(f)
    ? {
      hypervisor: "builtin",
      reason: `VMX/SVM is available (${f.cpuVirt}), so the in-process VMM`,
    }
    : {
      hypervisor: "qemu",
      reason: f.pvm
        ? "no VMX/SVM (KVM is PVM), so QEMU with TCG"
        : "no hardware virtualization, so QEMU with TCG",
    };

  const ociOk = f.ociRuntime.path !== null && f.cgroups.layout !== "none";
  const linux: Verdict = ociOk
    ? { usable: true, reason: `${f.ociRuntime.path} on cgroup ${f.cgroups.layout}` }
    : {
      usable: false,
      reason: f.ociRuntime.path ? "no cgroups" : `"${f.ociRuntime.name}" not found`,
    };
  const chosen = config.hypervisor.name === "auto" ? auto.hypervisor : config.hypervisor.name;
  const hv = chosen === "builtin" ? builtin : qemu;
  const virt: Verdict = !f.virtContainer.available
    ? { usable: false, reason: f.virtContainer.reason }
    : hv.usable
    ? { usable: true, reason: `hypervisor ${chosen}: ${hv.reason}` }
    : { usable: false, reason: `hypervisor ${chosen}: ${hv.reason}` };

  const runtimes = { "linux-container": linux, "virt-container": virt };
  const name = config.runtime.name;
  const configured = name === "wasm"
    ? { usable: false, reason: "wasm is reserved, not implemented" }
    : runtimes[name];
  return {
    checks,
    hypervisors: { builtin, qemu },
    auto,
    runtimes,
    configured: {
      runtime: name,
      hypervisor: config.hypervisor.name,
      usable: configured.usable,
      reason: configured.reason,
    },
  };
}
