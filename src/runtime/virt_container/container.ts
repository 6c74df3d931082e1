/**
 * A container in a sandbox VM: its rootfs and volumes in the share, its
 * init and execs, and each task RPC mapped to agent calls
 * (CreateContainer, StartContainer, ExecProcess, SignalProcess,
 * PauseContainer/ResumeContainer, UpdateContainer, StatsContainer,
 * TtyWinResize, RemoveContainer).
 * @module
 */
import type {
  AnyMessage,
  CreateContainerOptions,
  ExecOptions,
  ExitInfo,
  RuntimeListener,
} from "../mod.ts";
import { alreadyExists, errorKind, invalidState, notFound } from "../../errors.ts";
import type { OciMount } from "../../resource/volume/share_volumes.ts";
import type { Sandbox } from "./sandbox.ts";
import { VmProcess } from "./process.ts";
import { AgentIo } from "./stdio.ts";
import { processToAgent, resourcesToAgent, specToAgent } from "./to_agent.ts";
import { agentStatsToMetrics } from "./metrics.ts";

/** One container in a sandbox VM. */
export class VmContainer {
  readonly id: string;
  readonly bundle: string;
  readonly sandbox: Sandbox;
  readonly init: VmProcess;
  #execs = new Map<string, VmProcess>();
  #listener: RuntimeListener;

  private constructor(
    o: CreateContainerOptions,
    sandbox: Sandbox,
    init: VmProcess,
    listener: RuntimeListener,
  ) {
    this.id = o.id;
    this.bundle = o.bundle;
    this.sandbox = sandbox;
    this.init = init;
    this.#listener = listener;
  }

  /** Shares rootfs and volumes, opens stdio and creates the container in the agent. */
  static async create(
    o: CreateContainerOptions,
    sandbox: Sandbox,
    listener: RuntimeListener,
  ): Promise<VmContainer> {
    const mounts = (o.spec.mounts ?? []) as OciMount[];
    const shared = await sandbox.resources.handleContainerResources(o.id, {
      bundle: o.bundle,
      rootDir: specRootPath(o.bundle, o.spec),
      rootfs: o.rootfs,
      mounts,
    });
    let io: AgentIo | null = null;
    try {
      io = await AgentIo.open(o.stdio);
      const spec = specToAgent(
        o.spec,
        shared.rootfsGuestPath,
        shared.mounts as unknown as Record<string, unknown>[],
      );
      await sandbox.agent.call("CreateContainer", { container_id: o.id, exec_id: "", OCI: spec });
      const init = new VmProcess({
        id: o.id,
        execId: "",
        bundle: o.bundle,
        pid: sandbox.pid,
        io,
        spec: null,
      });
      return new VmContainer(o, sandbox, init, listener);
    } catch (err) {
      await io?.close();
      await sandbox.resources.cleanupContainer(o.id);
      throw err;
    }
  }

  /** A process by exec id ("" = init). */
  process(execId: string): VmProcess {
    if (!execId) return this.init;
    const p = this.#execs.get(execId);
    if (!p) throw notFound(`exec "${execId}" of container "${this.id}"`);
    return p;
  }

  /** Start: StartContainer for the init, ExecProcess for an exec. */
  async start(execId: string): Promise<number> {
    const p = this.process(execId);
    if (execId && this.init.state.status !== "running") {
      throw invalidState(`container "${this.id}" is ${this.init.state.status}: cannot start exec`);
    }
    p.transition((s) => s.start());
    const agent = this.sandbox.agent;
    try {
      if (!execId) {
        await agent.call("StartContainer", { container_id: this.id });
      } else {
        await agent.call("ExecProcess", {
          container_id: this.id,
          exec_id: execId,
          process: processToAgent(p.spec ?? {}, p.stdio.terminal),
        });
      }
    } catch (err) {
      p.markExited(255, null);
      throw err;
    }
    p.watch(agent, this.#listener);
    return p.pid;
  }

  /** Exec: registers a process, started by start(execId). */
  async exec(o: ExecOptions): Promise<void> {
    if (this.#execs.has(o.execId)) throw alreadyExists(`exec "${o.execId}"`);
    if (this.init.state.status === "stopped") {
      throw invalidState(`container "${this.id}" has stopped: cannot exec`);
    }
    const io = await AgentIo.open(o.stdio);
    this.#execs.set(
      o.execId,
      new VmProcess({
        id: this.id,
        execId: o.execId,
        bundle: this.bundle,
        pid: this.sandbox.pid,
        io,
        spec: o.process,
      }),
    );
  }

  /** Kill: SignalProcess to one process, or to every live one. */
  async kill(execId: string, signal: number, all: boolean): Promise<void> {
    const targets = all ? [this.init, ...this.#execs.values()] : [this.process(execId)];
    for (const p of targets) {
      if (all && p.exit) continue;
      try {
        p.state.checkKill();
        if (p.state.status === "created" && p.execId) continue; // never started: nothing to signal
        await this.sandbox.agent.call("SignalProcess", {
          container_id: this.id,
          exec_id: p.execId,
          signal,
        });
      } catch (err) {
        // With all, an exec may end while the init is signalled (its pid
        // namespace goes with it): already gone is what kill -a wanted.
        if (all && p !== this.init && errorKind(err) === "NotFound") continue;
        throw err;
      }
    }
  }

  /** PauseContainer (the guest's freezer). */
  async pause(): Promise<void> {
    this.init.state.pause();
    await this.sandbox.agent.call("PauseContainer", { container_id: this.id });
    this.init.transition((s) => s.pause());
  }

  /** ResumeContainer. */
  async resume(): Promise<void> {
    this.init.state.resume();
    await this.sandbox.agent.call("ResumeContainer", { container_id: this.id });
    this.init.transition((s) => s.resume());
  }

  /** The processes containerd may list: every live one (each is inside the VMM process). */
  pids(): { pid: number; execId: string }[] {
    return [this.init, ...this.#execs.values()]
      .filter((p) => p.state.status !== "stopped")
      .map((p) => ({ pid: p.pid, execId: p.execId }));
  }

  /** TtyWinResize. */
  async resize(execId: string, width: number, height: number): Promise<void> {
    const p = this.process(execId);
    if (!p.stdio.terminal || p.state.status !== "running") return;
    await this.sandbox.agent.call("TtyWinResize", {
      container_id: this.id,
      exec_id: execId,
      row: height,
      column: width,
    });
  }

  /** UpdateContainer with the OCI resources. */
  async update(resources: Record<string, unknown>): Promise<void> {
    await this.sandbox.agent.call("UpdateContainer", {
      container_id: this.id,
      resources: resourcesToAgent(resources),
    });
  }

  /** StatsContainer, as cgroup v1 Metrics. */
  async stats(): Promise<AnyMessage> {
    const res = await this.sandbox.agent.call("StatsContainer", { container_id: this.id }, {
      response: "grpc.StatsContainerResponse",
    });
    return agentStatsToMetrics(res);
  }

  /** Deletes an exec that is not running. */
  async deleteExec(execId: string): Promise<ExitInfo> {
    const p = this.process(execId);
    p.transition((s) => s.delete());
    this.#execs.delete(execId);
    await p.io.close();
    return p.exit ?? unstartedExit(p);
  }

  /** Deletes the container (init not running): RemoveContainer, then its share. */
  async delete(): Promise<ExitInfo> {
    this.init.transition((s) => s.delete());
    await this.#remove();
    return this.init.exit ?? unstartedExit(this.init);
  }

  async #remove(): Promise<void> {
    await this.sandbox.agent.call("RemoveContainer", { container_id: this.id, timeout: 10 })
      .catch(() => {});
    for (const p of [this.init, ...this.#execs.values()]) await p.io.close();
    this.#execs.clear();
    await this.sandbox.resources.cleanupContainer(this.id);
  }

  /** Shim exit: kills and removes the container whatever its state. */
  async shutdown(): Promise<void> {
    if (!this.init.exit) {
      await this.sandbox.agent.call("SignalProcess", {
        container_id: this.id,
        exec_id: "",
        signal: 9,
      }).catch(() => {});
    }
    await this.#remove();
  }

  /** Marks every process exited (the VM is gone). */
  vmGone(): void {
    for (const p of [this.init, ...this.#execs.values()]) p.markExited(255, this.#listener);
  }
}

function unstartedExit(p: VmProcess): ExitInfo {
  return { id: p.id, execId: p.execId, pid: p.pid, exitStatus: 0, exitedAt: new Date() };
}

/**
 * The spec's root.path, absolute: OCI allows a path relative to the bundle
 * (containerd's "rootfs") or an absolute one (`joey run --rootfs DIR`).
 */
export function specRootPath(bundle: string, spec: Record<string, unknown>): string {
  const path = ((spec.root ?? {}) as { path?: string }).path || "rootfs";
  return path.startsWith("/") ? path : `${bundle}/${path}`;
}
