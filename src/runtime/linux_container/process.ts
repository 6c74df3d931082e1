/**
 * One process of a container (its init, or an exec) and the states it goes
 * through: created → running ⇄ paused → stopped. Each operation checks the
 * state here, so an illegal transition fails the same way from every RPC.
 * @module
 */
import type { ExitInfo, ProcessState, ProcessStatus, Stdio } from "../mod.ts";
import { JoeyError } from "../../errors.ts";
import type { ProcessIo } from "./stdio.ts";

/** The states a process moves through (a deleted process is forgotten). */
export type State = "created" | "running" | "paused" | "stopped";

/** containerd's exit status for a process that could not be waited for. */
export const UNKNOWN_EXIT_STATUS = 255;

/** A container process as the runtime tracks it. */
export class Process {
  readonly id: string;
  readonly execId: string;
  readonly bundle: string;
  readonly stdio: Stdio;
  /** The OCI Process of an exec (undefined for init). */
  readonly spec: Record<string, unknown> | undefined;
  pid = 0;
  /** Set once the reaper collected the process: its pid may be reused after this. */
  reaped = false;
  state: State = "created";
  io: ProcessIo | null = null;
  exitStatus = 0;
  exitedAt: Date | null = null;
  /** Resolves once the exit status is final. */
  readonly exited: Promise<ExitInfo>;
  #resolveExit!: (exit: ExitInfo) => void;

  constructor(
    id: string,
    execId: string,
    bundle: string,
    stdio: Stdio,
    spec?: Record<string, unknown>,
  ) {
    this.id = id;
    this.execId = execId;
    this.bundle = bundle;
    this.stdio = stdio;
    this.spec = spec;
    this.exited = new Promise((resolve) => this.#resolveExit = resolve);
  }

  /** "container c1" or "exec e1 of container c1", for messages. */
  get name(): string {
    return this.execId
      ? `exec "${this.execId}" of container "${this.id}"`
      : `container "${this.id}"`;
  }

  /**
   * Throws unless the process is in one of states. The kind is Unknown on
   * purpose: containerd's runc shim answers illegal transitions (start
   * twice, delete running, pause created, …) with plain errors, which reach
   * containerd as Unknown, and clients see the same code from joey.
   */
  expect(action: string, ...states: State[]): void {
    if (!states.includes(this.state)) {
      throw new JoeyError("Unknown", `cannot ${action} ${this.name}: it is ${this.state}`);
    }
  }

  /** Throws NotFound if the process has finished (kill on a stopped process). */
  expectAlive(): void {
    if (this.state === "stopped") {
      throw new JoeyError("NotFound", `${this.name}: process already finished`);
    }
  }

  /** Records the final exit status (once) and wakes waiters. */
  setExited(status: number): ExitInfo {
    this.state = "stopped";
    this.exitStatus = status;
    this.exitedAt = new Date();
    const info = this.exitInfo();
    this.#resolveExit(info);
    return info;
  }

  /**
   * Ends a process that never ran (its start failed): waiters are released
   * with the unknown status, and no exit is reported since none happened.
   */
  abandon(): void {
    this.state = "stopped";
    this.exitStatus = UNKNOWN_EXIT_STATUS;
    this.exitedAt = new Date();
    this.#resolveExit(this.exitInfo());
  }

  /** The process's exit as the service reports it. */
  exitInfo(): ExitInfo {
    return {
      id: this.id,
      execId: this.execId,
      pid: this.pid,
      exitStatus: this.exitStatus,
      exitedAt: this.exitedAt ?? new Date(0),
    };
  }

  /** The process as State reports it. */
  snapshot(): ProcessState {
    return {
      id: this.id,
      execId: this.execId,
      bundle: this.bundle,
      pid: this.pid,
      status: this.state as ProcessStatus,
      stdio: this.stdio,
      exitStatus: this.exitStatus,
      exitedAt: this.exitedAt,
    };
  }
}
