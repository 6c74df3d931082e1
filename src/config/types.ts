/**
 * The shape of joey's effective configuration (TOML file + defaults +
 * allowed annotation overrides). Key names follow the TOML file.
 * @module
 */

/** `[runtime]`: which runtime serves a pod, and shim behaviour. */
export interface RuntimeSection {
  /** "linux-container" (host namespaces via runc) or "virt-container" (VM per pod). */
  name: "linux-container" | "virt-container" | "wasm";
  /** "pod": one shim per pod; "node": one shim daemon per namespace. */
  shim_mode: "pod" | "node";
  /** Annotation keys (after `io.joey.config.`) a pod may override, e.g. "runtime.name". */
  enable_annotations: string[];
  /** Raise the log level to debug. */
  debug: boolean;
  /** Where per-sandbox state lives. */
  state_dir: string;
}

/** `[linux_container]`: the OCI runtime binary behind linux-container. */
export interface LinuxContainerSection {
  /** Path or name of the OCI runtime binary (runc or crun). */
  oci_runtime: string;
  /** The OCI runtime's --root (its state directory); the namespace is appended. */
  root: string;
}

/** Settings every VM hypervisor shares (Kata's `[hypervisor.*]` keys). */
export interface VmSection {
  /** Guest kernel (bzImage/vmlinux); "" = the installed or built one (src/config/assets.ts). */
  kernel: string;
  /** Guest initrd holding the agent; "" = the installed or built one. */
  initrd: string;
  /** Extra kernel command-line parameters, appended to joey's own. */
  kernel_params: string;
  /** vCPUs of a sandbox VM. */
  default_vcpus: number;
  /** Memory of a sandbox VM in MiB. */
  default_memory: number;
  /** The virtiofsd binary serving a sandbox's shared directory. */
  virtio_fs_daemon: string;
  /** virtiofsd cache mode: "auto", "always" or "never". */
  virtio_fs_cache: "auto" | "always" | "never";
  /** How long the VM may take from start until the agent answers, in ms. */
  boot_timeout_ms: number;
  /** Copy the guest console to the shim log. */
  enable_debug: boolean;
}

/** `[hypervisor.builtin]`: the in-process FFI VMM (ffi/vmm). */
export interface BuiltinHypervisorSection extends VmSection {
  /** The VMM shared library; "" = the installed or built one. */
  vmm_library: string;
}

/** `[hypervisor.qemu]`: QEMU as a child process. */
export interface QemuHypervisorSection extends VmSection {
  /** The QEMU binary. */
  path: string;
  /** QEMU machine type. */
  machine_type: string;
  /** "auto" (KVM where hardware virtualization is usable, TCG otherwise), "kvm" or "tcg". */
  accel: "auto" | "kvm" | "tcg";
}

/** `[hypervisor]`: which VMM runs a virt-container sandbox, and each one's settings. */
export interface HypervisorSection {
  /** "auto" (builtin where VMX/SVM exist, qemu otherwise), "builtin" or "qemu". */
  name: "auto" | "builtin" | "qemu";
  builtin: BuiltinHypervisorSection;
  qemu: QemuHypervisorSection;
}

/** `[agent]`: the guest agent and the host's client to it. */
export interface AgentSection {
  /** vsock port the agent listens on in the guest. */
  port: number;
  /** How long one connection attempt to the agent may take, in ms. */
  dial_timeout_ms: number;
  /** Timeout of one agent request, in ms (0 = none). */
  request_timeout_ms: number;
  /** Ask the agent for debug logs (forwarded to the shim log). */
  debug: boolean;
}

/** The whole effective configuration. Sections other runtimes add extend it. */
export interface JoeyConfig {
  runtime: RuntimeSection;
  linux_container: LinuxContainerSection;
  hypervisor: HypervisorSection;
  agent: AgentSection;
  [section: string]: unknown;
}
