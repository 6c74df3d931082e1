/**
 * containerd.task.v2.Task: one handler per RPC. Each decodes its request,
 * finds the container's runtime, calls it, publishes the matching event and
 * encodes the answer. Domain errors become status codes only at the ttrpc
 * boundary (statusFromError), so runtimes never see protobuf or codes.
 * @module
 */
import { failedPrecondition, invalidArgument, JoeyError, notFound } from "../errors.ts";
import { type Any, messageType, toTimestamp } from "../proto/registry.ts";
import type { ExitInfo, RuntimeHandler } from "../runtime/mod.ts";
import type { MethodHandler } from "../ttrpc/server.ts";
import type { EventSink } from "./events.ts";
import {
  exitEvent,
  jsonFromAny,
  type MountMessage,
  stateResponse,
  timestampOrNull,
  toMounts,
  toStdio,
} from "./translate.ts";

export const TASK_SERVICE = "containerd.task.v2.Task";
const T = "containerd.task.v2.";
const Empty = messageType("google.protobuf.Empty");
const EMPTY = new Uint8Array(0);

/** Chooses the runtime for a new container from configuration and its spec. */
export interface RuntimeSelector {
  select(id: string, spec: Record<string, unknown>): Promise<RuntimeHandler>;
}

/** What the service needs from the shim around it. */
export interface TaskServiceOptions {
  namespace: string;
  events: EventSink;
  runtimes: RuntimeSelector;
  /** Called when Shutdown finds no container left: the shim should exit. */
  onShutdown: (now: boolean) => void;
  /** Version string for Connect. */
  version: string;
  /** Told of each container once created, with its bundle. */
  onCreated?: (id: string, bundle: string) => void;
  /**
   * Awaited once Delete removed a container (before the answer goes out),
   * with its bundle; a failure is logged, the Delete still succeeds.
   */
  onDeleted?: (id: string, bundle: string) => Promise<void>;
  /** Debug log of every RPC with its duration; warnings from the hooks. */
  log?: {
    debug(msg: string, fields?: Record<string, unknown>): void;
    warn(msg: string, fields?: Record<string, unknown>): void;
  };
}

interface ProcessKey {
  id: string;
  execId: string;
}

const keyOf = (k: ProcessKey) => `${k.id}\u0000${k.execId}`;

/** The task service of one shim. */
export class TaskService {
  #opts: TaskServiceOptions;
  /** Which runtime serves each container. */
  #containers = new Map<string, RuntimeHandler>();
  /** Each container's bundle, for the onCreated/onDeleted hooks. */
  #bundles = new Map<string, string>();
  /** Processes whose Start is in flight: their exit events wait for the start event. */
  #starting = new Map<string, ExitInfo[]>();
  #createLocks = new Set<string>();

  constructor(options: TaskServiceOptions) {
    this.#opts = options;
  }

  /** Runtime listener callback: a process exited. */
  processExited(exit: ExitInfo): void {
    const deferred = this.#starting.get(keyOf(exit));
    if (deferred) deferred.push(exit);
    else this.#opts.events.publish("exit", exitEvent(exit));
  }

  /** Runtime listener callback: a container hit its memory limit. */
  oom(id: string): void {
    this.#opts.events.publish("oom", { container_id: id });
  }

  /** Containers this shim still serves. */
  get containerCount(): number {
    return this.#containers.size;
  }

  #runtime(id: string): RuntimeHandler {
    if (!id) throw invalidArgument("container id is empty");
    const rt = this.#containers.get(id);
    if (!rt) throw notFound(`container "${id}"`);
    return rt;
  }

  /** The ttrpc method table. */
  methods(): Record<string, MethodHandler> {
    const rpc = <Req>(
      name: string,
      fn: (req: Req) => Promise<Record<string, unknown> | null>,
      res?: string,
    ) => {
      const reqType = messageType<Req>(`${T}${name}`);
      const resType = res ? messageType(`${T}${res}`) : Empty;
      return async (payload: Uint8Array) => {
        let req: Req;
        try {
          req = reqType.decode(payload);
        } catch (err) {
          // Same code as containerd/ttrpc's server for an undecodable payload.
          throw new JoeyError(
            "Internal",
            `ttrpc: error unmarshalling ${name}: ${err instanceof Error ? err.message : err}`,
          );
        }
        const started = performance.now();
        try {
          const out = await fn(req);
          return out === null ? EMPTY : resType.encode(out);
        } finally {
          // A node-wide shim serves many containers: name the one asked about.
          const id = (req as { id?: unknown }).id;
          this.#opts.log?.debug("rpc", {
            method: name.replace(/Request$/, ""),
            ...(typeof id === "string" && id ? { id } : {}),
            ms: (performance.now() - started).toFixed(1),
          });
        }
      };
    };
    return {
      State: rpc(
        "StateRequest",
        (r: ProcessKey & { exec_id: string }) => this.#state(r.id, r.exec_id),
        "StateResponse",
      ),
      Create: rpc(
        "CreateTaskRequest",
        (r: CreateTaskRequest) => this.#create(r),
        "CreateTaskResponse",
      ),
      Start: rpc(
        "StartRequest",
        (r: { id: string; exec_id: string }) => this.#start(r.id, r.exec_id),
        "StartResponse",
      ),
      Delete: rpc(
        "DeleteRequest",
        (r: { id: string; exec_id: string }) => this.#delete(r.id, r.exec_id),
        "DeleteResponse",
      ),
      Pids: rpc("PidsRequest", (r: { id: string }) => this.#pids(r.id), "PidsResponse"),
      Pause: rpc("PauseRequest", (r: { id: string }) => this.#pause(r.id)),
      Resume: rpc("ResumeRequest", (r: { id: string }) => this.#resume(r.id)),
      Checkpoint: rpc("CheckpointTaskRequest", (r: { id: string }) => {
        throw new JoeyError(
          "Unimplemented",
          `checkpoint of container "${r.id}": not implemented by joey`,
        );
      }),
      Kill: rpc("KillRequest", (r: KillRequest) => this.#kill(r)),
      Exec: rpc("ExecProcessRequest", (r: ExecProcessRequest) => this.#exec(r)),
      ResizePty: rpc("ResizePtyRequest", async (r: ResizePtyRequest) => {
        await this.#runtime(r.id).resizePty(r.id, r.exec_id, r.width, r.height);
        return null;
      }),
      CloseIO: rpc("CloseIORequest", async (r: { id: string; exec_id: string; stdin: boolean }) => {
        if (r.stdin) await this.#runtime(r.id).closeIO(r.id, r.exec_id);
        else this.#runtime(r.id);
        return null;
      }),
      Update: rpc("UpdateTaskRequest", async (r: { id: string; resources: Any | null }) => {
        const rt = this.#runtime(r.id);
        await rt.update(r.id, jsonFromAny(r.resources, `resources of container "${r.id}"`));
        return null;
      }),
      Wait: rpc(
        "WaitRequest",
        (r: { id: string; exec_id: string }) => this.#wait(r.id, r.exec_id),
        "WaitResponse",
      ),
      Stats: rpc("StatsRequest", async (r: { id: string }) => {
        const stats = await this.#runtime(r.id).stats(r.id);
        return { stats: { type_url: stats.typeUrl, value: stats.value } };
      }, "StatsResponse"),
      Connect: rpc("ConnectRequest", (r: { id: string }) => {
        const rt = this.#runtime(r.id);
        return Promise.resolve({
          shim_pid: Deno.pid,
          task_pid: rt.containerPid(r.id),
          version: this.#opts.version,
        });
      }, "ConnectResponse"),
      Shutdown: rpc("ShutdownRequest", (r: { id: string; now: boolean }) => {
        // Like the runc shim: nothing happens while containers remain.
        if (r.now || this.#containers.size === 0) this.#opts.onShutdown(r.now);
        return Promise.resolve(null);
      }),
    };
  }

  async #state(id: string, execId: string) {
    return stateResponse(await this.#runtime(id).state(id, execId));
  }

  async #create(r: CreateTaskRequest) {
    if (!r.id) throw invalidArgument("container id is empty");
    if (!r.bundle) throw invalidArgument(`bundle of container "${r.id}" is empty`);
    if (r.checkpoint) {
      throw new JoeyError(
        "Unimplemented",
        `restore of container "${r.id}" from a checkpoint: not implemented by joey`,
      );
    }
    if (this.#containers.has(r.id) || this.#createLocks.has(r.id)) {
      throw new JoeyError("AlreadyExists", `container "${r.id}": already exists`);
    }
    this.#createLocks.add(r.id);
    try {
      let spec: Record<string, unknown>;
      try {
        spec = JSON.parse(await Deno.readTextFile(`${r.bundle}/config.json`));
      } catch (err) {
        throw invalidArgument(
          `cannot read the OCI spec of container "${r.id}" from ${r.bundle}/config.json: ${
            err instanceof Error ? err.message : err
          }`,
        );
      }
      const runtime = await this.#opts.runtimes.select(r.id, spec);
      const stdio = toStdio(r);
      const { pid } = await runtime.create({
        id: r.id,
        bundle: r.bundle,
        namespace: this.#opts.namespace,
        rootfs: toMounts(r.rootfs),
        stdio,
        spec,
      });
      this.#containers.set(r.id, runtime);
      this.#bundles.set(r.id, r.bundle);
      this.#opts.onCreated?.(r.id, r.bundle);
      this.#opts.events.publish("create", {
        container_id: r.id,
        bundle: r.bundle,
        rootfs: r.rootfs,
        io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
        checkpoint: r.checkpoint,
        pid,
      });
      return { pid };
    } finally {
      this.#createLocks.delete(r.id);
    }
  }

  async #start(id: string, execId: string) {
    const rt = this.#runtime(id);
    const key = keyOf({ id, execId });
    if (this.#starting.has(key)) {
      throw failedPrecondition(`${describe(id, execId)} is already starting`);
    }
    this.#starting.set(key, []);
    let exits: ExitInfo[] = [];
    try {
      const { pid } = await rt.start(id, execId);
      if (execId) {
        this.#opts.events.publish("execStarted", { container_id: id, exec_id: execId, pid });
      } else this.#opts.events.publish("start", { container_id: id, pid });
      return { pid };
    } finally {
      exits = this.#starting.get(key) ?? [];
      this.#starting.delete(key);
      // Exits that raced with Start go out after the start event.
      for (const exit of exits) this.#opts.events.publish("exit", exitEvent(exit));
    }
  }

  async #delete(id: string, execId: string) {
    const rt = this.#runtime(id);
    const exit = await rt.delete(id, execId);
    const exitedAt = toTimestamp(exit.exitedAt);
    if (!execId) {
      this.#containers.delete(id);
      const bundle = this.#bundles.get(id);
      this.#bundles.delete(id);
      if (bundle !== undefined && this.#opts.onDeleted) {
        await this.#opts.onDeleted(id, bundle).catch((err) =>
          this.#opts.log?.warn("after Delete", { id, error: err })
        );
      }
      this.#opts.events.publish("delete", {
        container_id: id,
        pid: exit.pid,
        exit_status: exit.exitStatus,
        exited_at: exitedAt,
        id,
      });
    }
    return { pid: exit.pid, exit_status: exit.exitStatus, exited_at: exitedAt };
  }

  async #pids(id: string) {
    const processes = await this.#runtime(id).pids(id);
    return { processes: processes.map((p) => ({ pid: p.pid, info: null })) };
  }

  async #pause(id: string) {
    await this.#runtime(id).pause(id);
    this.#opts.events.publish("paused", { container_id: id });
    return null;
  }

  async #resume(id: string) {
    await this.#runtime(id).resume(id);
    this.#opts.events.publish("resumed", { container_id: id });
    return null;
  }

  async #kill(r: KillRequest) {
    await this.#runtime(r.id).kill(r.id, r.exec_id, r.signal, r.all);
    return null;
  }

  async #exec(r: ExecProcessRequest) {
    const rt = this.#runtime(r.id);
    if (!r.exec_id) throw invalidArgument(`exec id for container "${r.id}" is empty`);
    const process = jsonFromAny(r.spec, `process spec of exec "${r.exec_id}"`);
    await rt.exec({ id: r.id, execId: r.exec_id, stdio: toStdio(r), process });
    this.#opts.events.publish("execAdded", { container_id: r.id, exec_id: r.exec_id });
    return null;
  }

  async #wait(id: string, execId: string) {
    const exit = await this.#runtime(id).wait(id, execId);
    return { exit_status: exit.exitStatus, exited_at: timestampOrNull(exit.exitedAt) };
  }
}

function describe(id: string, execId: string): string {
  return execId ? `exec "${execId}" of container "${id}"` : `container "${id}"`;
}

interface CreateTaskRequest {
  id: string;
  bundle: string;
  rootfs: MountMessage[];
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  checkpoint: string;
  options: Any | null;
}

interface KillRequest {
  id: string;
  exec_id: string;
  signal: number;
  all: boolean;
}

interface ExecProcessRequest {
  id: string;
  exec_id: string;
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  spec: Any | null;
}

interface ResizePtyRequest {
  id: string;
  exec_id: string;
  width: number;
  height: number;
}
