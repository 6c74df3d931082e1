/**
 * What every container-holding runtime shares: the table of containers by
 * id and the task RPCs that only find a container (or fail with NotFound
 * naming its id) and hand the call to it. A runtime subclasses
 * ContainerTable and writes only what differs: how a container is made,
 * what its removal releases, and what shutdown stops besides containers.
 * @module
 */
import type {
  AnyMessage,
  CreateContainerOptions,
  ExecOptions,
  ExitInfo,
  ProcessState,
  RuntimeHandler,
} from "./mod.ts";
import { alreadyExists, notFound } from "../errors.ts";

/** A process as the table's RPCs reach it. */
export interface TableProcess {
  readonly pid: number;
  /** Resolves once the process has exited. */
  readonly exited: Promise<ExitInfo>;
  /** Its stdio copies; absent before a linux-container process starts. */
  readonly io?: { closeStdin(): void } | null;
  /** The process as State reports it. */
  snapshot(): ProcessState;
}

/** A container as the table's RPCs reach it; each runtime's container type has this shape. */
export interface TableContainer {
  readonly init: TableProcess;
  /** The process with execId ("" = init), or NotFound. */
  process(execId: string): TableProcess;
  start(execId: string): Promise<number>;
  exec(o: ExecOptions): void | Promise<void>;
  kill(execId: string, signal: number, all: boolean): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  pids(): { pid: number; execId: string }[] | Promise<{ pid: number; execId: string }[]>;
  resize(execId: string, width: number, height: number): void | Promise<void>;
  update(resources: Record<string, unknown>): Promise<void>;
  stats(): Promise<AnyMessage>;
  deleteExec(execId: string): Promise<ExitInfo>;
  delete(): Promise<ExitInfo>;
  shutdown(): Promise<void>;
}

/** A RuntimeHandler over a table of containers of type C. */
export abstract class ContainerTable<C extends TableContainer> implements RuntimeHandler {
  abstract readonly name: string;
  #containers = new Map<string, C>();
  #creating = new Set<string>();

  /** Makes the container o.id (create in the runtime); the table keeps it once this resolves. */
  protected abstract createContainer(o: CreateContainerOptions): Promise<C>;

  /** After a container's delete, what it held beyond itself (a sandbox) is released. */
  protected afterDelete(_c: C): Promise<void> {
    return Promise.resolve();
  }

  /** The container with this id, or NotFound naming it. */
  protected container(id: string): C {
    const c = this.#containers.get(id);
    if (!c) throw notFound(`container "${id}"`);
    return c;
  }

  /** The container with this id, if the table has it. */
  protected find(id: string): C | undefined {
    return this.#containers.get(id);
  }

  /** Runs fn on the container: a missing one (or any throw) becomes a rejection. */
  #on<T>(id: string, fn: (c: C) => T | Promise<T>): Promise<T> {
    return Promise.resolve().then(() => fn(this.container(id)));
  }

  /** Create: the id is taken (AlreadyExists) from the start until the container is made or fails. */
  async create(o: CreateContainerOptions): Promise<{ pid: number }> {
    if (this.#containers.has(o.id) || this.#creating.has(o.id)) {
      throw alreadyExists(`container "${o.id}"`);
    }
    this.#creating.add(o.id);
    try {
      const c = await this.createContainer(o);
      this.#containers.set(o.id, c);
      return { pid: c.init.pid };
    } finally {
      this.#creating.delete(o.id);
    }
  }

  /** Start: the init (execId "") or an added exec. */
  async start(id: string, execId: string): Promise<{ pid: number }> {
    return { pid: await this.container(id).start(execId) };
  }

  /** Delete: an exec, or the whole container once its init is not running. */
  async delete(id: string, execId: string): Promise<ExitInfo> {
    const c = this.container(id);
    if (execId) return c.deleteExec(execId);
    const exit = await c.delete();
    this.#containers.delete(id);
    await this.afterDelete(c);
    return exit;
  }

  /** Exec: registers a process to start later. */
  exec(o: ExecOptions): Promise<void> {
    return this.#on(o.id, (c) => c.exec(o));
  }

  /** State of a process. */
  state(id: string, execId: string): Promise<ProcessState> {
    return this.#on(id, (c) => c.process(execId).snapshot());
  }

  /** Kill: signal one process, or all of the container's. */
  kill(id: string, execId: string, signal: number, all: boolean): Promise<void> {
    return this.#on(id, (c) => c.kill(execId, signal, all));
  }

  /** Pause the container. */
  pause(id: string): Promise<void> {
    return this.#on(id, (c) => c.pause());
  }

  /** Resume the container. */
  resume(id: string): Promise<void> {
    return this.#on(id, (c) => c.resume());
  }

  /** Pids of the container's processes. */
  pids(id: string): Promise<{ pid: number; execId: string }[]> {
    return this.#on(id, (c) => c.pids());
  }

  /** Sets a process's terminal size. */
  resizePty(id: string, execId: string, width: number, height: number): Promise<void> {
    return this.#on(id, (c) => c.resize(execId, width, height));
  }

  /** CloseIO: the process's stdin ends once the client closed it. */
  closeIO(id: string, execId: string): Promise<void> {
    return this.#on(id, (c) => c.process(execId).io?.closeStdin());
  }

  /** Update the container's resources. */
  update(id: string, resources: Record<string, unknown>): Promise<void> {
    return this.#on(id, (c) => c.update(resources));
  }

  /** Resolves when the process has exited. */
  wait(id: string, execId: string): Promise<ExitInfo> {
    return this.#on(id, (c) => c.process(execId).exited);
  }

  /** The container's Metrics. */
  stats(id: string): Promise<AnyMessage> {
    return this.#on(id, (c) => c.stats());
  }

  /** The pid containerd associates with the container. */
  containerPid(id: string): number {
    return this.container(id).init.pid;
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
