/**
 * One type per process state, each owning its transitions (as the runc
 * shim's init_state.go): an operation the state does not allow throws
 * invalidState (code Unknown, as the reference shim answers) or NotFound
 * for signals to a finished process.
 * @module
 */
import type { ProcessStatus } from "../mod.ts";
import { invalidState, JoeyError } from "../../errors.ts";

/** A process state: its status name and the transitions it allows. */
export abstract class ProcessStateBase {
  abstract readonly status: ProcessStatus;
  constructor(protected readonly what: string) {}

  /** Start → running. */
  start(): ProcessStateBase {
    throw invalidState(`${this.what}: cannot start a ${this.status} process`);
  }
  /** Whether a signal may be delivered now. */
  checkKill(): void {
    throw invalidState(`${this.what}: cannot signal a ${this.status} process`);
  }
  /** Pause → paused. */
  pause(): ProcessStateBase {
    throw invalidState(`${this.what}: cannot pause a ${this.status} process`);
  }
  /** Resume → running. */
  resume(): ProcessStateBase {
    throw invalidState(`${this.what}: cannot resume a ${this.status} process`);
  }
  /** The process exited → stopped. */
  exited(): ProcessStateBase {
    return new StoppedState(this.what);
  }
  /** Delete → deleted. */
  delete(): ProcessStateBase {
    throw invalidState(`${this.what}: cannot delete a ${this.status} process`);
  }
}

/** Created in the agent, not started. */
export class CreatedState extends ProcessStateBase {
  readonly status = "created" as const;
  override start(): ProcessStateBase {
    return new RunningState(this.what);
  }
  override checkKill(): void {}
  override delete(): ProcessStateBase {
    return new DeletedState(this.what);
  }
}

/** Running in the VM. */
export class RunningState extends ProcessStateBase {
  readonly status = "running" as const;
  override checkKill(): void {}
  override pause(): ProcessStateBase {
    return new PausedState(this.what);
  }
}

/** Frozen by the agent's freezer. */
export class PausedState extends ProcessStateBase {
  readonly status = "paused" as const;
  override checkKill(): void {}
  override resume(): ProcessStateBase {
    return new RunningState(this.what);
  }
}

/** Exited; its status is final. */
export class StoppedState extends ProcessStateBase {
  readonly status = "stopped" as const;
  override checkKill(): void {
    throw new JoeyError("NotFound", `${this.what}: process already finished`);
  }
  override exited(): ProcessStateBase {
    return this;
  }
  override delete(): ProcessStateBase {
    return new DeletedState(this.what);
  }
}

/** Deleted: nothing more is allowed. */
export class DeletedState extends ProcessStateBase {
  readonly status = "stopped" as const;
  override checkKill(): void {
    throw new JoeyError("NotFound", `${this.what}: process deleted`);
  }
  override exited(): ProcessStateBase {
    return this;
  }
}
