/**
 * The virt-container runtime: every pod in its own microVM (QEMU microvm
 * here; the built-in VMM where VMX/SVM exist once its binding is wired),
 * containers created by the guest agent on a virtio-fs share. Host state
 * per sandbox under `[runtime] state_dir`/<sandbox-id>/ (see
 * docs/virt-container.md), which cleanup() undoes after a lost shim.
 * @module
 */
import type { RuntimeFactory } from "../mod.ts";
import { cleanupSandboxDir } from "../../resource/mod.ts";
import { umountAll } from "../../os/mod.ts";
import { VirtContainerHandler } from "./handler.ts";
import { sandboxIdOf } from "./sandbox.ts";

export { VirtContainerHandler } from "./handler.ts";

/** The sandbox id of a bundle's container (its config.json annotations). */
async function sandboxIdOfBundle(id: string, bundle: string): Promise<string> {
  let spec: Record<string, unknown> = {};
  try {
    spec = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
  } catch { /* bundle half gone: the container is its own sandbox */ }
  return sandboxIdOf(id, spec);
}

/** Makes virt-container handlers, and cleans up after a lost shim. */
export const virtContainerFactory: RuntimeFactory = {
  name: "virt-container",

  create(listener, options) {
    return Promise.resolve(new VirtContainerHandler(options.config, listener));
  },

  /**
   * `containerd-shim-joey-v2 delete` for a container whose shim died: the
   * whole sandbox goes (the VM is gone with the shim that drove it), as
   * the persisted state names it: QEMU, virtiofsd, the back end, mounts,
   * taps, cgroups, the state directory.
   */
  async cleanup(id, bundle, options) {
    const sid = await sandboxIdOfBundle(id, bundle);
    await cleanupSandboxDir(options.config.runtime.state_dir, sid);
    try {
      umountAll(`${bundle}/rootfs`);
    } catch { /* nothing mounted */ }
  },
};
