/**
 * The persisted state of a sandbox (<state_dir>/<sandbox-id>/state.json):
 * every host thing it made, written after each change, so that
 * `containerd-shim-joey-v2 delete` can undo all of it after the shim died.
 * @module
 */
import type { DaemonRecord } from "./daemon.ts";
import type { SandboxNetwork } from "./network/tap_network.ts";

/** What a sandbox holds on the host. */
export interface SandboxState {
  version: 1;
  sandboxId: string;
  /** The shim process serving the sandbox: while it lives, crash cleanup leaves the sandbox alone. */
  owner: DaemonRecord | null;
  /** QEMU (or other VMM helper), virtiofsd, the vsock back end. */
  daemons: DaemonRecord[];
  /** Mount points in the share, by container id, in mount order. */
  mounts: Record<string, string[]>;
  /**
   * The bundle directory of each container, by id: its config.json holds
   * the process defaults (user, env, cwd) `joey exec` runs with. The path,
   * not a copy, so no environment (secrets) is written twice on the host.
   * Absent in states written before it existed.
   */
  bundles?: Record<string, string>;
  network: SandboxNetwork | null;
  cgroups: string[];
}

/** An empty state for a new sandbox. */
export function emptyState(sandboxId: string): SandboxState {
  return {
    version: 1,
    sandboxId,
    owner: null,
    daemons: [],
    mounts: {},
    bundles: {},
    network: null,
    cgroups: [],
  };
}

/** Writes the state atomically (write then rename). */
export async function saveState(path: string, state: SandboxState): Promise<void> {
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(state, null, 1));
  await Deno.rename(`${path}.tmp`, path);
}

/** Reads a persisted state; null when there is none or it is unreadable. */
export async function loadState(path: string): Promise<SandboxState | null> {
  try {
    const s = JSON.parse(await Deno.readTextFile(path)) as SandboxState;
    return s.version === 1 ? s : null;
  } catch {
    return null;
  }
}
