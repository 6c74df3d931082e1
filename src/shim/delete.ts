/**
 * `containerd-shim-joey-v2 … delete`: cleanup after a lost shim. Whatever
 * the runtime left for this id is stopped and removed, then a binary
 * DeleteResponse goes to stdout (exit status 128+SIGKILL, as the runc shim
 * reports) and containerd publishes TaskExit and TaskDelete itself.
 * @module
 */
import { applyAnnotations, loadConfig } from "../config/mod.ts";
import { invalidArgument } from "../errors.ts";
import { messageType, toTimestamp } from "../proto/registry.ts";
import { configAnnotations, runtimeFactory } from "../runtime/registry.ts";
import { shimGroup, socketAddress, socketPath } from "./address.ts";
import type { ShimFlags } from "./flags.ts";
import { log } from "./log.ts";

const SIGKILL_STATUS = 128 + 9;

/** Runs `delete`; returns the exit code. */
export async function runDelete(flags: ShimFlags): Promise<number> {
  if (!flags.id) throw invalidArgument("delete needs -id");
  const bundle = flags.bundle || Deno.cwd();
  let spec: Record<string, unknown> = {};
  try {
    spec = JSON.parse(await Deno.readTextFile(`${bundle}/config.json`));
  } catch { /* bundle half gone: clean up with the configured runtime */ }
  const loaded = applyAnnotations(await loadConfig(), configAnnotations(spec));
  const factory = await runtimeFactory(loaded.config.runtime.name);
  try {
    await factory.cleanup(flags.id, bundle, { namespace: flags.namespace, config: loaded.config });
  } catch (err) {
    log.warn("cleanup after a lost shim was incomplete", { id: flags.id, error: err });
  }
  await removeDeadSocket(flags, spec);
  const response = messageType("containerd.task.v2.DeleteResponse").encode({
    pid: 0,
    exit_status: SIGKILL_STATUS,
    exited_at: toTimestamp(new Date()),
  });
  await Deno.stdout.write(response);
  return 0;
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
