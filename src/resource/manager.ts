/**
 * The ResourceManager of one sandbox: a facade with methods named after the
 * sandbox's lifecycle phases. Sandbox resources: share-fs (virtiofsd),
 * network (taps), the host cgroup. Container resources: rootfs and
 * volumes in the share. Every change is persisted (src/resource/state.ts)
 * before the call returns, so crash cleanup finds it.
 * @module
 */
import type { VmSection } from "../config/types.ts";
import type { Mount } from "../runtime/mod.ts";
import { type DaemonRecord, isAlive, processStartTime, stopDaemon } from "./daemon.ts";
import { SandboxLayout, SHARE_TAG } from "./layout.ts";
import { emptyState, loadState, type SandboxState, saveState } from "./state.ts";
import { startVirtiofsd } from "./share_fs/virtiofsd.ts";
import { mountSharedRootfs, unmountAll } from "./rootfs/share_rootfs.ts";
import { type OciMount, shareVolumes } from "./volume/share_volumes.ts";
import { addToCgroup, createSandboxCgroup, removeSandboxCgroup } from "./cgroup/sandbox_cgroup.ts";
import {
  netnsOfSpec,
  type SandboxNetwork,
  setupTapNetwork,
  teardownTapNetwork,
} from "./network/tap_network.ts";

/** What the hypervisor must be given before start. */
export interface VmResources {
  /** virtiofsd's vhost-user socket and tag. */
  fs: { socket: string; tag: string };
  /** The pod network namespace to run the VMM in, and its taps. */
  network: SandboxNetwork | null;
}

/** A container's resources as the agent must see them. */
export interface ContainerResources {
  /** Guest path of the rootfs. */
  rootfsGuestPath: string;
  /** The spec's mounts with bind sources rewritten to guest paths. */
  mounts: OciMount[];
}

/** A container's resources as the runtime hands them over (handleContainerResources). */
export interface ContainerResourceRequest {
  /** The bundle directory, recorded so that `joey exec` finds its config.json. */
  bundle: string;
  /** The host directory of the rootfs (the spec's root.path, absolute). */
  rootDir: string;
  /** containerd's rootfs Mounts. */
  rootfs: Mount[];
  /** The spec's mounts. */
  mounts: OciMount[];
}

/** The resources of one sandbox. */
export class ResourceManager {
  readonly layout: SandboxLayout;
  #section: VmSection;
  #state: SandboxState;

  constructor(stateDir: string, sandboxId: string, section: VmSection) {
    this.layout = new SandboxLayout(stateDir, sandboxId);
    this.#section = section;
    this.#state = emptyState(sandboxId);
  }

  /** The persisted state (read-only view). */
  get state(): Readonly<SandboxState> {
    return this.#state;
  }

  #save(): Promise<void> {
    return saveState(this.layout.stateFile, this.#state);
  }

  /** Resolves when the sandbox's virtiofsd exits (null before it starts). */
  shareFsExited: Promise<number> | null = null;

  /**
   * Before the VM starts: the state directory, the host cgroup, virtiofsd
   * (moved into the cgroup) and the taps of the pod's network namespace.
   */
  async prepareBeforeStartVm(podSpec: Record<string, unknown>): Promise<VmResources> {
    await Deno.mkdir(this.layout.vmDir, { recursive: true, mode: 0o700 });
    this.#state.owner = {
      name: "shim",
      pid: Deno.pid,
      startTime: await processStartTime(Deno.pid) ?? "",
    };
    await this.#save();
    this.#state.cgroups = await createSandboxCgroup(this.layout.sandboxId);
    await this.#save();
    const virtiofsd = await startVirtiofsd(this.layout, this.#section);
    this.shareFsExited = virtiofsd.exited;
    this.#state.daemons.push({
      name: virtiofsd.name,
      pid: virtiofsd.pid,
      startTime: virtiofsd.startTime,
    });
    await this.#save();
    await addToCgroup(this.#state.cgroups, virtiofsd.pid);
    const netns = netnsOfSpec(podSpec);
    if (netns) {
      this.#state.network = await setupTapNetwork(netns);
      await this.#save();
    }
    return {
      fs: { socket: this.layout.virtiofsdSocket, tag: SHARE_TAG },
      network: this.#state.network,
    };
  }

  /** After the VM started: its host processes join the cgroup and the state. */
  async setupAfterStartVm(daemons: DaemonRecord[]): Promise<void> {
    for (const d of daemons) {
      this.#state.daemons.push(d);
      await addToCgroup(this.#state.cgroups, d.pid).catch(() => {});
    }
    await this.#save();
  }

  /** Before CreateContainer: rootfs and volumes shared; returns their guest view. */
  async handleContainerResources(
    containerId: string,
    o: ContainerResourceRequest,
  ): Promise<ContainerResources> {
    const points: string[] = [];
    this.#state.mounts[containerId] = points;
    (this.#state.bundles ??= {})[containerId] = o.bundle;
    await this.#save();
    const rootfsPath = this.layout.rootfs(containerId);
    points.push(...await mountSharedRootfs(rootfsPath, o.rootDir, o.rootfs));
    await this.#save();
    try {
      const volumes = await shareVolumes(this.layout, containerId, o.mounts);
      points.push(...volumes.mountPoints);
      await this.#save();
      return { rootfsGuestPath: this.layout.guestPath(rootfsPath), mounts: volumes.mounts };
    } catch (err) {
      await this.cleanupContainer(containerId);
      throw err;
    }
  }

  /** After RemoveContainer: its mounts and directory in the share go. */
  async cleanupContainer(containerId: string): Promise<void> {
    const points = this.#state.mounts[containerId] ?? [];
    unmountAll([...points].reverse());
    await Deno.remove(`${this.layout.sharedDir}/${containerId}`, { recursive: true })
      .catch(() => {});
    delete this.#state.mounts[containerId];
    delete this.#state.bundles?.[containerId];
    await this.#save();
  }

  /** After the VM stopped: everything else, and the state directory. */
  async cleanupSandbox(): Promise<void> {
    await cleanupState(this.layout, this.#state);
  }
}

/**
 * Undoes everything a state names: daemons stopped, mounts removed, taps
 * deleted, cgroups removed, the state directory deleted. Used both by a
 * live sandbox and by crash cleanup.
 */
export async function cleanupState(layout: SandboxLayout, state: SandboxState): Promise<void> {
  // The VMM first: virtiofsd and the back end notice it going and exit.
  for (const d of [...state.daemons].reverse()) await stopDaemon(d, 1000);
  for (const points of Object.values(state.mounts)) unmountAll([...points].reverse());
  if (state.network) await teardownTapNetwork(state.network);
  await removeSandboxCgroup(state.cgroups);
  await Deno.remove(layout.root, { recursive: true }).catch(() => {});
}

/**
 * Crash cleanup: undoes whatever the persisted state of a sandbox names,
 * unless the shim that owns it still runs (containerd 1.6 also calls the
 * shim's `delete` after an orderly task delete, while other containers of
 * the pod may still be served). Returns whether anything was cleaned.
 */
export async function cleanupSandboxDir(stateDir: string, sandboxId: string): Promise<boolean> {
  const layout = new SandboxLayout(stateDir, sandboxId);
  const state = await loadState(layout.stateFile);
  if (state?.owner && state.owner.pid !== Deno.pid && await isAlive(state.owner)) return false;
  if (!state) {
    // No state: at most a directory from a sandbox that died while starting.
    // It is removed only when it holds nothing but sandbox layout entries,
    // so an id that names something else under state_dir (e.g. "runc") is
    // never deleted.
    if (await onlyLayoutEntries(layout.root)) {
      await Deno.remove(layout.root, { recursive: true }).catch(() => {});
    }
    return false;
  }
  await cleanupState(layout, state);
  return true;
}

const LAYOUT_ENTRIES = new Set([
  "state.json",
  "state.json.tmp",
  "vm",
  "shared",
  "virtiofsd.sock",
  "virtiofsd.log",
]);

/** Whether dir exists and holds only names a sandbox directory has. */
async function onlyLayoutEntries(dir: string): Promise<boolean> {
  try {
    for await (const e of Deno.readDir(dir)) if (!LAYOUT_ENTRIES.has(e.name)) return false;
    return true;
  } catch {
    return false;
  }
}
