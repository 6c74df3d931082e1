/**
 * The virt-container RuntimeHandler: containers find their sandbox by pod
 * (the first one boots the VM, the last one's delete stops it), and each
 * operation goes to the container, which maps it to agent calls.
 * @module
 */
import { log } from "../../shim/log.ts";
import type { JoeyConfig } from "../../config/types.ts";
import type {
  AnyMessage,
  CreateContainerOptions,
  ExecOptions,
  ExitInfo,
  ProcessState,
  RuntimeHandler,
  RuntimeListener,
} from "../mod.ts";
import { alreadyExists, notFound } from "../../errors.ts";
import { Sandbox, sandboxIdOf } from "./sandbox.ts";
import { VmContainer } from "./container.ts";

/** Runs containers in sandbox VMs for one shim. */
export class VirtContainerHandler implements RuntimeHandler {
  readonly name = "virt-container";
  #config: JoeyConfig;
  #listener: RuntimeListener;
  #sandboxes = new Map<string, Promise<Sandbox>>();
  /** Sandboxes being stopped: a new container of the same pod waits for the old VM to go. */
  #stopping = new Map<string, Promise<void>>();
  #containers = new Map<string, VmContainer>();
  #creating = new Set<string>();

  constructor(config: JoeyConfig, listener: RuntimeListener) {
    this.#config = config;
    this.#listener = listener;
  }

  #get(id: string): VmContainer {
    const c = this.#containers.get(id);
    if (!c) throw notFound(`container "${id}"`);
    return c;
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
      for (const id of sandbox.containers) this.#containers.get(id)?.vmGone();
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
  async create(o: CreateContainerOptions): Promise<{ pid: number }> {
    if (this.#containers.has(o.id) || this.#creating.has(o.id)) {
      throw alreadyExists(`container "${o.id}"`);
    }
    this.#creating.add(o.id);
    const sid = sandboxIdOf(o.id, o.spec);
    try {
      const sandbox = await this.#sandbox(sid, o.spec);
      sandbox.containers.add(o.id);
      try {
        const c = await VmContainer.create(o, sandbox, this.#listener);
        this.#containers.set(o.id, c);
        return { pid: c.init.pid };
      } catch (err) {
        sandbox.containers.delete(o.id);
        await this.#releaseSandbox(sandbox);
        throw err;
      }
    } finally {
      this.#creating.delete(o.id);
    }
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

  /** Start: the init or an exec. */
  async start(id: string, execId: string): Promise<{ pid: number }> {
    return { pid: await this.#get(id).start(execId) };
  }

  /** Delete: an exec, or the container (and its sandbox when it was the last). */
  async delete(id: string, execId: string): Promise<ExitInfo> {
    const c = this.#get(id);
    if (execId) return c.deleteExec(execId);
    const exit = await c.delete();
    this.#containers.delete(id);
    c.sandbox.containers.delete(id);
    await this.#releaseSandbox(c.sandbox);
    return exit;
  }

  /** Exec: registers a process. */
  exec(o: ExecOptions): Promise<void> {
    return Promise.resolve().then(() => this.#get(o.id).exec(o));
  }

  /** State of a process. */
  state(id: string, execId: string): Promise<ProcessState> {
    return Promise.resolve().then(() => this.#get(id).process(execId).snapshot());
  }

  /** Kill: SignalProcess. */
  kill(id: string, execId: string, signal: number, all: boolean): Promise<void> {
    return Promise.resolve().then(() => this.#get(id).kill(execId, signal, all));
  }

  /** Pause the container. */
  pause(id: string): Promise<void> {
    return Promise.resolve().then(() => this.#get(id).pause());
  }

  /** Resume the container. */
  resume(id: string): Promise<void> {
    return Promise.resolve().then(() => this.#get(id).resume());
  }

  /** Live processes. */
  pids(id: string): Promise<{ pid: number; execId: string }[]> {
    return Promise.resolve().then(() => this.#get(id).pids());
  }

  /** Terminal size. */
  resizePty(id: string, execId: string, width: number, height: number): Promise<void> {
    return Promise.resolve().then(() => this.#get(id).resize(execId, width, height));
  }

  /** CloseIO: stdin ends once the client closed its side. */
  closeIO(id: string, execId: string): Promise<void> {
    return Promise.resolve().then(() => this.#get(id).process(execId).io.closeStdin());
  }

  /** Update resources in the guest. */
  update(id: string, resources: Record<string, unknown>): Promise<void> {
    return Promise.resolve().then(() => this.#get(id).update(resources));
  }

  /** Resolves when the process has exited. */
  wait(id: string, execId: string): Promise<ExitInfo> {
    return Promise.resolve().then(() => this.#get(id).process(execId).exited);
  }

  /** Metrics from the guest. */
  stats(id: string): Promise<AnyMessage> {
    return Promise.resolve().then(() => this.#get(id).stats());
  }

  /** The pid containerd associates with the container (the VMM's). */
  containerPid(id: string): number {
    return this.#get(id).init.pid;
  }

  /** Containers known. */
  containerCount(): number {
    return this.#containers.size;
  }

  /** Kills every container and stops every sandbox. */
  async shutdown(): Promise<void> {
    const containers = [...this.#containers.values()];
    this.#containers.clear();
    await Promise.allSettled(containers.map((c) => c.shutdown()));
    const sandboxes = [...this.#sandboxes.values()];
    this.#sandboxes.clear();
    await Promise.allSettled(sandboxes.map(async (s) => (await s).stop()));
  }
}
