/**
 * The Hypervisor interface: the VM behind a virt-container sandbox, as the
 * runtime sees it. Implementations: `builtin/` (the in-process C VMM,
 * ffi/vmm, through Deno FFI) and `qemu/` (QEMU as a child process).
 *
 * Lifecycle: `prepare` (create the VM from a spec) → `addDevice`… →
 * `start` → (`pause` ↔ `resume`)… → `stop`. `wait` resolves when the guest
 * ends by itself or is stopped.
 * @module
 */

/** What the VM is made of. */
export interface VmSpec {
  /** Sandbox id (names the VM). */
  id: string;
  /** Directory for sockets and logs (created by the caller). */
  dir: string;
  vcpus: number;
  memoryMiB: number;
  /** bzImage or ELF (vmlinux, or a test guest). */
  kernel: string;
  initrd: string | null;
  /** Kernel command line, complete (devices may append to it). */
  cmdline: string;
  /** A network namespace to run in (its taps live there). */
  netns?: string;
}

/** A device added before start. */
export type DeviceConfig =
  | { kind: "vsock"; socket: string }
  | { kind: "fs"; socket: string; tag: string }
  | { kind: "net"; tap: string; mac: string }
  | BlkDeviceConfig;

/** A virtio-blk disk backed by a raw file. */
export interface BlkDeviceConfig {
  kind: "blk";
  /** The raw image file. */
  path: string;
  /** Writes fail with an I/O error and the guest sees VIRTIO_BLK_F_RO. */
  readOnly?: boolean;
  /** What GET_ID answers (the serial), at most BLK_ID_MAX bytes. */
  id?: string;
}

/** virtio-blk's GET_ID answer is 20 bytes; longer serials are refused, not cut. */
export const BLK_ID_MAX = 20;

/** True when a disk serial fits virtio-blk's GET_ID answer. */
export function blkIdFits(id: string): boolean {
  return new TextEncoder().encode(id).length <= BLK_ID_MAX;
}

/** What a hypervisor can do. */
export interface Capabilities {
  fsSharing: boolean;
  hybridVsock: boolean;
  pause: boolean;
  network: boolean;
}

/** How a VM ended. */
export interface VmExit {
  /** "shutdown" (the guest left, with `code`), "reset", "fault" (vCPU/KVM error) or "stopped". */
  reason: "shutdown" | "reset" | "fault" | "stopped";
  code: number;
  /** Details for "fault" and "reset" (the VMM's last-error text). */
  message: string;
}

/** Host resource use of one VM. */
export interface VmMetrics {
  /** Resident memory attributable to the VM, in KiB. */
  rssKiB: number;
}

/** One sandbox VM. */
export interface Hypervisor {
  /** "builtin" or "qemu". */
  readonly name: string;
  /** Creates the VM from spec (loads the kernel); nothing runs yet. */
  prepare(spec: VmSpec): Promise<void>;
  /** Adds a device; only between prepare and start. */
  addDevice(device: DeviceConfig): void | Promise<void>;
  /** Starts the vCPUs; rejects if the VM does not come up within timeoutMs. */
  start(timeoutMs: number): Promise<void>;
  /** Stops the VM and releases everything; safe to call twice. */
  stop(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Resolves when the VM ends (guest exit, reset, fault, or stop). */
  wait(): Promise<VmExit>;
  /** The hybrid-vsock unix socket the agent client dials. */
  agentSocket(): string;
  capabilities(): Capabilities;
  metrics(): Promise<VmMetrics>;
}
