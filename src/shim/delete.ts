/**
 * `containerd-shim-joey-v2 delete`: cleanup after a lost shim. Whatever
 * the runtime left for this id is stopped and removed, then a binary
 * DeleteResponse goes to stdout (exit status 128+SIGKILL, as the runc shim
 * reports) and containerd publishes TaskExit and TaskDelete itself.
 *
 * containerd also runs it after every clean Delete (on each shim
 * disconnect), and waits for it before `ctr run --rm` returns. When the
 * daemon already deleted the container (deleted_mark.ts), there is nothing
 * to clean: the configuration, the runtimes and the .proto files are then
 * never loaded.
 * @module
 */
import { invalidArgument } from "../errors.ts";
import { shimGroup, socketAddress, socketPath } from "./address.ts";
import { readBundleSpec } from "./bundle.ts";
import { encodeDeleteResponse } from "./delete_response.ts";
import { takeDeletedMark } from "./deleted_mark.ts";
import type { ShimFlags } from "./flags.ts";
import { log } from "./log.ts";

const SIGKILL_STATUS = 128 + 9;

/** Runs `delete`; returns the exit code. */
export async function runDelete(flags: ShimFlags): Promise<number> {
  if (!flags.id) throw invalidArgument("delete needs -id");
  const bundle = flags.bundle || Deno.cwd();
  const [spec, deletedByShim] = await Promise.all([
    // A half-gone bundle ({}) is cleaned up with the configured runtime.
    readBundleSpec(bundle),
    takeDeletedMark(bundle),
  ]);
  if (!deletedByShim) await cleanupLost(flags, bundle, spec);
  await removeDeadSocket(flags, spec);
  await Deno.stdout.write(
    encodeDeleteResponse({ pid: 0, exitStatus: SIGKILL_STATUS, exitedAt: new Date() }),
  );
  return 0;
}

/** Stops and removes what the configured runtime left for a container whose shim is gone. */
async function cleanupLost(
  flags: ShimFlags,
  bundle: string,
  spec: Record<string, unknown>,
): Promise<void> {
  const [{ applyAnnotations, loadConfig }, { configAnnotations, runtimeFactory }] = await Promise
    .all([import("../config/mod.ts"), import("../runtime/registry.ts")]);
  const loaded = applyAnnotations(await loadConfig(), configAnnotations(spec));
  const factory = await runtimeFactory(loaded.config.runtime.name);
  try {
    await factory.cleanup(flags.id, bundle, { namespace: flags.namespace, config: loaded.config });
  } catch (err) {
    log.warn("cleanup after a lost shim was incomplete", { id: flags.id, error: err });
  }
}

/**
 * Removes the group's shim socket when no daemon answers on it any more
 * (the daemon was killed); a live socket belongs to a shim still serving
 * other containers of the pod and stays.
 */
async function removeDeadSocket(flags: ShimFlags, spec: Record<string, unknown>): Promise<void> {
  if (!flags.namespace) return;
  const annotations = (spec.annotations ?? {}) as Record<string, string>;
  const path = socketPath(
    await socketAddress(flags.address, flags.namespace, shimGroup(flags.id, annotations)),
  );
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused) {
      await Deno.remove(path).catch(() => {});
    }
  }
}
