/**
 * The virt-container RuntimeHandler: containers find their sandbox by pod
 * (the first one boots the VM, the last one's delete stops it), and each
 * operation goes to the container, which maps it to agent calls.
 * @module
 */
import { log } from "../../shim/log.ts";
import type { JoeyConfig } from "../../config/types.ts";
import type { CreateContainerOptions, RuntimeListener } from "../mod.ts";
import { ContainerTable } from "../container_table.ts";
import { Sandbox, sandboxIdOf } from "./sandbox.ts";
import { VmContainer } from "./container.ts";

/** Runs containers in sandbox VMs for one shim. */
export class VirtContainerHandler extends ContainerTable<VmContainer> {
  readonly name = "virt-container";
  #config: JoeyConfig;
  #listener: RuntimeListener;
  #sandboxes = new Map<string, Promise<Sandbox>>();
  /** Sandboxes being stopped: a new container of the same pod waits for the old VM to go. */
  #stopping = new Map<string, Promise<void>>();

  constructor(config: JoeyConfig, listener: RuntimeListener) {
    super();
    this.#config = config;
    this.#listener = listener;
  }

  /** The pod's sandbox, booted by the first container that needs it. */
  #sandbox(sid: string, spec: Record<string, unknown>): Promise<Sandbox> {
    let sb = this.#sandboxes.get(sid);
    if (!sb) {
      const previous = this.#stopping.get(sid) ?? Promise.resolve();
      sb = previous.then(() => Sandbox.start(sid, spec, this.#config));
      this.#sandboxes.set(sid, sb);
      sb.then((s) => this.#watchVm(s), () => this.#sandboxes.delete(sid));
    }
    return sb;
  }

  /** When the VM dies under its containers, their processes exit (255); OOM kills are reported. */
  #watchVm(sandbox: Sandbox): void {
    sandbox.watchOom((id) => this.#listener.oom(id));
    // Promise.resolve().then: a VM object that throws instead of rejecting
    // must not become an unhandled error (it would end the shim).
    Promise.resolve().then(() => sandbox.vm.wait()).then(() => {
      if (sandbox.stopping) return;
      for (const id of sandbox.containers) this.find(id)?.vmGone();
    }).catch(() => {});
    // Without virtiofsd the guest's root filesystems are gone: the VM is
    // stopped, so its containers end (255) as when the VM itself dies.
    sandbox.resources.shareFsExited?.then(async (code) => {
      if (sandbox.stopping) return;
      log.error("virtiofsd exited under a running sandbox; stopping its VM", {
        sandbox: sandbox.id,
        code,
      });
      await sandbox.vm.stop();
    }).catch(() => {});
  }

  /** Create: the sandbox (booted if new), shared rootfs, CreateContainer. */
  protected async createContainer(o: CreateContainerOptions): Promise<VmContainer> {
    const sandbox = await this.#sandbox(sandboxIdOf(o.id, o.spec), o.spec);
    sandbox.containers.add(o.id);
    try {
      return await VmContainer.create(o, sandbox, this.#listener);
    } catch (err) {
      sandbox.containers.delete(o.id);
      await this.#releaseSandbox(sandbox);
      throw err;
    }
  }

  /** After a container's delete, its sandbox stops when it was the last. */
  protected override async afterDelete(c: VmContainer): Promise<void> {
    c.sandbox.containers.delete(c.id);
    await this.#releaseSandbox(c.sandbox);
  }

  /** Stops the sandbox once no container is left in it. */
  async #releaseSandbox(sandbox: Sandbox): Promise<void> {
    if (sandbox.containers.size > 0) return;
    this.#sandboxes.delete(sandbox.id);
    const stopping = sandbox.stop().finally(() => {
      if (this.#stopping.get(sandbox.id) === stopping) this.#stopping.delete(sandbox.id);
    });
    this.#stopping.set(sandbox.id, stopping);
    await stopping;
  }

  /** Kills every container and stops every sandbox. */
  override async shutdown(): Promise<void> {
    await super.shutdown();
    const sandboxes = [...this.#sandboxes.values()];
    this.#sandboxes.clear();
    await Promise.allSettled(sandboxes.map(async (s) => (await s).stop()));
  }
}
