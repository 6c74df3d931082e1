/**
 * The mark a shim daemon leaves in a container's bundle once its Delete RPC
 * removed everything the runtime made for that container. containerd runs
 * `containerd-shim-joey-v2 delete` after every shim disconnect, also after a
 * clean Delete; the mark tells that `delete` there is nothing left to clean,
 * so it answers without loading the configuration or any runtime. Without
 * the mark (a shim that was killed or lost) `delete` cleans up in full.
 * containerd removes the bundle, mark included, right after.
 * @module
 */

const MARK = ".joey-shim-deleted";

/** Records that the container of this bundle was deleted by its shim. */
export async function markDeleted(bundle: string): Promise<void> {
  await Deno.writeTextFile(`${bundle}/${MARK}`, "");
}

/** Whether the bundle carries the mark; removes it (one system call either way). */
export async function takeDeletedMark(bundle: string): Promise<boolean> {
  try {
    await Deno.remove(`${bundle}/${MARK}`);
    return true;
  } catch {
    return false;
  }
}
