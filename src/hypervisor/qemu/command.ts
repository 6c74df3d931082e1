/**
 * The QEMU command line for a sandbox VM: a `microvm` machine whose RAM is a
 * shared memfd (vhost-user back ends map it), the agent's vsock on joey's
 * vhost-user back end, virtio-fs through virtiofsd, taps for the network,
 * raw-file disks on virtio-blk,
 * a serial console into a file and QMP on a unix socket. Pure, so it is
 * tested without starting anything. ACPI is off: the guest kernel finds its
 * virtio-mmio devices from the `virtio_mmio.device=` entries QEMU then adds
 * to the command line (the project's kernel has no ACPI).
 * @module
 */

import { JoeyError } from "../../errors.ts";
import { BLK_ID_MAX, blkIdFits, type DeviceConfig } from "../mod.ts";

/** A device added before start (the Hypervisor interface's DeviceConfig). */
export type QemuDevice = DeviceConfig;

/** Everything the command line depends on. */
export interface QemuCommandOptions {
  binary: string;
  name: string;
  machineType: string;
  accel: "kvm" | "tcg";
  vcpus: number;
  memoryMiB: number;
  kernel: string;
  initrd: string | null;
  cmdline: string;
  consolePath: string;
  qmpSocket: string;
  pidFile: string;
  devices: QemuDevice[];
}

/** The argv (binary first). */
export function qemuArgv(o: QemuCommandOptions): string[] {
  const machine = o.machineType === "microvm"
    ? "microvm,memory-backend=mem,acpi=off"
    : `${o.machineType},memory-backend=mem`;
  const argv = [
    o.binary,
    "-name",
    o.name,
    "-M",
    machine,
    "-accel",
    o.accel,
    // KVM is only chosen where VMX/SVM exist, and there `host` passes the real CPU through.
    ...(o.accel === "kvm" ? ["-cpu", "host"] : []),
    "-smp",
    String(o.vcpus),
    "-m",
    `${o.memoryMiB}M`,
    "-object",
    `memory-backend-memfd,id=mem,size=${o.memoryMiB}M,share=on`,
    // microvm's virtio-mmio defaults to the legacy (v1) transport, which
    // virtiofsd's libvhost-user refuses; modern only, as joey's own VMM.
    "-global",
    "virtio-mmio.force-legacy=false",
    "-nodefaults",
    "-no-user-config",
    "-nographic",
    "-no-reboot",
    "-chardev",
    `file,id=console,path=${o.consolePath}`,
    "-serial",
    "chardev:console",
    "-qmp",
    `unix:${o.qmpSocket},server=on,wait=off`,
    "-pidfile",
    o.pidFile,
    "-kernel",
    o.kernel,
    ...(o.initrd ? ["-initrd", o.initrd] : []),
    "-append",
    o.cmdline,
  ];
  o.devices.forEach((d, i) => {
    switch (d.kind) {
      case "vsock":
        argv.push("-chardev", `socket,id=vsock${i},path=${d.socket}`);
        argv.push("-device", `vhost-user-vsock-device,chardev=vsock${i}`);
        break;
      case "fs":
        argv.push("-chardev", `socket,id=fs${i},path=${d.socket}`);
        argv.push("-device", `vhost-user-fs-device,chardev=fs${i},tag=${d.tag}`);
        break;
      case "net":
        argv.push("-netdev", `tap,id=net${i},ifname=${d.tap},script=no,downscript=no`);
        argv.push("-device", `virtio-net-device,netdev=net${i},mac=${d.mac}`);
        break;
      case "blk": {
        const ro = d.readOnly ? ",readonly=on" : "";
        argv.push("-drive", `file=${qemuOptValue(d.path)},if=none,id=blk${i},format=raw${ro}`);
        if (d.id !== undefined && !blkIdFits(d.id)) {
          throw new JoeyError("InvalidArgument", `blk id '${d.id}': more than ${BLK_ID_MAX} bytes`);
        }
        const serial = d.id === undefined ? "" : `,serial=${qemuOptValue(d.id)}`;
        argv.push("-device", `virtio-blk-device,drive=blk${i}${serial}`);
        break;
      }
    }
  });
  return argv;
}

/** QEMU's option syntax splits on ',': a literal comma inside a value is doubled. */
function qemuOptValue(value: string): string {
  return value.replaceAll(",", ",,");
}
