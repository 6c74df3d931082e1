/**
 * The RuntimeHandler interface: what the task service asks of a runtime
 * (linux-container, virt-container, wasm). The service owns the protocol,
 * events and error codes; a runtime owns containers and their processes.
 * Every id pair is (container id, exec id); exec id "" is the container's
 * init process. Runtimes throw JoeyError (src/errors.ts) with a message
 * naming the container or exec.
 * @module
 */
import type { JoeyConfig } from "../config/types.ts";

/** Process states, as containerd's task Status enum names them. */
export type ProcessStatus = "unknown" | "created" | "running" | "stopped" | "paused" | "pausing";

/** Stdio as containerd passes it: FIFO paths (or URIs); "" means absent. */
export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** containerd.types.Mount. */
export interface Mount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

/** Arguments of Create, already decoded from protobuf. */
export interface CreateContainerOptions {
  id: string;
  bundle: string;
  namespace: string;
  rootfs: Mount[];
  stdio: Stdio;
  /** The bundle's config.json, parsed (OCI runtime spec). */
  spec: Record<string, unknown>;
}

/** Arguments of Exec: the OCI Process of the new process, parsed. */
export interface ExecOptions {
  id: string;
  execId: string;
  stdio: Stdio;
  process: Record<string, unknown>;
}

/** A process as State reports it. */
export interface ProcessState {
  id: string;
  execId: string;
  bundle: string;
  pid: number;
  status: ProcessStatus;
  stdio: Stdio;
  exitStatus: number;
  exitedAt: Date | null;
}

/** How a process ended. */
export interface ExitInfo {
  id: string;
  execId: string;
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

/** A protobuf Any, for Stats. */
export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

/** What a runtime tells the service as it happens (the service publishes events). */
export interface RuntimeListener {
  /** A process exited; called once per process, after its exit status is final. */
  exited(exit: ExitInfo): void;
  /** The container hit its memory limit. */
  oom(id: string): void;
}

/** One runtime instance serving the containers of one shim. */
export interface RuntimeHandler {
  readonly name: string;
  create(options: CreateContainerOptions): Promise<{ pid: number }>;
  start(id: string, execId: string): Promise<{ pid: number }>;
  /** Removes a stopped (or never started) process; returns its final state. */
  delete(id: string, execId: string): Promise<ExitInfo>;
  exec(options: ExecOptions): Promise<void>;
  state(id: string, execId: string): Promise<ProcessState>;
  kill(id: string, execId: string, signal: number, all: boolean): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  pids(id: string): Promise<{ pid: number; execId: string }[]>;
  resizePty(id: string, execId: string, width: number, height: number): Promise<void>;
  closeIO(id: string, execId: string): Promise<void>;
  /** resources: OCI LinuxResources (JSON, as containerd marshals it in the Any). */
  update(id: string, resources: Record<string, unknown>): Promise<void>;
  /** Resolves when the process has exited. */
  wait(id: string, execId: string): Promise<ExitInfo>;
  /** containerd's cgroup metrics (io.containerd.cgroups.v1/v2 Metrics) in an Any. */
  stats(id: string): Promise<AnyMessage>;
  /** The pid of the container's init process, for Connect. */
  containerPid(id: string): number;
  /** Containers still known (Shutdown exits only when this is 0). */
  containerCount(): number;
  /** Stops everything this runtime started (shim exit). */
  shutdown(): Promise<void>;
}

/** How a runtime is made: by name from configuration. */
export interface RuntimeFactory {
  readonly name: string;
  create(listener: RuntimeListener, options: RuntimeFactoryOptions): Promise<RuntimeHandler>;
  /**
   * Cleanup for a lost shim (`containerd-shim-joey-v2 delete`): stop and
   * remove whatever the runtime left for `id`, given only the bundle.
   */
  cleanup(id: string, bundle: string, options: RuntimeFactoryOptions): Promise<void>;
}

/** Shared settings a factory needs. */
export interface RuntimeFactoryOptions {
  namespace: string;
  /** The effective configuration (src/config). */
  config: JoeyConfig;
}
