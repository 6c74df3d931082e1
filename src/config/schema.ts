/**
 * Every configuration key joey knows: its type, default, environment
 * variable, whether a pod annotation may override it, and what it means.
 * Validation (src/config/validate.ts), the defaults, `joey env` and the
 * configuration reference (docs/configuration.md, checked by a test) all
 * come from this one table, so a key cannot exist in one and not another.
 * @module
 */

/** A value a key can hold. */
export type ConfigValue = string | number | boolean | string[];

/** The description of one leaf key. */
export interface KeySpec {
  /** Dotted key, e.g. "runtime.name". */
  key: string;
  type: "string" | "boolean" | "integer" | "string[]";
  /** For strings: the only values allowed. */
  enum?: readonly string[];
  /** For integers: inclusive bounds. */
  min?: number;
  max?: number;
  default: ConfigValue;
  /** Environment variable that overrides the file. */
  env?: string;
  /**
   * Whether `io.joey.config.<key>` may override it (when also listed in
   * runtime.enable_annotations). Keys naming host paths or binaries never
   * may: a pod must not choose what the host executes or where it writes.
   */
  annotatable: boolean;
  doc: string;
}

const MAX_INT = 2 ** 31 - 1;

/** The keys every VM hypervisor section has (Kata's `[hypervisor.*]`). */
function vmKeys(section: string, bootTimeoutMs: number): KeySpec[] {
  const k = (name: string) => `${section}.${name}`;
  return [
    {
      key: k("kernel"),
      type: "string",
      default: "",
      annotatable: false,
      doc: 'Guest kernel image. "" = the installed one (PREFIX/share/joey/) or the built one ' +
        "(build/guest/kernel/vmlinux, else bzImage).",
    },
    {
      key: k("initrd"),
      type: "string",
      default: "",
      annotatable: false,
      doc:
        'Guest initrd holding the agent. "" = the installed one or the built one under build/guest/.',
    },
    {
      key: k("kernel_params"),
      type: "string",
      default: "",
      annotatable: true,
      doc: "Extra kernel command-line parameters, appended to joey's own.",
    },
    {
      key: k("default_vcpus"),
      type: "integer",
      min: 1,
      max: 256,
      default: 1,
      annotatable: true,
      doc: "vCPUs of a sandbox VM.",
    },
    {
      key: k("default_memory"),
      type: "integer",
      min: 64,
      max: 1 << 20,
      default: 256,
      annotatable: true,
      doc: "Memory of a sandbox VM, in MiB.",
    },
    {
      key: k("virtio_fs_daemon"),
      type: "string",
      default: "/usr/lib/qemu/virtiofsd",
      annotatable: false,
      doc: "The virtiofsd binary that shares a sandbox's directory with its guest.",
    },
    {
      key: k("virtio_fs_cache"),
      type: "string",
      enum: ["auto", "always", "never"],
      default: "auto",
      annotatable: true,
      doc: "virtiofsd cache mode.",
    },
    {
      key: k("boot_timeout_ms"),
      type: "integer",
      min: 100,
      max: MAX_INT,
      default: bootTimeoutMs,
      annotatable: true,
      doc: "How long a VM may take from start until its agent answers, in ms.",
    },
    {
      key: k("enable_debug"),
      type: "boolean",
      default: false,
      annotatable: true,
      doc: "Copy the guest console to the shim log (tagged with the sandbox id).",
    },
  ];
}

/** The key table, in the order the reference and `joey env` list them. */
export const KEYS: readonly KeySpec[] = [
  {
    key: "runtime.name",
    type: "string",
    enum: ["linux-container", "virt-container", "wasm"],
    default: "virt-container",
    env: "JOEY_RUNTIME",
    annotatable: true,
    doc: "Runtime serving a pod: virt-container (a VM per pod), linux-container (host " +
      "namespaces through runc/crun, for trusted workloads) or wasm (reserved).",
  },
  {
    key: "runtime.shim_mode",
    type: "string",
    enum: ["pod", "node"],
    default: "pod",
    annotatable: false,
    doc: "pod: one shim process per pod; node: one shim daemon per containerd namespace.",
  },
  {
    key: "runtime.enable_annotations",
    type: "string[]",
    default: [],
    annotatable: false,
    doc: "Keys a pod may override with an `io.joey.config.<key>` annotation, " +
      'e.g. ["runtime.name", "hypervisor.qemu.default_memory"]. Only keys marked ' +
      "annotatable in this reference may be listed.",
  },
  {
    key: "runtime.debug",
    type: "boolean",
    default: false,
    env: "JOEY_DEBUG",
    annotatable: true,
    doc: "Log at debug level (as containerd's --debug does).",
  },
  {
    key: "runtime.state_dir",
    type: "string",
    default: "/run/joey",
    env: "JOEY_STATE_DIR",
    annotatable: false,
    doc: "Where per-sandbox state lives (<state_dir>/<sandbox-id>/).",
  },
  {
    key: "linux_container.oci_runtime",
    type: "string",
    default: "runc",
    env: "JOEY_OCI_RUNTIME",
    annotatable: false,
    doc: "The OCI runtime binary behind linux-container: a name on PATH or a path (runc or crun).",
  },
  {
    key: "linux_container.root",
    type: "string",
    default: "/run/joey/runc",
    annotatable: false,
    doc: "The OCI runtime's --root (its state directory); the namespace is appended.",
  },
  {
    key: "hypervisor.name",
    type: "string",
    enum: ["auto", "builtin", "qemu"],
    default: "auto",
    env: "JOEY_HYPERVISOR",
    annotatable: true,
    doc: "VMM behind virt-container: builtin (in-process FFI VMM), qemu, or auto (builtin " +
      "where VMX/SVM exist, qemu otherwise; `joey check` says which and why).",
  },
  ...vmKeys("hypervisor.builtin", 10_000),
  {
    key: "hypervisor.builtin.vmm_library",
    type: "string",
    default: "",
    annotatable: false,
    doc: 'The VMM shared library. "" = the installed one (PREFIX/share/joey/) or the built one ' +
      "(build/vmm/).",
  },
  ...vmKeys("hypervisor.qemu", 30_000),
  {
    key: "hypervisor.qemu.path",
    type: "string",
    default: "qemu-system-x86_64",
    annotatable: false,
    doc: "The QEMU binary: a name on PATH or a path.",
  },
  {
    key: "hypervisor.qemu.machine_type",
    type: "string",
    default: "microvm",
    annotatable: true,
    doc: "QEMU machine type.",
  },
  {
    key: "hypervisor.qemu.accel",
    type: "string",
    enum: ["auto", "kvm", "tcg"],
    default: "auto",
    annotatable: true,
    doc: "auto: KVM where hardware virtualization is usable, TCG (software emulation) otherwise.",
  },
  {
    key: "agent.port",
    type: "integer",
    min: 1,
    max: 0xffff_ffff,
    default: 1024,
    annotatable: false,
    doc: "vsock port the guest agent listens on.",
  },
  {
    key: "agent.dial_timeout_ms",
    type: "integer",
    min: 1,
    max: MAX_INT,
    default: 1000,
    annotatable: true,
    doc: "How long one connection attempt to the agent may take, in ms (retried until " +
      "boot_timeout_ms).",
  },
  {
    key: "agent.request_timeout_ms",
    type: "integer",
    min: 0,
    max: MAX_INT,
    default: 30_000,
    annotatable: true,
    doc: "Timeout of one agent request other than waits, in ms (0 = none).",
  },
  {
    key: "agent.debug",
    type: "boolean",
    default: false,
    annotatable: true,
    doc: "Ask the agent for debug logs (forwarded to the shim log, tagged with sandbox and " +
      "container ids).",
  },
];

/** Keys by dotted name. */
export const KEY_MAP: ReadonlyMap<string, KeySpec> = new Map(KEYS.map((k) => [k.key, k]));

/** Every table (dotted) that holds keys, e.g. "hypervisor" and "hypervisor.qemu". */
export const SECTIONS: ReadonlySet<string> = new Set(
  KEYS.flatMap((k) => {
    const parts = k.key.split(".");
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join("."));
  }),
);
