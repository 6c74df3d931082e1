/**
 * The one event pump for every built-in VM in this process: drains
 * joey_event_next (never blocks) and, while any VM is registered, sleeps in
 * a single nonblocking joey_event_wait call — one parked thread in all,
 * never one per VM. It stops by itself when the last VM unregisters.
 * @module
 */
import { EVENT, EVENT_SIZE } from "./ffi.ts";
import { vmm } from "./library.ts";

/** One event as the C library reports it. */
export interface VmmEvent {
  vmId: bigint;
  /** EventType value. */
  type: number;
  code: number;
  arg0: bigint;
  arg1: bigint;
}

type Handler = (event: VmmEvent) => void;

/** Sleep between drains when no event wakes the pump (ms). */
const WAIT_MS = 250;

class EventPump {
  #handlers = new Map<bigint, Handler>();
  #loop: Promise<void> | null = null;
  #buf = new Uint8Array(EVENT_SIZE);
  #view = new DataView(this.#buf.buffer);

  /** Routes the events of VM `id` to handler; starts the pump if needed. */
  register(id: bigint, handler: Handler): void {
    this.#handlers.set(id, handler);
    this.#loop ??= this.#run();
  }

  /** Stops routing events of `id`; wakes the pump so it can stop when idle. */
  unregister(id: bigint): void {
    this.#handlers.delete(id);
    if (this.#handlers.size === 0) vmm().joey_event_interrupt();
  }

  /** Resolves once the pump has stopped (no VM registered). */
  async idle(): Promise<void> {
    while (this.#loop && this.#handlers.size === 0) await this.#loop;
  }

  /** Dispatches every queued event now. */
  drain(): void {
    const lib = vmm();
    while (lib.joey_event_next(this.#buf) === 1) {
      const event: VmmEvent = {
        vmId: this.#view.getBigUint64(EVENT.vmId, true),
        type: this.#view.getUint32(EVENT.type, true),
        code: this.#view.getInt32(EVENT.code, true),
        arg0: this.#view.getBigUint64(EVENT.arg0, true),
        arg1: this.#view.getBigUint64(EVENT.arg1, true),
      };
      this.#handlers.get(event.vmId)?.(event);
    }
  }

  async #run(): Promise<void> {
    try {
      while (this.#handlers.size > 0) {
        this.drain();
        if (this.#handlers.size === 0) break;
        await vmm().joey_event_wait(WAIT_MS);
      }
      this.drain();
    } finally {
      this.#loop = null;
    }
  }
}

/** The process-wide pump. */
export const pump: EventPump = new EventPump();
