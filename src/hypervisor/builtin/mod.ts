/**
 * The built-in hypervisor: the sandbox VM runs inside this process through
 * the C VMM (ffi/vmm) loaded with Deno FFI. Devices are the library's
 * models (virtio-mmio); the agent's hybrid vsock is `${dir}/agent.sock`.
 * @module
 */
import { JoeyError } from "../../errors.ts";
import type { BuiltinHypervisorSection } from "../../config/types.ts";
import { BLK_ID_MAX, blkIdFits } from "../mod.ts";
import type {
  BlkDeviceConfig,
  Capabilities,
  DeviceConfig,
  Hypervisor,
  VmExit,
  VmMetrics,
  VmSpec,
} from "../mod.ts";
import { ERR_MAX } from "./ffi.ts";
import { cString, toCString, unwrap } from "./errors.ts";
import { vmm } from "./library.ts";
import { BuiltinVm } from "./vm.ts";

export { BuiltinVm, type BuiltinVmOptions, type VmState } from "./vm.ts";
export { VhostVsockBackend, type VhostVsockOptions } from "./vhost_vsock.ts";

/** Options beyond the configuration section. */
export interface BuiltinOptions {
  /** Add the agent's vsock device in prepare (default true; test guests need none). */
  agentVsock?: boolean;
}

/** Spec text is "key=value,…": a value must not contain either separator. */
function specValue(key: string, value: string): string {
  if (/[,=]/.test(value) || value === "") {
    throw new JoeyError("InvalidArgument", `device ${key} '${value}': empty, or has ',' or '='`);
  }
  return `${key}=${value}`;
}

function blkSpec(device: BlkDeviceConfig): string {
  const parts = [specValue("path", device.path)];
  if (device.readOnly) parts.push("ro=1");
  if (device.id !== undefined) {
    if (!blkIdFits(device.id)) {
      throw new JoeyError(
        "InvalidArgument",
        `blk id '${device.id}': more than ${BLK_ID_MAX} bytes`,
      );
    }
    parts.push(specValue("id", device.id));
  }
  return parts.join(",");
}

/** The device type and spec text joey_vm_add_device takes for a device. */
export function deviceSpec(device: DeviceConfig): { type: string; spec: string } {
  switch (device.kind) {
    case "vsock":
      return { type: "vsock", spec: `cid=3,uds=${device.socket}` };
    case "fs":
      return { type: "fs", spec: `tag=${device.tag},socket=${device.socket}` };
    case "net":
      return { type: "net", spec: `tap=${device.tap},mac=${device.mac}` };
    case "blk":
      return { type: "blk", spec: blkSpec(device) };
  }
}

/**
 * Whether this host can run built-in VMs: null if it can, else the reason
 * (e.g. no /dev/kvm, a missing KVM capability, the library not loadable).
 */
export function builtinUnavailable(library = ""): string | null {
  try {
    const err = new Uint8Array(ERR_MAX);
    return vmm(library).joey_vmm_check(err, err.length) === 0 ? null : cString(err);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Keeps `count` pre-built VM shells (KVM VM, interrupt controllers, guest
 * RAM of memoryMiB) ready so creating a VM of that size skips the kernel's
 * setup work; each shell is used once. `count` 0 frees them.
 */
export async function setShellPool(count: number, memoryMiB: number): Promise<void> {
  const rc = await vmm().joey_vmm_pool(count, BigInt(memoryMiB) << 20n);
  unwrap(rc, `VM shell pool of ${count} × ${memoryMiB} MiB`, () => "");
}

/** Shells ready in the pool now. */
export function shellPoolReady(): number {
  return vmm().joey_vmm_pool_ready();
}

/** Whether the VMM library has a device model of this type ("vsock", "fs", …). */
export function deviceKnown(type: string, library = ""): boolean {
  return vmm(library).joey_vmm_device_known(toCString(type)) === 1;
}

/** A sandbox VM in this process. */
export class BuiltinHypervisor implements Hypervisor {
  readonly name = "builtin";
  #section: Partial<BuiltinHypervisorSection>;
  #options: BuiltinOptions;
  #spec: VmSpec | null = null;
  #vm: BuiltinVm | null = null;

  constructor(section: Partial<BuiltinHypervisorSection> = {}, options: BuiltinOptions = {}) {
    this.#section = section;
    this.#options = options;
  }

  /** Creates the VM (kernel and initrd loaded) and, by default, its agent vsock. */
  async prepare(spec: VmSpec): Promise<void> {
    if (this.#vm) throw new JoeyError("FailedPrecondition", `VM ${spec.id}: already prepared`);
    if (spec.netns) {
      throw new JoeyError("Unimplemented", "builtin VMM: running in a network namespace");
    }
    this.#spec = spec;
    this.#vm = await BuiltinVm.create({
      vcpus: spec.vcpus,
      memoryMiB: spec.memoryMiB,
      kernel: spec.kernel,
      initrd: spec.initrd,
      cmdline: spec.cmdline,
      library: this.#section.vmm_library ?? "",
    });
    if (this.#options.agentVsock ?? true) {
      try {
        await this.addDevice({ kind: "vsock", socket: this.agentSocket() });
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
  }

  /** The VM object (for console, memory and events). */
  get vm(): BuiltinVm {
    if (!this.#vm) {
      throw new JoeyError("FailedPrecondition", "builtin VMM: prepare() was not called");
    }
    return this.#vm;
  }

  /** Adds a device model (between prepare and start); disks too. */
  async addDevice(device: DeviceConfig): Promise<void> {
    const { type, spec } = deviceSpec(device);
    await this.vm.addDevice(type, spec);
  }

  /** Starts the vCPUs; rejects (and stops the VM) if it is not running within timeoutMs. */
  async start(timeoutMs: number): Promise<void> {
    const vm = this.vm;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        vm.start().then(() => vm.started),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new JoeyError("DeadlineExceeded", `VM ${vm.id}: not started in ${timeoutMs} ms`),
              ),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      await this.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops and destroys the VM; safe to call twice. */
  async stop(): Promise<void> {
    const vm = this.#vm;
    if (!vm) return;
    this.#vm = null;
    await vm.destroy();
  }

  async pause(): Promise<void> {
    await this.vm.pause();
  }

  resume(): Promise<void> {
    this.vm.resume();
    return Promise.resolve();
  }

  /** Resolves when the VM ends. */
  wait(): Promise<VmExit> {
    return this.vm.wait();
  }

  agentSocket(): string {
    if (!this.#spec) {
      throw new JoeyError("FailedPrecondition", "builtin VMM: prepare() was not called");
    }
    return `${this.#spec.dir}/agent.sock`;
  }

  /** What the loaded library supports (device models are optional). */
  capabilities(): Capabilities {
    const known = (type: string) => deviceKnown(type, this.#section.vmm_library ?? "");
    return {
      fsSharing: known("fs"),
      hybridVsock: known("vsock"),
      pause: true,
      network: known("net"),
    };
  }

  /** Guest pages the VM touched (the VMM's own overhead is shared by the process). */
  metrics(): Promise<VmMetrics> {
    return Promise.resolve({ rssKiB: this.#vm ? this.#vm.guestResidentBytes() / 1024 : 0 });
  }
}
