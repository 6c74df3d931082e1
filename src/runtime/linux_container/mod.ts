/**
 * The linux-container runtime: containers on the host through the OCI
 * runtime binary named by `[linux_container] oci_runtime` (runc by
 * default; crun works too), with its state under `[linux_container] root`
 * plus the namespace.
 * @module
 */
import type { RuntimeFactory, RuntimeFactoryOptions } from "../mod.ts";
import { setChildSubreaper } from "../../os/mod.ts";
import { LinuxContainerHandler } from "./handler.ts";
import { OciRuntime } from "./oci_runtime.ts";
import { unmountRootfs } from "./rootfs.ts";

export { LinuxContainerHandler } from "./handler.ts";

/** The OCI runtime binary and its --root for a namespace. */
export function ociSettings(options: RuntimeFactoryOptions): { ociRuntime: string; root: string } {
  const section = options.config.linux_container;
  const base = (section?.root || "/run/joey/runc").replace(/\/+$/, "");
  return { ociRuntime: section?.oci_runtime || "runc", root: `${base}/${options.namespace}` };
}

/** Makes linux-container handlers, and cleans up after a lost shim. */
export const linuxContainerFactory: RuntimeFactory = {
  name: "linux-container",

  create(listener, options) {
    // Container processes outlive the runtime that started them; they must
    // become this process's children so their exit status can be read.
    setChildSubreaper();
    return Promise.resolve(new LinuxContainerHandler({ ...ociSettings(options), listener }));
  },

  async cleanup(id, bundle, options) {
    const { ociRuntime, root } = ociSettings(options);
    // containerd runs `delete` after every shim disconnect, also when the
    // shim already deleted the container: with no OCI state left for the id
    // (runc and crun keep it in <root>/<id>) there is nothing to kill, and
    // the runtime binary is not started at all.
    const hasState = await Deno.lstat(`${root}/${id}`).then(() => true, () => false);
    if (hasState) {
      // The runtime's log goes to a scratch folder: the bundle may be gone.
      const scratch = await Deno.makeTempDir({ prefix: "joey-cleanup-" });
      try {
        const runtime = new OciRuntime(ociRuntime, root, `${scratch}/log.json`);
        await runtime.delete(id, true).catch((err) => {
          if (!/not ?exist|not found/i.test(String(err))) throw err;
        });
      } finally {
        await Deno.remove(scratch, { recursive: true }).catch(() => {});
      }
    }
    unmountRootfs(bundle);
    await Deno.remove(`${bundle}/.joey`, { recursive: true }).catch(() => {});
  },
};
