/**
 * The linux-container RuntimeHandler: containers on the host through the
 * OCI runtime binary (runc or crun). It finds containers by id and leaves
 * each operation to its Container.
 * @module
 */
import type {
  AnyMessage,
  CreateContainerOptions,
  ExecOptions,
  ExitInfo,
  ProcessState,
  RuntimeHandler,
} from "../mod.ts";
import { alreadyExists, notFound } from "../../errors.ts";
import { Container, type ContainerContext } from "./container.ts";

/** Runs containers with runc/crun for one shim. */
export class LinuxContainerHandler implements RuntimeHandler {
  readonly name = "linux-container";
  #ctx: ContainerContext;
  #containers = new Map<string, Container>();
  #creating = new Set<string>();

  constructor(ctx: ContainerContext) {
    this.#ctx = ctx;
  }

  #get(id: string): Container {
    const c = this.#containers.get(id);
    if (!c) throw notFound(`container "${id}"`);
    return c;
  }

  /** Create: rootfs mounted, stdio ready, `runc create` done; the init waits for start. */
  async create(o: CreateContainerOptions): Promise<{ pid: number }> {
    if (this.#containers.has(o.id) || this.#creating.has(o.id)) {
      throw alreadyExists(`container "${o.id}"`);
    }
    this.#creating.add(o.id);
    try {
      const c = await Container.create(o, this.#ctx);
      this.#containers.set(o.id, c);
      return { pid: c.init.pid };
    } finally {
      this.#creating.delete(o.id);
    }
  }

  /** Start: the init (execId "") or an added exec. */
  async start(id: string, execId: string): Promise<{ pid: number }> {
    return { pid: await this.#get(id).start(execId) };
  }

  /** Delete: an exec, or the whole container once its init is not running. */
  async delete(id: string, execId: string): Promise<ExitInfo> {
    const c = this.#get(id);
    if (execId) return c.deleteExec(execId);
    const exit = await c.delete();
    this.#containers.delete(id);
    return exit;
  }

  /** Exec: registers a process to start later. */
  exec(o: ExecOptions): Promise<void> {
    return Promise.resolve().then(() => this.#get(o.id).exec(o));
  }

  /** State of a process. */
  state(id: string, execId: string): Promise<ProcessState> {
    return Promise.resolve().then(() => this.#get(id).process(execId).snapshot());
  }

  /** Kill: signal one process, or all of the container's. */
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

  /** Pids of the container's processes. */
  pids(id: string): Promise<{ pid: number; execId: string }[]> {
    return Promise.resolve().then(() => this.#get(id).pids());
  }

  /** Sets a process's terminal size. */
  resizePty(id: string, execId: string, width: number, height: number): Promise<void> {
    return Promise.resolve().then(() => this.#get(id).process(execId).io?.resize(width, height));
  }

  /** CloseIO: the process's stdin ends once the client closed it. */
  closeIO(id: string, execId: string): Promise<void> {
    return Promise.resolve().then(() => this.#get(id).process(execId).io?.closeStdin());
  }

  /** Update the container's cgroup resources. */
  update(id: string, resources: Record<string, unknown>): Promise<void> {
    return Promise.resolve().then(() => this.#get(id).update(resources));
  }

  /** Resolves when the process has exited. */
  wait(id: string, execId: string): Promise<ExitInfo> {
    return Promise.resolve().then(() => this.#get(id).process(execId).exited);
  }

  /** The container's cgroup Metrics. */
  stats(id: string): Promise<AnyMessage> {
    return Promise.resolve().then(() => this.#get(id).stats());
  }

  /** The init's pid. */
  containerPid(id: string): number {
    return this.#get(id).init.pid;
  }

  /** How many containers exist. */
  containerCount(): number {
    return this.#containers.size;
  }

  /** Kills and removes every container. */
  async shutdown(): Promise<void> {
    const all = [...this.#containers.values()];
    this.#containers.clear();
    await Promise.allSettled(all.map((c) => c.shutdown()));
  }
}
