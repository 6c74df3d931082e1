/**
 * A process in the VM (a container's init or an exec) as the shim tracks
 * it: its state object, stdio copies, and the exit status learnt from the
 * agent's WaitProcess.
 * @module
 */
import type { ExitInfo, ProcessState, RuntimeListener, Stdio } from "../mod.ts";
import type { AgentConnection } from "./agent_conn.ts";
import type { AgentIo } from "./stdio.ts";
import { CreatedState, type ProcessStateBase } from "./process_state.ts";

/** How long an exit waits for the process's output to drain to the FIFOs. */
const DRAIN_MS = 2000;

/** One process of a container in the VM. */
export class VmProcess {
  readonly id: string;
  readonly execId: string;
  readonly bundle: string;
  /** The pid containerd sees: the VMM's, since the process lives inside it. */
  readonly pid: number;
  readonly stdio: Stdio;
  readonly io: AgentIo;
  /** The OCI Process to exec (execs only). */
  readonly spec: Record<string, unknown> | null;
  #state: ProcessStateBase;
  #exit: ExitInfo | null = null;
  #resolveExit!: (e: ExitInfo) => void;
  /** Resolves once the process has exited (or was deleted unstarted). */
  readonly exited: Promise<ExitInfo>;

  constructor(o: {
    id: string;
    execId: string;
    bundle: string;
    pid: number;
    io: AgentIo;
    spec: Record<string, unknown> | null;
  }) {
    this.id = o.id;
    this.execId = o.execId;
    this.bundle = o.bundle;
    this.pid = o.pid;
    this.io = o.io;
    this.stdio = o.io.stdio;
    this.spec = o.spec;
    this.#state = new CreatedState(this.#what());
    this.exited = new Promise((r) => this.#resolveExit = r);
  }

  #what(): string {
    return this.execId
      ? `exec "${this.execId}" of container "${this.id}"`
      : `container "${this.id}"`;
  }

  /** The current state object. */
  get state(): ProcessStateBase {
    return this.#state;
  }

  /** Applies a transition (the state object throws when it is not allowed). */
  transition(next: (s: ProcessStateBase) => ProcessStateBase): void {
    this.#state = next(this.#state);
  }

  /** The exit, once known. */
  get exit(): ExitInfo | null {
    return this.#exit;
  }

  /** State as containerd's State RPC reports it. */
  snapshot(): ProcessState {
    return {
      id: this.id,
      execId: this.execId,
      bundle: this.bundle,
      pid: this.pid,
      status: this.#state.status,
      stdio: this.stdio,
      exitStatus: this.#exit?.exitStatus ?? 0,
      exitedAt: this.#exit?.exitedAt ?? null,
    };
  }

  /**
   * After start: copies stdio and waits for the exit in the agent; the
   * listener hears of it once output has drained.
   */
  watch(agent: AgentConnection, listener: RuntimeListener): void {
    const ids = { container_id: this.id, exec_id: this.execId };
    this.io.start(agent, ids);
    agent.call("WaitProcess", ids, { response: "grpc.WaitProcessResponse", timeoutMs: 0 })
      .then((r) => Number(r.status ?? 255), () => 255)
      .then(async (status) => {
        await this.io.drained(DRAIN_MS);
        this.markExited(status, listener);
      })
      .catch(() => {}); // a listener that throws must not end the shim
  }

  /** Records the exit (once) and tells the listener. */
  markExited(status: number, listener: RuntimeListener | null): void {
    if (this.#exit) return;
    this.#exit = {
      id: this.id,
      execId: this.execId,
      pid: this.pid,
      exitStatus: status,
      exitedAt: new Date(),
    };
    this.#state = this.#state.exited();
    this.#resolveExit(this.#exit);
    listener?.exited(this.#exit);
  }
}
