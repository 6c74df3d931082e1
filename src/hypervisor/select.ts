/**
 * Which hypervisor runs a virt-container sandbox: `[hypervisor] name`, where
 * "auto" means the built-in VMM where the CPU offers hardware
 * virtualization (VMX/SVM) and QEMU otherwise. On a PVM host, /dev/kvm
 * exists but a real Linux guest dies under it, so "auto" goes by the CPU
 * flags, not by /dev/kvm.
 * @module
 */
import type { HypervisorSection } from "../config/types.ts";

/** The choice and why it was made. */
export interface HypervisorChoice {
  name: "builtin" | "qemu";
  reason: string;
}

/** The CPU's hardware virtualization flag ("vmx", "svm") or null. */
export async function hardwareVirtualization(
  cpuinfoPath = "/proc/cpuinfo",
): Promise<"vmx" | "svm" | null> {
  try {
    const text = await Deno.readTextFile(cpuinfoPath);
    const m = /^flags\s*:.*\b(vmx|svm)\b/m.exec(text);
    return m ? m[1] as "vmx" | "svm" : null;
  } catch {
    return null;
  }
}

/** Resolves `[hypervisor] name` for this host. */
export async function selectHypervisor(
  section: Pick<HypervisorSection, "name">,
  cpuinfoPath?: string,
): Promise<HypervisorChoice> {
  if (section.name !== "auto") {
    return { name: section.name, reason: `[hypervisor] name = "${section.name}"` };
  }
  const flag = await hardwareVirtualization(cpuinfoPath);
  return flag
    ? { name: "builtin", reason: `auto: the CPU offers ${flag.toUpperCase()}` }
    : { name: "qemu", reason: "auto: no VMX/SVM on this CPU, so QEMU (TCG) boots the guest" };
}
